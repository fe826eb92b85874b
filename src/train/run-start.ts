/**
 * How a training run starts: from `--resume` (model, optimizer, EMA, PRNG, history and best
 * metric of the checkpoint, checked to come from the same kind of run) or fresh (the
 * `--initial-checkpoint` weights or PyTorch's default initialization, drawn from the
 * seeded PRNG).
 */
import { existsSync } from 'node:fs';
import { readInputFileSync } from '../node/read-input.js';
import type { ModelSpec } from '../spec/index.js';
import { decodeCheckpoint, peekCheckpoint, type SummaryRow } from './checkpoint.js';
import type { TrainingData } from './data/source.js';
import { ModelEma } from './ema.js';
import { loadInitialWeights } from './initial-weights.js';
import type { TrainOptions } from './options.js';
import type { Optimizer, ParamState } from './optimizer.js';
import { Rng } from './rng.js';
import { previewText, previewValue } from '../weights/preview.js';

/** A setting as a resume message shows it: bounded, never `[object Object]`. */
const shown = (v: unknown): string => (v == null ? '(none)' : typeof v === 'string' ? previewText(v) : previewValue(v));
import { ModelState } from './state.js';

/** Where a run starts. `emaStateDict` is applied after the replicas agree on the weights. */
export interface RunStart {
  rng: Rng;
  model: ModelState;
  /** The EMA of a resumed run (null: start the EMA from the model, when EMA is on). */
  ema: ModelEma | null;
  startEpoch: number;
  history: SummaryRow[];
  bestMetric: number | null;
  bestEpoch: number | null;
  lastCheckpoint: string | null;
  /** The world size the resumed checkpoint was trained with (null: fresh, or not recorded). */
  resumedWorldSize: number | null;
}

/**
 * A resumed checkpoint must come from the same kind of run: model, dataset, optimizer and
 * frozen stages (which decide the optimizer state's layout), checked before that state is
 * decoded; then the same classes.
 */
function checkResumable(
  ck: { arch: string | null; args: Record<string, unknown> },
  o: TrainOptions,
  spec: ModelSpec,
): void {
  const file = o.resume!;
  if (ck.arch !== null && ck.arch.replace(/^.*\./, '') !== spec.name)
    throw new Error(`${file} is a ${ck.arch} checkpoint; the 'model' option is ${spec.name}`);
  const same = (key: string, now: unknown, flag: string): void => {
    const before = ck.args[key];
    if (before !== undefined && (before ?? null) !== (now ?? null)) {
      throw new Error(
        `${file} was trained with ${flag} ${shown(before)}; this run has ${flag} ${shown(now)}: resume with the ` +
          'same setting',
      );
    }
  };
  same('dataset', o.dataset, '--dataset');
  same('opt', o.opt, '--opt');
  same('freeze_stages', o.freezeStages, '--freeze-stages');
}

function checkSameClasses(saved: string[] | undefined, o: TrainOptions, data: TrainingData): void {
  if (data.classes && saved && data.classes.join('\n') !== saved.join('\n')) {
    throw new Error(
      `${o.resume} was trained on classes ${saved.slice(0, 4).join(', ')}...; ${o.dataDir} has ` +
        `${data.classes.slice(0, 4).join(', ')}...: not the same dataset`,
    );
  }
}

/** Continues from `o.resume`. */
export function resumeRun(
  o: TrainOptions,
  spec: ModelSpec,
  optimizer: Optimizer,
  data: TrainingData,
  log: (line: string) => void,
): RunStart {
  if (!existsSync(o.resume!)) throw new Error(`checkpoint to resume not found: ${o.resume}`);
  const bytes = readInputFileSync(o.resume!, 'checkpoint to resume'); // regular files only (#14)
  const peek = peekCheckpoint(bytes, o.resume);
  checkResumable(peek, o, spec);
  const ck = decodeCheckpoint<ParamState>(spec, bytes, o.resume, optimizer.order);
  checkSameClasses(ck.extras.classes, o, data);
  const model = ModelState.fromStateDict(spec, ck.stateDict);
  optimizer.loadStateDict(ck.optimizer);
  const ema = o.modelEma && ck.emaStateDict ? ModelEma.fromStateDict(spec, ck.emaStateDict, o.modelEmaDecay) : null;
  log(`resumed from ${o.resume}: epoch ${ck.epoch} done, continuing at epoch ${ck.epoch + 1}`);
  const world = peek.args.world_size;
  return {
    rng: new Rng(ck.extras.rng),
    model,
    ema,
    startEpoch: ck.epoch + 1,
    history: ck.extras.history.filter((r) => r.epoch <= ck.epoch),
    bestMetric: ck.extras.bestMetric,
    bestEpoch: ck.extras.bestEpoch,
    lastCheckpoint: o.resume!,
    resumedWorldSize: typeof world === 'number' ? world : null,
  };
}

/**
 * Starts fresh: `--pretrained` weights (already resolved to a cached file), `--initial-checkpoint`
 * weights (either form), or the default initialization.
 */
export function freshRun(
  o: TrainOptions,
  spec: ModelSpec,
  log: (line: string) => void,
  pretrained?: { path: string; ema: boolean },
): RunStart {
  const rng = new Rng(o.seed);
  let model: ModelState;
  if (pretrained) {
    const init = loadInitialWeights(spec, pretrained.path, rng, { ema: pretrained.ema });
    model = init.model;
    if (init.reinitializedFrom !== null)
      log(`its ${init.reinitializedFrom}-class classifier re-initialized for ${spec.numClasses} classes`);
  } else if (o.initialCheckpoint) {
    if (!existsSync(o.initialCheckpoint)) throw new Error(`initial checkpoint not found: ${o.initialCheckpoint}`);
    const init = loadInitialWeights(spec, o.initialCheckpoint, rng);
    model = init.model;
    if (init.expandedFromDeploy)
      log(`${o.initialCheckpoint} holds deploy-form weights: expanded to the training form (same eval-mode function)`);
    log(
      init.reinitializedFrom === null
        ? `initial weights from ${o.initialCheckpoint}`
        : `initial weights from ${o.initialCheckpoint}, except its ${init.reinitializedFrom}-class classifier: ` +
            `classifier.weight and classifier.bias re-initialized for ${spec.numClasses} classes`,
    );
  } else {
    model = ModelState.init(spec, rng);
  }
  return {
    rng,
    model,
    ema: null,
    startEpoch: 0,
    history: [],
    bestMetric: null,
    bestEpoch: null,
    lastCheckpoint: null,
    resumedWorldSize: null,
  };
}
