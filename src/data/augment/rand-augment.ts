/**
 * timm's RandAugment (timm/data/auto_augment.py, 0.6.x): `--aa rand-m9-mstd0.5` picks
 * `n` (default 2) ops with replacement from `_RAND_TRANSFORMS` (or the "increasing"
 * list with `inc1`); each runs with probability 0.5 at magnitude m (+ Gaussian noise of
 * std `mstd`, uniform in [0, m] when mstd > 100), clipped to [0, 10] (or [0, mmax]),
 * mapped to the op's argument by timm's level functions; signed arguments are negated
 * with probability 1/2. Geometric ops fill with the ImageNet mean colour (124, 116, 104)
 * and resample with bilinear or bicubic drawn per op (`--train-interpolation random`) or
 * the fixed training interpolation. Images are 8-bit RGB; every op is Pillow-exact
 * (see lut.ts, enhance.ts, geometry.ts).
 */
import type { RgbImage } from '../preprocess.js';
import { brightness, color, contrast, sharpness } from './enhance.js';
import { rotate, shearX, shearY, translateX, translateY, type AffineResample, type Rgb } from './geometry.js';
import { autocontrast, equalize, invert, posterize, solarize, solarizeAdd } from './lut.js';
import { choice, gauss, roundHalfEven, uniform, type RandomSource } from './random.js';

/** timm's `_LEVEL_DENOM`: magnitudes are on a 0..10 scale. */
const LEVEL_DENOM = 10;

/** timm's `_RAND_TRANSFORMS`, in its order. */
export const RAND_TRANSFORMS = [
  'AutoContrast',
  'Equalize',
  'Invert',
  'Rotate',
  'Posterize',
  'Solarize',
  'SolarizeAdd',
  'Color',
  'Contrast',
  'Brightness',
  'Sharpness',
  'ShearX',
  'ShearY',
  'TranslateXRel',
  'TranslateYRel',
] as const;

/** timm's `_RAND_INCREASING_TRANSFORMS` (`inc1`): severity grows with the magnitude for every op. */
export const RAND_INCREASING_TRANSFORMS = [
  'AutoContrast',
  'Equalize',
  'Invert',
  'Rotate',
  'PosterizeIncreasing',
  'SolarizeIncreasing',
  'SolarizeAdd',
  'ColorIncreasing',
  'ContrastIncreasing',
  'BrightnessIncreasing',
  'SharpnessIncreasing',
  'ShearX',
  'ShearY',
  'TranslateXRel',
  'TranslateYRel',
] as const;

export type RandAugmentOpName = (typeof RAND_TRANSFORMS)[number] | (typeof RAND_INCREASING_TRANSFORMS)[number];

/** A parsed `--aa rand-...` string. */
export interface RandAugmentConfig {
  magnitude: number;
  numLayers: number;
  /** Std of the magnitude noise; Infinity: uniform in [0, magnitude]; 0: none. */
  magnitudeStd: number;
  magnitudeMax: number;
  ops: readonly RandAugmentOpName[];
}

/** What the ops need beyond the magnitude (timm's hparams). */
export interface RandAugmentParams {
  /** Fill colour of geometric ops: timm's img_mean, round(255 * mean). */
  fill: Rgb;
  /** Translate range as a fraction of the side (timm's translate_pct, 0.45). */
  translatePct: number;
  /** Fixed resampling of geometric ops, or 'random' for bilinear/bicubic per op. */
  interpolation: AffineResample | 'random';
}

/**
 * Parses timm's RandAugment string: `rand` then dash-separated `m<int>`, `n<int>`,
 * `mstd<float>`, `mmax<int>`, `inc<0|1>` in any order. Throws a RangeError naming the
 * bad part (the weighted op choice `w` of timm is not implemented).
 */
export function parseRandAugment(config: string): RandAugmentConfig {
  const parts = config.split('-');
  if (parts[0] !== 'rand')
    throw new RangeError(
      `'${config}' is not a RandAugment string (rand-m9-mstd0.5, ...); only RandAugment is implemented`,
    );
  const out: RandAugmentConfig = {
    magnitude: LEVEL_DENOM,
    numLayers: 2,
    magnitudeStd: 0,
    magnitudeMax: LEVEL_DENOM,
    ops: RAND_TRANSFORMS,
  };
  for (const part of parts.slice(1)) {
    // timm splits each section at its first digit: key, value.
    const m = /^([a-z]+)(\d.*)$/.exec(part);
    if (!m) {
      if (/^[a-z]*$/.test(part)) continue; // timm ignores sections without a value
      throw new RangeError(`RandAugment section '${part}' of '${config}' is not <key><number>`);
    }
    const [, key, raw] = m as unknown as [string, string, string];
    const value = Number(raw);
    if (!Number.isFinite(value))
      throw new RangeError(`RandAugment section '${part}' of '${config}' has no valid number`);
    const int = (): number => {
      if (!Number.isInteger(value) || value < 0)
        throw new RangeError(`RandAugment '${key}' takes a non-negative integer, got '${raw}'`);
      return value;
    };
    if (key === 'm') out.magnitude = int();
    else if (key === 'n') out.numLayers = int();
    else if (key === 'mstd') out.magnitudeStd = value > 100 ? Infinity : value;
    else if (key === 'mmax') out.magnitudeMax = int();
    else if (key === 'inc') out.ops = int() ? RAND_INCREASING_TRANSFORMS : RAND_TRANSFORMS;
    else if (key === 'w') throw new RangeError(`RandAugment weighted op choice ('${part}') is not implemented`);
    else throw new RangeError(`unknown RandAugment section '${part}' in '${config}' (known: m, n, mstd, mmax, inc)`);
  }
  return out;
}

