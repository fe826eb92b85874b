/**
 * The RepGhostNet training graph in tfjs (NHWC), built by walking the spec: the
 * forward semantics of the official model/repghost.py, layer for layer, with PyTorch's
 * symmetric k//2 padding given explicitly (tfjs 'same' pads stride-2 convs
 * asymmetrically). Train mode uses batch statistics through the fused BN kernel and
 * reports them for the running-statistics update; eval mode uses running statistics.
 */
import * as tf from '@tensorflow/tfjs';
import { layers, type ConvLayer } from '../spec/layers.js';
import { BN_EPS, type BottleneckSpec, type GhostModuleSpec, type ModelSpec } from '../spec/model-spec.js';
import { batchNormTrain } from './kernels/batch-norm.js';
import { nativeKernels } from './kernels/native.js';

/** Where the forward pass gets parameter tensors (graph layout, see layout.ts). */
export interface WeightSource {
  param(key: string): tf.Tensor;
}

/** Running statistics of one BN as tensors, for eval mode. */
export interface BnStatTensors { mean: tf.Tensor1D; variance: tf.Tensor1D }

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
const matMulFastGrad = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
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

/** The layers of a spec by module name, for kernel/stride/padding lookup. */
function convLayers(spec: ModelSpec): Map<string, ConvLayer> {
  const m = new Map<string, ConvLayer>();
  for (const l of layers(spec, 'train', [32, 32])) if (l.kind === 'conv') m.set(l.name, l);
  return m;
}

const convCache = new WeakMap<ModelSpec, Map<string, ConvLayer>>();

/** Runs the network on an NHWC batch; returns logits [N, numClasses]. */
export function forward(spec: ModelSpec, weights: WeightSource, x: tf.Tensor4D, options: ForwardOptions): tf.Tensor2D {
  let convs = convCache.get(spec);
  if (!convs) convCache.set(spec, (convs = convLayers(spec)));
  const training = options.training;

  const conv = (name: string, input: tf.Tensor4D): tf.Tensor4D => {
    const l = convs.get(name);
    if (!l) throw new Error(`internal: no conv layer '${name}'`);
    const w = weights.param(`${name}.weight`);
    let y: tf.Tensor4D;
    if (l.groups === 1 && l.kernel === 1) {
      const [n, h, wd, c] = input.shape;
      y = tf.reshape(matMul(tf.reshape(input, [n * h * wd, c]), w), [n, h, wd, l.outChannels]);
    } else {
      const pad: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [l.pad, l.pad], [l.pad, l.pad], [0, 0]];
      y = l.groups === 1
        ? tf.conv2d(input, w as tf.Tensor4D, l.stride, pad)
        : tf.depthwiseConv2d(input, w as tf.Tensor4D, l.stride, pad);
    }
    return l.bias ? tf.add(y, weights.param(`${name}.bias`)) : y;
  };

  /** relu?(BN(input) + z?) */
  const bn = (name: string, input: tf.Tensor4D, relu: boolean, z?: tf.Tensor4D): tf.Tensor4D => {
    const gamma = weights.param(`${name}.weight`);
    const beta = weights.param(`${name}.bias`);
    if (training && !options.evalModeBn?.(name)) {
      const r = batchNormTrain(input, gamma, beta, { eps: BN_EPS, relu }, z);
      options.onBatchStats?.(name, r.mean.dataSync() as Float32Array, r.variance.dataSync() as Float32Array, input.size / input.shape[3]);
      return r.y as tf.Tensor4D;
    }
    if (!options.runningStats) throw new Error('eval-mode forward needs runningStats');
    const s = options.runningStats(name);
    let y = tf.batchNorm(input, s.mean, s.variance, beta as tf.Tensor1D, gamma as tf.Tensor1D, BN_EPS);
    if (z) y = tf.add(y, z);
    return relu ? tf.relu(y) : y;
  };

  const ghost = (g: GhostModuleSpec, input: tf.Tensor4D): tf.Tensor4D => {
    const x1 = bn(`${g.name}.primary_conv.1`, conv(`${g.name}.primary_conv.0`, input), g.relu);
    const cheap = conv(`${g.name}.cheap_operation.0`, x1);
    const fusion = g.fusion === 'bn' ? bn(`${g.name}.fusion_bn.0`, x1, false) : g.fusion === 'identity' ? x1 : undefined;
    return bn(`${g.name}.cheap_operation.1`, cheap, g.relu, fusion);
  };

  const squeezeExcite = (b: BottleneckSpec, input: tf.Tensor4D): tf.Tensor4D => {
    const se = b.se!;
    const [n, , , c] = input.shape;
    const pooled = tf.reshape(tf.mean(input, [1, 2]), [n, 1, 1, c]) as tf.Tensor4D;
    const reduced = tf.relu(conv(`${se.name}.conv_reduce`, pooled));
    const expanded = conv(`${se.name}.conv_expand`, reduced);
    const gate = tf.div(tf.relu6(tf.add(expanded, 3)), 6); // hard_sigmoid of the official code
    return tf.mul(input, gate);
  };

  const bottleneck = (b: BottleneckSpec, input: tf.Tensor4D): tf.Tensor4D => {
    let h = ghost(b.ghost1, input);
    if (b.stride > 1) h = bn(`${b.name}.bn_dw`, conv(`${b.name}.conv_dw`, h), false);
    if (b.se) h = squeezeExcite(b, h);
    const out = ghost(b.ghost2, h);
    if (b.shortcut === 'none') return out;
    if (b.shortcut === 'identity') return tf.add(out, input);
    const s = bn(`${b.name}.shortcut.1`, conv(`${b.name}.shortcut.0`, input), false);
    return bn(`${b.name}.shortcut.3`, conv(`${b.name}.shortcut.2`, s), false, out);
  };

  let h = bn('bn1', conv('conv_stem', x), true);
  for (const stage of spec.stages) {
    for (const block of stage) {
      h = block.kind === 'bottleneck' ? bottleneck(block, h) : bn(`${block.name}.bn1`, conv(`${block.name}.conv`, h), true);
    }
  }
  const n = h.shape[0];
  const pooled = tf.reshape(tf.mean(h, [1, 2]), [n, 1, 1, spec.headIn]) as tf.Tensor4D;
  let feat: tf.Tensor = tf.reshape(tf.relu(conv('conv_head', pooled)), [n, spec.headChannels]);
  if (training && options.dropoutMask) feat = tf.mul(feat, options.dropoutMask);
  const logits = tf.add(matMul(feat, weights.param('classifier.weight')), weights.param('classifier.bias'));
  return logits as tf.Tensor2D;
}
