/**
 * ImageFolder training data: the same batches from 0, 1 or 2 data workers for the same
 * PRNG state (per-image seeds), unreadable images skipped and reported, the dataset
 * layout checked with one clear error each.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IMAGENET_MEAN, IMAGENET_STD } from '../../src/data/augment/transforms.js';
import { ImageFolderError } from '../../src/data/image-folder.js';
import { ImageFolderData, type ImageFolderDataOptions } from '../../src/train/data/imagefolder-source.js';
import { sampleRng, sampleSeed } from '../../src/train/data/sample-seed.js';
import type { DataBatch } from '../../src/train/data/source.js';
import { Rng } from '../../src/train/rng.js';
import { writeSyntheticImageFolder } from './synthetic-imagefolder.js';

const work = mkdtempSync(path.join(tmpdir(), 'repghost-ifdata-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const root = path.join(work, 'ds');

const options = (workers: number, dir = root): ImageFolderDataOptions => ({
  root: dir,
  workers,
  train: {
    size: 24,
    scale: [0.08, 1],
    ratio: [3 / 4, 4 / 3],
    interpolation: 'random',
    hflip: 0.5,
    autoAugment: 'rand-m9-mstd0.5',
    colorJitter: 0.4,
    reprob: 0.5,
    remode: 'pixel',
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
  },
  eval: { size: 24, cropPct: 0.875, interpolation: 'bilinear', mean: IMAGENET_MEAN, std: IMAGENET_STD },
});

beforeAll(async () => {
  await writeSyntheticImageFolder(root, { train: 5, val: 2 });
  writeFileSync(path.join(root, 'train', 'bee', 'broken.png'), 'not a png');
});

/** Every batch of two epochs and the evaluation set, with `workers` data workers. */
async function collect(workers: number): Promise<{ epochs: DataBatch[][]; evals: DataBatch[]; rng: number[] }> {
  const data = await ImageFolderData.open(options(workers));
  try {
    const rng = new Rng(21);
    const epochs: DataBatch[][] = [];
    for (let e = 0; e < 2; e++) {
      const batches = data.epoch(rng, 4, 4);
      const got: DataBatch[] = [];
      for (let s = 0; s < 4; s++) {
        const b = await batches.next();
        got.push({ ...b, x: b.x.slice(), y: b.y.slice() });
      }
      batches.close();
      epochs.push(got);
    }
    const evals: DataBatch[] = [];
    for await (const b of data.evalBatches(4)) evals.push({ ...b, x: b.x.slice(), y: b.y.slice() });
    return { epochs, evals, rng: rng.state() };
  } finally {
    await data.close();
  }
}

describe('ImageFolder batches', () => {
  it('are identical with 0, 1 and 2 data workers for the same PRNG state', async () => {
    const inThread = await collect(0);
    const [one, two] = await Promise.all([collect(1), collect(2)]);
    for (const other of [one, two]) {
      expect(other.rng).toEqual(inThread.rng);
      expect(other.epochs.length).toBe(2);
      other.epochs.forEach((epoch, e) =>
        epoch.forEach((b, s) => {
          const ref = inThread.epochs[e]![s]!;
          expect([b.n, Array.from(b.y), b.skipped], `epoch ${e} batch ${s}`).toEqual([
            ref.n,
            Array.from(ref.y),
            ref.skipped,
          ]);
          expect(Buffer.from(b.x.buffer).equals(Buffer.from(ref.x.buffer)), `epoch ${e} batch ${s} pixels`).toBe(true);
        }),
      );
      expect(other.evals.map((b) => Array.from(b.y))).toEqual(inThread.evals.map((b) => Array.from(b.y)));
      other.evals.forEach((b, k) => expect(Array.from(b.x)).toEqual(Array.from(inThread.evals[k]!.x)));
    }
    // The two epochs augment differently (a new shuffle and epoch key).
    expect(Array.from(inThread.epochs[1]![0]!.x)).not.toEqual(Array.from(inThread.epochs[0]![0]!.x));
  }, 60_000);

  it('skip an unreadable image with its reason and shrink the batch', async () => {
    const { epochs } = await collect(0);
    const skipped = epochs.flat().flatMap((b) => b.skipped);
    // 16 training images (3 classes x 5 + broken.png), 4 batches of 4 per epoch: each epoch meets it once.
    expect(skipped.length).toBe(2);
    expect(skipped[0]!.file).toMatch(/broken\.png$/);
    expect(skipped[0]!.reason).toMatch(/cannot decode image .*broken\.png/);
    const withIt = epochs[0]!.find((b) => b.skipped.length)!;
    expect(withIt.n).toBe(3);
    expect(epochs.flat().reduce((a, b) => a + b.n, 0)).toBe(2 * 15);
    // Labels: 'ant', 'bee', 'cat' -> 0, 1, 2, five readable images each per epoch.
    const counts = [0, 0, 0];
    for (const b of epochs[0]!) for (let i = 0; i < b.n; i++) counts[b.y[i]!]!++;
    expect(counts).toEqual([5, 5, 5]);
  });

  it('derive per-image seeds from the epoch key and position only', () => {
    const key = [1, 2, 3, 4] as [number, number, number, number];
    expect(sampleSeed(key, 7)).toEqual(sampleSeed(key, 7));
    expect(sampleSeed(key, 7)).not.toEqual(sampleSeed(key, 8));
    expect(sampleSeed(key, 7)).not.toEqual(sampleSeed([1, 2, 3, 5], 7));
    const draws = (p: number): number[] => {
      const r = sampleRng(sampleSeed(key, p));
      return [r.nextU32(), r.nextU32()];
    };
    expect(draws(3)).toEqual(draws(3));
    expect(new Set(Array.from({ length: 1000 }, (_, p) => draws(p)[0])).size).toBe(1000);
  });
});

