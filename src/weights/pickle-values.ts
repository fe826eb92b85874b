/**
 * What the pickle reader and writer share: the value tags that carry Python types JS
 * lacks (tuple, plain dict, argparse.Namespace, OrderedDict attributes, float, torch
 * dtype), the tensor checks, the storage class and dtype tables, and the error class.
 * The `mark*` functions are for the reader only (pickle.ts does not re-export them):
 * a value is a tuple, a namespace or a rebuilt tensor because the reader made it one.
 */
import { DTYPE_ARRAY, DTYPE_SIZE, numel, type DType, type Tensor, type TensorData } from './tensor.js';

/** Raised for any malformed, hostile or unsupported pickle; the message names the cause. */
export class PickleError extends Error {
  override name = 'PickleError';
}

// ---------------------------------------------------------------------------
// Value tags

const TUPLES = new WeakSet<object>();
const PLAIN_DICTS = new WeakSet<object>();
const NAMESPACES = new WeakSet<object>();
const ATTRIBUTES = new WeakMap<object, Map<string, unknown>>();

/** True for arrays that were Python tuples (or are marked by {@link tuple}); the writer keeps them tuples. */
export function isTuple(v: unknown): v is unknown[] {
  return Array.isArray(v) && TUPLES.has(v);
}

/** Makes an array that the writer emits as a Python tuple. */
export function tuple<T>(...items: T[]): T[] {
  return markTuple(items);
}

/** Tags an existing array as a tuple (no spread: a pickle's TUPLE may hold very many items). */
export function markTuple<T>(items: T[]): T[] {
  TUPLES.add(items);
  return items;
}

/** True for Maps read from a plain Python dict (the writer emits untagged Maps as OrderedDict). */
export function isPlainDict(v: unknown): v is Map<unknown, unknown> {
  return v instanceof Map && PLAIN_DICTS.has(v);
}

/** Tags a Map so the writer emits it as a plain `dict` instead of `collections.OrderedDict`. */
export function plainDict<K, V>(m: Map<K, V>): Map<K, V> {
  PLAIN_DICTS.add(m);
  return m;
}

/** True for objects read from an `argparse.Namespace`. */
export function isNamespace(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && NAMESPACES.has(v);
}

/**
 * Attributes an OrderedDict got through BUILD (torch state dicts carry `_metadata`,
 * the per-module version numbers). The writer re-emits them.
 */
export function pyAttributes(m: Map<unknown, unknown>): Map<string, unknown> | undefined {
  return ATTRIBUTES.get(m);
}

/** Sets the OrderedDict attributes the writer emits for `m` (see {@link pyAttributes}). */
export function setPyAttributes(m: Map<unknown, unknown>, attrs: Map<string, unknown>): void {
  ATTRIBUTES.set(m, attrs);
}

/** A number the writer must emit as a Python float even when it is integral (e.g. `lr = 1.0`). */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** A torch dtype object (e.g. `torch.float32`) found in the data. */
export class TorchDtype {
  constructor(
    readonly name: string,
    readonly dtype: DType,
  ) {}
}

/** The dtype names a tensor may carry. */
export const DTYPES = new Set(Object.keys(DTYPE_SIZE));
/** Most dimensions a tensor may have. */
export const MAX_DIMS = 64;

/**
 * True when `v` is a consistent {@link Tensor}: a known dtype, a shape of non-negative
 * safe integers, and data of exactly the dtype's array class holding dtype x shape
 * elements. Says nothing about where `v` came from: for values read from a file use
 * {@link isRebuiltTensor}.
 */
export function isTensor(v: unknown): v is Tensor {
  if (typeof v !== 'object' || v === null) return false;
  const t = v as Partial<Tensor>;
  if (typeof t.dtype !== 'string' || !DTYPES.has(t.dtype) || !Array.isArray(t.shape)) return false;
  if (t.shape.length > MAX_DIMS || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) return false;
  const data = t.data as unknown;
  if (!ArrayBuffer.isView(data) || Object.getPrototypeOf(data) !== DTYPE_ARRAY[t.dtype].prototype) return false;
  const n = numel(t.shape);
  return Number.isSafeInteger(n) && (data as TensorData).length === n;
}

/** dtype, shape and typed-array data, consistent or not (the writer explains an inconsistent one). */
export function looksLikeTensor(v: object): v is Tensor {
  const t = v as Partial<Tensor>;
  return typeof t.dtype === 'string' && DTYPES.has(t.dtype) && Array.isArray(t.shape) && ArrayBuffer.isView(t.data);
}

/**
 * Tensors the unpickler built itself, through an allow-listed tensor rebuild function.
 * A pickle can make any object with `dtype`, `shape` and `data` attributes (an
 * argparse.Namespace and BUILD, data from BINBYTES): duck typing would take it for a
 * tensor and load attacker-chosen values as weights.
 */
const REBUILT = new WeakSet<object>();

/**
 * True only for tensors that {@link unpickle} made through a tensor rebuild function
 * (and that are consistent, see {@link isTensor}). Readers of unpickled data must use
 * this, never a shape check, to decide what is a tensor.
 */
export function isRebuiltTensor(v: unknown): v is Tensor {
  return typeof v === 'object' && v !== null && REBUILT.has(v) && isTensor(v);
}

/** Marks a tensor the reader rebuilt through an allow-listed rebuild function (reader only). */
export function markRebuilt(t: Tensor): Tensor {
  REBUILT.add(t);
  return t;
}

/** Marks an object the reader made for an argparse.Namespace (reader only). */
export function markNamespace<T extends object>(o: T): T {
  NAMESPACES.add(o);
  return o;
}

/** torch storage classes and the dtype each holds. */
export const STORAGE_DTYPES: Record<string, DType> = {
  FloatStorage: 'F32',
  DoubleStorage: 'F64',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

/** torch dtype names (torch.float32, ...) and their dtypes. */
export const TORCH_DTYPES: Record<string, DType> = {
  float32: 'F32',
  float: 'F32',
  float64: 'F64',
  double: 'F64',
  float16: 'F16',
  half: 'F16',
  bfloat16: 'BF16',
  int64: 'I64',
  long: 'I64',
  int32: 'I32',
  int: 'I32',
  int16: 'I16',
  short: 'I16',
  int8: 'I8',
  uint8: 'U8',
  bool: 'BOOL',
};
