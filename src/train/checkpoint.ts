/**
 * timm-compatible training checkpoints (what timm 0.6's CheckpointSaver writes):
 * `epoch`, `arch`, `state_dict`, `optimizer` (torch.optim's state_dict: `state`
 * {index: {momentum_buffer}} for SGD, {index: {step, exp_avg, exp_avg_sq}} for AdamW,
 * and `param_groups`), `version`, `args`, `state_dict_ema`, `metric`, written with
 * writePth in PyTorch layout and key order, so torch.load / timm's resume read them.
 * `args` is a plain dict (not an argparse.Namespace, which weights_only loading
 * refuses). One extra key, `repghost_trainer`, holds what exact resumption needs beyond
 * timm: the PRNG state, the best metric so far, the per-epoch summary rows and, for
 * ImageFolder runs, the class names.
 * Files are replaced atomically: temp file, fsync, rename, fsync of the directory.
 */
import type { ModelSpec } from '../spec/model-spec.js';
import { toStateDict } from '../weights/checkpoint.js';
import { isRebuiltTensor, plainDict, PyFloat, tuple } from '../weights/pickle.js';
import { previewValue } from '../weights/preview.js';
import { readPth, writePth } from '../weights/pth.js';
import { toFloat32, type StateDict, type Tensor } from '../weights/tensor.js';
import { paramLayouts, tfToTorch, torchToTf, type ParamLayout } from './layout.js';
import {
  stateOrder,
  timmParamGroups,
  type OptimizerState,
  type ParamGroupDict,
  type ParamState,
  type SgdParamState,
} from './optimizer.js';
import type { RngState } from './rng.js';

/** One row of summary.csv. */
export interface SummaryRow {
  epoch: number;
  train_loss: number;
  eval_loss: number;
  eval_top1: number;
  eval_top5: number;
  eval_top1_ema: number | null;
  lr: number;
  seconds: number;
  images_per_s: number;
}

/** What the trainer keeps beyond timm's keys. */
export interface TrainerExtras {
  rng: RngState;
  bestMetric: number | null;
  bestEpoch: number | null;
  history: SummaryRow[];
  /** ImageFolder runs: the class names, index order (what a prediction's index means). */
  classes?: string[];
}

/**
 * Everything a checkpoint holds, in memory (tensors in PyTorch layout). `S` is the
 * optimizer's per-parameter state (SGD's by default; {@link ParamState} when either).
 */
export interface TrainingCheckpoint<S extends ParamState = SgdParamState> {
  /** Last completed epoch (0-based), as timm saves it. */
  epoch: number;
  arch: string;
  stateDict: StateDict;
  emaStateDict: StateDict | null;
  /** Optimizer state with its tensors in graph layout (converted on write/read). */
  optimizer: OptimizerState<S>;
  args: Record<string, unknown>;
  metric: number | null;
  extras: TrainerExtras;
}

/** Map with string keys -> the dict/Map value tree writePth takes. */
function dict(entries: Record<string, unknown>): Map<string, unknown> {
  return plainDict(new Map(Object.entries(entries)));
}

/**
 * The optimizer's parameters in state-index order when none is given: timm's two
 * weight-decay groups over every parameter (what an SGD or AdamW run without frozen
 * parameters and with weight decay > 0 numbers).
 */
export function defaultOptimizerOrder(spec: ModelSpec): ParamLayout[] {
  return stateOrder(timmParamGroups(paramLayouts(spec), 1));
}

/** The tensor fields of a parameter's optimizer state, in torch's insertion order. */
const STATE_TENSORS = ['momentum_buffer', 'exp_avg', 'exp_avg_sq'] as const;
/** Param-group fields that are Python floats in torch (written as floats even when integral). */
const GROUP_FLOATS = new Set(['weight_decay', 'lr', 'momentum', 'eps']);

