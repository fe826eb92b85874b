/**
 * The IDX format of (Fashion-)MNIST: two zero bytes, a type code, the number of
 * dimensions, big-endian uint32 sizes, then the data. Browser-safe: gzip goes through
 * the standard DecompressionStream (Node >= 18 and browsers).
 * Every size is checked against the input before use, so a truncated or foreign file
 * gives an IdxError naming what is wrong, never a wrong-shaped array.
 */

/** Raised for malformed IDX input. */
export class IdxError extends Error {
  override name = 'IdxError';
}

/** IDX element types by type code. */
const IDX_TYPES = {
  0x08: { name: 'uint8', size: 1 },
  0x09: { name: 'int8', size: 1 },
  0x0b: { name: 'int16', size: 2 },
  0x0c: { name: 'int32', size: 4 },
  0x0d: { name: 'float32', size: 4 },
  0x0e: { name: 'float64', size: 8 },
} as const;

export type IdxTypeName = (typeof IDX_TYPES)[keyof typeof IDX_TYPES]['name'];

/** A parsed IDX array. `data` is a copy for uint8, else a converted (big-endian decoded) array. */
export interface IdxArray {
  type: IdxTypeName;
  shape: number[];
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

/** True when bytes start with the gzip magic 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Parses IDX bytes (not compressed). `name` labels error messages. */
export function parseIdx(bytes: Uint8Array, name = 'IDX data'): IdxArray {
  if (bytes.length < 4) throw new IdxError(`${name}: ${bytes.length} bytes is too short for an IDX header`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const hint = isGzip(bytes) ? ' (it is gzip-compressed: decompress it first)' : '';
    throw new IdxError(`${name}: bad magic ${hex(bytes.subarray(0, 4))}, an IDX file starts with 00 00${hint}`);
  }
  const type = IDX_TYPES[bytes[2] as keyof typeof IDX_TYPES];
  if (!type) throw new IdxError(`${name}: unknown IDX type code 0x${bytes[2]!.toString(16).padStart(2, '0')}`);
  const ndim = bytes[3]!;
  if (ndim === 0) throw new IdxError(`${name}: IDX header declares 0 dimensions`);
  const headerLen = 4 + 4 * ndim;
  if (bytes.length < headerLen)
    throw new IdxError(`${name}: truncated header (${bytes.length} bytes, ${ndim} dimensions need ${headerLen})`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  let count = 1;
  for (let i = 0; i < ndim; i++) {
    const d = dv.getUint32(4 + 4 * i, false);
    shape.push(d);
    count *= d;
  }
  const expected = headerLen + count * type.size;
  if (bytes.length < expected) {
    throw new IdxError(
      `${name}: truncated: shape [${shape.join(', ')}] of ${type.name} needs ${expected} bytes, file has ` +
        `${bytes.length}`,
    );
  }
  if (bytes.length > expected) {
    throw new IdxError(
      `${name}: ${bytes.length - expected} unexpected bytes after the data of shape [${shape.join(', ')}]: not ` +
        'an IDX file or a wrong header',
    );
  }
  const body = bytes.subarray(headerLen, expected);
  return { type: type.name, shape, data: decode(type.name, body) };
}

function decode(type: IdxTypeName, body: Uint8Array): IdxArray['data'] {
  if (type === 'uint8') return body.slice();
  if (type === 'int8') return new Int8Array(body.slice().buffer);
  const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  switch (type) {
    case 'int16':
      return Int16Array.from({ length: body.length / 2 }, (_, i) => dv.getInt16(2 * i, false));
    case 'int32':
      return Int32Array.from({ length: body.length / 4 }, (_, i) => dv.getInt32(4 * i, false));
    case 'float32':
      return Float32Array.from({ length: body.length / 4 }, (_, i) => dv.getFloat32(4 * i, false));
    default:
      return Float64Array.from({ length: body.length / 8 }, (_, i) => dv.getFloat64(8 * i, false));
  }
}

function hex(b: Uint8Array): string {
  return [...b].map((v) => v.toString(16).padStart(2, '0')).join(' ');
}

/**
 * Decompresses gzip bytes with DecompressionStream; corrupt or truncated input gives an IdxError.
 * `limit(head)` (optional) sees the output decompressed so far and returns the most it may
 * grow to (null: not known yet); beyond it decompression stops with an IdxError.
 */
export async function gunzip(
  bytes: Uint8Array,
  name = 'IDX data',
  limit?: (head: Uint8Array) => number | null,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  let max: number | null = null;
  try {
    const reader = new Blob([bytes as Uint8Array<ArrayBuffer>])
      .stream()
      .pipeThrough(new DecompressionStream('gzip'))
      .getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      total += value.length;
      if (limit && max === null) {
        try {
          max = limit(concatChunks(chunks, Math.min(total, 4 + 4 * 255)));
        } catch (e) {
          await reader.cancel();
          throw e;
        }
      }
      if (max !== null && total > max) {
        await reader.cancel();
        break;
      }
    }
  } catch (e) {
    if (e instanceof IdxError) throw e; // the limit refused the header
    throw new IdxError(`${name}: corrupt or truncated gzip data (${(e as Error).message})`);
  }
  if (max !== null && total > max) {
    throw new IdxError(
      `${name}: the gzip data decompresses to more than the ${max} bytes its IDX header declares: not an IDX ` +
        'file or a wrong header',
    );
  }
  return concatChunks(chunks, total);
}

function concatChunks(chunks: Uint8Array[], n: number): Uint8Array {
  const out = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) {
    if (o >= n) break;
    const part = c.subarray(0, n - o);
    out.set(part, o);
    o += part.length;
  }
  return out;
}

