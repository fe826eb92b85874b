/**
 * The kernels this package adds, run directly against tfjs's cpu backend (which has
 * reference implementations of the conv gradients) and against composed tfjs ops
 * (for the fused BN): small random problems covering strides, paddings and kernels.
 * Every suite runs twice: on the native kernels (the addon in native/) and on the
 * TypeScript / wasm path used when the addon is absent.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initTrainingBackend } from '../../src/train/backend.js';
import { batchNormTrain } from '../../src/train/kernels/batch-norm.js';
import { nativeKernels, setNativeEnabled } from '../../src/train/kernels/native.js';
import { Rng } from '../../src/train/rng.js';
import { samePads } from './same-pads.js';

function random(shape: number[], seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.uniform() * 2 - 1);
}

/** Runs `f` on the named backend and returns the values of the result. */
async function on(backend: 'cpu' | 'wasm', f: () => tf.Tensor): Promise<Float32Array> {
  await initTrainingBackend({ backend });
  return tf.tidy(() => f().dataSync() as Float32Array);
}

function relErr(a: Float32Array, b: Float32Array): number {
  let d = 0,
    n = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    n = Math.max(n, Math.abs(b[i]!));
  }
  return d / n;
}

const cases = [
  { name: '3x3 stride 1', x: [2, 9, 9, 5], k: 3, s: 1 },
  { name: '3x3 stride 2', x: [2, 9, 8, 4], k: 3, s: 2 },
  { name: '5x5 stride 2', x: [3, 10, 10, 6], k: 5, s: 2 },
  { name: '5x5 stride 1', x: [1, 6, 7, 3], k: 5, s: 1 },
];

describe.each([true, false])('native kernels: %s', (native) => {
  beforeAll(() => {
    setNativeEnabled(native);
    expect(nativeKernels() !== null).toBe(native);
  });
  afterAll(() => setNativeEnabled(true));

  describe('wasm gradient kernels vs the cpu backend', () => {
    beforeAll(async () => {
      await initTrainingBackend({ backend: 'wasm' });
    });

    it.each(cases)('DepthwiseConv2dNativeBackpropInput/Filter, $name', async ({ x, k, s }) => {
      const pad = samePads(k);
      const p = pad[1][0];
      const xv = random(x, 1);
      const wv = random([k, k, x[3]!, 1], 2);
      const outH = Math.floor((x[1]! + 2 * p - k) / s) + 1,
        outW = Math.floor((x[2]! + 2 * p - k) / s) + 1;
      const dyv = random([x[0]!, outH, outW, x[3]!], 3);
      const grads = (): tf.Tensor => {
        const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, s, pad),
        )(
          [tf.tensor4d(xv, x as [number, number, number, number]), tf.tensor4d(wv, [k, k, x[3]!, 1])],
          tf.tensor4d(dyv, [x[0]!, outH, outW, x[3]!]),
        );
        return tf.concat([dx!.flatten(), dw!.flatten()]);
      };
      const ref = await on('cpu', grads);
      const got = await on('wasm', grads);
      expect(relErr(got, ref)).toBeLessThan(1e-5);
    });

    it.each([...cases, { name: '1x1 (matmul path)', x: [2, 5, 5, 7], k: 1, s: 1 }])(
      'Conv2DBackpropFilter, $name',
      async ({ x, k, s }) => {
        const pad = samePads(k);
        const co = 4;
        const xv = random(x, 4);
        const wv = random([k, k, x[3]!, co], 5);
        const dw = (): tf.Tensor =>
          tf.grad((w: tf.Tensor) =>
            tf.sum(
              tf.square(tf.conv2d(tf.tensor4d(xv, x as [number, number, number, number]), w as tf.Tensor4D, s, pad)),
            ),
          )(tf.tensor4d(wv, [k, k, x[3]!, co]));
        const ref = await on('cpu', dw);
        const got = await on('wasm', dw);
        expect(relErr(got, ref)).toBeLessThan(1e-5);
      },
    );
  });

  describe('fused train-mode BatchNorm (+addend, +ReLU)', () => {
    /** Composed reference: PyTorch's train-mode BN with tfjs ops. */
    function composed(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, relu: boolean, z?: tf.Tensor): tf.Tensor {
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      let y = tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), g), b);
      if (z) y = tf.add(y, z);
      return relu ? tf.relu(y) : y;
    }

    it.each([
      { relu: false, withZ: false },
      { relu: true, withZ: false },
      { relu: true, withZ: true },
      { relu: false, withZ: true },
    ])(
      'forward, batch statistics and gradients match composed ops (relu $relu, addend $withZ)',
      async ({ relu, withZ }) => {
        const shape: [number, number, number, number] = [3, 4, 5, 6];
        const xv = random(shape, 7).map((v, i) => v * (1 + (i % 6)) + (i % 6)); // per-channel scale and offset
        const gv = random([6], 8).map((v) => v + 1.5);
        const bv = random([6], 9);
        const zv = random(shape, 10);
        const dyv = random(shape, 11);
        for (const backend of ['wasm', 'cpu'] as const) {
          await initTrainingBackend({ backend });
          tf.tidy(() => {
            const x = tf.tensor4d(xv, shape),
              g = tf.tensor1d(gv),
              b = tf.tensor1d(bv),
              dy = tf.tensor4d(dyv, shape);
            const z = withZ ? tf.tensor4d(zv, shape) : undefined;
            const inputs = z ? [x, g, b, z] : [x, g, b];
            const fused = tf.grads(
              (...t: tf.Tensor[]) => batchNormTrain(t[0]!, t[1]!, t[2]!, { eps: 1e-5, relu }, t[3]).y,
            )(inputs, dy);
            const ref = tf.grads((...t: tf.Tensor[]) => composed(t[0]!, t[1]!, t[2]!, relu, t[3]))(inputs, dy);
            fused.forEach((f, i) =>
              expect(
                relErr(f.dataSync() as Float32Array, ref[i]!.dataSync() as Float32Array),
                `${backend} grad ${i}`,
              ).toBeLessThan(1e-5),
            );
            const r = batchNormTrain(x, g, b, { eps: 1e-5, relu }, z);
            expect(
              relErr(r.y.dataSync() as Float32Array, composed(x, g, b, relu, z).dataSync() as Float32Array),
            ).toBeLessThan(1e-6);
            const m = tf.moments(x, [0, 1, 2]);
            expect(relErr(r.mean.dataSync() as Float32Array, m.mean.dataSync() as Float32Array)).toBeLessThan(1e-6);
            expect(relErr(r.variance.dataSync() as Float32Array, m.variance.dataSync() as Float32Array)).toBeLessThan(
              1e-5,
            );
          });
        }
      },
    );
  });
});
