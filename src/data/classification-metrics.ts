/**
 * Top-1 / top-5 accuracy and cross-entropy of logits: the one implementation behind
 * `repghost validate` (api/postprocess.ts) and the trainer's evaluation (train/evaluate.ts),
 * so the same weights on the same images give one figure everywhere.
 *
 * timm's `accuracy()` takes exactly k predictions (`output.topk(k)`) and counts a hit when
 * the target is among them. With tied logits torch leaves the order among the tied
 * classes unspecified; we break ties by class index (lowest first, as `argmax`), so a tie
 * that straddles the k-th place counts only the classes that fit, never all of them.
 * Float64 arithmetic; log-sum-exp is computed once per row and serves the loss.
 */

/** log(sum(exp(x))) computed stably (float64). */
export function logSumExp(x: ArrayLike<number>): number {
  let max = -Infinity;
  // eslint-disable-next-line @typescript-eslint/prefer-for-of -- an ArrayLike need not be iterable
  for (let i = 0; i < x.length; i++) if (x[i]! > max) max = x[i]!;
  if (max === -Infinity || Number.isNaN(max)) return max;
  let sum = 0;
  // eslint-disable-next-line @typescript-eslint/prefer-for-of -- as above
  for (let i = 0; i < x.length; i++) sum += Math.exp(x[i]! - max);
  return max + Math.log(sum);
}

/**
 * Place of class `target` in the ranking of `row` (0 = top-1): the classes scoring higher,
 * plus those scoring the same with a lower index. Top-k hit iff the place is below k.
 */
export function targetPlace(row: ArrayLike<number>, target: number): number {
  const t = row[target]!;
  let place = 0;
  for (let k = 0; k < row.length; k++) if (row[k]! > t || (row[k] === t && k < target)) place++;
  return place;
}

/** Indices of the k largest values, largest first; equal values in index order (the ranking of {@link targetPlace}). */
export function topK(x: ArrayLike<number>, k: number): number[] {
  const idx = Array.from({ length: x.length }, (_, i) => i);
  idx.sort((a, b) => x[b]! - x[a]! || a - b);
  return idx.slice(0, Math.max(0, Math.min(k, x.length)));
}

/** Sums of a classification evaluation; accuracies in percent (timm's convention). */
export interface ClassificationSummary {
  top1: number;
  top5: number;
  loss: number;
  count: number;
}

/** Running top-1 / top-5 accuracy and mean cross-entropy over batches of logits, as timm's validate.py reports them. */
export class ClassificationMetrics {
  private n = 0;
  private hit1 = 0;
  private hit5 = 0;
  private lossSum = 0;

  /** Adds `n` rows of [n, classes] logits with their integer targets (n defaults to the number of targets). */
  update(logits: Float32Array, classes: number, targets: ArrayLike<number>, n = targets.length): void {
    for (let r = 0; r < n; r++) {
      const row = logits.subarray(r * classes, (r + 1) * classes);
      const target = targets[r]!;
      if (!(target >= 0 && target < classes)) {
        throw new RangeError(`target ${target} is not a class of a ${classes}-class classifier`);
      }
      const place = targetPlace(row, target);
      if (place < 1) this.hit1++;
      if (place < 5) this.hit5++;
      this.lossSum += logSumExp(row) - row[target]!;
      this.n++;
    }
  }

  /** Images counted so far. */
  get count(): number {
    return this.n;
  }

  /** Accuracies in percent and mean loss; NaN before any image. */
  summary(): ClassificationSummary {
    const d = this.n || NaN;
    return { top1: (100 * this.hit1) / d, top5: (100 * this.hit5) / d, loss: this.lossSum / d, count: this.n };
  }
}
