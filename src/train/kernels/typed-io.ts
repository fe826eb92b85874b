/**
 * Backend-neutral access to the float32 storage of tensors inside kernel functions,
 * for the kernels this package implements in TypeScript (the ones the wasm backend
 * lacks, and the fused training kernels). Works for the `wasm` backend (views into
 * the wasm heap, no copies) and the `cpu` backend (its value arrays).
 */
import { backend as engineBackend, type KernelBackend, type TensorInfo } from '@tensorflow/tfjs';

/** The few members of tfjs-backend-wasm's BackendWasm used here (not exported as types). */
interface WasmBackendLike extends KernelBackend {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array;
}

/** The few members of tfjs-backend-cpu's MathBackendCPU used here. */
interface CpuBackendLike extends KernelBackend {
  data: { get(dataId: unknown): { values: Float32Array } };
  makeTensorInfo(shape: number[], dtype: 'float32', values: Float32Array): TensorInfo;
}

function isWasm(backend: KernelBackend): backend is WasmBackendLike {
  return typeof (backend as Partial<WasmBackendLike>).typedArrayFromHeap === 'function';
}

/**
 * Typed-array I/O for one kernel call. Allocate every output first, then take views:
 * a wasm allocation may grow the heap, which detaches views taken before it.
 */
export class KernelIO {
  private readonly backend: KernelBackend;

  /** `backend` is the kernel function's `backend` argument. */
  constructor(backend: object) {
    this.backend = backend as KernelBackend;
    if (!isWasm(this.backend) && typeof (this.backend as Partial<CpuBackendLike>).makeTensorInfo !== 'function') {
      throw new Error('repghost training kernels support the wasm and cpu backends only');
    }
  }

  /** Allocates a float32 output (contents unspecified: write every element). */
  alloc(shape: number[]): TensorInfo {
    if (isWasm(this.backend)) return this.backend.makeOutput(shape, 'float32');
    let n = 1;
    for (const d of shape) n *= d;
    return (this.backend as CpuBackendLike).makeTensorInfo(shape, 'float32', new Float32Array(n));
  }

  /** The float32 elements of a tensor: a live view (wasm heap or cpu values), not a copy. */
  view(info: TensorInfo): Float32Array {
    if (info.dtype !== 'float32') throw new Error(`expected a float32 tensor, got ${info.dtype}`);
    if (isWasm(this.backend)) return this.backend.typedArrayFromHeap(info);
    return (this.backend as CpuBackendLike).data.get(info.dataId).values;
  }
}

/**
 * A live float32 view of a tensor's storage on the active backend (no copy), to read
 * without the copy `dataSync` makes. Do not write through it to a tensor that convs
 * or matMuls use as weights (the wasm backend caches packed weights per tensor).
 * Re-take it after any allocation (a wasm heap growth detaches it).
 */
export function liveView(t: TensorInfo): Float32Array {
  return new KernelIO(engineBackend()).view(t);
}
