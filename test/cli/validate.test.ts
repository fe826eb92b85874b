import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { RepGhost } from '../../src/node/api.js';
import { ClassificationMetrics } from '../../src/api/postprocess.js';
import { readImageFolder } from '../../src/data/image-folder.js';
import { runCli } from '../helpers/cli.js';
import { sharedPath } from '../helpers/shared.js';

const weights = sharedPath('golden', 'repghostnet_repid_0_5x', 'model.pth');
const model = 'repghostnet_repid_0_5x';
const root = mkdtempSync(path.join(tmpdir(), 'repghost-val-'));
const dataset = path.join(root, 'val');
const pre = (f: string) => sharedPath('golden', 'preprocess', f);

/** Classes that hold one plain image each (torchvision, and validate, refuse an empty class folder). */
const FILLER = [1, 2, 4, 6, 8, 9];

/** A 10-class ImageFolder with 11 good images (one nested), a corrupt and a truncated JPEG, and a non-image file. */
beforeAll(() => {
  for (let c = 0; c < 10; c++) mkdirSync(path.join(dataset, `class_${c}`), { recursive: true });
  for (const c of FILLER) copyFileSync(pre('coffee.png'), path.join(dataset, `class_${c}`, 'x.png'));
  copyFileSync(pre('chelsea.png'), path.join(dataset, 'class_0', 'b.png'));
  copyFileSync(pre('coffee.png'), path.join(dataset, 'class_0', 'a.PNG'));
  copyFileSync(pre('rocket.jpg'), path.join(dataset, 'class_3', 'rocket.jpg'));
  mkdirSync(path.join(dataset, 'class_3', 'sub'));
  copyFileSync(pre('chelsea.webp'), path.join(dataset, 'class_3', 'sub', 'c.webp'));
  copyFileSync(pre('camera_gray.png'), path.join(dataset, 'class_7', 'camera.png'));
  writeFileSync(path.join(dataset, 'class_5', 'broken.jpg'), 'not a jpeg');
  writeFileSync(path.join(dataset, 'class_5', 'truncated.jpg'), readFileSync(pre('rocket.jpg')).subarray(0, 3000));
  writeFileSync(path.join(dataset, 'class_5', 'notes.txt'), 'ignored: not an image extension');
});

describe('repghost validate', () => {
  it('lists the ImageFolder like torchvision (sorted classes, sorted walk, image extensions only)', async () => {
    const f = await readImageFolder(dataset);
    expect(f.classes).toEqual(Array.from({ length: 10 }, (_, c) => `class_${c}`));
    expect(f.samples.map((s) => [path.relative(dataset, s.file), s.target])).toEqual([
      ['class_0/a.PNG', 0],
      ['class_0/b.png', 0],
      ['class_1/x.png', 1],
      ['class_2/x.png', 2],
      ['class_3/rocket.jpg', 3],
      ['class_3/sub/c.webp', 3],
      ['class_4/x.png', 4],
      ['class_5/broken.jpg', 5],
      ['class_5/truncated.jpg', 5],
      ['class_6/x.png', 6],
      ['class_7/camera.png', 7],
      ['class_8/x.png', 8],
      ['class_9/x.png', 9],
    ]);
  });

  it('reports top-1/top-5/loss of the readable images, counts the unreadable ones, writes --out', async () => {
    const out = path.join(root, 'results.json');
    const r = runCli([
      'validate',
      dataset,
      '--weights',
      weights,
      '--model',
      model,
      '-b',
      '2',
      '--out',
      out,
      '--threads',
      '1',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/11 images \(2 unreadable, skipped\)/);
    const warnings = r.stderr.trim().split('\n');
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/^warning: skipped: cannot decode image .*broken\.jpg: /);
    expect(warnings[1]).toMatch(/^warning: skipped: cannot decode image .*truncated\.jpg: /);
    const report = JSON.parse(readFileSync(out, 'utf8'));
    expect(report).toMatchObject({
      model,
      images: 11,
      unreadable: 2,
      interpolation: 'bilinear',
      crop_pct: 0.875,
      batch_size: 2,
    });
    expect(report.images_per_second).toBeGreaterThan(0);
    // The same numbers through the library API.
    const m = await RepGhost.load({ weights, model, preprocess: { interpolation: 'bilinear' }, threads: 1 });
    const good = [
      ['class_0/a.PNG', 0],
      ['class_0/b.png', 0],
      ['class_1/x.png', 1],
      ['class_2/x.png', 2],
      ['class_3/rocket.jpg', 3],
      ['class_3/sub/c.webp', 3],
      ['class_4/x.png', 4],
      ['class_6/x.png', 6],
      ['class_7/camera.png', 7],
      ['class_8/x.png', 8],
      ['class_9/x.png', 9],
    ] as const;
    const metrics = new ClassificationMetrics();
    metrics.update(
      await m.infer(await m.preprocessBatch(good.map(([f]) => path.join(dataset, f))), good.length),
      10,
      good.map(([, t]) => t),
    );
    await m.dispose();
    const want = metrics.summary();
    expect(report.top1).toBeCloseTo(want.top1, 9);
    expect(report.top5).toBeCloseTo(want.top5, 9);
    expect(report.loss).toBeCloseTo(want.loss, 4);
  });

  it('a class count that does not match the classifier, and a missing folder, are one-line errors', () => {
    let r = runCli([
      'validate',
      dataset,
      '--weights',
      sharedPath('golden', 'repghostnet_0_5x', 'checkpoint.pth'),
      '--json',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      new RegExp(
        /^repghost: .* has 10 class folders but repghostnet_0_5x has 1000 outputs: /.source +
          /name the folder of each class with --class-map/.source,
        'm',
      ),
    );
    r = runCli(['validate', path.join(root, 'nope'), '--weights', weights]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`repghost: dataset folder not found: ${path.join(root, 'nope')}\n`);
  });
});
