/**
 * Data-parallel training benchmark (`npm run bench:dist`; not part of the test suite).
 *
 * repghostnet_0_5x at 224x224, global batch 32, native kernels, through the real CLI:
 *   1 process x 2 threads:            node dist/cli/main.js train -b 32 --threads 2 ...
 *   2 processes x 1 thread x b 16:    mpirun -np 2 --bind-to none node dist/cli/main.js train -b 16 --threads 1 ...
 * on a generated ImageFolder (noise JPEGs, 224x224), the runs interleaved over `--rounds` rounds
 * (order alternating). images/s = training images of the timed epoch / that epoch's training
 * seconds in summary.csv (evaluation excluded; the first epoch is warm-up); the data-parallel
 * trainer's own report gives the allreduce milliseconds per step. Writes bench/results/dist.{json,md}
 * with `ratio` = 2-process / 1-process images/s (target >= 0.9), which kernels ran, and the
 * load average. Needs dist/ built (`npm run build`) and Open MPI's mpirun.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { buildSpec, layerKeys, layers } from '../src/spec/index.js';
import { settle, type LoadAtStart } from './machine-load.js';
import { median } from '../src/util/stats.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');

const MODEL = 'repghostnet_0_5x';
const INPUT = 224;
const GLOBAL_BATCH = 32;
/** ImageNet's classifier, so the allreduce moves the recipe's gradient volume. */
const CLASSES = 1000;
const TARGET_RATIO = 0.9;

const round = (v: number, digits = 1): number => Math.round(v * 10 ** digits) / 10 ** digits;
const loadString = (): string =>
  loadavg()
    .map((v) => v.toFixed(2))
    .join(' ');

/** One line on stderr and exit 1: what is missing for this benchmark. */
function fail(message: string): never {
  process.stderr.write(`bench:dist: ${message}\n`);
  process.exit(1);
}

/** Checks that the built CLI is the data-parallel trainer and that mpirun runs. */
function preflight(): { mpirun: string } {
  if (!existsSync(cli)) fail(`${path.relative(root, cli)} is missing: run npm run build`);
  const help = spawnSync(process.execPath, [cli, 'train', '--help'], { encoding: 'utf8' });
  if (!/--nproc\b/.test(help.stdout)) {
    fail(
      "this build's `repghost train` has no --nproc: " +
        'the data-parallel trainer (issue 18, branch ddp) is not merged yet',
    );
  }
  const v = spawnSync('mpirun', ['--version'], { encoding: 'utf8' });
  if (v.status !== 0) fail('mpirun not found: install Open MPI (Debian: openmpi-bin libopenmpi-dev)');
  return { mpirun: v.stdout.split('\n')[0]!.trim() };
}

/**
 * train/<class>/ (1000 classes, one image each: `--train-limit` takes the first ones) and val/
 * (the first classes) of noise JPEGs at the input size: decoding is cheap and equal for all runs.
 */
export async function makeImageFolder(dir: string, valImages: number): Promise<void> {
  let seed = 1;
  const noise = (): Buffer => {
    const b = Buffer.alloc(INPUT * INPUT * 3);
    for (let i = 0; i < b.length; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      b[i] = seed >>> 24;
    }
    return b;
  };
  // A handful of distinct images, written under many names: generation stays fast.
  const images = await Promise.all(
    Array.from({ length: 8 }, () =>
      sharp(noise(), { raw: { width: INPUT, height: INPUT, channels: 3 } })
        .jpeg({ quality: 90 })
        .toBuffer(),
    ),
  );
  for (let c = 0; c < CLASSES; c++) {
    const name = `class${String(c).padStart(4, '0')}`;
    for (const split of c < valImages ? ['train', 'val'] : ['train']) {
      mkdirSync(path.join(dir, split, name), { recursive: true });
      writeFileSync(path.join(dir, split, name, '0.jpg'), images[c % images.length]!);
    }
  }
}

interface Setup {
  name: '1x2' | '2x1';
  processes: number;
  threads: number;
  batch: number;
  workers: number;
}

const SETUPS: Setup[] = [
  { name: '1x2', processes: 1, threads: 2, batch: GLOBAL_BATCH, workers: 2 },
  { name: '2x1', processes: 2, threads: 1, batch: GLOBAL_BATCH / 2, workers: 1 },
];

interface RunResult extends LoadAtStart {
  setup: Setup['name'];
  round: number;
  images_per_s: number;
  step_ms: number;
  epoch_seconds: number;
  allreduce_ms_per_step: number | null;
  kernels: string[];
  command: string;
}

/**
 * Allreduce milliseconds per step from the trainer's report: a summary.csv column
 * (allreduce_ms / allreduce_ms_per_step) of the timed epoch, else the last log line naming
 * "allreduce ... <x> ms".
 */
