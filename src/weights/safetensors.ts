/**
 * safetensors read/write (https://github.com/huggingface/safetensors format):
 * 8-byte little-endian header length, a JSON header, then the raw little-endian data.
 * Pure TypeScript on Uint8Array so the browser build shares it.
 */
import { previewText } from './preview.js';
import { DTYPE_SIZE, numel, type DType, type StateDict, type Tensor } from './tensor.js';

/** Largest JSON header we accept; the format itself caps it at 100 MB. */
const MAX_HEADER = 100 * 1024 * 1024;
/** Most tensors one file may list (real checkpoints hold hundreds to tens of thousands). */
const MAX_TENSORS = 100_000;
/** Most dimensions of a tensor shape (as the pickle reader). */
const MAX_DIMS = 64;

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
    case 'F64':
      return new Float64Array(buf, 0, count);
    case 'F32':
      return new Float32Array(buf, 0, count);
    case 'F16':
    case 'BF16':
      return new Uint16Array(buf, 0, count);
    case 'I64':
      return new BigInt64Array(buf, 0, count);
    case 'I32':
      return new Int32Array(buf, 0, count);
    case 'I16':
      return new Int16Array(buf, 0, count);
    case 'I8':
      return new Int8Array(buf, 0, count);
    case 'U8':
    case 'BOOL':
      return new Uint8Array(buf, 0, count);
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
    throw new SafetensorsError(
      `header length ${headerLen} exceeds the file size (${bytes.length} bytes): truncated or not safetensors`,
    );
  }
  const hl = Number(headerLen);
  // Structure first, without building anything: JSON.parse of a 63 MB header of `{}`
  // objects took 16 s and 2 GB, and it keeps only the last of two duplicate keys.
  scanHeader(bytes.subarray(8, 8 + hl));
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
  const ranges: { name: string; begin: number; end: number }[] = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null) throw new SafetensorsError('__metadata__ is not an object');
      metadata = Object.fromEntries(Object.entries(entry).map(([k, v]) => [k, String(v)]));
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== 'object' || e === null)
      throw new SafetensorsError(`tensor ${previewText(name)}: entry is not an object`);
    if (typeof e.dtype !== 'string' || !DTYPES.has(e.dtype as DType)) {
      throw new SafetensorsError(
        `tensor ${previewText(name)}: unsupported dtype ${previewText(JSON.stringify(e.dtype) ?? 'none')}`,
      );
    }
    const dtype = e.dtype as DType;
    if (
      !Array.isArray(e.shape) ||
      e.shape.length > MAX_DIMS ||
      !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)
    ) {
      throw new SafetensorsError(
        `tensor ${previewText(name)}: bad shape ${previewText(JSON.stringify(e.shape) ?? 'none')}`,
      );
    }
    const shape = e.shape as number[];
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw new SafetensorsError(
        `tensor ${previewText(name)}: bad data_offsets ${previewText(JSON.stringify(offs) ?? 'none')}`,
      );
    }
    const [begin, end] = offs as [number, number];
    if (end < begin || end > dataLen) {
      throw new SafetensorsError(
        `tensor ${previewText(name)}: data [${begin}, ${end}) exceeds the ${dataLen} data bytes: truncated file?`,
      );
    }
    const count = numel(shape);
    if (!Number.isSafeInteger(count) || count * DTYPE_SIZE[dtype] !== end - begin) {
      throw new SafetensorsError(
        `tensor ${previewText(name)}: shape [${shape.join(', ')}] of ${dtype} needs ${count * DTYPE_SIZE[dtype]} ` +
          `bytes, entry has ${end - begin}`,
      );
    }
    ranges.push({ name, begin, end });
  }
  checkTiling(ranges, dataLen);
  // Copies only after every range is known to be its own: overlapping aliases each got a
  // copy before (a 1 MB file listing one range 20000 times asked for 20 GB).
  for (const { name, begin, end } of ranges) {
    const e = (header as Record<string, { dtype: DType; shape: number[] }>)[name]!;
    const data = viewAs(e.dtype, bytes.subarray(dataStart + begin, dataStart + end), numel(e.shape));
    tensors.set(name, { dtype: e.dtype, shape: e.shape, data });
  }
  return { tensors, metadata };
}

/**
 * The reference implementation's rule: the tensors' byte ranges, sorted, tile the data
 * section exactly (no overlap, no gap, nothing after the last tensor). Overlapping ranges
 * let one file show the same bytes as two tensors; gaps hide data nobody reads.
 */
