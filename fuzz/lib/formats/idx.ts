/**
 * `idx`: the Fashion-MNIST IDX files, raw and gzipped: the magic bytes, type code and
 * dimension count, the big-endian dimension sizes, truncation and trailing bytes, and
 * for gzip either damage to the compressed stream (header, trailer CRC/ISIZE, deflate
 * data) or damage to the IDX bytes re-compressed (so gunzip succeeds and the IDX parser
 * sees the damage). Parsed by readIdx, as the Fashion-MNIST loader does.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import path from 'node:path';
import { genericMutation, interestingValue, readUint, writeUint, type Region } from '../bytes.js';
import { randomLyingIdx } from '../hostile.js';
import type { Rng } from '../rng.js';
import { fashionMnistDir, readSeed } from '../seeds.js';
import type { CaseInput, FormatTarget, PreparedFormat, Seed } from './types.js';
import { MiB } from './types.js';

/** Deflate cannot expand input by more than about 1032:1; a gzipped case may legitimately reach that. */
const DEFLATE_MAX_RATIO = 1032;

/** Cuts an IDX image file to its first `n` items (header count patched). */
function firstItems(raw: Uint8Array, n: number): Uint8Array {
  const ndim = raw[3]!;
  const header = 4 + 4 * ndim;
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  let item = 1;
  for (let i = 1; i < ndim; i++) item *= dv.getUint32(4 + 4 * i, false);
  const out = raw.slice(0, header + n * item);
  new DataView(out.buffer).setUint32(4, n, false);
  return out;
}

export const idxFormat: FormatTarget = {
  name: 'idx',
  description:
    'Fashion-MNIST IDX (raw and gzip): magic, type code, dimension count and sizes, truncation, trailing bytes, ' +
    'gzip header/trailer/stream; parsed by readIdx',
  async prepare(): Promise<PreparedFormat> {
    const labelsGz = readSeed(path.join(fashionMnistDir, 't10k-labels-idx1-ubyte.gz'));
    const imagesGz = readSeed(path.join(fashionMnistDir, 't10k-images-idx3-ubyte.gz'));
    const labels = new Uint8Array(gunzipSync(labelsGz));
    const images = firstItems(new Uint8Array(gunzipSync(imagesGz)), 64);
    const seeds: Seed[] = [
      { name: 't10k-labels-idx1-ubyte', bytes: labels, weight: 3 },
      { name: 't10k-images-idx3-ubyte[:64]', bytes: images, weight: 3 },
      { name: 't10k-labels-idx1-ubyte.gz', bytes: labelsGz, weight: 2 },
      { name: 't10k-images-idx3-ubyte[:64].gz', bytes: new Uint8Array(gzipSync(images)), weight: 2 },
    ];
    const { readIdx } = await import('../../../src/data/idx.js');
    /** Damage to raw IDX bytes: header fields mostly. */
    const mutateRaw = (rng: Rng, raw: Uint8Array, notes: string[]): Uint8Array => {
      let b: Uint8Array = raw.slice();
      for (let i = rng.range(1, 3); i > 0; i--) {
        const ndim = Math.min(b[3] ?? 0, 8);
        // Header edits need a header: an earlier truncation may have cut it.
        const kind =
          b.length < 4
            ? 'generic'
            : rng.weighted([
                ['magic', 10],
                ['type', 10],
                ['ndim', 12],
                ['dim', 30],
                ['generic', 38],
              ] as const);
        if (kind === 'magic') {
          const p = rng.int(2);
          b[p] = rng.pick([1, 0x1f, 0xff]);
          notes.push(`magic byte ${p}`);
        } else if (kind === 'type') {
          b[2] = rng.pick([0, 7, 8, 9, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0xff]);
          notes.push(`type code 0x${b[2].toString(16)}`);
        } else if (kind === 'ndim') {
          b[3] = rng.pick([0, 1, 2, 3, 4, 5, 16, 255]);
          notes.push(`ndim ${b[3]}`);
        } else if (kind === 'dim' && ndim > 0) {
          const at = 4 + 4 * rng.int(ndim);
          const old = readUint(b, at, 4, false);
          const v = interestingValue(rng, 4, old, b.length);
          writeUint(b, at, 4, v, false);
          notes.push(`dim@${at}: ${old} -> ${v}`);
        } else {
          const hot: Region[] = [
            [0, 4 + 4 * Math.max(ndim, 1)],
            [b.length - 16, b.length],
          ];
          const r = genericMutation(rng, b, hot, [labels.subarray(0, 64), images.subarray(0, 64)]);
          b = r.bytes;
          notes.push(r.note);
        }
      }
      return b;
    };
    return {
      seeds,
      mutate(rng: Rng): CaseInput {
        if (rng.chance(0.1)) {
          // A gzip whose IDX header lies about the size (up to [2^32-1, 28, 28]) over up to 8 MB of zeros.
          const h = randomLyingIdx(rng);
          return { bytes: h.bytes, seed: 'generated', notes: [h.note] };
        }
        const s = rng.weighted(seeds.map((x) => [x, x.weight] as const));
        const notes: string[] = [];
        if (!s.name.endsWith('.gz')) return { bytes: mutateRaw(rng, s.bytes, notes), seed: s.name, notes };
        if (rng.chance(0.5)) {
          // Damage the IDX, then compress it again: gunzip succeeds, the parser sees the damage.
          const raw = mutateRaw(rng, new Uint8Array(gunzipSync(s.bytes)), notes);
          notes.push('re-gzipped');
          return { bytes: new Uint8Array(gzipSync(raw)), seed: s.name, notes };
        }
        // Damage the gzip stream itself: header flags/mtime, deflate data, CRC32 and ISIZE trailer.
        const r = genericMutation(
          rng,
          s.bytes.slice(),
          [
            [0, 16],
            [16, 64],
            [s.bytes.length - 8, s.bytes.length],
          ],
          [],
        );
        notes.push(`gzip ${r.note}`);
        return { bytes: r.bytes, seed: s.name, notes };
      },
      run(input: CaseInput): Promise<unknown> {
        return readIdx(input.bytes, 'fuzz.idx');
      },
      memoryBound(input: CaseInput): number {
        const gz = input.bytes[0] === 0x1f && input.bytes[1] === 0x8b;
        return (gz ? 4 * DEFLATE_MAX_RATIO : 4) * input.bytes.length + 64 * MiB;
      },
    };
  },
};
