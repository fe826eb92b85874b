/**
 * The image ops of the training augmentations against values worked out from Pillow's
 * C code (ImageOps LUTs, ImageEnhance blends, the SMOOTH filter, Geometry.c's affine
 * sampling) and timm's RandAugment level functions, on small images.
 */
import { describe, expect, it } from 'vitest';
import type { RgbImage } from '../../src/data/preprocess.js';
import {
  affine,
  autocontrast,
  blend,
  brightness,
  color,
  contrast,
  crop,
  equalize,
  flipHorizontal,
  grayscale,
  invert,
  posterize,
  rotate,
  sharpness,
  shearX,
  smooth,
  solarize,
  solarizeAdd,
  translateX,
  translateY,
} from '../../src/data/augment/index.js';
import {
  augmentOp,
  levelToArg,
  parseRandAugment,
  randAugment,
  RAND_INCREASING_TRANSFORMS,
  RAND_TRANSFORMS,
  type RandAugmentConfig,
  type RandAugmentParams,
} from '../../src/data/augment/rand-augment.js';
import { Rng } from '../../src/train/rng.js';

/** An image from per-pixel [r, g, b] values, row by row. */
function image(width: number, height: number, px: (x: number, y: number) => [number, number, number]): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set(px(x, y), (y * width + x) * 3);
  return { width, height, data };
}

function noise(width: number, height: number, seed = 1): RgbImage {
  const r = new Rng(seed);
  return image(width, height, () => [r.int(256), r.int(256), r.int(256)]);
}

const at = (img: RgbImage, x: number, y: number): number[] =>
  Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));
const FILL = [124, 116, 104] as const;

describe('lookup-table ops (ImageOps)', () => {
  const row = image(4, 1, (x) => [[0, 127, 128, 255][x]!, [64, 200, 63, 255][x]!, [10, 100, 150, 120][x]!]);

  it("invert, solarize, posterize and SolarizeAdd map each value as PIL's tables do", () => {
    expect(Array.from(invert(row).data.filter((_, i) => i % 3 === 0))).toEqual([255, 128, 127, 0]);
    expect(Array.from(solarize(row, 128).data.filter((_, i) => i % 3 === 0))).toEqual([0, 127, 127, 0]);
    // 2 bits kept: mask 0xC0
    expect(Array.from(posterize(row, 2).data.filter((_, i) => i % 3 === 1))).toEqual([64, 192, 0, 192]);
    expect(Array.from(posterize(row, 0).data).every((v) => v === 0)).toBe(true);
    expect(Array.from(solarizeAdd(row, 110).data.filter((_, i) => i % 3 === 2))).toEqual([120, 210, 150, 230]);
  });

  it('autocontrast stretches every band on its own range (int(v * scale + offset))', () => {
    const img = image(3, 1, (x) => [[50, 100, 150][x]!, [7, 7, 7][x]!, [0, 128, 255][x]!]);
    const out = autocontrast(img);
    expect([at(out, 0, 0), at(out, 1, 0), at(out, 2, 0)]).toEqual([
      [0, 7, 0],
      [127, 7, 128],
      [255, 7, 255],
    ]);
  });

  it("equalize builds PIL's cumulative table (step = (n - last) // 255, lut = (step // 2 + below) // step)", () => {
    // 255 pixels of 5, 255 of 100, 300 of 200: step = 510 // 255 = 2 -> 5 -> 0, 100 -> 256 // 2 = 128,
    // 200 -> 511 // 2 = 255
    const v = [
      ...new Array<number>(255).fill(5),
      ...new Array<number>(255).fill(100),
      ...new Array<number>(300).fill(200),
    ];
    const out = equalize(image(v.length, 1, (x) => [v[x]!, v[x]!, 9]));
    expect([at(out, 0, 0), at(out, 300, 0), at(out, 700, 0)]).toEqual([
      [0, 0, 9],
      [128, 128, 9],
      [255, 255, 9],
    ]);
  });
});

