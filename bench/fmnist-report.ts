/**
 * Summary of bench/results/fmnist.json: fmnist.md (every run beside PyTorch's figures,
 * and per schedule the spread over seeds, since one seed moves the result by a few
 * tenths) and fmnist.png (test top-1 and train loss per epoch of the 12-epoch runs
 * against PyTorch's run). `npm run bench:fmnist` rewrites both after each run;
 * `npx tsx bench/fmnist-report.ts` redraws them from the JSON alone.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCanvas, loadImage } from '@napi-rs/canvas';
import { lineChartPng, type Series } from '../src/train/report.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shared = path.resolve(process.env.REPGHOST_SHARED ?? path.join(root, '..', 'shared'));
const resultsDir = path.join(root, 'bench', 'results');

interface EpochRow {
  epoch: number;
  train_loss: number;
  eval_top1: number;
  eval_top1_ema: number | null;
}
/** One run as bench/fmnist.ts appends it (runs before `seed` and `kernels` were recorded used 42 and wasm). */
interface FmnistRun {
  epochs: number;
  seed?: number;
  top1: number;
  top1_ema: number | null;
  seconds_per_epoch: number;
  images_per_s: number;
  date: string;
  kernels?: string;
  resumed: boolean;
  load_average: number;
  history: EpochRow[];
}
export interface ReferenceRun {
  history: { epoch: number; train_loss: number; top1: number; top1_ema: number }[];
  top1: number;
  top1_ema: number;
  seconds_per_epoch: number;
  images_per_s: number;
}

const fmt = (v: number | null | undefined, digits = 2): string => (v == null ? '-' : v.toFixed(digits));

/** Mean and sample standard deviation. */
function spread(values: number[]): { mean: number; sd: number } {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const sd = values.length > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1)) : 0;
  return { mean, sd };
}

function markdown(runs: FmnistRun[], reference: Record<string, ReferenceRun>): string {
  const lines = [
    '# Fashion-MNIST: repghostnet_0_5x with the reference recipe, repghost (TensorFlow.js) vs PyTorch 1.13',
    '',
    'Recipe: `shared/reference/fashion_mnist.md` (32x32, random crop pad 2 + flip, Nesterov SGD lr 0.1 batch ' +
      '128, cosine with 1 warm-up epoch, wd 1e-5, smoothing 0.1, dropout 0.2, EMA 0.999). ' +
      'Test top-1 after the last epoch; seconds and images/s of the training phase (evaluation excluded). ' +
      'PyTorch: one run, seed 42, 2 threads, this kind of machine. ' +
      "PyTorch's speed is REFERENCE.md's re-measurement on a quiet machine (2026-12-06), ours that of each run's " +
      'date and load: ' +
      'speeds from different days do not compare; for a speed ratio use `npm run bench:train`, which measures ' +
      'both in one run ([train.md](train.md)).',
    '',
    '| epochs | seed | kernels | top-1 raw | top-1 EMA | s/epoch | images/s | date |',
    '|---:|---:|---|---:|---:|---:|---:|---|',
  ];
  const schedules = [...new Set([...Object.keys(reference).map(Number), ...runs.map((r) => r.epochs)])].sort(
    (a, b) => a - b,
  );
  for (const e of schedules) {
    const ref = reference[String(e)];
    if (ref)
      lines.push(
        `| ${e} | 42 | **PyTorch** | **${fmt(ref.top1)}** | **${fmt(ref.top1_ema)}** | ` +
          `${fmt(ref.seconds_per_epoch, 0)} | ${fmt(ref.images_per_s, 0)} | |`,
      );
    for (const r of runs.filter((x) => x.epochs === e)) {
      lines.push(
        `| ${e} | ${r.seed ?? 42} | ${r.kernels ?? 'wasm'} | ${fmt(r.top1)} | ${fmt(r.top1_ema)} | ` +
          `${fmt(r.seconds_per_epoch, 0)} | ${fmt(r.images_per_s, 0)} | ` +
          `${r.date.slice(0, 10)}${r.resumed ? ' (resumed)' : ''} |`,
      );
    }
  }
  lines.push(
    '',
    '## Over seeds',
    '',
    '| epochs | runs | top-1 raw mean ± sd | min | max | top-1 EMA mean | last-epoch train loss mean (PyTorch) | ' +
      'PyTorch top-1 raw | runs at or above PyTorch |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const e of schedules) {
    const rs = runs.filter((r) => r.epochs === e);
    if (rs.length === 0) continue;
    const top1 = rs.map((r) => r.top1);
    const s = spread(top1);
    const ema = spread(rs.map((r) => r.top1_ema ?? 0));
    const loss = spread(rs.map((r) => r.history.at(-1)!.train_loss));
    const ref = reference[String(e)];
    lines.push(
      `| ${e} | ${rs.length} | ${fmt(s.mean)} ± ${fmt(s.sd)} | ${fmt(Math.min(...top1))} | ` +
        `${fmt(Math.max(...top1))} | ${fmt(ema.mean)} | ${fmt(loss.mean, 4)} ` +
        `(${fmt(ref?.history.at(-1)?.train_loss, 4)}) | ${fmt(ref?.top1)} | ` +
        `${ref ? top1.filter((t) => t >= ref.top1).length : '-'} |`,
    );
  }
  lines.push('', '![test top-1 and train loss per epoch, 12-epoch runs](fmnist.png)', '');
  return `${lines.join('\n')}\n`;
}

