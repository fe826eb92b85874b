/**
 * Static int8 quantization in QDQ form, a post-pass over the BN-folded deploy graph that
 * `exportOnnx` emits. The layout is the one ONNX Runtime's CPU EP turns into integer kernels
 * (its QDQ selectors match DequantizeLinear -> op -> QuantizeLinear node units):
 *
 * - Conv + ReLU are fused before quantization: the Relu node is dropped and the conv output's
 *   QuantizeLinear gets a zero point at the bottom of the integer range, so saturation is the
 *   ReLU. DQ -> Conv -> Q then becomes one QLinearConv (ORT's ReluQuantFusion does the same
 *   when it sees the Relu, but only if nothing else reads the pre-ReLU value).
 * - Weights: per-output-channel symmetric int8 (axis 0). Biases: int32 with scale
 *   input_scale x weight_scale[c], zero point 0, as QLinearConv defines them.
 * - Activations: per-tensor, asymmetric, in `activations` signedness. Every activation gets
 *   a Q -> DQ pair after its producer, so residual Adds and the SE Mul read DQ outputs and
 *   write a Q: ORT makes them QLinearAdd / QLinearMul (com.microsoft).
 * - Flatten keeps its input's scale so ORT drops its Q/DQ; HardSigmoid (the SE gate) has no
 *   integer kernel and stays a float island (DQ -> HardSigmoid -> Q) with the fixed range [0, 1].
 * - The classifier's output (`logits`) stays float32.
 */
import {
  AttributeType,
  decodeModel,
  encodeModel,
  type ModelProtoObject,
  type NodeProto,
  type TensorProto,
} from './proto.js';
import type { Range } from './calibrate.js';
import {
  byteTensor,
  consumers,
  ElemType,
  floatTensor,
  floatValueInfo,
  floatValues,
  int32Tensor,
  makeNode,
  quantizePerChannel,
  roundHalfEven,
} from './model-edit.js';

/** Signedness of quantized activations. */
export type ActivationType = 'uint8' | 'int8';

/** Options of {@link quantizeQdq}. */
export interface QdqOptions {
  /** Activation integer type (default `uint8`, see docs/deploy.md for why). */
  activations?: ActivationType;
  /**
   * Convs kept in float32 (by node name): their inputs are dequantized and their output
   * quantized, so they are float islands. Default none. (`conv_stem`, with 3 input channels,
   * is the one candidate: ORT's NHWC int8 kernel does poorly there, but in interleaved runs
   * keeping it float did not change the total measurably; docs/deploy.md.)
   */
  floatConvs?: readonly string[];
  /**
   * Scale granularity of depthwise (grouped) conv weights (default `per-channel`).
   * `per-tensor` runs faster in ORT 1.30 (its depthwise int8 kernel has a fast path only for
   * one weight scale) but re-parameterized kernels lose more (docs/deploy.md).
   */
  depthwiseWeights?: 'per-channel' | 'per-tensor';
}

/** See {@link QdqOptions.floatConvs}. */
export const DEFAULT_FLOAT_CONVS: readonly string[] = [];

/** A float value after Conv+ReLU folding: which Relu nodes go, and which values are ReLU outputs. */
interface ReluFolding {
  dropped: Set<NodeProto>;
  nonNegative: Set<string>;
}

/**
 * Finds each Relu whose input is a Conv output read by nothing else, and rewires that Conv to
 * write the Relu's output name directly (mutates `m`).
 */
function foldConvRelu(m: ModelProtoObject): ReluFolding {
  const readers = consumers(m);
  const producer = new Map<string, NodeProto>();
  for (const n of m.graph.node) for (const o of n.output) producer.set(o, n);
  const outputs = new Set(m.graph.output.map((o) => o.name));
  const dropped = new Set<NodeProto>();
  const nonNegative = new Set<string>();
  for (const n of m.graph.node) {
    if (n.op_type !== 'Relu') continue;
    const x = n.input[0]!;
    const conv = producer.get(x);
    if (conv?.op_type !== 'Conv' || readers.get(x)?.length !== 1 || outputs.has(x)) continue;
    conv.output[0] = n.output[0]!;
    dropped.add(n);
    nonNegative.add(n.output[0]!);
  }
  return { dropped, nonNegative };
}

