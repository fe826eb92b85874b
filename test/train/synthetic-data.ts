/** A small synthetic dataset in Fashion-MNIST's IDX layout, so trainer tests need no download. */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Rng } from '../../src/train/rng.js';

function idxFile(shape: number[], data: Uint8Array): Uint8Array {
  const header = new Uint8Array(4 + 4 * shape.length);
  header[2] = 0x08;
  header[3] = shape.length;
  shape.forEach((d, i) => new DataView(header.buffer).setUint32(4 + 4 * i, d, false));
  const out = new Uint8Array(header.length + data.length);
  out.set(header);
  out.set(data, header.length);
  return out;
}

/** Writes train/t10k image and label files (uncompressed) with `nTrain` / `nTest` 28x28 images. */
export function writeSyntheticFashionMnist(dir: string, nTrain: number, nTest: number, seed: number): void {
  mkdirSync(dir, { recursive: true });
  const rng = new Rng(seed);
  const make = (n: number, images: string, labels: string): void => {
    const px = new Uint8Array(n * 784);
    const lb = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      lb[i] = i % 10;
      // A class-dependent bright band plus noise: learnable, not trivial.
      for (let p = 0; p < 784; p++) px[i * 784 + p] = (Math.floor(p / 28) % 10 === lb[i] ? 200 : 0) + rng.int(56);
    }
    writeFileSync(path.join(dir, images), idxFile([n, 28, 28], px));
    writeFileSync(path.join(dir, labels), idxFile([n], lb));
  };
  make(nTrain, 'train-images-idx3-ubyte', 'train-labels-idx1-ubyte');
  make(nTest, 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte');
}
