/**
 * One entry point for weight files: sniffs safetensors / torch zip / legacy pickle by
 * content (never by extension) and normalizes what it finds into raw and EMA state
 * dicts plus metadata. Understands timm training checkpoints (`state_dict`,
 * `state_dict_ema`, `arch`, `epoch`, `metric`, `args`), the `model`/`model_ema` keys
 * other trainers use, bare state dicts, and DDP's `module.` key prefix.
 */
import { describeContent, legacyTorchError, readTorchZip, sniffFormat } from './pth.js';

export { sniffFormat, type FileKind } from './pth.js';
import { isRebuiltTensor } from './pickle.js';
import { previewList, previewText, previewValue } from './preview.js';
import { readSafetensors } from './safetensors.js';
import type { StateDict, Tensor } from './tensor.js';

/** Raised when a file holds no usable weights; the message names the file and the cause. */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

/** Weights and metadata found in a checkpoint file. */
export interface CheckpointContents {
  /** The raw (non-EMA) weights, keys without a DDP `module.` prefix. */
  stateDict: StateDict;
  /** The EMA weights when the file has them, else null. */
  ema: StateDict | null;
  meta: {
    /** timm's `arch`, e.g. `repghost.repghostnet_0_5x` (or safetensors metadata `arch`). */
    arch?: string;
    epoch?: number;
    /** The best-metric value a timm checkpoint records (top-1 by default). */
    metric?: number;
    /** Training arguments (timm's argparse.Namespace), as a plain object. */
    args?: Record<string, unknown>;
    source: 'timm-checkpoint' | 'state-dict' | 'safetensors';
  };
}

const RAW_KEYS = ['state_dict', 'model'];
const EMA_KEYS = ['state_dict_ema', 'model_ema'];

/**
 * A dict key for a message: strings cut short, numbers as is, anything else by its type
 * only (String() of an unpickled tuple walks shared sub-structures: exponential).
 */
function keyText(k: unknown): string {
  return typeof k === 'string' ? previewText(k) : previewValue(k);
}

/**
 * Converts an unpickled Map into a StateDict, refusing non-tensor entries. Only tensors
 * the unpickler rebuilt count: an object that merely has dtype/shape/data is refused.
 */
export function toStateDict(v: unknown, where: string, file: string): StateDict {
  if (!(v instanceof Map)) throw new CheckpointError(`${file}: ${where} is not a dict of tensors`);
  const sd: StateDict = new Map();
  for (const [k, t] of v) {
    if (typeof k !== 'string') throw new CheckpointError(`${file}: ${where} has a non-string key ${keyText(k)}`);
    if (!isRebuiltTensor(t)) {
      throw new CheckpointError(
        `${file}: ${where} entry '${previewText(k)}' is not a tensor (${previewValue(t)}); ` +
          `a state dict must hold only tensors`,
      );
    }
    sd.set(k, t);
  }
  return sd;
}

/** Drops a leading `module.` (DDP/DataParallel) from every key, when every key has it. */
export function stripModulePrefix(sd: StateDict): StateDict {
  const keys = [...sd.keys()];
  if (keys.length === 0 || !keys.every((k) => k.startsWith('module.'))) return sd;
  return new Map([...sd].map(([k, t]): [string, Tensor] => [k.slice('module.'.length), t]));
}

function isAllTensors(m: Map<unknown, unknown>): boolean {
  for (const v of m.values()) if (!isRebuiltTensor(v)) return false;
  return m.size > 0;
}

function plainArgs(v: unknown): Record<string, unknown> | undefined {
  if (v instanceof Map) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of v)
      if (typeof k === 'string')
        Object.defineProperty(o, k, { value: x, enumerable: true, writable: true, configurable: true });
    return o;
  }
  if (typeof v === 'object' && v !== null && !Array.isArray(v) && !isRebuiltTensor(v))
    return { ...(v as Record<string, unknown>) };
  return undefined;
}

function num(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  return undefined;
}