/** The values calibration must observe for {@link quantizeQdq}: the graph input and every activation it quantizes. */
export function calibrationTargets(model: Uint8Array): string[] {
  const m = decodeModel(model);
  const outputs = new Set(m.graph.output.map((o) => o.name));
  return [...m.graph.input.map((i) => i.name), ...m.graph.node.flatMap((n) => n.output).filter((o) => !outputs.has(o))];
}

/**
 * The float model with every calibration target as an extra graph output, for the
 * calibration runs (the Relu outputs are what the folded convs will emit, so they are what
 * gets observed).
 */
export function calibrationModel(model: Uint8Array): { model: Uint8Array; targets: string[] } {
  const m = decodeModel(model);
  const targets = calibrationTargets(model);
  const declared = new Set([...m.graph.output.map((o) => o.name), ...m.graph.input.map((i) => i.name)]);
  const extra = targets.filter((t) => !declared.has(t)).map(floatValueInfo);
  return { model: encodeModel({ ...m, graph: { ...m.graph, output: [...m.graph.output, ...extra] } }), targets };
}

interface QParams {
  scale: number;
  zeroPoint: number;
}

/** Asymmetric per-tensor parameters of a real range (0 always exactly representable). */
export function activationParams(r: Range, type: ActivationType): QParams {
  const lo = Math.min(0, r.min);
  const hi = Math.max(0, r.max);
  const scale = hi > lo ? (hi - lo) / 255 : 1;
  const qmin = type === 'uint8' ? 0 : -128;
  const zeroPoint = Math.max(qmin, Math.min(qmin + 255, roundHalfEven(qmin - lo / scale)));
  return { scale, zeroPoint };
}

/**
 * Rewrites a BN-folded float model (from `exportOnnx`, mode `deploy`, logits only) into
 * static int8 QDQ form with the calibrated `ranges` (from {@link RangeCalibrator} over the
 * values of {@link calibrationTargets}).
 */
