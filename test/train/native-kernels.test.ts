/**
 * The native kernels (native/, OpenMP + AVX-512) against plain references: the matrix
 * product against a float64 loop for every transpose combination and the shape
 * classes the kernel treats differently (narrow and wide outputs, row tails, the
 * threaded row split and the threaded K split); BN and depthwise kernels against the
 * TypeScript / wasm path on shapes large enough to use both threads, with channel
 * counts that exercise the wide-row layout and its tails. Plus the addon's argument
 * checks: a wrong call throws instead of touching memory.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initTrainingBackend } from '../../src/train/backend.js';
import { batchNormTrain } from '../../src/train/kernels/batch-norm.js';
import { nativeKernels, setNativeEnabled, type NativeKernels } from '../../src/train/kernels/native.js';
import { Rng } from '../../src/train/rng.js';
import { samePads } from './same-pads.js';

function random(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.uniform() * 2 - 1);
}

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0,
    m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / m;
}

let native: NativeKernels;

beforeAll(async () => {
  setNativeEnabled(true);
  const k = nativeKernels();
  // The addon is built by `npm ci` (node-gyp) wherever a compiler exists, as in CI.
  expect(k, 'native kernels not built: run npm run build:native').not.toBeNull();
  native = k!;
  await initTrainingBackend({ backend: 'wasm' });
});
afterAll(() => setNativeEnabled(true));

describe('gemm', () => {
  const shapes: [number, number, number][] = [
    [5, 3, 7],
    [300, 17, 9],
    [1000, 40, 24],
    [37, 33, 5000],
    [128, 1280, 48],
    [64, 8, 4096],
    [2049, 12, 20],
  ];
  const flags: [boolean, boolean][] = [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ];
  it.each(shapes.flatMap((s) => flags.map(([ta, tb]) => [...s, ta, tb] as const)))(
    'M=%i N=%i K=%i transA=%s transB=%s matches a float64 product',
    (M, N, K, ta, tb) => {
      const a = random(M * K, M + K),
        b = random(K * N, N + 7 * K);
      const ref = new Float64Array(M * N);
      for (let i = 0; i < M; i++) {
        for (let k = 0; k < K; k++) {
          const av = ta ? a[k * M + i]! : a[i * K + k]!;
          for (let j = 0; j < N; j++) ref[i * N + j]! += av * (tb ? b[j * K + k]! : b[k * N + j]!);
        }
      }
      const c = new Float32Array(M * N).fill(Number.NaN);
      native.gemm(a, b, c, M, N, K, ta, tb);
      expect(relErr(c, ref)).toBeLessThan(2e-6 * Math.sqrt(K) + 1e-6);
    },
  );

  it('refuses buffers shorter than the shapes say', () => {
    const small = new Float32Array(10);
    expect(() => native.gemm(small, small, small, 4, 4, 4, false, false)).toThrow(/elements, needs/);
    expect(() =>
      native.gemm(new Float64Array(64) as unknown as Float32Array, small, small, 1, 1, 1, false, false),
    ).toThrow(/Float32Array/);
    expect(() => native.gemm(small, small, small, -1, 1, 1, false, false)).toThrow(/non-negative integer/);
  });
});

/** Runs f with the native kernels on, then off; returns both results' values. */
function bothPaths(f: () => tf.Tensor[]): [Float32Array[], Float32Array[]] {
  const run = (): Float32Array[] => tf.tidy(() => f().map((t) => t.dataSync() as Float32Array));
  setNativeEnabled(true);
  const withNative = run();
  setNativeEnabled(false);
  try {
    return [withNative, run()];
  } finally {
    setNativeEnabled(true);
  }
}

