/**
 * A port of Pillow's `ImagingResample` (src/libImaging/Resample.c) for 8-bit RGB images,
 * bit for bit: the same double-precision filter coefficients, the same 22-bit fixed-point
 * quantization, the same horizontal-then-vertical order with a rounded and clipped uint8
 * intermediate, plus `ImagingScaleAffine` for NEAREST. That is why the eval pipeline
 * (preprocess.ts) matches PyTorch's reference tensors to float rounding.
 *
 * The two passes run in WebAssembly SIMD where the runtime has it (resample-wasm.ts, the
 * same bytes, several times faster) and in the TypeScript kernels here otherwise.
 *
 * Pure TypeScript on typed arrays: no Node or DOM imports, so the browser build shares it.
 */
import { assertRgbImage, cropRect, type Rect, type RgbImage } from './rgb-image.js';
import { wasmKernels, wasmResampleAvailable } from './resample-wasm.js';

/**
 * PIL's resampling filters. `bicubic` (a = -0.5) and `bilinear` are the ones timm and
 * torchvision use; the others are here because they cost nothing on the same code path.
 */
export type ResampleFilter = 'nearest' | 'box' | 'bilinear' | 'hamming' | 'bicubic' | 'lanczos';

/** A resampling filter as Resample.c defines it: its support and its kernel function. */
export interface FilterDef {
  support: number;
  fn: (x: number) => number;
}

// Kernels written exactly as Resample.c writes them: the operation order decides the last
// bit of each coefficient, and one bit can flip a rounded output pixel. Bilinear, bicubic
// and box use only + - * /, so they are bit-exact; hamming and lanczos call sin/cos, where
// V8 and glibc may differ by an ulp (almost never visible after the 22-bit quantization).
const F32_054 = Math.fround(0.54); // Resample.c uses the float literals 0.54f / 0.46f
const F32_046 = Math.fround(0.46);
export const FILTERS: Record<Exclude<ResampleFilter, 'nearest'>, FilterDef> = {
  box: { support: 0.5, fn: (x) => (x > -0.5 && x <= 0.5 ? 1.0 : 0.0) },
  bilinear: {
    support: 1.0,
    fn: (x) => {
      if (x < 0.0) x = -x;
      return x < 1.0 ? 1.0 - x : 0.0;
    },
  },
  hamming: {
    support: 1.0,
    fn: (x) => {
      if (x < 0.0) x = -x;
      if (x === 0.0) return 1.0;
      if (x >= 1.0) return 0.0;
      x = x * Math.PI;
      return (Math.sin(x) / x) * (F32_054 + F32_046 * Math.cos(x));
    },
  },
  bicubic: {
    support: 2.0,
    fn: (x) => {
      const a = -0.5;
      if (x < 0.0) x = -x;
      if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
      if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
      return 0.0;
    },
  },
  lanczos: {
    support: 3.0,
    fn: (x) => (-3.0 <= x && x < 3.0 ? sinc(x) * sinc(x / 3) : 0.0),
  },
};

function sinc(x: number): number {
  if (x === 0.0) return 1.0;
  x = x * Math.PI;
  return Math.sin(x) / x;
}

/** PIL's 8-bit fixed point: 32 bits - 8 for the pixel - 2 for overshoot of negative lobes. */
const PRECISION_BITS = 32 - 8 - 2;
const ONE = 1 << PRECISION_BITS;
const HALF = 1 << (PRECISION_BITS - 1);

/**
 * One axis' coefficient table for outputs [from, from + start.length): output i reads the
 * `taps` input samples from start[i - from] with the weights at k[(i - from) * taps]. Every
 * output has the same number of taps (the widest window of the axis): a shorter window is
 * padded with zero weights and, at the far edge, moved back inside the input. Adding zero
 * changes no sum, and a uniform width is what lets the kernels run four lanes at a time.
 */
export interface AxisCoeffs {
  taps: number;
  /** First output sample the table covers. */
  from: number;
  start: Int32Array;
  /** Fixed-point weights, `taps` per output sample. */
  k: Int32Array;
}

/**
 * Pillow's `precompute_coeffs` followed by `normalize_coeffs_8bpc`, for the box
 * [0, inSize) mapped onto outSize samples, computed only for outputs [from, to): each
 * output's taps depend on its index alone, so the table is sized by what is produced, not
 * by the full resized axis (a 1x250000 PNG resized to 256 x 64,000,000 for a 224 crop
 * asked for a 1.8 GB table).
 */
