/**
 * Image preprocessing equal to the timm / torchvision eval pipeline on PIL images:
 *
 *   Resize(floor(size / cropPct), interpolation)  -- shorter side, PIL antialiased resampling
 *   -> CenterCrop(size) -> ToTensor -> Normalize(mean, std)
 *
 * The resampler (pil-resample.ts) replicates Pillow's `ImagingResample` bit for bit, which
 * is why the output matches PyTorch's reference tensors to float rounding instead of
 * "close enough". This module is the pipeline around it.
 *
 * Pure TypeScript on typed arrays: no Node or DOM imports, so the browser build shares it.
 */
import { resizePil } from './pil-resample.js';
import { assertRgbImage, cropRect, type Rect, type RgbImage } from './rgb-image.js';

export { resizePil, type ResampleFilter } from './pil-resample.js';
export { assertRgbImage, type Rect, type RgbImage } from './rgb-image.js';

/** Interpolations accepted by the eval pipeline (timm's names). */
export type Interpolation = 'bicubic' | 'bilinear' | 'nearest';

/** Eval-pipeline settings; every field defaults to timm's ImageNet eval values. */
export interface PreprocessConfig {
  /** Side of the square crop fed to the model (default 224). */
  size?: number;
  /** Crop fraction: the shorter side is first resized to `floor(size / cropPct)` (default 0.875). */
  cropPct?: number;
  /**
   * Resize filter (default 'bicubic', what timm's RepGhostNet declares; the official checkpoints were evaluated with
   * 'bilinear').
   */
  interpolation?: Interpolation;
  /** Per-channel mean subtracted after scaling to [0, 1] (default ImageNet's). */
  mean?: [number, number, number];
  /** Per-channel std divided by after subtracting the mean (default ImageNet's). */
  std?: [number, number, number];
}

/** ImageNet mean and std (timm's IMAGENET_DEFAULT_MEAN / _STD). */
export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];

/** The ImageNet eval defaults of timm: 224 crop, crop_pct 0.875, bicubic, ImageNet mean/std. */
export const DEFAULT_PREPROCESS: Readonly<Required<PreprocessConfig>> = Object.freeze({
  size: 224,
  cropPct: 0.875,
  interpolation: 'bicubic',
  mean: [...IMAGENET_MEAN] as [number, number, number],
  std: [...IMAGENET_STD] as [number, number, number],
});

/** Fills in defaults and validates a config; throws a RangeError naming the bad field. */
export function resolvePreprocessConfig(config: PreprocessConfig = {}): Required<PreprocessConfig> {
  const c: Required<PreprocessConfig> = {
    size: config.size ?? DEFAULT_PREPROCESS.size,
    cropPct: config.cropPct ?? DEFAULT_PREPROCESS.cropPct,
    interpolation: config.interpolation ?? DEFAULT_PREPROCESS.interpolation,
    mean: config.mean ?? [...DEFAULT_PREPROCESS.mean],
    std: config.std ?? [...DEFAULT_PREPROCESS.std],
  };
  if (!Number.isInteger(c.size) || c.size < 1)
    throw new RangeError(`preprocess: size must be a positive integer, got ${c.size}`);
  if (!(c.cropPct > 0) || !Number.isFinite(c.cropPct))
    throw new RangeError(`preprocess: cropPct must be > 0, got ${c.cropPct}`);
  if (!['bicubic', 'bilinear', 'nearest'].includes(c.interpolation)) {
    throw new RangeError(`preprocess: unknown interpolation '${String(c.interpolation)}'`);
  }
  if (c.mean.length !== 3 || !c.mean.every(Number.isFinite))
    throw new RangeError('preprocess: mean must be 3 finite numbers');
  if (c.std.length !== 3 || !c.std.every((s) => Number.isFinite(s) && s !== 0)) {
    throw new RangeError('preprocess: std must be 3 finite non-zero numbers');
  }
  return c;
}

