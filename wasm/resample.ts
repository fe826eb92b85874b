// AssemblyScript, compiled to WebAssembly (SIMD) by `npm run build:wasm` into
// src/data/resample-wasm-binary.ts. The two passes of Pillow's ImagingResample for 8-bit RGB,
// the same arithmetic as the TypeScript kernels in src/data/pil-resample.ts: int32
// accumulators starting at 1 << 21, 22-bit fixed-point weights, shift by 22, clip to 0..255.
// Integer addition is exact and associative here (no sum leaves int32), so summing four
// lanes at a time gives Pillow's bytes. Coefficient tables are made in TypeScript and padded
// to `taps` weights per output (zeros where the window is shorter).
//
// Memory layout is the caller's (src/data/resample-wasm.ts): every buffer is followed by at
// least 16 bytes of slack, because the kernels read and write whole vectors past a row's end.

const PRECISION_BITS: i32 = 22;
const HALF: i32 = 1 << (PRECISION_BITS - 1);

/** Shift, then two saturating narrows: exactly Pillow's clip8 on each lane. */
function clip8x4(acc: v128): v128 {
  const v = i32x4.shr_s(acc, PRECISION_BITS);
  const w = i16x8.narrow_i32x4_s(v, v);
  return i8x16.narrow_i16x8_u(w, w);
}

/**
 * Horizontal pass: `rows` rows of `srcStride` bytes at `src` to `rows` x `cols` RGB pixels at
 * `out`. Output column x reads `taps` source pixels from byte `starts[x]` of the row with the
 * weights at `weights + 4 * x * taps`. One pixel's R, G, B are three lanes of one vector.
 */
export function horizontal(
  src: usize,
  srcStride: i32,
  rows: i32,
  cols: i32,
  starts: usize,
  weights: usize,
  taps: i32,
  out: usize,
): void {
  const half = i32x4.splat(HALF);
  let o = out;
  for (let y = 0; y < rows; y++) {
    const row = src + <usize>y * <usize>srcStride;
    for (let x = 0; x < cols; x++) {
      let p = row + <usize>load<i32>(starts + ((<usize>x) << 2));
      let kp = weights + ((<usize>x * <usize>taps) << 2);
      let acc = half;
      for (let t = 0; t < taps; t++) {
        // Four bytes: this pixel's R, G, B and the next pixel's R (weighted, then ignored).
        const px = i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(v128.load32_zero(p)));
        acc = i32x4.add(acc, i32x4.mul(px, i32x4.splat(load<i32>(kp))));
        p += 3;
        kp += 4;
      }
      // Writes four bytes; the fourth is the next pixel's first, written again next.
      v128.store32_lane(o, clip8x4(acc), 0);
      o += 3;
    }
  }
}

/**
 * Vertical pass: output row y (`rowLen` bytes) is the weighted sum of `taps` source rows from
 * row `starts[y]` of `src`, with the weights at `weights + 4 * y * taps`. Sixteen bytes a step.
 */
export function vertical(
  src: usize,
  rowLen: i32,
  rows: i32,
  starts: usize,
  weights: usize,
  taps: i32,
  out: usize,
): void {
  const half = i32x4.splat(HALF);
  for (let y = 0; y < rows; y++) {
    const base = src + <usize>load<i32>(starts + ((<usize>y) << 2)) * <usize>rowLen;
    const kp = weights + ((<usize>y * <usize>taps) << 2);
    const o = out + <usize>y * <usize>rowLen;
    for (let i = 0; i < rowLen; i += 16) {
      let a0 = half;
      let a1 = half;
      let a2 = half;
      let a3 = half;
      let p = base + <usize>i;
      for (let t = 0; t < taps; t++) {
        const w = i32x4.splat(load<i32>(kp + ((<usize>t) << 2)));
        const b = v128.load(p);
        const lo = i16x8.extend_low_i8x16_u(b);
        const hi = i16x8.extend_high_i8x16_u(b);
        a0 = i32x4.add(a0, i32x4.mul(i32x4.extend_low_i16x8_u(lo), w));
        a1 = i32x4.add(a1, i32x4.mul(i32x4.extend_high_i16x8_u(lo), w));
        a2 = i32x4.add(a2, i32x4.mul(i32x4.extend_low_i16x8_u(hi), w));
        a3 = i32x4.add(a3, i32x4.mul(i32x4.extend_high_i16x8_u(hi), w));
        p += <usize>rowLen;
      }
      const lo16 = i16x8.narrow_i32x4_s(i32x4.shr_s(a0, PRECISION_BITS), i32x4.shr_s(a1, PRECISION_BITS));
      const hi16 = i16x8.narrow_i32x4_s(i32x4.shr_s(a2, PRECISION_BITS), i32x4.shr_s(a3, PRECISION_BITS));
      // May run up to 15 bytes past the row: the next row overwrites them, the last row's land in slack.
      v128.store(o + <usize>i, i8x16.narrow_i16x8_u(lo16, hi16));
    }
  }
}
