/**
 * A model of data-parallel training on N CPU nodes, from this machine's measurements
 * (`npm run bench:dist-model`; reads bench/results/dist.json and train.json). Rewrites the
 * block between the dist-model markers in docs/distributed.md and bench/results/dist-model.json.
 *
 * Per step of the official recipe (global batch 1024 = 8 GPUs x -b 128, 300 epochs of ImageNet's
 * 1,281,167 training images), on N nodes of 64 cores:
 *   compute   = (1024 / N images per node) / (64 cores x measured images/s per core)
 *   allreduce = 2 (N-1)/N x gradient bytes / link bandwidth + 2 (N-1) x latency
 * (ring allreduce across nodes, the gradients first reduced inside each node), and the step is
 * their sum: the trainer averages the gradients after the backward pass, without overlap.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gradientBytes } from './dist.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const results = path.join(root, 'bench', 'results');
const doc = path.join(root, 'docs', 'distributed.md');

/** The official recipe (README of ChengpengChen/RepGhost, distributed_train.sh 8 -b 128). */
const RECIPE = { epochs: 300, images: 1_281_167, globalBatch: 8 * 128, gpuImagesPerS: 4700, gpuHours: 24 };
const CORES_PER_NODE = 64;
const NODES = [8, 32, 128];
const LINKS_GBIT = [10, 25, 100];
/** One message's latency between nodes (TCP over Ethernet, order of magnitude), per ring step. */
const LATENCY_S = 20e-6;
const MODEL = 'repghostnet_0_5x';

interface Compute {
  imagesPerSCore: number;
  source: string;
  localAllreduceMs: number | null;
}

/**
 * Images/s of one core on the training step. Candidates: the data-parallel run (one rank on one
 * core: its step less its allreduce) and the single-process step of train.json (best run, per
 * thread). Load only ever slows a run, so the fastest is the closest to an unloaded core.
 */
function measuredCompute(): Compute {
  const candidates: Compute[] = [];
  let localAllreduceMs: number | null = null;
  const distFile = path.join(results, 'dist.json');
  if (existsSync(distFile)) {
    const d = JSON.parse(readFileSync(distFile, 'utf8')) as {
      date: string;
      two_processes: { batch_per_process: number; step_ms: number; allreduce_ms_per_step: number | null };
      native_kernels: boolean;
      runs: { setup: string; step_ms: number; allreduce_ms_per_step: number | null }[];
    };
    const best = d.runs
      .filter((r) => r.setup === '2x1' && r.allreduce_ms_per_step !== null)
      .sort((x, y) => x.step_ms - y.step_ms)[0];
    if (d.native_kernels && best) {
      const computeMs = best.step_ms - best.allreduce_ms_per_step!;
      localAllreduceMs = Math.min(
        ...d.runs.flatMap((r) => (r.allreduce_ms_per_step === null ? [] : [r.allreduce_ms_per_step])),
      );
      candidates.push({
        imagesPerSCore: (d.two_processes.batch_per_process * 1000) / computeMs,
        localAllreduceMs,
        source:
          `dist.json (${d.date.slice(0, 10)}), fastest 2-rank run: ` +
          `${d.two_processes.batch_per_process} images per rank in ${computeMs.toFixed(0)} ms of compute per step ` +
          `(step ${best.step_ms} ms less allreduce ${best.allreduce_ms_per_step} ms)`,
      });
    }
  }
  const trainFile = path.join(results, 'train.json');
  if (existsSync(trainFile)) {
    const train = JSON.parse(readFileSync(trainFile, 'utf8')) as {
      date: string;
      threads: number;
      results: { config: string; kernels_path: string; images_per_s: number; images_per_s_max?: number }[];
      quiet_context?: {
        ours_date: string;
        threads: number;
        ours_load_average: string;
        rows: { config: string; ours_images_per_s: number }[];
      };
    };
    const q = train.quiet_context;
    const quiet = q?.rows.find((x) => x.config === '0.5x-224-b32-c1000');
    if (q && quiet) {
      candidates.push({
        imagesPerSCore: quiet.ours_images_per_s / q.threads,
        localAllreduceMs,
        source:
          `train.json's quiet-machine context (${q.ours_date.slice(0, 10)}, load average ${q.ours_load_average}): ` +
          `the 0.5x 224x224 batch-32 step at ${quiet.ours_images_per_s} images/s on ${q.threads} threads, ` +
          `divided by ${q.threads}`,
      });
    }
    const r = train.results.find((x) => x.config === '0.5x-224-b32-c1000' && x.kernels_path === 'native');
    if (r) {
      const best = r.images_per_s_max ?? r.images_per_s;
      candidates.push({
        imagesPerSCore: best / train.threads,
        localAllreduceMs,
        source:
          `train.json (${train.date.slice(0, 10)}), fastest 0.5x 224x224 batch-32 step: ${best} images/s ` +
          `on ${train.threads} ` +
          `thread${train.threads > 1 ? 's' : ''}${train.threads > 1 ? `, divided by ${train.threads}` : ''}`,
      });
    }
  }
  if (!candidates.length)
    throw new Error('neither dist.json nor train.json has a 0.5x 224x224 measurement: run npm run bench:train');
  const best = candidates.reduce((a, b) => (b.imagesPerSCore > a.imagesPerSCore ? b : a));
  const others = candidates.filter((c) => c !== best).map((c) => `${c.imagesPerSCore.toFixed(1)} from ${c.source}`);
  const also = others.length === 1 ? 'the other measurement gave' : 'the other measurements gave';
  return { ...best, source: `${best.source}${others.length ? `; ${also} ${others.join('; ')}` : ''}` };
}

