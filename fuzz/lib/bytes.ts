/**
 * Format-agnostic byte mutations (bit flips, interesting values, truncation, insertion,
 * deletion, duplication, splicing) plus little helpers to read and write integer fields.
 * Format modules call these on the spots they know matter (a zip header field, a pickle
 * length argument, a PNG chunk length); the generic mutator uses "hot" regions so most
 * damage lands in headers rather than in megabytes of tensor payload that no parser reads.
 */
import type { Rng } from './rng.js';

/** A half-open byte range [start, end). */
export type Region = readonly [start: number, end: number];

/** Integer field widths the mutators write. */
export type Width = 1 | 2 | 4 | 8;

/** Reads an unsigned integer field. */
export function readUint(b: Uint8Array, at: number, width: Width, littleEndian = true): bigint {
  let v = 0n;
  for (let i = 0; i < width; i++) {
    const byte = b[littleEndian ? at + width - 1 - i : at + i] ?? 0;
    v = (v << 8n) | BigInt(byte);
  }
  return v;
}

/** Writes an unsigned integer field (the value is taken modulo 2^(8*width)); out-of-range bytes are skipped. */
export function writeUint(b: Uint8Array, at: number, width: Width, value: bigint, littleEndian = true): void {
  let v = BigInt.asUintN(8 * width, value);
  for (let i = 0; i < width; i++) {
    const p = littleEndian ? at + i : at + width - 1 - i;
    if (p >= 0 && p < b.length) b[p] = Number(v & 0xffn);
    v >>= 8n;
  }
}

/**
 * A value to plant in an integer field: the classic boundaries of its width, or values
 * relative to what was there (off by one, doubled, halved) and to the file length, which
 * is what length and offset checks compare against.
 */
export function interestingValue(rng: Rng, width: Width, original: bigint, fileLen: number): bigint {
  const bits = BigInt(8 * width);
  const max = (1n << bits) - 1n;
  const half = 1n << (bits - 1n);
  const len = BigInt(fileLen);
  const candidates: bigint[] = [
    0n,
    1n,
    2n,
    max,
    max - 1n,
    half,
    half - 1n,
    original + 1n,
    original - 1n,
    original * 2n,
    original / 2n,
    original + 64n,
    original - 64n,
    len,
    len + 1n,
    len - 1n,
    len - original,
    original ^ half,
    ...(width >= 4 ? [0xffffffffn, 0x7fffffffn, 0x80000000n, 1n << 30n] : []),
    ...(width === 8 ? [1n << 32n, 1n << 40n, 1n << 53n, (1n << 53n) + 1n, 1n << 62n, 1n << 63n] : []),
    BigInt(rng.u32()),
  ];
  return BigInt.asUintN(Number(bits), rng.pick(candidates));
}

/** Picks a position: inside one of the hot regions with probability pHot, else anywhere. */
export function pickPosition(rng: Rng, length: number, hot: readonly Region[], pHot = 0.85): number {
  if (length === 0) return 0;
  const usable = hot.filter(([s, e]) => e > s && s < length);
  if (usable.length && rng.chance(pHot)) {
    const [s, e] = rng.pick(usable);
    return Math.min(length - 1, s + rng.int(Math.min(e, length) - s));
  }
  return rng.int(length);
}

/** Flips 1..8 bits at or right after `at` (in place). */
export function flipBits(rng: Rng, b: Uint8Array, at: number): string {
  const n = rng.range(1, 8);
  for (let i = 0; i < n; i++) {
    const p = Math.min(b.length - 1, at + rng.int(4));
    if (p >= 0) b[p]! ^= 1 << rng.int(8);
  }
  return `flip ${n} bits @${at}`;
}

/** Overwrites 1..16 bytes at `at` with random bytes (in place). */
export function randomBytes(rng: Rng, b: Uint8Array, at: number): string {
  const n = Math.min(b.length - at, rng.small(16));
  for (let i = 0; i < n; i++) b[at + i] = rng.int(256);
  return `random ${n} bytes @${at}`;
}

/** Concatenates byte arrays into a fresh one. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Inserts `chunk` at `at` (new array). */
export function insertAt(b: Uint8Array, at: number, chunk: Uint8Array): Uint8Array {
  return concat(b.subarray(0, at), chunk, b.subarray(at));
}

/** Removes `n` bytes at `at` (new array). */
export function removeAt(b: Uint8Array, at: number, n: number): Uint8Array {
  return concat(b.subarray(0, at), b.subarray(Math.min(b.length, at + n)));
}

/** Replaces `n` bytes at `at` with `chunk` (new array; lengths may differ). */
export function replaceAt(b: Uint8Array, at: number, n: number, chunk: Uint8Array): Uint8Array {
  return concat(b.subarray(0, at), chunk, b.subarray(Math.min(b.length, at + n)));
}

/**
 * One generic mutation of `b` with positions biased to `hot` regions and chunks borrowed
 * from `donors` (other seeds of the same format, for splices). Returns the new bytes and
 * a short description. `b` may be modified in place; callers pass a private copy.
 */
export function genericMutation(
  rng: Rng,
  b: Uint8Array,
  hot: readonly Region[],
  donors: readonly Uint8Array[],
): { bytes: Uint8Array; note: string } {
  const at = pickPosition(rng, b.length, hot);
  const kind = rng.weighted([
    ['flip', 30],
    ['random', 10],
    ['int', 20],
    ['truncate', 10],
    ['insert', 8],
    ['delete', 8],
    ['duplicate', 6],
    ['splice', 8],
  ] as const);
  switch (kind) {
    case 'flip':
      return { bytes: b, note: flipBits(rng, b, at) };
    case 'random':
      return { bytes: b, note: randomBytes(rng, b, at) };
    case 'int': {
      const width = rng.pick([1, 2, 4, 8] as const);
      const le = rng.chance(0.8);
      const v = interestingValue(rng, width, readUint(b, at, width, le), b.length);
      writeUint(b, at, width, v, le);
      return { bytes: b, note: `u${8 * width}${le ? 'le' : 'be'}=${v} @${at}` };
    }
    case 'truncate': {
      const cut = rng.chance(0.5) ? at : rng.int(b.length + 1);
      return { bytes: b.subarray(0, cut), note: `truncate to ${cut} of ${b.length}` };
    }
    case 'insert': {
      const n = rng.small(64);
      const chunk = rng.chance(0.5)
        ? new Uint8Array(n).fill(rng.pick([0, 0xff, 0x41, rng.int(256)]))
        : Uint8Array.from({ length: n }, () => rng.int(256));
      return { bytes: insertAt(b, at, chunk), note: `insert ${n} bytes @${at}` };
    }
    case 'delete': {
      const n = rng.small(256);
      return { bytes: removeAt(b, at, n), note: `delete ${n} bytes @${at}` };
    }
    case 'duplicate': {
      const n = Math.min(b.length - at, rng.small(256));
      return { bytes: insertAt(b, at, b.slice(at, at + n)), note: `duplicate ${n} bytes @${at}` };
    }
    case 'splice': {
      const donor = donors.length ? rng.pick(donors) : b;
      const from = donor.length ? rng.int(donor.length) : 0;
      const n = Math.min(donor.length - from, rng.small(512));
      const chunk = donor.slice(from, from + n);
      return rng.chance(0.5)
        ? { bytes: replaceAt(b, at, n, chunk), note: `splice ${n} donor bytes over @${at}` }
        : { bytes: insertAt(b, at, chunk), note: `splice ${n} donor bytes into @${at}` };
    }
  }
}
