/**
 * The per-image pipelines of ImageFolder training, on decoded 8-bit RGB images,
 * writing normalized float32 HWC pixels (one slot of an NHWC batch):
 *
 * - train = timm's `transforms_imagenet_train`: RandomResizedCropAndInterpolation ->
 *   RandomHorizontalFlip -> RandAugment (`--aa rand-...`) or, without `--aa`, ColorJitter
 *   -> ToTensor + Normalize -> RandomErasing (`--reprob` > 0);
 * - eval = timm's `transforms_imagenet_eval`: shorter-side resize to floor(size / crop_pct)
 *   with PIL's resampling, centre crop, ToTensor + Normalize (preprocess.ts, bit-exact).
 *
 * Normalization is ((p / 255) - mean) / std rounded to float32 at each step, as torch
 * computes it. All randomness comes from the `RandomSource` given per image.
 */
import { resizeAndCrop, type Interpolation, type RgbImage } from '../preprocess.js';
import { colorJitter } from './color-jitter.js';
import { flipHorizontal } from './geometry.js';
import {
  fillFromMean,
  parseRandAugment,
  randAugment,
  type RandAugmentConfig,
  type RandAugmentParams,
} from './rand-augment.js';
import { randomErasing, type EraseMode } from './random-erasing.js';
import { randomResizedCrop, type TrainInterpolation } from './random-resized-crop.js';
import { chance, type RandomSource } from './random.js';

export { IMAGENET_MEAN, IMAGENET_STD } from '../preprocess.js';

/** Settings of the training pipeline (timm's train.py flags). Plain data: it crosses to workers. */
export interface TrainTransformConfig {
  /** Output side (`--input-size` / `--img-size`). */
  size: number;
  scale: readonly [number, number];
  ratio: readonly [number, number];
  interpolation: TrainInterpolation;
  hflip: number;
  /** `--aa`: a RandAugment string, or null. */
  autoAugment: string | null;
  /** `--color-jitter` strength for brightness, contrast and saturation (used only without `--aa`). */
  colorJitter: number;
  /** `--reprob` and `--remode` of RandomErasing. */
  reprob: number;
  remode: EraseMode;
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
}

/** Settings of the evaluation pipeline. */
export interface EvalTransformConfig {
  size: number;
  cropPct: number;
  interpolation: Interpolation;
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
}

/** Writes ToTensor + Normalize of `img` as HWC float32 at `out[offset ...]`. */
export function normalizeInto(
  img: RgbImage,
  mean: readonly [number, number, number],
  std: readonly [number, number, number],
  out: Float32Array,
  offset: number,
): void {
  const f = Math.fround;
  const luts = [0, 1, 2].map((c) => {
    const m = f(mean[c]!);
    const s = f(std[c]!);
    return Float32Array.from({ length: 256 }, (_, p) => f(f(f(p / 255) - m) / s));
  }) as [Float32Array, Float32Array, Float32Array];
  const d = img.data;
  for (let i = 0; i < d.length; i += 3) {
    out[offset + i] = luts[0][d[i]!]!;
    out[offset + i + 1] = luts[1][d[i + 1]!]!;
    out[offset + i + 2] = luts[2][d[i + 2]!]!;
  }
}

/** A training pipeline with its RandAugment string parsed once. */
export interface CompiledTrainTransform {
  readonly config: TrainTransformConfig;
  /** Augments `img` with draws from `r` and writes size x size x 3 floats at `out[offset ...]`. */
  apply(img: RgbImage, r: RandomSource, out: Float32Array, offset: number): void;
}

/** Validates a training config and parses its `--aa` string (RangeError naming the bad setting). */
export function compileTrainTransform(config: TrainTransformConfig): CompiledTrainTransform {
  const c = config;
  if (!Number.isInteger(c.size) || c.size < 1)
    throw new RangeError(`input size must be a positive integer, got ${c.size}`);
  const aa: RandAugmentConfig | null = c.autoAugment ? parseRandAugment(c.autoAugment) : null;
  const aaParams: RandAugmentParams = {
    fill: fillFromMean(c.mean),
    translatePct: 0.45,
    interpolation: c.interpolation === 'random' ? 'random' : c.interpolation,
  };
  return {
    config,
    apply(img, r, out, offset) {
      let x = randomResizedCrop(
        img,
        { size: c.size, scale: c.scale, ratio: c.ratio, interpolation: c.interpolation },
        r,
      );
      if (c.hflip > 0 && chance(r, c.hflip)) x = flipHorizontal(x);
      if (aa) x = randAugment(x, aa, aaParams, r);
      else if (c.colorJitter > 0)
        x = colorJitter(x, { brightness: c.colorJitter, contrast: c.colorJitter, saturation: c.colorJitter }, r);
      normalizeInto(x, c.mean, c.std, out, offset);
      if (c.reprob > 0) randomErasing(out, offset, c.size, c.size, { probability: c.reprob, mode: c.remode }, r);
    },
  };
}

/** The evaluation pipeline: writes size x size x 3 floats at `out[offset ...]`. */
export function evalTransform(img: RgbImage, c: EvalTransformConfig, out: Float32Array, offset: number): void {
  const cropped = resizeAndCrop(img, {
    size: c.size,
    cropPct: c.cropPct,
    interpolation: c.interpolation,
    mean: [...c.mean],
    std: [...c.std],
  });
  normalizeInto(cropped, c.mean, c.std, out, offset);
}
