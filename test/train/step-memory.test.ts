/**
 * A training step leaves nothing behind: the number of tensors, their bytes and the
 * backend's data buffers are the same after every step, on the native kernels and on
 * the wasm kernels alone (the shared-storage saving of tensors for the backward pass
 * and the shared Identity must release what they share).
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { buildSpec } from '../../src/spec/index.js';
import { initTrainingBackend } from '../../src/train/backend.js';
import { setNativeEnabled } from '../../src/train/kernels/native.js';
import { Rng } from '../../src/train/rng.js';
import { Sgd } from '../../src/train/sgd.js';
import { ModelState } from '../../src/train/state.js';
import { trainStep } from '../../src/train/train-step.js';

afterAll(() => setNativeEnabled(true));

describe.each([true, false])('memory across training steps (native %s)', (native) => {
  it('is the same after each step', async () => {
    setNativeEnabled(native);
    await initTrainingBackend({ backend: 'wasm' });
    const spec = buildSpec('repghostnet_0_5x', { numClasses: 10, dropout: 0.2 });
    const rng = new Rng(3);
    const model = ModelState.init(spec, rng);
    const sgd = new Sgd(model.layouts, { momentum: 0.9, weightDecay: 1e-5, nesterov: true });
    const x = tf.tensor4d(
      Float32Array.from({ length: 8 * 32 * 32 * 3 }, () => rng.uniform()),
      [8, 32, 32, 3],
    );
    const y = tf.tensor1d(
      Int32Array.from({ length: 8 }, (_, i) => i % 10),
      'int32',
    );
    const snapshots: [number, number, number][] = [];
    for (let s = 0; s < 3; s++) {
      const r = trainStep(model, sgd, { x, y, lr: 0.05, smoothing: 0.1 });
      expect(r.applied).toBe(true);
      const m = tf.memory();
      snapshots.push([m.numTensors, m.numBytes, tf.backend().numDataIds()]);
    }
    expect(snapshots[1]).toEqual(snapshots[0]);
    expect(snapshots[2]).toEqual(snapshots[0]);
    tf.dispose([x, y]);
    model.dispose();
  });
});