function allreduceMs(row: Record<string, string>, log: string): number | null {
  for (const col of ['allreduce_ms_per_step', 'allreduce_ms']) {
    if (row[col] !== undefined && row[col] !== '' && Number.isFinite(Number(row[col]))) return Number(row[col]);
  }
  const m = [...log.matchAll(/allreduce[^\n]*?([\d.]+)\s*ms/gi)].at(-1);
  return m ? Number(m[1]) : null;
}

function readSummary(file: string): Record<string, string>[] {
  const [head, ...rows] = readFileSync(file, 'utf8').trim().split(/\r?\n/);
  const cols = head!.split(',');
  return rows.map((r) => Object.fromEntries(r.split(',').map((v, i) => [cols[i]!, v])));
}

function runSetup(
  s: Setup,
  round: number,
  data: string,
  out: string,
  epochs: number,
  trainImages: number,
  load: LoadAtStart,
): RunResult {
  rmSync(out, { recursive: true, force: true });
  const trainArgs = [
    cli,
    'train',
    '--dataset',
    'imagefolder',
    '--data-dir',
    data,
    '--model',
    MODEL,
    '--input-size',
    String(INPUT),
    '-b',
    String(s.batch),
    '--epochs',
    String(epochs),
    '--threads',
    String(s.threads),
    '--workers',
    String(s.workers),
    '--sched',
    'none',
    '--lr',
    '0.1',
    '--no-model-ema',
    '--seed',
    '1',
    '--log-interval',
    '5',
    '--train-limit',
    String(trainImages),
    '--output',
    out,
  ];
  const env: NodeJS.ProcessEnv = { ...process.env, OMP_NUM_THREADS: String(s.threads) };
  let cmd: string, args: string[];
  if (s.processes === 1) {
    [cmd, args] = [process.execPath, trainArgs];
  } else {
    // Root needs Open MPI's explicit consent. Ranks unbound, as `repghost train --nproc` starts them:
    // each rank's data worker thread should not be pinned to the core its compute runs on.
    if (process.getuid?.() === 0)
      Object.assign(env, { OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' });
    [cmd, args] = ['mpirun', ['-np', String(s.processes), '--bind-to', 'none', process.execPath, ...trainArgs]];
  }
  const r = spawnSync(cmd, args, { encoding: 'utf8', env, maxBuffer: 1 << 26, timeout: 30 * 60_000 });
  const log = `${r.stdout}${r.stderr}`;
  if (r.status !== 0)
    fail(`${s.name} run failed (exit ${r.status ?? r.signal}):\n${log.split('\n').slice(-15).join('\n')}`);
  const rows = readSummary(path.join(out, 'summary.csv'));
  const timed = rows.at(-1)!; // the last epoch; the first is warm-up
  const seconds = Number(timed.seconds);
  const steps = Math.floor(trainImages / GLOBAL_BATCH);
  const images = steps * GLOBAL_BATCH;
  return {
    setup: s.name,
    round,
    images_per_s: images / seconds,
    step_ms: (seconds * 1000) / steps,
    epoch_seconds: seconds,
    allreduce_ms_per_step: s.processes > 1 ? allreduceMs(timed, log) : null,
    kernels: [
      ...new Set([...log.matchAll(/training on the tfjs \S+ backend with ([^\n]+)/g)].map((m) => m[1]!.trim())),
    ],
    ...load,
    command: [cmd === process.execPath ? 'node' : cmd, ...args.map((a) => (a === process.execPath ? 'node' : a))]
      .join(' ')
      .replaceAll(data, '<data>')
      .replaceAll(out, '<out>')
      .replaceAll(root + path.sep, ''),
  };
}

/** Bytes of the gradient buffer one allreduce moves: every parameter of the training form, float32. */
export function gradientBytes(model = MODEL, numClasses = 1000): number {
  const spec = buildSpec(model, { numClasses });
  let n = 0;
  for (const l of layers(spec, 'train')) {
    for (const [key, shape] of layerKeys(l)) {
      if (!/running_|num_batches/.test(key)) n += shape.reduce((a, b) => a * b, 1);
    }
  }
  return n * 4;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      epochs: { type: 'string', default: '2' },
      images: { type: 'string', default: '480' },
      'max-busy': { type: 'string', default: '1' },
      'max-wait': { type: 'string', default: '30' },
      out: { type: 'string', default: path.join(root, 'bench', 'results') },
      'from-json': { type: 'string' },
    },
  });
  if (values['from-json']) {
    const j = JSON.parse(readFileSync(values['from-json'], 'utf8')) as Summary;
    writeFileSync(values['from-json'].replace(/\.json$/, '.md'), markdown(j));
    process.stdout.write(markdown(j));
    return;
  }
  const { mpirun } = preflight();
  const rounds = Number(values.rounds),
    epochs = Number(values.epochs),
    trainImages = Number(values.images);
  // Before each run, wait (up to --max-wait s) until other normal-priority work uses at most --max-busy cores.
  const maxBusy = Number(values['max-busy']),
    maxWait = Number(values['max-wait']);
  if (trainImages % GLOBAL_BATCH || trainImages > CLASSES)
    fail(`--images must be a multiple of ${GLOBAL_BATCH}, at most ${CLASSES}`);
  const tmp = mkdtempSync(path.join(tmpdir(), 'repghost-bench-dist-'));
  const data = path.join(tmp, 'data');
  await makeImageFolder(data, GLOBAL_BATCH);
  const load0 = loadString();
  const runs: RunResult[] = [];
  try {
    for (let r = 1; r <= rounds; r++) {
      for (const s of r % 2 ? SETUPS : [...SETUPS].reverse()) {
        process.stderr.write(
          `round ${r}/${rounds} ${s.processes} process(es) x ${s.threads} thread(s) x batch ${s.batch}... `,
        );
        const load = await settle(maxBusy, maxWait);
        const res = runSetup(s, r, data, path.join(tmp, `out-${s.name}`), epochs, trainImages, load);
        runs.push(res);
        process.stderr.write(
          `${res.images_per_s.toFixed(1)} images/s, ${res.step_ms.toFixed(0)} ms/step` +
            (res.allreduce_ms_per_step !== null ? `, allreduce ${res.allreduce_ms_per_step.toFixed(1)} ms` : '') +
            ` (load ${res.load1.toFixed(2)}, others busy ${res.busy_cores} cores)\n`,
        );
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const summarize = (name: Setup['name']): SetupSummary => {
    const rs = runs.filter((r) => r.setup === name);
    const ips = rs.map((r) => r.images_per_s);
    const ar = rs.map((r) => r.allreduce_ms_per_step).filter((v): v is number => v !== null);
    const step = median(rs.map((r) => r.step_ms));
    const s = SETUPS.find((x) => x.name === name)!;
    return {
      processes: s.processes,
      threads_per_process: s.threads,
      batch_per_process: s.batch,
      workers_per_process: s.workers,
      runs: rs.length,
      images_per_s: round(median(ips)),
      images_per_s_min: round(Math.min(...ips)),
      images_per_s_max: round(Math.max(...ips)),
      step_ms: round(step),
      allreduce_ms_per_step: ar.length ? round(median(ar), 2) : null,
      allreduce_share: ar.length ? round(median(ar) / step, 4) : null,
      kernels: [...new Set(rs.flatMap((r) => r.kernels))],
      command: rs[0]!.command,
    };
  };
  const one = summarize('1x2'),
    two = summarize('2x1');
  const medianIps = (name: Setup['name']): number =>
    median(runs.filter((r) => r.setup === name).map((r) => r.images_per_s));
  const paired = Array.from({ length: rounds }, (_, i) => {
    const a = runs.find((r) => r.round === i + 1 && r.setup === '1x2')!,
      b = runs.find((r) => r.round === i + 1 && r.setup === '2x1')!;
    return b.images_per_s / a.images_per_s;
  });
  const json: Summary = {
    date: new Date().toISOString(),
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: availableParallelism(),
    node: process.version,
    mpirun,
    model: MODEL,
    input: INPUT,
    global_batch: GLOBAL_BATCH,
    classes: CLASSES,
    train_images: trainImages,
    epochs,
    timed: `epoch ${epochs - 1} (the last; earlier epochs are warm-up), training phase only`,
    gradient_bytes: gradientBytes(MODEL, CLASSES),
    rounds,
    load_average_at_start: load0,
    load_average_at_end: loadString(),
    one_process: one,
    two_processes: two,
    ratio: round(medianIps('2x1') / medianIps('1x2'), 3),
    ratio_paired_median: round(median(paired), 3),
    ratio_paired_min: round(Math.min(...paired), 3),
    ratio_paired_max: round(Math.max(...paired), 3),
    target_ratio: TARGET_RATIO,
    native_kernels:
      [...one.kernels, ...two.kernels].length > 0 &&
      [...one.kernels, ...two.kernels].every((k) => k.startsWith('native kernels')),
    runs: runs.map((r) => ({
      ...r,
      images_per_s: round(r.images_per_s),
      step_ms: round(r.step_ms),
      epoch_seconds: round(r.epoch_seconds, 2),
    })),
  };
  writeFileSync(path.join(values.out, 'dist.json'), `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(path.join(values.out, 'dist.md'), markdown(json));
  process.stdout.write(markdown(json));
}

interface SetupSummary {
  processes: number;
  threads_per_process: number;
  batch_per_process: number;
  workers_per_process: number;
  runs: number;
  images_per_s: number;
  images_per_s_min: number;
  images_per_s_max: number;
  step_ms: number;
  allreduce_ms_per_step: number | null;
  allreduce_share: number | null;
  kernels: string[];
  command: string;
}

/** What dist.json holds (bench/dist-model.ts reads it). */
export interface Summary {
  date: string;
  cpu: string;
  cores: number;
  node: string;
  mpirun: string;
  model: string;
  input: number;
  global_batch: number;
  classes: number;
  train_images: number;
  epochs: number;
  timed: string;
  gradient_bytes: number;
  rounds: number;
  load_average_at_start: string;
  load_average_at_end: string;
  one_process: SetupSummary;
  two_processes: SetupSummary;
  ratio: number;
  ratio_paired_median: number;
  ratio_paired_min: number;
  ratio_paired_max: number;
  target_ratio: number;
  native_kernels: boolean;
  runs: RunResult[];
}

function markdown(j: Summary): string {
  const row = (label: string, s: SetupSummary): string =>
    `| ${label} | ${s.batch_per_process} | ${s.workers_per_process} | ${s.runs} | ` +
    `${s.images_per_s} | ${s.images_per_s_min}–${s.images_per_s_max} | ${s.step_ms} | ` +
    `${s.allreduce_ms_per_step ?? '-'} | ` +
    `${s.allreduce_share === null ? '-' : `${(s.allreduce_share * 100).toFixed(1)} %`} | ${s.kernels.join('; ')} |`;
  const lines = [
    '# Data-parallel training on one machine: 1 process x 2 threads vs 2 MPI processes x 1 thread',
    '',
    `${j.date}; ${j.cpu}, ${j.cores} logical cores, Node ${j.node}, ${j.mpirun}. ` +
      `${j.model} at ${j.input}x${j.input}, global batch ${j.global_batch}, ${j.classes}-class ImageFolder, ` +
      `${j.train_images} generated JPEGs (${j.input}x${j.input}), ${j.epochs} epochs; timed: ${j.timed}. ` +
      `${j.rounds} rounds, the two set-ups back to back in each (order alternating); medians over rounds, ` +
      `min–max spread. Gradient buffer per allreduce: ${(j.gradient_bytes / 1e6).toFixed(2)} MB. ` +
      `Load average ${j.load_average_at_start} at start, ${j.load_average_at_end} at end` +
      (Math.max(...j.runs.map((r) => r.load1)) > j.cores
        ? '. Other processes competed for the cores: all figures are low and noisy, and the 1-process run ' +
          'suffers most, since its two OpenMP threads meet at a barrier in every kernel and each wait for a ' +
          'descheduled peer costs a scheduler time slice, while a 1-thread rank waits for its peer only at the ' +
          'allreduce. Under load the ratio ' +
          'therefore overstates what two ranks gain on an idle machine.'
        : '.'),
    '',
    '| set-up | batch per process | data workers per process | runs | images/s | range | step ms | ' +
      'allreduce ms/step | allreduce share | kernels |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    row(`${j.one_process.processes} process x ${j.one_process.threads_per_process} threads`, j.one_process),
    row(`${j.two_processes.processes} processes x ${j.two_processes.threads_per_process} thread`, j.two_processes),
    '',
    `**ratio** (2-process / 1-process images/s, medians): **${j.ratio.toFixed(2)}** (target >= ${j.target_ratio}); ` +
      `per round: median ${j.ratio_paired_median.toFixed(2)}, ` +
      `${j.ratio_paired_min.toFixed(2)}–${j.ratio_paired_max.toFixed(2)}. ` +
      `Native kernels in every process: ${j.native_kernels ? 'yes' : '**no**'}.`,
    '',
    'Commands (`<data>`: the generated ImageFolder):',
    '',
    '```sh',
    j.one_process.command,
    j.two_processes.command,
    '```',
    '',
    '| round | set-up | images/s | ms/step | allreduce ms/step | 1-min load at start | ' +
      'cores busy with other normal-priority work |',
    '|---:|---|---:|---:|---:|---:|---:|',
    ...j.runs.map(
      (r) =>
        `| ${r.round} | ${r.setup} | ${r.images_per_s} | ${r.step_ms} | ${r.allreduce_ms_per_step ?? '-'} | ` +
        `${r.load1.toFixed(2)} | ${r.busy_cores ?? '-'} |`,
    ),
    '',
  ];
  return `${lines.join('\n')}\n`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
