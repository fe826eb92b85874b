/**
 * `--initial-checkpoint` for fine-tuning (timm's load_checkpoint with its raw
 * `state_dict`): every weight must fit the model except the classifier, which may have
 * another number of classes (an ImageNet checkpoint fine-tuned on a 5-class dataset):
 * then `classifier.weight` / `classifier.bias` are re-initialized exactly as a new model
 * would get them (PyTorch's default Linear init, drawn from the trainer's PRNG) and
 * everything else is loaded. Deploy-form (re-parameterized) weights are expanded back to
 * the training form with the same eval-mode function (reparam/expand.ts). Any other
 * mismatch (another width, missing or unexpected keys) is an error naming the keys.
 */
import { readInputFileSync } from '../node/read-input.js';
import type { ModelSpec } from '../spec/model-spec.js';
import { buildSpec } from '../spec/model-spec.js';
import { readCheckpoint, selectWeights } from '../weights/checkpoint.js';
import { toTrain } from '../reparam/expand.js';
import { classesInStateDict, detectForm } from '../weights/match.js';
import type { StateDict } from '../weights/tensor.js';
import type { Rng } from './rng.js';
import { ModelState } from './state.js';

/** Keys of the classifier, the only ones allowed to differ in shape. */
export const CLASSIFIER_KEYS = ['classifier.weight', 'classifier.bias'] as const;

/** A loaded starting point and what was done to it. */
export interface InitialWeights {
  model: ModelState;
  /** Classes of the checkpoint's classifier when it was re-initialized, else null. */
  reinitializedFrom: number | null;
  /** True when the file held deploy-form weights, expanded back to the training form. */
  expandedFromDeploy: boolean;
}

/**
 * Builds the model from a training-form state dict for `spec`, re-initializing a
 * classifier of another size from `rng`; deploy-form weights are expanded to the training
 * form first. Throws WeightsMismatchError (keys named) for anything else that does not fit.
 */
export function modelFromInitialStateDict(spec: ModelSpec, given: StateDict, rng: Rng): InitialWeights {
  const fileClasses = classesInStateDict(given) ?? spec.numClasses;
  // Check every key and shape against the same architecture at the file's own class count.
  const asFile = buildSpec(spec.name, { numClasses: fileClasses, dropout: spec.dropout });
  const expandedFromDeploy = detectForm(asFile, given) === 'deploy';
  const sd = expandedFromDeploy ? toTrain(asFile, given) : given;
  if (fileClasses === spec.numClasses)
    return { model: ModelState.fromStateDict(spec, sd), reinitializedFrom: null, expandedFromDeploy };
  // A fresh model's classifier: the same draws ModelState.init makes for any new model.
  const fresh = ModelState.init(spec, rng);
  const freshSd = fresh.toStateDict();
  fresh.dispose();
  const merged: StateDict = new Map(sd);
  for (const k of CLASSIFIER_KEYS) merged.set(k, freshSd.get(k)!);
  return { model: ModelState.fromStateDict(spec, merged), reinitializedFrom: fileClasses, expandedFromDeploy };
}

/**
 * Reads `--initial-checkpoint` (any format readCheckpoint takes; its raw weights, or its
 * EMA weights with `ema`, as the published official checkpoints are used) into a model.
 */
export function loadInitialWeights(
  spec: ModelSpec,
  file: string,
  rng: Rng,
  opts: { ema?: boolean } = {},
): InitialWeights {
  const c = readCheckpoint(readInputFileSync(file, 'initial checkpoint'), file);
  return modelFromInitialStateDict(spec, selectWeights(c, { ema: !!opts.ema }, file), rng);
}
