/**
 * Training-speed benchmark (`npm run bench:train [-- --quick] [-- --configs a,b]`; not
 * part of the test suite). One full training step (train-mode forward, label-smoothing
 * loss, backward, Nesterov SGD, BN running statistics) on random data, for the four
 * configurations PyTorch was measured in (shared/reference/pytorch_speed.json): 0.5x at
 * 32x32 batch 128 with 10 and 1000 classes, 0.5x and 1.0x at 224x224 batch 32.
 *
 * Each configuration runs in its own child process (fresh wasm heap, honest peak
 * memory), once with the native kernels (the default in Node) and once on the
 * TypeScript / wasm kernels alone (what runs without a compiler, and in browsers).
 * Reports the median images/s over the timed steps, the per-kernel time breakdown
 * (exclusive time of every tfjs kernel call), the time outside kernels, and peak RSS,
 * next to PyTorch's figures. Writes bench/results/train.{json,md,png} (`--quick`:
 * train-quick.*). `--from-json` re-renders the table and chart of an existing JSON.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createCanvas } from '@napi-rs/canvas';
import { Chart, registerables } from 'chart.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shared = path.resolve(process.env.REPGHOST_SHARED ?? path.join(root, '..', 'shared'));

interface Config { name: string; model: string; input: number; batch: number; numClasses: number }

const CONFIGS: Config[] = [
  { name: '0.5x-32-b128-c10', model: 'repghostnet_0_5x', input: 32, batch: 128, numClasses: 10 },
  { name: '0.5x-32-b128-c1000', model: 'repghostnet_0_5x', input: 32, batch: 128, numClasses: 1000 },
  { name: '0.5x-224-b32-c1000', model: 'repghostnet_0_5x', input: 224, batch: 32, numClasses: 1000 },
  { name: '1.0x-224-b32-c1000', model: 'repghostnet_1_0x', input: 224, batch: 32, numClasses: 1000 },
];

/** What one child process measures. */
interface ChildResult {
  config: string; native: boolean; threads: number; steps: number;
  images_per_s: number; median_step_ms: number; min_step_ms: number;
  gradients_ms: number; update_ms: number; kernel_ms: number; outside_kernels_ms: number;
  kernels: Array<{ kernel: string; ms_per_step: number; calls_per_step: number }>;
  peak_rss_mb: number; loss: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

// ---- child: one configuration, one kernel path ----

async function child(spec: { config: Config; native: boolean; threads: number; warmup: number; steps: number }): Promise<ChildResult> {
  const tf = await import('@tensorflow/tfjs');
  const { setNativeEnabled, nativeKernels } = await import('../src/train/kernels/native.js');
  const { initTrainingBackend } = await import('../src/train/backend.js');
  const { buildSpec } = await import('../src/spec/index.js');
  const { ModelState } = await import('../src/train/state.js');
  const { Sgd } = await import('../src/train/sgd.js');
  const { Rng } = await import('../src/train/rng.js');
  const { trainStep } = await import('../src/train/train-step.js');
  setNativeEnabled(spec.native);
  if (spec.native && !nativeKernels()) throw new Error('native kernels not built: npm run build:native');
  const backend = await initTrainingBackend({ backend: 'wasm', threads: spec.threads });
  if (backend !== 'wasm') throw new Error(`wasm backend unavailable (got ${backend})`);

  // Exclusive time per kernel: a kernel calling another (a fallback, a helper kernel)
  // is charged only for its own part.
  const times = new Map<string, { ms: number; calls: number }>();
  const stack: number[] = [];
  for (const k of tf.getKernelsForBackend('wasm')) {
    const inner = k.kernelFunc;
    tf.unregisterKernel(k.kernelName, 'wasm');
    tf.registerKernel({
      ...k, kernelFunc: (args) => {
        stack.push(0);
        const t0 = performance.now();
        const out = inner(args);
        const dt = performance.now() - t0;
        const nested = stack.pop()!;
        if (stack.length) stack[stack.length - 1]! += dt;
        const e = times.get(k.kernelName) ?? { ms: 0, calls: 0 };
        e.ms += dt - nested;
        e.calls++;
        times.set(k.kernelName, e);
        return out;
      },
    });
  }

  const { config: c } = spec;
  const model = buildSpec(c.model, { numClasses: c.numClasses, dropout: 0.2 });
  const rng = new Rng(1);
  const state = ModelState.init(model, rng);
  const sgd = new Sgd(state.layouts, { momentum: 0.9, weightDecay: 1e-5, nesterov: true });
  const xs = Float32Array.from({ length: c.batch * c.input * c.input * 3 }, () => rng.uniform() * 2 - 1);
  const ys = Int32Array.from({ length: c.batch }, () => rng.int(c.numClasses));
  const mask = Float32Array.from({ length: c.batch * model.headChannels }, () => (rng.uniform() < 0.2 ? 0 : 1.25));
  const step: number[] = [], grads: number[] = [], update: number[] = [];
  let loss = NaN;
  for (let s = 0; s < spec.warmup + spec.steps; s++) {
    if (s === spec.warmup) times.clear();
    const x = tf.tensor4d(xs, [c.batch, c.input, c.input, 3]);
    const y = tf.tensor1d(ys, 'int32');
    const m = tf.tensor2d(mask, [c.batch, model.headChannels]);
    const t0 = performance.now();
    const r = trainStep(state, sgd, { x, y, lr: 0.01, smoothing: 0.1, dropoutMask: m });
    const dt = performance.now() - t0;
    tf.dispose([x, y, m]);
    loss = r.loss;
    if (s >= spec.warmup) {
      step.push(dt);
      grads.push(r.timings!.gradientsMs);
      update.push(r.timings!.updateMs);
    }
  }
  state.dispose();
  const n = spec.steps;
  let kernelMs = 0;
  for (const e of times.values()) kernelMs += e.ms;
  const med = median(step);
  return {
    config: c.name, native: spec.native, threads: spec.threads, steps: n,
    images_per_s: (c.batch * 1000) / med, median_step_ms: med, min_step_ms: Math.min(...step),
    gradients_ms: median(grads), update_ms: median(update), kernel_ms: kernelMs / n,
    outside_kernels_ms: step.reduce((a, b) => a + b, 0) / n - kernelMs / n,
    kernels: [...times].map(([kernel, e]) => ({ kernel, ms_per_step: e.ms / n, calls_per_step: e.calls / n }))
      .sort((a, b) => b.ms_per_step - a.ms_per_step),
    peak_rss_mb: process.resourceUsage().maxRSS / 1024, loss,
  };
}

// ---- parent: run every configuration, write the results ----

interface PyTorchRow { model: string; input: number; batch: number; num_classes: number; threads: number; images_per_s: number }

function pytorchFigure(c: Config, threads: number): number | null {
  const ref = JSON.parse(readFileSync(path.join(shared, 'reference', 'pytorch_speed.json'), 'utf8')) as { training: PyTorchRow[] };
  const row = ref.training.find((r) => r.model === c.model && r.input === c.input && r.batch === c.batch
    && r.num_classes === c.numClasses && r.threads === threads);
  return row?.images_per_s ?? null;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      child: { type: 'string' },
      quick: { type: 'boolean', default: false },
      configs: { type: 'string' },
      threads: { type: 'string' },
      steps: { type: 'string' },
      'no-wasm': { type: 'boolean', default: false },
      out: { type: 'string', default: path.join(root, 'bench', 'results') },
      'from-json': { type: 'string' },
    },
  });
  if (values.child) {
    process.stdout.write(`${JSON.stringify(await child(JSON.parse(values.child)))}\n`);
    return;
  }
  if (values['from-json']) {
    const file = path.resolve(values['from-json']);
    const saved = JSON.parse(readFileSync(file, 'utf8')) as Summary;
    const base = file.replace(/\.json$/, '');
    writeFileSync(`${base}.md`, markdown(saved));
    await chart(saved, `${base}.png`);
    process.stdout.write(markdown(saved));
    return;
  }
  const threads = Number(values.threads ?? Math.min(2, availableParallelism()));
  const quick = values.quick;
  const wanted = values.configs?.split(',') ?? CONFIGS.map((c) => c.name);
  const configs = CONFIGS.filter((c) => wanted.includes(c.name));
  if (configs.length === 0) throw new Error(`--configs takes some of: ${CONFIGS.map((c) => c.name).join(', ')}`);
  const load0 = loadavg().map((v) => v.toFixed(2)).join(' ');
  const rows: Array<ChildResult & { pytorch_images_per_s: number | null; ratio: number | null }> = [];
  for (const config of configs) {
    const big = config.input > 100;
    // --quick: about a minute in all (two steps each, the 224x224 runs native only).
    const steps = Number(values.steps ?? (quick ? 2 : big ? 5 : 10));
    const warmup = quick ? 1 : 2;
    for (const native of [true, false]) {
      if (!native && (values['no-wasm'] || (quick && big))) continue;
      process.stderr.write(`${config.name} ${native ? 'native' : 'wasm'}: ${warmup} warm-up + ${steps} steps... `);
      const out = execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child',
        JSON.stringify({ config, native, threads, warmup, steps })], { encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'inherit'] });
      const r = JSON.parse(out.trim().split('\n').at(-1)!) as ChildResult;
      const py = pytorchFigure(config, threads);
      rows.push({ ...r, pytorch_images_per_s: py, ratio: py ? r.images_per_s / py : null });
      process.stderr.write(`${r.images_per_s.toFixed(1)} images/s${py ? ` (PyTorch ${py}, ${(r.images_per_s / py).toFixed(2)}x)` : ''}, peak ${r.peak_rss_mb.toFixed(0)} MB\n`);
    }
  }
  const meta = {
    date: new Date().toISOString(), cpu: cpus()[0]?.model ?? 'unknown', cores: availableParallelism(), node: process.version,
    threads, quick, load_average_at_start: load0, load_average_at_end: loadavg().map((v) => v.toFixed(2)).join(' '),
  };
  const json = {
    ...meta,
    results: rows.map((r) => ({
      config: r.config, num_classes: CONFIGS.find((c) => c.name === r.config)!.numClasses, kernels_path: r.native ? 'native' : 'wasm',
      images_per_s: round(r.images_per_s), pytorch_images_per_s: r.pytorch_images_per_s, ratio: r.ratio === null ? null : round(r.ratio, 3),
      median_step_ms: round(r.median_step_ms), min_step_ms: round(r.min_step_ms), gradients_ms: round(r.gradients_ms),
      update_ms: round(r.update_ms), kernel_ms: round(r.kernel_ms), outside_kernels_ms: round(r.outside_kernels_ms),
      peak_rss_mb: round(r.peak_rss_mb, 0), steps: r.steps, loss: round(r.loss, 4),
      kernels: r.kernels.slice(0, 12).map((k) => ({ ...k, ms_per_step: round(k.ms_per_step), calls_per_step: round(k.calls_per_step, 1) })),
    })),
  };
  const suffix = quick ? '-quick' : '';
  writeFileSync(path.join(values.out!, `train${suffix}.json`), `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(path.join(values.out!, `train${suffix}.md`), markdown(json));
  await chart(json, path.join(values.out!, `train${suffix}.png`));
  process.stdout.write(markdown(json));
}

function round(v: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** What train.json holds. */
interface Summary {
  date: string; cpu: string; cores: number; node: string; threads: number; load_average_at_start: string; load_average_at_end: string;
  results: Array<{ config: string; kernels_path: string; images_per_s: number; pytorch_images_per_s: number | null; ratio: number | null; median_step_ms: number;
    gradients_ms: number; update_ms: number; kernel_ms: number; outside_kernels_ms: number; peak_rss_mb: number; steps: number;
    kernels: Array<{ kernel: string; ms_per_step: number; calls_per_step: number }> }>;
}

/** Bars: images/s relative to PyTorch CPU per configuration, native and wasm kernels (1 = parity). */
async function chart(j: Summary, file: string): Promise<void> {
  Chart.register(...registerables);
  const canvas = createCanvas(1200, 600);
  const labels = [...new Set(j.results.map((r) => r.config))];
  const series = (kernels: string) => labels.map((c) => j.results.find((r) => r.config === c && r.kernels_path === kernels)?.ratio ?? null);
  const c = new Chart(canvas as unknown as HTMLCanvasElement, {
    type: 'bar',
    data: {
      labels,
      datasets: [
        { label: 'repghost, native kernels', backgroundColor: '#1f77b4', data: series('native') },
        { label: 'repghost, wasm kernels only', backgroundColor: '#ff7f0e', data: series('wasm') },
        { label: 'PyTorch 1.13 CPU', backgroundColor: '#7f7f7f', data: labels.map(() => 1) },
      ],
    },
    options: {
      responsive: false, animation: false, devicePixelRatio: 1,
      plugins: { title: { display: true, text: `Training step speed relative to PyTorch CPU, ${j.threads} threads (${j.cpu}, ${j.date.slice(0, 10)})`, font: { size: 16 } }, legend: { position: 'top' } },
      scales: { y: { title: { display: true, text: 'images/s ÷ PyTorch images/s (higher is better)' }, beginAtZero: true }, x: { title: { display: true, text: 'model, input, batch, classes' } } },
    },
    plugins: [{ id: 'white', beforeDraw: (ch) => { const ctx = ch.ctx; ctx.save(); ctx.fillStyle = 'white'; ctx.fillRect(0, 0, ch.width, ch.height); ctx.restore(); } }],
  });
  writeFileSync(file, await canvas.encode('png'));
  c.destroy();
}

function markdown(j: Summary): string {
  const lines = [
    '# Training speed: one SGD step, TensorFlow.js (wasm backend) with repghost\'s kernels vs PyTorch 1.13 CPU',
    '',
    `${j.date}; ${j.cpu}, ${j.cores} logical cores, Node ${j.node}; ${j.threads} threads (native kernels; PyTorch figures at the same thread count from shared/reference/pytorch_speed.json). ` +
    `Median step over the timed steps after warm-up, random data, dropout 0.2, label smoothing 0.1, Nesterov SGD. Load average ${j.load_average_at_start} at start, ${j.load_average_at_end} at end.`,
    '',
    '| configuration | kernels | images/s | PyTorch images/s | ratio | step ms | forward+backward ms | update ms | in kernels ms | outside kernels ms | peak RSS MB |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...j.results.map((r) => `| ${r.config} | ${r.kernels_path} | ${r.images_per_s} | ${r.pytorch_images_per_s ?? '-'} | ${r.ratio?.toFixed(2) ?? '-'} | ${r.median_step_ms} | ${r.gradients_ms} | ${r.update_ms} | ${r.kernel_ms} | ${r.outside_kernels_ms} | ${r.peak_rss_mb} |`),
    '',
    '![speed relative to PyTorch](train.png)',
    '',
    '## Where the time goes (ms per step, exclusive, top kernels)',
    '',
  ];
  for (const r of j.results) {
    lines.push(`**${r.config}, ${r.kernels_path}**: ${r.kernels.map((k) => `${k.kernel} ${k.ms_per_step} (${k.calls_per_step}x)`).join(', ')}`, '');
  }
  return `${lines.join('\n')}\n`;
}

await main();
