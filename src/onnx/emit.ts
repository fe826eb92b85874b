/**
 * ONNX emission: the spec's one walk (spec/walk.ts) run with graph nodes as its
 * operations, in one of three modes:
 *
 * - `deploy`: official deploy form with every BN folded into its conv
 *   (`foldAllBatchNorms`): Conv(+bias) nodes only; the fast inference graph.
 * - `deploy-bn`: official deploy form, BNs kept as BatchNormalization nodes.
 * - `train`: training form, each fusion branch as its own ops (BatchNormalization or
 *   identity, then Add), exactly the training-time network in eval mode.
 *
 * All three compute the same function (to float rounding). Layer hyper-parameters
 * (kernel, stride, padding, groups) come from the spec; which BN folds into which conv
 * from the recorder (spec/record.ts).
 */
import type { BnLayer, ConvLayer, LinearLayer } from '../spec/layer-types.js';
import { convOut, type ModelSpec } from '../spec/model-spec.js';
import { record } from '../spec/record.js';
import { formsDiffer, walkNetwork, type Form, type NetworkOps, type TapName } from '../spec/walk.js';
import { foldAllBatchNorms, toDeploy, type FoldedConv } from '../reparam/fuse.js';
import { detectForm } from '../weights/match.js';
import { f32, toFloat32, type StateDict, type Tensor } from '../weights/tensor.js';
import { GraphBuilder } from './graph-builder.js';
import { encodeModel, IR_VERSION, OPSET, type Dim } from './proto.js';
import { checkTaps } from './taps.js';

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

/** Output spatial dim of a conv: known when the input's is, else unknown (dynamic input). */
function convDim(d: Dim | undefined, l: ConvLayer): Dim {
  return d?.dim_value !== undefined ? { dim_value: convOut(d.dim_value, l.kernel, l.stride, l.pad) } : UNKNOWN;
}

/**
 * The walk's operations as ONNX nodes: values are graph value names. In `deploy` mode
 * each BN that folds into its conv (the recorder's `foldInto`) is no node at all, its
 * conv a biased Conv with the folded weights, unless a requested tap reads that conv's
 * output (the `conv_stem` tap is the stem conv before bn1).
 */
class OnnxOps implements NetworkOps<string> {
  readonly g = new GraphBuilder('repghostnet');
  private readonly folded: Map<string, FoldedConv> | null;
  /** BNs that are no node: folded into the conv that produces their input. */
  private readonly foldedBns = new Set<string>();
  private readonly unfoldedConvs = new Set<string>();
  private readonly taps: Set<TapName>;
  private readonly tapped: string[] = [];

  constructor(
    spec: ModelSpec,
    form: Form,
    private readonly sd: StateDict,
    mode: GraphMode,
    taps: readonly TapName[],
  ) {
    this.taps = new Set(taps);
    this.folded = mode === 'deploy' ? foldAllBatchNorms(spec, sd) : null;
    if (this.folded) {
      const rec = record(spec, form);
      const tapped = new Set([...this.taps].map((t) => rec.tapSources.get(t)));
      for (const [bn, conv] of rec.foldInto) {
        if (tapped.has(conv))
          this.unfoldedConvs.add(conv); // the tap needs the conv's own output
        else this.foldedBns.add(bn);
      }
    }
  }

  private param(key: string): string {
    return this.g.initializer(key, f32Param(this.sd, key));
  }

  conv(l: ConvLayer, x: string): string {
    const [n, , h, w] = this.g.shapeOf(x);
    const shape: Dim[] = [n!, { dim_value: l.outChannels }, convDim(h, l), convDim(w, l)];
    const f = this.unfoldedConvs.has(l.name) ? undefined : this.folded?.get(l.name);
    const params = f
      ? [this.g.initializer(`${l.name}.folded_weight`, f.weight), this.g.initializer(`${l.name}.folded_bias`, f.bias)]
      : [this.param(`${l.name}.weight`), ...(l.bias ? [this.param(`${l.name}.bias`)] : [])];
    return this.g.node(
      'Conv',
      l.name,
      [x, ...params],
      {
        group: l.groups,
        kernel_shape: [l.kernel, l.kernel],
        pads: [l.pad, l.pad, l.pad, l.pad],
        strides: [l.stride, l.stride],
        dilations: [1, 1],
      },
      shape,
    );
  }

  /** An eval-mode BatchNormalization node (opset 13 has no training_mode attribute: inference semantics). */
  bn(l: BnLayer, x: string): string {
    if (this.foldedBns.has(l.name)) return x;
    const p = (s: string) => this.param(`${l.name}.${s}`);
    const inputs = [x, p('weight'), p('bias'), p('running_mean'), p('running_var')];
    return this.g.node('BatchNormalization', l.name, inputs, { epsilon: { float: l.eps } });
  }

  relu(name: string, x: string): string {
    return this.g.node('Relu', name, [x]);
  }

  add(name: string, a: string, b: string): string {
    return this.g.node('Add', name, [a, b]);
  }

  globalPool(name: string, x: string): string {
    const [n, c] = this.g.shapeOf(x);
    return this.g.node('GlobalAveragePool', name, [x], {}, [n!, c!, { dim_value: 1 }, { dim_value: 1 }]);
  }

  /** hard_sigmoid(x) = relu6(x + 3) / 6 = clip(x / 6 + 0.5, 0, 1): one HardSigmoid node. */
  hardSigmoid(name: string, x: string): string {
    return this.g.node('HardSigmoid', name, [x], { alpha: { float: 1 / 6 }, beta: { float: 0.5 } });
  }

  mul(name: string, x: string, gate: string): string {
    return this.g.node('Mul', name, [x, gate]);
  }

  flatten(name: string, x: string): string {
    const [n, c] = this.g.shapeOf(x);
    return this.g.node('Flatten', name, [x], { axis: 1 }, [n!, c!]);
  }

  /** Inference graph: dropout is the identity. */
  dropout(_rate: number, x: string): string {
    return x;
  }

  linear(l: LinearLayer, x: string): string {
    const [n] = this.g.shapeOf(x);
    const inputs = [x, this.param(`${l.name}.weight`), this.param(`${l.name}.bias`)];
    return this.g.node('Gemm', l.name, inputs, { transB: 1 }, [n!, { dim_value: l.outFeatures }]);
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
    if (given === 'deploy' && formsDiffer(spec)) {
      throw new Error(
        `a training-form graph needs training-form weights; these ${spec.name} weights are in deploy` +
          ' form (fusion branches already folded)',
      );
    }
    form = 'train';
    weights = sd;
  } else {
    form = 'deploy';
    weights = given === 'train' ? toDeploy(spec, sd) : sd;
  }

  const ops = new OnnxOps(spec, form, weights, mode, taps);
  const [h, w] = inputSize;
  const spatial: Dim[] = dynamic
    ? [{ dim_param: 'height' }, { dim_param: 'width' }]
    : [{ dim_value: h }, { dim_value: w }];
  const x = ops.g.input(INPUT_NAME, [BATCH, { dim_value: 3 }, ...spatial]);
  ops.finish(walkNetwork(spec, form, ops, x));
  const graph = ops.g.build(`${spec.name}, ${mode} graph, generated from the model spec by repghost`);
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
