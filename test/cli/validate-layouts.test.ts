/**
 * validate on real layouts (issue 16): ImageNet wnid folders, numeric folders (by number),
 * --class-map, class names recorded in a checkpoint; the worker pool's metrics equal the
 * single-thread path's bit for bit; --predictions; a folder changing while it is read.
 */
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RepGhost, type RepGhost as Model } from '../../src/node/api.js';
import { ClassificationMetrics } from '../../src/api/postprocess.js';
import { runValidation } from '../../src/cli/validate-loop.js';
import { mapClassFolders, parseClassMap } from '../../src/data/class-map.js';
import { ImageFolderError, ImageFolderIndex } from '../../src/data/image-folder.js';
import { IMAGENET_WNIDS } from '../../src/data/imagenet-wnids.js';
import { decodeImagePath } from '../../src/data/decode-path.js';
import { readCheckpoint } from '../../src/weights/checkpoint.js';
import { plainDict } from '../../src/weights/pickle.js';
import { writePth } from '../../src/weights/pth.js';
import { runCli } from '../helpers/cli.js';
import { sharedPath } from '../helpers/shared.js';

const work = mkdtempSync(path.join(tmpdir(), 'repghost-layouts-'));
const pre = (f: string) => sharedPath('golden', 'preprocess', f);
const IMAGES = ['chelsea.png', 'coffee.png', 'rocket.jpg', 'camera_gray.png', 'chelsea.webp'];
const imagenet = sharedPath('golden', 'repghostnet_0_5x', 'deploy.safetensors');
const repid = sharedPath('golden', 'repghostnet_repid_0_5x', 'model.pth');

/** A folder of `classes` (name -> images from IMAGES). */
function folder(name: string, classes: Record<string, string[]>): string {
  const root = path.join(work, name);
  for (const [c, files] of Object.entries(classes)) {
    mkdirSync(path.join(root, c), { recursive: true });
    for (const f of files) copyFileSync(pre(f), path.join(root, c, f));
  }
  return root;
}

let model1k: Model;
beforeAll(async () => {
  model1k = await RepGhost.load({
    weights: imagenet,
    model: 'repghostnet_0_5x',
    preprocess: { interpolation: 'bilinear' },
    threads: 1,
  });
});
afterAll(async () => {
  await (model1k as Model | undefined)?.dispose();
  rmSync(work, { recursive: true, force: true });
});

/**
 * What the metrics must be: every image through the API (no EXIF orientation, as timm), scored against
 * `target(folder)`.
 */
async function expected(model: Model, root: string, target: (folder: string) => number) {
  const index = await ImageFolderIndex.read(root);
  const m = new ClassificationMetrics();
  for (let i = 0; i < index.length; i++) {
    const x = await model.preprocess(await decodeImagePath(index.fsPath(i), { autoOrient: false }));
    m.update(await model.infer(x, 1), model.numClasses, [target(index.classes[index.label(i)]!)]);
  }
  return m.summary();
}

async function validate(model: Model, root: string, names: Parameters<typeof mapClassFolders>[3] = {}, workers = 0) {
  const index = await ImageFolderIndex.read(root);
  const mapping = mapClassFolders(root, index.classes, model.numClasses, names);
  return { mapping, result: await runValidation(model, index, mapping.targets, { batchSize: 2, workers }) };
}

