/**
 * `--freeze-stages N` for fine-tuning: the stem (`conv_stem`, `bn1`) and the first N
 * stages of `blocks` (`blocks.0` ... `blocks.N-1`) are frozen, as mmcls/mmdet's
 * `frozen_stages` and timm's `freeze()` treat a backbone:
 * - their parameters get no gradient and no optimizer update (and, as in timm, no
 *   optimizer state: they are left out of the parameter groups);
 * - their BatchNorms keep their running statistics (never updated) and normalize with
 *   them, i.e. run in eval mode (ForwardOptions.evalModeBn), as timm's freeze turns them into
 *   FrozenBatchNorm2d: a frozen layer then computes the same function in training and in
 *   evaluation, and a small fine-tuning batch cannot shift statistics learned on the
 *   large dataset.
 * N = 0 freezes the stem only; no flag freezes nothing.
 */
import type { ModelSpec } from '../spec/model-spec.js';
import { layerKeys } from '../spec/layer-types.js';
import { record } from '../spec/record.js';
import type { ParamLayout } from './layout.js';

/** What a `--freeze-stages` value freezes. */
export interface FrozenParts {
  /** Parameter keys without gradient or update. */
  params: Set<string>;
  /** BatchNorm layer names whose running statistics stay as loaded. */
  batchNorms: Set<string>;
}

/** Module-name prefixes frozen by `--freeze-stages stages`. */
export function frozenPrefixes(spec: ModelSpec, stages: number): string[] {
  if (!Number.isInteger(stages) || stages < 0 || stages > spec.stages.length) {
    throw new RangeError(
      `the 'freezeStages' option takes 0..${spec.stages.length} for ${spec.name} ` +
        `(stem + up to its ${spec.stages.length} stages), got ${stages}`,
    );
  }
  return ['conv_stem', 'bn1', ...Array.from({ length: stages }, (_, i) => `blocks.${i}`)];
}

/**
 * The parameters and BatchNorms frozen by `--freeze-stages stages` (nothing for undefined):
 * those of the layers the recorder places in the stem and the first `stages` stages.
 */
export function frozenParts(spec: ModelSpec, layouts: readonly ParamLayout[], stages: number | undefined): FrozenParts {
  if (stages === undefined) return { params: new Set(), batchNorms: new Set() };
  frozenPrefixes(spec, stages); // validates the count
  const frozenStages = new Set(['stem', ...Array.from({ length: stages }, (_, i) => `blocks.${i}`)]);
  const frozen = record(spec, 'train')
    .layers.filter((r) => frozenStages.has(r.stage))
    .map((r) => r.layer);
  const keys = new Set(frozen.flatMap(layerKeys).map(([key]) => key));
  return {
    params: new Set(layouts.map((p) => p.key).filter((k) => keys.has(k))),
    batchNorms: new Set(frozen.filter((l) => l.kind === 'bn').map((l) => l.name)),
  };
}
