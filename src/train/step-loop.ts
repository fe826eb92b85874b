/**
 * One epoch of training steps: batches from the data (this rank's shard in a data-parallel
 * run), dropout masks, the step (with the gradient average and BN buffer broadcast of a
 * data-parallel run), EMA after every applied step, progress. Stops before the update when
 * the loss is not finite (on any rank).
 */
import * as tf from '@tensorflow/tfjs';
import type { ModelSpec } from '../spec/index.js';
import type { DataParallel } from '../distributed/data-parallel.js';
import { epochStreamKey, sampleDropoutMask, type EpochShard } from './data/distributed-sampler.js';
import type { DataBatch, SkippedImage, TrainingData } from './data/source.js';
import type { ModelEma } from './ema.js';
import type { Optimizer } from './optimizer.js';
import type { TrainOptions } from './options.js';
import type { Rng } from './rng.js';
import type { ModelState } from './state.js';
import { trainStep } from './train-step.js';
import type { StepProgress } from './trainer.js';

/** What one epoch's steps need. */
export interface StepLoopContext {
  o: TrainOptions;
  spec: ModelSpec;
  data: TrainingData;
  model: ModelState;
  optimizer: Optimizer;
  ema: ModelEma | null;
  rng: Rng;
  /** Set in a data-parallel run (any world size, 1 included). */
  ddp: DataParallel | null;
  steps: number;
  log: (line: string) => void;
  onStep?: (p: StepProgress) => void;
  reportSkipped: (s: readonly SkippedImage[]) => void;
}

/** What the epoch's steps did (this rank's share). */
export interface EpochSteps {
  lossSum: number;
  stepsRun: number;
  images: number;
  skipped: number;
  seconds: number;
  /** Milliseconds in the gradient allreduce (data-parallel runs). */
  allreduceMs: number;
  /** Set when a loss was not finite: what happened (no update was applied). */
  nanMessage?: string;
}

/** Runs the steps of `epoch` at learning rate `lr`. */
export async function runEpochSteps(
  c: StepLoopContext,
  epoch: number,
  lr: number,
  where: () => string,
): Promise<EpochSteps> {
  const { o, spec, data, model, steps } = c;
  const shard: EpochShard | undefined = c.ddp
    ? { world: c.ddp.comm.size, rank: c.ddp.comm.rank, seed: o.seed, epoch }
    : undefined;
  const dropKey = shard && o.drop > 0 ? epochStreamKey(o.seed, epoch, 'dropout') : null;
  const batches = data.epoch(c.rng, o.batchSize, steps, shard);
  const dropMask = o.drop > 0 ? new Float32Array(o.batchSize * spec.headChannels) : null;
  const S = data.inputSize;
  const world = c.ddp?.comm.size ?? 1; // progress shows the job's images/s (ranks run in step)
  const t0 = performance.now();
  const out: EpochSteps = { lossSum: 0, stepsRun: 0, images: 0, skipped: 0, seconds: 0, allreduceMs: 0 };
  c.ddp?.gradients.takeMs();
  try {
    for (let step = 0; step < steps; step++) {
      const batch: DataBatch = await batches.next();
      c.reportSkipped(batch.skipped);
      out.skipped += batch.skipped.length;
      const n = batch.n;
      if (n === 0) {
        // Every rank must take part in every step's collectives: an empty batch cannot be skipped there.
        if (c.ddp)
          throw new Error(`epoch ${epoch} step ${step}: rank ${c.ddp.comm.rank} could read no image of its batch`);
        c.log(`epoch ${epoch} step ${step}: no readable image in the batch, step skipped`);
        continue;
      }
      const mask = dropMask?.subarray(0, n * spec.headChannels);
      if (mask && dropKey) {
        sampleDropoutMask(dropKey, batch.indices!, n, spec.headChannels, o.drop, mask);
      } else if (mask) {
        const keep = 1 / (1 - o.drop);
        for (let i = 0; i < mask.length; i++) mask[i] = c.rng.uniform() < o.drop ? 0 : keep;
      }
      const x = tf.tensor4d(batch.x.subarray(0, n * S * S * 3), [n, S, S, 3]);
      const y = tf.tensor1d(batch.y.subarray(0, n), 'int32');
      const maskTensor = mask ? tf.tensor2d(mask, [n, spec.headChannels]) : undefined;
      let result;
      try {
        c.ddp?.beforeForward();
        result = trainStep(model, c.optimizer, {
          x,
          y,
          lr,
          smoothing: o.smoothing,
          dropoutMask: maskTensor,
          ...(c.ddp ? { reduceGradients: c.ddp.reduceGradients } : {}),
        });
      } finally {
        tf.dispose([x, y, ...(maskTensor ? [maskTensor] : [])]);
      }
      if (!result.applied) {
        const what = Number.isFinite(result.loss) ? `the loss is not finite on another rank` : `loss is ${result.loss}`;
        const stopped = 'training stopped before applying the update';
        out.nanMessage = `${what} at epoch ${epoch} step ${step}: ${stopped}; ${where()}`;
        break;
      }
      c.ema?.update(model);
      out.lossSum += result.loss;
      out.stepsRun++;
      out.images += n;
      const seconds = (performance.now() - t0) / 1000;
      c.onStep?.({
        epoch,
        epochs: o.epochs,
        step,
        steps,
        batchSize: n,
        loss: result.loss,
        lr,
        imagesPerSecond: (out.images * world) / seconds,
      });
    }
  } finally {
    batches.close();
  }
  out.seconds = (performance.now() - t0) / 1000;
  out.allreduceMs = c.ddp?.gradients.takeMs() ?? 0;
  return out;
}
