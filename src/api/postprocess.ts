/** From logits to predictions and metrics (float64 arithmetic: exact enough to rank ties deterministically). */
import { logSumExp, topK } from '../data/classification-metrics.js';

// The metric lives below the API so that the trainer uses the same one (see data/classification-metrics.ts).
export {
  ClassificationMetrics,
  logSumExp,
  targetPlace,
  topK,
  type ClassificationSummary,
} from '../data/classification-metrics.js';

/** One ranked class. */
export interface Prediction {
  /** Human-readable class name. */
  label: string;
  /** Class index (row of the classifier). */
  index: number;
  /** Softmax probability in [0, 1]. */
  probability: number;
}

/** Row `row` of a [n, classes] logits array. */
export function logitsRow(logits: Float32Array, classes: number, row: number): Float32Array {
  return logits.subarray(row * classes, (row + 1) * classes);
}

/** Softmax of one logits row, in float64. */
export function softmax(x: ArrayLike<number>): Float64Array {
  const lse = logSumExp(x);
  return Float64Array.from({ length: x.length }, (_, i) => Math.exp(x[i]! - lse));
}

/** The top-k predictions of one logits row with their labels. */
export function rank(row: ArrayLike<number>, labels: readonly string[], k: number): Prediction[] {
  const p = softmax(row);
  return topK(row, k).map((index) => ({ label: labels[index] ?? `class ${index}`, index, probability: p[index]! }));
}