function stateEntryTree(p: ParamLayout, entry: ParamState): Map<string, unknown> {
  const out: Record<string, unknown> = {};
  // AdamW's step comes first, as torch creates it; a float32 0-dim tensor as in torch 1.13.
  if (entry.step !== undefined)
    out.step = { dtype: 'F32', shape: [], data: Float32Array.of(entry.step) } satisfies Tensor;
  for (const name of STATE_TENSORS) {
    const values = entry[name];
    if (values) out[name] = { dtype: 'F32', shape: [...p.torchShape], data: tfToTorch(p, values) } satisfies Tensor;
  }
  return dict(out);
}

function groupTree(g: ParamGroupDict): Map<string, unknown> {
  // Python floats stay floats (torch writes lr=1.0, not 1); betas is a tuple of floats.
  const out = Object.fromEntries(
    Object.entries(g).map(([k, v]) => {
      if (GROUP_FLOATS.has(k) && typeof v === 'number') return [k, new PyFloat(v)];
      if (k === 'betas' && Array.isArray(v)) return [k, tuple(...v.map((b) => new PyFloat(b as number)))];
      return [k, v];
    }),
  );
  return dict(out);
}

/**
 * Builds the value tree of a checkpoint for writePth. `order` lists the optimizer's
 * parameters by state index (the optimizer's `order`; default {@link defaultOptimizerOrder}).
 */
export function checkpointTree(
  spec: ModelSpec,
  c: TrainingCheckpoint<ParamState>,
  order: readonly ParamLayout[] = defaultOptimizerOrder(spec),
): unknown {
  const state = plainDict(new Map<number, unknown>());
  for (const [index, entry] of c.optimizer.state) {
    const p = order[index];
    if (!p) throw new Error(`internal: optimizer state index ${index} beyond the ${order.length} parameters`);
    state.set(index, stateEntryTree(p, entry));
  }
  const groups = c.optimizer.param_groups.map(groupTree);
  const floats = (row: SummaryRow): Record<string, unknown> =>
    Object.fromEntries(
      Object.entries(row).map(([k, v]) => [k, k === 'epoch' || v === null ? v : new PyFloat(v as number)]),
    );
  const value: Record<string, unknown> = {
    epoch: c.epoch,
    arch: c.arch,
    state_dict: c.stateDict,
    optimizer: dict({ state, param_groups: groups }),
    version: 2,
    args: dict(c.args),
  };
  if (c.emaStateDict) value.state_dict_ema = c.emaStateDict;
  if (c.metric !== null) value.metric = new PyFloat(c.metric);
  value.repghost_trainer = dict({
    rng: [...c.extras.rng],
    best_metric: c.extras.bestMetric === null ? null : new PyFloat(c.extras.bestMetric),
    best_epoch: c.extras.bestEpoch,
    history: c.extras.history.map((r) => dict(floats(r))),
    ...(c.extras.classes ? { classes: [...c.extras.classes] } : {}),
  });
  return dict(value);
}

/**
 * Serializes a checkpoint to .pth bytes (record prefix `checkpoint` like timm's files); `order` as in
 * {@link checkpointTree}.
 */
export function encodeCheckpoint(
  spec: ModelSpec,
  c: TrainingCheckpoint<ParamState>,
  order?: readonly ParamLayout[],
): Uint8Array {
  return writePth(checkpointTree(spec, c, order), { prefix: 'checkpoint' });
}

// --- reading -------------------------------------------------------------

function field(obj: unknown, key: string | number): unknown {
  if (obj instanceof Map) return obj.get(key);
  if (obj && typeof obj === 'object') return (obj as Record<string, unknown>)[String(key)];
  return undefined;
}

function num(v: unknown, what: string): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v && typeof v === 'object' && 'value' in v && typeof v.value === 'number') return (v as { value: number }).value;
  throw new Error(`checkpoint: ${what} is ${previewValue(v)}, not a number`);
}

/** A count read from a file (epoch, best_epoch): a non-negative integer, or the file is refused. */
function count(v: unknown, what: string, fileName: string): number {
  const n = num(v, what);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new Error(
      `${fileName}: ${what} is ${previewValue(v)}, not a non-negative integer: corrupt or foreign checkpoint`,
    );
  return n;
}

/** A metric read from a file: finite, or the file is refused. */
function finite(v: unknown, what: string, fileName: string): number {
  const n = num(v, what);
  if (!Number.isFinite(n)) throw new Error(`${fileName}: ${what} is ${n}, not a finite number: corrupt checkpoint`);
  return n;
}

