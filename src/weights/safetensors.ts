/**
 * safetensors read/write (https://github.com/huggingface/safetensors format):
 * 8-byte little-endian header length, a JSON header, then the raw little-endian data.
 * Pure TypeScript on Uint8Array so the browser build shares it.
 */
import { DTYPE_SIZE, numel, type DType, type StateDict, type Tensor } from './tensor.js';

/** Largest JSON header we accept; the format itself caps it at 100 MB. */
const MAX_HEADER = 100 * 1024 * 1024;

const DTYPES = new Set<DType>(['F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL']);

/** Raised for any malformed safetensors input; the message says what is wrong. */
export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

/** Result of reading a safetensors file: tensors in file-header order plus `__metadata__`. */
export interface SafetensorsContents {
  tensors: StateDict;
  metadata: Record<string, string>;
}

function viewAs(dtype: DType, bytes: Uint8Array, count: number): Tensor['data'] {
  // Copy into a fresh, aligned buffer: the file's offsets need not be aligned,
  // and a copy keeps tensors independent of the (possibly huge) file buffer.
  // (`new Uint8Array(view)` always copies; a Node Buffer's own slice() would not.)
  const buf = new Uint8Array(bytes).buffer;
  switch (dtype) {
    case 'F64': return new Float64Array(buf, 0, count);
    case 'F32': return new Float32Array(buf, 0, count);
    case 'F16': case 'BF16': return new Uint16Array(buf, 0, count);
    case 'I64': return new BigInt64Array(buf, 0, count);
    case 'I32': return new Int32Array(buf, 0, count);
    case 'I16': return new Int16Array(buf, 0, count);
    case 'I8': return new Int8Array(buf, 0, count);
    case 'U8': case 'BOOL': return new Uint8Array(buf, 0, count);
  }
}

/** Quick check for the safetensors layout (used to tell it from a zip or pickle). */
export function looksLikeSafetensors(bytes: Uint8Array): boolean {
  if (bytes.length < 10) return false;
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  return n > 1n && n < BigInt(Math.min(MAX_HEADER, bytes.length - 8) + 1) && bytes[8] === 0x7b; // '{'
}

/** Parses a safetensors file. Throws SafetensorsError on any inconsistency; never over-allocates. */
export function readSafetensors(bytes: Uint8Array): SafetensorsContents {
  if (bytes.length < 8) throw new SafetensorsError(`file too short for safetensors (${bytes.length} bytes)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = dv.getBigUint64(0, true);
  if (headerLen > BigInt(Math.min(MAX_HEADER, bytes.length - 8))) {
    throw new SafetensorsError(`header length ${headerLen} exceeds the file size (${bytes.length} bytes): truncated or not safetensors`);
  }
  const hl = Number(headerLen);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + hl)));
  } catch (e) {
    throw new SafetensorsError(`header is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new SafetensorsError('header is not a JSON object');
  }
  const dataStart = 8 + hl;
  const dataLen = bytes.length - dataStart;
  const tensors: StateDict = new Map();
  let metadata: Record<string, string> = {};
  // Bytes the tensors claim in all: more than the data section means ranges overlap, and
  // every alias would get its own copy (a 1 MB file listing one range 20000 times asked for 20 GB).
  let claimed = 0;
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null) throw new SafetensorsError('__metadata__ is not an object');
      metadata = Object.fromEntries(Object.entries(entry).map(([k, v]) => [k, String(v)]));
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== 'object' || e === null) throw new SafetensorsError(`tensor ${name}: entry is not an object`);
    if (typeof e.dtype !== 'string' || !DTYPES.has(e.dtype as DType)) {
      throw new SafetensorsError(`tensor ${name}: unsupported dtype ${JSON.stringify(e.dtype)}`);
    }
    const dtype = e.dtype as DType;
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new SafetensorsError(`tensor ${name}: bad shape ${JSON.stringify(e.shape)}`);
    }
    const shape = e.shape as number[];
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw new SafetensorsError(`tensor ${name}: bad data_offsets ${JSON.stringify(offs)}`);
    }
    const [begin, end] = offs as [number, number];
    if (end < begin || end > dataLen) {
      throw new SafetensorsError(`tensor ${name}: data [${begin}, ${end}) exceeds the ${dataLen} data bytes: truncated file?`);
    }
    claimed += end - begin;
    if (claimed > dataLen) {
      throw new SafetensorsError(`tensor ${name}: data ranges overlap (the tensors claim more than the ${dataLen} data bytes): corrupt or hostile file`);
    }
    const count = numel(shape);
    if (!Number.isSafeInteger(count) || count * DTYPE_SIZE[dtype] !== end - begin) {
      throw new SafetensorsError(`tensor ${name}: shape [${shape.join(', ')}] of ${dtype} needs ${count * DTYPE_SIZE[dtype]} bytes, entry has ${end - begin}`);
    }
    const data = viewAs(dtype, bytes.subarray(dataStart + begin, dataStart + end), count);
    tensors.set(name, { dtype, shape, data } as Tensor);
  }
  return { tensors, metadata };
}

/** Serializes tensors (in map order) to safetensors bytes, with optional string metadata. */
export function writeSafetensors(tensors: StateDict, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    const size = t.data.byteLength;
    if (numel(t.shape) * DTYPE_SIZE[t.dtype] !== size) {
      throw new SafetensorsError(`tensor ${name}: data has ${size} bytes, shape [${t.shape.join(', ')}] of ${t.dtype} needs ${numel(t.shape) * DTYPE_SIZE[t.dtype]}`);
    }
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces to an 8-byte boundary, as the reference writer does.
  json += ' '.repeat((8 - ((json.length + 8) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const t of tensors.values()) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos);
    pos += t.data.byteLength;
  }
  return out;
}
