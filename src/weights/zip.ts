/**
 * Minimal zip container I/O for PyTorch checkpoints (torch.save's zip format).
 *
 * Reading: end-of-central-directory search, ZIP64 (locator, record, extra fields),
 * central directory and local headers. torch writes STORED entries only, so entry
 * data is returned as a subarray of the input (no copy). DEFLATE is refused: it
 * would need an async DecompressionStream in the browser and torch never writes it.
 * Every offset and size is checked against the file length before use, so a
 * truncated or hostile file gives a ZipError, never a huge allocation or a hang.
 *
 * Writing: STORED entries with data aligned like torch's writer does (the local
 * header's extra field is padded so data starts at a multiple of 64), ZIP64 records
 * when offsets or sizes need them, CRC32 for every entry.
 *
 * Pure TypeScript on Uint8Array: no `node:` imports, so the browser build shares it.
 */

/** Raised for any malformed or unsupported zip input; the message says what is wrong. */
export class ZipError extends Error {
  override name = 'ZipError';
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOCATOR = 0x07064b50;
const EOCD_SIZE = 22;
const EOCD64_LOCATOR_SIZE = 20;
const EOCD64_SIZE = 56;
const CENTRAL_SIZE = 46;
const LOCAL_SIZE = 30;
const MAX_COMMENT = 0xffff;
const ZIP64_EXTRA_ID = 0x0001;
/** torch's padding extra field id ('FB'). */
const PAD_EXTRA_ID = 0x4246;
const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;

/** One member of a zip archive, as the central directory describes it. */
export interface ZipEntry {
  name: string;
  /** 0 = STORED, 8 = DEFLATE, ... */
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  /** Offset of the entry's local header. */
  headerOffset: number;
}

/** A parsed zip archive over the original bytes. */
export interface ZipArchive {
  /** Entries by name, in central-directory order. */
  entries: Map<string, ZipEntry>;
  /** The data of a STORED entry as a subarray of the input (no copy). Throws ZipError. */
  read(name: string): Uint8Array;
}

/** Options for {@link readZip}. */
export interface ReadZipOptions {
  /**
   * Check each entry's CRC32 when it is read (default false: it costs ~3 ms per MB; bounds checks already catch
   * truncation).
   */
  verifyCrc?: boolean;
}

/** True when the bytes start like a zip file (a local header or an empty archive). */
export function looksLikeZip(bytes: Uint8Array): boolean {
  if (bytes.length < 4) return false;
  const sig = dv(bytes).getUint32(0, true);
  return sig === SIG_LOCAL || sig === SIG_EOCD;
}

function dv(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Reads a little-endian u64 as a number, refusing values a file of this size cannot hold. */
function u64(view: DataView, at: number, what: string, limit: number): number {
  const v = view.getBigUint64(at, true);
  if (v > BigInt(limit))
    throw new ZipError(`zip: ${what} ${v} exceeds the file size (${limit} bytes): truncated or corrupt file`);
  return Number(v);
}

/**
 * Finds the end-of-central-directory record: it is the last 22 bytes plus an
 * optional comment of at most 65535 bytes, so the backwards scan is bounded.
 */
function findEocd(bytes: Uint8Array, view: DataView): number {
  const last = bytes.length - EOCD_SIZE;
  const first = Math.max(0, last - MAX_COMMENT);
  for (let p = last; p >= first; p--) {
    // Cheap first-byte test before the 32-bit read keeps the 64 KiB scan fast.
    if (bytes[p] !== 0x50 || view.getUint32(p, true) !== SIG_EOCD) continue;
    const commentLen = view.getUint16(p + 20, true);
    if (p + EOCD_SIZE + commentLen <= bytes.length) return p;
  }
  const startsLikeZip = looksLikeZip(bytes);
  throw new ZipError(
    startsLikeZip
      ? `zip: end of central directory not found in ${bytes.length} bytes: the file is truncated`
      : `zip: not a zip file (no end-of-central-directory record in ${bytes.length} bytes)`,
  );
}

interface Directory {
  offset: number;
  size: number;
  count: number;
}

/** Reads the (ZIP64 when present) directory location from the EOCD records. */
function readDirectoryLocation(bytes: Uint8Array, view: DataView, eocd: number): Directory {
  let count = view.getUint16(eocd + 10, true);
  let size = view.getUint32(eocd + 12, true);
  let offset = view.getUint32(eocd + 16, true);
  if (view.getUint16(eocd + 4, true) !== 0 || view.getUint16(eocd + 6, true) !== 0) {
    throw new ZipError('zip: multi-disk (split) archives are not supported');
  }
  const loc = eocd - EOCD64_LOCATOR_SIZE;
  const hasLocator = loc >= 0 && view.getUint32(loc, true) === SIG_EOCD64_LOCATOR;
  const needs64 = count === U16_MAX || size === U32_MAX || offset === U32_MAX;
  if (hasLocator) {
    const rec = u64(view, loc + 8, 'ZIP64 end-of-directory offset', bytes.length);
    if (rec + EOCD64_SIZE > loc || view.getUint32(rec, true) !== SIG_EOCD64) {
      throw new ZipError(`zip: ZIP64 end-of-directory record missing at offset ${rec}: corrupt or truncated file`);
    }
    count = u64(view, rec + 32, 'ZIP64 entry count', bytes.length);
    size = u64(view, rec + 40, 'ZIP64 central directory size', bytes.length);
    offset = u64(view, rec + 48, 'ZIP64 central directory offset', bytes.length);
  } else if (needs64) {
    throw new ZipError('zip: the archive needs ZIP64 records but has no ZIP64 locator: corrupt or truncated file');
  }
  const end = hasLocator ? loc : eocd;
  if (offset + size > end) {
    throw new ZipError(
      `zip: central directory [${offset}, ${offset + size}) runs past its end record at ${end}: truncated or ` +
        'corrupt file',
    );
  }
  // Each entry takes at least 46 bytes: this bounds the loop below by the file size.
  if (count * CENTRAL_SIZE > size) {
    throw new ZipError(`zip: central directory claims ${count} entries but has only ${size} bytes: corrupt file`);
  }
  return { offset, size, count };
}

/** Applies a ZIP64 extended-information extra field to the fields saturated at 0xffffffff. */
function applyZip64Extra(view: DataView, extraStart: number, extraLen: number, e: ZipEntry, fileLen: number): void {
  let p = extraStart;
  const end = extraStart + extraLen;
  while (p + 4 <= end) {
    const id = view.getUint16(p, true);
    const len = view.getUint16(p + 2, true);
    if (p + 4 + len > end) throw new ZipError(`zip: entry ${e.name}: extra field overruns its header`);
    if (id === ZIP64_EXTRA_ID) {
      let q = p + 4;
      const take = (what: string): number => {
        if (q + 8 > p + 4 + len) throw new ZipError(`zip: entry ${e.name}: ZIP64 extra field too short for ${what}`);
        const v = u64(view, q, `entry ${e.name}: ${what}`, fileLen);
        q += 8;
        return v;
      };
      if (e.size === U32_MAX) e.size = take('size');
      if (e.compressedSize === U32_MAX) e.compressedSize = take('compressed size');
      if (e.headerOffset === U32_MAX) e.headerOffset = take('header offset');
      return;
    }
    p += 4 + len;
  }
}

const utf8 = new TextDecoder('utf-8');
const latin1 = new TextDecoder('latin1');

/** Parses a zip archive's directory. Entry data is located lazily by `read`. */
export function readZip(bytes: Uint8Array, opts: ReadZipOptions = {}): ZipArchive {
  if (bytes.length < EOCD_SIZE) {
    throw new ZipError(`zip: file too short (${bytes.length} bytes)${looksLikeZip(bytes) ? ': truncated' : ''}`);
  }
  const view = dv(bytes);
  const eocd = findEocd(bytes, view);
  const dir = readDirectoryLocation(bytes, view, eocd);
  const entries = new Map<string, ZipEntry>();
  let p = dir.offset;
  const dirEnd = dir.offset + dir.size;
  for (let i = 0; i < dir.count; i++) {
    if (p + CENTRAL_SIZE > dirEnd || view.getUint32(p, true) !== SIG_CENTRAL) {
      throw new ZipError(`zip: central directory entry ${i} at offset ${p} is damaged: corrupt or truncated file`);
    }
    const flags = view.getUint16(p + 8, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    const next = p + CENTRAL_SIZE + nameLen + extraLen + commentLen;
    if (next > dirEnd) throw new ZipError(`zip: central directory entry ${i} overruns the directory: corrupt file`);
    const nameBytes = bytes.subarray(p + CENTRAL_SIZE, p + CENTRAL_SIZE + nameLen);
    // Bit 11 = UTF-8 names; otherwise CP437, of which latin1 is a fine approximation for torch's ASCII names.
    const name = (flags & 0x800 ? utf8 : latin1).decode(nameBytes);
    if (flags & 0x1) throw new ZipError(`zip: entry ${name} is encrypted`);
    const e: ZipEntry = {
      name,
      method: view.getUint16(p + 10, true),
      crc32: view.getUint32(p + 16, true),
      compressedSize: view.getUint32(p + 20, true),
      size: view.getUint32(p + 24, true),
      headerOffset: view.getUint32(p + 42, true),
    };
    applyZip64Extra(view, p + CENTRAL_SIZE + nameLen, extraLen, e, bytes.length);
    if (entries.has(name)) throw new ZipError(`zip: duplicate entry ${name}`);
    entries.set(name, e);
    p = next;
  }

  const dataCache = new Map<string, Uint8Array>();
  const read = (name: string): Uint8Array => {
    const cached = dataCache.get(name);
    if (cached) return cached;
    const e = entries.get(name);
    if (!e) throw new ZipError(`zip: no entry named ${name}`);
    const data = entryData(bytes, view, e, dir.offset);
    if (opts.verifyCrc && crc32(data) !== e.crc32) {
      throw new ZipError(`zip: entry ${name}: CRC32 mismatch (corrupt file)`);
    }
    dataCache.set(name, data);
    return data;
  };
  return { entries, read };
}

/** Locates a STORED entry's bytes via its local header, checking every bound. */
function entryData(bytes: Uint8Array, view: DataView, e: ZipEntry, dirOffset: number): Uint8Array {
  const h = e.headerOffset;
  if (h + LOCAL_SIZE > dirOffset || view.getUint32(h, true) !== SIG_LOCAL) {
    throw new ZipError(`zip: entry ${e.name}: local header at offset ${h} is missing or damaged: corrupt file`);
  }
  if (e.method === 8) {
    throw new ZipError(
      `zip: entry ${e.name} is DEFLATE-compressed; torch.save never compresses, so this is not a checkpoint ` +
        'torch wrote (re-save it with torch.save)',
    );
  }
  if (e.method !== 0) throw new ZipError(`zip: entry ${e.name} uses unsupported compression method ${e.method}`);
  if (e.compressedSize !== e.size) {
    throw new ZipError(
      `zip: STORED entry ${e.name} has compressed size ${e.compressedSize} != size ${e.size}: corrupt file`,
    );
  }
  // Name and extra lengths come from the local header: torch pads only the local extra field.
  const start = h + LOCAL_SIZE + view.getUint16(h + 26, true) + view.getUint16(h + 28, true);
  const end = start + e.size;
  if (end > dirOffset) {
    throw new ZipError(
      `zip: entry ${e.name} data [${start}, ${end}) runs past the central directory at ${dirOffset}: corrupt or ` +
        'truncated file',
    );
  }
  return bytes.subarray(start, end);
}

// ---------------------------------------------------------------------------
// CRC32 (IEEE), slicing-by-8: ~8x faster than the byte-wise table loop.

const CRC_TABLES: Uint32Array = (() => {
  const t = new Uint32Array(256 * 8);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n]!;
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff]! ^ (c >>> 8);
      t[k * 256 + n] = c >>> 0;
    }
  }
  return t;
})();