export function quantizeQdq(
  model: Uint8Array,
  ranges: ReadonlyMap<string, Range>,
  options: QdqOptions = {},
): Uint8Array {
  const type = options.activations ?? 'uint8';
  const floatConvs = new Set(options.floatConvs ?? DEFAULT_FLOAT_CONVS);
  const m = decodeModel(model);
  if (m.graph.node.some((n) => n.op_type === 'BatchNormalization')) {
    throw new Error('quantization needs the BN-folded deploy graph (exportOnnx mode "deploy")');
  }
  const { dropped, nonNegative } = foldConvRelu(m);
  const inits = new Map(m.graph.initializer.map((t) => [t.name, t]));
  const graphOutputs = new Set(m.graph.output.map((o) => o.name));
  const newInits: TensorProto[] = [];
  const usedInits = new Set<string>();
  const nodes: NodeProto[] = [];
  /** value -> (its DQ output name, its quantization parameters) */
  const quantized = new Map<string, { dq: string; p: QParams }>();

  const rangeOf = (v: string): Range => {
    const r = ranges.get(v);
    if (!r) throw new Error(`calibration has no range for '${v}'`);
    return nonNegative.has(v) ? { min: 0, max: r.max } : r;
  };
  /** Appends Q -> DQ after value `v` with parameters `p`. */
  const quantizeValue = (v: string, p: QParams): void => {
    const zp = type === 'uint8' ? 'uint8' : 'int8';
    const s = floatTensor(`${v}.scale`, [], [p.scale]);
    const z = byteTensor(`${v}.zero_point`, zp, [], [p.zeroPoint]);
    newInits.push(s, z);
    nodes.push(makeNode('QuantizeLinear', `${v}.quantize`, [v, s.name, z.name], [`${v}.q`]));
    nodes.push(makeNode('DequantizeLinear', `${v}.dequantize`, [`${v}.q`, s.name, z.name], [`${v}.dq`]));
    quantized.set(v, { dq: `${v}.dq`, p });
  };
  /** Int8 per-channel weight (+ int32 bias) of a Conv / Gemm, read through DequantizeLinear. */
  const quantizeParams = (node: NodeProto, inputScale: number): void => {
    const w = inits.get(node.input[1]!);
    if (!w) throw new Error(`internal: ${node.name} has no weight initializer`);
    const channels = w.dims[0]!;
    const grouped = (node.attribute.find((a) => a.name === 'group')?.i ?? 1) > 1;
    const perTensor = grouped && options.depthwiseWeights === 'per-tensor';
    const { q, scales } = quantizePerChannel(floatValues(w), perTensor ? 1 : channels);
    // Per-channel: 1-D scales on axis 0. Per-tensor: scalar scale and zero point, no axis.
    const pdims = perTensor ? [] : [channels];
    const axis = perTensor ? [] : [{ name: 'axis', type: AttributeType.INT, i: 0 }];
    newInits.push(
      byteTensor(`${w.name}.int8`, 'int8', w.dims, q),
      floatTensor(`${w.name}.scale`, pdims, scales),
      byteTensor(`${w.name}.zero_point`, 'int8', pdims, new Int8Array(scales.length)),
    );
    nodes.push(
      makeNode(
        'DequantizeLinear',
        `${w.name}.dequantize`,
        [`${w.name}.int8`, `${w.name}.scale`, `${w.name}.zero_point`],
        [`${w.name}.dq`],
        axis,
      ),
    );
    usedInits.add(w.name);
    node.input[1] = `${w.name}.dq`;
    const bName = node.input[2];
    if (!bName) return;
    const b = inits.get(bName);
    if (!b) throw new Error(`internal: ${node.name} has no bias initializer`);
    const bias = floatValues(b);
    const bScales = Float32Array.from(scales, (s) => s * inputScale);
    const bq = Int32Array.from(bias, (v, c) =>
      Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, roundHalfEven(v / bScales[perTensor ? 0 : c]!))),
    );
    newInits.push(
      int32Tensor(`${b.name}.int32`, b.dims, bq),
      floatTensor(`${b.name}.scale`, pdims, bScales),
      int32Tensor(`${b.name}.zero_point`, pdims, new Int32Array(bScales.length)),
    );
    nodes.push(
      makeNode(
        'DequantizeLinear',
        `${b.name}.dequantize`,
        [`${b.name}.int32`, `${b.name}.scale`, `${b.name}.zero_point`],
        [`${b.name}.dq`],
        axis,
      ),
    );
    usedInits.add(b.name);
    node.input[2] = `${b.name}.dq`;
  };

  const isFloat = (n: NodeProto) => n.op_type === 'Conv' && floatConvs.has(n.name);
  const readers = consumers(m);
  for (const i of m.graph.input) {
    // A graph input read only by float convs stays float: no Q/DQ round trip in front of them.
    if ((readers.get(i.name) ?? []).some((n) => !isFloat(n)))
      quantizeValue(i.name, activationParams(rangeOf(i.name), type));
  }
  for (const node of m.graph.node) {
    if (dropped.has(node)) continue;
    const x = node.input[0]!;
    for (let k = 0; k < node.input.length; k++) {
      const q = quantized.get(node.input[k]!);
      if (q) node.input[k] = q.dq;
    }
    if ((node.op_type === 'Conv' || node.op_type === 'Gemm') && !isFloat(node)) {
      const xq = quantized.get(x);
      if (!xq) throw new Error(`internal: ${node.name}'s input is not quantized`);
      quantizeParams(node, xq.p.scale);
    }
    nodes.push(node);
    const out = node.output[0]!;
    if (graphOutputs.has(out)) continue;
    let p: QParams;
    if (node.op_type === 'Flatten')
      p = quantized.get(x)!.p; // same scale in and out: ORT drops the pair
    else if (node.op_type === 'HardSigmoid') p = activationParams({ min: 0, max: 1 }, type);
    else p = activationParams(rangeOf(out), type);
    quantizeValue(out, p);
  }
  const initializer = [...m.graph.initializer.filter((t) => !usedInits.has(t.name)), ...newInits];
  return encodeModel({
    ...m,
    graph: { ...m.graph, node: nodes, initializer },
    metadata_props: [
      ...(m.metadata_props ?? []),
      { key: 'repghost.quantization', value: `static int8 QDQ, ${type} activations, per-channel int8 weights` },
    ],
  });
}

/** Element type of a quantized activation, for tools that inspect graphs. */
export const activationElemType = (t: ActivationType): number => (t === 'uint8' ? ElemType.UINT8 : ElemType.INT8);
