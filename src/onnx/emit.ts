/**
 * ONNX emission by walking the model spec: the forward pass of the official
 * `RepGhostNet.forward` written once, over three interchangeable ways of emitting a
 * conv and its BN:
 *
 * - `deploy`: official deploy form with every BN folded into its conv
 *   (`foldAllBatchNorms`): Conv(+bias) nodes only; the fast inference graph.
 * - `deploy-bn`: official deploy form, BNs kept as BatchNormalization nodes.
 * - `train`: training form, each fusion branch as its own ops (BatchNormalization or
 *   identity, then Add), exactly the training-time network in eval mode.
 *
 * All three compute the same function (to float rounding). Layer hyper-parameters
 * (kernel, stride, padding, groups, sizes) come from `layers(spec, form)`.
 */
import { cheapIsFused, layers, type ConvLayer, type Form, type Layer } from '../spec/layers.js';
import type { BottleneckSpec, ConvBnActSpec, GhostModuleSpec, ModelSpec, SeSpec } from '../spec/model-spec.js';
import { foldAllBatchNorms, toDeploy, type FoldedConv } from '../reparam/fuse.js';
import { detectForm } from '../weights/match.js';
import { f32, toFloat32, type StateDict, type Tensor } from '../weights/tensor.js';
import { GraphBuilder } from './graph-builder.js';
import { encodeModel, IR_VERSION, OPSET, type Dim } from './proto.js';
import { checkTaps, type TapName } from './taps.js';

/** Which graph to emit; see the module comment. */
export type GraphMode = 'deploy' | 'deploy-bn' | 'train';

/** Options of {@link exportOnnx}. */
export interface OnnxExportOptions {
  /** Graph form (default `deploy`: every BN folded). */
  mode?: GraphMode;
  /** Symbolic height/width (`height`, `width`) instead of fixed ones (the batch is always symbolic). */
  dynamicSpatial?: boolean;
  /** Fixed input [height, width] when not dynamic (default [224, 224]). */
  inputSize?: [number, number];
  /** Extra outputs `features.<tap>` besides `logits`, in any order (emitted in network order). */
  features?: readonly TapName[];
  /** Written to the model's `producer_version`. */
  producerVersion?: string;
}

/** The graph's input and output names. */
export const INPUT_NAME = 'input';
export const LOGITS_NAME = 'logits';
/** Graph output name of a feature tap. */
export const featureOutputName = (tap: TapName): string => `features.${tap}`;

const BATCH: Dim = { dim_param: 'batch' };
const UNKNOWN: Dim = {};

/** Emits convs and BNs for one mode; the walk below never needs to know which. */
class Emitter {
  readonly g = new GraphBuilder('repghostnet');
  private readonly walk: Layer[];
  private readonly index = new Map<string, number>();
  private readonly folded: Map<string, FoldedConv> | null;
  private readonly taps: Set<TapName>;
  private readonly tapped: string[] = [];

  constructor(
    readonly spec: ModelSpec,
    readonly form: Form,
    private readonly sd: StateDict,
    mode: GraphMode,
    private readonly dynamic: boolean,
    inputSize: [number, number],
    taps: readonly TapName[],
  ) {
    this.walk = layers(spec, form, inputSize);
    this.walk.forEach((l, i) => this.index.set(l.name, i));
    this.folded = mode === 'deploy' ? foldAllBatchNorms(spec, sd) : null;
    this.taps = new Set(taps);
  }

  private layer<K extends Layer['kind']>(name: string, kind: K): Extract<Layer, { kind: K }> {
    const l = this.walk[this.index.get(name) ?? -1];
    if (!l || l.kind !== kind) throw new Error(`internal: spec walk has no ${kind} layer '${name}' in ${this.form} form`);
    return l as Extract<Layer, { kind: K }>;
  }

  param(key: string): Tensor<'F32'> {
    return f32Param(this.sd, key);
  }

  private convNode(l: ConvLayer, x: string, weight: string, bias: string | null): string {
    const shape: Dim[] = [BATCH, { dim_value: l.outChannels }, ...(this.dynamic ? [UNKNOWN, UNKNOWN] : [{ dim_value: l.outH }, { dim_value: l.outW }])];
    return this.g.node('Conv', l.name, bias ? [x, weight, bias] : [x, weight], {
      group: l.groups, kernel_shape: [l.kernel, l.kernel], pads: [l.pad, l.pad, l.pad, l.pad], strides: [l.stride, l.stride], dilations: [1, 1],
    }, shape);
  }