/** timm's `_randomly_negate`: -v when random() > 0.5. */
function randomlyNegate(v: number, r: RandomSource): number {
  return r.uniform() > 0.5 ? -v : v;
}

/** The op's argument for a magnitude, by timm's LEVEL_TO_ARG (draws the sign where the op has one). */
export function levelToArg(
  name: RandAugmentOpName,
  magnitude: number,
  p: RandAugmentParams,
  r: RandomSource,
): number | undefined {
  const level = magnitude / LEVEL_DENOM;
  switch (name) {
    case 'AutoContrast':
    case 'Equalize':
    case 'Invert':
      return undefined;
    case 'Rotate':
      return randomlyNegate(level * 30, r);
    case 'Posterize':
      return Math.trunc(level * 4);
    case 'PosterizeIncreasing':
      return 4 - Math.trunc(level * 4);
    case 'Solarize':
      return Math.trunc(level * 256);
    case 'SolarizeIncreasing':
      return 256 - Math.trunc(level * 256);
    case 'SolarizeAdd':
      return Math.trunc(level * 110);
    case 'Color':
    case 'Contrast':
    case 'Brightness':
    case 'Sharpness':
      return level * 1.8 + 0.1;
    case 'ColorIncreasing':
    case 'ContrastIncreasing':
    case 'BrightnessIncreasing':
    case 'SharpnessIncreasing':
      return Math.max(0.1, 1.0 + randomlyNegate(level * 0.9, r));
    case 'ShearX':
    case 'ShearY':
      return randomlyNegate(level * 0.3, r);
    case 'TranslateXRel':
    case 'TranslateYRel':
      return randomlyNegate(level * p.translatePct, r);
  }
}

/** Runs one op with its argument (timm's NAME_TO_OP). */
export function applyOp(
  img: RgbImage,
  name: RandAugmentOpName,
  arg: number | undefined,
  resample: AffineResample,
  fill: Rgb,
): RgbImage {
  const a = arg ?? 0;
  switch (name) {
    case 'AutoContrast':
      return autocontrast(img);
    case 'Equalize':
      return equalize(img);
    case 'Invert':
      return invert(img);
    case 'Rotate':
      return rotate(img, a, resample, fill);
    case 'Posterize':
    case 'PosterizeIncreasing':
      return a >= 8 ? img : posterize(img, a);
    case 'Solarize':
    case 'SolarizeIncreasing':
      return solarize(img, a);
    case 'SolarizeAdd':
      return solarizeAdd(img, a);
    case 'Color':
    case 'ColorIncreasing':
      return color(img, a);
    case 'Contrast':
    case 'ContrastIncreasing':
      return contrast(img, a);
    case 'Brightness':
    case 'BrightnessIncreasing':
      return brightness(img, a);
    case 'Sharpness':
    case 'SharpnessIncreasing':
      return sharpness(img, a);
    case 'ShearX':
      return shearX(img, a, resample, fill);
    case 'ShearY':
      return shearY(img, a, resample, fill);
    case 'TranslateXRel':
      return translateX(img, a * img.width, resample, fill);
    case 'TranslateYRel':
      return translateY(img, a * img.height, resample, fill);
  }
}

const GEOMETRIC = new Set<RandAugmentOpName>(['Rotate', 'ShearX', 'ShearY', 'TranslateXRel', 'TranslateYRel']);

/**
 * One AugmentOp call (prob 0.5): skip draw, magnitude noise, clip, argument (sign draw),
 * then for geometric ops the resampling filter draw, in timm's order.
 */
export function augmentOp(
  img: RgbImage,
  name: RandAugmentOpName,
  c: RandAugmentConfig,
  p: RandAugmentParams,
  r: RandomSource,
  prob = 0.5,
): RgbImage {
  if (prob < 1.0 && r.uniform() > prob) return img;
  let magnitude = c.magnitude;
  if (c.magnitudeStd > 0)
    magnitude = c.magnitudeStd === Infinity ? uniform(r, 0, magnitude) : gauss(r, magnitude, c.magnitudeStd);
  magnitude = Math.max(0, Math.min(magnitude, c.magnitudeMax || LEVEL_DENOM));
  const arg = levelToArg(name, magnitude, p, r);
  let resample: AffineResample = 'bilinear';
  if (GEOMETRIC.has(name))
    resample = p.interpolation === 'random' ? choice(r, ['bilinear', 'bicubic'] as const) : p.interpolation;
  return applyOp(img, name, arg, resample, p.fill);
}

/** RandAugment: `numLayers` ops drawn with replacement, applied in turn. */
export function randAugment(img: RgbImage, c: RandAugmentConfig, p: RandAugmentParams, r: RandomSource): RgbImage {
  const picked = Array.from({ length: c.numLayers }, () => choice(r, c.ops));
  let out = img;
  for (const name of picked) out = augmentOp(out, name, c, p, r);
  return out;
}

/** timm's `img_mean` hparam: round(255 * mean) per channel, capped at 255. */
export function fillFromMean(mean: readonly [number, number, number]): Rgb {
  return mean.map((m) => Math.min(255, roundHalfEven(255 * m))) as unknown as Rgb;
}
