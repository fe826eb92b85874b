/**
 * The trainable model state: tfjs variables (in the graph's layouts, see layout.ts)
 * for parameters and plain float32 arrays for BN running statistics, keyed by
 * PyTorch state-dict keys. Converts to and from PyTorch-layout state dicts exactly.
 */
import * as tf from '@tensorflow/tfjs';
import { layers, stateDictKeys } from '../spec/layers.js';
import type { ModelSpec } from '../spec/model-spec.js';
import { i64Scalar, toFloat32, type StateDict, type Tensor as PtTensor } from '../weights/tensor.js';
import { paramLayouts, tfToTorch, torchToTf, type ParamLayout } from './layout.js';
import { liveView } from './kernels/typed-io.js';
import type { BnStatTensors } from './network.js';
import type { Rng } from './rng.js';

/** Running statistics of one BatchNorm, as PyTorch keeps them. */
export interface BnBuffers {
  mean: Float32Array;
  variance: Float32Array;
  numBatchesTracked: bigint;
}

/**
 * All floating-point state in graph layout (parameters by key, BN statistics as
 * `<bn>.running_mean` / `<bn>.running_var`): what EMA averages and evaluation reads.
 */
export type FloatState = Map<string, Float32Array>;

function tensorOf(sd: StateDict, key: string, shape: number[]): PtTensor {
  const t = sd.get(key);
  if (!t) throw new Error(`state dict has no '${key}'`);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new Error(`'${key}' has shape [${t.shape.join(', ')}], the model needs [${shape.join(', ')}]`);
  }
  return t;
}

/** Names of the BatchNorm layers of a spec, in PyTorch order. */
export function bnNames(spec: ModelSpec): string[] {
  return layers(spec, 'train')
    .filter((l) => l.kind === 'bn')
    .map((l) => l.name);
}

let nextModelId = 0;

export class ModelState {
  readonly layouts: ParamLayout[];
  /** Parameters by PyTorch key (graph layout). */
  readonly variables = new Map<string, tf.Variable>();
  /** Running statistics by BN layer name. */
  readonly bn: Map<string, BnBuffers>;
  /**
   * Parameters that get no gradient and no update (`--freeze-stages`, see freeze.ts):
   * the training step leaves them out of the gradient computation. Empty by default.
   */
  readonly frozen = new Set<string>();
  /** BatchNorm layers of frozen stages: their running statistics are never updated. */
  readonly frozenBn = new Set<string>();
  private frozenStatTensors = new Map<string, BnStatTensors>();

  private constructor(
    readonly spec: ModelSpec,
    values: Map<string, Float32Array>,
    bn: Map<string, BnBuffers>,
  ) {
    this.layouts = paramLayouts(spec);
    // tfjs variable names are global: prefix each model's so several can coexist.
    const prefix = `repghost${nextModelId++}/`;
    for (const p of this.layouts) {
      const v = values.get(p.key)!;
      const init = tf.tensor(v, p.tfShape, 'float32');
      this.variables.set(p.key, tf.variable(init, true, prefix + p.key));
      init.dispose();
    }
    this.bn = bn;
  }

  /** Loads a training-form PyTorch state dict (shapes checked against the spec). */
  static fromStateDict(spec: ModelSpec, sd: StateDict): ModelState {
    const { state, numBatchesTracked } = stateDictToFloatState(spec, sd);
    const bn = new Map<string, BnBuffers>();
    for (const [name, count] of numBatchesTracked) {
      bn.set(name, {
        mean: state.get(`${name}.running_mean`)!,
        variance: state.get(`${name}.running_var`)!,
        numBatchesTracked: count,
      });
    }
    return new ModelState(spec, state, bn);
  }

  /**
   * PyTorch's default initialization, as the official model gets it (it defines none
   * of its own): conv and linear weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in))
   * (kaiming_uniform with a = sqrt(5)), BN weight 1, bias 0, running mean 0, var 1.
   */
  static init(spec: ModelSpec, rng: Rng): ModelState {
    const values = new Map<string, Float32Array>();
    const fanIn = new Map<string, number>();
    for (const l of layers(spec, 'train')) {
      if (l.kind === 'conv') fanIn.set(l.name, (l.inChannels / l.groups) * l.kernel * l.kernel);
      if (l.kind === 'linear') fanIn.set(l.name, l.inFeatures);
    }
    const bnSet = new Set(bnNames(spec));
    for (const p of paramLayouts(spec)) {
      const layer = p.key.slice(0, p.key.lastIndexOf('.'));
      const n = p.tfShape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(n);
      if (bnSet.has(layer)) {
        if (p.key.endsWith('.weight')) data.fill(1);
      } else {
        const bound = 1 / Math.sqrt(fanIn.get(layer)!);
        for (let i = 0; i < n; i++) data[i] = (rng.uniform() * 2 - 1) * bound;
      }
      // Drawn in PyTorch order (torch layout), stored in graph layout.
      values.set(p.key, torchToTf(p, data));
    }
    const bn = new Map<string, BnBuffers>();
    for (const name of bnSet) {
      const c = values.get(`${name}.weight`)!.length;
      bn.set(name, { mean: new Float32Array(c), variance: new Float32Array(c).fill(1), numBatchesTracked: 0n });
    }
    return new ModelState(spec, values, bn);
  }

  /** The training-form state dict in PyTorch layout and key order (copies). */
  toStateDict(): StateDict {
    return floatStateToStateDict(this.spec, this.floatState(), (name) => this.bn.get(name)!.numBatchesTracked);
  }

