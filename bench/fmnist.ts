/**
 * Fashion-MNIST training benchmark (`npm run bench:fmnist -- --epochs 3|12`; not part
 * of the test suite): repghostnet_0_5x with the reference recipe of
 * shared/reference/fashion_mnist.md, printed next to PyTorch's figures measured on
 * this kind of machine. Appends {epochs, top1, top1_ema, seconds_per_epoch,
 * images_per_s, date, ...} to bench/results/fmnist.json and redraws fmnist.md / fmnist.png
 * (bench/fmnist-report.ts).
 *
 * Options: --epochs N (default 3), --seed N (default 42, the reference's), --output DIR (checkpoints; default
 * /tmp/repghost-fmnist-<N>), --resume (continue DIR/last.pth.tar after a kill),
 * --assets (ship the better of the final raw / EMA weights to assets/fashion-mnist/
 * when this run beats the one already there), --train-limit/--eval-limit N (smoke runs;
 * such runs are not appended).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createCanvas } from '@napi-rs/canvas';
import { pytorchFmnistRuns, writeFmnistReport } from './fmnist-report.js';
import { FASHION_MNIST_CLASSES, loadFashionMnistSplit, DEFAULT_FASHION_MNIST_DIR } from '../src/data/fashion-mnist.js';
import { toDeploy } from '../src/reparam/fuse.js';
import { nativeKernels } from '../src/train/kernels/native.js';
import { floatStateToStateDict } from '../src/train/state.js';
import { progressHooks } from '../src/train/progress.js';
import { DEFAULT_TRAIN_OPTIONS, LAST_CHECKPOINT, train } from '../src/train/trainer.js';
import { writeSafetensors } from '../src/weights/safetensors.js';
import type { StateDict } from '../src/weights/tensor.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const resultsFile = path.join(root, 'bench', 'results', 'fmnist.json');
const assetsDir = path.join(root, 'assets', 'fashion-mnist');

/** PyTorch 1.13.1, 2 threads, official code, this kind of machine (shared/reference/fashion_mnist.json). */
const PYTORCH = Object.fromEntries(
  Object.entries(pytorchFmnistRuns()).map(([epochs, r]) => [
    epochs,
    {
      top1: r.top1,
      top1_ema: r.top1_ema,
      seconds_per_epoch: Math.round(r.seconds_per_epoch),
      images_per_s: Math.round(r.images_per_s),
    },
  ]),
);

const { values } = parseArgs({
  options: {
    epochs: { type: 'string', default: '3' },
    output: { type: 'string' },
    resume: { type: 'boolean', default: false },
    assets: { type: 'boolean', default: false },
    'train-limit': { type: 'string' },
    'eval-limit': { type: 'string' },
    'data-dir': { type: 'string', default: DEFAULT_FASHION_MNIST_DIR },
    seed: { type: 'string', default: String(DEFAULT_TRAIN_OPTIONS.seed) },
  },
});
const epochs = Number(values.epochs);
if (!Number.isInteger(epochs) || epochs < 1) throw new Error(`--epochs takes a positive integer, got ${values.epochs}`);
const output = path.resolve(values.output ?? `/tmp/repghost-fmnist-${epochs}`);
const trainLimit = values['train-limit'] ? Number(values['train-limit']) : undefined;
const evalLimit = values['eval-limit'] ? Number(values['eval-limit']) : undefined;
const resume =
  values.resume && existsSync(path.join(output, LAST_CHECKPOINT)) ? path.join(output, LAST_CHECKPOINT) : undefined;

const hooks = progressHooks();
const started = Date.now();
const outcome = await train(
  {
    ...DEFAULT_TRAIN_OPTIONS,
    epochs,
    output,
    resume,
    trainLimit,
    evalLimit,
    dataDir: values['data-dir'],
    seed: Number(values.seed),
  },
  hooks,
);
hooks.stop();
if (outcome.status !== 'completed') {
  process.stderr.write(`${outcome.message}\n`);
  process.exit(1);
}
const h = outcome.history;
const last = h.at(-1)!;
const seconds = h.reduce((s, r) => s + r.seconds, 0) / h.length;
const images = h.reduce((s, r) => s + r.images_per_s, 0) / h.length;
const run = {
  epochs,
  seed: Number(values.seed),
  top1: last.eval_top1,
  top1_ema: last.eval_top1_ema,
  seconds_per_epoch: seconds,
  images_per_s: images,
  date: new Date().toISOString(),
  backend: outcome.backend,
  kernels: nativeKernels() ? 'native' : 'wasm',
  wall_seconds: (Date.now() - started) / 1000,
  load_average: loadavg()[0],
  resumed: resume !== undefined,
  history: h,
};

const ref = PYTORCH[String(epochs)];
const fmt = (v: number | null | undefined, d = 2) => (v == null ? '-' : v.toFixed(d));
console.log(`\nrepghostnet_0_5x on Fashion-MNIST, ${epochs} epochs (${outcome.backend})`);
console.log('                 top-1 raw  top-1 EMA  s/epoch  images/s');
console.log(
  `repghost (tfjs)  ${fmt(run.top1).padStart(9)}  ${fmt(run.top1_ema).padStart(9)}  ` +
    `${fmt(seconds, 0).padStart(7)}  ${fmt(images, 1).padStart(8)}`,
);
if (ref)
  console.log(
    `PyTorch 1.13     ${fmt(ref.top1).padStart(9)}  ${fmt(ref.top1_ema).padStart(9)}  ` +
      `${fmt(ref.seconds_per_epoch, 0).padStart(7)}  ${fmt(ref.images_per_s, 1).padStart(8)}`,
  );
