/** Evaluation in eval mode: cross-entropy (no smoothing, as timm's validate) and top-1/top-5. */
import * as tf from '@tensorflow/tfjs';
import { FASHION_MNIST_SIZE, writeImage, type PreparedSplit } from '../data/fashion-mnist.js';
import { ClassificationMetrics } from '../data/classification-metrics.js';
import type { ModelSpec } from '../spec/model-spec.js';
import { forward } from './network.js';
import type { EvalWeights } from './weights.js';

/** Metrics over a split; accuracies in percent. */
export interface EvalResult {
  loss: number;
  top1: number;
  top5: number;
  count: number;
}

/** Sums cross-entropy and top-1/top-5 hits over batches of logits: the metric of `repghost validate`. */
export class EvalAccumulator {
  private readonly metrics = new ClassificationMetrics();

  /** Scores `n` rows of `logits` ([n, classes]) against `targets`. */
  add(logits: Float32Array, classes: number, targets: ArrayLike<number>, n: number): void {
    this.metrics.update(logits, classes, targets, n);
  }

  result(): EvalResult {
    return this.metrics.summary();
  }
}

/** Eval-mode logits of an NHWC batch of `n` images of side `size`. */
export function evalLogits(
  spec: ModelSpec,
  weights: EvalWeights,
  x: Float32Array,
  n: number,
  size: number,
): Float32Array {
  const logits = tf.tidy(() => {
    const input = tf.tensor4d(x.subarray(0, n * size * size * 3), [n, size, size, 3]);
    return forward(spec, weights, input, { training: false, runningStats: weights.runningStats });
  });
  const values = logits.dataSync() as Float32Array;
  logits.dispose();
  return values;
}

/** Evaluates `weights` on a prepared split in batches of `batchSize`. */
export function evaluate(spec: ModelSpec, weights: EvalWeights, split: PreparedSplit, batchSize: number): EvalResult {
  const S = FASHION_MNIST_SIZE;
  const buf = new Float32Array(batchSize * S * S * 3);
  const acc = new EvalAccumulator();
  for (let start = 0; start < split.count; start += batchSize) {
    const n = Math.min(batchSize, split.count - start);
    for (let i = 0; i < n; i++) writeImage(split, start + i, i, buf);
    acc.add(evalLogits(spec, weights, buf, n, S), spec.numClasses, split.labels.subarray(start, start + n), n);
  }
  return acc.result();
}

/** One labelled NHWC batch of a streamed evaluation set. */
export interface LabelledBatch {
  x: Float32Array;
  y: Int32Array;
  n: number;
  size: number;
}

/**
 * Evaluates several weight sets (the raw model and its EMA) on one pass over streamed
 * batches: each batch is decoded once and run through every model.
 */
export async function evaluateStream(
  spec: ModelSpec,
  weights: readonly EvalWeights[],
  batches: AsyncIterable<LabelledBatch>,
): Promise<EvalResult[]> {
  const accs = weights.map(() => new EvalAccumulator());
  for await (const b of batches) {
    if (!b.n) continue;
    weights.forEach((w, k) => accs[k]!.add(evalLogits(spec, w, b.x, b.n, b.size), spec.numClasses, b.y, b.n));
  }
  return accs.map((a) => a.result());
}