describe('ImageEnhance ops', () => {
  it('blend truncates a + alpha (b - a) in float32 and clips only when extrapolating', () => {
    const a = image(2, 1, (x) => (x ? [200, 5, 0] : [10, 10, 10]));
    const b = image(2, 1, (x) => (x ? [250, 200, 0] : [21, 21, 21]));
    expect(Array.from(blend(a, b, 0.5).data)).toEqual([15, 15, 15, 225, 102, 0]);
    expect(Array.from(blend(a, b, 1.5).data)).toEqual([26, 26, 26, 255, 255, 0]);
    expect(Array.from(blend(a, b, -0.5).data)).toEqual([4, 4, 4, 175, 0, 0]);
  });

  it('uses PIL\'s "L" luma for Color and Contrast', () => {
    const rgb = image(
      3,
      1,
      (x) =>
        [
          [255, 0, 0],
          [0, 255, 0],
          [0, 0, 255],
        ][x] as [number, number, number],
    );
    expect(Array.from(grayscale(rgb).data)).toEqual([76, 76, 76, 150, 150, 150, 29, 29, 29]);
    expect(color(rgb, 0)).toEqual(grayscale(rgb));
    // mean of L = (76 + 150 + 29) / 3 = 85 -> a flat 85 image at factor 0
    expect(Array.from(contrast(rgb, 0).data).every((v) => v === 85)).toBe(true);
    expect(Array.from(brightness(rgb, 0).data).every((v) => v === 0)).toBe(true);
    const img = noise(6, 5);
    for (const op of [color, contrast, brightness, sharpness]) expect(op(img, 1), op.name).toEqual(img);
  });

  it('smooths with the SMOOTH kernel / 13, +0.5 rounding, the border left as is', () => {
    const dot = image(5, 5, (x, y) => (x === 2 && y === 2 ? [255, 255, 255] : [0, 0, 0]));
    const s = smooth(dot);
    // 255 * f32(5/13) + 0.5 = 98.58 -> 98; 255 * f32(1/13) + 0.5 = 20.1 -> 20
    expect(at(s, 2, 2)).toEqual([98, 98, 98]);
    expect([at(s, 1, 1), at(s, 2, 1), at(s, 3, 3)]).toEqual([
      [20, 20, 20],
      [20, 20, 20],
      [20, 20, 20],
    ]);
    expect(at(s, 0, 2)).toEqual([0, 0, 0]);
    const flat = image(4, 4, () => [77, 77, 77]);
    expect(smooth(flat)).toEqual(flat);
    const edge = image(5, 5, (x, y) => (x === 0 || y === 4 ? [200, 100, 50] : [0, 0, 0]));
    expect(at(smooth(edge), 0, 1)).toEqual([200, 100, 50]); // border pixels are copied
    expect(sharpness(dot, 0)).toEqual(s);
  });
});

describe('geometric ops (Image.transform / rotate)', () => {
  const img = noise(7, 5, 3);

  it('the identity matrix returns the image for nearest, bilinear and bicubic', () => {
    for (const r of ['nearest', 'bilinear', 'bicubic'] as const)
      expect(affine(img, [1, 0, 0, 0, 1, 0], r, FILL), r).toEqual(img);
    expect(shearX(img, 0, 'bicubic', FILL)).toEqual(img);
  });

  it('translates by whole pixels exactly, filling what comes from outside', () => {
    for (const r of ['nearest', 'bilinear', 'bicubic'] as const) {
      const left = translateX(img, 3, r, FILL); // content moves left by 3
      for (let y = 0; y < 5; y++) {
        for (let x = 0; x < 7; x++)
          expect(at(left, x, y), `${r} ${x},${y}`).toEqual(x < 4 ? at(img, x + 3, y) : [...FILL]);
      }
      const down = translateY(img, -2, r, FILL); // content moves down by 2
      expect(at(down, 4, 0)).toEqual([...FILL]);
      expect(at(down, 4, 1)).toEqual([...FILL]);
      expect(at(down, 4, 4)).toEqual(at(img, 4, 2));
    }
  });

  it('samples bilinearly between pixel centres and truncates', () => {
    const ramp = image(2, 1, (x) => (x ? [101, 0, 255] : [0, 0, 0]));
    // Output pixel 0 samples x_in = 0.5 + 0.5 = 1.0 -> 0.5 between the two centres: 50.5 -> 50
    expect(at(affine(ramp, [1, 0, 0.5, 0, 1, 0], 'bilinear', FILL), 0, 0)).toEqual([50, 0, 127]);
  });

  const rotateTitle =
    'rotates: 0 and 360 degrees copy, 180 reverses, 90 on a square is a transpose, other angles fill the corners';
  it(rotateTitle, () => {
    expect(rotate(img, 0, 'bilinear', FILL)).toEqual(img);
    expect(rotate(img, 360, 'bicubic', FILL)).toEqual(img);
    const r180 = rotate(img, 180, 'nearest', FILL);
    expect(at(r180, 0, 0)).toEqual(at(img, 6, 4));
    const sq = noise(4, 4, 8);
    const r90 = rotate(sq, 90, 'bilinear', FILL); // counter-clockwise: the top-right pixel goes to the top-left
    expect(at(r90, 0, 0)).toEqual(at(sq, 3, 0));
    expect(at(r90, 3, 0)).toEqual(at(sq, 3, 3));
    expect(rotate(sq, -90, 'bilinear', FILL)).toEqual(rotate(sq, 270, 'bilinear', FILL));
    const flat = image(9, 9, () => [40, 80, 120]);
    const r30 = rotate(flat, 30, 'bicubic', FILL);
    expect(at(r30, 4, 4)).toEqual([40, 80, 120]);
    expect(at(r30, 0, 0)).toEqual([...FILL]);
  });

  it('flips and crops', () => {
    expect(at(flipHorizontal(img), 0, 2)).toEqual(at(img, 6, 2));
    const c = crop(img, 2, 1, 3, 2);
    expect([c.width, c.height]).toEqual([3, 2]);
    expect(at(c, 2, 1)).toEqual(at(img, 4, 2));
    expect(() => crop(img, 5, 0, 3, 2)).toThrow(/not inside/);
  });
});

