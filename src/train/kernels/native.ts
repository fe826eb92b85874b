/**
 * The optional native kernels (an N-API addon in `native/`, built by node-gyp at
 * install when a compiler is present): OpenMP-threaded, AVX-512 where the CPU has
 * it, working directly on tfjs's tensor storage (wasm heap views or cpu arrays).
 * When the addon is absent, or `REPGHOST_NATIVE=0`, `nativeKernels()` is null and
 * every kernel runs its TypeScript / wasm path instead; results agree within the
 * float tolerances the golden tests check.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The addon's functions (see native/src/addon.cc). Buffers are float32 views. */
export interface NativeKernels {
  /** C[M,N] = op(A) op(B), row-major. */
  gemm(
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    m: number,
    n: number,
    k: number,
    transA: boolean,
    transB: boolean,
  ): void;
  bnForward(
    x: Float32Array,
    channels: number,
    gamma: Float32Array,
    beta: Float32Array,
    z: Float32Array | null,
    relu: boolean,
    eps: number,
    y: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
  ): void;
  bnBackward(
    dy: Float32Array,
    x: Float32Array,
    channels: number,
    gamma: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
    y: Float32Array | null,
    eps: number,
    dx: Float32Array,
    dgamma: Float32Array,
    dbeta: Float32Array,
    dz: Float32Array | null,
  ): void;
  /** geometry: [B, H, W, C, OH, OW, KH, KW, strideH, strideW, padTop, padLeft]. */
  dwForward(x: Float32Array, w: Float32Array, geometry: number[], y: Float32Array): void;
  dwInputGrad(dy: Float32Array, w: Float32Array, geometry: number[], dx: Float32Array): void;
  dwFilterGrad(x: Float32Array, dy: Float32Array, geometry: number[], dw: Float32Array): void;
  /** geometry: [B, H, W, CI, OH, OW, KH, KW, strideH, strideW, padTop, padLeft, CO]. */
  convForward(x: Float32Array, w: Float32Array, geometry: number[], y: Float32Array): void;
  convFilterGrad(x: Float32Array, dy: Float32Array, geometry: number[], dw: Float32Array): void;
  /** out = a + b elementwise (a's length; b and out at least as long). */
  add(a: Float32Array, b: Float32Array, out: Float32Array): void;
  /**
   * torch SGD on one parameter in place (w, buf), bit-identical to Sgd's TypeScript loop; buf null when momentum
   * is 0.
   */
  sgdStep(
    w: Float32Array,
    g: Float32Array,
    buf: Float32Array | null,
    lr: number,
    weightDecay: number,
    momentum: number,
    dampening: number,
    nesterov: boolean,
    first: boolean,
  ): void;
  /** ema = fround(d * ema) + fround(c * cur), bit-identical to ModelEma's TypeScript loop. */
  emaUpdate(ema: Float32Array, cur: Float32Array, d: number, c: number): void;
  setThreads(n: number): void;
  getThreads(): number;
}

const addonPath = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../native/build/Release/repghost_kernels.node',
);

let loaded: NativeKernels | null | undefined;
let loadError: string | null = null;

/** The native kernels, or null when unavailable or disabled (REPGHOST_NATIVE=0). */
export function nativeKernels(): NativeKernels | null {
  if (loaded !== undefined) return loaded;
  if (process.env.REPGHOST_NATIVE === '0') {
    loadError = 'disabled by REPGHOST_NATIVE=0';
    return (loaded = null);
  }
  // OpenMP's default is to spin for ~0.1 s waiting for work between parallel regions:
  // with another busy process on a 2-core machine that spinning steals the core the
  // other thread needs, and a step got 10x slower. A short spin keeps the hand-off
  // fast when the machine is quiet. Read by libgomp when the addon loads.
  process.env.GOMP_SPINCOUNT ??= '20000';
  try {
    loaded = createRequire(import.meta.url)(addonPath) as NativeKernels;
    loaded.setThreads(availableParallelism());
  } catch (e) {
    loadError = `not built: ${(e as Error).message.split('\n')[0]}; run 'npm run build:native' with a C++ compiler`;
    loaded = null;
  }
  return loaded;
}

/** Which kernels training runs on, for logs: "native kernels, 2 threads" or why not. */
export function describeKernels(): string {
  const native = nativeKernels();
  return native
    ? `native kernels, ${native.getThreads()} threads`
    : `TypeScript/wasm kernels (native kernels ${loadError})`;
}

/**
 * Turns the native kernels off (or back on when built) for this process, so one
 * process can compare both paths (tests, benchmarks).
 */
export function setNativeEnabled(enabled: boolean): void {
  if (!enabled) {
    loaded = null;
    loadError = 'disabled';
    return;
  }
  loaded = undefined;
  loadError = null;
}
