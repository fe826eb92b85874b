/**
 * src/data/augment/ against Pillow 9.4 itself: test/data/fixtures/pil-augment.json holds
 * Pillow's outputs of every op RandAugment and ColorJitter use (ImageOps LUTs,
 * ImageEnhance, the SMOOTH filter, Image.transform AFFINE and Image.rotate with nearest,
 * bilinear and bicubic), made by scripts/pil-augment-fixtures.py. Each must match byte
 * for byte.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  autocontrast,
  brightness,
  color,
  contrast,
  equalize,
  invert,
  posterize,
  rotate,
  sharpness,
  shearX,
  shearY,
  smooth,
  solarize,
  solarizeAdd,
  translateX,
  translateY,
  type AffineResample,
  type Rgb,
} from '../../src/data/augment/index.js';
import type { RgbImage } from '../../src/data/preprocess.js';
import { repoRoot } from '../helpers/shared.js';

interface Case {
  op: string;
  args: number[];
  resample?: AffineResample;
  output: string;
}
const fixture = JSON.parse(readFileSync(path.join(repoRoot, 'test/data/fixtures/pil-augment.json'), 'utf8')) as {
  pillow: string;
  width: number;
  height: number;
  fill: number[];
  input: string;
  cases: Case[];
};
const input: RgbImage = {
  width: fixture.width,
  height: fixture.height,
  data: new Uint8Array(Buffer.from(fixture.input, 'base64')),
};
const fill = fixture.fill as unknown as Rgb;

const OPS: Record<string, (img: RgbImage, args: number[], r: AffineResample) => RgbImage> = {
  autocontrast: (img) => autocontrast(img),
  equalize: (img) => equalize(img),
  invert: (img) => invert(img),
  solarize: (img, [t]) => solarize(img, t!),
  posterize: (img, [b]) => posterize(img, b!),
  solarizeAdd: (img, [a]) => solarizeAdd(img, a!),
  color: (img, [f]) => color(img, f!),
  contrast: (img, [f]) => contrast(img, f!),
  brightness: (img, [f]) => brightness(img, f!),
  sharpness: (img, [f]) => sharpness(img, f!),
  smooth: (img) => smooth(img),
  shearX: (img, [f], r) => shearX(img, f!, r, fill),
  shearY: (img, [f], r) => shearY(img, f!, r, fill),
  translateX: (img, [p], r) => translateX(img, p!, r, fill),
  translateY: (img, [p], r) => translateY(img, p!, r, fill),
  rotate: (img, [d], r) => rotate(img, d!, r, fill),
};

describe(`augmentation ops equal Pillow ${fixture.pillow}`, () => {
  it.each(fixture.cases.map((c) => [`${c.op}(${c.args.join(', ')})${c.resample ? ` ${c.resample}` : ''}`, c] as const))(
    '%s',
    (_, c) => {
      const out = OPS[c.op]!(input, c.args, c.resample ?? 'nearest');
      const want = new Uint8Array(Buffer.from(c.output, 'base64'));
      expect(out.data.length).toBe(want.length);
      let diff = 0;
      let first = -1;
      for (let i = 0; i < want.length; i++)
        if (out.data[i] !== want[i]) {
          diff++;
          if (first < 0) first = i;
        }
      expect(diff, diff ? `first at byte ${first}: ours ${out.data[first]}, PIL ${want[first]}` : '').toBe(0);
    },
  );
});