describe('RandAugment (timm)', () => {
  const params: RandAugmentParams = { fill: FILL, translatePct: 0.45, interpolation: 'random' };
  const config = (magnitude: number): RandAugmentConfig => ({
    magnitude,
    numLayers: 2,
    magnitudeStd: 0,
    magnitudeMax: 10,
    ops: RAND_TRANSFORMS,
  });

  it('parses rand-m9-mstd0.5 and the other sections; refuses unknown ones', () => {
    expect(parseRandAugment('rand-m9-mstd0.5')).toEqual({
      magnitude: 9,
      numLayers: 2,
      magnitudeStd: 0.5,
      magnitudeMax: 10,
      ops: RAND_TRANSFORMS,
    });
    const c = parseRandAugment('rand-m7-n3-mstd101-mmax12-inc1');
    expect([c.magnitude, c.numLayers, c.magnitudeStd, c.magnitudeMax, c.ops]).toEqual([
      7,
      3,
      Infinity,
      12,
      RAND_INCREASING_TRANSFORMS,
    ]);
    expect(() => parseRandAugment('v0')).toThrow(/not a RandAugment string/);
    expect(() => parseRandAugment('rand-x5')).toThrow(/unknown RandAugment section 'x5'/);
    expect(() => parseRandAugment('rand-m1.5')).toThrow(/non-negative integer/);
    expect(() => parseRandAugment('rand-w0')).toThrow(/not implemented/);
  });

  it("maps magnitude 9 to timm's op arguments", () => {
    const plus = { uniform: () => 0.25 }; // random() <= 0.5: the sign stays positive
    const minus = { uniform: () => 0.75 };
    const arg = (name: Parameters<typeof levelToArg>[0], r = plus): number | undefined =>
      levelToArg(name, 9, params, r);
    expect(arg('Rotate')).toBeCloseTo(27, 12);
    expect(arg('Rotate', minus)).toBeCloseTo(-27, 12);
    expect(arg('ShearX')).toBeCloseTo(0.27, 12);
    expect(arg('TranslateYRel', minus)).toBeCloseTo(-0.405, 12);
    expect(arg('Color')).toBeCloseTo(1.72, 12);
    expect(arg('SharpnessIncreasing', minus)).toBeCloseTo(0.19, 12);
    expect([
      arg('Posterize'),
      arg('PosterizeIncreasing'),
      arg('Solarize'),
      arg('SolarizeIncreasing'),
      arg('SolarizeAdd'),
    ]).toEqual([3, 1, 230, 26, 99]);
    expect(arg('Equalize')).toBeUndefined();
  });

  it('leaves the image unchanged at magnitude 0 for the ops whose level 0 is "no change"', () => {
    const img = noise(12, 10, 5);
    const identities = [
      'Rotate',
      'ShearX',
      'ShearY',
      'TranslateXRel',
      'TranslateYRel',
      'SolarizeAdd',
      'ColorIncreasing',
      'ContrastIncreasing',
      'BrightnessIncreasing',
      'SharpnessIncreasing',
    ] as const;
    for (const name of identities) expect(augmentOp(img, name, config(0), params, new Rng(1), 1), name).toEqual(img);
    // and at magnitude 10 where the scale runs the other way
    expect(augmentOp(img, 'Solarize', config(10), params, new Rng(1), 1)).toEqual(img);
    expect(augmentOp(img, 'Posterize', config(10), params, new Rng(1), 1)).toEqual(posterize(img, 4));
  });

  it('applies nothing when the 0.5 probability draw fails, and is reproducible for a seed', () => {
    const img = noise(16, 12, 6);
    expect(augmentOp(img, 'Invert', config(9), params, { uniform: () => 0.9 })).toEqual(img);
    const ra = { ...config(9), magnitudeStd: 0.5 };
    const a = randAugment(img, ra, params, new Rng(11));
    expect(randAugment(img, ra, params, new Rng(11))).toEqual(a);
    expect([a.width, a.height]).toEqual([16, 12]);
    const outs = new Set(
      Array.from({ length: 20 }, (_, s) => Buffer.from(randAugment(img, ra, params, new Rng(s)).data).toString('hex')),
    );
    expect(outs.size).toBeGreaterThan(10);
  });
});
