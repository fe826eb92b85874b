/**
 * The training loop of `repghost train`: timm's train.py recipe on Fashion-MNIST
 * (see shared/reference/fashion_mnist.md), with exact resumption. Per epoch: cosine
 * LR with warm-up, a seeded shuffle, augmented batches (last partial batch dropped),
 * one step per batch, EMA after every step, evaluation of the raw and EMA weights,
 * then `last.pth.tar` (and `model_best.pth.tar` when the tracked top-1 improves) and
 * `summary.csv`, all written atomically. Everything random comes from one seeded PRNG
 * whose state is saved in the checkpoint, so a run killed at any point and resumed
 * from its last checkpoint repeats exactly what the uninterrupted run would do.
 * A NaN/Inf loss stops training before the update; the last good checkpoint stays.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  FASHION_MNIST_SIZE, loadFashionMnistSplit, prepareSplit, writeImage, type PreparedSplit,
} from '../data/fashion-mnist.js';
import { buildSpec, type ModelSpec } from '../spec/index.js';
import { readCheckpoint } from '../weights/checkpoint.js';
import { initTrainingBackend, type TrainBackendName } from './backend.js';
import { decodeCheckpoint, encodeCheckpoint, type SummaryRow, type TrainingCheckpoint } from './checkpoint.js';
import { writeFileAtomicSync as writeFileAtomic } from '../node/atomic-write.js';
import { ModelEma } from './ema.js';
import { evaluate, type EvalResult } from './evaluate.js';
import { cosineLr } from './lr-schedule.js';
import { Rng } from './rng.js';
import { Sgd } from './sgd.js';
import { floatStateToStateDict, ModelState } from './state.js';
import type { StateDict } from '../weights/tensor.js';
import { summaryCsv } from './summary.js';
import { trainStep } from './train-step.js';
import { EvalWeights } from './weights.js';

export { DEFAULT_TRAIN_OPTIONS, type TrainOptions } from './options.js';
import type { TrainOptions } from './options.js';

/** Progress of one step, for progress bars. */
export interface StepProgress {
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  batchSize: number;
  loss: number;
  lr: number;
  imagesPerSecond: number;
}

/** Callbacks of {@link train}. */
export interface TrainHooks {
  log?: (line: string) => void;
  onStep?: (p: StepProgress) => void;
  onEpochStart?: (epoch: number, steps: number) => void;
  onEpochEnd?: (row: SummaryRow) => void;
}

/** How a run ended. */
export interface TrainOutcome {
  status: 'completed' | 'nan';
  /** For 'nan': what happened and which checkpoint is the last good one. */
  message?: string;
  history: SummaryRow[];
  bestMetric: number | null;
  bestEpoch: number | null;
  backend: TrainBackendName;
  lastCheckpoint: string | null;
  /** The model and EMA at the end (caller disposes via `dispose`). */
  final: { spec: ModelSpec; model: ModelState; ema: ModelEma | null; dispose(): void };
}

/** File names in the output directory. */
export const LAST_CHECKPOINT = 'last.pth.tar';
export const BEST_CHECKPOINT = 'model_best.pth.tar';
export const SUMMARY_FILE = 'summary.csv';

/** The args dict saved in checkpoints (timm's names, snake_case). */
function argsDict(o: TrainOptions): Record<string, unknown> {
  return {
    model: o.model, num_classes: o.numClasses, epochs: o.epochs, batch_size: o.batchSize, lr: o.lr, sched: o.sched,
    min_lr: o.minLr, warmup_epochs: o.warmupEpochs, warmup_lr: o.warmupLr, opt: o.opt, momentum: o.momentum,
    weight_decay: o.weightDecay, smoothing: o.smoothing, drop: o.drop, model_ema: o.modelEma,
    model_ema_decay: o.modelEmaDecay, hflip: o.hflip, seed: o.seed, dataset: o.dataset, data_dir: o.dataDir,
    output: o.output, train_limit: o.trainLimit ?? null, eval_limit: o.evalLimit ?? null,
  };
}

/** Fills one training batch (NHWC) and its labels, drawing crops and flips from `rng`. */
function fillTrainBatch(split: PreparedSplit, order: Int32Array, first: number, hflip: number, rng: Rng, x: Float32Array, y: Int32Array): void {
  const n = y.length;
  for (let i = 0; i < n; i++) {
    const index = order[first + i]!;
    // torchvision RandomCrop draws the row offset, then the column; then the flip.
    const top = rng.int(5);
    const left = rng.int(5);
    const flip = rng.uniform() < hflip;
    writeImage(split, index, i, x, { top, left, flip });
    y[i] = split.labels[index]!;
  }
}