/** Interprets an unpickled torch object: a timm-style training dict or a bare state dict. */
function fromTorchObject(obj: unknown, file: string): CheckpointContents {
  if (!(obj instanceof Map))
    throw new CheckpointError(
      `${file}: the file holds a ${Array.isArray(obj) ? 'list' : typeof obj}, not a state dict or training checkpoint`,
    );
  const rawKey = RAW_KEYS.find((k) => obj.has(k) && obj.get(k) instanceof Map);
  if (rawKey === undefined) {
    if (!isAllTensors(obj)) {
      const keys = previewList([...obj.keys()].map(keyText), 8);
      throw new CheckpointError(
        `${file}: neither a state dict (some entries are not tensors) ` +
          `nor a training checkpoint with 'state_dict'/'model' (keys: ${keys})`,
      );
    }
    return {
      stateDict: stripModulePrefix(toStateDict(obj, 'the state dict', file)),
      ema: null,
      meta: { source: 'state-dict' },
    };
  }
  const emaKey = EMA_KEYS.find((k) => obj.get(k) instanceof Map);
  const meta: CheckpointContents['meta'] = { source: 'timm-checkpoint' };
  const arch: unknown = obj.get('arch');
  if (arch !== undefined && arch !== null) {
    if (typeof arch !== 'string')
      throw new CheckpointError(`${file}: 'arch' is ${previewValue(arch)}, not a model name string`);
    meta.arch = previewText(arch, 200);
  }
  const epoch = num(obj.get('epoch'));
  if (epoch !== undefined) meta.epoch = epoch;
  const metric = num(obj.get('metric'));
  if (metric !== undefined) meta.metric = metric;
  const args = plainArgs(obj.get('args'));
  if (args) meta.args = args;
  return {
    stateDict: stripModulePrefix(toStateDict(obj.get(rawKey), `'${rawKey}'`, file)),
    ema: emaKey ? stripModulePrefix(toStateDict(obj.get(emaKey), `'${emaKey}'`, file)) : null,
    meta,
  };
}

/**
 * Reads a weight file of any supported kind (detected by content, once). `fileName` only
 * labels error messages. Throws CheckpointError (or the format's own error) with the cause.
 */
export function readCheckpoint(bytes: Uint8Array, fileName = 'checkpoint'): CheckpointContents {
  const kind = sniffFormat(bytes);
  const wrap = <T>(f: () => T): T => {
    try {
      return f();
    } catch (e) {
      if (e instanceof CheckpointError) throw e;
      const err = e as Error;
      throw new CheckpointError(`${fileName}: ${err.message}`, { cause: e });
    }
  };
  switch (kind) {
    case 'safetensors': {
      const { tensors, metadata } = wrap(() => readSafetensors(bytes));
      const meta: CheckpointContents['meta'] = { source: 'safetensors' };
      if (metadata.arch) meta.arch = metadata.arch;
      return { stateDict: stripModulePrefix(tensors), ema: null, meta };
    }
    case 'torch-zip':
      return fromTorchObject(
        wrap(() => readTorchZip(bytes)),
        fileName,
      );
    case 'legacy-torch':
      return wrap(() => {
        throw legacyTorchError();
      });
    default: {
      const what = describeContent(bytes);
      throw new CheckpointError(
        `${fileName}: not a weight file ` +
          `(expected a PyTorch .pth zip or safetensors${what ? `; it looks like ${what}` : ''})`,
      );
    }
  }
}

/** Returns the raw or the EMA weights; asking for EMA from a file without them is an error. */
export function selectWeights(c: CheckpointContents, opts: { ema: boolean }, fileName = 'the checkpoint'): StateDict {
  if (!opts.ema) return c.stateDict;
  if (!c.ema) {
    throw new CheckpointError(
      `EMA weights were requested but ${fileName} has none (it holds ` +
        (c.meta.source === 'timm-checkpoint'
          ? 'a training checkpoint without state_dict_ema'
          : c.meta.source === 'safetensors'
            ? 'one safetensors state dict'
            : 'one plain state dict') +
        '); use the raw weights instead',
    );
  }
  return c.ema;
}
