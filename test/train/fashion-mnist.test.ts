/** Fashion-MNIST preprocessing and augmentation (fashion_mnist.md) and the real files when installed. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_FASHION_MNIST_DIR,
  FASHION_MNIST_CLASSES,
  loadFashionMnistSplit,
  prepareSplit,
  resizeBilinear,
  writeImage,
  type RawSplit,
} from '../../src/data/fashion-mnist.js';
import { initTrainingBackend } from '../../src/train/backend.js';
import { Rng } from '../../src/train/rng.js';

const rng = new Rng(9);
const raw: RawSplit = {
  count: 2,
  height: 28,
  width: 28,
  images: Uint8Array.from({ length: 2 * 784 }, () => rng.int(256)),
  labels: Uint8Array.of(3, 7),
};

describe('Fashion-MNIST preprocessing', () => {
  beforeAll(async () => {
    await initTrainingBackend({ backend: 'cpu' });
  });

  it('resizes like F.interpolate(bilinear, align_corners=False) (= tf half-pixel centers)', () => {
    const src = Float32Array.from(raw.images.subarray(0, 784), (v) => v / 255);
    const ours = resizeBilinear(src, 28, 28, 32, 32);
    const ref = tf.tidy(() =>
      tf.image.resizeBilinear(tf.tensor4d(src, [1, 28, 28, 1]), [32, 32], false, true).dataSync(),
    );
    let d = 0;
    for (let i = 0; i < ours.length; i++) d = Math.max(d, Math.abs(ours[i]! - ref[i]!));
    expect(d).toBeLessThan(1e-6);
  });

  it('normalizes with mean 0.2860 / std 0.3530 and replicates gray to 3 channels', () => {
    const split = prepareSplit(raw);
    expect(split.images.length).toBe(2 * 1024);
    const src = Float32Array.from(raw.images.subarray(784), (v) => v / 255);
    const resized = resizeBilinear(src, 28, 28, 32, 32);
    expect(split.images[1024 + 100]).toBeCloseTo((resized[100]! - 0.286) / 0.353, 6);
    const out = new Float32Array(2 * 32 * 32 * 3);
    writeImage(split, 1, 1, out);
    const o = (1 * 1024 + 100) * 3;
    expect([out[o], out[o + 1], out[o + 2]]).toEqual([
      split.images[1024 + 100],
      split.images[1024 + 100],
      split.images[1024 + 100],
    ]);
  });

  it('crops from the image zero-padded by 2 (normalized zero) and flips after the crop', () => {
    const split = prepareSplit(raw);
    const S = 32;
    const px = (buf: Float32Array, y: number, x: number) => buf[(y * S + x) * 3]!;
    const src = (y: number, x: number) => split.images[y * S + x]!;
    const a = new Float32Array(S * S * 3);
    writeImage(split, 0, 0, a, { top: 0, left: 4, flip: false }); // shifted down 2, left by 2
    expect(px(a, 0, 5)).toBe(0); // padding row
    expect(px(a, 1, 5)).toBe(0);
    expect(px(a, 2, 5)).toBe(src(0, 7));
    expect(px(a, 10, 31)).toBe(0); // padding column on the right
    expect(px(a, 10, 29)).toBe(src(8, 31));
    const f = new Float32Array(S * S * 3);
    writeImage(split, 0, 0, f, { top: 0, left: 4, flip: true });
    for (let x = 0; x < S; x++) expect(px(f, 10, x)).toBe(px(a, 10, S - 1 - x));
  });
});

const dir = process.env.REPGHOST_FASHION_MNIST ?? DEFAULT_FASHION_MNIST_DIR;
describe.skipIf(
  !existsSync(path.join(dir, 't10k-labels-idx1-ubyte.gz')) && !existsSync(path.join(dir, 't10k-labels-idx1-ubyte')),
)('the installed Fashion-MNIST files', () => {
  it('hold 10,000 test images of 28x28 with labels 0..9', async () => {
    const test = await loadFashionMnistSplit(dir, 'test');
    expect([test.count, test.height, test.width]).toEqual([10000, 28, 28]);
    const counts = new Array(FASHION_MNIST_CLASSES.length).fill(0);
    for (const l of test.labels) counts[l]++;
    expect(counts).toEqual(new Array(10).fill(1000));
  });
});
