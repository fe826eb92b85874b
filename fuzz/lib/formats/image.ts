/**
 * `image`: header fields and chunks of the golden PNG / JPEG / GIF / WebP photos (PNG
 * IHDR and chunk lengths with CRCs recomputed half the time so libpng reads on; JPEG
 * SOF dimensions, component counts, table ids, segment lengths, scan headers; GIF
 * screen and frame descriptors, LZW code size, sub-block lengths; WebP RIFF/VP8/VP8L/VP8X
 * sizes and dimensions), chunk drops/duplicates/swaps, truncation and generic damage.
 * Each case runs what `repghost predict` runs per image: decodeImageFile (sharp), then
 * the eval preprocessing.
 *
 * The pixel limit is lowered to 16 MP (default: PIL's 89.5 MP). A JPEG whose SOF claims
 * 9000x9000 but whose scan ends early at an EOI marker decodes (libjpeg only warns) to
 * 81 MP of grey: ~2 s of decoding and ~2.5 s of resizing for a 57 KB file. That cost is
 * the documented price of the default limit, not a parser fault, and it would drown real
 * hangs in the 2 s budget; test/fuzz/image-limits.test.ts
 * pins that behaviour down separately.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { genericMutation, insertAt, interestingValue, readUint, removeAt, writeUint } from '../bytes.js';
import { fixPngCrcs, mapImage, type ImageLayout } from '../image-layout.js';
import { hostileImages } from '../hostile.js';
import type { Rng } from '../rng.js';
import { readSeed, sharedDir } from '../seeds.js';
import type { CaseInput, FormatTarget, PreparedFormat, Seed } from './types.js';
import { MiB } from './types.js';

interface ImageSeed {
  seed: Seed;
  layout: ImageLayout;
}

/** Pixel limit for fuzzed images (see the module comment). */
export const FUZZ_MAX_PIXELS = 16_000_000;

/** Decoded results carry their size: the memory bound allows for the pixels the header declared. */
interface Decoded {
  width: number;
  height: number;
}

export const imageFormat: FormatTarget = {
  name: 'image',
  description:
    'PNG/JPEG/GIF/WebP headers, chunks and segments; decoded by decodeImageFile (sharp, pixel limit 16 MP) then ' +
    'preprocessed (resize 256 bicubic, crop 224, normalize)',
  async prepare({ quick }): Promise<PreparedFormat> {
    const dir = path.join(sharedDir, 'golden', 'preprocess');
    const names = readdirSync(dir)
      .filter((f) => /\.(png|jpe?g|gif|webp)$/i.test(f))
      .sort();
    const seeds: Seed[] = names
      .filter((n) => !quick || !/coffee\.png|astronaut/.test(n))
      .map((name) => ({ name: `preprocess/${name}`, bytes: readSeed(path.join(dir, name)), weight: 1 }));
    const images: ImageSeed[] = seeds.map((seed) => ({ seed, layout: mapImage(seed.bytes) }));
    const donors = seeds.map((s) => s.bytes.subarray(0, 4096));
    // Loaded lazily: sharp is a native module only this format needs.
    const { decodeImageFile } = await import('../../../src/node/decode.js');
    const { preprocess } = await import('../../../src/data/preprocess.js');
    const hostile = await hostileImages();
    return {
      seeds,
      mutate(rng: Rng): CaseInput {
        if (rng.chance(0.1)) {
          // Formats outside the allow-list (SVG that reads files or burns CPU, libvips .v, PDF)
          // and extreme aspect ratios (1x250000) whose resize tables once followed the full size.
          const h = rng.pick(hostile);
          return { bytes: h.bytes, seed: 'generated', notes: [h.note] };
        }
        const s = rng.pick(images);
        let bytes: Uint8Array = s.seed.bytes.slice();
        const notes: string[] = [];
        const { layout } = s;
        for (let i = rng.range(1, 3); i > 0; i--) {
          const kind = rng.weighted([
            ['field', 40],
            ['span', 15],
            ['generic', 45],
          ] as const);
          if (kind === 'field' && layout.fields.length) {
            const f = rng.pick(layout.fields);
            const old = readUint(bytes, f.at, f.width, f.littleEndian);
            const v = interestingValue(rng, f.width, old, bytes.length);
            writeUint(bytes, f.at, f.width, v, f.littleEndian);
            notes.push(`${f.name}: ${old} -> ${v}`);
          } else if (kind === 'span' && layout.spans.length) {
            const sp = rng.pick(layout.spans);
            const op = rng.pick(['drop', 'duplicate', 'cut'] as const);
            if (op === 'drop') bytes = removeAt(bytes, sp.start, sp.end - sp.start);
            else if (op === 'duplicate') bytes = insertAt(bytes, sp.end, bytes.slice(sp.start, sp.end));
            else bytes = bytes.subarray(0, Math.min(bytes.length, sp.start + rng.int(Math.max(1, sp.end - sp.start))));
            notes.push(`${op} ${sp.name} [${sp.start}, ${sp.end})`);
          } else {
            const r = genericMutation(rng, bytes, layout.hot, donors);
            bytes = r.bytes;
            notes.push(r.note);
          }
        }
        // Half the PNG cases get valid CRCs again, so the damage reaches the decoder proper.
        if (layout.kind === 'png' && rng.chance(0.5)) {
          bytes = bytes.slice();
          fixPngCrcs(bytes);
          notes.push('PNG CRCs fixed');
        }
        return { bytes, seed: s.seed.name, notes };
      },
      async run(input: CaseInput): Promise<unknown> {
        const img = await decodeImageFile(input.bytes, { name: 'fuzz-image', maxPixels: FUZZ_MAX_PIXELS });
        return { width: img.width, height: img.height, input: preprocess(img) } satisfies Decoded & {
          input: Float32Array;
        };
      },
      memoryBound(input: CaseInput, result: unknown): number {
        const d = result as Decoded | undefined;
        const pixels = d ? d.width * d.height : 0;
        // Input copy inside sharp + decoded RGB (sharp's buffer and our copy) + the model input.
        return 2 * input.bytes.length + 3 * 3 * pixels + 64 * MiB;
      },
    };
  },
};
