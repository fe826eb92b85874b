/**
 * Pillow 9.4's `ImageEnhance` on RGB images, which RandAugment (Color, Contrast,
 * Brightness, Sharpness) and torchvision's ColorJitter (brightness, contrast,
 * saturation) both call: each blends the image with a "degenerate" version,
 * `Image.blend(degenerate, image, factor)`. Bit-exact with Pillow: `ImagingBlend` works
 * in float32 (`alpha` is a C float) and truncates; the smoothing filter of Sharpness is
 * `ImagingFilter3x3` with PIL's float32 kernel, its +0.5 rounding and unfiltered border.
 */
import type { RgbImage } from '../preprocess.js';

const f32 = Math.fround;

/**
 * `Image.blend(a, b, alpha)`: a + alpha * (b - a) per byte in float32, truncated; clipped
 * to 0..255 when alpha is outside [0, 1] (extrapolation).
 */
export function blend(a: RgbImage, b: RgbImage, alpha: number): RgbImage {
  const x = a.data;
  const y = b.data;
  if (x.length !== y.length) throw new RangeError('blend: images differ in size');
  const al = f32(alpha);
  if (al === 0) return { width: a.width, height: a.height, data: x.slice() };
  if (al === 1) return { width: a.width, height: a.height, data: y.slice() };
  const out = new Uint8Array(x.length);
  if (al >= 0 && al <= 1) {
    for (let i = 0; i < x.length; i++) out[i] = Math.trunc(f32(x[i]! + f32(al * (y[i]! - x[i]!))));
  } else {
    for (let i = 0; i < x.length; i++) {
      const t = f32(x[i]! + f32(al * (y[i]! - x[i]!)));
      out[i] = t <= 0 ? 0 : t >= 255 ? 255 : Math.trunc(t);
    }
  }
  return { width: a.width, height: a.height, data: out };
}

/** PIL's RGB -> "L": (19595 R + 38470 G + 7471 B + 0x8000) >> 16. */
function luma(r: number, g: number, b: number): number {
  return (19595 * r + 38470 * g + 7471 * b + 0x8000) >>> 16;
}

/** `img.convert("L").convert("RGB")`: the grey image with the value in all three bands. */
export function grayscale(img: RgbImage): RgbImage {
  const d = img.data;
  const out = new Uint8Array(d.length);
  for (let i = 0; i < d.length; i += 3) {
    const l = luma(d[i]!, d[i + 1]!, d[i + 2]!);
    out[i] = l;
    out[i + 1] = l;
    out[i + 2] = l;
  }
  return { width: img.width, height: img.height, data: out };
}

/** A uniform image of one grey level. */
function flat(img: RgbImage, value: number): RgbImage {
  return { width: img.width, height: img.height, data: new Uint8Array(img.data.length).fill(value) };
}

/** `ImageEnhance.Color(img).enhance(f)` (torchvision's adjust_saturation): blend with the grey image. */
export function color(img: RgbImage, factor: number): RgbImage {
  return blend(grayscale(img), img, factor);
}

/**
 * `ImageEnhance.Contrast(img).enhance(f)` (torchvision's adjust_contrast): blend with a
 * flat image at the rounded mean of the "L" image, int(mean + 0.5).
 */
export function contrast(img: RgbImage, factor: number): RgbImage {
  const d = img.data;
  let sum = 0;
  for (let i = 0; i < d.length; i += 3) sum += luma(d[i]!, d[i + 1]!, d[i + 2]!);
  const mean = Math.trunc(sum / (d.length / 3) + 0.5);
  return blend(flat(img, mean), img, factor);
}

/** `ImageEnhance.Brightness(img).enhance(f)` (torchvision's adjust_brightness): blend with black. */
export function brightness(img: RgbImage, factor: number): RgbImage {
  return blend(flat(img, 0), img, factor);
}

/** ImageFilter.SMOOTH's kernel (1 1 1 / 1 5 1 / 1 1 1) / 13, divided in float32 as PIL's `_filter` does. */
const SMOOTH_KERNEL = [1, 1, 1, 1, 5, 1, 1, 1, 1].map((k) => f32(k / 13));

/**
 * `img.filter(ImageFilter.SMOOTH)`: ImagingFilter3x3 for a 3-band image. The border rows
 * and columns are copied unfiltered; inside, per band, the float32 sum (offset 0.5 for
 * rounding) of the row below, the row itself and the row above, each a float32
 * 3-tap product sum, then clipped and truncated. Images under 3x3 come back unchanged.
 */
export function smooth(img: RgbImage): RgbImage {
  const { width: w, height: h, data: d } = img;
  const out = d.slice();
  if (w < 3 || h < 3) return { width: w, height: h, data: out };
  const k = SMOOTH_KERNEL;
  const row = w * 3;
  const taps = (p: number, k0: number, k1: number, k2: number): number =>
    f32(f32(f32(d[p - 3]! * k0) + f32(d[p]! * k1)) + f32(d[p + 3]! * k2));
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      for (let c = 0; c < 3; c++) {
        const p = y * row + x * 3 + c;
        let ss = f32(0.5);
        ss = f32(ss + taps(p + row, k[0]!, k[1]!, k[2]!));
        ss = f32(ss + taps(p, k[3]!, k[4]!, k[5]!));
        ss = f32(ss + taps(p - row, k[6]!, k[7]!, k[8]!));
        out[p] = ss <= 0 ? 0 : ss >= 255 ? 255 : Math.trunc(ss);
      }
    }
  }
  return { width: w, height: h, data: out };
}

/** `ImageEnhance.Sharpness(img).enhance(f)`: blend with the smoothed image. */
export function sharpness(img: RgbImage, factor: number): RgbImage {
  return blend(smooth(img), img, factor);
}
