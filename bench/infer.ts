/**
 * Inference latency benchmark (`npm run bench:infer`; not part of the test suite).
 *
 * For 0.5x, 1.0x and 2.0x: our deploy ONNX (every BN folded), our training-form ONNX
 * (fusion branches as BatchNormalization + Add) and, for 0.5x and 1.0x, the
 * PyTorch-exported ONNX of shared/reference/onnx, all on onnxruntime-node with graph
 * optimizations on, at batch 1 and 32, with 1 and 2 threads. Runs of the graphs being
 * compared are interleaved round-robin so machine noise hits them alike; the figures
 * are medians. Writes bench/results/infer.{json,md,png}.
 *
 * Weights: the golden 0.5x / 1.0x weights (the same the PyTorch files hold), and for
 * 2.0x random weights with BN statistics near 1 (speed does not depend on the values,
 * as long as activations stay finite and normal).
 *
 * int8 (issue 17): the static int8 QDQ graph of the same weights (`quantizeQdq`, calibrated
 * on a few random batches: speed does not depend on the ranges) runs in the same rotation as
 * the float32 deploy graph, and the int8 table gives float32 / int8 latency with the p10-p90
 * spread. Then the shipped Fashion-MNIST model on all 10,000 test images: float32 top-1,
 * agreement of fp16 / int8-weight files, and top-1 of static int8 per calibration method.
 * `--int8-only` measures just the float32 deploy and int8 graphs (a quicker run).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { createCanvas } from '@napi-rs/canvas';
import { Chart, registerables } from 'chart.js';
import { whiteBackground } from './chart-background.js';
import * as ort from 'onnxruntime-node';
import { buildSpec, type ModelSpec } from '../src/spec/model-spec.js';
import { layers, stateDictKeys } from '../src/spec/layers.js';
import { countModel } from '../src/reparam/count.js';
import { loadWeights } from '../src/reparam/load.js';
import { exportOnnx } from '../src/onnx/emit.js';
import { i64Scalar, type StateDict } from '../src/weights/tensor.js';
import { quantizeQdq } from '../src/onnx/quantize.js';
import { storeWeights } from '../src/onnx/precision.js';
import { CALIBRATION_METHODS } from '../src/onnx/calibrate.js';
import { calibrateRanges } from '../src/engine/calibrate.js';
import { nodeOrt } from '../src/node/ort.js';
import { fashionPredictions, quantizeModel } from '../src/api/quantize.js';
import { DEFAULT_FASHION_MNIST_DIR, loadFashionMnistSplit, prepareSplit } from '../src/data/fashion-mnist.js';
import { median, quantile } from '../src/util/stats.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shared = process.env.REPGHOST_SHARED
  ? path.resolve(process.env.REPGHOST_SHARED)
  : path.resolve(root, '../shared');
const outDir = path.join(root, 'bench', 'results');

/** Peak fp32 GFLOP/s of one core of the reference machine (REFERENCE.md: 2 FMA x 16 lanes x 2 x 2.1 GHz). */
const PEAK_PER_CORE = 134;
const THREADS = [1, 2];
const BATCHES = [
  { batch: 1, runs: 40, warmup: 8 },
  { batch: 32, runs: 15, warmup: 2 },
];
const MODELS = ['repghostnet_0_5x', 'repghostnet_1_0x', 'repghostnet_2_0x'];
/** `repghostnet_0_5x` -> `0.5x` for tables and charts. */
const short = (model: string) => model.replace('repghostnet_', '').replace('_', '.');

type GraphName = 'ours deploy (BN folded)' | 'ours train form' | 'PyTorch-exported deploy' | 'ours int8 QDQ (static)';
const INT8: GraphName = 'ours int8 QDQ (static)';
const INT8_ONLY = process.argv.includes('--int8-only');
interface Row {
  model: string;
  graph: GraphName;
  threads: number;
  batch: number;
  median_ms: number;
  p10_ms: number;
  p90_ms: number;
  runs: number;
  gflops: number;
  pct_of_peak: number;
}

