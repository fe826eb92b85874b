/**
 * The ONNX Runtime engine for Node: onnxruntime-node (native CPU execution provider) when
 * it is installed, else onnxruntime-web's wasm build, which runs in Node too.
 *
 * onnxruntime-node is an optional dependency: its install script downloads GPU binaries
 * from outside the npm registry, and where that fails npm drops the package silently. The
 * library then still works, slower, and says so once on stderr. `REPGHOST_ORT=web` forces
 * the wasm path; `REPGHOST_ORT=node` makes a missing onnxruntime-node an error.
 * The browser binds onnxruntime-web to the same `OrtEngine` (src/browser/ort.ts).
 */
import { OrtEngine, type OrtModule, type OrtSessionOptions, type OrtTensorLike } from '../engine/ort-engine.js';

/** Options of {@link createNodeEngine}. */
export interface NodeEngineOptions {
  /** CPU threads of one inference (ORT's intra-op pool); default: ORT's choice (all cores). */
  threads?: number;
  /** Graph optimization level (default `all`). */
  graphOptimizationLevel?: OrtSessionOptions['graphOptimizationLevel'];
}

/** Which ONNX Runtime build runs the Node API. */
export type NodeOrtBackend = 'onnxruntime-node' | 'onnxruntime-web';

/** The ONNX Runtime module the Node API runs on, and why it is that one. */
export interface LoadedNodeOrt {
  ort: OrtModule;
  backend: NodeOrtBackend;
  /** Set when onnxruntime-web stands in: why onnxruntime-node is not used. */
  fallbackReason?: string;
}

/** onnxruntime-web's wasm knobs we set (thread count before its first session). */
type OrtWebModule = OrtModule & { env: { wasm: { numThreads?: number } } };

let loading: Promise<LoadedNodeOrt> | undefined;
let current: LoadedNodeOrt | undefined;

/**
 * Loads onnxruntime-node, or onnxruntime-web's wasm build where onnxruntime-node is not
 * installed (or `REPGHOST_ORT=web`). Loaded once per process; the first call fixes the
 * wasm thread count from `threads` (ORT starts its wasm thread pool once).
 */
export function loadNodeOrt(threads?: number): Promise<LoadedNodeOrt> {
  loading ??= chooseNodeOrt(threads).then((loaded) => (current = loaded));
  return loading;
}

async function chooseNodeOrt(threads?: number): Promise<LoadedNodeOrt> {
  const wanted = process.env.REPGHOST_ORT;
  if (wanted !== undefined && wanted !== '' && wanted !== 'node' && wanted !== 'web') {
    throw new Error(`REPGHOST_ORT must be 'node' or 'web', got '${wanted}'`);
  }
  let reason = 'REPGHOST_ORT=web';
  if (wanted !== 'web') {
    try {
      return { ort: await import('onnxruntime-node'), backend: 'onnxruntime-node' };
    } catch (e) {
      if (wanted === 'node') throw e;
      // Missing (npm dropped it) or unloadable here (no binary for this platform or libc): the
      // wasm build runs everywhere, and the notice names what went wrong.
      reason = isModuleNotFound(e, 'onnxruntime-node')
        ? 'onnxruntime-node is not installed'
        : `onnxruntime-node does not load (${firstLine(e)})`;
    }
  }
  const web = (await import('onnxruntime-web')) as unknown as OrtWebModule;
  if (threads) web.env.wasm.numThreads = threads;
  const hint = wanted === 'web' ? '' : ' For native speed: ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node';
  process.stderr.write(`repghost: ${reason}; ONNX Runtime runs on onnxruntime-web's wasm build (slower).${hint}\n`);
  return { ort: web, backend: 'onnxruntime-web', fallbackReason: reason };
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!.slice(0, 200);
}

function isModuleNotFound(e: unknown, name: string): boolean {
  const err = e as { code?: string; message?: string } | null;
  return (
    (err?.code === 'ERR_MODULE_NOT_FOUND' || err?.code === 'MODULE_NOT_FOUND') && (err.message ?? '').includes(name)
  );
}

/**
 * The Node ONNX Runtime as the engine-agnostic `OrtModule`, loaded on the first session:
 * importing the library loads neither runtime, and the wasm notice appears only when a
 * model actually runs.
 */
export const nodeOrt: OrtModule = {
  InferenceSession: {
    async create(model, options) {
      return (await loadNodeOrt(options?.intraOpNumThreads)).ort.InferenceSession.create(model, options);
    },
  },
  // Tensors are made only for a session's run, so the module is loaded by then.
  Tensor: function (type: 'float32', data: Float32Array, dims: readonly number[]): OrtTensorLike {
    if (!current) throw new Error('ONNX Runtime is not loaded yet: create a session first');
    return new current.ort.Tensor(type, data, dims);
  } as unknown as OrtModule['Tensor'],
};

/** Session options for the Node runtime from our options. */
export function nodeSessionOptions(options: NodeEngineOptions = {}): OrtSessionOptions {
  if (options.threads !== undefined && (!Number.isInteger(options.threads) || options.threads < 1)) {
    throw new RangeError(`threads must be a positive integer, got ${options.threads}`);
  }
  return {
    graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
    // One model, one request at a time: parallelism inside ops, none between them.
    executionMode: 'sequential',
    interOpNumThreads: 1,
    ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
  };
}

/** Creates an ONNX Runtime session for ONNX model bytes (onnxruntime-node, else wasm). */
export function createNodeEngine(model: Uint8Array, options: NodeEngineOptions = {}): Promise<OrtEngine> {
  return OrtEngine.create(nodeOrt, model, nodeSessionOptions(options));
}