export function precomputeCoeffs(
  inSize: number,
  outSize: number,
  filter: FilterDef,
  from = 0,
  to = outSize,
): AxisCoeffs {
  const scale = inSize / outSize; // (double)(in1 - in0) / outSize with in0 = 0
  const filterscale = scale < 1.0 ? 1.0 : scale; // antialias only when shrinking
  const support = filter.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const outs = to - from;
  const windowStart = new Int32Array(outs);
  const windowSize = new Int32Array(outs);
  const weights = new Int32Array(outs * ksize);
  const w = new Float64Array(ksize);
  const ss = 1.0 / filterscale;
  for (let xx = from; xx < to; xx++) {
    const center = (xx + 0.5) * scale;
    // (int)(v + 0.5) in C truncates toward zero; negatives are clamped to 0 right after anyway.
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0.0;
    for (let x = 0; x < xmax; x++) {
      const v = filter.fn((x + xmin - center + 0.5) * ss);
      w[x] = v;
      ww += v;
    }
    const base = (xx - from) * ksize;
    for (let x = 0; x < xmax; x++) {
      const v = ww !== 0.0 ? w[x]! / ww : w[x]!;
      // normalize_coeffs_8bpc: round half away from zero via (int)(±0.5 + v * 2^22).
      weights[base + x] = v < 0 ? Math.trunc(-0.5 + v * ONE) : Math.trunc(0.5 + v * ONE);
    }
    windowStart[xx - from] = xmin;
    windowSize[xx - from] = xmax;
  }
  // Uniform width: no window is wider than the input, so start = inSize - taps is never negative.
  let taps = 1;
  for (const n of windowSize) if (n > taps) taps = n;
  const start = new Int32Array(outs);
  const k = new Int32Array(outs * taps);
  for (let i = 0; i < outs; i++) {
    const s = Math.min(windowStart[i]!, inSize - taps);
    const shift = windowStart[i]! - s;
    start[i] = s;
    k.set(weights.subarray(i * ksize, i * ksize + windowSize[i]!), i * taps + shift);
  }
  return { taps, from, start, k };
}

