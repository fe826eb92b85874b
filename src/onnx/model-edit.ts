/**
 * Helpers for post-passes over an emitted ONNX model (weight precision, QDQ quantization):
 * tensor element types, reading float32 initializers, building typed initializers, float16
 * rounding and per-channel symmetric int8 quantization. Browser-safe (no Node imports).
 *
 * The passes decode the model the emitter wrote, rewrite nodes and initializers, and
 * encode it again: the emitter stays the one place that knows the network's wiring.
 */
import type { ModelProtoObject, NodeProto, TensorProto, ValueInfo } from './proto.js';

/** `TensorProto.DataType` values the post-passes write. */
export const ElemType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, FLOAT16: 10 } as const;

/** Float32 values of a FLOAT initializer (raw_data, little-endian). */
export function floatValues(t: TensorProto): Float32Array {
  if (t.data_type !== ElemType.FLOAT) throw new Error(`internal: initializer ${t.name} is not float32`);
  const n = t.dims.reduce((a, b) => a * b, 1);
  const raw = t.raw_data;
  if (raw?.length !== n * 4)
    throw new Error(`internal: initializer ${t.name} has ${raw?.length ?? 0} bytes, expected ${n * 4}`);
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
  return out;
}

/** A FLOAT initializer from values. */
export function floatTensor(name: string, dims: number[], values: ArrayLike<number>): TensorProto {
  const raw = new Uint8Array(values.length * 4);
  const dv = new DataView(raw.buffer);
  for (let i = 0; i < values.length; i++) dv.setFloat32(i * 4, values[i]!, true);
  return { name, data_type: ElemType.FLOAT, dims, raw_data: raw };
}

/** An INT8 or UINT8 initializer. */
export function byteTensor(
  name: string,
  type: 'int8' | 'uint8',
  dims: number[],
  values: ArrayLike<number>,
): TensorProto {
  const raw = type === 'int8' ? new Uint8Array(Int8Array.from(values).buffer) : Uint8Array.from(values);
  return { name, data_type: type === 'int8' ? ElemType.INT8 : ElemType.UINT8, dims, raw_data: raw };
}

/** An INT32 initializer (quantized biases). */
export function int32Tensor(name: string, dims: number[], values: ArrayLike<number>): TensorProto {
  const raw = new Uint8Array(values.length * 4);
  const dv = new DataView(raw.buffer);
  for (let i = 0; i < values.length; i++) dv.setInt32(i * 4, values[i]!, true);
  return { name, data_type: ElemType.INT32, dims, raw_data: raw };
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE half-precision bits of `x`, rounded to nearest even (what numpy's astype(float16) does). */
export function float16Bits(x: number): number {
  f32Scratch[0] = x;
  const bits = u32Scratch[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf / NaN
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow -> inf
  if (e <= 0) {
    // Subnormal half (or zero): shift the implicit-1 mantissa into place, rounding to nearest even.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let m = mant >>> shift;
    if (rest > half || (rest === half && m & 1)) m++;
    return sign | m;
  }
  let m = mant >>> 13;
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && m & 1)) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

/** The float value of half-precision bits. */
export function float16Value(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** A FLOAT16 initializer holding `values` rounded to half precision. */
export function float16Tensor(name: string, dims: number[], values: ArrayLike<number>): TensorProto {
  const raw = new Uint8Array(values.length * 2);
  const dv = new DataView(raw.buffer);
  for (let i = 0; i < values.length; i++) dv.setUint16(i * 2, float16Bits(values[i]!), true);
  return { name, data_type: ElemType.FLOAT16, dims, raw_data: raw };
}

/** Rounds half to even, as numpy's rint and ONNX QuantizeLinear do. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Per-channel (axis 0) symmetric int8 weights: q in [-127, 127], w ~= q * scale[c]. */
export interface PerChannelInt8 {
  q: Int8Array;
  scales: Float32Array;
}

/**
 * Quantizes a weight tensor per output channel (axis 0), symmetric, to [-127, 127]
 * (not -128: keeps the range symmetric, as ORT's quantizer does for int8 weights).
 * An all-zero channel gets scale 1 so the scale is never 0.
 */
export function quantizePerChannel(values: Float32Array, channels: number): PerChannelInt8 {
  const per = values.length / channels;
  if (!Number.isInteger(per))
    throw new Error(`internal: ${values.length} weights do not split into ${channels} channels`);
  const q = new Int8Array(values.length);
  const scales = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    let amax = 0;
    for (let i = c * per; i < (c + 1) * per; i++) amax = Math.max(amax, Math.abs(values[i]!));
    const s = amax > 0 ? amax / 127 : 1;
    scales[c] = s;
    for (let i = c * per; i < (c + 1) * per; i++) q[i] = Math.max(-127, Math.min(127, roundHalfEven(values[i]! / s)));
  }
  return { q, scales };
}

/** A node with the given inputs/attributes, in the default domain unless `domain` is set. */
export function makeNode(
  op: string,
  name: string,
  input: string[],
  output: string[],
  attribute: NodeProto['attribute'] = [],
): NodeProto {
  return { name, op_type: op, input, output, attribute };
}

/** A graph output/value declared as float32 of unknown shape (for calibration outputs). */
export function floatValueInfo(name: string): ValueInfo {
  // ONNX allows a value's shape to be absent ("unknown rank"); ORT infers it.
  return { name, type: { tensor_type: { elem_type: ElemType.FLOAT } } } as unknown as ValueInfo;
}

/** Which nodes read each value. */
export function consumers(model: ModelProtoObject): Map<string, NodeProto[]> {
  const out = new Map<string, NodeProto[]>();
  for (const n of model.graph.node) {
    for (const i of n.input) {
      if (!out.has(i)) out.set(i, []);
      out.get(i)!.push(n);
    }
  }
  return out;
}

/** Total bytes of the initializers (what dominates a model file's size). */
export function initializerBytes(model: ModelProtoObject): number {
  return model.graph.initializer.reduce((a, t) => a + (t.raw_data?.length ?? 0), 0);
}