console.log('(train-phase seconds and images/s; evaluation excluded. PyTorch idle epoch: 132 s, 453 images/s.)');

if (trainLimit === undefined && evalLimit === undefined) {
  mkdirSync(path.dirname(resultsFile), { recursive: true });
  const runs = existsSync(resultsFile)
    ? (JSON.parse(readFileSync(resultsFile, 'utf8')) as { runs: unknown[] }).runs
    : [];
  runs.push(run);
  writeFileSync(
    resultsFile,
    `${JSON.stringify({ recipe: 'shared/reference/fashion_mnist.md', pytorch: PYTORCH, runs }, null, 1)}\n`,
  );
  console.log(`appended to ${path.relative(root, resultsFile)}`);
  for (const f of await writeFmnistReport()) console.log(`wrote ${path.relative(root, f)}`);
}

if (values.assets) await shipAssets();
outcome.final.dispose();

/** Writes assets/fashion-mnist/ from this run when it beats what is there. */
async function shipAssets(): Promise<void> {
  const { spec, model, ema } = outcome.final;
  const useEma = ema !== null && (last.eval_top1_ema ?? -1) > last.eval_top1;
  const top1 = useEma ? last.eval_top1_ema! : last.eval_top1;
  const metaFile = path.join(assetsDir, 'meta.json');
  if (existsSync(metaFile)) {
    const prev = JSON.parse(readFileSync(metaFile, 'utf8')) as { test_top1?: number };
    if ((prev.test_top1 ?? -1) >= top1) {
      console.log(`assets kept: the shipped model scores ${prev.test_top1} >= ${top1.toFixed(2)}`);
      return;
    }
  }
  mkdirSync(path.join(assetsDir, 'samples'), { recursive: true });
  const sd: StateDict = useEma
    ? floatStateToStateDict(spec, ema.state, (bn) => ema.numBatchesTracked.get(bn)!)
    : model.toStateDict();
  const meta = { arch: spec.name, num_classes: '10', weights: useEma ? 'ema' : 'raw', test_top1: top1.toFixed(2) };
  writeFileSync(path.join(assetsDir, 'model.safetensors'), writeSafetensors(sd, { ...meta, form: 'train' }));
  writeFileSync(
    path.join(assetsDir, 'deploy.safetensors'),
    writeSafetensors(toDeploy(spec, sd), { ...meta, form: 'deploy' }),
  );
  writeFileSync(path.join(assetsDir, 'labels.json'), `${JSON.stringify(FASHION_MNIST_CLASSES, null, 1)}\n`);
  writeFileSync(
    metaFile,
    `${JSON.stringify(
      {
        model: spec.name,
        num_classes: 10,
        weights: useEma ? 'ema' : 'raw',
        test_top1: Number(top1.toFixed(2)),
        test_top1_raw: last.eval_top1,
        test_top1_ema: last.eval_top1_ema,
        epochs,
        backend: outcome.backend,
        kernels: run.kernels,
        date: run.date,
        input: {
          size: 32,
          channels: 3,
          mean: 0.286,
          std: 0.353,
          preprocessing:
            'pixels/255, bilinear resize 28->32 (align_corners=False), normalize, gray replicated to 3 channels',
        },
        recipe: {
          batch_size: 128,
          opt: 'sgd (nesterov)',
          lr: 0.1,
          momentum: 0.9,
          weight_decay: 1e-5,
          sched: 'cosine (per epoch)',
          warmup_epochs: 1,
          warmup_lr: 1e-4,
          min_lr: 1e-5,
          smoothing: 0.1,
          drop: 0.2,
          model_ema_decay: 0.999,
          hflip: 0.5,
          crop: 'random 32 from zero-padded by 2',
          seed: Number(values.seed),
          reference: 'shared/reference/fashion_mnist.md',
        },
      },
      null,
      1,
    )}\n`,
  );
  await writeSamples();
  console.log(
    `shipped ${useEma ? 'EMA' : 'raw'} weights (top-1 ${top1.toFixed(2)}) to ${path.relative(root, assetsDir)}`,
  );
}

/** Six test images of six classes, as 28x28 gray PNGs named by their true label. */
async function writeSamples(): Promise<void> {
  const test = await loadFashionMnistSplit(values['data-dir'], 'test');
  const seen = new Set<number>();
  for (let i = 0; i < test.count && seen.size < 6; i++) {
    const label = test.labels[i]!;
    if (seen.has(label)) continue;
    seen.add(label);
    const canvas = createCanvas(28, 28);
    const ctx = canvas.getContext('2d');
    const img = ctx.createImageData(28, 28);
    for (let p = 0; p < 784; p++) {
      const v = test.images[i * 784 + p]!;
      img.data[4 * p] = v;
      img.data[4 * p + 1] = v;
      img.data[4 * p + 2] = v;
      img.data[4 * p + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
    const name = FASHION_MNIST_CLASSES[label]!.toLowerCase().replace(/[^a-z]+/g, '-');
    writeFileSync(path.join(assetsDir, 'samples', `${name}.png`), canvas.toBuffer('image/png'));
  }
}
