/**
 * Where the fields of a (valid) zip file are: end records, ZIP64 locator and record,
 * central-directory entries (with their ZIP64 extra fields) and local headers. The pth
 * mutator corrupts exactly these fields; the pickle mutator uses {@link replaceRecordData}
 * to put a mutated `data.pkl` back into an otherwise intact archive, so that the zip
 * layer accepts the file and the unpickler is what gets exercised.
 *
 * Only ever run on seed files (which are valid): it trusts what it reads.
 */
import { crc32 } from '../../src/weights/zip.js';
import { concat, readUint, writeUint, type Region, type Width } from './bytes.js';

/** One integer field of the archive. */
export interface ZipField {
  /** e.g. `eocd.cdOffset`, `central[3].size`, `local[3].extraLen`. */
  name: string;
  at: number;
  width: Width;
}

/** Where one entry's numbers live (in the central entry or its ZIP64 extra field). */
export interface ZipRecord {
  name: string;
  centralAt: number;
  headerOffset: number;
  dataStart: number;
  size: number;
  /** Field positions that must change when the entry's data or position changes. */
  sizeFields: ZipField[];
  offsetField: ZipField;
  crcField: ZipField;
  localSizeFields: ZipField[];
}

/** The structure of a valid zip archive. */
export interface ZipLayout {
  eocd: number;
  locator: number | null;
  eocd64: number | null;
  cdOffset: number;
  cdSize: number;
  records: ZipRecord[];
  /** Fields by area, for weighted picking. */
  endFields: ZipField[];
  centralFields: ZipField[][];
  localFields: ZipField[][];
  /** Byte ranges worth damaging: headers, the directory, the end records. */
  hot: Region[];
}

const SIG_EOCD = 0x06054b50;
const SIG_LOCATOR = 0x07064b50;

/** Maps a valid zip archive's fields. */
export function mapZip(b: Uint8Array): ZipLayout {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let eocd = -1;
  for (let p = b.length - 22; p >= Math.max(0, b.length - 22 - 0xffff); p--) {
    if (v.getUint32(p, true) === SIG_EOCD) {
      eocd = p;
      break;
    }
  }
  if (eocd < 0) throw new Error('mapZip: not a zip');
  const f = (name: string, at: number, width: Width): ZipField => ({ name, at, width });
  const endFields: ZipField[] = [
    f('eocd.disk', eocd + 4, 2),
    f('eocd.cdDisk', eocd + 6, 2),
    f('eocd.countDisk', eocd + 8, 2),
    f('eocd.count', eocd + 10, 2),
    f('eocd.cdSize', eocd + 12, 4),
    f('eocd.cdOffset', eocd + 16, 4),
    f('eocd.commentLen', eocd + 20, 2),
  ];
  let cdOffset = v.getUint32(eocd + 16, true);
  let cdSize = v.getUint32(eocd + 12, true);
  let locator: number | null = null;
  let eocd64: number | null = null;
  if (eocd >= 20 && v.getUint32(eocd - 20, true) === SIG_LOCATOR) {
    locator = eocd - 20;
    eocd64 = Number(v.getBigUint64(locator + 8, true));
    endFields.push(
      f('locator.disk', locator + 4, 4),
      f('locator.recordOffset', locator + 8, 8),
      f('locator.disks', locator + 16, 4),
    );
    endFields.push(
      f('eocd64.recordSize', eocd64 + 4, 8),
      f('eocd64.disk', eocd64 + 16, 4),
      f('eocd64.cdDisk', eocd64 + 20, 4),
      f('eocd64.countDisk', eocd64 + 24, 8),
      f('eocd64.count', eocd64 + 32, 8),
      f('eocd64.cdSize', eocd64 + 40, 8),
      f('eocd64.cdOffset', eocd64 + 48, 8),
    );
    cdOffset = Number(v.getBigUint64(eocd64 + 48, true));
    cdSize = Number(v.getBigUint64(eocd64 + 40, true));
  }
  const records: ZipRecord[] = [];
  const centralFields: ZipField[][] = [];
  const localFields: ZipField[][] = [];
  const hot: Region[] = [
    [cdOffset, cdOffset + cdSize],
    [eocd64 ?? eocd, b.length],
  ];
  const latin1 = new TextDecoder('latin1');
  for (let p = cdOffset, i = 0; p < cdOffset + cdSize; i++) {
    const nameLen = v.getUint16(p + 28, true);
    const extraLen = v.getUint16(p + 30, true);
    const commentLen = v.getUint16(p + 32, true);
    const name = latin1.decode(b.subarray(p + 46, p + 46 + nameLen));
    const c = `central[${i}]`;
    const cf: ZipField[] = [
      f(`${c}.signature`, p, 4),
      f(`${c}.flags`, p + 8, 2),
      f(`${c}.method`, p + 10, 2),
      f(`${c}.crc`, p + 16, 4),
      f(`${c}.compressedSize`, p + 20, 4),
      f(`${c}.size`, p + 24, 4),
      f(`${c}.nameLen`, p + 28, 2),
      f(`${c}.extraLen`, p + 30, 2),
      f(`${c}.commentLen`, p + 32, 2),
      f(`${c}.disk`, p + 34, 2),
      f(`${c}.headerOffset`, p + 42, 4),
    ];
    let sizeFields = [cf[4]!, cf[5]!];
    let offsetField = cf[10]!;
    // ZIP64 extra: values appear only for the 32-bit fields saturated at 0xffffffff, in spec order.
    for (let q = p + 46 + nameLen; q + 4 <= p + 46 + nameLen + extraLen;) {
      const id = v.getUint16(q, true);
      const len = v.getUint16(q + 2, true);
      cf.push(f(`${c}.extra[0x${id.toString(16)}].id`, q, 2), f(`${c}.extra[0x${id.toString(16)}].len`, q + 2, 2));
      if (id === 1) {
        let r = q + 4;
        const z: ZipField[] = [];
        const take = (what: string): ZipField => {
          const zf = f(`${c}.zip64.${what}`, r, 8);
          r += 8;
          z.push(zf);
          return zf;
        };
        const sz = v.getUint32(p + 24, true) === 0xffffffff ? take('size') : null;
        const csz = v.getUint32(p + 20, true) === 0xffffffff ? take('compressedSize') : null;
        const off = v.getUint32(p + 42, true) === 0xffffffff ? take('headerOffset') : null;
        sizeFields = [csz ?? cf[4]!, sz ?? cf[5]!];
        if (off) offsetField = off;
        cf.push(...z);
      }
      q += 4 + len;
    }
    const headerOffset = Number(readUint(b, offsetField.at, offsetField.width));
    const size = Number(readUint(b, sizeFields[1]!.at, sizeFields[1]!.width));
    const h = headerOffset;
    const l = `local[${i}]`;
    const lf: ZipField[] = [
      f(`${l}.signature`, h, 4),
      f(`${l}.flags`, h + 6, 2),
      f(`${l}.method`, h + 8, 2),
      f(`${l}.compressedSize`, h + 18, 4),
      f(`${l}.size`, h + 22, 4),
      f(`${l}.nameLen`, h + 26, 2),
      f(`${l}.extraLen`, h + 28, 2),
    ];
    const dataStart = h + 30 + v.getUint16(h + 26, true) + v.getUint16(h + 28, true);
    hot.push([h, dataStart]);
    records.push({
      name,
      centralAt: p,
      headerOffset,
      dataStart,
      size,
      sizeFields,
      offsetField,
      crcField: cf[3]!,
      localSizeFields: [lf[3]!, lf[4]!],
    });
    centralFields.push(cf);
    localFields.push(lf);
    p += 46 + nameLen + extraLen + commentLen;
  }
  return { eocd, locator, eocd64, cdOffset, cdSize, records, endFields, centralFields, localFields, hot };
}

