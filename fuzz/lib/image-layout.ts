/**
 * Where the header fields and chunks of PNG, JPEG, GIF and WebP files are, for the image
 * mutator: integer fields (with their endianness) to corrupt, chunk/segment spans to
 * drop, duplicate, swap or cut at, and for PNG the CRC fix-up that lets a mutated
 * chunk get past libpng's CRC check to the code behind it. Run on valid seeds only.
 */
import { crc32 } from '../../src/weights/zip.js';
import type { Region, Width } from './bytes.js';

/** An integer field of an image header. */
export interface ImageField {
  name: string;
  at: number;
  width: Width;
  littleEndian: boolean;
}

/** A chunk / segment / block: [start, end) including its own header. */
export interface Span {
  name: string;
  start: number;
  end: number;
}

/** The mutable structure of one image file. */
export interface ImageLayout {
  kind: 'png' | 'jpeg' | 'gif' | 'webp' | 'other';
  fields: ImageField[];
  spans: Span[];
  hot: Region[];
}

const be16 = (b: Uint8Array, p: number): number => (b[p]! << 8) | b[p + 1]!;
const be32 = (b: Uint8Array, p: number): number =>
  ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
const le32 = (b: Uint8Array, p: number): number =>
  (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
const ascii = (b: Uint8Array, p: number, n: number): string => String.fromCharCode(...b.subarray(p, p + n));

function png(b: Uint8Array): ImageLayout {
  const fields: ImageField[] = [];
  const spans: Span[] = [];
  const hot: Region[] = [[0, 8]];
  for (let p = 8; p + 12 <= b.length;) {
    const len = be32(b, p);
    const type = ascii(b, p + 4, 4);
    const end = p + 12 + len;
    spans.push({ name: type, start: p, end });
    fields.push(
      { name: `${type}.length`, at: p, width: 4, littleEndian: false },
      { name: `${type}.crc`, at: end - 4, width: 4, littleEndian: false },
    );
    hot.push([p, p + 8 + Math.min(len, type === 'IDAT' ? 16 : 64)], [end - 4, end]);
    if (type === 'IHDR') {
      fields.push(
        { name: 'IHDR.width', at: p + 8, width: 4, littleEndian: false },
        { name: 'IHDR.height', at: p + 12, width: 4, littleEndian: false },
        { name: 'IHDR.bitDepth', at: p + 16, width: 1, littleEndian: false },
        { name: 'IHDR.colorType', at: p + 17, width: 1, littleEndian: false },
        { name: 'IHDR.compression', at: p + 18, width: 1, littleEndian: false },
        { name: 'IHDR.filter', at: p + 19, width: 1, littleEndian: false },
        { name: 'IHDR.interlace', at: p + 20, width: 1, littleEndian: false },
      );
    }
    if (type === 'IDAT' && spans.filter((s) => s.name === 'IDAT').length === 1) {
      fields.push({ name: 'IDAT.zlibHeader', at: p + 8, width: 2, littleEndian: false });
    }
    p = end;
    if (type === 'IEND') break;
  }
  return { kind: 'png', fields, spans, hot };
}

/** Recomputes every PNG chunk CRC whose chunk is intact enough to locate (after a mutation). */
export function fixPngCrcs(b: Uint8Array): void {
  for (let p = 8; p + 12 <= b.length;) {
    const len = be32(b, p);
    const end = p + 12 + len;
    if (end > b.length) return;
    const c = crc32(b.subarray(p + 4, end - 4));
    b[end - 4] = c >>> 24;
    b[end - 3] = (c >>> 16) & 255;
    b[end - 2] = (c >>> 8) & 255;
    b[end - 1] = c & 255;
    p = end;
  }
}

function jpeg(b: Uint8Array): ImageLayout {
  const fields: ImageField[] = [];
  const spans: Span[] = [];
  const hot: Region[] = [[0, 2]];
  let p = 2;
  while (p + 4 <= b.length && b[p] === 0xff) {
    const m = b[p + 1]!;
    if (m === 0xd9) break;
    const len = be16(b, p + 2);
    const name = `FF${m.toString(16).toUpperCase()}`;
    const end = p + 2 + len;
    spans.push({ name, start: p, end });
    fields.push({ name: `${name}.length`, at: p + 2, width: 2, littleEndian: false });
    hot.push([p, Math.min(end, p + 2 + 96)]);
    if ((m >= 0xc0 && m <= 0xc3) || (m >= 0xc5 && m <= 0xcb) || (m >= 0xcd && m <= 0xcf)) {
      fields.push(
        { name: 'SOF.precision', at: p + 4, width: 1, littleEndian: false },
        { name: 'SOF.height', at: p + 5, width: 2, littleEndian: false },
        { name: 'SOF.width', at: p + 7, width: 2, littleEndian: false },
        { name: 'SOF.components', at: p + 9, width: 1, littleEndian: false },
      );
      for (let c = 0; c < b[p + 9]!; c++) {
        fields.push(
          { name: `SOF.comp${c}.sampling`, at: p + 11 + 3 * c, width: 1, littleEndian: false },
          { name: `SOF.comp${c}.qtable`, at: p + 12 + 3 * c, width: 1, littleEndian: false },
        );
      }
    }
    if (m === 0xc4)
      fields.push(
        { name: 'DHT.class', at: p + 4, width: 1, littleEndian: false },
        { name: 'DHT.count', at: p + 5 + (b[p + 5]! % 16), width: 1, littleEndian: false },
      );
    if (m === 0xdb) fields.push({ name: 'DQT.table', at: p + 4, width: 1, littleEndian: false });
    if (m === 0xdd) fields.push({ name: 'DRI.interval', at: p + 4, width: 2, littleEndian: false });
    if (m === 0xda) {
      fields.push(
        { name: 'SOS.components', at: p + 4, width: 1, littleEndian: false },
        { name: 'SOS.tables', at: p + 6, width: 1, littleEndian: false },
        { name: 'SOS.spectral', at: end - 3, width: 2, littleEndian: false },
      );
      // Entropy-coded data runs to EOI: its first bytes are hot too.
      hot.push([end, Math.min(b.length, end + 256)]);
      spans.push({ name: 'scan-data', start: end, end: Math.max(end, b.length - 2) });
      break;
    }
    p = end;
  }
  return { kind: 'jpeg', fields, spans, hot };
}

function gif(b: Uint8Array): ImageLayout {
  const fields: ImageField[] = [
    { name: 'LSD.width', at: 6, width: 2, littleEndian: true },
    { name: 'LSD.height', at: 8, width: 2, littleEndian: true },
    { name: 'LSD.packed', at: 10, width: 1, littleEndian: true },
    { name: 'LSD.background', at: 11, width: 1, littleEndian: true },
  ];
  const spans: Span[] = [];
  const hot: Region[] = [[0, 13]];
  let p = 13 + (b[10]! & 0x80 ? 3 * 2 ** ((b[10]! & 7) + 1) : 0);
  const subBlocks = (q: number): number => {
    while (q < b.length && b[q] !== 0) {
      fields.push({ name: 'subblock.length', at: q, width: 1, littleEndian: true });
      q += b[q]! + 1;
    }
    return q + 1;
  };
  while (p < b.length && fields.length < 400) {
    const start = p;
    if (b[p] === 0x21) {
      fields.push({ name: 'ext.label', at: p + 1, width: 1, littleEndian: true });
      p = subBlocks(p + 2);
      spans.push({ name: 'extension', start, end: p });
    } else if (b[p] === 0x2c) {
      fields.push(
        { name: 'image.left', at: p + 1, width: 2, littleEndian: true },
        { name: 'image.top', at: p + 3, width: 2, littleEndian: true },
        { name: 'image.width', at: p + 5, width: 2, littleEndian: true },
        { name: 'image.height', at: p + 7, width: 2, littleEndian: true },
        { name: 'image.packed', at: p + 9, width: 1, littleEndian: true },
      );
      hot.push([p, p + 16]);
      p += 10 + (b[p + 9]! & 0x80 ? 3 * 2 ** ((b[p + 9]! & 7) + 1) : 0);
      fields.push({ name: 'image.lzwMinCodeSize', at: p, width: 1, littleEndian: true });
      hot.push([p, p + 32]);
      p = subBlocks(p + 1);
      spans.push({ name: 'image', start, end: p });
    } else break;
  }
  return { kind: 'gif', fields, spans, hot };
}

function webp(b: Uint8Array): ImageLayout {
  const fields: ImageField[] = [{ name: 'RIFF.size', at: 4, width: 4, littleEndian: true }];
  const spans: Span[] = [];
  const hot: Region[] = [[0, 12]];
  for (let p = 12; p + 8 <= b.length;) {
    const type = ascii(b, p, 4);
    const size = le32(b, p + 4);
    const end = p + 8 + size + (size & 1);
    spans.push({ name: type, start: p, end });
    fields.push({ name: `${type}.size`, at: p + 4, width: 4, littleEndian: true });
    hot.push([p, Math.min(end, p + 40)]);
    if (type === 'VP8 ') {
      fields.push(
        { name: 'VP8.frameTag', at: p + 8, width: 2, littleEndian: true },
        { name: 'VP8.width', at: p + 14, width: 2, littleEndian: true },
        { name: 'VP8.height', at: p + 16, width: 2, littleEndian: true },
      );
    } else if (type === 'VP8L') {
      fields.push(
        { name: 'VP8L.signature', at: p + 8, width: 1, littleEndian: true },
        { name: 'VP8L.size', at: p + 9, width: 4, littleEndian: true },
      );
    } else if (type === 'VP8X') {
      fields.push(
        { name: 'VP8X.flags', at: p + 8, width: 1, littleEndian: true },
        { name: 'VP8X.canvasWidth', at: p + 12, width: 2, littleEndian: true },
        { name: 'VP8X.canvasHeight', at: p + 15, width: 2, littleEndian: true },
      );
    }
    p = end;
  }
  return { kind: 'webp', fields, spans, hot };
}

/** Maps an image seed by its signature. */
export function mapImage(b: Uint8Array): ImageLayout {
  if (b[0] === 0x89 && ascii(b, 1, 3) === 'PNG') return png(b);
  if (b[0] === 0xff && b[1] === 0xd8) return jpeg(b);
  if (ascii(b, 0, 3) === 'GIF') return gif(b);
  if (ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'WEBP') return webp(b);
  return { kind: 'other', fields: [], spans: [], hot: [[0, Math.min(b.length, 1024)]] };
}
