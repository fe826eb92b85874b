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
 *
 * Started by mpirun (see src/distributed), the same loop runs data-parallel as timm's
 * train.py under DistributedDataParallel; docs/distributed-semantics.md lists what is kept
 * identical across ranks and world sizes.
 */
import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { buildSpec, type ModelSpec } from '../spec/index.js';
import { allreduceIdentical, type Communicator } from '../distributed/communicator.js';
import { DataParallel, distributeBuffers } from '../distributed/data-parallel.js';
import { joinWorld, localRanks } from '../distributed/mpi.js';
import { initTrainingBackend, type TrainBackendName } from './backend.js';
import { describeKernels } from './kernels/native.js';
import { encodeCheckpoint, type SummaryRow, type TrainingCheckpoint } from './checkpoint.js';
import { removeStaleTempFiles, writeFileAtomicSync as writeFileAtomic } from '../node/atomic-write.js';
import { createOptimizer } from './create-optimizer.js';
import { shardSteps } from './data/distributed-sampler.js';
import { openTrainingData } from './data/open.js';
import type { DataBatch, SkippedImage, TrainingData } from './data/source.js';
import { ModelEma } from './ema.js';
import { evaluateStream, type EvalResult } from './evaluate.js';
import { frozenParts, type FrozenParts } from './freeze.js';
import { paramLayouts } from './layout.js';
import { scheduledLr, type Schedule } from './lr-schedule.js';
import type { Optimizer, ParamState } from './optimizer.js';
import { freshRun, resumeRun, type RunStart } from './run-start.js';
import { floatStateToStateDict, type ModelState } from './state.js';
import { runEpochSteps, type EpochSteps } from './step-loop.js';
import type { StateDict } from '../weights/tensor.js';
import { summaryCsv } from './summary.js';
import { EvalWeights } from './weights.js';
import { setBatchNormSync } from './kernels/batch-norm.js';

export { DEFAULT_TRAIN_OPTIONS, type TrainOptions } from './options.js';
import { BEST_CHECKPOINT, LAST_CHECKPOINT, SUMMARY_FILE, trainArgs, type TrainOptions } from './options.js';
export { LAST_CHECKPOINT, BEST_CHECKPOINT, SUMMARY_FILE } from './options.js';

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

/** Callbacks of {@link train}. In a data-parallel run only rank 0 calls them. */
export interface TrainHooks {
  log?: (line: string) => void;
  onStep?: (p: StepProgress) => void;
  onEpochStart?: (epoch: number, steps: number) => void;
  onEpochEnd?: (row: SummaryRow) => void;
}

/** A data-parallel run's shape and the cost of its gradient allreduce (last epoch). */
export interface DistributedInfo {
  worldSize: number;
  rank: number;
  /** Bytes of the flat gradient buffer allreduced every step. */
  gradientBytes: number;
  /** Milliseconds per step in the allreduce, and its share of the step (last epoch). */
  allreduceMsPerStep: number;
  allreduceShare: number;
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
  /** Set in a data-parallel run (started by mpirun). */
  distributed: DistributedInfo | null;
  /** The model and EMA at the end (caller disposes via `dispose`). */
  final: { spec: ModelSpec; model: ModelState; ema: ModelEma | null; dispose(): void };
}

/**
 * The args dict saved in checkpoints: the option table's timm names, plus what a data-parallel
 * run adds (timm records `distributed` and `world_size` too; -b is per rank).
 */
function argsDict(
  o: TrainOptions,
  numClasses: number,
  inputSize: number,
  comm: Communicator | null,
  classes: readonly string[] | null,
): Record<string, unknown> {
  // class_names (ours, not timm's): what `repghost validate` maps class folders by.
  return {
    ...trainArgs(o, numClasses, inputSize),
    distributed: comm !== null,
    world_size: comm?.size ?? 1,
    ...(classes ? { class_names: [...classes] } : {}),
  };
}