describe('fused BN, native vs TypeScript', () => {
  it.each([
    [[8, 32, 32, 8], true, true],
    [[4, 16, 16, 12], true, false],
    [[2, 8, 8, 20], false, true],
    [[4, 6, 6, 36], false, false],
    [[2, 4, 4, 1280], true, false],
    [[1, 3, 5, 12], true, true],
    [[3, 7, 7, 3], false, true],
    [[16, 16, 16, 40], true, true],
  ] as [[number, number, number, number], boolean, boolean][])('shape %j relu %s addend %s', (shape, relu, withZ) => {
    const n = shape.reduce((a, b) => a * b, 1),
      C = shape[3];
    const xv = random(n, 1).map((v, i) => v * (1 + (i % C)) + (i % 5));
    const [got, ref] = bothPaths(() => {
      const x = tf.tensor4d(xv, shape),
        g = tf.tensor1d(random(C, 2).map((v) => v + 1.5)),
        b = tf.tensor1d(random(C, 3));
      const z = withZ ? tf.tensor4d(random(n, 4), shape) : undefined;
      const dy = tf.tensor4d(random(n, 5), shape);
      const inputs = z ? [x, g, b, z] : [x, g, b];
      const r = batchNormTrain(x, g, b, { eps: 1e-5, relu }, z);
      const grads = tf.grads((...t: tf.Tensor[]) => batchNormTrain(t[0]!, t[1]!, t[2]!, { eps: 1e-5, relu }, t[3]).y)(
        inputs,
        dy,
      );
      return [r.y, r.mean, r.variance, ...grads];
    });
    got.forEach((v, i) => expect(relErr(v, ref[i]!), `output ${i}`).toBeLessThan(1e-5));
  });
});

describe('depthwise conv, native vs TypeScript / wasm', () => {
  it.each([
    [[8, 20, 20, 16], 3, 1],
    [[8, 20, 20, 16], 3, 2],
    [[3, 15, 13, 24], 5, 2],
    [[3, 15, 13, 24], 5, 1],
    [[2, 9, 9, 8], 3, 2],
    [[4, 7, 7, 36], 3, 1],
  ] as [[number, number, number, number], number, number][])(
    'x %j, kernel %i, stride %i: forward, input and filter gradients',
    (shape, k, s) => {
      const pad = samePads(k);
      const n = shape.reduce((a, b) => a * b, 1);
      const xv = random(n, 6),
        wv = random(k * k * shape[3], 7);
      const [got, ref] = bothPaths(() => {
        const x = tf.tensor4d(xv, shape),
          w = tf.tensor4d(wv, [k, k, shape[3], 1]);
        const y = tf.depthwiseConv2d(x, w, s, pad);
        const dy = tf.tensor4d(random(y.size, 8), y.shape);
        const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, s, pad),
        )([x, w], dy);
        return [y, dx!, dw!];
      });
      got.forEach((v, i) => expect(relErr(v, ref[i]!), `output ${i}`).toBeLessThan(1e-5));
    },
  );

  it('refuses a geometry that does not fit the buffers', () => {
    const x = new Float32Array(2 * 4 * 4 * 3),
      w = new Float32Array(27),
      y = new Float32Array(2 * 4 * 4 * 3);
    expect(() => native.dwForward(x, w, [2, 4, 4, 3, 4, 4, 3, 3, 1, 1, 1, 1], y)).not.toThrow();
    expect(() => native.dwForward(x, w, [2, 8, 8, 3, 8, 8, 3, 3, 1, 1, 1, 1], y)).toThrow(/elements, needs/);
    expect(() => native.dwForward(x, w, [2, 4, 4, 3, 4, 4, 3, 3, 0, 1, 1, 1], y)).toThrow(/zero stride/);
    expect(() => native.dwForward(x, w, [2, 4, 4, 3], y)).toThrow(/12 non-negative integers/);
  });
});

