/**
 * Geometric operations on RGB images as Pillow 9.4 performs them: `Image.transform`
 * with an AFFINE matrix (the inverse map, output pixel centre -> input position) and
 * `Image.rotate`, which RandAugment's ShearX/Y, TranslateX/YRel and Rotate call, plus
 * crop and horizontal flip. The three resampling paths of libImaging/Geometry.c are
 * reproduced:
 * - bilinear / bicubic (ImagingGenericTransform): sample at a0 (x + .5) + a1 (y + .5) + a2
 *   in double precision; outside [0, size) the pixel keeps the fill colour; bilinear
 *   truncates, bicubic (a = -1 cubic convolution, edge rows/columns clamped) clips and
 *   truncates;
 * - nearest, pure scale/translation (ImagingScaleAffine): positions accumulated by
 *   repeated addition, as PIL does;
 * - nearest, general (affine_fixed): 16.16 fixed-point accumulation.
 * PIL fills with `fillcolor` by creating the output image in that colour and leaving
 * untouched the pixels that map outside the input.
 */
import type { RgbImage } from '../preprocess.js';

/** Resampling filters of PIL's transform (it refuses the others). */
export type AffineResample = 'nearest' | 'bilinear' | 'bicubic';

/** An RGB fill colour. */
export type Rgb = readonly [number, number, number];

/** PIL's AFFINE data (a, b, c, d, e, f): input = (a x + b y + c, d x + e y + f). */
export type AffineMatrix = readonly [number, number, number, number, number, number];

function filled(width: number, height: number, fill: Rgb): Uint8Array {
  const out = new Uint8Array(width * height * 3);
  for (let i = 0; i < out.length; i += 3) {
    out[i] = fill[0];
    out[i + 1] = fill[1];
    out[i + 2] = fill[2];
  }
  return out;
}

/** C's FLOOR macro of Geometry.c (floor for negatives, truncation otherwise). */
const cFloor = (v: number): number => (v < 0 ? Math.floor(v) : Math.trunc(v));
/** COORD: -1 for negatives, else truncation. */
const coord = (v: number): number => (v < 0 ? -1 : Math.trunc(v));

/** `img.transform(img.size, Image.AFFINE, m, resample, fillcolor=fill)`. */
export function affine(img: RgbImage, m: AffineMatrix, resample: AffineResample, fill: Rgb): RgbImage {
  const { width: w, height: h } = img;
  const out = filled(w, h, fill);
  if (resample === 'nearest') {
    if (m[1] === 0 && m[3] === 0) scaleAffineNearest(img, m, out);
    else fixedAffineNearest(img, m, out);
  } else {
    const sample = resample === 'bilinear' ? bilinearAt : bicubicAt;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const xin = m[0] * (x + 0.5) + m[1] * (y + 0.5) + m[2];
        const yin = m[3] * (x + 0.5) + m[4] * (y + 0.5) + m[5];
        if (xin < 0 || xin >= w || yin < 0 || yin >= h) continue;
        sample(img, xin, yin, out, (y * w + x) * 3);
      }
    }
  }
  return { width: w, height: h, data: out };
}

/** ImagingScaleAffine: nearest neighbour for a[1] == a[3] == 0. */
function scaleAffineNearest(img: RgbImage, m: AffineMatrix, out: Uint8Array): void {
  const { width: w, height: h, data } = img;
  const xintab = new Int32Array(w);
  let xmin = w;
  let xmax = 0;
  let xo = m[2] + m[0] * 0.5;
  for (let x = 0; x < w; x++, xo += m[0]) {
    const xin = coord(xo);
    if (xin >= 0 && xin < w) {
      xmax = x + 1;
      if (x < xmin) xmin = x;
      xintab[x] = xin;
    }
  }
  let yo = m[5] + m[4] * 0.5;
  for (let y = 0; y < h; y++, yo += m[4]) {
    const yi = coord(yo);
    if (yi < 0 || yi >= h) continue;
    for (let x = xmin; x < xmax; x++) {
      const s = (yi * w + xintab[x]!) * 3;
      const o = (y * w + x) * 3;
      out[o] = data[s]!;
      out[o + 1] = data[s + 1]!;
      out[o + 2] = data[s + 2]!;
    }
  }
}