/** `--pretrained`: the published weights of --model from the download cache (fetched once). */
async function resolvePretrainedWeights(
  o: TrainOptions,
  log: (line: string) => void,
): Promise<{ path: string; ema: boolean }> {
  // The hub code loads only when asked for; the file is the verified cache entry.
  const { resolvePretrained } = await import('../hub/download.js');
  const r = await resolvePretrained(o.model, o.source ? { source: o.source } : {});
  log(`pretrained ${r.model} (${r.source}${r.ema ? ', EMA weights' : ''}) from ${r.path}`);
  return { path: r.path, ema: r.ema };
}

/** The classifier size: the data's class count; a different --num-classes is refused rather than guessed around. */
function resolveNumClasses(o: TrainOptions, data: TrainingData): number {
  if (o.numClasses !== undefined && o.numClasses !== data.numClasses) {
    const what =
      data.kind === 'imagefolder'
        ? `${o.dataDir} has ${data.numClasses} class folders`
        : `Fashion-MNIST has ${data.numClasses} classes`;
    throw new Error(
      `${what} but the 'numClasses' option is ${o.numClasses}: leave it out (it defaults to the classes found)`,
    );
  }
  return data.numClasses;
}

/** Describes what --freeze-stages froze, for the log. */
function describeFrozen(o: TrainOptions, parts: FrozenParts): string {
  const stages = o.freezeStages!;
  const blocks = stages ? `, blocks.0${stages > 1 ? `..blocks.${stages - 1}` : ''}` : '';
  return (
    `frozen: conv_stem, bn1${blocks} (${parts.params.size} parameters without gradient; ` +
    `${parts.batchNorms.size} BatchNorms keep their running statistics)`
  );
}

/**
 * Runs (or resumes) a training run. Under mpirun every rank calls it with the same options;
 * rank 0 alone logs, reports progress and writes files.
 */
export async function train(options: TrainOptions, hooks: TrainHooks = {}): Promise<TrainOutcome> {
  const o = options;
  const comm = joinWorld();
  if (comm && comm.rank !== 0) hooks = {};
  const log = hooks.log ?? (() => {});
  // JavaScript callers can pass anything.
  if (o.dataset !== 'fashion-mnist' && (o.dataset as string) !== 'imagefolder')
    throw new Error(`dataset '${o.dataset as string}' is not supported (fashion-mnist, imagefolder)`);
  if (o.syncBn && !comm) log('warning: --sync-bn has no effect in a single process (start with mpirun or --nproc)');
  // Ranks sharing a machine share its cores.
  const threads = o.threads ?? (comm ? Math.max(1, Math.floor(availableParallelism() / localRanks())) : undefined);
  const backend = await initTrainingBackend({ backend: o.backend, threads, warn: log });
  if (!comm || comm.rank === 0) {
    mkdirSync(o.output, { recursive: true });
    removeStaleTempFiles(o.output); // temp files of a writer killed mid-checkpoint
  }
  let data: TrainingData | null = null;
  try {
    data = await openTrainingData(o);
    return await run(o, data, backend, hooks, log, comm);
  } finally {
    setBatchNormSync(null);
    await data?.close();
  }
}

/** Everything an epoch needs, fixed for the run. */
interface Run {
  o: TrainOptions;
  data: TrainingData;
  spec: ModelSpec;
  optimizer: Optimizer;
  model: ModelState;
  ema: ModelEma | null;
  comm: Communicator | null;
  ddp: DataParallel | null;
  steps: number;
  numClasses: number;
  log: (line: string) => void;
  hooks: TrainHooks;
  reportSkipped: (s: readonly SkippedImage[]) => void;
}