interface Row {
  nodes: number;
  link_gbit: number;
  images_per_node_per_step: number;
  images_per_core_per_step: number;
  compute_ms: number;
  allreduce_ms: number;
  step_ms: number;
  allreduce_share: number;
  images_per_s: number;
  hours: number;
}

function model(c: Compute, gradBytes: number): Row[] {
  const rows: Row[] = [];
  for (const n of NODES) {
    const perNode = RECIPE.globalBatch / n;
    const computeS = perNode / (CORES_PER_NODE * c.imagesPerSCore);
    for (const gbit of LINKS_GBIT) {
      const wire = (((2 * (n - 1)) / n) * gradBytes * 8) / (gbit * 1e9);
      const allreduceS = wire + 2 * (n - 1) * LATENCY_S;
      const stepS = computeS + allreduceS;
      const ips = RECIPE.globalBatch / stepS;
      rows.push({
        nodes: n,
        link_gbit: gbit,
        images_per_node_per_step: perNode,
        images_per_core_per_step: perNode / CORES_PER_NODE,
        compute_ms: computeS * 1000,
        allreduce_ms: allreduceS * 1000,
        step_ms: stepS * 1000,
        allreduce_share: allreduceS / stepS,
        images_per_s: ips,
        hours: (RECIPE.epochs * RECIPE.images) / ips / 3600,
      });
    }
  }
  return rows;
}

function table(c: Compute, gradBytes: number, rows: Row[]): string {
  const f = (v: number, d = 0): string =>
    v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  return [
    `Inputs: ${f(c.imagesPerSCore, 1)} images/s per core (${c.source}); ` +
      `gradient buffer ${(gradBytes / 1e6).toFixed(2)} MB ` +
      `(${MODEL}, 1000 classes, float32); ${LATENCY_S * 1e6} µs per message between nodes` +
      '; the reduction inside each node (shared memory) is not counted' +
      (c.localAllreduceMs !== null
        ? ` (the fastest 2-rank allreduce measured here took ${c.localAllreduceMs} ms per step, mostly one ` +
          'rank waiting for the other to finish its backward pass on the loaded machine, not moving bytes)'
        : '') +
      `. Recipe: ${RECIPE.epochs} epochs x ${f(RECIPE.images)} images, global batch ${RECIPE.globalBatch}.`,
    '',
    '| nodes x 64 cores | link | images per node (per core) per step | compute ms | allreduce ms | ' +
      'allreduce share | images/s | hours for 300 epochs |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.nodes} | ${r.link_gbit} Gb/s | ${f(r.images_per_node_per_step)} ` +
        `(${f(r.images_per_core_per_step, 3)}) | ${f(r.compute_ms, 1)} | ` +
        `${f(r.allreduce_ms, 1)} | ${f(r.allreduce_share * 100)} % | ${f(r.images_per_s)} | ${f(r.hours, 1)} |`,
    ),
    `| official: 8 GPUs | NVLink/PCIe | 128 per GPU | | | | ~${f(RECIPE.gpuImagesPerS)} | ~${RECIPE.gpuHours} |`,
  ].join('\n');
}

const BEGIN = '<!-- dist-model:begin (generated by npm run bench:dist-model; do not edit by hand) -->';
const END = '<!-- dist-model:end -->';

function main(): void {
  const c = measuredCompute();
  const gradBytes = gradientBytes(MODEL, 1000);
  const rows = model(c, gradBytes);
  writeFileSync(
    path.join(results, 'dist-model.json'),
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        model: MODEL,
        recipe: RECIPE,
        cores_per_node: CORES_PER_NODE,
        latency_s: LATENCY_S,
        gradient_bytes: gradBytes,
        images_per_s_per_core: c.imagesPerSCore,
        compute_source: c.source,
        local_allreduce_ms: c.localAllreduceMs,
        rows: rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Math.round(v * 1000) / 1000]))),
      },
      null,
      2,
    )}\n`,
  );
  const block = table(c, gradBytes, rows);
  if (existsSync(doc)) {
    const text = readFileSync(doc, 'utf8');
    const a = text.indexOf(BEGIN),
      b = text.indexOf(END);
    if (a >= 0 && b > a) writeFileSync(doc, `${text.slice(0, a + BEGIN.length)}\n${block}\n${text.slice(b)}`);
    else process.stderr.write(`${path.relative(root, doc)} has no dist-model markers; table printed only\n`);
  }
  process.stdout.write(`${block}\n`);
}

main();
