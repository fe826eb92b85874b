/**
 * timm's RandomResizedCropAndInterpolation (0.6.7): up to 10 attempts to draw a crop of
 * area scale * image area (scale uniform in `scale`) and aspect ratio exp(uniform(log
 * ratio)); `w = int(round(sqrt(area * ratio)))`, `h = int(round(sqrt(area / ratio)))`; the
 * first that fits is placed at a uniform position; otherwise a centre crop clamped to the
 * ratio range. The crop is resized to the output size with PIL's resampling (bit-exact,
 * see preprocess.ts), the filter drawn from bilinear/bicubic for `random`.
 *
 * One deviation: an attempt whose rounded side is 0 (possible only for images a few pixels
 * wide) counts as a failed attempt; timm would pass an empty crop to PIL and fail.
 */
import { resizePil, type RgbImage } from '../preprocess.js';
import { crop } from './geometry.js';
import { choice, randint, roundHalfEven, uniform, type RandomSource } from './random.js';

/** Interpolation of the training crop (timm's `--train-interpolation`). */
export type TrainInterpolation = 'random' | 'bilinear' | 'bicubic' | 'nearest';

/** A crop box: rows [top, top + height), columns [left, left + width). */
export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** timm's default scale and ratio ranges. */
export const DEFAULT_RRC_SCALE: readonly [number, number] = [0.08, 1.0];
export const DEFAULT_RRC_RATIO: readonly [number, number] = [3 / 4, 4 / 3];

/** `RandomResizedCropAndInterpolation.get_params`: the crop box for a width x height image. */
export function sampleCropBox(
  width: number,
  height: number,
  scale: readonly [number, number],
  ratio: readonly [number, number],
  r: RandomSource,
): CropBox {
  const area = width * height;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])] as const;
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = uniform(r, scale[0], scale[1]) * area;
    const aspect = Math.exp(uniform(r, logRatio[0], logRatio[1]));
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w >= 1 && h >= 1 && w <= width && h <= height) {
      const top = randint(r, 0, height - h);
      const left = randint(r, 0, width - w);
      return { top, left, height: h, width: w };
    }
  }
  // Fallback: central crop with the ratio clamped into range.
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < Math.min(...ratio)) h = roundHalfEven(w / Math.min(...ratio));
  else if (inRatio > Math.max(...ratio)) w = roundHalfEven(h * Math.max(...ratio));
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}

/** The PIL filter of one crop: `random` draws bilinear or bicubic (timm's _RANDOM_INTERPOLATION). */
export function pickInterpolation(mode: TrainInterpolation, r: RandomSource): 'bilinear' | 'bicubic' | 'nearest' {
  return mode === 'random' ? choice(r, ['bilinear', 'bicubic'] as const) : mode;
}

/** Options of {@link randomResizedCrop}. */
export interface RandomResizedCropOptions {
  size: number;
  scale: readonly [number, number];
  ratio: readonly [number, number];
  interpolation: TrainInterpolation;
}

/** Crops a random box and resizes it to size x size (draws: the box, then the filter, as timm). */
export function randomResizedCrop(img: RgbImage, o: RandomResizedCropOptions, r: RandomSource): RgbImage {
  const box = sampleCropBox(img.width, img.height, o.scale, o.ratio, r);
  const filter = pickInterpolation(o.interpolation, r);
  return resizePil(crop(img, box.left, box.top, box.width, box.height), o.size, o.size, filter);
}