async function run(
  o: TrainOptions,
  data: TrainingData,
  backend: TrainBackendName,
  hooks: TrainHooks,
  log: (line: string) => void,
  comm: Communicator | null,
): Promise<TrainOutcome> {
  const numClasses = resolveNumClasses(o, data);
  const spec = buildSpec(o.model, { numClasses, dropout: o.drop });
  const world = comm?.size ?? 1;
  const steps = comm ? shardSteps(data.trainCount, world, o.batchSize) : Math.floor(data.trainCount / o.batchSize);
  if (steps < 1) {
    throw new Error(
      `batch size ${o.batchSize} exceeds the ` +
        (comm
          ? `${Math.ceil(data.trainCount / world)} training images of each of ${world} ranks`
          : `${data.trainCount} training images`),
    );
  }
  if (data.kind === 'imagefolder') {
    log(
      `${o.dataDir}: ${data.trainCount} training and ${data.evalCount} validation images, ${numClasses} classes; ` +
        `${o.workers} data worker${o.workers === 1 ? '' : 's'}`,
    );
  }
  const frozen = frozenParts(spec, paramLayouts(spec), o.freezeStages);
  const optimizer: Optimizer = createOptimizer(o, paramLayouts(spec), (k) => !frozen.params.has(k));
  const pretrained = o.pretrained && !o.resume ? await resolvePretrainedWeights(o, log) : undefined;
  const start: RunStart = o.resume ? resumeRun(o, spec, optimizer, data, log) : freshRun(o, spec, log, pretrained);
  const model = start.model;
  if (start.resumedWorldSize !== null && start.resumedWorldSize !== world) {
    log(
      `warning: ${o.resume} was trained with ` +
        `${start.resumedWorldSize} process${start.resumedWorldSize > 1 ? 'es' : ''}, ` +
        `this run has ${world}: ` +
        'the data order and the batch statistics differ from the unbroken run',
    );
  }
  if (o.freezeStages !== undefined) {
    model.freeze(frozen);
    log(describeFrozen(o, frozen));
  }
  let ddp: DataParallel | null = null;
  if (comm) {
    ddp = new DataParallel(comm, model);
    ddp.broadcastInitialState(); // rank 0's weights everywhere, as DDP does at construction
    if (o.syncBn) setBatchNormSync({ comm });
    log(
      `data-parallel: ${world} process${world > 1 ? 'es' : ''} x batch ${o.batchSize} ` +
        `(global batch ${world * o.batchSize}), ` +
        `gradients averaged in one ${(ddp.gradients.bytes / 1e6).toFixed(1)} ` +
        `MB buffer${o.syncBn ? ', synchronized BatchNorm' : ''}`,
    );
  }
  // On every rank, from the replicated weights (timm keeps a ModelEmaV2 on every rank too).
  const ema = o.modelEma ? (start.ema ?? new ModelEma(model, o.modelEmaDecay)) : null;
  const final = { spec, model, ema, dispose: () => model.dispose() };
  const warned = new Set<string>();
  const reportSkipped = (skipped: readonly SkippedImage[]): void => {
    for (const s of skipped) {
      if (warned.has(s.file)) continue; // once per file, not once per epoch
      warned.add(s.file);
      log(`warning: skipped: ${s.reason.includes(s.file) ? s.reason : `${s.file}: ${s.reason}`}`);
    }
  };
  const r: Run = { o, data, spec, optimizer, model, ema, comm, ddp, steps, numClasses, log, hooks, reportSkipped };
  const schedule: Schedule = {
    sched: o.sched,
    lr: o.lr,
    minLr: o.minLr,
    epochs: o.epochs,
    warmupEpochs: o.warmupEpochs,
    warmupLr: o.warmupLr,
    decayEpochs: o.decayEpochs,
    decayRate: o.decayRate,
  };
  const { history } = start;
  let { bestMetric, bestEpoch, lastCheckpoint } = start;
  let distributed: DistributedInfo | null = null;
  /** What a run returns however it ends, as it stands now. */
  const outcome = () => ({
    history,
    bestMetric,
    bestEpoch,
    backend,
    lastCheckpoint,
    classes: data.classes,
    distributed,
    final,
  });
  // After every input check, so a bad input's error stays the only line of output.
  log(`training on the tfjs ${backend} backend with ${describeKernels()}`);
  for (let epoch = start.startEpoch; epoch < o.epochs; epoch++) {
    const lr = scheduledLr(epoch, schedule);
    hooks.onEpochStart?.(epoch, steps);
    const where = (): string =>
      lastCheckpoint
        ? `the last good checkpoint is ${lastCheckpoint} (epoch ${history.at(-1)?.epoch ?? '?'})`
        : 'no checkpoint was written yet';
    const done = await runEpochSteps({ ...r, rng: start.rng, onStep: hooks.onStep }, epoch, lr, where);
    if (done.nanMessage) {
      log(done.nanMessage);
      return { status: 'nan', message: done.nanMessage, ...outcome() };
    }
    const totals = reduceEpochTotals(comm, done);
    if (!totals.stepsRun) throw new Error(`epoch ${epoch}: no training image could be read (see the warnings above)`);
    if (comm && o.distBn) distributeBatchNorm(r);
    const [raw, emaResult] = await evaluateModels(r);
    const row: SummaryRow = {
      epoch,
      train_loss: totals.lossSum / totals.stepsRun,
      eval_loss: raw.loss,
      eval_top1: raw.top1,
      eval_top5: raw.top5,
      eval_top1_ema: emaResult ? emaResult.top1 : null,
      lr,
      seconds: done.seconds,
      images_per_s: totals.images / done.seconds,
    };
    history.push(row);
    // timm tracks the EMA's metric when EMA is on.
    const metric = emaResult ? emaResult.top1 : raw.top1;
    const improved = bestMetric === null || metric > bestMetric;
    if (improved) {
      bestMetric = metric;
      bestEpoch = epoch;
    }
    if (!comm || comm.rank === 0) {
      saveEpoch(r, { epoch, lr, metric, improved, rngState: start.rng.state(), bestMetric, bestEpoch, history });
    }
    lastCheckpoint = path.join(o.output, LAST_CHECKPOINT);
    if (ddp) {
      const msPerStep = done.allreduceMs / Math.max(1, done.stepsRun);
      distributed = {
        worldSize: comm!.size,
        rank: comm!.rank,
        gradientBytes: ddp.gradients.bytes,
        allreduceMsPerStep: msPerStep,
        allreduceShare: done.allreduceMs / (done.seconds * 1000),
      };
    }
    hooks.onEpochEnd?.(row);
    logEpoch(log, row, emaResult, done, improved, distributed);
  }
  return { status: 'completed', ...outcome() };
}