/**
 * How long an IDX file whose first bytes are `head` must be: null while the header is
 * incomplete; the head's own length when the header is bad (parseIdx names the problem).
 */
function declaredLength(head: Uint8Array): number | null {
  if (head.length < 4) return null;
  const type = IDX_TYPES[head[2] as keyof typeof IDX_TYPES];
  if (head[0] !== 0 || head[1] !== 0 || !type || head[3] === 0) return head.length;
  const headerLen = 4 + 4 * head[3]!;
  if (head.length < headerLen) return null;
  const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  let count = 1;
  for (let i = 0; i < head[3]!; i++) count *= dv.getUint32(4 + 4 * i, false);
  return headerLen + count * type.size;
}

/** Options of {@link readIdx}. */
export interface ReadIdxOptions {
  /** The most bytes the (decompressed) IDX data may have: what the caller's dataset can need. */
  maxBytes?: number;
}

/** deflate's largest expansion (1032:1), plus slack for the gzip framing. */
const MAX_GZIP_RATIO = 1032;

/**
 * Parses IDX bytes that may be gzip-compressed. The size the header declares is checked
 * before anything is inflated, against `maxBytes` and against what the compressed size
 * can hold at deflate's largest ratio: a header declaring [2^32-1, 28, 28] used to switch
 * the bomb guard off (815 KB -> 1.75 GB). Decompression then stops as soon as the output
 * exceeds the declared size.
 */
export async function readIdx(bytes: Uint8Array, name = 'IDX data', opts: ReadIdxOptions = {}): Promise<IdxArray> {
  const maxBytes = opts.maxBytes ?? Infinity;
  if (!isGzip(bytes)) {
    if (bytes.length > maxBytes)
      throw new IdxError(`${name}: ${bytes.length} bytes, more than the ${maxBytes} this dataset can need`);
    return parseIdx(bytes, name);
  }
  const canHold = MAX_GZIP_RATIO * bytes.length + 1024;
  const limit = (head: Uint8Array): number | null => {
    const declared = declaredLength(head);
    if (declared === null || declared === head.length) return declared;
    if (declared > maxBytes)
      throw new IdxError(
        `${name}: the IDX header declares ${declared} bytes, more than the ${maxBytes} this dataset can need: ` +
          'not this dataset or a lying header',
      );
    if (declared > canHold)
      throw new IdxError(
        `${name}: the IDX header declares ${declared} bytes, more than ${bytes.length} gzip bytes can hold: a ` +
          'lying header',
      );
    return declared;
  };
  return parseIdx(await gunzip(bytes, name, limit), name);
}