/** affine_fixed: nearest neighbour in 16.16 fixed point (images below 32768 px a side always fit). */
function fixedAffineNearest(img: RgbImage, m: AffineMatrix, out: Uint8Array): void {
  const { width: w, height: h, data } = img;
  const fix = (v: number): number => cFloor(v * 65536.0 + 0.5) | 0;
  const a0 = fix(m[0]),
    a1 = fix(m[1]),
    a3 = fix(m[3]),
    a4 = fix(m[4]);
  let a2 = fix(m[2] + m[0] * 0.5 + m[1] * 0.5);
  let a5 = fix(m[5] + m[3] * 0.5 + m[4] * 0.5);
  for (let y = 0; y < h; y++) {
    let xx = a2;
    let yy = a5;
    for (let x = 0; x < w; x++) {
      const xin = xx >> 16;
      if (xin >= 0 && xin < w) {
        const yin = yy >> 16;
        if (yin >= 0 && yin < h) {
          const s = (yin * w + xin) * 3;
          const o = (y * w + x) * 3;
          out[o] = data[s]!;
          out[o + 1] = data[s + 1]!;
          out[o + 2] = data[s + 2]!;
        }
      }
      xx = (xx + a0) | 0;
      yy = (yy + a3) | 0;
    }
    a2 = (a2 + a1) | 0;
    a5 = (a5 + a4) | 0;
  }
}

const clampIndex = (v: number, n: number): number => (v < 0 ? 0 : v < n ? v : n - 1);

/** bilinear_filter32RGB at (xin, yin), inside the image. */
function bilinearAt(img: RgbImage, xinRaw: number, yinRaw: number, out: Uint8Array, o: number): void {
  const { width: w, height: h, data } = img;
  const xin = xinRaw - 0.5;
  const yin = yinRaw - 0.5;
  const x = cFloor(xin);
  const y = cFloor(yin);
  const dx = xin - x;
  const dy = yin - y;
  const x0 = clampIndex(x, w) * 3;
  const x1 = clampIndex(x + 1, w) * 3;
  const r0 = clampIndex(y, h) * w * 3;
  const hasRow1 = y + 1 >= 0 && y + 1 < h;
  const r1 = (y + 1) * w * 3;
  for (let b = 0; b < 3; b++) {
    const a0 = data[r0 + x0 + b]!,
      a1 = data[r0 + x1 + b]!;
    const v1 = a0 + (a1 - a0) * dx;
    let v2 = v1;
    if (hasRow1) {
      const c0 = data[r1 + x0 + b]!,
        c1 = data[r1 + x1 + b]!;
      v2 = c0 + (c1 - c0) * dx;
    }
    out[o + b] = Math.trunc(v1 + (v2 - v1) * dy);
  }
}

/** The BICUBIC macro of Geometry.c: cubic convolution with a = -1. */
function cubic(v1: number, v2: number, v3: number, v4: number, d: number): number {
  const p1 = v2;
  const p2 = -v1 + v3;
  const p3 = 2 * (v1 - v2) + v3 - v4;
  const p4 = -v1 + v2 - v3 + v4;
  return p1 + d * (p2 + d * (p3 + d * p4));
}

/** bicubic_filter32RGB at (xin, yin), inside the image. */
function bicubicAt(img: RgbImage, xinRaw: number, yinRaw: number, out: Uint8Array, o: number): void {
  const { width: w, height: h, data } = img;
  const xin = xinRaw - 0.5;
  const yin = yinRaw - 0.5;
  let x = cFloor(xin);
  let y = cFloor(yin);
  const dx = xin - x;
  const dy = yin - y;
  x--;
  y--;
  const xs = [0, 1, 2, 3].map((k) => clampIndex(x + k, w) * 3) as [number, number, number, number];
  for (let b = 0; b < 3; b++) {
    const rowAt = (r: number): number => {
      const base = r * w * 3 + b;
      return cubic(data[base + xs[0]]!, data[base + xs[1]]!, data[base + xs[2]]!, data[base + xs[3]]!, dx);
    };
    // The first row is clamped; each further row outside the image repeats the previous one.
    const v1 = rowAt(clampIndex(y, h));
    const v2 = y + 1 >= 0 && y + 1 < h ? rowAt(y + 1) : v1;
    const v3 = y + 2 >= 0 && y + 2 < h ? rowAt(y + 2) : v2;
    const v4 = y + 3 >= 0 && y + 3 < h ? rowAt(y + 3) : v3;
    const v = cubic(v1, v2, v3, v4, dy);
    out[o + b] = v <= 0 ? 0 : v >= 255 ? 255 : Math.trunc(v);
  }
}

/** Python's float `%` (the result takes the divisor's sign). */
function pyMod(a: number, b: number): number {
  const r = a % b;
  return r !== 0 && r < 0 !== b < 0 ? r + b : r;
}

