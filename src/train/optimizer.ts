/**
 * What the optimizers share: timm's parameter groups and torch's `state_dict()` layout.
 *
 * timm's `create_optimizer_v2` with weight decay > 0 builds two groups with
 * `param_groups_weight_decay`: no decay for tensors with ndim <= 1 or names ending in
 * `.bias` (group 0), decay for the rest (group 1), both skipping parameters that do not
 * require a gradient (frozen ones). With weight decay 0 it passes `model.parameters()`:
 * one group with every parameter in model order, frozen ones included (they never get a
 * gradient, so never a state entry). torch numbers the state by position across groups.
 */
import type { ParamLayout } from './layout.js';

/** One parameter group: its parameters in order and its weight decay. */
export interface ParamGroup {
  params: ParamLayout[];
  weightDecay: number;
}

/** timm's parameter groups for these layouts (see the module comment). */
export function timmParamGroups(
  layouts: readonly ParamLayout[],
  weightDecay: number,
  trainable: (key: string) => boolean = () => true,
): ParamGroup[] {
  if (!weightDecay) return [{ params: [...layouts], weightDecay: 0 }];
  const live = layouts.filter((p) => trainable(p.key));
  return [
    { params: live.filter((p) => !p.decay), weightDecay: 0 },
    { params: live.filter((p) => p.decay), weightDecay },
  ];
}

/** SGD's per-parameter state (torch's dict), graph layout. */
export interface SgdParamState {
  momentum_buffer: Float32Array;
}

/** AdamW's per-parameter state (torch's dict): `step` is a float32 0-dim tensor in torch; graph layout. */
export interface AdamWParamState {
  step: number;
  exp_avg: Float32Array;
  exp_avg_sq: Float32Array;
}

/**
 * One parameter's optimizer state as the checkpoint code handles it: any of the fields
 * above (tensors in graph layout; the checkpoint code converts to PyTorch layout).
 */
export type ParamState = Partial<SgdParamState & AdamWParamState>;

/** A torch `param_groups` entry: hyper-parameters in torch's key order, then `params` (state indices). */
export type ParamGroupDict = { params: number[] } & Record<string, unknown>;

/** torch.optim's `state_dict()`: state by parameter index, and the groups. */
export interface OptimizerState<S extends ParamState = ParamState> {
  state: Map<number, S>;
  param_groups: ParamGroupDict[];
}

/** The optimizers of the trainer: a step over all trainable parameters and torch's state dict. */
export interface Optimizer {
  /** timm's optimizer name (`sgd`, `momentum`, `adamw`). */
  readonly name: string;
  /** Parameters in torch state-index order (group 0's, then group 1's). */
  readonly order: readonly ParamLayout[];
  /** One step; `param(key)` returns a writable graph-layout copy, `grad(key)` the gradient. */
  step(lr: number, param: (key: string) => Float32Array, grad: (key: string) => Float32Array): void;
  /** torch-layout `state_dict()` with `lr` in every group. */
  stateDict(lr: number): OptimizerState;
  /** Restores a {@link stateDict}, checking indices, kinds and sizes. */
  loadStateDict(sd: OptimizerState): void;
}

/** Parameters of the groups in state-index order. */
export function stateOrder(groups: readonly ParamGroup[]): ParamLayout[] {
  return groups.flatMap((g) => g.params);
}

/** `params` index lists of the groups (consecutive numbering across groups, as torch does). */
export function groupIndices(groups: readonly ParamGroup[]): number[][] {
  let next = 0;
  return groups.map((g) => g.params.map(() => next++));
}

/** Element count of a parameter. */
export function numel(p: ParamLayout): number {
  return p.tfShape.reduce((a, b) => a * b, 1);
}

/** Checks that a restored state tensor fits its parameter. */
export function checkStateSize(
  p: ParamLayout,
  index: number,
  name: string,
  values: Float32Array | undefined,
): Float32Array {
  if (!values) throw new Error(`optimizer state ${index} (${p.key}) has no '${name}'`);
  if (values.length !== numel(p))
    throw new Error(`optimizer ${name} ${index} (${p.key}) has ${values.length} values, expected ${numel(p)}`);
  return values.slice();
}