describe('class folders to classifier outputs', () => {
  it('embeds the 1000 ImageNet wnids of ../shared/reference/imagenet_synsets.txt (line i = class i)', () => {
    const ref = readFileSync(sharedPath('reference', 'imagenet_synsets.txt'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.trim());
    expect(IMAGENET_WNIDS).toEqual(ref);
  });

  it('an ImageNet subset with wnid folders maps each folder to its ImageNet index', async () => {
    // Imagenette-like: 3 of the 1000 classes, in folders that sort to 0, 1, 2 but are 0, 217, 566.
    const root = folder('wnid', {
      n01440764: ['chelsea.png'],
      n02102040: ['coffee.png', 'rocket.jpg'],
      n03888257: ['camera_gray.png'],
    });
    const { mapping, result } = await validate(model1k, root);
    expect(mapping.source).toBe('imagenet-wnid');
    expect([...mapping.targets]).toEqual([0, 217, 701]);
    const want = await expected(model1k, root, (f) => IMAGENET_WNIDS.indexOf(f));
    expect(result).toMatchObject({ images: 4, top1: want.top1, top5: want.top5, loss: want.loss });
  });

  it('numeric folders (ImageNet-V2) map by number, never by string order', async () => {
    const root = folder('numeric', { 2: ['chelsea.png'], 10: ['coffee.png'], 281: ['rocket.jpg'] });
    const { mapping, result } = await validate(model1k, root);
    expect(mapping.source).toBe('numeric');
    const index = await ImageFolderIndex.read(root);
    expect(index.classes).toEqual(['10', '2', '281']); // torchvision's order
    expect([...mapping.targets]).toEqual([10, 2, 281]);
    const want = await expected(model1k, root, Number);
    expect(result.loss).toBe(want.loss);
  });

  it('--class-map (timm .txt: line i names the folder of class i) wins; unknown folders are one line', async () => {
    const root = folder('mapped', { dog: ['chelsea.png'], cat: ['coffee.png'] });
    const names = parseClassMap('cat\nbird\r\ndog\n', 'map.txt');
    expect(names).toEqual(['cat', 'bird', 'dog']);
    const { mapping, result } = await validate(model1k, root, { classMap: { names, file: 'map.txt' } });
    expect([mapping.source, ...mapping.targets]).toEqual(['class-map', 0, 2]);
    const want = await expected(model1k, root, (f) => names.indexOf(f));
    expect(result.loss).toBe(want.loss);
    expect(() => mapClassFolders(root, ['cat', 'fish'], 1000, { classMap: { names, file: 'map.txt' } })).toThrow(
      /^class folder 'fish' is not in the class map map\.txt$/,
    );
    expect(() => parseClassMap('a\nb\na\n', 'm.txt')).toThrow(/lines 1 and 3 both name 'a'/);
    expect(() => parseClassMap('a\n', 'm.pkl')).toThrow(/only \.txt class maps/);
    expect(() => mapClassFolders(root, ['n01440764', 'n99999999'], 1000)).toThrow(
      /^class folder 'n99999999' is not in the 1000 ImageNet-1k wnids$/,
    );
    expect(() => mapClassFolders(root, ['5', '1000'], 1000)).toThrow(
      /numeric class folder '1000' is not an output of a 1000-class classifier/,
    );
    expect(() => mapClassFolders(root, ['cat', 'dog'], 1000)).toThrow(ImageFolderError);
    expect(() => mapClassFolders(root, ['cat', 'dog'], 1000)).toThrow(
      /has 2 class folders but the classifier has 1000 outputs: name the folder of each class with --class-map/,
    );
  });
});

describe('repghost validate (CLI)', () => {
  let tenClass: string;
  let relabelled: string;
  beforeAll(() => {
    tenClass = folder(
      'ten',
      Object.fromEntries(Array.from({ length: 10 }, (_, c) => [`class_${c}`, [IMAGES[c % IMAGES.length]!]])),
    );
    writeFileSync(path.join(tenClass, 'class_3', 'broken.jpg'), 'not a jpeg');
    // The repid golden as a checkpoint trained here: args.class_names in reverse folder order.
    const ck = readCheckpoint(readFileSync(repid));
    relabelled = path.join(work, 'relabelled.pth');
    const classNames = Array.from({ length: 10 }, (_, c) => `class_${9 - c}`);
    writeFileSync(
      relabelled,
      writePth(
        plainDict(
          new Map<string, unknown>([
            ['state_dict', ck.stateDict],
            ['arch', 'repghostnet_repid_0_5x'],
            ['args', plainDict(new Map([['class_names', classNames]]))],
          ]),
        ),
      ),
    );
  });

  const workersTitle =
    'workers give the same metrics and predictions as the main thread, bit for bit (--topk 3 the first 3 of 5); ' +
    '--json has the throughput fields';
  it(
    workersTitle,
    () => {
      const run = (workers: string, csv: string, ...extra: string[]) => {
        const r = runCli([
          'validate',
          tenClass,
          '--weights',
          repid,
          '--model',
          'repghostnet_repid_0_5x',
          '-b',
          '3',
          '--threads',
          '1',
          '--workers',
          workers,
          '--json',
          '--predictions',
          csv,
          ...extra,
        ]);
        expect(r.code, r.stderr).toBe(0);
        return JSON.parse(r.stdout);
      };
      const one = run('0', path.join(work, 'p0.csv'));
      const two = run('2', path.join(work, 'p2.csv'), '--topk', '3');
      for (const k of ['images', 'top1', 'top5', 'loss', 'unreadable']) expect(two[k]).toBe(one[k]);
      expect(one).toMatchObject({ images: 10, unreadable: 1, class_mapping: 'sorted', workers: 0 });
      expect(two.workers).toBe(2);
      for (const k of [
        'images_per_second',
        'inference_images_per_second',
        'preprocess_images_per_second',
        'preprocess_ms_per_image',
      ])
        expect(two[k]).toBeGreaterThan(0);
      const csv = readFileSync(path.join(work, 'p0.csv'), 'utf8');
      const rows = csv.trim().split('\n');
      // --topk 3 with 2 workers: each row is the first 3 indices and probabilities of the top-5 row.
      const top3 = rows.map((row) => {
        const f = row.split(',');
        return [f[0], ...f.slice(1, 4), ...f.slice(6, 9)].join(',');
      });
      expect(readFileSync(path.join(work, 'p2.csv'), 'utf8')).toBe(`${top3.join('\n')}\n`);
      expect(rows[0]).toBe(
        'path,top1_index,top2_index,top3_index,top4_index,top5_index,' +
          'top1_probability,top2_probability,top3_probability,top4_probability,top5_probability',
      );
      expect(rows).toHaveLength(11);
      const first = rows[1]!.split(',');
      expect(first[0]).toBe(path.join(tenClass, 'class_0', 'chelsea.png'));
      expect(
        first
          .slice(6)
          .map(Number)
          .reduce((a, b) => a + b),
      ).toBeLessThanOrEqual(1.00001);
    },
    120_000,
  );

  it("the class names a checkpoint records in its args win over the folders' sorted order", async () => {
    const m = await RepGhost.load({ weights: relabelled, preprocess: { interpolation: 'bilinear' }, threads: 1 });
    try {
      const r = runCli(['validate', tenClass, '--weights', relabelled, '--threads', '1', '--json', '--workers', '1']);
      expect(r.code, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout);
      expect(report.class_mapping).toBe('checkpoint');
      const index = await ImageFolderIndex.read(tenClass);
      const want = new ClassificationMetrics();
      for (let i = 0; i < index.length; i++) {
        if (index.path(i).endsWith('broken.jpg')) continue;
        const x = await m.preprocess(await decodeImagePath(index.fsPath(i), { autoOrient: false }));
        want.update(await m.infer(x, 1), 10, [9 - index.label(i)]);
      }
      expect(report.loss).toBeCloseTo(want.summary().loss, 5);
      expect(report.top5).toBe(want.summary().top5);
      // A subset without names for its folders is one line, exit 2.
      const sub = folder('sub', { a: ['chelsea.png'] });
      const bad = runCli([
        'validate',
        sub,
        '--weights',
        repid,
        '--model',
        'repghostnet_repid_0_5x',
        '--class-map',
        path.join(work, 'nope.txt'),
      ]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/^repghost: class map not found: .*nope\.txt\n$/);
    } finally {
      await m.dispose();
    }
  }, 120_000);
});

describe('names that are not UTF-8', () => {
  it('an image whose file name is not UTF-8 is read and scored, in the workers too', async () => {
    const root = folder('bytes', { n01440764: ['chelsea.png'] });
    const raw = Buffer.concat([
      Buffer.from(path.join(root, 'n01440764/')),
      Buffer.from([0x63, 0xff, 0x2e, 0x70, 0x6e, 0x67]),
    ]); // "c\xff.png"
    writeFileSync(raw, readFileSync(pre('coffee.png')));
    const index = await ImageFolderIndex.read(root);
    expect(index.length).toBe(2);
    const mapping = mapClassFolders(root, index.classes, 1000);
    for (const workers of [0, 1]) {
      const r = await runValidation(model1k, index, mapping.targets, { batchSize: 2, workers });
      expect([r.images, r.unreadable]).toEqual([2, 0]);
    }
  }, 60_000);
});

describe('a folder that changes while it is read', () => {
  it('images deleted or truncated after indexing are counted as unreadable, never fatal', async () => {
    const root = folder('changing', {
      n01440764: ['chelsea.png', 'coffee.png', 'rocket.jpg'],
      n02102040: ['camera_gray.png', 'chelsea.webp'],
    });
    const index = await ImageFolderIndex.read(root);
    unlinkSync(path.join(root, 'n01440764', 'coffee.png'));
    truncateSync(path.join(root, 'n01440764', 'rocket.jpg'), 1000);
    truncateSync(path.join(root, 'n02102040', 'chelsea.webp'), 0);
    const mapping = mapClassFolders(root, index.classes, 1000);
    for (const workers of [0, 2]) {
      const r = await runValidation(model1k, index, mapping.targets, { batchSize: 2, workers });
      expect(r.images).toBe(2);
      expect(r.unreadable_files.map((u) => path.basename(u.file))).toEqual([
        'coffee.png',
        'rocket.jpg',
        'chelsea.webp',
      ]);
      expect(r.unreadable_files[0]!.reason).toMatch(/file not found/);
    }
  }, 60_000);
});