  /** A conv with its own parameters (in BN-folded mode: with the BN after it, if any, folded in). */
  conv(name: string, x: string): string {
    const l = this.layer(name, 'conv');
    if (this.folded) {
      const f = this.folded.get(name)!;
      return this.convNode(l, x, this.g.initializer(`${name}.folded_weight`, f.weight), this.g.initializer(`${name}.folded_bias`, f.bias));
    }
    return this.unfoldedConv(l, x);
  }

  private unfoldedConv(l: ConvLayer, x: string): string {
    const w = this.g.initializer(`${l.name}.weight`, this.param(`${l.name}.weight`));
    const b = l.bias ? this.g.initializer(`${l.name}.bias`, this.param(`${l.name}.bias`)) : null;
    return this.convNode(l, x, w, b);
  }

  /** An eval-mode BatchNorm node (opset 13 has no training_mode attribute: inference semantics). */
  bn(name: string, x: string): string {
    const l = this.layer(name, 'bn');
    const p = (s: string) => this.g.initializer(`${name}.${s}`, this.param(`${name}.${s}`));
    return this.g.node('BatchNormalization', name, [x, p('weight'), p('bias'), p('running_mean'), p('running_var')], { epsilon: { float: l.eps } });
  }

  /** conv -> BN; one folded Conv in `deploy` mode. */
  convBn(convName: string, bnName: string, x: string): string {
    if (!this.folded) return this.bn(bnName, this.conv(convName, x));
    // foldAllBatchNorms folds the BN that follows each conv in the walk: make sure it is this one.
    const next = this.walk[this.index.get(convName)! + 1];
    if (next?.name !== bnName) throw new Error(`internal: ${bnName} does not follow ${convName} in the spec walk`);
    return this.conv(convName, x);
  }

  /** conv_stem -> bn1. The `conv_stem` tap is the conv output before bn1, so with that tap the stem stays unfolded. */
  stem(x: string): string {
    if (this.folded && !this.taps.has('conv_stem')) return this.convBn('conv_stem', 'bn1', x);
    const raw = this.unfoldedConv(this.layer('conv_stem', 'conv'), x);
    return this.bn('bn1', this.tap('conv_stem', raw));
  }

  relu(name: string, x: string): string {
    return this.g.node('Relu', name, [x]);
  }

  add(name: string, a: string, b: string): string {
    return this.g.node('Add', name, [a, b]);
  }

  /** Names `x` `features.<tap>` when that tap was asked for (declared as an output by finish()). */
  tap(name: TapName, x: string): string {
    if (!this.taps.has(name)) return x;
    const out = this.g.rename(x, featureOutputName(name));
    this.tapped.push(out);
    return out;
  }

  /** Declares the outputs: logits first, then the taps in network order. */
  finish(logits: string): void {
    this.g.output(this.g.rename(logits, LOGITS_NAME));
    for (const t of this.tapped) this.g.output(t);
  }
}

/** RepGhostModule.forward: relu?(cheap(x1) + fusion(x1)), x1 = primary_conv(x). */
function ghostModule(e: Emitter, m: GhostModuleSpec, x: string): string {
  let x1 = e.convBn(`${m.name}.primary_conv.0`, `${m.name}.primary_conv.1`, x);
  if (m.relu) x1 = e.relu(`${m.name}.primary_conv.2`, x1);
  let y: string;
  if (cheapIsFused(m, e.form)) {
    y = e.conv(`${m.name}.cheap_operation`, x1);
  } else {
    y = e.convBn(`${m.name}.cheap_operation.0`, `${m.name}.cheap_operation.1`, x1);
    if (m.fusion === 'bn') y = e.add(`${m.name}.fusion_add`, y, e.bn(`${m.name}.fusion_bn.0`, x1));
    else if (m.fusion === 'identity') y = e.add(`${m.name}.fusion_add`, y, x1);
  }
  return m.relu ? e.relu(`${m.name}.relu`, y) : y;
}

/** SqueezeExcite.forward: x * hard_sigmoid(expand(relu(reduce(avgpool(x))))). */
function squeezeExcite(e: Emitter, se: SeSpec, x: string): string {
  const [n] = e.g.shapeOf(x);
  const pooled = e.g.node('GlobalAveragePool', `${se.name}.avg_pool`, [x], {}, [n!, { dim_value: se.channels }, { dim_value: 1 }, { dim_value: 1 }]);
  const reduced = e.relu(`${se.name}.act1`, e.conv(`${se.name}.conv_reduce`, pooled));
  const expanded = e.conv(`${se.name}.conv_expand`, reduced);
  // hard_sigmoid(x) = relu6(x + 3) / 6 = clip(x / 6 + 0.5, 0, 1): one HardSigmoid node.
  const gate = e.g.node('HardSigmoid', `${se.name}.gate`, [expanded], { alpha: { float: 1 / 6 }, beta: { float: 0.5 } });
  return e.g.node('Mul', `${se.name}.mul`, [x, gate]);
}