/** Python's round(v, 15) (decimal rounding of the double's exact value). */
const round15 = (v: number): number => Number(v.toFixed(15));

/**
 * `img.rotate(degrees, resample, fillcolor=fill)` (counter-clockwise, about the centre
 * (w/2, h/2), same size): PIL's fast paths for 0 and 180 degrees (and 90/270 for square
 * images), otherwise the inverse rotation matrix with its entries rounded to 15 decimals.
 */
export function rotate(img: RgbImage, degrees: number, resample: AffineResample, fill: Rgb): RgbImage {
  const angle = pyMod(degrees, 360.0);
  const { width: w, height: h } = img;
  if (angle === 0) return { width: w, height: h, data: img.data.slice() };
  if (angle === 180) return transposeRotate(img, 180);
  if ((angle === 90 || angle === 270) && w === h) return transposeRotate(img, angle);
  const a = -(angle * (Math.PI / 180)); // -math.radians(angle): CPython multiplies by pi / 180
  const m = [round15(Math.cos(a)), round15(Math.sin(a)), 0.0, round15(-Math.sin(a)), round15(Math.cos(a)), 0.0];
  const cx = w / 2.0;
  const cy = h / 2.0;
  // transform(-cx, -cy) then + centre, as PIL writes it.
  m[2] = m[0]! * -cx + m[1]! * -cy + m[2]! + cx;
  m[5] = m[3]! * -cx + m[4]! * -cy + m[5]! + cy;
  return affine(img, m as unknown as AffineMatrix, resample, fill);
}

/** PIL's transpose-based rotations by 90, 180 or 270 degrees (counter-clockwise). */
function transposeRotate(img: RgbImage, angle: 90 | 180 | 270): RgbImage {
  const { width: w, height: h, data } = img;
  const ow = angle === 180 ? w : h;
  const oh = angle === 180 ? h : w;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      // Source pixel of output (x, y).
      const [sx, sy] = angle === 180 ? [w - 1 - x, h - 1 - y] : angle === 90 ? [w - 1 - y, x] : [y, h - 1 - x];
      const s = (sy * w + sx) * 3;
      const o = (y * ow + x) * 3;
      out[o] = data[s]!;
      out[o + 1] = data[s + 1]!;
      out[o + 2] = data[s + 2]!;
    }
  }
  return { width: ow, height: oh, data: out };
}

/** timm's shear_x: AFFINE (1, factor, 0, 0, 1, 0). */
export function shearX(img: RgbImage, factor: number, resample: AffineResample, fill: Rgb): RgbImage {
  return affine(img, [1, factor, 0, 0, 1, 0], resample, fill);
}

/** timm's shear_y: AFFINE (1, 0, 0, factor, 1, 0). */
export function shearY(img: RgbImage, factor: number, resample: AffineResample, fill: Rgb): RgbImage {
  return affine(img, [1, 0, 0, factor, 1, 0], resample, fill);
}

/** timm's translate_x_abs: AFFINE (1, 0, pixels, 0, 1, 0) (the content moves left for positive pixels). */
export function translateX(img: RgbImage, pixels: number, resample: AffineResample, fill: Rgb): RgbImage {
  return affine(img, [1, 0, pixels, 0, 1, 0], resample, fill);
}

/** timm's translate_y_abs: AFFINE (1, 0, 0, 0, 1, pixels). */
export function translateY(img: RgbImage, pixels: number, resample: AffineResample, fill: Rgb): RgbImage {
  return affine(img, [1, 0, 0, 0, 1, pixels], resample, fill);
}

/** `img.transpose(FLIP_LEFT_RIGHT)`. */
export function flipHorizontal(img: RgbImage): RgbImage {
  const { width: w, height: h, data } = img;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const s = (y * w + x) * 3;
      const o = (y * w + (w - 1 - x)) * 3;
      out[o] = data[s]!;
      out[o + 1] = data[s + 1]!;
      out[o + 2] = data[s + 2]!;
    }
  }
  return { width: w, height: h, data: out };
}

/** `img.crop((left, top, left + width, top + height))` for a box inside the image. */
export function crop(img: RgbImage, left: number, top: number, width: number, height: number): RgbImage {
  if (left < 0 || top < 0 || width < 1 || height < 1 || left + width > img.width || top + height > img.height) {
    throw new RangeError(`crop: box ${width}x${height}+${left}+${top} is not inside ${img.width}x${img.height}`);
  }
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const s = ((top + y) * img.width + left) * 3;
    out.set(img.data.subarray(s, s + width * 3), y * width * 3);
  }
  return { width, height, data: out };
}
