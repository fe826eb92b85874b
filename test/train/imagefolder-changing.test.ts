/**
 * Training on a folder that changes while it is read (issue 16): images deleted or
 * truncated after the index was made are skipped and reported, never fatal, in the
 * training batches and the evaluation set alike.
 */
import { mkdtempSync, readdirSync, rmSync, truncateSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { IMAGENET_MEAN, IMAGENET_STD } from '../../src/data/augment/transforms.js';
import { ImageFolderData } from '../../src/train/data/imagefolder-source.js';
import { Rng } from '../../src/train/rng.js';
import { writeSyntheticImageFolder } from './synthetic-imagefolder.js';

const work = mkdtempSync(path.join(tmpdir(), 'repghost-ifchange-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

it('images deleted or truncated after indexing are skipped in training and evaluation batches', async () => {
  for (const workers of [0, 2]) {
    const root = path.join(work, `ds${workers}`);
    await writeSyntheticImageFolder(root, { train: 4, val: 2 });
    const data = await ImageFolderData.open({
      root,
      workers,
      train: {
        size: 16,
        scale: [0.08, 1],
        ratio: [3 / 4, 4 / 3],
        interpolation: 'bilinear',
        hflip: 0.5,
        autoAugment: null,
        colorJitter: 0,
        reprob: 0,
        remode: 'pixel',
        mean: IMAGENET_MEAN,
        std: IMAGENET_STD,
      },
      eval: { size: 16, cropPct: 0.875, interpolation: 'bilinear', mean: IMAGENET_MEAN, std: IMAGENET_STD },
    });
    try {
      {
        // Change the folder between indexing and reading: one file gone, one cut short, one empty.
        const cls = readdirSync(path.join(root, 'train'))[0]!;
        const files = readdirSync(path.join(root, 'train', cls)).sort();
        unlinkSync(path.join(root, 'train', cls, files[0]!));
        truncateSync(path.join(root, 'train', cls, files[1]!), 40);
        const vcls = readdirSync(path.join(root, 'val'))[0]!;
        truncateSync(path.join(root, 'val', vcls, readdirSync(path.join(root, 'val', vcls)).sort()[0]!), 0);
      }
      const epoch = data.epoch(new Rng(1), data.trainCount, 1);
      const batch = await epoch.next();
      epoch.close();
      expect(batch.skipped.map((s) => s.reason).sort()).toEqual(
        [expect.stringMatching(/file not found/), expect.stringMatching(/cannot decode/)].sort(),
      );
      expect(batch.n).toBe(data.trainCount - 2);
      let evalSkipped = 0;
      let evalImages = 0;
      for await (const b of data.evalBatches(3)) {
        evalSkipped += b.skipped.length;
        evalImages += b.n;
      }
      expect([evalSkipped, evalImages]).toEqual([1, data.evalCount - 1]);
    } finally {
      await data.close();
    }
  }
}, 60_000);