// ---- weights ----

/** Deterministic PRNG (mulberry32) so every run benchmarks the same weights. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Training-form weights from the spec: He-normal convs, BN gamma/var ~ U(0.5, 1.5), small biases and means. */
function calibratedStateDict(spec: ModelSpec, seed = 1): StateDict {
  const r = rng(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const uniform = (lo: number, hi: number) => lo + (hi - lo) * r();
  const bns = new Set(
    layers(spec, 'train')
      .filter((l) => l.kind === 'bn')
      .map((l) => l.name),
  );
  const sd: StateDict = new Map();
  for (const [key, shape, dtype] of stateDictKeys(spec, 'train')) {
    if (dtype === 'I64') {
      sd.set(key, i64Scalar(0));
      continue;
    }
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const leaf = key.slice(key.lastIndexOf('.') + 1);
    const isBn = bns.has(key.slice(0, key.lastIndexOf('.')));
    if (shape.length === 4) {
      const std = Math.sqrt(2 / (n / shape[0]!));
      for (let i = 0; i < n; i++) data[i] = std * normal();
    } else if (shape.length === 2) {
      for (let i = 0; i < n; i++) data[i] = 0.01 * normal();
    } else if (isBn && leaf === 'weight') data.forEach((_, i) => (data[i] = uniform(0.5, 1.5)));
    else if (isBn && leaf === 'running_var') data.forEach((_, i) => (data[i] = uniform(0.5, 1.5)));
    else if (isBn && (leaf === 'bias' || leaf === 'running_mean'))
      data.forEach((_, i) => (data[i] = uniform(-0.2, 0.2)));
    sd.set(key, { dtype: 'F32', shape, data });
  }
  return sd;
}

/** The golden training-form weights where shared/ has them, else calibrated random ones. */
function weightsFor(model: string): { spec: ModelSpec; sd: StateDict; source: string } {
  const golden: Record<string, string> = { repghostnet_0_5x: 'checkpoint.pth', repghostnet_1_0x: 'model.pth' };
  const file = golden[model] && path.join(shared, 'golden', model, golden[model]);
  if (file && existsSync(file)) {
    const lw = loadWeights(new Uint8Array(readFileSync(file)), { model, fileName: path.basename(file) });
    return { spec: lw.spec, sd: lw.stateDict, source: `golden ${model}/${path.basename(file)}` };
  }
  const spec = buildSpec(model);
  return { spec, sd: calibratedStateDict(spec), source: 'random, BN statistics ~1' };
}

// ---- timing ----

async function timeOnce(session: ort.InferenceSession, feed: ort.Tensor): Promise<number> {
  const t0 = process.hrtime.bigint();
  const out = await session.run({ input: feed });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const logits = out.logits!.data as Float32Array;
  if (!Number.isFinite(logits[0]!)) throw new Error('non-finite logits: the benchmark weights are broken');
  return ms;
}

/** Interleaved round-robin timing of several sessions on the same input. */
async function measure(
  sessions: Map<GraphName, ort.InferenceSession>,
  batch: number,
  runs: number,
  warmup: number,
): Promise<Map<GraphName, number[]>> {
  const r = rng(batch);
  const data = Float32Array.from({ length: batch * 3 * 224 * 224 }, () => r() * 4 - 2);
  const feed = new ort.Tensor('float32', data, [batch, 3, 224, 224]);
  const names = [...sessions.keys()];
  const times = new Map(names.map((n) => [n, [] as number[]]));
  for (let w = 0; w < warmup; w++) for (const n of names) await timeOnce(sessions.get(n)!, feed);
  for (let i = 0; i < runs; i++) {
    // Rotate the order so no graph always runs right after the same other one.
    for (let j = 0; j < names.length; j++) {
      const n = names[(i + j) % names.length]!;
      times.get(n)!.push(await timeOnce(sessions.get(n)!, feed));
    }
  }
  return times;
}

// ---- int8 ----

/** Static int8 QDQ of a deploy graph, calibrated (minmax) on 16 random images: speed does not depend on the ranges. */
async function int8Graph(deploy: Uint8Array): Promise<Uint8Array> {
  const r = rng(7);
  const batch = Float32Array.from({ length: 8 * 3 * 224 * 224 }, () => r() * 4 - 2);
  const ranges = await calibrateRanges(
    nodeOrt,
    deploy,
    function* () {
      yield { data: batch, n: 8 };
      yield { data: batch.map((v) => -v), n: 8 };
    },
    {
      method: 'minmax',
      sessionOptions: { intraOpNumThreads: 2 },
    },
  );
  return quantizeQdq(deploy, ranges);
}

interface FashionAccuracy {
  images: number;
  float32_top1: number;
  fp16_weights_agreement: number;
  int8_weights_agreement: number;
  int8_weights_top1: number;
  fp16_bytes: number;
  int8_weights_bytes: number;
  float32_bytes: number;
  static_int8: { method: string; samples: number; top1: number; agreement: number; bytes: number }[];
}

/** The shipped Fashion-MNIST model on its whole test set: float32 vs fp16 / int8 weights vs static int8. */
async function fashionAccuracy(): Promise<FashionAccuracy> {
  const test = prepareSplit(await loadFashionMnistSplit(DEFAULT_FASHION_MNIST_DIR, 'test'));
  const lw = loadWeights(new Uint8Array(readFileSync(path.join(root, 'assets/fashion-mnist/deploy.safetensors'))), {
    fileName: 'deploy.safetensors',
  });
  const f32 = exportOnnx(lw.spec, lw.deploy, { inputSize: [32, 32] });
  const base = await fashionPredictions(f32, test);
  const agree = (p: Uint8Array) => (100 * p.filter((v, i) => v === base.predictions[i]).length) / test.count;
  const fp16 = storeWeights(f32, 'fp16');
  const int8w = storeWeights(f32, 'int8');
  const i8 = await fashionPredictions(int8w, test);
  const out: FashionAccuracy = {
    images: test.count,
    float32_top1: base.top1,
    fp16_weights_agreement: agree((await fashionPredictions(fp16, test)).predictions),
    int8_weights_agreement: agree(i8.predictions),
    int8_weights_top1: i8.top1,
    fp16_bytes: fp16.length,
    int8_weights_bytes: int8w.length,
    float32_bytes: f32.length,
    static_int8: [],
  };
  for (const method of CALIBRATION_METHODS) {
    const q = await quantizeModel(lw.spec, lw.deploy, { kind: 'fashion-mnist' }, { method, samples: 256 });
    const p = await fashionPredictions(q.model, test);
    out.static_int8.push({
      method,
      samples: q.samples,
      top1: p.top1,
      agreement: agree(p.predictions),
      bytes: q.model.length,
    });
    console.log(`fashion-mnist static int8 (${method}): top-1 ${p.top1.toFixed(2)} (float32 ${base.top1.toFixed(2)})`);
  }
  return out;
}

/** What the report says about the run (load averages as printed, e.g. "1.52 1.20 0.98"). */
interface RunMeta {
  date: string;
  machine: string;
  ort: string;
  loadavg: string;
  loadEnd: string;
}

function int8Markdown(rows: Row[], meta: RunMeta, fm: FashionAccuracy): string {
  const get = (m: string, g: GraphName, t: number, b: number) =>
    rows.find((r) => r.model === m && r.graph === g && r.threads === t && r.batch === b)!;
  const ms = (v: number) => (v < 10 ? v.toFixed(2) : v.toFixed(1));
  const lines = [
    '',
    '## int8 (static QDQ) against float32, same run, interleaved',
    '',
    `Load average ${meta.loadavg} at the start and ${meta.loadEnd} after the latency runs: the machine was ` +
      'shared with other jobs (2 cores), so every figure is a median of interleaved runs and the p10-p90 spread ' +
      'is shown. Targets (issue 17): ' +
      '>= 1.5x at batch 32 and >= 1.2x at batch 1 for 1.0x and 2.0x.',
    '',
    '| model | config | float32 median ms (p10-p90) | int8 median ms (p10-p90) | speed-up (median) | speed-up ' +
      '(p10) | target |',
    '|---|---|---:|---:|---:|---:|---|',
  ];
  for (const m of MODELS)
    for (const { batch: b } of BATCHES)
      for (const t of THREADS) {
        const f = get(m, 'ours deploy (BN folded)', t, b);
        const q = get(m, INT8, t, b);
        const target = m === 'repghostnet_0_5x' ? '-' : b === 32 ? '>= 1.5' : '>= 1.2';
        lines.push(
          `| ${short(m)} | b${b} ${t} thr | ${ms(f.median_ms)} (${ms(f.p10_ms)}-${ms(f.p90_ms)}) | ` +
            `${ms(q.median_ms)} (${ms(q.p10_ms)}-${ms(q.p90_ms)}) | ` +
            `${(f.median_ms / q.median_ms).toFixed(2)}x | ${(f.p10_ms / q.p10_ms).toFixed(2)}x | ${target} |`,
        );
      }
  const pct = (v: number) => `${v.toFixed(2)} %`;
  lines.push(
    '',
    `## The shipped Fashion-MNIST model, all ${fm.images} test images`,
    '',
    '| file | size | top-1 | agreement with float32 |',
    '|---|---:|---:|---:|',
    `| float32 | ${(fm.float32_bytes / 1e6).toFixed(2)} MB | ${pct(fm.float32_top1)} | - |`,
    `| fp16 weights (float32 compute) | ${(fm.fp16_bytes / 1e6).toFixed(2)} MB ` +
      `(${pct((100 * fm.fp16_bytes) / fm.float32_bytes)}) | - | ${pct(fm.fp16_weights_agreement)} |`,
    `| int8 weights (float32 compute) | ${(fm.int8_weights_bytes / 1e6).toFixed(2)} MB ` +
      `(${pct((100 * fm.int8_weights_bytes) / fm.float32_bytes)}) | ${pct(fm.int8_weights_top1)} | ` +
      `${pct(fm.int8_weights_agreement)} |`,
    ...fm.static_int8.map(
      (s) =>
        `| static int8, ${s.method}, ${s.samples} calibration images | ${(s.bytes / 1e6).toFixed(2)} MB | ` +
        `${pct(s.top1)} (${(s.top1 - fm.float32_top1).toFixed(2)}) | ${pct(s.agreement)} |`,
    ),
  );
  return `${lines.join('\n')}\n`;
}

// ---- report ----

function markdown(rows: Row[], meta: RunMeta): string {
  const get = (m: string, g: GraphName, t: number, b: number) =>
    rows.find((r) => r.model === m && r.graph === g && r.threads === t && r.batch === b);
  const ms = (r?: Row) => (r ? (r.median_ms < 10 ? r.median_ms.toFixed(2) : r.median_ms.toFixed(1)) : '-');
  const graphs: GraphName[] = ['ours deploy (BN folded)', 'ours train form', 'PyTorch-exported deploy', INT8];
  const lines = [
    `# Inference latency, onnxruntime-node ${meta.ort} (CPU EP, graph optimizations on)`,
    '',
    `${meta.date}; ${meta.machine}. Median ms over ` +
      `${BATCHES.map((b) => `${b.runs} runs at batch ${b.batch}`).join(', ')} ` +
      'after warm-up, graphs interleaved; 224x224 input. ' +
      `GFLOP/s = 2 x deploy-form MACs x batch / median time; peak ${PEAK_PER_CORE} GFLOP/s per core ` +
      `(REFERENCE.md). Load average at start: ${meta.loadavg}.`,
    '',
    '| model | graph | b1 1 thr | b1 2 thr | b32 1 thr | b32 2 thr | GFLOP/s b32 1 thr (% peak) | GFLOP/s b32 2 ' +
      'thr (% peak) |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const m of MODELS) {
    for (const g of graphs) {
      if (!get(m, g, 1, 1)) continue;
      const f = (t: number) => {
        const r = get(m, g, t, 32)!;
        return `${r.gflops.toFixed(1)} (${r.pct_of_peak.toFixed(0)} %)`;
      };
      lines.push(
        `| ${short(m)} | ${g} | ${ms(get(m, g, 1, 1))} | ${ms(get(m, g, 2, 1))} | ${ms(get(m, g, 1, 32))} | ` +
          `${ms(get(m, g, 2, 32))} | ${f(1)} | ${f(2)} |`,
      );
    }
  }
  lines.push(
    '',
    '**Ratios (same run)**: latency of our deploy graph / PyTorch-exported graph (target <= 1.0), and train-form ' +
      '/ deploy latency (target >= 1.1), ' +
      'of the medians and, less sensitive to bursts of load from other processes, of the 10th percentiles.',
    '',
    '| model | config | ours deploy / PyTorch (median) | (p10) | train / deploy (median) | (p10) |',
    '|---|---|---:|---:|---:|---:|',
  );
  for (const m of INT8_ONLY ? [] : MODELS) {
    for (const t of THREADS)
      for (const { batch: b } of BATCHES) {
        const d = get(m, 'ours deploy (BN folded)', t, b)!;
        const p = get(m, 'PyTorch-exported deploy', t, b);
        const tr = get(m, 'ours train form', t, b)!;
        const vsPt = (k: 'median_ms' | 'p10_ms') => (p ? (d[k] / p[k]).toFixed(2) : '-');
        lines.push(
          `| ${short(m)} | b${b} ${t} thr | ${vsPt('median_ms')} | ${vsPt('p10_ms')} | ` +
            `${(tr.median_ms / d.median_ms).toFixed(2)} | ${(tr.p10_ms / d.p10_ms).toFixed(2)} |`,
        );
      }
  }
  return `${lines.join('\n')}\n`;
}

async function chart(rows: Row[], file: string, title: string): Promise<void> {
  Chart.register(...registerables);
  const canvas = createCanvas(1400, 700);
  const labels: string[] = [];
  const configs: [string, number, number][] = [];
  for (const m of MODELS)
    for (const { batch: b } of BATCHES)
      for (const t of THREADS) {
        labels.push(`${short(m)} b${b} ${t}t`);
        configs.push([m, b, t]);
      }
  const colors: Record<GraphName, string> = {
    'ours deploy (BN folded)': '#1f77b4',
    'ours train form': '#ff7f0e',
    'PyTorch-exported deploy': '#7f7f7f',
    'ours int8 QDQ (static)': '#2ca02c',
  };
  const datasets = (Object.keys(colors) as GraphName[]).map((g) => ({
    label: g,
    backgroundColor: colors[g],
    data: configs.map(
      ([m, b, t]) =>
        rows.find((r) => r.model === m && r.graph === g && r.batch === b && r.threads === t)?.gflops ?? null,
    ),
  }));
  const c = new Chart(canvas as unknown as HTMLCanvasElement, {
    type: 'bar',
    data: { labels, datasets },
    options: {
      responsive: false,
      animation: false,
      devicePixelRatio: 1,
      plugins: { title: { display: true, text: title, font: { size: 16 } }, legend: { position: 'top' } },
      scales: {
        y: { title: { display: true, text: 'GFLOP/s (higher is better)' }, beginAtZero: true },
        x: { title: { display: true, text: 'width, batch, threads' } },
      },
    },
    plugins: [whiteBackground],
  });
  writeFileSync(file, await canvas.encode('png'));
  c.destroy();
}

// ---- main ----

async function main(): Promise<void> {
  const started = Date.now();
  const ortVersion = (createRequire(import.meta.url)('onnxruntime-node/package.json') as { version: string }).version;
  const cpu = cpus();
  const machine =
    `${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${cpu.length} logical cores, ` +
    `Node ${process.version}, ${process.platform}/${process.arch}`;
  const meta = {
    date: new Date().toISOString(),
    machine,
    ort: ortVersion,
    loadavg: loadavg()
      .map((x) => x.toFixed(2))
      .join(' '),
    peak_gflops_per_core: PEAK_PER_CORE,
  };
  console.log(`${meta.date} ${machine}, onnxruntime-node ${ortVersion}, load ${meta.loadavg}`);
  const rows: Row[] = [];
  const sources: Record<string, string> = {};
  for (const model of MODELS) {
    const { spec, sd, source } = weightsFor(model);
    sources[model] = source;
    const macs = countModel(spec, 'deploy').flops;
    const deploy = exportOnnx(spec, sd, { mode: 'deploy' });
    const graphs = new Map<GraphName, Uint8Array>([['ours deploy (BN folded)', deploy]]);
    if (!INT8_ONLY) graphs.set('ours train form', exportOnnx(spec, sd, { mode: 'train' }));
    const pytorch = path.join(shared, 'reference', 'onnx', `${model}_deploy_pytorch.onnx`);
    if (existsSync(pytorch) && !INT8_ONLY) graphs.set('PyTorch-exported deploy', new Uint8Array(readFileSync(pytorch)));
    graphs.set(INT8, await int8Graph(deploy));
    for (const threads of THREADS) {
      const sessions = new Map<GraphName, ort.InferenceSession>();
      for (const [g, bytes] of graphs) {
        sessions.set(
          g,
          await ort.InferenceSession.create(bytes, {
            graphOptimizationLevel: 'all',
            intraOpNumThreads: threads,
            interOpNumThreads: 1,
            executionMode: 'sequential',
          }),
        );
      }
      for (const { batch, runs, warmup } of BATCHES) {
        const times = await measure(sessions, batch, runs, warmup);
        for (const [graph, ts] of times) {
          const med = median(ts);
          const gflops = (2 * macs * batch) / (med / 1000) / 1e9;
          rows.push({
            model,
            graph,
            threads,
            batch,
            median_ms: med,
            p10_ms: quantile(ts, 0.1),
            p90_ms: quantile(ts, 0.9),
            runs: ts.length,
            gflops,
            pct_of_peak: (100 * gflops) / (PEAK_PER_CORE * threads),
          });
          console.log(
            `${model} ${graph.padEnd(24)} ${threads} thr b${String(batch).padEnd(2)} median ${med.toFixed(2)} ms  ` +
              `(p10 ${quantile(ts, 0.1).toFixed(2)}, p90 ${quantile(ts, 0.9).toFixed(2)})  ` +
              `${gflops.toFixed(1)} GFLOP/s`,
          );
        }
      }
      for (const s of sessions.values()) await s.release();
    }
  }
  mkdirSync(outDir, { recursive: true });
  const seconds = (Date.now() - started) / 1000;
  const loadEnd = loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
  console.log(`load average after the latency runs: ${loadEnd}`);
  const fmnist = await fashionAccuracy();
  const md = markdown(rows, { ...meta, loadEnd }) + int8Markdown(rows, { ...meta, loadEnd }, fmnist);
  const stem = INT8_ONLY ? 'infer-int8' : 'infer';
  writeFileSync(
    path.join(outDir, `${stem}.json`),
    `${JSON.stringify(
      {
        ...meta,
        load_after_latency: loadEnd,
        seconds: (Date.now() - started) / 1000,
        weights: sources,
        rows,
        fashion_mnist: fmnist,
      },
      null,
      2,
    )}\n`,
  );
  writeFileSync(path.join(outDir, `${stem}.md`), md);
  if (INT8_ONLY) {
    console.log(`\n${md}\nwrote bench/results/${stem}.{json,md}`);
    return;
  }
  await chart(
    rows,
    path.join(outDir, 'infer.png'),
    `RepGhostNet inference on onnxruntime-node ${ortVersion}: GFLOP/s (${machine})`,
  );
  console.log(`\n${md}\nwrote bench/results/infer.{json,md,png} in ${seconds.toFixed(0)} s`);
}

await main();
