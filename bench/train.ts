/**
 * Training-speed benchmark (`npm run bench:train [-- --quick] [-- --configs a,b] [-- --rounds N]`;
 * not part of the test suite). One full training step (train-mode forward, label-smoothing
 * loss, backward, Nesterov SGD, BN running statistics) on random data, for the four
 * configurations of shared/reference/pytorch_speed.json: 0.5x at 32x32 batch 128 with 10
 * and 1000 classes, 0.5x and 1.0x at 224x224 batch 32.
 *
 * PyTorch is measured in the same run when `--python` (default /usr/bin/python3, Debian's
 * python3-torch) imports torch: bench/pytorch_train_step.py builds RepGhostNet from the spec
 * this script exports as JSON (buildSpec + layers), so no second copy of the network exists.
 * Ours (native kernels) and PyTorch run back to back in each of `--rounds` rounds, order
 * alternating, each run in its own process; medians over runs, min–max spread and per-round
 * (paired) ratios are reported with the load average. Without torch, REFERENCE.md's
 * re-measured figures stand in, and the results say so.
 *
 * Our runs are child processes (fresh wasm heap, honest peak memory): the native kernels
 * every round, the TypeScript / wasm kernels alone (what runs without a compiler, and in
 * browsers) once per configuration. Reports the per-kernel time breakdown (exclusive time
 * of every tfjs kernel call), the time outside kernels and peak RSS. Writes
 * bench/results/train.{json,md,png} (`--quick`: train-quick.*). `--from-json` re-renders
 * the table and chart of an existing JSON.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createCanvas } from '@napi-rs/canvas';
import { Chart, registerables } from 'chart.js';
import { whiteBackground } from './chart-background.js';
import { settle, type LoadAtStart } from './machine-load.js';
import { median } from '../src/util/stats.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shared = path.resolve(process.env.REPGHOST_SHARED ?? path.join(root, '..', 'shared'));

interface Config {
  name: string;
  model: string;
  input: number;
  batch: number;
  numClasses: number;
}

const CONFIGS: Config[] = [
  { name: '0.5x-32-b128-c10', model: 'repghostnet_0_5x', input: 32, batch: 128, numClasses: 10 },
  { name: '0.5x-32-b128-c1000', model: 'repghostnet_0_5x', input: 32, batch: 128, numClasses: 1000 },
  { name: '0.5x-224-b32-c1000', model: 'repghostnet_0_5x', input: 224, batch: 32, numClasses: 1000 },
  { name: '1.0x-224-b32-c1000', model: 'repghostnet_1_0x', input: 224, batch: 32, numClasses: 1000 },
];

/** What one child process measures. */
interface ChildResult {
  config: string;
  native: boolean;
  threads: number;
  steps: number;
  images_per_s: number;
  median_step_ms: number;
  min_step_ms: number;
  gradients_ms: number;
  update_ms: number;
  kernel_ms: number;
  outside_kernels_ms: number;
  kernels: { kernel: string; ms_per_step: number; calls_per_step: number }[];
  peak_rss_mb: number;
  loss: number;
}

// ---- child: one configuration, one kernel path ----

async function child(spec: {
  config: Config;
  native: boolean;
  threads: number;
  warmup: number;
  steps: number;
}): Promise<ChildResult> {
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
      ...k,
      kernelFunc: (args) => {
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
  const step: number[] = [],
    grads: number[] = [],
    update: number[] = [];
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
    config: c.name,
    native: spec.native,
    threads: spec.threads,
    steps: n,
    images_per_s: (c.batch * 1000) / med,
    median_step_ms: med,
    min_step_ms: Math.min(...step),
    gradients_ms: median(grads),
    update_ms: median(update),
    kernel_ms: kernelMs / n,
    outside_kernels_ms: step.reduce((a, b) => a + b, 0) / n - kernelMs / n,
    kernels: [...times]
      .map(([kernel, e]) => ({ kernel, ms_per_step: e.ms / n, calls_per_step: e.calls / n }))
      .sort((a, b) => b.ms_per_step - a.ms_per_step),
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    loss,
  };
}

