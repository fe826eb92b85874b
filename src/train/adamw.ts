/**
 * AdamW exactly as torch.optim.AdamW 1.13 (single-tensor path, amsgrad off), with
 * timm's parameter groups (see optimizer.ts). Per parameter, per step:
 *   step += 1
 *   p *= 1 - lr * wd                                  (decoupled weight decay)
 *   m = beta1 * m + (1 - beta1) * g
 *   v = beta2 * v + (1 - beta2) * g * g
 *   denom = sqrt(v) / sqrt(1 - beta2^step) + eps
 *   p += (-lr / (1 - beta1^step)) * m / denom
 * Tensor ops round to float32 as torch's CPU kernels do (scalars cast to float32; the bias
 * corrections are Python doubles). torch may fuse a multiply-add (FMA) in its vectorized
 * kernels, so the last bit can differ from torch on some elements; the formula does not.
 * State per parameter (torch's layout): `step` (a float32 0-dim tensor), `exp_avg`,
 * `exp_avg_sq`.
 */
import type { ParamLayout } from './layout.js';
import {
  checkStateSize,
  groupIndices,
  stateOrder,
  timmParamGroups,
  type Optimizer,
  type AdamWParamState,
  type OptimizerState,
  type ParamGroup,
} from './optimizer.js';

/** Hyper-parameters of {@link AdamW} (timm's `--opt-betas`, `--opt-eps`, `--weight-decay`). */
export interface AdamWOptions {
  betas: readonly [number, number];
  eps: number;
  weightDecay: number;
  trainable?: (key: string) => boolean;
}

/** torch.optim.AdamW's `param_groups` entry (torch 1.13's keys, in the order timm's groups end up with). */
export interface AdamWParamGroup {
  weight_decay: number;
  lr: number;
  betas: [number, number];
  eps: number;
  amsgrad: boolean;
  foreach: null;
  maximize: boolean;
  capturable: boolean;
  params: number[];
}

interface Moments {
  step: number;
  expAvg: Float32Array;
  expAvgSq: Float32Array;
}

export class AdamW implements Optimizer {
  readonly name = 'adamw';
  readonly order: ParamLayout[];
  private readonly groups: ParamGroup[];
  private readonly moments = new Map<string, Moments>();

  constructor(
    layouts: ParamLayout[],
    readonly options: AdamWOptions,
  ) {
    this.groups = timmParamGroups(layouts, options.weightDecay, options.trainable);
    this.order = stateOrder(this.groups);
  }

  step(lr: number, param: (key: string) => Float32Array, grad: (key: string) => Float32Array): void {
    const f = Math.fround;
    const [beta1, beta2] = this.options.betas;
    const b1 = f(beta1),
      b2 = f(beta2),
      c1 = f(1 - beta1),
      c2 = f(1 - beta2),
      eps = f(this.options.eps);
    const trainable = this.options.trainable ?? (() => true);
    for (const group of this.groups) {
      const decay = f(1 - lr * group.weightDecay);
      for (const p of group.params) {
        if (!trainable(p.key)) continue;
        const w = param(p.key);
        const g = grad(p.key);
        let s = this.moments.get(p.key);
        if (!s)
          this.moments.set(
            p.key,
            (s = { step: 0, expAvg: new Float32Array(w.length), expAvgSq: new Float32Array(w.length) }),
          );
        s.step += 1;
        const bias1 = 1 - beta1 ** s.step;
        const bias2Sqrt = f(Math.sqrt(1 - beta2 ** s.step));
        const stepSize = f(-(lr / bias1)); // addcdiv_'s value, cast to float32
        const m = s.expAvg,
          v = s.expAvgSq;
        for (let i = 0; i < w.length; i++) {
          const gi = g[i]!;
          const wi = decay === 1 ? w[i]! : f(w[i]! * decay);
          m[i] = f(f(m[i]! * b1) + f(c1 * gi));
          v[i] = f(f(v[i]! * b2) + f(f(c2 * gi) * gi));
          const denom = f(f(f(Math.sqrt(v[i]!)) / bias2Sqrt) + eps);
          // addcdiv_: self + value * t1 / t2, evaluated left to right as ATen's kernel writes it.
          w[i] = f(wi + f(f(stepSize * m[i]!) / denom));
        }
      }
    }
  }

  stateDict(lr: number): OptimizerState<AdamWParamState> {
    const state = new Map<number, AdamWParamState>();
    this.order.forEach((p, i) => {
      const s = this.moments.get(p.key);
      if (s) state.set(i, { step: s.step, exp_avg: s.expAvg.slice(), exp_avg_sq: s.expAvgSq.slice() });
    });
    const indices = groupIndices(this.groups);
    const param_groups = this.groups.map((g, k): AdamWParamGroup => ({
      weight_decay: g.weightDecay,
      lr,
      betas: [this.options.betas[0], this.options.betas[1]],
      eps: this.options.eps,
      amsgrad: false,
      foreach: null,
      maximize: false,
      capturable: false,
      params: indices[k]!,
    }));
    return { state, param_groups: param_groups as unknown as OptimizerState['param_groups'] };
  }

  loadStateDict(sd: OptimizerState): void {
    this.moments.clear();
    for (const [index, entry] of sd.state) {
      const p = this.order[index];
      if (!p) throw new Error(`optimizer state has parameter index ${index}; the model has ${this.order.length}`);
      if (entry.step === undefined)
        throw new Error(
          `optimizer state ${index} (${p.key}) has no 'step': the checkpoint was not written by AdamW (the 'opt' ` +
            `option adamw)`,
        );
      this.moments.set(p.key, {
        step: entry.step,
        expAvg: checkStateSize(p, index, 'exp_avg', entry.exp_avg),
        expAvgSq: checkStateSize(p, index, 'exp_avg_sq', entry.exp_avg_sq),
      });
    }
  }

  /** The moments of a parameter (graph layout), if any step ran. */
  moment(key: string): Readonly<Moments> | undefined {
    return this.moments.get(key);
  }
}