/** Runs (or resumes) a training run. */
export async function train(options: TrainOptions, hooks: TrainHooks = {}): Promise<TrainOutcome> {
  const log = hooks.log ?? (() => {});
  const o = options;
  if (o.dataset !== 'fashion-mnist') throw new Error(`dataset '${o.dataset}' is not supported (only fashion-mnist)`);
  const backend = await initTrainingBackend({ backend: o.backend, threads: o.threads, warn: log });
  mkdirSync(o.output, { recursive: true });
  const spec = buildSpec(o.model, { numClasses: o.numClasses, dropout: o.drop });

  const trainSplit = prepareSplit(await loadFashionMnistSplit(o.dataDir, 'train'), o.trainLimit);
  const testSplit = prepareSplit(await loadFashionMnistSplit(o.dataDir, 'test'), o.evalLimit);
  const steps = Math.floor(trainSplit.count / o.batchSize);
  if (steps < 1) throw new Error(`batch size ${o.batchSize} exceeds the ${trainSplit.count} training images`);

  let rng: Rng;
  let model: ModelState;
  let ema: ModelEma | null = null;
  let startEpoch = 0;
  let history: SummaryRow[] = [];
  let bestMetric: number | null = null;
  let bestEpoch: number | null = null;
  const sgdOptions = { momentum: o.momentum, weightDecay: o.weightDecay, nesterov: o.nesterov };
  let sgd: Sgd;
  const lastPath = path.join(o.output, LAST_CHECKPOINT);
  let lastCheckpoint: string | null = null;

  if (o.resume) {
    if (!existsSync(o.resume)) throw new Error(`checkpoint to resume not found: ${o.resume}`);
    const ck = decodeCheckpoint(spec, new Uint8Array(readFileSync(o.resume)), o.resume);
    if (ck.arch.replace(/^.*\./, '') !== spec.name) throw new Error(`${o.resume} is a ${ck.arch} checkpoint; --model is ${spec.name}`);
    model = ModelState.fromStateDict(spec, ck.stateDict);
    sgd = new Sgd(model.layouts, sgdOptions);
    sgd.loadStateDict(ck.optimizer);
    if (o.modelEma) {
      ema = ck.emaStateDict ? ModelEma.fromStateDict(spec, ck.emaStateDict, o.modelEmaDecay) : new ModelEma(model, o.modelEmaDecay);
    }
    rng = new Rng(ck.extras.rng);
    startEpoch = ck.epoch + 1;
    history = ck.extras.history.filter((r) => r.epoch <= ck.epoch);
    bestMetric = ck.extras.bestMetric;
    bestEpoch = ck.extras.bestEpoch;
    lastCheckpoint = o.resume;
    log(`resumed from ${o.resume}: epoch ${ck.epoch} done, continuing at epoch ${startEpoch}`);
  } else {
    rng = new Rng(o.seed);
    if (o.initialCheckpoint) {
      const c = readCheckpoint(new Uint8Array(readFileSync(o.initialCheckpoint)), o.initialCheckpoint);
      model = ModelState.fromStateDict(spec, c.stateDict);
      log(`initial weights from ${o.initialCheckpoint}`);
    } else {
      model = ModelState.init(spec, rng);
    }
    sgd = new Sgd(model.layouts, sgdOptions);
    if (o.modelEma) ema = new ModelEma(model, o.modelEmaDecay);
  }
  const final = { spec, model, ema, dispose: () => model.dispose() };
  const schedule = { lr: o.lr, minLr: o.minLr, epochs: o.epochs, warmupEpochs: o.warmupEpochs, warmupLr: o.warmupLr };
  const S = FASHION_MNIST_SIZE;
  const xBuf = new Float32Array(o.batchSize * S * S * 3);
  const yBuf = new Int32Array(o.batchSize);
  const dropMask = o.drop > 0 ? new Float32Array(o.batchSize * spec.headChannels) : null;
  const order = new Int32Array(trainSplit.count);

  for (let epoch = startEpoch; epoch < o.epochs; epoch++) {
    const lr = cosineLr(epoch, schedule);
    for (let i = 0; i < order.length; i++) order[i] = i;
    rng.shuffle(order);
    hooks.onEpochStart?.(epoch, steps);
    const t0 = performance.now();
    let lossSum = 0;
    for (let step = 0; step < steps; step++) {
      fillTrainBatch(trainSplit, order, step * o.batchSize, o.hflip, rng, xBuf, yBuf);
      if (dropMask) {
        const keep = 1 / (1 - o.drop);
        for (let i = 0; i < dropMask.length; i++) dropMask[i] = rng.uniform() < o.drop ? 0 : keep;
      }
      const x = tf.tensor4d(xBuf, [o.batchSize, S, S, 3]);
      const y = tf.tensor1d(yBuf, 'int32');
      const mask = dropMask ? tf.tensor2d(dropMask, [o.batchSize, spec.headChannels]) : undefined;
      let result;
      try {
        result = trainStep(model, sgd, { x, y, lr, smoothing: o.smoothing, dropoutMask: mask });
      } finally {
        tf.dispose([x, y, ...(mask ? [mask] : [])]);
      }
      if (!result.applied) {
        const where = lastCheckpoint ? `the last good checkpoint is ${lastCheckpoint} (epoch ${history.at(-1)?.epoch ?? '?'})` : 'no checkpoint was written yet';
        const message = `loss is ${result.loss} at epoch ${epoch} step ${step}: training stopped before applying the update; ${where}`;
        log(message);
        return { status: 'nan', message, history, bestMetric, bestEpoch, backend, lastCheckpoint, final };
      }
      ema?.update(model);
      lossSum += result.loss;
      const seconds = (performance.now() - t0) / 1000;
      hooks.onStep?.({ epoch, epochs: o.epochs, step, steps, batchSize: o.batchSize, loss: result.loss, lr, imagesPerSecond: ((step + 1) * o.batchSize) / seconds });
    }
    const trainSeconds = (performance.now() - t0) / 1000;
    const raw = evalWith(EvalWeights.fromModel(model), spec, testSplit, o.evalBatchSize);
    const emaResult = ema ? evalWith(EvalWeights.fromFloatState(spec, ema.state), spec, testSplit, o.evalBatchSize) : null;
    const row: SummaryRow = {
      epoch, train_loss: lossSum / steps, eval_loss: raw.loss, eval_top1: raw.top1, eval_top5: raw.top5,
      eval_top1_ema: emaResult ? emaResult.top1 : null, lr, seconds: trainSeconds,
      images_per_s: (steps * o.batchSize) / trainSeconds,
    };
    history.push(row);
    // timm tracks the EMA's metric when EMA is on.
    const metric = emaResult ? emaResult.top1 : raw.top1;
    const improved = bestMetric === null || metric > bestMetric;
    if (improved) { bestMetric = metric; bestEpoch = epoch; }
    const ck: TrainingCheckpoint = {
      epoch, arch: spec.name, stateDict: model.toStateDict(),
      emaStateDict: ema ? emaStateDict(spec, ema) : null,
      optimizer: sgd.stateDict(lr), args: argsDict(o), metric,
      extras: { rng: rng.state(), bestMetric, bestEpoch, history },
    };
    const bytes = encodeCheckpoint(spec, ck);
    writeFileAtomic(lastPath, bytes);
    lastCheckpoint = lastPath;
    if (improved) writeFileAtomic(path.join(o.output, BEST_CHECKPOINT), bytes);
    writeFileAtomic(path.join(o.output, SUMMARY_FILE), new TextEncoder().encode(summaryCsv(history)));
    hooks.onEpochEnd?.(row);
    log(`epoch ${epoch}: train_loss ${row.train_loss.toFixed(4)} top1 ${row.eval_top1.toFixed(2)}` +
      `${emaResult ? ` top1_ema ${emaResult.top1.toFixed(2)}` : ''} lr ${lr.toPrecision(4)} ` +
      `${trainSeconds.toFixed(1)} s (${row.images_per_s.toFixed(1)} img/s)${improved ? ' *best*' : ''}`);
  }
  return { status: 'completed', history, bestMetric, bestEpoch, backend, lastCheckpoint, final };
}

function evalWith(weights: EvalWeights, spec: ModelSpec, split: PreparedSplit, batchSize: number): EvalResult {
  try {
    return evaluate(spec, weights, split, batchSize);
  } finally {
    weights.dispose();
  }
}

function emaStateDict(spec: ModelSpec, ema: ModelEma): StateDict {
  return floatStateToStateDict(spec, ema.state, (bn) => ema.numBatchesTracked.get(bn)!);
}
