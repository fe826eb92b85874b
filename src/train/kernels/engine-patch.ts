/**
 * One change to tfjs's engine for training speed: tensors saved for the backward pass
 * share their storage instead of being cloned. tfjs's `saveTensorsForBackwardMode`
 * calls `engine.clone` for every saved tensor (~1000 per step of 0.5x), and each clone
 * runs the Identity kernel through the whole engine path and records a tape node of
 * its own: ~40 us each, 10-15 % of a 32x32 step. Here a saved tensor is a new tensor
 * object on the same (reference-counted) data, exactly what tfjs's Reshape does.
 * Safe for the same reason as the shared Identity kernel: tensors are immutable here.
 * Applied only when the engine has the methods relied on (tfjs 4.x), else left alone.
 */
import * as tf from '@tensorflow/tfjs';
import type { TensorInfo } from '@tensorflow/tfjs';

interface EngineInternals {
  backend: { incRef?(dataId: object): void };
  // A function-valued property, not a method: it is read off the engine and called with `this` set.
  saveTensorsForBackwardMode?: (this: EngineInternals, tensors: tf.Tensor[]) => tf.Tensor[];
  makeTensorFromTensorInfo?(info: TensorInfo, backend: object): tf.Tensor;
  keep?(t: tf.Tensor): tf.Tensor;
  clone(t: tf.Tensor): tf.Tensor;
}

let patched = false;

/** Installs the shared-storage saving (idempotent). Returns whether it is in place. */
export function shareSavedTensors(): boolean {
  if (patched) return true;
  const engine = tf.engine() as unknown as EngineInternals;
  const original = engine.saveTensorsForBackwardMode;
  if (
    typeof original !== 'function' ||
    typeof engine.makeTensorFromTensorInfo !== 'function' ||
    typeof engine.keep !== 'function'
  )
    return false;
  engine.saveTensorsForBackwardMode = function (this: EngineInternals, tensors: tf.Tensor[]): tf.Tensor[] {
    const backend = this.backend;
    if (typeof backend.incRef !== 'function') return original.call(this, tensors);
    return tensors.map((t) => {
      if (t.dtype === 'string') return this.keep!(this.clone(t));
      backend.incRef!(t.dataId);
      return this.keep!(this.makeTensorFromTensorInfo!({ dataId: t.dataId, shape: t.shape, dtype: t.dtype }, backend));
    });
  };
  patched = true;
  return true;
}