describe('dense conv (the stem), native vs TypeScript / wasm', () => {
  it.each([
    [[4, 33, 31, 3], 3, 2, 8],
    [[32, 32, 32, 3], 3, 2, 16],
    [[2, 9, 9, 5], 3, 1, 7],
    [[3, 10, 10, 6], 5, 2, 4],
    [[2, 6, 6, 20], 1, 1, 12],
  ] as [[number, number, number, number], number, number, number][])(
    'x %j, kernel %i, stride %i, %i outputs: forward and filter gradient',
    (shape, k, s, co) => {
      const pad = samePads(k);
      const xv = random(
          shape.reduce((a, b) => a * b, 1),
          9,
        ),
        wv = random(k * k * shape[3] * co, 10);
      const [got, ref] = bothPaths(() => {
        const x = tf.tensor4d(xv, shape),
          w = tf.tensor4d(wv, [k, k, shape[3], co]);
        const y = tf.conv2d(x, w, s, pad);
        const dy = tf.tensor4d(random(y.size, 11), y.shape);
        const dw = tf.grad((b: tf.Tensor) => tf.conv2d(x, b as tf.Tensor4D, s, pad))(w, dy);
        return [y, dw];
      });
      got.forEach((v, i) => expect(relErr(v, ref[i]!), `output ${i}`).toBeLessThan(1e-5));
    },
  );

  it('refuses a geometry that does not fit the buffers', () => {
    const x = new Float32Array(2 * 8 * 8 * 3),
      w = new Float32Array(27 * 4),
      y = new Float32Array(2 * 4 * 4 * 4);
    expect(() => native.convForward(x, w, [2, 8, 8, 3, 4, 4, 3, 3, 2, 2, 1, 1, 4], y)).not.toThrow();
    expect(() => native.convForward(x, w, [2, 8, 8, 3, 4, 4, 3, 3, 2, 2, 1, 1, 8], y)).toThrow(/elements, needs/);
    expect(() => native.convFilterGrad(x, y, [2, 8, 8, 3, 4, 4, 3, 3, 2, 2, 1, 1], w)).toThrow(
      /13 non-negative integers/,
    );
  });
});

describe('denormals', () => {
  const [M, N, K] = [512, 80, 240];
  const b = random(K * N, 12);
  const normal = random(M * K, 13).map((v) => v + 2);
  const denormal = normal.map((v) => v * 1e-40);

  function fastest(a: Float32Array): number {
    const c = new Float32Array(M * N);
    let best = Infinity;
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      native.gemm(a, b, c, M, N, K, false, false);
      best = Math.min(best, performance.now() - t0);
    }
    return best;
  }

  it('are flushed inside the kernels (x86 runs ~80x slower on them otherwise)', () => {
    const c = new Float32Array(M * N);
    native.gemm(denormal, b, c, M, N, K, false, false);
    expect(c.every((v) => v === 0)).toBe(true);
    expect(fastest(denormal)).toBeLessThan(8 * fastest(normal) + 1);
  });

  it('keep working in JavaScript after a kernel call (the JS thread gets its float mode back)', () => {
    native.gemm(denormal, b, new Float32Array(M * N), M, N, K, false, false);
    const tiny = Number.MIN_VALUE;
    expect(tiny * 1).toBeGreaterThan(0);
    expect(2.2250738585072014e-308 / 4).toBeGreaterThan(0);
    expect(Math.fround(1e-40)).toBeGreaterThan(0);
  });
});

describe('elementwise add', () => {
  it('matches JavaScript addition exactly, large (threaded) and small', () => {
    for (const n of [5000, 100_003]) {
      const a = random(n, 14),
        b = random(n, 15),
        out = new Float32Array(n);
      native.add(a, b, out);
      expect(out.every((v, i) => v === Math.fround(a[i]! + b[i]!))).toBe(true);
    }
    expect(() => native.add(new Float32Array(10), new Float32Array(5), new Float32Array(10))).toThrow(
      /elements, needs/,
    );
  });
});

