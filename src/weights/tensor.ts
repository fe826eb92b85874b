/**
 * The tensor type shared by every layer of repghost: a PyTorch-layout (row-major,
 * contiguous) array with a safetensors dtype tag. Engines convert from it; nothing
 * here depends on an engine.
 */

/** Element types, named as safetensors names them. */
export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** The typed array that holds each dtype. F16 and BF16 keep their raw 16-bit words. */
export interface DTypeArrays {
  F64: Float64Array;
  F32: Float32Array;
  F16: Uint16Array;
  BF16: Uint16Array;
  I64: BigInt64Array;
  I32: Int32Array;
  I16: Int16Array;
  I8: Int8Array;
  U8: Uint8Array;
  BOOL: Uint8Array;
}

export type TensorData = DTypeArrays[DType];

/** A contiguous, row-major tensor. `shape` [] is a scalar holding one element. */
export interface Tensor<D extends DType = DType> {
  dtype: D;
  shape: number[];
  data: DTypeArrays[D];
}

/** An ordered state dict: insertion order is PyTorch's `state_dict()` order. */
export type StateDict = Map<string, Tensor>;

/** Bytes per element of each dtype. */
export const DTYPE_SIZE: Record<DType, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/** Number of elements of a shape (1 for a scalar). */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** The typed array class that holds each dtype (F16/BF16 keep their raw 16-bit words). */
export const DTYPE_ARRAY: Readonly<Record<DType, new (n: number) => TensorData>> = {
  F64: Float64Array,
  F32: Float32Array,
  F16: Uint16Array,
  BF16: Uint16Array,
  I64: BigInt64Array,
  I32: Int32Array,
  I16: Int16Array,
  I8: Int8Array,
  U8: Uint8Array,
  BOOL: Uint8Array,
};

/** Allocates a zero tensor of a dtype. */
export function zeros<D extends DType>(dtype: D, shape: number[]): Tensor<D> {
  const n = numel(shape);
  const ctor = DTYPE_ARRAY[dtype] as unknown as new (n: number) => DTypeArrays[D];
  return { dtype, shape: [...shape], data: new ctor(n) };
}

/** Wraps a Float32Array as an F32 tensor, checking its length against the shape. */
export function f32(shape: number[], data: Float32Array | number[]): Tensor<'F32'> {
  const arr = data instanceof Float32Array ? data : Float32Array.from(data);
  if (arr.length !== numel(shape)) throw new Error(`f32: ${arr.length} values for shape [${shape.join(', ')}]`);
  return { dtype: 'F32', shape: [...shape], data: arr };
}

/** A scalar I64 tensor, as PyTorch stores `num_batches_tracked`. */
export function i64Scalar(v: bigint | number): Tensor<'I64'> {
  return { dtype: 'I64', shape: [], data: BigInt64Array.of(BigInt(v)) };
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** Values of any tensor as float32 (F16/BF16 widened, integers converted). */
export function toFloat32(t: Tensor): Float32Array {
  switch (t.dtype) {
    case 'F32':
      return t.data as Float32Array;
    case 'F16': {
      const src = t.data as Uint16Array;
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = halfToFloat(src[i]!);
      return out;
    }
    case 'BF16': {
      const src = t.data as Uint16Array;
      const out = new Float32Array(src.length);
      const u = new Uint32Array(out.buffer);
      for (let i = 0; i < src.length; i++) u[i] = src[i]! << 16;
      return out;
    }
    case 'I64':
      return Float32Array.from(t.data as BigInt64Array, (v) => Number(v));
    default:
      return Float32Array.from(t.data as ArrayLike<number>);
  }
}

/** Values of any floating tensor as float64, for exact-as-possible folding. */
export function toFloat64(t: Tensor): Float64Array {
  if (t.dtype === 'F64') return t.data as Float64Array;
  return Float64Array.from(toFloat32(t));
}

/** Shape as PyTorch prints it: `[4, 1, 3, 3]`. */
export function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
