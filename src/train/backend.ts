/**
 * Choosing and preparing the tfjs backend for training. `wasm` (XNNPACK, SIMD) is the
 * default in Node; `cpu` is the fallback. Registers the kernels training needs that a
 * backend lacks (conv gradients on wasm) and the fused training kernels on both.
 */
import * as tf from '@tensorflow/tfjs';
import { setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { convGradKernels } from './kernels/conv-backprop.js';
import { batchNormKernels, bnTrainGradConfig, BN_TRAIN } from './kernels/batch-norm.js';
import { nativeKernels } from './kernels/native.js';
import { overrideKernels } from './kernels/overrides.js';
import { shareSavedTensors } from './kernels/engine-patch.js';
import { registeredGradient, registeredKernel } from './kernels/tf-internal.js';

/** Backends training runs on. */
export type TrainBackendName = 'wasm' | 'cpu';

/** Options of {@link initTrainingBackend}. */
export interface BackendOptions {
  /** Preferred backend (default `wasm`); falls back to `cpu` if it cannot start. */
  backend?: TrainBackendName;
  /**
   * Threads of the native kernels (default: all cores), and of the wasm backend where
   * it can thread (browsers: tfjs-backend-wasm 4.22 disables its threaded build under
   * Node, tfjs issue 3830).
   */
  threads?: number;
  /** Called with a one-line notice when falling back. */
  warn?: (message: string) => void;
}

const registered = new Set<string>();

/** Registers this package's kernels for a backend (idempotent; never replaces a native kernel). */
export function registerTrainingKernels(backendName: string): void {
  if (registered.has(backendName)) return;
  const configs = [...batchNormKernels(backendName), ...(backendName === 'cpu' ? [] : convGradKernels(backendName))];
  for (const config of configs) {
    if (!registeredKernel(config.kernelName, backendName)) tf.registerKernel(config);
  }
  // The wrappers fall back to the originals per call, so registering them is harmless
  // when the native kernels are absent or disabled later.
  for (const config of overrideKernels(backendName, (k) => registeredKernel(k, backendName))) {
    tf.unregisterKernel(config.kernelName, backendName);
    tf.registerKernel(config);
  }
  if (!registeredGradient(BN_TRAIN)) tf.registerGradient(bnTrainGradConfig);
  shareSavedTensors();
  registered.add(backendName);
}

/**
 * Makes `backend` the active tfjs backend with the training kernels registered.
 * Returns the backend actually in use.
 */
export async function initTrainingBackend(options: BackendOptions = {}): Promise<TrainBackendName> {
  const wanted = options.backend ?? 'wasm';
  if (wanted === 'wasm') {
    if (options.threads !== undefined) {
      setThreadsCount(options.threads);
      nativeKernels()?.setThreads(options.threads);
    }
    registerTrainingKernels('wasm');
    try {
      if (await tf.setBackend('wasm')) {
        await tf.ready();
        return 'wasm';
      }
    } catch (e) {
      options.warn?.(`wasm backend unavailable (${(e as Error).message}); using cpu`);
    }
  }
  registerTrainingKernels('cpu');
  if (options.threads !== undefined) nativeKernels()?.setThreads(options.threads);
  if (!(await tf.setBackend('cpu'))) throw new Error('cannot start the tfjs cpu backend');
  await tf.ready();
  return 'cpu';
}