// ---------------------------------------------------------------------------------------
// Resize geometry (torchvision)
// ---------------------------------------------------------------------------------------

/**
 * Output [width, height] of torchvision's `Resize(size)` with an int size: the shorter
 * side becomes `size`, the longer `int(size * long / short)` (truncated, like Python's int()).
 */
export function shorterSideSize(width: number, height: number, size: number): [number, number] {
  const [short, long] = width <= height ? [width, height] : [height, width];
  const newLong = Math.trunc((size * long) / short);
  return width <= height ? [size, newLong] : [newLong, size];
}

/** Python 3's round(): ties go to the even neighbour (torchvision's CenterCrop uses it). */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  // Math.round sends ties up; Python sends them to even.
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * torchvision `CenterCrop`: top = int(round((h - ch) / 2)), left likewise, with Python's
 * half-to-even round. A crop larger than the image pads with zeros first, as torchvision does.
 */
export function centerCrop(img: RgbImage, cropWidth: number, cropHeight: number = cropWidth): RgbImage {
  assertRgbImage(img);
  let src = img;
  if (cropWidth > src.width || cropHeight > src.height) {
    // torchvision pads left/top by floor(d/2), right/bottom by floor((d+1)/2), fill 0.
    const padL = cropWidth > src.width ? Math.floor((cropWidth - src.width) / 2) : 0;
    const padT = cropHeight > src.height ? Math.floor((cropHeight - src.height) / 2) : 0;
    const padR = cropWidth > src.width ? Math.floor((cropWidth - src.width + 1) / 2) : 0;
    const padB = cropHeight > src.height ? Math.floor((cropHeight - src.height + 1) / 2) : 0;
    const w = src.width + padL + padR;
    const h = src.height + padT + padB;
    const data = new Uint8Array(w * h * 3);
    for (let y = 0; y < src.height; y++) {
      data.set(src.data.subarray(y * src.width * 3, (y + 1) * src.width * 3), ((y + padT) * w + padL) * 3);
    }
    src = { width: w, height: h, data };
  }
  return {
    width: cropWidth,
    height: cropHeight,
    data: cropRect(src, centerCropRect(src.width, src.height, cropWidth, cropHeight)),
  };
}

/** The rectangle torchvision's CenterCrop takes from a width x height image that is at least the crop size. */
function centerCropRect(width: number, height: number, cropWidth: number, cropHeight: number): Rect {
  return {
    left: roundHalfEven((width - cropWidth) / 2),
    top: roundHalfEven((height - cropHeight) / 2),
    width: cropWidth,
    height: cropHeight,
  };
}

// ---------------------------------------------------------------------------------------
// Tensor conversion
// ---------------------------------------------------------------------------------------

/**
 * ToTensor + Normalize on an RGB image: CHW float32, `((p / 255) - mean) / std`, each
 * step rounded to float32 as PyTorch computes it in float32 (via a 256-entry table per channel).
 */
export function normalizeToChw(
  img: RgbImage,
  mean: readonly [number, number, number] = DEFAULT_PREPROCESS.mean,
  std: readonly [number, number, number] = DEFAULT_PREPROCESS.std,
): Float32Array {
  assertRgbImage(img);
  const plane = img.width * img.height;
  const out = new Float32Array(3 * plane);
  const f = Math.fround;
  for (let c = 0; c < 3; c++) {
    const m = f(mean[c]!);
    const s = f(std[c]!);
    const lut = new Float32Array(256);
    for (let p = 0; p < 256; p++) lut[p] = f(f(f(p / 255) - m) / s);
    const ob = c * plane;
    for (let i = 0, j = c; i < plane; i++, j += 3) out[ob + i] = lut[img.data[j]!]!;
  }
  return out;
}

/**
 * Inverse of {@link normalizeToChw}: CHW float (`[3, height, width]`) back to an RGB
 * picture, `round(clamp((v * std + mean) * 255))`. For showing "what the model sees".
 */
