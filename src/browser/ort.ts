/**
 * onnxruntime-web as the engine-agnostic `OrtModule`, with the execution provider chosen
 * explicitly and reported: a page must be able to say what actually ran, so nothing here
 * falls back from WebGPU to wasm on its own. `chooseBackend('auto')` makes that choice
 * visible instead (it returns the backend and, when it is not WebGPU, the reason).
 *
 * Each backend loads its own ORT build, imported on demand so a page only downloads
 * the one it uses: `onnxruntime-web/wasm` (CPU, `ort-wasm-simd-threaded.{mjs,wasm}`)
 * and `onnxruntime-web/webgpu` (`ort-wasm-simd-threaded.asyncify.{mjs,wasm}`).
 */
import type { OrtModule, OrtSessionOptions } from '../engine/ort-engine.js';

/** The execution providers the page can run on. */
export type WebBackend = 'wasm' | 'webgpu';

/** Session options with the execution provider list onnxruntime-web takes. */
export interface WebSessionOptions extends OrtSessionOptions {
  /** Exactly one provider: ORT tries list entries in turn, which would hide a fallback. */
  executionProviders: [WebBackend];
}

/** Options of {@link loadOrtWeb}. */
export interface WebOrtOptions {
  /** Execution provider (default 'wasm'). */
  backend?: WebBackend;
  /**
   * URL prefix (ending in '/') where the ORT `.mjs`/`.wasm` files are served. Bundlers
   * rewrite or inline ORT's own module, so ORT cannot find them next to itself: a page
   * built with Vite must serve them as plain files and say where.
   */
  wasmPaths?: string;
  /**
   * wasm threads (default: up to 4 when the page is cross-origin isolated, else 1; threads
   * need SharedArrayBuffer, which only COOP/COEP pages get). Fixed by the first load of each
   * backend's module: ORT starts its thread pool once.
   */
  numThreads?: number;
}

/** A loaded onnxruntime-web build and how it is configured. */
export interface WebOrt {
  /** The module, typed as the engine wants it. */
  ort: OrtModule;
  backend: WebBackend;
  /** wasm threads ORT was started with (WebGPU still runs CPU-side ops on them). */
  threads: number;
  sessionOptions: WebSessionOptions;
}

/** The subset of `onnxruntime-web` used here (its `env.wasm` knobs plus the engine API). */
type OrtWebModule = OrtModule & { env: { wasm: { numThreads?: number; wasmPaths?: unknown } } };

const loaded = new Map<WebBackend, Promise<WebOrt>>();

/** Whether SharedArrayBuffer (and so wasm threads) is available to this page or worker. */
export function canUseThreads(): boolean {
  return (
    typeof SharedArrayBuffer !== 'undefined' &&
    (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true
  );
}

/** The default wasm thread count: at most 4 (ORT's own cap for the web), 1 without isolation. */
export function defaultThreads(): number {
  if (!canUseThreads()) return 1;
  const cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
  return Math.max(1, Math.min(4, cores));
}

/**
 * Loads (once per backend) the onnxruntime-web build for `backend` and configures its
 * wasm threads and file location. A second call for the same backend returns the first
 * load: the thread count in the result is what ORT really runs with.
 */
export function loadOrtWeb(options: WebOrtOptions = {}): Promise<WebOrt> {
  const backend = options.backend ?? 'wasm';
  let p = loaded.get(backend);
  if (!p) {
    p = importBuild(backend).then((ort) => configure(ort, backend, options));
    // A failed load (network, missing files) may be retried.
    p.catch(() => loaded.delete(backend));
    loaded.set(backend, p);
  }
  return p;
}

async function importBuild(backend: WebBackend): Promise<OrtWebModule> {
  // Literal specifiers so bundlers see both builds and split them into their own chunks.
  const mod = backend === 'webgpu' ? await import('onnxruntime-web/webgpu') : await import('onnxruntime-web/wasm');
  return mod;
}

function configure(ort: OrtWebModule, backend: WebBackend, options: WebOrtOptions): WebOrt {
  const requested = options.numThreads ?? defaultThreads();
  if (!Number.isInteger(requested) || requested < 1)
    throw new RangeError(`numThreads must be a positive integer, got ${requested}`);
  // Without isolation ORT would try to start threads and fail on SharedArrayBuffer: ask for 1.
  const threads = canUseThreads() ? requested : 1;
  ort.env.wasm.numThreads = threads;
  if (options.wasmPaths) ort.env.wasm.wasmPaths = options.wasmPaths;
  return {
    ort,
    backend,
    threads,
    sessionOptions: {
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
      executionProviders: [backend],
    },
  };
}

/** What {@link chooseBackend} picked and, when it is not what was asked for, why. */
export interface BackendChoice {
  backend: WebBackend;
  /** Set when WebGPU was asked for (or 'auto') and cannot be used here. */
  webgpuUnavailable?: string;
}

/** The part of `navigator.gpu` probed (TypeScript's DOM library has no WebGPU types). */
interface GpuLike {
  requestAdapter(): Promise<unknown>;
}

/**
 * Why WebGPU cannot run here, or null when an adapter is available. Probing for an adapter
 * is the only reliable test: `navigator.gpu` exists on browsers with no usable GPU.
 */
export async function webgpuUnavailableReason(): Promise<string | null> {
  const gpu = (globalThis as { navigator?: { gpu?: GpuLike } }).navigator?.gpu;
  if (!gpu) return 'this browser exposes no WebGPU (navigator.gpu is missing)';
  try {
    const adapter = await gpu.requestAdapter();
    return adapter ? null : 'WebGPU is present but offers no GPU adapter';
  } catch (e) {
    return `WebGPU adapter request failed: ${e instanceof Error ? e.message : String(e)}`;
  }
}

/**
 * Resolves 'auto' to WebGPU when an adapter exists, else wasm with the reason. An explicit
 * 'webgpu' that cannot run throws (the caller asked for it; running wasm instead would lie).
 */
export async function chooseBackend(wanted: WebBackend | 'auto'): Promise<BackendChoice> {
  if (wanted === 'wasm') return { backend: 'wasm' };
  const reason = await webgpuUnavailableReason();
  if (!reason) return { backend: 'webgpu' };
  if (wanted === 'webgpu') throw new Error(`cannot use WebGPU: ${reason}`);
  return { backend: 'wasm', webgpuUnavailable: reason };
}
