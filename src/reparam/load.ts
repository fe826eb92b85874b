/**
 * From checkpoint bytes to a ready model description: the spec (model from the
 * caller, else the checkpoint's `arch`, else the keys; classes from the classifier's
 * shape), the form the weights are in, and the official deploy-form state dict.
 */
import { candidateModels, classesInStateDict, detectForm } from '../weights/match.js';
import { readCheckpoint, selectWeights, type CheckpointContents } from '../weights/checkpoint.js';
import { toFloat32, type StateDict } from '../weights/tensor.js';
import { checkWeightValues } from '../weights/values.js';
import { buildSpec, type ModelSpec } from '../spec/model-spec.js';
import { isAblation, resolveModelName } from '../spec/variants.js';
import { stateDictKeys, type Form } from '../spec/layers.js';
import { toDeploy } from './fuse.js';

/** Options of `loadWeights`. */
export interface LoadOptions {
  /** Model name; when absent, the checkpoint's `arch`, else the model the keys fit. */
  model?: string;
  /** Use `state_dict_ema` of a training checkpoint. */
  ema?: boolean;
  /** File name, only for messages. */
  fileName?: string;
}

/** Weights matched to a model. */
export interface LoadedWeights {
  spec: ModelSpec;
  /** The form the file holds. */
  form: Form;
  /** The selected (raw or EMA) state dict in PyTorch order, floats as F32, `module.` stripped. */
  stateDict: StateDict;
  /** The official deploy-form state dict (equal to `stateDict` when already deploy form). */
  deploy: StateDict;
  /** What the file said about itself (arch, epoch, metric, args, container kind). */
  meta: CheckpointContents['meta'];
  /** How the model was chosen when the caller did not name it (for a CLI to print). */
  note?: string;
}

/** Widens F16/BF16/F64 tensors to F32 so every engine sees one float type. */
function asFloat32(sd: StateDict): StateDict {
  const out: StateDict = new Map();
  for (const [k, t] of sd) {
    out.set(
      k,
      t.dtype === 'F16' || t.dtype === 'BF16' || t.dtype === 'F64'
        ? { dtype: 'F32', shape: t.shape, data: toFloat32(t) }
        : t,
    );
  }
  return out;
}

function chooseModel(sd: StateDict, c: CheckpointContents, fileName: string): { model: string; note?: string } {
  const arch = c.meta.arch;
  if (arch) {
    try {
      return { model: resolveModelName(arch) };
    } catch {
      // An arch we do not know (e.g. a timm name of another family): fall back to the keys.
    }
  }
  const fits = [...new Set(candidateModels(sd).map((f) => f.model))];
  if (fits.length === 0) {
    // Let detectForm against the closest-sized model explain what is wrong.
    detectForm(buildSpec('repghostnet_1_0x', { numClasses: classesInStateDict(sd) ?? 1000 }), sd);
    throw new Error(`${fileName}: weights fit no RepGhostNet model`);
  }
  if (fits.length === 1) return { model: fits[0]! };
  // The keys cannot tell a main-line model from its ablations (0.5x vs wo_0_5x share
  // every key): the main-line model is what a file without `arch` almost always holds.
  const main = fits.filter((m) => !isAblation(m));
  if (main.length === 1) {
    return {
      model: main[0]!,
      note:
        `${fileName} does not name its model; its keys fit ${fits.join(' and ')}: ` +
        `using ${main[0]} (set the 'model' option to choose)`,
    };
  }
  throw new Error(
    `${fileName} does not name its model and its keys fit ${fits.join(', ')}: name it with the 'model' option`,
  );
}

/**
 * Reads a checkpoint (.pth/.pth.tar/.bin/.safetensors, state dict or timm training
 * dict) and matches it to a RepGhostNet spec. Throws one readable error when the file
 * is unreadable or the weights do not fit the model (naming the model they do fit).
 */
export function loadWeights(bytes: Uint8Array, opts: LoadOptions = {}): LoadedWeights {
  const fileName = opts.fileName ?? 'weights';
  const contents = readCheckpoint(bytes, fileName);
  const stateDict = asFloat32(selectWeights(contents, { ema: !!opts.ema }));
  const chosen = opts.model ? { model: resolveModelName(opts.model) } : chooseModel(stateDict, contents, fileName);
  const numClasses = classesInStateDict(stateDict) ?? 1000;
  const spec = buildSpec(chosen.model, { numClasses });
  const form = detectForm(spec, stateDict);
  // Files need not keep PyTorch's order (safetensors writers sort keys): restore it.
  const ordered: StateDict = new Map(stateDictKeys(spec, form).map(([k]) => [k, stateDict.get(k)!]));
  checkWeightValues(ordered, fileName);
  const deploy = form === 'train' ? toDeploy(spec, ordered) : ordered;
  return { spec, form, stateDict: ordered, deploy, meta: contents.meta, ...(chosen.note ? { note: chosen.note } : {}) };
}
