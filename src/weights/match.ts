/**
 * Matching a state dict against a model spec: which form it is in, and, when it fits
 * neither, a report of missing / unexpected / mis-shaped keys with advice. These are
 * the most reported user errors on the official repository (deploy weights into a
 * training model, a whole training checkpoint passed as a state dict).
 */
import { stateDictKeys, type Form, type KeySpec } from '../spec/layers.js';
import { buildSpec, type ModelSpec } from '../spec/model-spec.js';
import { OFFICIAL_VARIANTS } from '../spec/variants.js';
import { previewList } from './preview.js';
import { shapeStr, type StateDict } from './tensor.js';

/** Keys a timm/official training checkpoint has at its top level. */
const CHECKPOINT_TOP_KEYS = ['state_dict', 'state_dict_ema', 'optimizer', 'epoch', 'args', 'model', 'model_ema'];

/** Raised when weights do not fit the chosen model; `message` is one readable paragraph. */
export class WeightsMismatchError extends Error {
  override name = 'WeightsMismatchError';
  constructor(
    message: string,
    readonly missing: string[] = [],
    readonly unexpected: string[] = [],
    readonly misshaped: string[] = [],
  ) {
    super(message);
  }
}

interface Diff {
  missing: string[];
  unexpected: string[];
  misshaped: string[];
}

function diff(expected: KeySpec[], sd: StateDict): Diff {
  const want = new Map(expected.map(([k, s]) => [k, s]));
  const missing: string[] = [];
  const misshaped: string[] = [];
  for (const [k, shape] of want) {
    const t = sd.get(k);
    if (!t) missing.push(k);
    else if (shapeStr(t.shape) !== shapeStr(shape))
      misshaped.push(`${k}: file ${shapeStr(t.shape)}, model ${shapeStr(shape)}`);
  }
  const unexpected = [...sd.keys()].filter((k) => !want.has(k));
  return { missing, unexpected, misshaped };
}

const clean = (d: Diff): boolean => !d.missing.length && !d.unexpected.length && !d.misshaped.length;

/** Classes of the classifier in a state dict (from `classifier.weight`'s shape), if present. */
export function classesInStateDict(sd: StateDict): number | undefined {
  const w = sd.get('classifier.weight');
  return w?.shape.length === 2 ? w.shape[0] : undefined;
}

/**
 * Which official models (at the state dict's own class count) these weights fit, and
 * in which form. Several can fit: the keys alone cannot tell 0.5x from wo_0_5x, nor
 * repid from norep in training form.
 */
export function candidateModels(sd: StateDict): { model: string; form: Form }[] {
  const numClasses = classesInStateDict(sd) ?? 1000;
  const out: { model: string; form: Form }[] = [];
  for (const model of Object.keys(OFFICIAL_VARIANTS)) {
    const spec = buildSpec(model, { numClasses });
    for (const form of ['train', 'deploy'] as const) {
      if (clean(diff(stateDictKeys(spec, form), sd))) {
        out.push({ model, form });
        break;
      }
    }
  }
  return out;
}

/** Key names come from the file: each is cut short (a 5 MB name was echoed whole). */
const list = (xs: string[], n = 4, max = 80): string => previewList(xs, n, max);

/**
 * The form ('train' or 'deploy') in which `sd` fits `spec` exactly (keys and shapes).
 * Throws WeightsMismatchError naming the missing, unexpected and mis-shaped keys and
 * what to do, including which model the weights would fit.
 */
export function detectForm(spec: ModelSpec, sd: StateDict): Form {
  const diffs = (['train', 'deploy'] as const).map((form) => ({ form, d: diff(stateDictKeys(spec, form), sd) }));
  const ok = diffs.find((x) => clean(x.d));
  if (ok) return ok.form;
  const keys = [...sd.keys()];
  if (keys.some((k) => CHECKPOINT_TOP_KEYS.includes(k))) {
    throw new WeightsMismatchError(
      `this is a whole training checkpoint (keys ${list(keys)}), not a state dict: load it with readCheckpoint / ` +
        `the CLI, which takes its 'state_dict' (or 'state_dict_ema' with the 'ema' option)`,
    );
  }
  const best = diffs.reduce((a, b) =>
    a.d.missing.length + a.d.unexpected.length + a.d.misshaped.length <=
    b.d.missing.length + b.d.unexpected.length + b.d.misshaped.length
      ? a
      : b,
  );
  const parts = [`weights do not fit ${spec.name} (${spec.numClasses} classes)`];
  if (best.d.missing.length) parts.push(`missing ${best.d.missing.length} keys: ${list(best.d.missing)}`);
  if (best.d.unexpected.length) parts.push(`unexpected ${best.d.unexpected.length} keys: ${list(best.d.unexpected)}`);
  if (best.d.misshaped.length) parts.push(`wrong shapes: ${list(best.d.misshaped, 2, 240)}`);
  const fits = candidateModels(sd);
  if (fits.length)
    parts.push(
      `they fit ${fits.map((f) => `${f.model} (${f.form} form)`).join(' or ')}: ` +
        `set the 'model' option to ${fits[0]!.model}`,
    );
  else parts.push('they fit no RepGhostNet model: is this a RepGhostNet checkpoint?');
  const d = best.d;
  throw new WeightsMismatchError(parts.join('; '), d.missing, d.unexpected, d.misshaped);
}
