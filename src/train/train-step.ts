/**
 * One optimization step: train-mode forward, loss, gradients by tfjs autograd, the
 * SGD update in place, then the BN running-statistics update PyTorch does during
 * the forward (momentum 0.1, unbiased variance, num_batches_tracked + 1).
 */
import * as tf from '@tensorflow/tfjs';
import { batchNormCountRatio } from './kernels/batch-norm.js';
import { liveView } from './kernels/typed-io.js';
import { labelSmoothingCrossEntropy } from './loss.js';
import { forward } from './network.js';
import type { Optimizer } from './optimizer.js';
import type { ModelState } from './state.js';

/** BN momentum of PyTorch's BatchNorm2d (running = (1 - m) running + m batch). */
export const BN_MOMENTUM = 0.1;

/** Inputs of {@link trainStep}. */
export interface StepInputs {
  /** NHWC float32 batch. */
  x: tf.Tensor4D;
  /** int32 class indices. */
  y: tf.Tensor1D;
  lr: number;
  smoothing: number;
  /** [N, headChannels] dropout multipliers, when dropout is on. */
  dropoutMask?: tf.Tensor;
  /** Return the logits (copied) too, for tests. */
  keepLogits?: boolean;
  /**
   * Replaces a computed gradient (graph layout) before the update. For parity tests
   * that drive a step with PyTorch's gradients to isolate the next step.
   */
  overrideGrad?: (key: string) => Float32Array | undefined;
  /**
   * Data-parallel training: turns this rank's gradients (graph layout) and loss finiteness into
   * the gradients every rank applies (averaged over ranks) and whether any rank's loss was not
   * finite (then no rank updates). Called on every rank, also when the local loss is not finite.
   */
  reduceGradients?: (
    local: (key: string) => Float32Array,
    lossFinite: boolean,
  ) => { grad(key: string): Float32Array; finite: boolean };
}

/** What a step did. `applied` is false when the loss was not finite (no update made). */
export interface StepResult {
  loss: number;
  applied: boolean;
  logits?: Float32Array;
  /** Gradients by key (graph layout), only when asked for (tests). */
  grads?: Map<string, Float32Array>;
  /** Wall time of forward + backward, and of the optimizer and statistics update (benchmarks). */
  timings?: { gradientsMs: number; updateMs: number };
}

interface BatchStats {
  mean: Float32Array;
  variance: Float32Array;
  count: number;
}

/** Runs one step on `model` with `sgd`. Leaves no tensors behind. */
export function trainStep(
  model: ModelState,
  sgd: Optimizer,
  input: StepInputs,
  options: { keepGrads?: boolean } = {},
): StepResult {
  const stats = new Map<string, BatchStats>();
  let logitsCopy: Float32Array | undefined;
  // Frozen parameters (--freeze-stages) get no gradient, hence no update.
  const varList = [...model.variables].filter(([k]) => model.isTrainable(k)).map(([, v]) => v);
  const keyOf = new Map([...model.variables].map(([k, v]) => [v.name, k]));
  const t0 = performance.now();
  const { value, grads } = tf.variableGrads(() => {
    const logits = forward(model.spec, { param: (k) => model.variables.get(k)! }, input.x, {
      training: true,
      dropoutMask: input.dropoutMask,
      onBatchStats: (bn, mean, variance, count) => {
        stats.set(bn, { mean, variance, count });
      },
      ...(model.frozenBn.size
        ? {
            evalModeBn: (bn: string) => model.frozenBn.has(bn),
            runningStats: (bn: string) => model.frozenRunningStats(bn),
          }
        : {}),
    });
    if (input.keepLogits) logitsCopy = logits.dataSync() as Float32Array;
    return labelSmoothingCrossEntropy(logits, input.y, input.smoothing);
  }, varList);
  try {
    const loss = value.dataSync()[0]!;
    const t1 = performance.now();
    let gradCopies: Map<string, Float32Array> | undefined;
    if (options.keepGrads) {
      gradCopies = new Map();
      for (const [name, g] of Object.entries(grads)) gradCopies.set(keyOf.get(name)!, g.dataSync() as Float32Array);
    }
    const gradByKey = new Map<string, tf.Tensor>();
    for (const [name, g] of Object.entries(grads)) gradByKey.set(keyOf.get(name)!, g);
    const localGrad = (k: string): Float32Array => {
      const g = gradByKey.get(k);
      if (!g) throw new Error(`no gradient for '${k}'`);
      return liveView(g);
    };
    const reduced = input.reduceGradients?.(localGrad, Number.isFinite(loss));
    if (!Number.isFinite(loss) || (reduced && !reduced.finite))
      return { loss, applied: false, logits: logitsCopy, grads: gradCopies };
    // The update is computed on copies and assigned as new tensors, never written into
    // the variables' storage: tfjs-backend-wasm caches XNNPACK operators with packed
    // weights per weight tensor, so an in-place change would go unseen by convs.
    const updated = new Map<string, Float32Array>();
    sgd.step(
      input.lr,
      (k) => {
        const copy = liveView(model.variables.get(k)!).slice();
        updated.set(k, copy);
        return copy;
      },
      (k) => {
        const override = input.overrideGrad?.(k);
        if (override) return override;
        return reduced ? reduced.grad(k) : localGrad(k);
      },
    );
    for (const [k, values] of updated) model.setParam(k, values);
    updateRunningStats(model, stats);
    const timings = { gradientsMs: t1 - t0, updateMs: performance.now() - t1 };
    return { loss, applied: true, logits: logitsCopy, grads: gradCopies, timings };
  } finally {
    value.dispose();
    tf.dispose(Object.values(grads));
  }
}

/** PyTorch's running update, in double precision like its CPU kernel, stored as float32. */
function updateRunningStats(model: ModelState, stats: Map<string, BatchStats>): void {
  const m = BN_MOMENTUM;
  const countRatio = batchNormCountRatio();
  for (const [name, s] of stats) {
    if (model.frozenBn.has(name)) continue; // frozen stages keep their running statistics
    const b = model.bn.get(name)!;
    const count = s.count * countRatio; // synchronized BN: the global batch
    const unbias = count / (count - 1);
    for (let c = 0; c < b.mean.length; c++) {
      b.mean[c] = m * s.mean[c]! + (1 - m) * b.mean[c]!;
      b.variance[c] = m * s.variance[c]! * unbias + (1 - m) * b.variance[c]!;
    }
    b.numBatchesTracked += 1n;
  }
}