  /** A copy of all float state in graph layout (see {@link FloatState}). */
  floatState(): FloatState {
    const out: FloatState = new Map();
    for (const p of this.layouts) out.set(p.key, liveView(this.variables.get(p.key)!).slice());
    for (const [name, b] of this.bn) {
      out.set(`${name}.running_mean`, b.mean.slice());
      out.set(`${name}.running_var`, b.variance.slice());
    }
    return out;
  }

  /**
   * Replaces a parameter's values (graph layout) by assigning a new tensor. Never
   * write into a variable's storage instead: the wasm backend caches packed conv
   * weights per tensor and would keep using the old values.
   */
  setParam(key: string, values: Float32Array): void {
    const v = this.variables.get(key);
    if (!v) throw new Error(`no parameter '${key}'`);
    if (values.length !== v.size) throw new Error(`'${key}' needs ${v.size} values, got ${values.length}`);
    const t = tf.tensor(values, v.shape, 'float32');
    v.assign(t);
    t.dispose();
  }

  /** Overwrites every parameter and BN statistic from graph-layout float state. */
  loadFloatState(state: FloatState, numBatchesTracked?: (bn: string) => bigint): void {
    this.disposeFrozenStats();
    for (const p of this.layouts) this.setParam(p.key, state.get(p.key)!);
    for (const [name, b] of this.bn) {
      b.mean.set(state.get(`${name}.running_mean`)!);
      b.variance.set(state.get(`${name}.running_var`)!);
      if (numBatchesTracked) b.numBatchesTracked = numBatchesTracked(name);
    }
  }

  /** Freezes parameters and BatchNorms (replacing any earlier choice). */
  freeze(parts: { params: Iterable<string>; batchNorms: Iterable<string> }): void {
    this.frozen.clear();
    this.frozenBn.clear();
    for (const k of parts.params) {
      if (!this.variables.has(k)) throw new Error(`cannot freeze '${k}': no such parameter`);
      this.frozen.add(k);
    }
    for (const b of parts.batchNorms) {
      if (!this.bn.has(b)) throw new Error(`cannot freeze BatchNorm '${b}': no such layer`);
      this.frozenBn.add(b);
    }
    this.disposeFrozenStats();
  }

  /** Whether a parameter gets gradients and updates. */
  isTrainable(key: string): boolean {
    return !this.frozen.has(key);
  }

  /**
   * The running statistics of a frozen BatchNorm as tensors, for a training-mode forward
   * that runs frozen BNs in eval mode. Created once and kept: frozen statistics never change
   * (loadFloatState drops the cache).
   */
  frozenRunningStats(name: string): BnStatTensors {
    let s = this.frozenStatTensors.get(name);
    if (!s) {
      const b = this.bn.get(name);
      if (!b || !this.frozenBn.has(name)) throw new Error(`'${name}' is not a frozen BatchNorm`);
      // Kept: the first call comes from inside the step's gradient scope, which would dispose them.
      s = { mean: tf.keep(tf.tensor1d(b.mean)), variance: tf.keep(tf.tensor1d(b.variance)) };
      this.frozenStatTensors.set(name, s);
    }
    return s;
  }

  private disposeFrozenStats(): void {
    for (const s of this.frozenStatTensors.values()) tf.dispose([s.mean, s.variance]);
    this.frozenStatTensors.clear();
  }

  /** Frees the variables. */
  dispose(): void {
    this.disposeFrozenStats();
    for (const v of this.variables.values()) v.dispose();
    this.variables.clear();
  }
}

/** PyTorch state dict -> graph-layout float state and counters (shapes checked). */
export function stateDictToFloatState(
  spec: ModelSpec,
  sd: StateDict,
): { state: FloatState; numBatchesTracked: Map<string, bigint> } {
  const state: FloatState = new Map();
  for (const p of paramLayouts(spec)) state.set(p.key, torchToTf(p, toFloat32(tensorOf(sd, p.key, p.torchShape))));
  const numBatchesTracked = new Map<string, bigint>();
  for (const name of bnNames(spec)) {
    const c = state.get(`${name}.weight`)!.length;
    state.set(`${name}.running_mean`, toFloat32(tensorOf(sd, `${name}.running_mean`, [c])).slice());
    state.set(`${name}.running_var`, toFloat32(tensorOf(sd, `${name}.running_var`, [c])).slice());
    numBatchesTracked.set(name, readCount(sd.get(`${name}.num_batches_tracked`)));
  }
  return { state, numBatchesTracked };
}

function readCount(t: PtTensor | undefined): bigint {
  if (!t) return 0n;
  return t.dtype === 'I64' ? (t.data as BigInt64Array)[0]! : BigInt(Math.round(toFloat32(t)[0]!));
}

/** Graph-layout float state -> PyTorch state dict in `stateDictKeys(spec, 'train')` order. */
export function floatStateToStateDict(
  spec: ModelSpec,
  state: FloatState,
  numBatchesTracked: (bn: string) => bigint,
): StateDict {
  const byKey = new Map(paramLayouts(spec).map((p) => [p.key, p]));
  const sd: StateDict = new Map();
  for (const [key, shape] of stateDictKeys(spec, 'train')) {
    if (key.endsWith('.num_batches_tracked')) {
      sd.set(key, i64Scalar(numBatchesTracked(key.slice(0, -'.num_batches_tracked'.length))));
      continue;
    }
    const p = byKey.get(key);
    const values = state.get(key);
    if (!values) throw new Error(`internal: no value for '${key}'`);
    sd.set(key, { dtype: 'F32', shape: [...shape], data: p ? tfToTorch(p, values) : values.slice() });
  }
  return sd;
}