describe('thread count', () => {
  it('does not change a single bit of a training step (work is cut by size, reduced in order)', async () => {
    const { buildSpec } = await import('../../src/spec/index.js');
    const { ModelState } = await import('../../src/train/state.js');
    const { Sgd } = await import('../../src/train/sgd.js');
    const { trainStep } = await import('../../src/train/train-step.js');
    const spec = buildSpec('repghostnet_0_5x', { numClasses: 10, dropout: 0 });
    const rng = new Rng(21);
    const init = ModelState.init(spec, rng);
    const sd = init.toStateDict();
    init.dispose();
    const xv = Float32Array.from({ length: 16 * 48 * 48 * 3 }, () => rng.uniform() * 2 - 1);
    const run = (threads: number) => {
      native.setThreads(threads);
      const model = ModelState.fromStateDict(spec, sd);
      const sgd = new Sgd(model.layouts, { momentum: 0.9, weightDecay: 1e-5, nesterov: true });
      const x = tf.tensor4d(xv, [16, 48, 48, 3]);
      const y = tf.tensor1d(
        Int32Array.from({ length: 16 }, (_, i) => i % 10),
        'int32',
      );
      const r = trainStep(model, sgd, { x, y, lr: 0.1, smoothing: 0.1 }, { keepGrads: true });
      const after = model.toStateDict();
      tf.dispose([x, y]);
      model.dispose();
      return { loss: r.loss, grads: r.grads!, after };
    };
    const threadsBefore = native.getThreads();
    try {
      const one = run(1),
        two = run(2);
      expect(two.loss).toBe(one.loss);
      for (const [k, g] of one.grads) expect(bytesOf(two.grads.get(k)!).equals(bytesOf(g)), k).toBe(true);
      for (const [k, t] of one.after) expect(bytesOf(two.after.get(k)!.data).equals(bytesOf(t.data)), k).toBe(true);
    } finally {
      native.setThreads(threadsBefore);
    }
  });
});

describe('optimizer and EMA updates', () => {
  /** Values across magnitudes, denormals included, where float rounding differs most. */
  function awkward(n: number, seed: number): Float32Array {
    const r = new Rng(seed);
    return Float32Array.from({ length: n }, (_, i) => (r.uniform() * 2 - 1) * 10 ** -(i % 45));
  }

  it.each([
    { momentum: 0.9, wd: 1e-5, damp: 0, nesterov: true, first: false },
    { momentum: 0.9, wd: 1e-5, damp: 0, nesterov: true, first: true },
    { momentum: 0.9, wd: 0, damp: 0.1, nesterov: false, first: false },
    { momentum: 0, wd: 1e-4, damp: 0, nesterov: false, first: false },
  ])('sgdStep is bit-identical to the TypeScript formula: %j', ({ momentum, wd, damp, nesterov, first }) => {
    const n = 100_003,
      lr = 0.0731;
    const w = awkward(n, 16),
      g = awkward(n, 17),
      buf = awkward(n, 18);
    const wRef = w.slice(),
      bufRef = buf.slice();
    for (let i = 0; i < n; i++) {
      // the loop of src/train/sgd.ts
      let d = wd !== 0 ? Math.fround(g[i]! + wd * wRef[i]!) : g[i]!;
      if (momentum !== 0) {
        const b = first ? d : Math.fround(Math.fround(momentum * bufRef[i]!) + (1 - damp) * d);
        bufRef[i] = b;
        d = nesterov ? Math.fround(d + momentum * b) : b;
      }
      wRef[i] = wRef[i]! - lr * d;
    }
    native.sgdStep(w, g, momentum !== 0 ? buf : null, lr, wd, momentum, damp, nesterov, first);
    expect(bytesOf(w).equals(bytesOf(wRef))).toBe(true);
    if (momentum !== 0) expect(bytesOf(buf).equals(bytesOf(bufRef))).toBe(true);
  });

  it('emaUpdate is bit-identical to the TypeScript formula', () => {
    const n = 70_001,
      d = Math.fround(0.999),
      c = Math.fround(1 - 0.999);
    const ema = awkward(n, 19),
      cur = awkward(n, 20),
      ref = ema.slice();
    for (let i = 0; i < n; i++) ref[i] = Math.fround(d * ref[i]!) + Math.fround(c * cur[i]!);
    native.emaUpdate(ema, cur, d, c);
    expect(bytesOf(ema).equals(bytesOf(ref))).toBe(true);
  });
});

function bytesOf(a: ArrayBufferView): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}