/** `arch` must be a model name: anything else (a shared nested tuple printed whole was 16 MB) is refused. */
function archOf(v: unknown, fileName: string): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw new Error(`${fileName}: arch is ${previewValue(v)}, not a model name string`);
  if (v.length > 200) throw new Error(`${fileName}: arch is a ${v.length}-character string, not a model name`);
  return v;
}

/** The trainer's PRNG state: four 32-bit words (saved signed or unsigned). */
function rngState(v: unknown[], fileName: string): number[] {
  const words = v.map((x) => num(x, 'rng'));
  if (words.length !== 4 || !words.every((w) => Number.isInteger(w) && w >= -(2 ** 31) && w < 2 ** 32)) {
    throw new Error(`${fileName}: repghost_trainer.rng is not four 32-bit words: corrupt checkpoint`);
  }
  return words;
}

function asStateDict(v: unknown, what: string, fileName: string): StateDict {
  if (!(v instanceof Map)) throw new Error(`${fileName}: ${what} is missing or not a state dict`);
  return toStateDict(v, what, fileName);
}

function entries(v: unknown): [unknown, unknown][] {
  if (v instanceof Map) return [...v.entries()];
  if (v && typeof v === 'object') return Object.entries(v);
  return [];
}

/** Values {@link toPlain} may produce in all: `args` and history are small; a DAG of shared tuples is not. */
const MAX_PLAIN_VALUES = 100_000;

/**
 * Unpickled data as plain JSON-like values. The output is a tree, so a DAG of shared
 * containers (a few hundred bytes of memo references) would expand exponentially: the
 * values produced are counted and a file asking for more than {@link MAX_PLAIN_VALUES} is refused.
 */
function toPlain(v: unknown, what = 'value', fileName = 'checkpoint'): unknown {
  let budget = MAX_PLAIN_VALUES;
  const go = (x: unknown, depth: number): unknown => {
    if (--budget < 0 || depth > 64)
      throw new Error(
        `${fileName}: ${what} is nested or shared too deeply to read (more than ${MAX_PLAIN_VALUES} values): ` +
          `corrupt or hostile checkpoint`,
      );
    if (x instanceof Map)
      return Object.fromEntries(
        [...x].map(([k, y]) => [typeof k === 'string' ? k : String(go(k, depth + 1)), go(y, depth + 1)]),
      );
    if (Array.isArray(x)) return x.map((y) => go(y, depth + 1));
    if (typeof x === 'bigint') return Number(x);
    if (x && typeof x === 'object' && 'value' in x && Object.keys(x).length === 1) return x.value;
    if (x && typeof x === 'object' && !ArrayBuffer.isView(x) && !isRebuiltTensor(x) && !(x instanceof Set)) {
      return Object.fromEntries(Object.entries(x).map(([k, y]) => [k, go(y, depth + 1)]));
    }
    return x;
  };
  return go(v, 0);
}

/**
 * A checkpoint's `arch` and `args` alone: what a resume checks (same model, data,
 * optimizer) before the optimizer state, whose layout depends on them, is decoded.
 */
export function peekCheckpoint(
  bytes: Uint8Array,
  fileName = 'checkpoint',
): { arch: string | null; args: Record<string, unknown> } {
  let root: unknown;
  try {
    root = readPth(bytes);
  } catch (e) {
    throw new Error(`${fileName}: ${(e as Error).message}`, { cause: e });
  }
  // The epoch decides the learning rate a resumed run starts at: checked before anything else.
  const epoch = field(root, 'epoch');
  if (epoch !== undefined) count(epoch, 'epoch', fileName);
  return {
    arch: archOf(field(root, 'arch'), fileName),
    args: (toPlain(field(root, 'args'), 'args', fileName) as Record<string, unknown> | undefined) ?? {},
  };
}