function checkTiling(ranges: { name: string; begin: number; end: number }[], dataLen: number): void {
  const sorted = [...ranges].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const r of sorted) {
    if (r.begin !== at) {
      const what = r.begin < at ? 'overlaps the tensor before it' : `leaves bytes [${at}, ${r.begin}) unused`;
      throw new SafetensorsError(
        `tensor ${previewText(r.name)}: data [${r.begin}, ${r.end}) ${what}; the tensors' ranges must tile the ` +
          `data section exactly: corrupt or hostile file`,
      );
    }
    at = r.end;
  }
  if (at !== dataLen) {
    throw new SafetensorsError(
      `the tensors' data ends at byte ${at} of the ${dataLen}-byte data section; the ranges must tile it ` +
        `exactly: corrupt file`,
    );
  }
}

/**
 * Checks the header's JSON structure in one pass without building it: at most 3 levels
 * (header object, entry objects, shape/offset arrays), arrays of at most {@link MAX_DIMS}
 * items, at most {@link MAX_TENSORS} entries, and no top-level key twice (JSON.parse would
 * keep the last one silently, the reference implementation refuses). Malformed JSON is
 * left to JSON.parse to describe.
 */
function scanHeader(h: Uint8Array): void {
  const keys = new Set<string>();
  const stack: { obj: boolean; items: number }[] = [];
  let expectKey = false;
  let members = 0;
  let i = 0;
  const n = h.length;
  while (i < n) {
    const c = h[i]!;
    if (c === 0x7b || c === 0x5b) {
      // { [
      if (stack.length >= 3)
        throw new SafetensorsError(
          'header nests deeper than a safetensors header does (entries hold only dtype, shape and data_offsets)',
        );
      const top = stack[stack.length - 1];
      if (top) top.items++;
      stack.push({ obj: c === 0x7b, items: 0 });
      expectKey = c === 0x7b;
      i++;
    } else if (c === 0x7d || c === 0x5d) {
      // } ]
      stack.pop();
      expectKey = false;
      i++;
    } else if (c === 0x22) {
      // a string: find its end, skipping escapes
      const start = i++;
      while (i < n && h[i] !== 0x22) i += h[i] === 0x5c ? 2 : 1;
      i++;
      const top = stack[stack.length - 1];
      if (expectKey && top?.obj) {
        if (stack.length === 1) {
          let key: unknown;
          try {
            key = JSON.parse(new TextDecoder().decode(h.subarray(start, i)));
          } catch {
            return; // JSON.parse names the problem
          }
          if (keys.has(key as string))
            throw new SafetensorsError(
              `header lists tensor ${previewText(String(key))} twice: corrupt or hostile file`,
            );
          keys.add(key as string);
          if (keys.size > MAX_TENSORS + 1) throw new SafetensorsError(`header lists more than ${MAX_TENSORS} tensors`);
        }
        if (++members > 4 * MAX_TENSORS + 1024)
          throw new SafetensorsError(
            `header holds more than ${4 * MAX_TENSORS + 1024} names (${MAX_TENSORS} tensors at most)`,
          );
        expectKey = false;
      } else if (top) top.items++;
    } else if (c === 0x2c) {
      // ,
      const top = stack[stack.length - 1];
      if (top?.obj) expectKey = true;
      i++;
    } else {
      if (c !== 0x3a && c > 0x20) {
        // a number, true, false, null: one array item
        const top = stack[stack.length - 1];
        if (top && !top.obj) top.items++;
        while (i < n && h[i] !== 0x2c && h[i] !== 0x5d && h[i] !== 0x7d && h[i]! > 0x20) i++;
      } else i++;
    }
    const top = stack[stack.length - 1];
    if (top && !top.obj && top.items > MAX_DIMS)
      throw new SafetensorsError(
        `header holds an array of more than ${MAX_DIMS} items (shapes have at most ${MAX_DIMS} dimensions)`,
      );
  }
}

/** Serializes tensors (in map order) to safetensors bytes, with optional string metadata. */
export function writeSafetensors(tensors: StateDict, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    const size = t.data.byteLength;
    if (numel(t.shape) * DTYPE_SIZE[t.dtype] !== size) {
      throw new SafetensorsError(
        `tensor ${name}: data has ${size} bytes, ` +
          `shape [${t.shape.join(', ')}] of ${t.dtype} needs ${numel(t.shape) * DTYPE_SIZE[t.dtype]}`,
      );
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
