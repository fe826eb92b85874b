/**
 * SGD with momentum / Nesterov exactly as torch.optim.SGD (single-tensor path):
 *   d_p = g + wd * p;  buf = d_p on the first step, else m * buf + (1 - dampening) * d_p;
 *   d_p = d_p + m * buf (nesterov) or buf;  p -= lr * d_p
 * with timm's parameter groups: no weight decay for tensors with ndim <= 1 or names
 * ending in `.bias` (group 0), decay for the rest (group 1). State indices follow
 * torch's state_dict numbering: group 0's parameters first, then group 1's.
 * Runs in place on float32 arrays (the variables' own storage).
 */
import type { ParamLayout } from './layout.js';

/** Hyper-parameters of {@link Sgd}. */
export interface SgdOptions {
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
  dampening?: number;
}

/** torch.optim.SGD's `param_groups` entry (the keys torch 1.13 saves). */
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
export interface SgdState {
  state: Map<number, { momentum_buffer: Float32Array }>;
  param_groups: SgdParamGroup[];
}

export class Sgd {
  /** Parameter keys in torch state index order (no-decay group, then decay group). */
  readonly order: ParamLayout[];
  private readonly buffers = new Map<string, Float32Array>();
  private readonly decayCount: number;

  constructor(layouts: ParamLayout[], readonly options: SgdOptions) {
    const noDecay = layouts.filter((p) => !p.decay);
    const decay = layouts.filter((p) => p.decay);
    this.order = [...noDecay, ...decay];
    this.decayCount = decay.length;
  }

  /** Applies one step to every parameter. `param(key)` and `grad(key)` give graph-layout arrays. */
  step(lr: number, param: (key: string) => Float32Array, grad: (key: string) => Float32Array): void {
    const { momentum: m, nesterov } = this.options;
    const damp = 1 - (this.options.dampening ?? 0);
    for (const p of this.order) {
      const w = param(p.key);
      const g = grad(p.key);
      const wd = p.decay ? this.options.weightDecay : 0;
      let buf = this.buffers.get(p.key);
      const first = buf === undefined;
      if (m !== 0 && !buf) this.buffers.set(p.key, (buf = new Float32Array(w.length)));
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

  /** torch-layout `state_dict()` (buffers still in graph layout; see {@link SgdState}). */
  stateDict(lr: number): SgdState {
    const state = new Map<number, { momentum_buffer: Float32Array }>();
    this.order.forEach((p, i) => {
      const b = this.buffers.get(p.key);
      if (b) state.set(i, { momentum_buffer: b.slice() });
    });
    const nNoDecay = this.order.length - this.decayCount;
    const group = (wd: number, params: number[]): SgdParamGroup => ({
      weight_decay: wd, lr, momentum: this.options.momentum, dampening: this.options.dampening ?? 0,
      nesterov: this.options.nesterov, maximize: false, foreach: null, differentiable: false, params,
    });
    return {
      state,
      param_groups: [
        group(0, Array.from({ length: nNoDecay }, (_, i) => i)),
        group(this.options.weightDecay, Array.from({ length: this.decayCount }, (_, i) => nNoDecay + i)),
      ],
    };
  }

  /** Restores momentum buffers from a {@link stateDict} (graph layout), checking sizes. */
  loadStateDict(sd: SgdState): void {
    this.buffers.clear();
    for (const [index, entry] of sd.state) {
      const p = this.order[index];
      if (!p) throw new Error(`optimizer state has parameter index ${index}; the model has ${this.order.length}`);
      const n = p.tfShape.reduce((a, b) => a * b, 1);
      if (entry.momentum_buffer.length !== n) throw new Error(`optimizer momentum buffer ${index} (${p.key}) has ${entry.momentum_buffer.length} values, expected ${n}`);
      this.buffers.set(p.key, entry.momentum_buffer.slice());
    }
  }

  /** The momentum buffer of a parameter (graph layout), if any step ran. */
  buffer(key: string): Float32Array | undefined {
    return this.buffers.get(key);
  }
}