/** The job's loss sum, steps and images of an epoch (each rank's share summed; exact in float64). */
function reduceEpochTotals(
  comm: Communicator | null,
  done: EpochSteps,
): { lossSum: number; stepsRun: number; images: number } {
  if (!comm) return done;
  const t = Float64Array.of(done.lossSum, done.stepsRun, done.images);
  allreduceIdentical(comm, t);
  // The loss is the mean over ranks of each step's loss: every rank runs the same number of steps.
  return { lossSum: t[0]! / comm.size, stepsRun: t[1]! / comm.size, images: t[2]! };
}

/** timm's distribute_bn at the epoch end (--dist-bn): on the model, and on the EMA. */
function distributeBatchNorm(r: Run): void {
  const mode = r.o.distBn === 'reduce' ? 'reduce' : 'broadcast';
  const modelBuffers = [...r.model.bn.values()].flatMap((b) => [b.mean, b.variance]);
  distributeBuffers(r.comm!, modelBuffers, mode);
  if (r.ema) {
    const emaBuffers = [...r.model.bn.keys()].flatMap((bn) => [
      r.ema!.state.get(`${bn}.running_mean`)!,
      r.ema!.state.get(`${bn}.running_var`)!,
    ]);
    distributeBuffers(r.comm!, emaBuffers, mode);
  }
}

