/**
 * The one place that reaches tfjs's engine to run a registered kernel by name
 * (how tfjs's own ops call kernels), re-exporting the types kernels need.
 */
import * as tf from '@tensorflow/tfjs';
import type { NamedAttrMap, NamedTensorMap, Tensor } from '@tensorflow/tfjs';

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
    const out = tf.engine().runKernel(kernelName, inputs, attrs) as Tensor | Tensor[];
    return Array.isArray(out) ? out : [out];
  },
};
