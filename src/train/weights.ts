/**
 * Weight sources for evaluation: the live model (its variables) or any float state
 * (the EMA), plus BN running statistics as tensors. Owns the tensors it creates.
 */
import * as tf from '@tensorflow/tfjs';
import type { ModelSpec } from '../spec/model-spec.js';
import { paramLayouts } from './layout.js';
import type { BnStatTensors, WeightSource } from './network.js';
import type { FloatState, ModelState } from './state.js';

export class EvalWeights implements WeightSource {
  private readonly owned: tf.Tensor[] = [];
  private readonly stats = new Map<string, BnStatTensors>();

  private constructor(private readonly params: Map<string, tf.Tensor>) {}

  /** The model's current parameters and running statistics. */
  static fromModel(model: ModelState): EvalWeights {
    const w = new EvalWeights(new Map(model.variables));
    for (const [name, b] of model.bn) w.addStats(name, b.mean, b.variance);
    return w;
  }

  /** Parameters and statistics from graph-layout float state (e.g. the EMA). */
  static fromFloatState(spec: ModelSpec, state: FloatState): EvalWeights {
    const params = new Map<string, tf.Tensor>();
    const w = new EvalWeights(params);
    for (const p of paramLayouts(spec)) {
      const t = tf.tensor(state.get(p.key)!, p.tfShape, 'float32');
      params.set(p.key, t);
      w.owned.push(t);
    }
    for (const key of state.keys()) {
      if (!key.endsWith('.running_mean')) continue;
      const name = key.slice(0, -'.running_mean'.length);
      w.addStats(name, state.get(key)!, state.get(`${name}.running_var`)!);
    }
    return w;
  }

  private addStats(name: string, mean: Float32Array, variance: Float32Array): void {
    const s = { mean: tf.tensor1d(mean), variance: tf.tensor1d(variance) };
    this.owned.push(s.mean, s.variance);
    this.stats.set(name, s);
  }

  param(key: string): tf.Tensor {
    const t = this.params.get(key);
    if (!t) throw new Error(`no parameter '${key}'`);
    return t;
  }

  runningStats = (name: string): BnStatTensors => {
    const s = this.stats.get(name);
    if (!s) throw new Error(`no running statistics for '${name}'`);
    return s;
  };

  /** Frees the tensors this source created. */
  dispose(): void {
    tf.dispose(this.owned);
    this.owned.length = 0;
  }
}
