/**
 * The RepGhostNet training graph in tfjs (NHWC): the spec's one walk (spec/walk.ts)
 * run with tensors as its operations, layer for layer as model/repghost.py, with PyTorch's
 * symmetric k//2 padding given explicitly (tfjs 'same' pads stride-2 convs
 * asymmetrically). Train mode uses batch statistics through the fused BN kernel and
 * reports them for the running-statistics update; eval mode uses running statistics.
 */
import * as tf from '@tensorflow/tfjs';
import type { BnLayer } from '../spec/layer-types.js';
import type { ModelSpec } from '../spec/model-spec.js';
import { walkNetwork, type NetworkOps } from '../spec/walk.js';
import { batchNormTrain } from './kernels/batch-norm.js';
import { nativeKernels } from './kernels/native.js';

/** Where the forward pass gets parameter tensors (graph layout, see layout.ts). */
export interface WeightSource {
  param(key: string): tf.Tensor;
}

/** Running statistics of one BN as tensors, for eval mode. */
export interface BnStatTensors {
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
}

/** Options of {@link forward}. */
export interface ForwardOptions {
  /** Train mode (batch statistics, dropout) or eval mode (running statistics). */
  training: boolean;
  /** Eval mode: the running statistics of a BN layer by name. */
  runningStats?: (bn: string) => BnStatTensors;
  /** Train mode with dropout: [N, headChannels] multipliers (0 or 1/(1-p)). */
  dropoutMask?: tf.Tensor;
  /** Train mode: receives each BN's batch mean and biased variance over `count` values. */
  onBatchStats?: (bn: string, mean: Float32Array, variance: Float32Array, count: number) => void;
  /**
   * Train mode: BatchNorm layers that run in eval mode (normalized with `runningStats`,
   * no batch statistics reported): the frozen stages of --freeze-stages.
   */
  evalModeBn?: (bn: string) => boolean;
}

/**
 * a @ b with a gradient that transposes explicitly: tfjs-backend-wasm's BatchMatMul
 * is ~10x slower with its transpose flags set than on pre-transposed operands. The
 * native product reads transposed operands in place, so with it the flags are used.
 */
const matMulFastGrad = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [a, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const g = dy as tf.Tensor2D;
      const [sa, sb] = saved as [tf.Tensor2D, tf.Tensor2D];
      if (nativeKernels()) return [tf.matMul(g, sb, false, true), tf.matMul(sa, g, true, false)];
      return [tf.matMul(g, tf.transpose(sb)), tf.matMul(tf.transpose(sa), g)];
    },
  };
});

function matMul(a: tf.Tensor, b: tf.Tensor): tf.Tensor2D {
  return matMulFastGrad(a, b) as tf.Tensor2D;
}

/**
 * A BN the walk asked for that is not computed yet. The fused kernel computes
 * y = relu?(BN(x) + z?) in one pass (forward and backward), so a BN waits to see
 * whether the next op is an add or a ReLU it can take in; any other reader forces it.
 * `absorbed`: a later op took this BN in, so it must never run on its own.
 */
class PendingBn {
  result: tf.Tensor4D | undefined;
  absorbed = false;
  constructor(
    readonly layer: BnLayer,
    readonly input: tf.Tensor4D,
    readonly relu: boolean,
    readonly z?: tf.Tensor4D,
  ) {}
}

/** A value of the training graph: a tensor (NHWC for 4D) or a BN still open for fusion. */
type Value = tf.Tensor | PendingBn;