export function chwToRgb(
  chw: ArrayLike<number>,
  width: number,
  height: number,
  mean: readonly [number, number, number] = DEFAULT_PREPROCESS.mean,
  std: readonly [number, number, number] = DEFAULT_PREPROCESS.std,
): RgbImage {
  const plane = width * height;
  if (chw.length !== 3 * plane)
    throw new RangeError(`chwToRgb: expected ${3 * plane} values for [3, ${height}, ${width}], got ${chw.length}`);
  const data = new Uint8Array(plane * 3);
  for (let c = 0; c < 3; c++) {
    const m = mean[c]!;
    const s = std[c]!;
    const ib = c * plane;
    for (let i = 0, j = c; i < plane; i++, j += 3) {
      const v = Math.round((chw[ib + i]! * s + m) * 255);
      data[j] = v < 0 ? 0 : v > 255 ? 255 : v; // NaN lands on 0 via the Uint8Array store
    }
  }
  return { width, height, data };
}

/** The intermediate image sizes of the pipeline, for callers that want to show or log them. */
export interface PreprocessPlan {
  /** Size after the shorter-side resize. */
  resized: [width: number, height: number];
  /** Crop side. */
  crop: number;
}

/** Computes the resize and crop sizes the pipeline will use for an image of this size. */
export function planPreprocess(width: number, height: number, config: PreprocessConfig = {}): PreprocessPlan {
  const c = resolvePreprocessConfig(config);
  // timm: scale_size = math.floor(img_size / crop_pct)
  const scaleSize = Math.floor(c.size / c.cropPct);
  return { resized: shorterSideSize(width, height, scaleSize), crop: c.size };
}

/**
 * The eval pipeline up to the crop: the resized and center-cropped uint8 picture
 * (what {@link preprocess} normalizes).
 */
export function resizeAndCrop(img: RgbImage, config: PreprocessConfig = {}): RgbImage {
  const c = resolvePreprocessConfig(config);
  const plan = planPreprocess(img.width, img.height, c);
  const [w, h] = plan.resized;
  if (c.size <= w && c.size <= h) {
    // Resample only the pixels the crop keeps: identical to resizing then cropping.
    return resizePil(img, w, h, c.interpolation, centerCropRect(w, h, c.size, c.size));
  }
  // crop_pct > 1: the whole resized image is made, then padded. An extreme aspect ratio
  // would make it enormous (1x250000 -> 256 x 64,000,000): refuse instead.
  if (w * h > MAX_RESIZED_PIXELS) {
    throw new RangeError(
      `resize: a ${img.width}x${img.height} image would be resized to ${w}x${h}, ` +
        `more than ${MAX_RESIZED_PIXELS} pixels`,
    );
  }
  return centerCrop(resizePil(img, w, h, c.interpolation), c.size, c.size); // crop_pct > 1: zero padding
}

/** Largest full resize {@link resizeAndCrop} makes when the crop is larger than the image (crop_pct > 1). */
const MAX_RESIZED_PIXELS = 2 ** 26;

/**
 * The full eval pipeline: shorter-side resize to `floor(size / cropPct)` with PIL-exact
 * resampling, center crop `size`, scale to [0, 1], normalize. Returns CHW float32 of
 * length `3 * size * size` (one batch row of the model input).
 */
export function preprocess(img: RgbImage, config: PreprocessConfig = {}): Float32Array {
  const c = resolvePreprocessConfig(config);
  return normalizeToChw(resizeAndCrop(img, c), c.mean, c.std);
}

/** Inverse of {@link preprocess}'s normalization for a `[3, size, size]` model input: the picture the model sees. */
export function modelInputToRgb(chw: ArrayLike<number>, config: PreprocessConfig = {}): RgbImage {
  const c = resolvePreprocessConfig(config);
  return chwToRgb(chw, c.size, c.size, c.mean, c.std);
}
