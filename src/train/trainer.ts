/**
 * The training loop of `repghost train`: timm's train.py recipe, on Fashion-MNIST (see
 * shared/reference/fashion_mnist.md) or an ImageFolder, with exact resumption. Per
 * epoch: the LR of the schedule (cosine or step with warm-up, or constant), a seeded
 * shuffle, augmented batches (last partial batch dropped; ImageFolder batches decoded
 * and augmented by data workers ahead of the step), one step per batch with SGD,
 * momentum SGD or AdamW, EMA after every step, evaluation of the raw and EMA weights,
 * then `last.pth.tar` (and `model_best.pth.tar` when the tracked top-1 improves) and
 * `summary.csv`, all written atomically. Everything random comes from one seeded PRNG
 * whose state is saved in the checkpoint, so a run killed at any point and resumed
 * from its last checkpoint repeats exactly what the uninterrupted run would do.
 * A NaN/Inf loss stops training before the update; the last good checkpoint stays.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { buildSpec, type ModelSpec } from '../spec/index.js';
import { initTrainingBackend, type TrainBackendName } from './backend.js';
import { describeKernels } from './kernels/native.js';
import { decodeCheckpoint, encodeCheckpoint, peekCheckpoint, type SummaryRow, type TrainingCheckpoint } from './checkpoint.js';
import { removeStaleTempFiles, writeFileAtomicSync as writeFileAtomic } from '../node/atomic-write.js';
import { createOptimizer } from './create-optimizer.js';
import { openTrainingData } from './data/open.js';
import type { DataBatch, SkippedImage, TrainingData } from './data/source.js';
import { ModelEma } from './ema.js';
import { evaluateStream, type EvalResult } from './evaluate.js';
import { frozenParts, type FrozenParts } from './freeze.js';
import { loadInitialWeights } from './initial-weights.js';
import { paramLayouts } from './layout.js';
import { scheduledLr, type Schedule } from './lr-schedule.js';
import type { Optimizer, ParamState } from './optimizer.js';
import { Rng } from './rng.js';
import { floatStateToStateDict, ModelState } from './state.js';
import type { StateDict } from '../weights/tensor.js';
import { summaryCsv } from './summary.js';
import { trainStep } from './train-step.js';
import { EvalWeights } from './weights.js';

export { DEFAULT_TRAIN_OPTIONS, type TrainOptions } from './options.js';
import { trainArgs, type TrainOptions } from './options.js';

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
  /** Class names of an ImageFolder run (index order), else null. */
  classes: string[] | null;
  /** The model and EMA at the end (caller disposes via `dispose`). */
  final: { spec: ModelSpec; model: ModelState; ema: ModelEma | null; dispose(): void };
}

/** File names in the output directory. */
export const LAST_CHECKPOINT = 'last.pth.tar';
export const BEST_CHECKPOINT = 'model_best.pth.tar';
export const SUMMARY_FILE = 'summary.csv';

/** The classifier size: the data's class count; a different --num-classes is refused rather than guessed around. */
function resolveNumClasses(o: TrainOptions, data: TrainingData): number {
  if (o.numClasses !== undefined && o.numClasses !== data.numClasses) {
    const what = data.kind === 'imagefolder' ? `${o.dataDir} has ${data.numClasses} class folders` : `Fashion-MNIST has ${data.numClasses} classes`;
    throw new Error(`${what} but --num-classes is ${o.numClasses}: leave --num-classes out (it defaults to the classes found)`);
  }
  return data.numClasses;
}

/**
 * A resumed checkpoint must come from the same kind of run: model, dataset, optimizer and
 * frozen stages (which decide the optimizer state's layout), checked before that state is
 * decoded; then the same classes.
 */
function checkResumable(ck: { arch: string | null; args: Record<string, unknown> }, o: TrainOptions, spec: ModelSpec): void {
  const file = o.resume!;
  if (ck.arch !== null && ck.arch.replace(/^.*\./, '') !== spec.name) throw new Error(`${file} is a ${ck.arch} checkpoint; --model is ${spec.name}`);
  const same = (key: string, now: unknown, flag: string): void => {
    const before = ck.args[key];
    if (before !== undefined && (before ?? null) !== (now ?? null)) {
      throw new Error(`${file} was trained with ${flag} ${before ?? '(none)'}; this run has ${flag} ${now ?? '(none)'}: resume with the same setting`);
    }
  };
  same('dataset', o.dataset, '--dataset');
  same('opt', o.opt, '--opt');
  same('freeze_stages', o.freezeStages, '--freeze-stages');
}

