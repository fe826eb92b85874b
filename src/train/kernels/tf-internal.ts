/**
 * The one place that reaches tfjs's engine to run a registered kernel by name
 * (how tfjs's own ops call kernels), re-exporting the types kernels need.
 */
import * as tf from '@tensorflow/tfjs';
import type { GradConfig, KernelConfig, NamedAttrMap, NamedTensorMap, Tensor } from '@tensorflow/tfjs';

export type {
  GradConfig,
  KernelConfig,
  KernelFunc,
  NamedAttrMap,
  NamedTensorMap,
  Tensor,
  TensorInfo,
} from '@tensorflow/tfjs';

/** Runs a registered kernel on the active backend, recording it on the gradient tape. */
export const ENGINE_KERNELS = {
  run(kernelName: string, inputs: NamedTensorMap, attrs: NamedAttrMap): Tensor[] {
    const out = tf.engine().runKernel<Tensor | Tensor[]>(kernelName, inputs, attrs);
    return Array.isArray(out) ? out : [out];
  },
};

/** The kernel registered for `name` on `backend`, or undefined (tfjs types it as always found). */
export function registeredKernel(name: string, backend: string): KernelConfig | undefined {
  return tf.getKernel(name, backend);
}

/** The gradient registered for kernel `name`, or undefined (tfjs types it as always found). */
export function registeredGradient(name: string): GradConfig | undefined {
  return tf.getGradient(name);
}