/** Writes last.pth.tar (model_best.pth.tar when improved) and summary.csv, atomically. */
function saveEpoch(
  r: Run,
  e: {
    epoch: number;
    lr: number;
    metric: number;
    improved: boolean;
    rngState: [number, number, number, number];
    bestMetric: number | null;
    bestEpoch: number | null;
    history: SummaryRow[];
  },
): void {
  const { spec, optimizer, o, data } = r;
  const ck: TrainingCheckpoint<ParamState> = {
    epoch: e.epoch,
    arch: spec.name,
    stateDict: r.model.toStateDict(),
    emaStateDict: r.ema ? emaStateDict(spec, r.ema) : null,
    optimizer: optimizer.stateDict(e.lr),
    args: argsDict(o, r.numClasses, data.inputSize, r.comm, data.classes),
    metric: e.metric,
    extras: {
      rng: e.rngState,
      bestMetric: e.bestMetric,
      bestEpoch: e.bestEpoch,
      history: e.history,
      ...(data.classes ? { classes: data.classes } : {}),
    },
  };
  const bytes = encodeCheckpoint(spec, ck, optimizer.order);
  writeFileAtomic(path.join(o.output, LAST_CHECKPOINT), bytes);
  if (e.improved) writeFileAtomic(path.join(o.output, BEST_CHECKPOINT), bytes);
  writeFileAtomic(path.join(o.output, SUMMARY_FILE), new TextEncoder().encode(summaryCsv(e.history)));
}

function logEpoch(
  log: (line: string) => void,
  row: SummaryRow,
  emaResult: EvalResult | null,
  done: EpochSteps,
  improved: boolean,
  dist: DistributedInfo | null,
): void {
  const unreadable = done.skipped
    ? `; ${done.skipped} unreadable training image${done.skipped > 1 ? 's' : ''} skipped`
    : '';
  const share = dist
    ? `; allreduce ${dist.allreduceMsPerStep.toFixed(1)} ms/step ` +
      `(${(100 * dist.allreduceShare).toFixed(1)} % of the step)`
    : '';
  log(
    `epoch ${row.epoch}: train_loss ${row.train_loss.toFixed(4)} top1 ${row.eval_top1.toFixed(2)}` +
      `${emaResult ? ` top1_ema ${emaResult.top1.toFixed(2)}` : ''} lr ${row.lr.toPrecision(4)} ` +
      `${row.seconds.toFixed(1)} s (${row.images_per_s.toFixed(1)} img/s)` +
      `${share}${unreadable}${improved ? ' *best*' : ''}`,
  );
}

/**
 * Evaluates the raw model and the EMA in one pass over the evaluation set. In a
 * data-parallel run each rank scores its own slice and the sums are reduced exactly, so
 * every image counts once (timm instead averages padded per-rank batch means).
 */
async function evaluateModels(r: Run): Promise<[EvalResult, EvalResult | null]> {
  const { spec, model, ema, data, comm } = r;
  const weights = [EvalWeights.fromModel(model), ...(ema ? [EvalWeights.fromFloatState(spec, ema.state)] : [])];
  const part = comm ? { rank: comm.rank, world: comm.size } : undefined;
  async function* batches(): AsyncIterable<DataBatch> {
    for await (const b of data.evalBatches(r.o.evalBatchSize, part)) {
      r.reportSkipped(b.skipped);
      yield b;
    }
  }
  try {
    let results = await evaluateStream(spec, weights, batches());
    if (comm) results = reduceEvalResults(comm, results);
    if (!results[0]!.count) throw new Error('no evaluation image could be read (see the warnings above)');
    return [results[0]!, results[1] ?? null];
  } finally {
    for (const w of weights) w.dispose();
  }
}

/** Sums of loss and hits over ranks (float64; hit counts are integers, exact), back to means. */
function reduceEvalResults(comm: Communicator, results: EvalResult[]): EvalResult[] {
  const sums = new Float64Array(results.length * 4);
  results.forEach((e, k) => {
    const c = e.count;
    if (c) sums.set([e.loss * c, Math.round((e.top1 * c) / 100), Math.round((e.top5 * c) / 100), c], k * 4);
  });
  allreduceIdentical(comm, sums);
  return results.map((_, k) => {
    const [nll = 0, hit1 = 0, hit5 = 0, c = 0] = Array.from(sums.subarray(k * 4, k * 4 + 4));
    return { loss: nll / c, top1: (100 * hit1) / c, top5: (100 * hit5) / c, count: c };
  });
}

function emaStateDict(spec: ModelSpec, ema: ModelEma): StateDict {
  return floatStateToStateDict(spec, ema.state, (bn) => ema.numBatchesTracked.get(bn)!);
}
