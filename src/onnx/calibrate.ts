/**
 * Activation range calibration for static quantization (browser-safe, no runtime inside):
 * the caller runs the float model on calibration batches and feeds every observed tensor
 * to a {@link RangeCalibrator}; it returns one [min, max] per tensor.
 *
 * Methods:
 * - `minmax`: the observed minimum and maximum.
 * - `percentile`: the 0.001 % and 99.999 % quantiles (outliers clipped), from a 2048-bin
 *   histogram over the observed [min, max].
 * - `entropy`: the clipping threshold whose 8-bit quantized histogram has the smallest
 *   KL divergence from the observed one (the TensorRT method), applied to |x| (or to x
 *   for tensors that are never negative), but never below the 99.99th percentile.
 *
 * `percentile` and `entropy` need the full range before the histogram: two passes over the
 * same batches (`needsSecondPass`), the first collecting min/max, the second histograms.
 */

/** How activation ranges are chosen. */
export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy';
export const CALIBRATION_METHODS: readonly CalibrationMethod[] = ['minmax', 'percentile', 'entropy'];

/** A real-valued range to quantize a tensor over. */
export interface Range {
  min: number;
  max: number;
}

const BINS = 2048;
const PERCENTILE = 99.999;
/** The percentile below which entropy calibration never clips. */
const ENTROPY_MAX_CLIPPED = 99.99;

interface Stats {
  min: number;
  max: number;
  hist: Float64Array | null;
}

/** Collects ranges of named tensors over calibration batches. */
export class RangeCalibrator {
  private readonly stats = new Map<string, Stats>();
  private pass = 1;

  constructor(readonly method: CalibrationMethod) {}

  /** Whether the caller must feed the same batches a second time (after {@link startSecondPass}). */
  get needsSecondPass(): boolean {
    return this.method !== 'minmax';
  }

  /** Switches from collecting min/max to filling histograms over those ranges. */
  startSecondPass(): void {
    if (!this.needsSecondPass) throw new Error('internal: minmax calibration has one pass');
    this.pass = 2;
    for (const s of this.stats.values()) s.hist = new Float64Array(BINS);
  }

  /** Records the values a tensor took on one batch. */
  observe(name: string, data: Float32Array): void {
    let s = this.stats.get(name);
    if (this.pass === 1) {
      if (!s) this.stats.set(name, (s = { min: Infinity, max: -Infinity, hist: null }));
      let lo = s.min;
      let hi = s.max;
      for (const v of data) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
        if (v !== v) lo = NaN; // NaN compares false with everything: make it poison the range
      }
      if (!Number.isFinite(lo) || !Number.isFinite(hi))
        throw new Error(`calibration: tensor ${name} has non-finite values`);
      s.min = lo;
      s.max = hi;
      return;
    }
    if (!s?.hist) throw new Error(`internal: tensor ${name} was not seen in the first calibration pass`);
    const signed = s.min < 0;
    // Histogram of |x| over [0, max|x|] for signed tensors, of x over [0, max] otherwise.
    const top = Math.max(Math.abs(s.min), Math.abs(s.max)) || 1;
    const width = top / BINS;
    const lowCut = signed ? -Infinity : 0;
    for (const v of data) {
      if (v < lowCut) continue;
      const b = Math.min(BINS - 1, Math.floor(Math.abs(v) / width));
      s.hist[b]! += 1;
    }
  }

  /** The calibrated range of every observed tensor. */
  ranges(): Map<string, Range> {
    const out = new Map<string, Range>();
    for (const [name, s] of this.stats) {
      if (this.method === 'minmax' || !s.hist) {
        out.set(name, { min: s.min, max: s.max });
        continue;
      }
      const top = Math.max(Math.abs(s.min), Math.abs(s.max)) || 1;
      let t: number;
      if (this.method === 'percentile') t = percentileThreshold(s.hist, top);
      else {
        // A ReLU output's zeros are exact in any range and would dominate the KL divergence: leave them out.
        const hist = s.min < 0 ? s.hist : Float64Array.from(s.hist, (v, i) => (i === 0 ? 0 : v));
        // KL divergence does not see how far the clipped tail reaches, and on the Fashion-MNIST
        // model plain entropy clipping cost 25 points of top-1: never clip more than the
        // 0.01 % of values that the percentile method does.
        t = Math.max(
          entropyThreshold(hist, top, s.min < 0 ? 128 : 256),
          percentileThreshold(s.hist, top, ENTROPY_MAX_CLIPPED),
        );
      }
      out.set(name, { min: Math.max(s.min, -t), max: Math.min(s.max, t) });
    }
    return out;
  }
}

/** The value below which `percentile` % of the histogram's mass lies. */
function percentileThreshold(hist: Float64Array, top: number, percentile = PERCENTILE): number {
  const total = hist.reduce((a, b) => a + b, 0);
  if (total === 0) return top;
  const want = (total * percentile) / 100;
  let acc = 0;
  for (let i = 0; i < hist.length; i++) {
    acc += hist[i]!;
    if (acc >= want) return ((i + 1) / hist.length) * top;
  }
  return top;
}

/**
 * TensorRT's entropy calibration: for each candidate clip bin i, P = hist[0..i) with the
 * clipped tail added to its last bin; Q = P merged into `levels` bins and spread back over
 * the nonzero bins; pick the i minimizing KL(P || Q).
 */
function entropyThreshold(hist: Float64Array, top: number, levels: number): number {
  const n = hist.length;
  let best = n;
  let bestKl = Infinity;
  const p = new Float64Array(n);
  const q = new Float64Array(n);
  // Candidates every 16 bins keep this to ~120 evaluations per tensor.
  for (let i = levels; i <= n; i += 16) {
    let tail = 0;
    for (let k = i; k < n; k++) tail += hist[k]!;
    for (let k = 0; k < i; k++) p[k] = hist[k]!;
    p[i - 1]! += tail;
    const per = i / levels;
    for (let j = 0; j < levels; j++) {
      const start = Math.floor(j * per);
      const end = j === levels - 1 ? i : Math.floor((j + 1) * per);
      let sum = 0;
      let nonzero = 0;
      for (let k = start; k < end; k++) {
        sum += hist[k]!;
        if (hist[k]! > 0) nonzero++;
      }
      for (let k = start; k < end; k++) q[k] = hist[k]! > 0 ? sum / nonzero : 0;
    }
    // Q is built from the unclipped bins; the tail mass sits in P's last bin only, as in TensorRT.
    const kl = klDivergence(p, q, i);
    if (kl < bestKl) {
      bestKl = kl;
      best = i;
    }
  }
  return (best / n) * top;
}

function klDivergence(p: Float64Array, q: Float64Array, len: number): number {
  let ps = 0;
  let qs = 0;
  for (let k = 0; k < len; k++) {
    ps += p[k]!;
    qs += q[k]!;
  }
  if (ps === 0 || qs === 0) return Infinity;
  let kl = 0;
  for (let k = 0; k < len; k++) {
    const pk = p[k]! / ps;
    if (pk === 0) continue;
    const qk = q[k]! / qs;
    kl += qk > 0 ? pk * Math.log(pk / qk) : pk * 50; // a bin Q cannot represent: a large, finite penalty
  }
  return kl;
}