/** RepGhostBottleneck.forward. */
function bottleneck(e: Emitter, b: BottleneckSpec, x: string): string {
  let y = ghostModule(e, b.ghost1, x);
  if (b.stride > 1) y = e.convBn(`${b.name}.conv_dw`, `${b.name}.bn_dw`, y);
  if (b.se) y = squeezeExcite(e, b.se, y);
  y = ghostModule(e, b.ghost2, y);
  if (b.shortcut === 'none') return y;
  const residual = b.shortcut === 'identity'
    ? x
    : e.convBn(`${b.name}.shortcut.2`, `${b.name}.shortcut.3`, e.convBn(`${b.name}.shortcut.0`, `${b.name}.shortcut.1`, x));
  return e.add(`${b.name}.add`, y, residual);
}

/** ConvBnAct (`blocks.9.0`): relu(bn1(conv(x))). */
function convBnAct(e: Emitter, b: ConvBnActSpec, x: string): string {
  return e.relu(`${b.name}.act1`, e.convBn(`${b.name}.conv`, `${b.name}.bn1`, x));
}

/**
 * Builds the ONNX model (opset 13) of `spec` with weights `sd` (training or official
 * deploy form, detected; `train` mode needs training-form weights). Input `input`
 * float32 [batch, 3, H, W]; outputs `logits` [batch, numClasses] and the requested
 * `features.<tap>`. Returns the serialized model.
 */
export function exportOnnx(spec: ModelSpec, sd: StateDict, options: OnnxExportOptions = {}): Uint8Array {
  const mode = options.mode ?? 'deploy';
  const inputSize = options.inputSize ?? [224, 224];
  const dynamic = options.dynamicSpatial ?? false;
  const taps = checkTaps(spec, options.features ?? []);
  const given = detectForm(spec, sd);
  let form: Form;
  let weights: StateDict;
  if (mode === 'train') {
    // norep has no fusion branch: its two forms are the same network and the same keys.
    if (given === 'deploy' && spec.variant.fusion !== 'none') {
      throw new Error(`a training-form graph needs training-form weights; these ${spec.name} weights are in deploy form (fusion branches already folded)`);
    }
    form = 'train';
    weights = sd;
  } else {
    form = 'deploy';
    weights = given === 'train' ? toDeploy(spec, sd) : sd;
  }

  const e = new Emitter(spec, form, weights, mode, dynamic, inputSize, taps);
  const [h, w] = inputSize;
  let x = e.g.input(INPUT_NAME, [BATCH, { dim_value: 3 }, ...(dynamic ? [{ dim_param: 'height' }, { dim_param: 'width' }] : [{ dim_value: h }, { dim_value: w }])]);
  x = e.stem(x);
  x = e.tap('act1', e.relu('act1', x));
  spec.stages.forEach((stage, i) => {
    for (const b of stage) x = b.kind === 'bottleneck' ? bottleneck(e, b, x) : convBnAct(e, b, x);
    x = e.tap(`blocks.${i}`, x);
  });
  x = e.g.node('GlobalAveragePool', 'global_pool', [x], {}, [BATCH, { dim_value: spec.headIn }, { dim_value: 1 }, { dim_value: 1 }]);
  x = e.relu('act2', e.conv('conv_head', x));
  x = e.g.node('Flatten', 'flatten', [x], { axis: 1 }, [BATCH, { dim_value: spec.headChannels }]);
  x = e.tap('pre_logits', x);
  const classifierParams = ['weight', 'bias'].map((p) => e.g.initializer(`classifier.${p}`, e.param(`classifier.${p}`)));
  e.finish(e.g.node('Gemm', 'classifier', [x, ...classifierParams], { transB: 1 }, [BATCH, { dim_value: spec.numClasses }]));
  const graph = e.g.build(`${spec.name}, ${mode} graph, generated from the model spec by repghost`);
  return encodeModel({
    ir_version: IR_VERSION,
    opset_import: [{ domain: '', version: OPSET }],
    producer_name: 'repghost',
    producer_version: options.producerVersion ?? '0.1.0',
    graph,
    metadata_props: [
      { key: 'repghost.model', value: spec.name },
      { key: 'repghost.num_classes', value: String(spec.numClasses) },
      { key: 'repghost.graph_mode', value: mode },
      { key: 'repghost.features', value: taps.join(',') },
    ],
  });
}

/** A weight as float32 (checkpoints may hold F16/BF16). */
function f32Param(sd: StateDict, key: string): Tensor<'F32'> {
  const t = sd.get(key);
  if (!t) throw new Error(`internal: weights have no '${key}'`);
  return t.dtype === 'F32' ? (t as Tensor<'F32'>) : f32(t.shape, toFloat32(t));
}