/** Runs the network on an NHWC batch; returns logits [N, numClasses]. */
export function forward(spec: ModelSpec, weights: WeightSource, x: tf.Tensor4D, options: ForwardOptions): tf.Tensor2D {
  const training = options.training;

  /** relu?(BN(input) + z?): the one place a BN runs (batch statistics in train mode). */
  const batchNorm = (l: BnLayer, input: tf.Tensor4D, relu: boolean, z?: tf.Tensor4D): tf.Tensor4D => {
    const gamma = weights.param(`${l.name}.weight`);
    const beta = weights.param(`${l.name}.bias`);
    if (training && !options.evalModeBn?.(l.name)) {
      const r = batchNormTrain(input, gamma, beta, { eps: l.eps, relu }, z);
      const count = input.size / input.shape[3];
      options.onBatchStats?.(l.name, r.mean.dataSync() as Float32Array, r.variance.dataSync() as Float32Array, count);
      return r.y as tf.Tensor4D;
    }
    if (!options.runningStats) throw new Error('eval-mode forward needs runningStats');
    const s = options.runningStats(l.name);
    let y = tf.batchNorm(input, s.mean, s.variance, beta as tf.Tensor1D, gamma as tf.Tensor1D, l.eps);
    if (z) y = tf.add(y, z);
    return relu ? tf.relu(y) : y;
  };

  const force = (v: Value): tf.Tensor4D => {
    if (!(v instanceof PendingBn)) return v as tf.Tensor4D;
    if (v.absorbed) throw new Error(`internal: ${v.layer.name} was fused into a later op and is read again`);
    return (v.result ??= batchNorm(v.layer, v.input, v.relu, v.z));
  };
  /** A BN that can still take an addend (no ReLU or addend yet, not computed). */
  const openForAdd = (v: Value): v is PendingBn =>
    v instanceof PendingBn && !v.relu && !v.z && !v.result && !v.absorbed;
  const absorb = (p: PendingBn, relu: boolean, z?: tf.Tensor4D): PendingBn => {
    p.absorbed = true;
    return new PendingBn(p.layer, p.input, relu, z);
  };

  const ops: NetworkOps<Value> = {
    conv(l, value) {
      const input = force(value);
      const w = weights.param(`${l.name}.weight`);
      let y: tf.Tensor4D;
      if (l.groups === 1 && l.kernel === 1) {
        const [n, h, wd, c] = input.shape;
        y = tf.reshape(matMul(tf.reshape(input, [n * h * wd, c]), w), [n, h, wd, l.outChannels]);
      } else {
        const p: [number, number] = [l.pad, l.pad];
        const pad: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], p, p, [0, 0]];
        y =
          l.groups === 1
            ? tf.conv2d(input, w as tf.Tensor4D, l.stride, pad)
            : tf.depthwiseConv2d(input, w as tf.Tensor4D, l.stride, pad);
      }
      return l.bias ? tf.add(y, weights.param(`${l.name}.bias`)) : y;
    },
    bn: (l, value) => new PendingBn(l, force(value), false),
    relu(_name, v) {
      if (v instanceof PendingBn && !v.relu && !v.result && !v.absorbed) return absorb(v, true, v.z);
      return tf.relu(force(v));
    },
    add(_name, a, b) {
      if (openForAdd(a)) return absorb(a, false, force(b));
      if (openForAdd(b)) return absorb(b, false, force(a));
      return tf.add(force(a), force(b));
    },
    globalPool(_name, v) {
      const input = force(v);
      const [n, , , c] = input.shape;
      return tf.reshape(tf.mean(input, [1, 2]), [n, 1, 1, c]);
    },
    hardSigmoid: (_name, v) => tf.div(tf.relu6(tf.add(force(v), 3)), 6),
    mul: (_name, v, gate) => tf.mul(force(v), force(gate)),
    flatten(_name, v) {
      const input = force(v);
      return tf.reshape(input, [input.shape[0], input.shape[3]]);
    },
    // The mask (0 or 1/(1-p) per element) is drawn by the caller from the rate.
    dropout: (_rate, v) => (training && options.dropoutMask ? tf.mul(force(v), options.dropoutMask) : v),
    linear: (l, v) => tf.add(matMul(force(v), weights.param(`${l.name}.weight`)), weights.param(`${l.name}.bias`)),
    tap: (_name, v) => v,
  };
  return force(walkNetwork(spec, 'train', ops, x)) as tf.Tensor as tf.Tensor2D;
}
