/**
 * timm's ModelEmaV2: an exponential moving average of the whole state dict, updated
 * after every optimizer step: ema = decay * ema + (1 - decay) * model for every
 * floating-point entry (parameters and BN running statistics), evaluated in float32
 * as PyTorch does. `num_batches_tracked` (int64) goes through the same formula and is
 * truncated back to an integer by `copy_`, as in timm.
 */
import type { ModelSpec } from '../spec/model-spec.js';
import type { StateDict } from '../weights/tensor.js';
import { nativeKernels } from './kernels/native.js';
import { liveView } from './kernels/typed-io.js';
import { stateDictToFloatState, type FloatState, type ModelState } from './state.js';

export class ModelEma {
  /** Averaged float state in graph layout (see FloatState). */
  readonly state: FloatState;
  /** Averaged num_batches_tracked per BN. */
  readonly numBatchesTracked: Map<string, bigint>;

  /** Starts as a copy of `model` (timm deep-copies the model). */
  constructor(
    model: ModelState | { state: FloatState; numBatchesTracked: Map<string, bigint> },
    readonly decay: number,
  ) {
    if ('layouts' in model) {
      this.state = model.floatState();
      this.numBatchesTracked = new Map([...model.bn].map(([name, b]) => [name, b.numBatchesTracked]));
    } else {
      this.state = model.state;
      this.numBatchesTracked = model.numBatchesTracked;
    }
  }

  /** Restores an EMA from its PyTorch state dict (a checkpoint's `state_dict_ema`). */
  static fromStateDict(spec: ModelSpec, sd: StateDict, decay: number): ModelEma {
    return new ModelEma(stateDictToFloatState(spec, sd), decay);
  }

  /** One update from the current model. */
  update(model: ModelState): void {
    const d = Math.fround(this.decay);
    const c = Math.fround(1 - this.decay);
    const native = nativeKernels();
    const mix = (ema: Float32Array, cur: Float32Array): void => {
      // The native loop gives the same bits (see native/src/optim.cc).
      if (native && ema.length >= 4096) {
        native.emaUpdate(ema, cur, d, c);
        return;
      }
      for (let i = 0; i < ema.length; i++) ema[i] = Math.fround(d * ema[i]!) + Math.fround(c * cur[i]!);
    };
    for (const p of model.layouts) mix(this.state.get(p.key)!, liveView(model.variables.get(p.key)!));
    for (const [name, b] of model.bn) {
      mix(this.state.get(`${name}.running_mean`)!, b.mean);
      mix(this.state.get(`${name}.running_var`)!, b.variance);
      const e = Number(this.numBatchesTracked.get(name)!);
      const v = Math.fround(Math.fround(d * e) + Math.fround(c * Number(b.numBatchesTracked)));
      this.numBatchesTracked.set(name, BigInt(Math.trunc(v)));
    }
  }
}