/**
 * Two charts side by side: test top-1 (raw) and train loss per epoch, our 12-epoch runs in blue, PyTorch's in
 * black.
 */
async function chart(runs: FmnistRun[], reference: ReferenceRun | undefined, file: string): Promise<void> {
  const twelve = runs.filter((r) => r.epochs === 12);
  if (twelve.length === 0) return;
  const epochs = twelve[0]!.history.map((h) => h.epoch);
  // One legend entry for all our runs (lineChartPng leaves empty labels out of the legend).
  const ours = (value: (h: EpochRow) => number): Series[] =>
    twelve.map((r, i) => ({
      label: i === 0 ? `repghost (${twelve.length} runs)` : '',
      values: r.history.map(value),
      color: 'rgba(31,119,180,0.45)',
    }));
  const torch = (value: (h: ReferenceRun['history'][number]) => number): Series[] =>
    reference
      ? [{ label: 'PyTorch (seed 42)', values: reference.history.map(value), color: '#000000', dashed: true }]
      : [];
  // Epoch 0 runs at the warm-up lr (top-1 ~15 %): leaving it out keeps the later tenths visible.
  const from = 1;
  const top1 = lineChartPng(
    'Test top-1 raw (%), 12 epochs',
    epochs.slice(from),
    [...ours((h) => h.eval_top1), ...torch((h) => h.top1)].map((s) => ({ ...s, values: s.values.slice(from) })),
    'top-1 %',
  );
  const loss = lineChartPng(
    'Train loss (label-smoothed), 12 epochs',
    epochs.slice(from),
    [...ours((h) => h.train_loss), ...torch((h) => h.train_loss)].map((s) => ({ ...s, values: s.values.slice(from) })),
    'loss',
  );
  const [a, b] = await Promise.all([loadImage(Buffer.from(top1)), loadImage(Buffer.from(loss))]);
  const canvas = createCanvas(a.width + b.width, Math.max(a.height, b.height));
  const ctx = canvas.getContext('2d');
  ctx.drawImage(a, 0, 0);
  ctx.drawImage(b, a.width, 0);
  writeFileSync(file, await canvas.encode('png'));
}

/** PyTorch's Fashion-MNIST runs by schedule length ('3', '12') from ../shared, or none when it is absent. */
export function pytorchFmnistRuns(): Record<string, ReferenceRun> {
  const refFile = path.join(shared, 'reference', 'fashion_mnist.json');
  const reference = existsSync(refFile)
    ? (JSON.parse(readFileSync(refFile, 'utf8')) as Record<string, ReferenceRun>)
    : {};
  delete reference.recipe;
  return reference;
}

/** Rewrites bench/results/fmnist.md and fmnist.png from fmnist.json and PyTorch's history in ../shared. */
export async function writeFmnistReport(): Promise<string[]> {
  const runs = (JSON.parse(readFileSync(path.join(resultsDir, 'fmnist.json'), 'utf8')) as { runs: FmnistRun[] }).runs;
  const reference = pytorchFmnistRuns();
  const md = path.join(resultsDir, 'fmnist.md');
  const png = path.join(resultsDir, 'fmnist.png');
  writeFileSync(md, markdown(runs, reference));
  await chart(runs, reference['12'], png);
  return [md, png];
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const f of await writeFmnistReport()) console.log(`wrote ${path.relative(root, f)}`);
}
