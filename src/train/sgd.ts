/**
 * SGD with momentum / Nesterov exactly as torch.optim.SGD (single-tensor path):
 *   d_p = g + wd * p;  buf = d_p on the first step, else m * buf + (1 - dampening) * d_p;
 *   d_p = d_p + m * buf (nesterov) or buf;  p -= lr * d_p
 * with timm's parameter groups (see optimizer.ts). timm's `--opt sgd` is Nesterov SGD,
 * `--opt momentum` the same without Nesterov. Runs on float32 arrays in graph layout.
 */
import { nativeKernels } from './kernels/native.js';
import type { ParamLayout } from './layout.js';
import {
  checkStateSize,
  groupIndices,
  stateOrder,
  timmParamGroups,
  type Optimizer,
  type OptimizerState,
  type ParamGroup,
  type SgdParamState,
} from './optimizer.js';

/** Hyper-parameters of {@link Sgd}. */
export interface SgdOptions {
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
  dampening?: number;
  /** Parameters that get updates (default all); frozen ones are left out of the groups as timm does. */
  trainable?: (key: string) => boolean;
}

/** torch.optim.SGD's `param_groups` entry (the keys torch 1.13 saves, in its order). */
export interface SgdParamGroup {
  weight_decay: number;
  lr: number;
  momentum: number;
  dampening: number;
  nesterov: boolean;
  maximize: boolean;
  foreach: null;
  differentiable: boolean;
  params: number[];
}

/** torch.optim.SGD's `state_dict()`, momentum buffers in graph layout (the checkpoint code converts). */
export type SgdState = OptimizerState<SgdParamState>;

export class Sgd implements Optimizer {
  readonly name: string;
  /** Parameter keys in torch state index order (no-decay group, then decay group). */
  readonly order: ParamLayout[];
  private readonly groups: ParamGroup[];
  private readonly buffers = new Map<string, Float32Array>();

  constructor(
    layouts: ParamLayout[],
    readonly options: SgdOptions,
  ) {
    this.groups = timmParamGroups(layouts, options.weightDecay, options.trainable);
    this.order = stateOrder(this.groups);
    this.name = options.nesterov ? 'sgd' : 'momentum';
  }

  /** Applies one step to every parameter. `param(key)` and `grad(key)` give graph-layout arrays. */
  step(lr: number, param: (key: string) => Float32Array, grad: (key: string) => Float32Array): void {
    const { momentum: m, nesterov } = this.options;
    const damp = 1 - (this.options.dampening ?? 0);
    const trainable = this.options.trainable ?? (() => true);
    const native = nativeKernels();
    for (const group of this.groups) {
      const wd = group.weightDecay;
      for (const p of group.params) {
        // A frozen parameter in the single no-decay group (weight decay 0) has no gradient: torch skips it.
        if (!trainable(p.key)) continue;
        const w = param(p.key);
        const g = grad(p.key);
        let buf = this.buffers.get(p.key);
        const first = buf === undefined;
        if (m !== 0 && !buf) this.buffers.set(p.key, (buf = new Float32Array(w.length)));
        if (native && w.length >= 4096) {
          // Same bits as the loop below (native/src/optim.cc), on every core.
          native.sgdStep(w, g, m !== 0 ? buf! : null, lr, wd, m, this.options.dampening ?? 0, nesterov, first);
          continue;
        }
        for (let i = 0; i < w.length; i++) {
          // Math.fround at each torch op boundary: torch rounds every tensor op to float32.
          let d = wd !== 0 ? Math.fround(g[i]! + wd * w[i]!) : g[i]!;
          if (m !== 0) {
            const b = first ? d : Math.fround(Math.fround(m * buf![i]!) + damp * d);
            buf![i] = b;
            d = nesterov ? Math.fround(d + m * b) : b;
          }
          w[i] = w[i]! - lr * d;
        }
      }
    }
  }

  /** torch-layout `state_dict()` (buffers still in graph layout; see {@link SgdState}). */
  stateDict(lr: number): SgdState {
    const state = new Map<number, SgdParamState>();
    this.order.forEach((p, i) => {
      const b = this.buffers.get(p.key);
      if (b) state.set(i, { momentum_buffer: b.slice() });
    });
    const indices = groupIndices(this.groups);
    const param_groups = this.groups.map((g, k): SgdParamGroup => ({
      weight_decay: g.weightDecay,
      lr,
      momentum: this.options.momentum,
      dampening: this.options.dampening ?? 0,
      nesterov: this.options.nesterov,
      maximize: false,
      foreach: null,
      differentiable: false,
      params: indices[k]!,
    }));
    return { state, param_groups: param_groups as unknown as SgdState['param_groups'] };
  }

  /** Restores momentum buffers from a {@link stateDict} (graph layout), checking sizes. */
  loadStateDict(sd: OptimizerState): void {
    this.buffers.clear();
    for (const [index, entry] of sd.state) {
      const p = this.order[index];
      if (!p) throw new Error(`optimizer state has parameter index ${index}; the model has ${this.order.length}`);
      if (!entry.momentum_buffer)
        throw new Error(
          `optimizer state ${index} (${p.key}) has no momentum_buffer: ` +
            `the checkpoint was not written by SGD (the 'opt' option sgd or momentum)`,
        );
      this.buffers.set(p.key, checkStateSize(p, index, 'momentum buffer', entry.momentum_buffer));
    }
  }

  /** The momentum buffer of a parameter (graph layout), if any step ran. */
  buffer(key: string): Float32Array | undefined {
    return this.buffers.get(key);
  }
}
