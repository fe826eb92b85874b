/** Evaluation in eval mode: cross-entropy (no smoothing, as timm's validate) and top-1/top-5. */
import * as tf from '@tensorflow/tfjs';
import { FASHION_MNIST_SIZE, writeImage, type PreparedSplit } from '../data/fashion-mnist.js';
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

/** Cross-entropy and top-k hits of one row of logits. */
function scoreRow(logits: Float32Array, offset: number, classes: number, target: number): { nll: number; rank: number } {
  let max = -Infinity;
  for (let k = 0; k < classes; k++) max = Math.max(max, logits[offset + k]!);
  let sum = 0;
  for (let k = 0; k < classes; k++) sum += Math.exp(logits[offset + k]! - max);
  const t = logits[offset + target]!;
  let rank = 0; // classes scoring strictly higher than the target
  for (let k = 0; k < classes; k++) if (logits[offset + k]! > t) rank++;
  return { nll: Math.log(sum) + max - t, rank };
}

/** Evaluates `weights` on a prepared split in batches of `batchSize`. */
export function evaluate(spec: ModelSpec, weights: EvalWeights, split: PreparedSplit, batchSize: number): EvalResult {
  const S = FASHION_MNIST_SIZE;
  const buf = new Float32Array(batchSize * S * S * 3);
  let nll = 0, hit1 = 0, hit5 = 0;
  for (let start = 0; start < split.count; start += batchSize) {
    const n = Math.min(batchSize, split.count - start);
    for (let i = 0; i < n; i++) writeImage(split, start + i, i, buf);
    const logits = tf.tidy(() => {
      const x = tf.tensor4d(buf.subarray(0, n * S * S * 3), [n, S, S, 3]);
      return forward(spec, weights, x, { training: false, runningStats: weights.runningStats });
    });
    const values = logits.dataSync() as Float32Array;
    logits.dispose();
    const classes = spec.numClasses;
    for (let i = 0; i < n; i++) {
      const { nll: l, rank } = scoreRow(values, i * classes, classes, split.labels[start + i]!);
      nll += l;
      if (rank < 1) hit1++;
      if (rank < 5) hit5++;
    }
  }
  const count = split.count;
  return { loss: nll / count, top1: (100 * hit1) / count, top5: (100 * hit5) / count, count };
}