/** A state tensor of parameter `p` read back into graph layout (shape checked). */
function stateTensor(
  v: unknown,
  p: ParamLayout,
  index: number,
  name: string,
  fileName: string,
): Float32Array | undefined {
  if (v === undefined) return undefined;
  if (!isRebuiltTensor(v)) throw new Error(`${fileName}: optimizer ${name} ${index} (${p.key}) is not a tensor`);
  const t: Tensor = v;
  if (t.shape.join(',') !== p.torchShape.join(','))
    throw new Error(
      `${fileName}: optimizer ${name} ${index} (${p.key}) has shape [${t.shape.join(', ')}], expected ` +
        `[${p.torchShape.join(', ')}]`,
    );
  return torchToTf(p, toFloat32(t));
}

/**
 * Parses a training checkpoint written by {@link encodeCheckpoint} (or by timm, minus the
 * extras). `order` is the optimizer's parameter order by state index (default
 * {@link defaultOptimizerOrder}), needed to bring state tensors back to graph layout.
 * `S` is the per-parameter state the caller expects (the file decides what is there:
 * SGD's by default, {@link ParamState} to handle either).
 */
export function decodeCheckpoint<S extends ParamState = SgdParamState>(
  spec: ModelSpec,
  bytes: Uint8Array,
  fileName = 'checkpoint',
  order: readonly ParamLayout[] = defaultOptimizerOrder(spec),
): TrainingCheckpoint<S> {
  let root: unknown;
  try {
    root = readPth(bytes);
  } catch (e) {
    throw new Error(`${fileName}: ${(e as Error).message}`, { cause: e });
  }
  const opt = field(root, 'optimizer');
  const state = new Map<number, ParamState>();
  for (const [k, entry] of entries(field(opt, 'state'))) {
    const index = Number(k);
    const p = order[index];
    if (!p) throw new Error(`${fileName}: optimizer state index ${index} out of range (${order.length} parameters)`);
    const out: ParamState = {};
    const step = field(entry, 'step');
    if (step !== undefined)
      out.step =
        isRebuiltTensor(step) && step.data.length === 1 ? toFloat32(step)[0]! : count(step, 'optimizer step', fileName);
    for (const name of STATE_TENSORS) {
      const values = stateTensor(
        field(entry, name),
        p,
        index,
        name === 'momentum_buffer' ? 'momentum buffer' : name,
        fileName,
      );
      if (values) out[name] = values;
    }
    if (Object.keys(out).length) state.set(index, out);
  }
  const groupsRaw = field(opt, 'param_groups');
  const param_groups = (Array.isArray(groupsRaw) ? groupsRaw : []).map(
    (g) => toPlain(g, 'param_groups', fileName) as ParamGroupDict,
  );
  const extrasRaw = field(root, 'repghost_trainer');
  const rngRaw = field(extrasRaw, 'rng');
  const extras: TrainerExtras = {
    rng: (Array.isArray(rngRaw) ? rngState(rngRaw, fileName) : [0, 0, 0, 0]) as RngState,
    bestMetric:
      field(extrasRaw, 'best_metric') == null ? null : finite(field(extrasRaw, 'best_metric'), 'best_metric', fileName),
    bestEpoch:
      field(extrasRaw, 'best_epoch') == null ? null : count(field(extrasRaw, 'best_epoch'), 'best_epoch', fileName),
    history: (toPlain(field(extrasRaw, 'history'), 'history', fileName) as SummaryRow[] | undefined) ?? [],
  };
  const classes = toPlain(field(extrasRaw, 'classes'), 'classes', fileName);
  if (Array.isArray(classes)) extras.classes = classes.map(String);
  const ema = field(root, 'state_dict_ema');
  const metric = field(root, 'metric');
  return {
    epoch: count(field(root, 'epoch'), 'epoch', fileName),
    arch: archOf(field(root, 'arch'), fileName) ?? spec.name,
    stateDict: asStateDict(field(root, 'state_dict'), 'state_dict', fileName),
    emaStateDict: ema instanceof Map ? asStateDict(ema, 'state_dict_ema', fileName) : null,
    optimizer: { state: state as Map<number, S>, param_groups },
    args: (toPlain(field(root, 'args'), 'args', fileName) as Record<string, unknown> | undefined) ?? {},
    metric: metric == null ? null : finite(metric, 'metric', fileName),
    extras,
  };
}