// ---- PyTorch: the same step on a network built from our spec (bench/pytorch_train_step.py) ----

interface PyTorchRow {
  model: string;
  input: number;
  batch: number;
  num_classes: number;
  threads: number;
  images_per_s: number;
}

/** A Python with torch importable, or why there is none. */
function findTorch(python: string): { python: string; torch: string } | { missing: string } {
  try {
    const v = execFileSync(python, ['-c', 'import torch; print(torch.__version__)'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return { python, torch: v.trim() };
  } catch (e) {
    return { missing: `${python}: ${(e as Error).message.split('\n')[0]}` };
  }
}

/** Writes the spec and train-form layer list of a configuration as JSON, the only model description PyTorch gets. */
async function exportSpec(c: Config, dir: string): Promise<string> {
  const { buildSpec, layers } = await import('../src/spec/index.js');
  const spec = buildSpec(c.model, { numClasses: c.numClasses, dropout: 0.2 });
  const file = path.join(dir, `${c.name}.json`);
  writeFileSync(file, JSON.stringify({ spec, layers: layers(spec, 'train') }));
  return file;
}

/** What --verify of pytorch_train_step.py reports: the spec-built PyTorch model against the official golden logits. */
interface TorchVerification {
  golden: string;
  keys: number;
  max_abs_diff_logits: number;
  ok: boolean;
}

/**
 * Loads the official 0.5x and 1.0x golden weights (../shared/golden) into the PyTorch model built from
 * our spec and compares eval logits: evidence that what PyTorch times is the official network.
 */
export async function verifyTorchModel(python: string): Promise<TorchVerification[] | null> {
  const golden = path.join(shared, 'golden');
  if (!existsSync(path.join(golden, 'input_224.safetensors'))) return null;
  const { buildSpec, layers } = await import('../src/spec/index.js');
  const tmp = mkdtempSync(path.join(tmpdir(), 'repghost-verify-'));
  try {
    return ['repghostnet_0_5x', 'repghostnet_1_0x']
      .filter((m) => existsSync(path.join(golden, m)))
      .map((m) => {
        const spec = buildSpec(m, { numClasses: 1000 });
        const file = path.join(tmp, `${m}.json`);
        writeFileSync(file, JSON.stringify({ spec, layers: layers(spec, 'train') }));
        const out = execFileSync(
          python,
          [
            path.join(root, 'bench', 'pytorch_train_step.py'),
            '--spec',
            file,
            '--verify',
            path.join(golden, m),
            '--verify-input',
            path.join(golden, 'input_224.safetensors'),
          ],
          { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
        );
        const v = JSON.parse(out.trim().split('\n').at(-1)!) as TorchVerification;
        return { ...v, golden: path.relative(shared, v.golden) };
      });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

interface TorchResult {
  torch: string;
  threads: number;
  flush_denormal: boolean;
  params: number;
  steps: number;
  median_step_ms: number;
  images_per_s: number;
  loss: number;
}

function runTorch(
  python: string,
  specFile: string,
  c: Config,
  threads: number,
  warmup: number,
  steps: number,
): TorchResult {
  const out = execFileSync(
    python,
    [
      path.join(root, 'bench', 'pytorch_train_step.py'),
      '--spec',
      specFile,
      '--input',
      String(c.input),
      '--batch',
      String(c.batch),
      '--threads',
      String(threads),
      '--warmup',
      String(warmup),
      '--steps',
      String(steps),
    ],
    {
      encoding: 'utf8',
      maxBuffer: 1 << 24,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, OMP_NUM_THREADS: String(threads) },
    },
  );
  return JSON.parse(out.trim().split('\n').at(-1)!) as TorchResult;
}

/** REFERENCE.md's re-measured figure (shared/reference/pytorch_speed.json), used only when torch is missing. */
function referenceFigure(c: Config, threads: number): number | null {
  const ref = JSON.parse(readFileSync(path.join(shared, 'reference', 'pytorch_speed.json'), 'utf8')) as {
    training: PyTorchRow[];
  };
  const row = ref.training.find(
    (r) =>
      r.model === c.model &&
      r.input === c.input &&
      r.batch === c.batch &&
      r.num_classes === c.numClasses &&
      r.threads === threads,
  );
  return row?.images_per_s ?? null;
}

// ---- parent: run every configuration, write the results ----

/** One timed process: ours (native or wasm kernels) or PyTorch. */
interface Run extends LoadAtStart {
  config: string;
  engine: 'native' | 'wasm' | 'pytorch';
  round: number;
  images_per_s: number;
  median_step_ms: number;
  detail?: ChildResult;
}

const loadString = (): string =>
  loadavg()
    .map((v) => v.toFixed(2))
    .join(' ');

function runOurs(config: Config, native: boolean, threads: number, warmup: number, steps: number): ChildResult {
  const out = execFileSync(
    process.execPath,
    [
      '--import',
      'tsx',
      fileURLToPath(import.meta.url),
      '--child',
      JSON.stringify({ config, native, threads, warmup, steps }),
    ],
    { encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return JSON.parse(out.trim().split('\n').at(-1)!) as ChildResult;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      child: { type: 'string' },
      quick: { type: 'boolean', default: false },
      configs: { type: 'string' },
      threads: { type: 'string' },
      steps: { type: 'string' },
      rounds: { type: 'string' },
      'max-busy': { type: 'string', default: '0.5' },
      'max-wait': { type: 'string', default: '120' },
      python: { type: 'string', default: process.env.REPGHOST_TORCH_PYTHON ?? '/usr/bin/python3' },
      'no-wasm': { type: 'boolean', default: false },
      'wasm-configs': { type: 'string' },
      'big-steps': { type: 'string' },
      'context-from': { type: 'string' },
      note: { type: 'string' },
      out: { type: 'string', default: path.join(root, 'bench', 'results') },
      'from-json': { type: 'string' },
    },
  });
  if (values.child) {
    process.stdout.write(`${JSON.stringify(await child(JSON.parse(values.child) as Parameters<typeof child>[0]))}\n`);
    return;
  }
  if (values['from-json']) {
    const file = path.resolve(values['from-json']);
    const saved = JSON.parse(readFileSync(file, 'utf8')) as Summary;
    if (values['context-from']) saved.quiet_context = quietContext(values['context-from']);
    if (values.note) saved.note = values.note;
    // A result measured before the golden check existed gets it now (it checks the model, not a speed).
    if (
      saved.pytorch.source === 'measured' &&
      saved.pytorch.verified_against_golden === undefined &&
      saved.pytorch.python
    ) {
      saved.pytorch.verified_against_golden = await verifyTorchModel(saved.pytorch.python);
    }
    writeFileSync(file, `${JSON.stringify(saved, null, 2)}\n`);
    const base = file.replace(/\.json$/, '');
    writeFileSync(`${base}.md`, markdown(saved));
    await chart(saved, `${base}.png`);
    process.stdout.write(markdown(saved));
    return;
  }
  const threads = Number(values.threads ?? Math.min(2, availableParallelism()));
  const quick = values.quick;
  const rounds = Number(values.rounds ?? (quick ? 1 : 5));
  const wanted = values.configs?.split(',') ?? CONFIGS.map((c) => c.name);
  const configs = CONFIGS.filter((c) => wanted.includes(c.name));
  if (configs.length === 0) throw new Error(`--configs takes some of: ${CONFIGS.map((c) => c.name).join(', ')}`);
  const torch = findTorch(values.python);
  const torchPython = 'missing' in torch ? null : torch.python;
  if ('missing' in torch) {
    process.stderr.write(
      `PyTorch not found (${torch.missing}); ` +
        "falling back to REFERENCE.md's re-measured figures, not measured in this run\n",
    );
  }
  const verified = torchPython ? await verifyTorchModel(torchPython) : null;
  if (verified?.some((v) => !v.ok))
    throw new Error(
      `the PyTorch model built from the spec does not reproduce the golden logits: ${JSON.stringify(verified)}`,
    );
  const tmp = mkdtempSync(path.join(tmpdir(), 'repghost-bench-train-'));
  const specFiles = new Map<string, string>();
  for (const c of configs) specFiles.set(c.name, await exportSpec(c, tmp));
  // Same warm-up and timed steps for both engines; 224x224 steps are ~10x longer.
  const stepsOf = (c: Config): { warmup: number; steps: number } =>
    quick
      ? { warmup: 1, steps: 2 }
      : c.input > 100
        ? { warmup: 2, steps: Number(values['big-steps'] ?? 6) }
        : { warmup: 5, steps: Number(values.steps ?? 20) };

  // Before each run, wait (up to --max-wait s) until other normal-priority processes use at most
  // --max-busy cores: a multi-threaded run among busy peers measures the scheduler, not the code.
  const maxBusy = Number(values['max-busy']);
  const maxWait = Number(values['max-wait']);
  const load0 = loadString();
  const runs: Run[] = [];
  const log = (r: Run): void => {
    runs.push(r);
    process.stderr.write(
      `${r.images_per_s.toFixed(1)} images/s (load ${r.load1.toFixed(2)}, ` +
        `others busy ${r.busy_cores} cores, waited ${r.waited_s} s)\n`,
    );
  };
  // Interleaved rounds: ours and PyTorch back to back, the order alternating per round, so that
  // load from other processes falls on both alike; a ratio is taken per round (paired) as well.
  for (let round = 1; round <= rounds; round++) {
    for (const c of configs) {
      const { warmup, steps } = stepsOf(c);
      const order: ('native' | 'pytorch')[] = round % 2 ? ['native', 'pytorch'] : ['pytorch', 'native'];
      for (const engine of order) {
        if (engine === 'pytorch' && !torchPython) continue;
        const l = await settle(maxBusy, maxWait);
        process.stderr.write(`round ${round}/${rounds} ${c.name} ${engine}: ${warmup} warm-up + ${steps} steps... `);
        if (engine === 'native') {
          const r = runOurs(c, true, threads, warmup, steps);
          log({
            config: c.name,
            engine,
            round,
            images_per_s: r.images_per_s,
            median_step_ms: r.median_step_ms,
            ...l,
            detail: r,
          });
        } else {
          const r = runTorch(torchPython!, specFiles.get(c.name)!, c, threads, warmup, steps);
          log({ config: c.name, engine, round, images_per_s: r.images_per_s, median_step_ms: r.median_step_ms, ...l });
        }
      }
    }
  }
  // The wasm-only path (no compiler, browsers) is ~3-10x slower: one run per configuration.
  if (!values['no-wasm']) {
    for (const c of configs) {
      if (quick && c.input > 100) continue;
      if (values['wasm-configs'] !== undefined && !values['wasm-configs'].split(',').includes(c.name)) continue;
      const warmup = c.input > 100 ? 1 : 3;
      const steps = quick ? 2 : c.input > 100 ? 3 : 10;
      const l = await settle(maxBusy, maxWait);
      process.stderr.write(`${c.name} wasm: ${warmup} warm-up + ${steps} steps... `);
      const r = runOurs(c, false, threads, warmup, steps);
      log({
        config: c.name,
        engine: 'wasm',
        round: 1,
        images_per_s: r.images_per_s,
        median_step_ms: r.median_step_ms,
        ...l,
        detail: r,
      });
    }
  }
  rmSync(tmp, { recursive: true, force: true });

  const results: Summary['results'] = [];
  for (const c of configs) {
    const ofEngine = (e: Run['engine']): Run[] => runs.filter((r) => r.config === c.name && r.engine === e);
    const py = ofEngine('pytorch');
    const pyMedian = py.length ? median(py.map((r) => r.images_per_s)) : referenceFigure(c, threads);
    for (const engine of ['native', 'wasm'] as const) {
      const mine = ofEngine(engine);
      if (!mine.length) continue;
      const ips = mine.map((r) => r.images_per_s);
      const med = median(ips);
      // Kernel breakdown of the run nearest the median.
      const typical = mine.reduce((a, b) =>
        Math.abs(b.images_per_s - med) < Math.abs(a.images_per_s - med) ? b : a,
      ).detail!;
      const paired =
        engine === 'native'
          ? mine.flatMap((r) => {
              const p = py.find((q) => q.round === r.round);
              return p ? [r.images_per_s / p.images_per_s] : [];
            })
          : [];
      results.push({
        config: c.name,
        num_classes: c.numClasses,
        kernels_path: engine,
        runs: mine.length,
        images_per_s: round(med),
        images_per_s_min: round(Math.min(...ips)),
        images_per_s_max: round(Math.max(...ips)),
        pytorch_images_per_s: pyMedian === null ? null : round(pyMedian),
        pytorch_images_per_s_min: py.length ? round(Math.min(...py.map((r) => r.images_per_s))) : null,
        pytorch_images_per_s_max: py.length ? round(Math.max(...py.map((r) => r.images_per_s))) : null,
        pytorch_runs: py.length,
        ratio: pyMedian ? round(med / pyMedian, 3) : null,
        ratio_best: py.length ? round(Math.max(...ips) / Math.max(...py.map((r) => r.images_per_s)), 3) : null,
        ratio_paired_median: paired.length ? round(median(paired), 3) : null,
        ratio_paired_min: paired.length ? round(Math.min(...paired), 3) : null,
        ratio_paired_max: paired.length ? round(Math.max(...paired), 3) : null,
        median_step_ms: round(typical.median_step_ms),
        min_step_ms: round(typical.min_step_ms),
        gradients_ms: round(typical.gradients_ms),
        update_ms: round(typical.update_ms),
        kernel_ms: round(typical.kernel_ms),
        outside_kernels_ms: round(typical.outside_kernels_ms),
        peak_rss_mb: round(typical.peak_rss_mb, 0),
        steps: typical.steps,
        loss: round(typical.loss, 4),
        kernels: typical.kernels
          .slice(0, 12)
          .map((k) => ({ ...k, ms_per_step: round(k.ms_per_step), calls_per_step: round(k.calls_per_step, 1) })),
      });
    }
  }
  const json: Summary = {
    date: new Date().toISOString(),
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: availableParallelism(),
    node: process.version,
    threads,
    quick,
    rounds,
    max_busy_cores: maxBusy,
    max_wait_s: maxWait,
    pytorch:
      'missing' in torch
        ? {
            source: 'reference',
            note:
              `torch not importable (${torch.missing}): ` +
              "PyTorch figures are REFERENCE.md's re-measured ones (2026-12-06), not from this run",
          }
        : {
            source: 'measured',
            python: torch.python,
            torch: torch.torch,
            flush_denormal: true,
            verified_against_golden: verified,
            note:
              'same run, interleaved; ' +
              "RepGhostNet built in PyTorch from repghost's spec (bench/pytorch_train_step.py)",
          },
    load_average_at_start: load0,
    load_average_at_end: loadString(),
    results,
    note: values.note,
    quiet_context: values['context-from'] ? quietContext(values['context-from']) : undefined,
    runs: runs.map(({ detail: _detail, ...r }) => ({
      ...r,
      images_per_s: round(r.images_per_s),
      median_step_ms: round(r.median_step_ms),
    })),
  };
  const suffix = quick ? '-quick' : '';
  writeFileSync(path.join(values.out, `train${suffix}.json`), `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(path.join(values.out, `train${suffix}.md`), markdown(json));
  await chart(json, path.join(values.out, `train${suffix}.png`));
  process.stdout.write(markdown(json));
}

function round(v: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** What train.json holds. */
interface Summary {
  date: string;
  cpu: string;
  cores: number;
  node: string;
  threads: number;
  quick: boolean;
  rounds: number;
  max_busy_cores?: number;
  max_wait_s?: number;
  pytorch: {
    source: 'measured' | 'reference';
    note: string;
    python?: string;
    torch?: string;
    flush_denormal?: boolean;
    verified_against_golden?: TorchVerification[] | null;
  };
  load_average_at_start: string;
  load_average_at_end: string;
  results: {
    config: string;
    num_classes: number;
    kernels_path: string;
    runs: number;
    images_per_s: number;
    images_per_s_min: number;
    images_per_s_max: number;
    pytorch_images_per_s: number | null;
    pytorch_images_per_s_min: number | null;
    pytorch_images_per_s_max: number | null;
    pytorch_runs: number;
    ratio: number | null;
    ratio_best: number | null;
    ratio_paired_median: number | null;
    ratio_paired_min: number | null;
    ratio_paired_max: number | null;
    median_step_ms: number;
    min_step_ms: number;
    gradients_ms: number;
    update_ms: number;
    kernel_ms: number;
    outside_kernels_ms: number;
    peak_rss_mb: number;
    steps: number;
    loss: number;
    kernels: { kernel: string; ms_per_step: number; calls_per_step: number }[];
  }[];
  runs: Omit<Run, 'detail'>[];
  /** Why the run was made as it was (e.g. fewer threads on a loaded machine), from --note. */
  note?: string;
  /** An earlier run of ours on a quiet machine beside REFERENCE.md's quiet-machine PyTorch figures (different days). */
  quiet_context?: QuietContext;
}

interface QuietContext {
  ours_from: string;
  ours_date: string;
  ours_load_average: string;
  threads: number;
  rows: {
    config: string;
    ours_images_per_s: number;
    pytorch_reference_images_per_s: number | null;
    ratio: number | null;
  }[];
}

/**
 * Our native rows of an earlier train.json taken on a quiet machine, beside the reference PyTorch figures at its
 * thread count.
 */
function quietContext(file: string): QuietContext {
  const old = JSON.parse(readFileSync(file, 'utf8')) as {
    date: string;
    threads: number;
    load_average_at_start: string;
    load_average_at_end: string;
    results: { config: string; kernels_path: string; images_per_s: number }[];
  };
  return {
    ours_from: path.basename(file),
    ours_date: old.date,
    threads: old.threads,
    ours_load_average: `${old.load_average_at_start} at start, ${old.load_average_at_end} at end`,
    rows: old.results
      .filter((r) => r.kernels_path === 'native')
      .map((r) => {
        const c = CONFIGS.find((x) => x.name === r.config)!;
        const py = referenceFigure(c, old.threads);
        return {
          config: r.config,
          ours_images_per_s: r.images_per_s,
          pytorch_reference_images_per_s: py,
          ratio: py ? round(r.images_per_s / py, 2) : null,
        };
      }),
  };
}

/** Bars: images/s relative to PyTorch CPU per configuration, native and wasm kernels (1 = parity). */
async function chart(j: Summary, file: string): Promise<void> {
  Chart.register(...registerables);
  const canvas = createCanvas(1200, 600);
  const labels = [...new Set(j.results.map((r) => r.config))];
  const series = (kernels: string) =>
    labels.map((c) => j.results.find((r) => r.config === c && r.kernels_path === kernels)?.ratio ?? null);
  const c = new Chart(canvas as unknown as HTMLCanvasElement, {
    type: 'bar',
    data: {
      labels,
      datasets: [
        { label: 'repghost, native kernels', backgroundColor: '#1f77b4', data: series('native') },
        {
          label: 'native, per-round paired ratio (min–max)',
          backgroundColor: '#aec7e8',
          data: labels.map((c) => {
            const r = j.results.find((x) => x.config === c && x.kernels_path === 'native');
            return r?.ratio_paired_min != null && r.ratio_paired_max != null
              ? [r.ratio_paired_min, r.ratio_paired_max]
              : null;
          }) as unknown as number[],
        },
        { label: 'repghost, wasm kernels only', backgroundColor: '#ff7f0e', data: series('wasm') },
        { label: 'PyTorch 1.13 CPU', backgroundColor: '#7f7f7f', data: labels.map(() => 1) },
      ],
    },
    options: {
      responsive: false,
      animation: false,
      devicePixelRatio: 1,
      plugins: {
        title: {
          display: true,
          text:
            'Training step speed relative to PyTorch CPU (' +
            (j.pytorch.source === 'measured'
              ? `same run, median of ${j.rounds} interleaved rounds`
              : 'REFERENCE.md figures') +
            `), ${j.threads} thread${j.threads > 1 ? 's' : ''}, ` +
            `load ${j.load_average_at_start.split(' ')[0]} (${j.cpu}, ${j.date.slice(0, 10)})`,
          font: { size: 16 },
        },
        legend: { position: 'top' },
      },
      scales: {
        y: { title: { display: true, text: 'images/s ÷ PyTorch images/s (higher is better)' }, beginAtZero: true },
        x: { title: { display: true, text: 'model, input, batch, classes' } },
      },
    },
    plugins: [whiteBackground],
  });
  writeFileSync(file, await canvas.encode('png'));
  c.destroy();
}

const range = (lo: number | null, hi: number | null, digits = 1): string =>
  lo === null || hi === null ? '-' : `${lo.toFixed(digits)}–${hi.toFixed(digits)}`;

/** What the load did to the figures, in words. */
function loadNote(j: Summary): string {
  const runs = j.runs;
  const loads = runs.map((r) => r.load1);
  const busy = runs.map((r) => r.busy_cores).filter((v): v is number => v !== null);
  const waitedOut = runs.filter(
    (r) => r.busy_cores !== null && j.max_busy_cores !== undefined && r.busy_cores > j.max_busy_cores,
  ).length;
  const span = (xs: number[]): string =>
    xs.length ? `${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}` : '?';
  const base =
    `Load average ${j.load_average_at_start} at start, ${j.load_average_at_end} at end; ` +
    'at the start of the runs the 1-min load ' +
    `was ${span(loads)} and other normal-priority processes kept ${span(busy)} of the ${j.cores} cores busy` +
    (j.max_busy_cores !== undefined
      ? ` (each run waited up to ${j.max_wait_s} s for that to fall to ${j.max_busy_cores} cores; ` +
        `${waitedOut} of ${runs.length} runs started without it)`
      : '') +
    '. ';
  if (!(Math.max(...loads) > j.cores)) return `${base}The machine was otherwise close to idle.`;
  return (
    `${base}Other processes competed for the cores, which slows multi-threaded runs far more than the load figure ` +
    'suggests (OpenMP threads wait on descheduled peers): ' +
    'single figures are low and noisy, and since load only ever slows ' +
    'a run, the best run of each engine (the "best" columns) is the closest to its unloaded speed. The paired ratios ' +
    'show how far load moved ours against PyTorch within a round.'
  );
}

function markdown(j: Summary): string {
  const measured = j.pytorch.source === 'measured';
  const lines = [
    "# Training speed: one SGD step, TensorFlow.js (wasm backend) with repghost's kernels vs PyTorch 1.13 CPU",
    '',
    `${j.date}; ${j.cpu}, ${j.cores} logical cores, Node ${j.node}; ` +
      `${j.threads} thread${j.threads > 1 ? 's' : ''} for both. ` +
      (measured
        ? `PyTorch ${j.pytorch.torch} (${j.pytorch.python}, denormals flushed as ours are) ` +
          'measured in the same run, on RepGhostNet built ' +
          "in PyTorch from repghost's spec ([bench/pytorch_train_step.py](../pytorch_train_step.py)" +
          (j.pytorch.verified_against_golden?.length
            ? `; with the official weights it reproduces the golden logits of ${j.pytorch.verified_against_golden
                .map((v) => `${v.golden.replace('golden/', '')} within ${v.max_abs_diff_logits.toExponential(1)}`)
                .join(' and ')}`
            : '') +
          '), interleaved with ours: ' +
          `${j.rounds} rounds, each running ours and PyTorch back to back (order alternating), one process per run. `
        : `**PyTorch was not measured in this run** (${j.pytorch.note}). `) +
      'Step = train-mode forward, label-smoothing (0.1) cross entropy, backward, Nesterov SGD ' +
      '(and, for ours, BN running statistics), ' +
      "random data, dropout 0.2. images/s = median over runs of each run's median step; " +
      'the range is min–max over runs; ' +
      '"ratio" = median ours / median PyTorch, ' +
      '"paired" = the ratios of the two runs of each round (median, min–max). ' +
      loadNote(j),
    ...(j.note ? ['', `**Note.** ${j.note}`] : []),
    '',
    '| configuration | kernels | runs | images/s (median) | range (best = max) | ' +
      'PyTorch images/s (median) | PyTorch range | ratio of medians | ratio of bests | paired ratio (min–max) | ' +
      'step ms | forward+backward ms | update ms | outside kernels ms | peak RSS MB |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...j.results.map(
      (r) =>
        `| ${r.config} | ${r.kernels_path} | ${r.runs} | ${r.images_per_s} | ` +
        `${range(r.images_per_s_min, r.images_per_s_max)} | ` +
        `${r.pytorch_images_per_s ?? '-'}${measured ? '' : ' (ref.)'} | ` +
        `${range(r.pytorch_images_per_s_min, r.pytorch_images_per_s_max)} | ` +
        `${r.ratio?.toFixed(2) ?? '-'} | ${r.ratio_best?.toFixed(2) ?? '-'} | ` +
        (r.ratio_paired_median === null
          ? '-'
          : `${r.ratio_paired_median.toFixed(2)} (${range(r.ratio_paired_min, r.ratio_paired_max, 2)})`) +
        ' | ' +
        `${r.median_step_ms} | ${r.gradients_ms} | ${r.update_ms} | ${r.outside_kernels_ms} | ${r.peak_rss_mb} |`,
    ),
    '',
    '![speed relative to PyTorch](train.png)',
    '',
    '## Where the time goes (ms per step, exclusive, top kernels; the run nearest the median)',
    '',
  ];
  for (const r of j.results) {
    lines.push(
      `**${r.config}, ${r.kernels_path}**: ` +
        r.kernels.map((k) => `${k.kernel} ${k.ms_per_step} (${k.calls_per_step}x)`).join(', '),
      '',
    );
  }
  if (j.quiet_context) {
    const q = j.quiet_context;
    lines.push(
      '## For context: quiet-machine figures from different days',
      '',
      'Not a same-run comparison. Ours: the native rows of an earlier bench:train ' +
        `(${q.ours_date.slice(0, 10)}, ${q.threads} threads, ` +
        `load average ${q.ours_load_average}); ` +
        "PyTorch: REFERENCE.md's re-measurement on a quiet machine (2026-12-06, best of 7-9 " +
        'medians, shared/reference/pytorch_speed.json), at the same thread count.',
      '',
      '| configuration | ours images/s | PyTorch images/s (reference) | ratio |',
      '|---|---:|---:|---:|',
      ...q.rows.map(
        (r) =>
          `| ${r.config} | ${r.ours_images_per_s} | ` +
          `${r.pytorch_reference_images_per_s ?? '-'} | ${r.ratio?.toFixed(2) ?? '-'} |`,
      ),
      '',
    );
  }
  if (j.runs.length) {
    lines.push(
      '## Every run, in order',
      '',
      '| round | configuration | engine | images/s | 1-min load at start | ' +
        'cores busy with other normal-priority work | niced | waited s |',
      '|---:|---|---|---:|---:|---:|---:|---:|',
    );
    for (const r of j.runs) {
      lines.push(
        `| ${r.round} | ${r.config} | ${r.engine} | ${r.images_per_s} | ${r.load1.toFixed(2)} | ` +
          `${r.busy_cores ?? '-'} | ${r.niced_cores ?? '-'} | ${r.waited_s} |`,
      );
    }
    lines.push('');
  }
  return `${lines.join('\n')}\n`;
}

await main();