/** clip8: the accumulator's integer part (arithmetic shift, as in C) clamped to 0..255. */
function clip8(ss: number): number {
  const v = ss >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/**
 * The two passes of Pillow's resampler. {@link TS_KERNELS} is the reference port; the
 * WebAssembly SIMD kernels (resample-wasm.ts) give the same bytes several times faster.
 */
export interface ResampleKernels {
  /**
   * ImagingResampleHorizontal_8bpc for source rows [rowStart, rowStart + rows) of an
   * interleaved RGB image `srcWidth` pixels wide, producing output columns
   * [colStart, colStart + cols) of table `c`.
   */
  horizontal(
    src: Uint8Array,
    srcWidth: number,
    rowStart: number,
    rows: number,
    colStart: number,
    cols: number,
    c: AxisCoeffs,
  ): Uint8Array;
  /**
   * ImagingResampleVertical_8bpc for output rows [rowStart, rowStart + rows) of table `c`;
   * `src` is `width` pixels wide and holds the source rows from `srcRowOffset` on.
   */
  vertical(
    src: Uint8Array,
    width: number,
    rowStart: number,
    rows: number,
    c: AxisCoeffs,
    srcRowOffset: number,
  ): Uint8Array;
}

/** The resampler's passes in TypeScript: a line-by-line port of Resample.c (on padded tables). */
export const TS_KERNELS: ResampleKernels = {
  horizontal(src, srcWidth, rowStart, rows, colStart, cols, c) {
    const out = new Uint8Array(cols * rows * 3);
    const { taps, from, start, k } = c;
    for (let yy = 0; yy < rows; yy++) {
      const rowBase = (yy + rowStart) * srcWidth * 3;
      let o = yy * cols * 3;
      for (let xx = colStart - from; xx < colStart - from + cols; xx++) {
        const kb = xx * taps;
        let p = rowBase + start[xx]! * 3;
        // int32 wrap-around arithmetic, as PIL's C `int` accumulators (and fast in V8).
        let s0 = HALF,
          s1 = HALF,
          s2 = HALF;
        for (let x = 0; x < taps; x++, p += 3) {
          const w = k[kb + x]!;
          s0 = (s0 + Math.imul(src[p]!, w)) | 0;
          s1 = (s1 + Math.imul(src[p + 1]!, w)) | 0;
          s2 = (s2 + Math.imul(src[p + 2]!, w)) | 0;
        }
        out[o++] = clip8(s0);
        out[o++] = clip8(s1);
        out[o++] = clip8(s2);
      }
    }
    return out;
  },
  vertical(src, width, rowStart, rows, c, srcRowOffset) {
    const rowLen = width * 3;
    const out = new Uint8Array(rowLen * rows);
    const { taps, from, start, k } = c;
    const acc = new Int32Array(rowLen);
    for (let yy = 0; yy < rows; yy++) {
      const i0 = yy + rowStart - from;
      const kb = i0 * taps;
      const y0 = start[i0]! - srcRowOffset;
      acc.fill(HALF);
      // Row-major accumulation (cache-friendly); per pixel the taps are still summed in PIL's
      // order with the same int32 arithmetic, so the result is identical.
      for (let y = 0; y < taps; y++) {
        const w = k[kb + y]!;
        const rb = (y0 + y) * rowLen;
        for (let i = 0; i < rowLen; i++) acc[i] = (acc[i]! + Math.imul(src[rb + i]!, w)) | 0;
      }
      const ob = yy * rowLen;
      for (let i = 0; i < rowLen; i++) out[ob + i] = clip8(acc[i]!);
    }
    return out;
  },
};

let selected: ResampleKernels | undefined;

/** The kernels resizing uses: WebAssembly SIMD where the runtime has it, else TypeScript. */
export function resampleKernels(): ResampleKernels {
  selected ??= wasmResampleAvailable() ? wasmKernels(TS_KERNELS) : TS_KERNELS;
  return selected;
}

/** PIL NEAREST resize (`ImagingScaleAffine`): sample at the pixel centre, truncated; only `r` is produced. */
function resizeNearest(img: RgbImage, outWidth: number, outHeight: number, r: Rect): Uint8Array {
  const coord = (v: number): number => (v < 0.0 ? -1 : Math.trunc(v));
  const ax = img.width / outWidth;
  const ay = img.height / outHeight;
  // Positions accumulate by repeated addition exactly as PIL does, not as x * ax, so the
  // table covers the whole row even when only a region is wanted. The clamp only guards
  // against an out-of-range index (where PIL would write 0); it never fires for a real shrink.
  // Only the region's columns are stored (the table for a 64-million-pixel-wide resize was 256 MB).
  const xin = new Int32Array(r.width);
  let xo = ax * 0.5;
  for (let x = 0; x < r.left + r.width; x++, xo += ax)
    if (x >= r.left) xin[x - r.left] = Math.min(coord(xo), img.width - 1);
  const out = new Uint8Array(r.width * r.height * 3);
  let yo = ay * 0.5;
  for (let y = 0; y < r.top + r.height; y++, yo += ay) {
    if (y < r.top) continue;
    const rb = Math.min(coord(yo), img.height - 1) * img.width * 3;
    let o = (y - r.top) * r.width * 3;
    for (let x = r.left; x < r.left + r.width; x++) {
      const p = rb + xin[x - r.left]! * 3;
      out[o++] = img.data[p]!;
      out[o++] = img.data[p + 1]!;
      out[o++] = img.data[p + 2]!;
    }
  }
  return out;
}

/**
 * Resizes an RGB image exactly as Pillow's `Image.resize((outWidth, outHeight), filter)`
 * does for mode "RGB" (no box, no reducing_gap): separable, antialiased when shrinking
 * (filter support scaled by the shrink factor), horizontal pass first into a uint8
 * intermediate, then vertical.
 *
 * With `region`, returns only that rectangle of the resized image, bit-identical to
 * cropping the full result but computing only the pixels it needs (the eval pipeline's
 * center crop keeps about half of them).
 */
export function resizePil(
  img: RgbImage,
  outWidth: number,
  outHeight: number,
  filter: ResampleFilter = 'bicubic',
  region?: Rect,
): RgbImage {
  assertRgbImage(img);
  if (!Number.isInteger(outWidth) || !Number.isInteger(outHeight) || outWidth < 1 || outHeight < 1) {
    throw new RangeError(`resize: bad output size ${outWidth}x${outHeight}`);
  }
  const r = region ?? { left: 0, top: 0, width: outWidth, height: outHeight };
  if (
    ![r.left, r.top, r.width, r.height].every(Number.isInteger) ||
    r.left < 0 ||
    r.top < 0 ||
    r.width < 1 ||
    r.height < 1 ||
    r.left + r.width > outWidth ||
    r.top + r.height > outHeight
  ) {
    throw new RangeError(
      `resize: region ${r.width}x${r.height}+${r.left}+${r.top} is not inside ${outWidth}x${outHeight}`,
    );
  }
  const result = (data: Uint8Array): RgbImage => ({ width: r.width, height: r.height, data });
  if (outWidth === img.width && outHeight === img.height) return result(cropRect(img, r)); // PIL returns a copy
  if (filter === 'nearest') return result(resizeNearest(img, outWidth, outHeight, r));
  const def = FILTERS[filter];
  if (!def) throw new RangeError(`resize: unknown filter '${String(filter)}'`);

  const kernels = resampleKernels();
  const needH = outWidth !== img.width;
  const needV = outHeight !== img.height;
  if (!needV) {
    // Horizontal only: straight from the source rows of the region.
    const horiz = precomputeCoeffs(img.width, outWidth, def, r.left, r.left + r.width);
    return result(kernels.horizontal(img.data, img.width, r.top, r.height, r.left, r.width, horiz));
  }
  const vert = precomputeCoeffs(img.height, outHeight, def, r.top, r.top + r.height);
  // Window starts grow monotonically with the output index, so the region's first and last
  // output rows bound the source rows the vertical pass reads.
  const firstRow = vert.start[0]!;
  const endRow = vert.start[r.height - 1]! + vert.taps;
  if (needH) {
    const horiz = precomputeCoeffs(img.width, outWidth, def, r.left, r.left + r.width);
    const mid = kernels.horizontal(img.data, img.width, firstRow, endRow - firstRow, r.left, r.width, horiz);
    return result(kernels.vertical(mid, r.width, r.top, r.height, vert, firstRow));
  }
  // Vertical only: read the source directly, restricted to the region's columns.
  const cols = cropRect(img, { left: r.left, top: firstRow, width: r.width, height: endRow - firstRow });
  return result(kernels.vertical(cols, r.width, r.top, r.height, vert, firstRow));
}
