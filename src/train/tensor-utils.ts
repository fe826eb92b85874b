/** Small layout helpers shared by the trainer, data pipeline and tests. */

/** NCHW row-major values -> NHWC (shape is the NCHW shape). */
export function nchwToNhwc(data: Float32Array, shape: readonly number[]): Float32Array {
  const [n, c, h, w] = shape as [number, number, number, number];
  const out = new Float32Array(data.length);
  const hw = h * w;
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const src = (b * c + ch) * hw;
      for (let i = 0; i < hw; i++) out[(b * hw + i) * c + ch] = data[src + i]!;
    }
  }
  return out;
}