/**
 * Returns a copy of the archive with one entry's data replaced by `data` (any length):
 * later headers, the directory and the end records move, and every offset, size and
 * the entry's CRC are updated, so the zip layer reads the result as a valid archive.
 * Bytes after the old data (a data descriptor, if any) are kept as they were.
 */
export function replaceRecordData(b: Uint8Array, layout: ZipLayout, name: string, data: Uint8Array): Uint8Array {
  const rec = layout.records.find((r) => r.name === name);
  if (!rec) throw new Error(`replaceRecordData: no entry ${name}`);
  const oldEnd = rec.dataStart + rec.size;
  const delta = data.length - rec.size;
  const out = concat(b.subarray(0, rec.dataStart), data, b.subarray(oldEnd));
  // Positions at or after the old data's end moved by delta.
  const at = (p: number): number => (p >= oldEnd ? p + delta : p);
  const shift = (fld: ZipField): void => {
    const val = readUint(b, fld.at, fld.width);
    if (val >= BigInt(oldEnd)) writeUint(out, at(fld.at), fld.width, val + BigInt(delta));
  };
  for (const r of layout.records) shift(r.offsetField);
  for (const fld of layout.endFields) {
    if (/cdOffset|recordOffset/.test(fld.name)) shift(fld);
  }
  for (const fld of rec.sizeFields) writeUint(out, at(fld.at), fld.width, BigInt(data.length));
  for (const fld of rec.localSizeFields) {
    const old = readUint(b, fld.at, fld.width);
    // torch leaves local sizes 0 (a data descriptor follows); 0xffffffff defers to ZIP64.
    if (old !== 0n && old !== 0xffffffffn) writeUint(out, at(fld.at), fld.width, BigInt(data.length));
  }
  writeUint(out, at(rec.crcField.at), 4, BigInt(crc32(data)));
  return out;
}
