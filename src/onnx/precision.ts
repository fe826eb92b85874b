/**
 * Weight storage precision, a post-pass over an emitted float32 model: the same graph with
 * the Conv / Gemm weights stored smaller and expanded back to float32 when the model loads
 * or runs, so the arithmetic stays float32.
 *
 * - `fp16`: every float initializer of a Conv or Gemm (weights and biases) stored as
 *   float16 and read through a `Cast` to float32. ORT folds the Casts at load time.
 * - `int8`: weights stored as per-output-channel symmetric int8 and read through a
 *   `DequantizeLinear` (axis 0) with float32 scales; biases stay float32 (they are a few
 *   hundred bytes per layer, and quantizing them buys nothing). Depthwise kernels are the
 *   exception: re-parameterization folds the identity / BN fusion branch into the centre
 *   tap of each 3x3 `cheap_operation`, so one tap dominates its channel and int8 crushes the
 *   other eight (on the golden 0.5x this alone moves the logits by 6 % of their range, and
 *   by 0.3 % with them kept). They are ~1 % of the weights: stored fp16, like `fp16` does.
 *
 * Only the file shrinks: a page downloads 2x (fp16) or ~4x (int8) fewer bytes.
 */
import { decodeModel, encodeModel, type ModelProtoObject, type NodeProto, type TensorProto } from './proto.js';
import { AttributeType } from './proto.js';
import {
  byteTensor,
  ElemType,
  float16Tensor,
  floatTensor,
  floatValues,
  makeNode,
  quantizePerChannel,
} from './model-edit.js';

/** How `export` stores the weights. */
export type WeightPrecision = 'fp32' | 'fp16' | 'int8';
export const WEIGHT_PRECISIONS: readonly WeightPrecision[] = ['fp32', 'fp16', 'int8'];

/** Inputs of Conv/Gemm that hold weights (1) and biases (2). */
const PARAM_INPUTS: Record<string, readonly number[]> = { Conv: [1, 2], Gemm: [1, 2] };

/** A grouped (depthwise) Conv: its weight has one input channel per group. */
function isDepthwise(node: NodeProto): boolean {
  return node.op_type === 'Conv' && (node.attribute.find((a) => a.name === 'group')?.i ?? 1) > 1;
}

/**
 * Rewrites ONNX model bytes (as `exportOnnx` writes them) so that Conv/Gemm parameters are
 * stored in `precision`. `fp32` returns the bytes unchanged.
 */
export function storeWeights(model: Uint8Array, precision: WeightPrecision): Uint8Array {
  if (precision === 'fp32') return model;
  const m = decodeModel(model);
  const inits = new Map(m.graph.initializer.map((t) => [t.name, t]));
  const replaced = new Map<string, TensorProto[]>();
  const expanders: NodeProto[] = [];
  for (const node of m.graph.node) {
    for (const idx of PARAM_INPUTS[node.op_type] ?? []) {
      const name = node.input[idx];
      const t = name ? inits.get(name) : undefined;
      if (t?.data_type !== ElemType.FLOAT || replaced.has(t.name)) continue;
      const values = floatValues(t);
      if (precision === 'fp16' || isDepthwise(node)) {
        replaced.set(t.name, [float16Tensor(`${t.name}.fp16`, t.dims, values)]);
        expanders.push(
          makeNode(
            'Cast',
            `${t.name}.cast`,
            [`${t.name}.fp16`],
            [t.name],
            [{ name: 'to', type: AttributeType.INT, i: ElemType.FLOAT }],
          ),
        );
      } else if (idx === 1) {
        const channels = t.dims[0]!;
        const { q, scales } = quantizePerChannel(values, channels);
        replaced.set(t.name, [
          byteTensor(`${t.name}.int8`, 'int8', t.dims, q),
          floatTensor(`${t.name}.scale`, [channels], scales),
          byteTensor(`${t.name}.zero_point`, 'int8', [channels], new Int8Array(channels)),
        ]);
        expanders.push(
          makeNode(
            'DequantizeLinear',
            `${t.name}.dequantize`,
            [`${t.name}.int8`, `${t.name}.scale`, `${t.name}.zero_point`],
            [t.name],
            [{ name: 'axis', type: AttributeType.INT, i: 0 }],
          ),
        );
      }
    }
  }
  const initializer = m.graph.initializer.flatMap((t) => replaced.get(t.name) ?? [t]);
  const out: ModelProtoObject = {
    ...m,
    graph: { ...m.graph, initializer, node: [...expanders, ...m.graph.node] },
    metadata_props: [
      ...(m.metadata_props ?? []).filter((p) => p.key !== 'repghost.weights_precision'),
      { key: 'repghost.weights_precision', value: precision },
    ],
  };
  return encodeModel(out);
}
