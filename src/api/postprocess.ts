/** From logits to predictions and metrics (float64 arithmetic: exact enough to rank ties deterministically). */

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

/** log(sum(exp(x))) computed stably. */
export function logSumExp(x: ArrayLike<number>): number {
  let max = -Infinity;
  for (let i = 0; i < x.length; i++) max = Math.max(max, x[i]!);
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += Math.exp(x[i]! - max);
  return max + Math.log(sum);
}

/** Softmax of one logits row, in float64. */
export function softmax(x: ArrayLike<number>): Float64Array {
  const lse = logSumExp(x);
  return Float64Array.from({ length: x.length }, (_, i) => Math.exp(x[i]! - lse));
}

/** Indices of the k largest values, largest first; equal values keep index order (deterministic). */
export function topK(x: ArrayLike<number>, k: number): number[] {
  const idx = Array.from({ length: x.length }, (_, i) => i);
  idx.sort((a, b) => x[b]! - x[a]! || a - b);
  return idx.slice(0, Math.max(0, Math.min(k, x.length)));
}

/** The top-k predictions of one logits row with their labels. */
export function rank(row: ArrayLike<number>, labels: readonly string[], k: number): Prediction[] {
  const p = softmax(row);
  return topK(row, k).map((index) => ({ label: labels[index] ?? `class ${index}`, index, probability: p[index]! }));
}

/** Running top-1 / top-5 accuracy and mean cross-entropy, as timm's validate.py reports them. */
export class ClassificationMetrics {
  private n = 0;
  private top1 = 0;
  private top5 = 0;
  private lossSum = 0;

  /** Adds a batch of [n, classes] logits with their integer targets. */
  update(logits: Float32Array, classes: number, targets: readonly number[]): void {
    targets.forEach((target, r) => {
      const row = logitsRow(logits, classes, r);
      const best = topK(row, 5);
      if (best[0] === target) this.top1++;
      if (best.includes(target)) this.top5++;
      this.lossSum += logSumExp(row) - row[target]!;
      this.n++;
    });
  }

  /** Images counted so far. */
  get count(): number {
    return this.n;
  }

  /** Accuracies in percent (timm's convention) and mean loss; NaN before any image. */
  summary(): { top1: number; top5: number; loss: number; count: number } {
    const d = this.n || NaN;
    return { top1: (100 * this.top1) / d, top5: (100 * this.top5) / d, loss: this.lossSum / d, count: this.n };
  }
}
