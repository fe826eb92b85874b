/**
 * timm-compatible training checkpoints (what timm 0.6's CheckpointSaver writes):
 * `epoch`, `arch`, `state_dict`, `optimizer` (torch.optim.SGD's state_dict: `state`
 * {index: {momentum_buffer}}, `param_groups`), `version`, `args`, `state_dict_ema`,
 * `metric`, written with writePth in PyTorch layout and key order, so torch.load /
 * timm's resume read them. `args` is a plain dict (not an argparse.Namespace, which
 * weights_only loading refuses). One extra key, `repghost_trainer`, holds what exact
 * resumption needs beyond timm: the PRNG state, the best metric so far and the
 * per-epoch summary rows.
 * Files are replaced atomically: temp file, fsync, rename, fsync of the directory.
 */
import type { ModelSpec } from '../spec/model-spec.js';
import { plainDict, PyFloat } from '../weights/pickle.js';
import { readPth, writePth } from '../weights/pth.js';
import { toFloat32, type StateDict, type Tensor } from '../weights/tensor.js';
import { paramLayouts, tfToTorch, torchToTf } from './layout.js';
import type { RngState } from './rng.js';
import type { SgdParamGroup, SgdState } from './sgd.js';

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
}

/** Everything a checkpoint holds, in memory (tensors in PyTorch layout). */
export interface TrainingCheckpoint {
  /** Last completed epoch (0-based), as timm saves it. */
  epoch: number;
  arch: string;
  stateDict: StateDict;
  emaStateDict: StateDict | null;
  /** Optimizer state with momentum buffers in graph layout (converted on write/read). */
  optimizer: SgdState;
  args: Record<string, unknown>;
  metric: number | null;
  extras: TrainerExtras;
}

/** Map with string keys -> the dict/Map value tree writePth takes. */
function dict(entries: Record<string, unknown>): Map<string, unknown> {
  return plainDict(new Map(Object.entries(entries)));
}

/** Builds the value tree of a checkpoint for writePth. */
export function checkpointTree(spec: ModelSpec, c: TrainingCheckpoint): unknown {
  const layouts = paramLayouts(spec);
  const byKey = new Map(layouts.map((p) => [p.key, p]));
  const state = plainDict(new Map<number, unknown>());
  const order = [...layouts.filter((p) => !p.decay), ...layouts.filter((p) => p.decay)];
  for (const [index, entry] of c.optimizer.state) {
    const p = byKey.get(order[index]!.key)!;
    const buf: Tensor = { dtype: 'F32', shape: [...p.torchShape], data: tfToTorch(p, entry.momentum_buffer) };
    state.set(index, dict({ momentum_buffer: buf }));
  }
  // Python floats stay floats (torch writes lr=1.0, not 1).
  const groups = c.optimizer.param_groups.map((g) => dict({
    ...g, weight_decay: new PyFloat(g.weight_decay), lr: new PyFloat(g.lr), momentum: new PyFloat(g.momentum),
  }));
  const floats = (row: SummaryRow): Record<string, unknown> => Object.fromEntries(Object.entries(row).map(
    ([k, v]) => [k, k === 'epoch' || v === null ? v : new PyFloat(v as number)]));
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
  });
  return dict(value);
}

/** Serializes a checkpoint to .pth bytes (record prefix `checkpoint` like timm's files). */
export function encodeCheckpoint(spec: ModelSpec, c: TrainingCheckpoint): Uint8Array {
  return writePth(checkpointTree(spec, c), { prefix: 'checkpoint' });
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
  if (v && typeof v === 'object' && 'value' in v && typeof (v as { value: unknown }).value === 'number') return (v as { value: number }).value;
  throw new Error(`checkpoint: ${what} is not a number`);
}

function asStateDict(v: unknown, what: string): StateDict {
  if (!(v instanceof Map)) throw new Error(`checkpoint: ${what} is missing or not a state dict`);
  return v as StateDict;
}

function entries(v: unknown): [unknown, unknown][] {
  if (v instanceof Map) return [...v.entries()];
  if (v && typeof v === 'object') return Object.entries(v);
  return [];
}

function toPlain(v: unknown): unknown {
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), toPlain(x)]));
  if (Array.isArray(v)) return v.map(toPlain);
  if (typeof v === 'bigint') return Number(v);
  if (v && typeof v === 'object' && 'value' in v && Object.keys(v).length === 1) return (v as { value: unknown }).value;
  return v;
}

/** Parses a training checkpoint written by {@link encodeCheckpoint} (or by timm, minus the extras). */
export function decodeCheckpoint(spec: ModelSpec, bytes: Uint8Array, fileName = 'checkpoint'): TrainingCheckpoint {
  let root: unknown;
  try {
    root = readPth(bytes);
  } catch (e) {
    throw new Error(`${fileName}: ${(e as Error).message}`);
  }
  const layouts = paramLayouts(spec);
  const order = [...layouts.filter((p) => !p.decay), ...layouts.filter((p) => p.decay)];
  const opt = field(root, 'optimizer');
  const state = new Map<number, { momentum_buffer: Float32Array }>();
  for (const [k, entry] of entries(field(opt, 'state'))) {
    const index = Number(k);
    const p = order[index];
    if (!p) throw new Error(`${fileName}: optimizer state index ${index} out of range (${order.length} parameters)`);
    const buf = field(entry, 'momentum_buffer') as Tensor | undefined;
    if (!buf) continue;
    if (buf.shape.join(',') !== p.torchShape.join(',')) throw new Error(`${fileName}: momentum buffer ${index} (${p.key}) has shape [${buf.shape.join(', ')}], expected [${p.torchShape.join(', ')}]`);
    state.set(index, { momentum_buffer: torchToTf(p, toFloat32(buf)) });
  }
  const groupsRaw = field(opt, 'param_groups');
  const param_groups = (Array.isArray(groupsRaw) ? groupsRaw : []).map((g) => toPlain(g) as SgdParamGroup);
  const extrasRaw = field(root, 'repghost_trainer');
  const rngRaw = field(extrasRaw, 'rng');
  const extras: TrainerExtras = {
    rng: (Array.isArray(rngRaw) ? rngRaw.map((v) => num(v, 'rng')) : [0, 0, 0, 0]) as RngState,
    bestMetric: field(extrasRaw, 'best_metric') == null ? null : num(field(extrasRaw, 'best_metric'), 'best_metric'),
    bestEpoch: field(extrasRaw, 'best_epoch') == null ? null : num(field(extrasRaw, 'best_epoch'), 'best_epoch'),
    history: ((toPlain(field(extrasRaw, 'history')) as SummaryRow[] | undefined) ?? []),
  };
  const ema = field(root, 'state_dict_ema');
  const metric = field(root, 'metric');
  return {
    epoch: num(field(root, 'epoch'), 'epoch'),
    arch: String(field(root, 'arch') ?? spec.name),
    stateDict: asStateDict(field(root, 'state_dict'), 'state_dict'),
    emaStateDict: ema instanceof Map ? (ema as StateDict) : null,
    optimizer: { state, param_groups },
    args: (toPlain(field(root, 'args')) as Record<string, unknown> | undefined) ?? {},
    metric: metric == null ? null : num(metric, 'metric'),
    extras,
  };
}