/** CRC32 (IEEE 802.3, as zip uses) of `data`, optionally continuing from a previous value. */
export function crc32(data: Uint8Array, previous = 0): number {
  const t = CRC_TABLES;
  let c = ~previous >>> 0;
  let i = 0;
  const n = data.length;
  const n8 = n - (n % 8);
  for (; i < n8; i += 8) {
    const a = (c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24))) >>> 0;
    c =
      t[1792 + (a & 0xff)]! ^
      t[1536 + ((a >>> 8) & 0xff)]! ^
      t[1280 + ((a >>> 16) & 0xff)]! ^
      t[1024 + (a >>> 24)]! ^
      t[768 + data[i + 4]!]! ^
      t[512 + data[i + 5]!]! ^
      t[256 + data[i + 6]!]! ^
      t[data[i + 7]!]!;
  }
  for (; i < n; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

// ---------------------------------------------------------------------------
// Writer

/** One member to write. */
export interface ZipInput {
  name: string;
  data: Uint8Array;
}

/** Options for {@link writeZip}. */
export interface WriteZipOptions {
  /** Data alignment in bytes (torch uses 64); 0 or 1 disables padding. Default 64. */
  align?: number;
  /** Write ZIP64 records even when not needed (for tests). */
  forceZip64?: boolean;
}

interface Placed {
  name: Uint8Array;
  data: Uint8Array;
  crc: number;
  headerOffset: number;
  localExtra: Uint8Array;
  zip64: boolean;
}

/** The ZIP64 extra field: the listed 64-bit values in spec order. */
function zip64Extra(values: number[]): Uint8Array {
  const out = new Uint8Array(4 + 8 * values.length);
  const v = dv(out);
  v.setUint16(0, ZIP64_EXTRA_ID, true);
  v.setUint16(2, 8 * values.length, true);
  values.forEach((x, i) => v.setBigUint64(4 + 8 * i, BigInt(x), true));
  return out;
}

/** Pads a local extra field with torch's 'FB' record so the entry data lands on `align`. */
function padExtra(base: Uint8Array, dataStartNoPad: number, align: number): Uint8Array {
  if (align <= 1) return base;
  let pad = (align - (dataStartNoPad % align)) % align;
  if (pad === 0) return base;
  if (pad < 4) pad += align; // the padding record itself needs 4 header bytes
  const out = new Uint8Array(base.length + pad);
  out.set(base);
  const v = dv(out);
  v.setUint16(base.length, PAD_EXTRA_ID, true);
  v.setUint16(base.length + 2, pad - 4, true);
  out.fill(0x5a, base.length + 4); // 'Z', as torch fills it
  return out;
}

/**
 * Writes a zip with STORED entries, in the given order. Data starts on `align`-byte
 * boundaries (so readers can map tensors directly); ZIP64 records are used when any
 * size or offset reaches 4 GiB or there are 65535+ entries. Output is deterministic
 * (DOS date/time zero, as torch writes).
 */
export function writeZip(inputs: ZipInput[], opts: WriteZipOptions = {}): Uint8Array {
  const align = opts.align ?? 64;
  const enc = new TextEncoder();
  const placed: Placed[] = [];
  const seen = new Set<string>();
  let pos = 0;
  for (const { name, data } of inputs) {
    if (seen.has(name)) throw new ZipError(`zip: duplicate entry ${name}`);
    seen.add(name);
    const nameBytes = enc.encode(name);
    if (nameBytes.length > U16_MAX) throw new ZipError(`zip: entry name too long (${nameBytes.length} bytes)`);
    const zip64 = opts.forceZip64 === true || data.length >= U32_MAX || pos >= U32_MAX;
    const base = zip64 ? zip64Extra([data.length, data.length]) : new Uint8Array(0);
    const localExtra = padExtra(base, pos + LOCAL_SIZE + nameBytes.length + base.length, align);
    placed.push({ name: nameBytes, data, crc: crc32(data), headerOffset: pos, localExtra, zip64 });
    pos += LOCAL_SIZE + nameBytes.length + localExtra.length + data.length;
  }
  const cdOffset = pos;
  const centralExtras = placed.map((p) => {
    const vals: number[] = [];
    if (p.zip64) vals.push(p.data.length, p.data.length);
    if (p.zip64 || p.headerOffset >= U32_MAX) vals.push(p.headerOffset);
    return vals.length ? zip64Extra(vals) : new Uint8Array(0);
  });
  let cdSize = 0;
  placed.forEach((p, i) => {
    cdSize += CENTRAL_SIZE + p.name.length + centralExtras[i]!.length;
  });
  const needEocd64 =
    opts.forceZip64 === true ||
    placed.length >= U16_MAX ||
    cdOffset >= U32_MAX ||
    cdSize >= U32_MAX ||
    placed.some((p) => p.zip64);
  const total = cdOffset + cdSize + (needEocd64 ? EOCD64_SIZE + EOCD64_LOCATOR_SIZE : 0) + EOCD_SIZE;
  const out = new Uint8Array(total);
  const v = dv(out);

  for (const p of placed) {
    const h = p.headerOffset;
    v.setUint32(h, SIG_LOCAL, true);
    v.setUint16(h + 4, p.zip64 ? 45 : 20, true); // version needed
    v.setUint16(h + 6, 0x800, true); // UTF-8 names
    v.setUint16(h + 8, 0, true); // STORED
    v.setUint32(h + 14, p.crc, true);
    v.setUint32(h + 18, p.zip64 ? U32_MAX : p.data.length, true);
    v.setUint32(h + 22, p.zip64 ? U32_MAX : p.data.length, true);
    v.setUint16(h + 26, p.name.length, true);
    v.setUint16(h + 28, p.localExtra.length, true);
    out.set(p.name, h + LOCAL_SIZE);
    out.set(p.localExtra, h + LOCAL_SIZE + p.name.length);
    out.set(p.data, h + LOCAL_SIZE + p.name.length + p.localExtra.length);
  }

  let c = cdOffset;
  placed.forEach((p, i) => {
    const extra = centralExtras[i]!;
    const z = p.zip64 || p.headerOffset >= U32_MAX;
    v.setUint32(c, SIG_CENTRAL, true);
    v.setUint16(c + 4, z ? 45 : 20, true); // version made by (MS-DOS attributes)
    v.setUint16(c + 6, z ? 45 : 20, true); // version needed
    v.setUint16(c + 8, 0x800, true);
    v.setUint16(c + 10, 0, true);
    v.setUint32(c + 16, p.crc, true);
    v.setUint32(c + 20, p.zip64 ? U32_MAX : p.data.length, true);
    v.setUint32(c + 24, p.zip64 ? U32_MAX : p.data.length, true);
    v.setUint16(c + 28, p.name.length, true);
    v.setUint16(c + 30, extra.length, true);
    v.setUint32(c + 42, z ? U32_MAX : p.headerOffset, true);
    out.set(p.name, c + CENTRAL_SIZE);
    out.set(extra, c + CENTRAL_SIZE + p.name.length);
    c += CENTRAL_SIZE + p.name.length + extra.length;
  });

  if (needEocd64) {
    v.setUint32(c, SIG_EOCD64, true);
    v.setBigUint64(c + 4, BigInt(EOCD64_SIZE - 12), true); // size of the rest of the record
    v.setUint16(c + 12, 45, true);
    v.setUint16(c + 14, 45, true);
    v.setBigUint64(c + 24, BigInt(placed.length), true);
    v.setBigUint64(c + 32, BigInt(placed.length), true);
    v.setBigUint64(c + 40, BigInt(cdSize), true);
    v.setBigUint64(c + 48, BigInt(cdOffset), true);
    const loc = c + EOCD64_SIZE;
    v.setUint32(loc, SIG_EOCD64_LOCATOR, true);
    v.setBigUint64(loc + 8, BigInt(c), true);
    v.setUint32(loc + 16, 1, true); // total disks
    c = loc + EOCD64_LOCATOR_SIZE;
  }
  v.setUint32(c, SIG_EOCD, true);
  v.setUint16(c + 8, Math.min(placed.length, U16_MAX), true);
  v.setUint16(c + 10, Math.min(placed.length, U16_MAX), true);
  v.setUint32(c + 12, Math.min(cdSize, U32_MAX), true);
  v.setUint32(c + 16, Math.min(cdOffset, U32_MAX), true);
  return out;
}