describe('ImageFolder layout errors', () => {
  const make = (name: string, dirs: string[], files: string[] = []): string => {
    const r = path.join(work, name);
    for (const d of dirs) mkdirSync(path.join(r, d), { recursive: true });
    for (const f of files) writeFileSync(path.join(r, f), 'x');
    return r;
  };

  it('names the missing split folder', async () => {
    const r = make('no-val', ['train/a'], ['train/a/1.png']);
    await expect(ImageFolderData.open(options(0, r))).rejects.toThrow(ImageFolderError);
    await expect(ImageFolderData.open(options(0, r))).rejects.toThrow(
      /has no validation folder \(looked for validation\/, val\/, valid\/, eval\/, evaluation\/;/,
    );
    await expect(ImageFolderData.open(options(0, make('no-train', ['val/a'])))).rejects.toThrow(
      /has no training folder \(looked for train\/, training\//,
    );
    await expect(ImageFolderData.open(options(0, path.join(work, 'missing')))).rejects.toThrow(
      /dataset folder not found/,
    );
  });

  it('refuses empty class folders and validation classes the training set lacks', async () => {
    const empty = make('empty-class', ['train/a', 'train/b', 'val/a'], ['train/a/1.png', 'val/a/1.png']);
    await expect(ImageFolderData.open(options(0, empty))).rejects.toThrow(/no images in class folder b/);
    const extra = make(
      'extra-class',
      ['train/a', 'validation/a', 'validation/z'],
      ['train/a/1.png', 'validation/a/1.png', 'validation/z/1.png'],
    );
    await expect(ImageFolderData.open(options(0, extra))).rejects.toThrow(/has class folder z that .* does not have/);
  });

  it("accepts timm's other split names and maps validation classes by name", async () => {
    const r = make(
      'names',
      ['training/a', 'training/b', 'validation/b'],
      ['training/a/1.png', 'training/b/1.png', 'validation/b/bad.png'],
    );
    writeFileSync(
      path.join(r, 'validation/b/1.png'),
      await sharp({ create: { width: 30, height: 20, channels: 3, background: '#808080' } })
        .png()
        .toBuffer(),
    );
    const data = await ImageFolderData.open(options(0, r));
    try {
      expect(data.classes).toEqual(['a', 'b']);
      expect([data.trainCount, data.evalCount]).toEqual([2, 2]);
      const [batch] = await (async () => {
        const out: DataBatch[] = [];
        for await (const b of data.evalBatches(8)) out.push(b);
        return out;
      })();
      // validation/ has only class b: its image is labelled 1 (b's training index), not 0.
      expect([batch!.n, Array.from(batch!.y.subarray(0, 1))]).toEqual([1, [1]]);
      expect(batch!.skipped.map((k) => path.basename(k.file))).toEqual(['bad.png']);
    } finally {
      await data.close();
    }
  });
});