function checkSameClasses(saved: string[] | undefined, o: TrainOptions, data: TrainingData): void {
  if (data.classes && saved && data.classes.join('\n') !== saved.join('\n')) {
    throw new Error(`${o.resume} was trained on classes ${saved.slice(0, 4).join(', ')}...; ${o.dataDir} has ${data.classes.slice(0, 4).join(', ')}...: not the same dataset`);
  }
}

/** Describes what --freeze-stages froze, for the log. */
function describeFrozen(o: TrainOptions, parts: FrozenParts): string {
  const stages = o.freezeStages!;
  const blocks = stages ? `, blocks.0${stages > 1 ? `..blocks.${stages - 1}` : ''}` : '';
  return `frozen: conv_stem, bn1${blocks} (${parts.params.size} parameters without gradient; ${parts.batchNorms.size} BatchNorms keep their running statistics)`;
}

/** Runs (or resumes) a training run. */
export async function train(options: TrainOptions, hooks: TrainHooks = {}): Promise<TrainOutcome> {
  const log = hooks.log ?? (() => {});
  const o = options;
  if (o.dataset !== 'fashion-mnist' && o.dataset !== 'imagefolder') throw new Error(`dataset '${String(o.dataset)}' is not supported (fashion-mnist, imagefolder)`);
  const backend = await initTrainingBackend({ backend: o.backend, threads: o.threads, warn: log });
  mkdirSync(o.output, { recursive: true });
  removeStaleTempFiles(o.output); // temp files of a writer killed mid-checkpoint
  let data: TrainingData | null = null;
  try {
    data = await openTrainingData(o);
    return await run(o, data, backend, hooks, log);
  } finally {
    await data?.close();
  }
}

