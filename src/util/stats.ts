/** Order statistics for timings, shared by the CLI, the page and the benchmarks. Browser-safe. */

/** The q-quantile (0..1) of `xs` by linear interpolation between order statistics (numpy's default). */
export function quantile(xs: readonly number[], q: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  return s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (pos - lo);
}

/** The median: the middle value, or the mean of the two middle values. */
export function median(xs: readonly number[]): number {
  return quantile(xs, 0.5);
}