async function run(o: TrainOptions, data: TrainingData, backend: TrainBackendName, hooks: TrainHooks, log: (line: string) => void): Promise<TrainOutcome> {
  const numClasses = resolveNumClasses(o, data);
  const spec = buildSpec(o.model, { numClasses, dropout: o.drop });
  const steps = Math.floor(data.trainCount / o.batchSize);
  if (steps < 1) throw new Error(`batch size ${o.batchSize} exceeds the ${data.trainCount} training images`);
  if (data.kind === 'imagefolder') {
    log(`${o.dataDir}: ${data.trainCount} training and ${data.evalCount} validation images, ${numClasses} classes; ${o.workers} data worker${o.workers === 1 ? '' : 's'}`);
  }
  const frozen = frozenParts(spec, paramLayouts(spec), o.freezeStages);
  const optimizer: Optimizer = createOptimizer(o, paramLayouts(spec), (k) => !frozen.params.has(k));

  let rng: Rng;
  let model: ModelState;
  let ema: ModelEma | null = null;
  let startEpoch = 0;
  let history: SummaryRow[] = [];
  let bestMetric: number | null = null;
  let bestEpoch: number | null = null;
  const lastPath = path.join(o.output, LAST_CHECKPOINT);
  let lastCheckpoint: string | null = null;

  if (o.resume) {
    if (!existsSync(o.resume)) throw new Error(`checkpoint to resume not found: ${o.resume}`);
    const bytes = new Uint8Array(readFileSync(o.resume));
    checkResumable(peekCheckpoint(bytes, o.resume), o, spec);
    const ck = decodeCheckpoint<ParamState>(spec, bytes, o.resume, optimizer.order);
    checkSameClasses(ck.extras.classes, o, data);
    model = ModelState.fromStateDict(spec, ck.stateDict);
    optimizer.loadStateDict(ck.optimizer);
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
    if (o.pretrained) {
      // The hub code loads only when asked for; the file is the verified cache entry.
      const { resolvePretrained } = await import('../hub/download.js');
      const r = await resolvePretrained(o.model, o.source ? { source: o.source } : {});
      log(`pretrained ${r.model} (${r.source}${r.ema ? ', EMA weights' : ''}) from ${r.path}`);
      const init = loadInitialWeights(spec, r.path, rng, { ema: r.ema });
      model = init.model;
      if (init.reinitializedFrom !== null) log(`its ${init.reinitializedFrom}-class classifier re-initialized for ${numClasses} classes`);
    } else if (o.initialCheckpoint) {
      if (!existsSync(o.initialCheckpoint)) throw new Error(`initial checkpoint not found: ${o.initialCheckpoint}`);
      const init = loadInitialWeights(spec, o.initialCheckpoint, rng);
      model = init.model;
      if (init.expandedFromDeploy) log(`${o.initialCheckpoint} holds deploy-form weights: expanded to the training form (same eval-mode function)`);
      log(init.reinitializedFrom === null
        ? `initial weights from ${o.initialCheckpoint}`
        : `initial weights from ${o.initialCheckpoint}, except its ${init.reinitializedFrom}-class classifier: classifier.weight and classifier.bias re-initialized for ${numClasses} classes`);
    } else {
      model = ModelState.init(spec, rng);
    }
    if (o.modelEma) ema = new ModelEma(model, o.modelEmaDecay);
  }
  if (o.freezeStages !== undefined) {
    model.freeze(frozen);
    log(describeFrozen(o, frozen));
  }
  const final = { spec, model, ema, dispose: () => model.dispose() };
  const schedule: Schedule = {
    sched: o.sched, lr: o.lr, minLr: o.minLr, epochs: o.epochs, warmupEpochs: o.warmupEpochs, warmupLr: o.warmupLr,
    decayEpochs: o.decayEpochs, decayRate: o.decayRate,
  };
  const dropMask = o.drop > 0 ? new Float32Array(o.batchSize * spec.headChannels) : null;
  const S = data.inputSize;
  const warned = new Set<string>();
  const reportSkipped = (skipped: readonly SkippedImage[]): void => {
    for (const s of skipped) {
      if (warned.has(s.file)) continue; // once per file, not once per epoch
      warned.add(s.file);
      log(`warning: skipped: ${s.reason.includes(s.file) ? s.reason : `${s.file}: ${s.reason}`}`);
    }
  };

  // After every input check, so a bad input's error stays the only line of output.
  log(`training on the tfjs ${backend} backend with ${describeKernels()}`);
  for (let epoch = startEpoch; epoch < o.epochs; epoch++) {
    const lr = scheduledLr(epoch, schedule);
    const batches = data.epoch(rng, o.batchSize, steps);
    hooks.onEpochStart?.(epoch, steps);
    const t0 = performance.now();
    let lossSum = 0;
    let stepsRun = 0;
    let images = 0;
    let skippedTrain = 0;
    try {
      for (let step = 0; step < steps; step++) {
        const batch: DataBatch = await batches.next();
        reportSkipped(batch.skipped);
        skippedTrain += batch.skipped.length;
        const n = batch.n;
        if (n === 0) {
          log(`epoch ${epoch} step ${step}: no readable image in the batch, step skipped`);
          continue;
        }
        const mask = dropMask?.subarray(0, n * spec.headChannels);
        if (mask) {
          const keep = 1 / (1 - o.drop);
          for (let i = 0; i < mask.length; i++) mask[i] = rng.uniform() < o.drop ? 0 : keep;
        }
        const x = tf.tensor4d(batch.x.subarray(0, n * S * S * 3), [n, S, S, 3]);
        const y = tf.tensor1d(batch.y.subarray(0, n), 'int32');
        const maskTensor = mask ? tf.tensor2d(mask, [n, spec.headChannels]) : undefined;
        let result;
        try {
          result = trainStep(model, optimizer, { x, y, lr, smoothing: o.smoothing, dropoutMask: maskTensor });
        } finally {
          tf.dispose([x, y, ...(maskTensor ? [maskTensor] : [])]);
        }
        if (!result.applied) {
          const where = lastCheckpoint ? `the last good checkpoint is ${lastCheckpoint} (epoch ${history.at(-1)?.epoch ?? '?'})` : 'no checkpoint was written yet';
          const message = `loss is ${result.loss} at epoch ${epoch} step ${step}: training stopped before applying the update; ${where}`;
          log(message);
          return { status: 'nan', message, history, bestMetric, bestEpoch, backend, lastCheckpoint, classes: data.classes, final };
        }
        ema?.update(model);
        lossSum += result.loss;
        stepsRun++;
        images += n;
        const seconds = (performance.now() - t0) / 1000;
        hooks.onStep?.({ epoch, epochs: o.epochs, step, steps, batchSize: n, loss: result.loss, lr, imagesPerSecond: images / seconds });
      }
    } finally {
      batches.close();
    }
    if (!stepsRun) throw new Error(`epoch ${epoch}: no training image could be read (see the warnings above)`);
    const trainSeconds = (performance.now() - t0) / 1000;
    const [raw, emaResult] = await evaluateModels(spec, model, ema, data, o.evalBatchSize, reportSkipped);
    const row: SummaryRow = {
      epoch, train_loss: lossSum / stepsRun, eval_loss: raw.loss, eval_top1: raw.top1, eval_top5: raw.top5,
      eval_top1_ema: emaResult ? emaResult.top1 : null, lr, seconds: trainSeconds,
      images_per_s: images / trainSeconds,
    };
    history.push(row);
    // timm tracks the EMA's metric when EMA is on.
    const metric = emaResult ? emaResult.top1 : raw.top1;
    const improved = bestMetric === null || metric > bestMetric;
    if (improved) { bestMetric = metric; bestEpoch = epoch; }
    const ck: TrainingCheckpoint<ParamState> = {
      epoch, arch: spec.name, stateDict: model.toStateDict(),
      emaStateDict: ema ? emaStateDict(spec, ema) : null,
      optimizer: optimizer.stateDict(lr), args: { ...trainArgs(o, numClasses, S), ...(data.classes ? { class_names: [...data.classes] } : {}) }, metric,
      extras: { rng: rng.state(), bestMetric, bestEpoch, history, ...(data.classes ? { classes: data.classes } : {}) },
    };
    const bytes = encodeCheckpoint(spec, ck, optimizer.order);
    writeFileAtomic(lastPath, bytes);
    lastCheckpoint = lastPath;
    if (improved) writeFileAtomic(path.join(o.output, BEST_CHECKPOINT), bytes);
    writeFileAtomic(path.join(o.output, SUMMARY_FILE), new TextEncoder().encode(summaryCsv(history)));
    hooks.onEpochEnd?.(row);
    const unreadable = skippedTrain ? `; ${skippedTrain} unreadable training image${skippedTrain > 1 ? 's' : ''} skipped` : '';
    log(`epoch ${epoch}: train_loss ${row.train_loss.toFixed(4)} top1 ${row.eval_top1.toFixed(2)}` +
      `${emaResult ? ` top1_ema ${emaResult.top1.toFixed(2)}` : ''} lr ${lr.toPrecision(4)} ` +
      `${trainSeconds.toFixed(1)} s (${row.images_per_s.toFixed(1)} img/s)${unreadable}${improved ? ' *best*' : ''}`);
  }
  return { status: 'completed', history, bestMetric, bestEpoch, backend, lastCheckpoint, classes: data.classes, final };
}

/** Evaluates the raw model and the EMA in one pass over the evaluation set. */
async function evaluateModels(
  spec: ModelSpec, model: ModelState, ema: ModelEma | null, data: TrainingData, batchSize: number,
  reportSkipped: (s: readonly SkippedImage[]) => void,
): Promise<[EvalResult, EvalResult | null]> {
  const weights = [EvalWeights.fromModel(model), ...(ema ? [EvalWeights.fromFloatState(spec, ema.state)] : [])];
  async function* batches(): AsyncIterable<DataBatch> {
    for await (const b of data.evalBatches(batchSize)) {
      reportSkipped(b.skipped);
      yield b;
    }
  }
  try {
    const results = await evaluateStream(spec, weights, batches());
    if (!results[0]!.count) throw new Error('no evaluation image could be read (see the warnings above)');
    return [results[0]!, results[1] ?? null];
  } finally {
    for (const w of weights) w.dispose();
  }
}

function emaStateDict(spec: ModelSpec, ema: ModelEma): StateDict {
  return floatStateToStateDict(spec, ema.state, (bn) => ema.numBatchesTracked.get(bn)!);
}
