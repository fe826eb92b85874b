/**
 * `npm run bench:web`: batch-1 latency of our deploy ONNX (0.5x and 1.0x, emitted from the
 * golden checkpoints by the library) on
 *
 * - onnxruntime-web (wasm) in headless Chromium, page on 127.0.0.1 with COOP/COEP
 *   (crossOriginIsolated), 1 and 2 threads;
 * - onnxruntime-web (wasm) in Node: the like-for-like comparison (same wasm kernels);
 * - onnxruntime-node (native CPU EP): what the same machine does without wasm.
 *
 * All in one run, same input, same loop (web/src/latency.ts): median of RUNS after a
 * warm-up of at least WARMUP.runs runs and WARMUP.ms (the first model in a page runs
 * partly before the optimizing wasm tier), the timed runs interleaved across
 * configurations in rounds. Each onnxruntime-web thread count has its own page (Chromium)
 * or process (Node) because ORT fixes its wasm thread pool at first use.
 * Writes bench/results/web.json and web.md.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { loadWeights } from '../src/reparam/load.js';
import { exportOnnx } from '../src/onnx/emit.js';
import { OrtEngine } from '../src/engine/ort-engine.js';
import { createNodeEngine } from '../src/node/ort.js';
import { LatencyProbe, summarize, type LatencySummary, type WarmupOptions } from '../web/src/latency.js';
import { buildPage } from '../web/scripts/build.js';
import { serveStatic } from '../web/scripts/static-server.js';
import { launchChromium } from '../web/scripts/chromium.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..');
const shared = process.env.REPGHOST_SHARED
  ? path.resolve(process.env.REPGHOST_SHARED)
  : path.resolve(repoRoot, '../shared');

const MODELS = [
  { name: 'repghostnet_0_5x', weights: 'golden/repghostnet_0_5x/checkpoint.pth' },
  { name: 'repghostnet_1_0x', weights: 'golden/repghostnet_1_0x/model.pth' },
];
const THREADS = [1, 2];
const SIZE = 224;
const RUNS = Number(process.env.BENCH_RUNS ?? 40);
/** Timed runs per configuration per round; rounds interleave the configurations. */
const PER_ROUND = Number(process.env.BENCH_PER_ROUND ?? 5);
const WARMUP: WarmupOptions = {
  runs: Number(process.env.BENCH_WARMUP_RUNS ?? 20),
  ms: Number(process.env.BENCH_WARMUP_MS ?? 4000),
};

type Runtime = 'chromium-ort-web-wasm' | 'node-ort-web-wasm' | 'node-ort-native';

/** One runtime at one thread count, holding a session per model. */
interface Target {
  runtime: Runtime;
  threads: number;
  load(model: string, onnx: Uint8Array): Promise<void>;
  warm(model: string, o: WarmupOptions): Promise<number>;
  time(model: string, runs: number): Promise<number[]>;
  close(): Promise<void>;
}

interface Row extends LatencySummary {
  runtime: Runtime;
  model: string;
  threads: number;
  warmupRuns: number;
}

const round = (v: number) => Math.round(v * 100) / 100;

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

// ---- onnxruntime-web in Node: a child process per thread count (ORT starts its pool once) ----

/** Child mode: serves load / warm / time requests, one JSON object per line on stdin/stdout. */
async function nodeWebChild(threads: number): Promise<void> {
  const ortWeb = await import('onnxruntime-web');
  ortWeb.env.wasm.numThreads = threads;
  const probes = new Map<string, LatencyProbe>();
  for await (const line of createInterface({ input: process.stdin })) {
    const msg = JSON.parse(line) as {
      id: number;
      cmd: string;
      model: string;
      file?: string;
      o?: WarmupOptions;
      runs?: number;
    };
    let result: unknown;
    try {
      if (msg.cmd === 'load') {
        const engine = await OrtEngine.create(ortWeb, new Uint8Array(readFileSync(msg.file!)), {
          graphOptimizationLevel: 'all',
          executionMode: 'sequential',
        });
        probes.set(msg.model, new LatencyProbe(engine, SIZE));
        result = { threads: ortWeb.env.wasm.numThreads };
      } else if (msg.cmd === 'warm') result = await probes.get(msg.model)!.warm(msg.o!);
      else if (msg.cmd === 'time') result = await probes.get(msg.model)!.time(msg.runs!);
      process.stdout.write(`${JSON.stringify({ id: msg.id, result })}\n`);
    } catch (e) {
      process.stdout.write(`${JSON.stringify({ id: msg.id, error: e instanceof Error ? e.message : String(e) })}\n`);
    }
  }
}

function nodeWebTarget(threads: number, work: string): Target {
  const child: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(import.meta.url), '--node-web-child', String(threads)],
    {
      cwd: repoRoot,
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += String(d)));
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 0;
  createInterface({ input: child.stdout }).on('line', (line) => {
    const r = JSON.parse(line) as { id: number; result?: unknown; error?: string };
    const w = waiting.get(r.id);
    waiting.delete(r.id);
    if (r.error) w?.reject(new Error(r.error));
    else w?.resolve(r.result);
  });
  child.on('exit', (code) => {
    for (const w of waiting.values()) w.reject(new Error(`onnxruntime-web child exited (${code}): ${stderr}`));
  });
  const call = <T>(msg: Record<string, unknown>) =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      child.stdin.write(`${JSON.stringify({ ...msg, id })}\n`);
    });
  return {
    runtime: 'node-ort-web-wasm',
    threads,
    async load(model, onnx) {
      const file = path.join(work, `${model}.onnx`);
      writeFileSync(file, onnx);
      await call({ cmd: 'load', model, file });
    },
    warm: (model, o) => call<number>({ cmd: 'warm', model, o }),
    time: (model, runs) => call<number[]>({ cmd: 'time', model, runs }),
    async close() {
      child.stdin.end();
      await new Promise((r) => child.once('exit', r));
    },
  };
}

// ---- onnxruntime-node, in this process ----

function nativeTarget(threads: number): Target {
  const probes = new Map<string, LatencyProbe>();
  return {
    runtime: 'node-ort-native',
    threads,
    async load(model, onnx) {
      probes.set(model, new LatencyProbe(await createNodeEngine(onnx, { threads }), SIZE));
    },
    warm: (model, o) => probes.get(model)!.warm(o),
    time: (model, runs) => probes.get(model)!.time(runs),
    async close() {
      for (const p of probes.values()) await p.dispose();
    },
  };
}

// ---- Chromium: a page per thread count ----

interface BenchApi {
  info(): Promise<{ threads: number; crossOriginIsolated: boolean }>;
  load(name: string, url: string, size: number): Promise<void>;
  warm(name: string, o: WarmupOptions): Promise<number>;
  time(name: string, runs: number): Promise<number[]>;
}

/** Calls `window.__bench[fn](...args)` in the page. */
function pageCall<T>(page: Page, fn: keyof BenchApi, args: unknown[]): Promise<T> {
  return page.evaluate(
    ({ fn, args }) => {
      const api = (globalThis as unknown as { __bench: Record<string, (...a: unknown[]) => Promise<unknown>> }).__bench;
      return api[fn]!(...args);
    },
    { fn, args },
  ) as Promise<T>;
}

async function chromiumTarget(
  page: Page,
  baseUrl: string,
  threads: number,
  serve: Map<string, Uint8Array>,
): Promise<Target> {
  await page.goto(`${baseUrl}bench.html?threads=${threads}`);
  await page.waitForFunction(() => (globalThis as { __bench?: unknown }).__bench !== undefined);
  const info = await pageCall<{ threads: number; crossOriginIsolated: boolean }>(page, 'info', []);
  if (!info.crossOriginIsolated)
    throw new Error('the benchmark page is not cross-origin isolated: wasm threads would be off');
  if (info.threads !== threads) throw new Error(`asked ORT Web for ${threads} threads, it runs ${info.threads}`);
  return {
    runtime: 'chromium-ort-web-wasm',
    threads,
    async load(model, onnx) {
      serve.set(`/bench/${model}.onnx`, onnx);
      await pageCall(page, 'load', [model, `${baseUrl}bench/${model}.onnx`, SIZE]);
    },
    warm: (model, o) => pageCall<number>(page, 'warm', [model, o]),
    time: (model, runs) => pageCall<number[]>(page, 'time', [model, runs]),
    close: () => page.close(),
  };
}

// ---- the run ----

async function main(): Promise<void> {
  const work = mkdtempSync(path.join(tmpdir(), 'repghost-bench-web-'));
  const load0 = loadavg();
  const started = new Date().toISOString();
  const targets: Target[] = [];
  const cleanup: (() => Promise<void>)[] = [];
  try {
    // Our deploy graphs, from the golden checkpoints through the library.
    const graphs = new Map<string, Uint8Array>();
    for (const m of MODELS) {
      const loaded = loadWeights(new Uint8Array(readFileSync(path.join(shared, m.weights))), {
        model: m.name,
        fileName: path.basename(m.weights),
      });
      graphs.set(m.name, exportOnnx(loaded.spec, loaded.deploy, { mode: 'deploy', inputSize: [SIZE, SIZE] }));
    }
    log('building the page...');
    const dist = path.join(work, 'dist');
    await buildPage(dist);
    const serve = new Map<string, Uint8Array>();
    const server = await serveStatic(dist, serve);
    cleanup.push(() => server.close());
    const browser = await launchChromium();
    cleanup.push(() => browser.close());
    const chromiumVersion = browser.version();

    for (const t of THREADS) targets.push(await chromiumTarget(await browser.newPage(), server.url, t, serve));
    for (const t of THREADS) targets.push(nodeWebTarget(t, work));
    for (const t of THREADS) targets.push(nativeTarget(t));

    const configs = targets.flatMap((target) =>
      MODELS.map((m) => ({ target, model: m.name, warmupRuns: 0, times: [] as number[] })),
    );
    for (const c of configs) {
      await c.target.load(c.model, graphs.get(c.model)!);
      log(`warming ${c.target.runtime}, ${c.model}, ${c.target.threads} thread(s)...`);
      c.warmupRuns = await c.target.warm(c.model, WARMUP);
    }
    // Rounds: every configuration gets PER_ROUND runs per round, in a rotating order, so load
    // from other work on this shared machine falls on all of them alike.
    const rounds = Math.ceil(RUNS / PER_ROUND);
    for (let r = 0; r < rounds; r++) {
      log(`round ${r + 1}/${rounds}`);
      for (let i = 0; i < configs.length; i++) {
        const c = configs[(i + r) % configs.length]!;
        await c.target.warm(c.model, { runs: 1, ms: 0 }); // one untimed run: caches after the others ran
        c.times.push(...(await c.target.time(c.model, Math.min(PER_ROUND, RUNS - c.times.length))));
      }
    }
    const rows: Row[] = configs.map((c) => ({
      runtime: c.target.runtime,
      model: c.model,
      threads: c.target.threads,
      warmupRuns: c.warmupRuns,
      ...summarize(c.times),
    }));
    writeResults(rows, { started, chromiumVersion, load0, load1: loadavg() });
  } finally {
    for (const t of targets) await t.close().catch(() => undefined);
    for (const f of cleanup.reverse()) await f().catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }
}

interface RunInfo {
  started: string;
  chromiumVersion: string;
  load0: number[];
  load1: number[];
}

function writeResults(rows: Row[], info: RunInfo): void {
  const get = (runtime: Runtime, model: string, threads: number) =>
    rows.find((r) => r.runtime === runtime && r.model === model && r.threads === threads)!;
  const ratios = MODELS.flatMap((m) =>
    THREADS.map((t) => {
      const b = get('chromium-ort-web-wasm', m.name, t).median;
      return {
        model: m.name,
        threads: t,
        browserVsNodeWeb: round(b / get('node-ort-web-wasm', m.name, t).median),
        browserVsNative: round(b / get('node-ort-native', m.name, t).median),
        // The target compares a page with the best the same wasm does in Node, whatever the thread count.
        bestBrowserVsBestNodeWeb: round(
          Math.min(...THREADS.map((x) => get('chromium-ort-web-wasm', m.name, x).median)) /
            Math.min(...THREADS.map((x) => get('node-ort-web-wasm', m.name, x).median)),
        ),
      };
    }),
  );
  const pkg = (name: string) =>
    (JSON.parse(readFileSync(path.join(repoRoot, 'node_modules', name, 'package.json'), 'utf8')) as { version: string })
      .version;
  const json = {
    description:
      'Batch-1 latency (ms) of the repghost deploy ONNX graphs (BN folded), ' +
      'median of runs after warm-up, deterministic input',
    started: info.started,
    machine: {
      cpus: cpus().length,
      cpu: cpus()[0]?.model,
      loadavgBefore: info.load0.map(round),
      loadavgAfter: info.load1.map(round),
    },
    versions: {
      chromium: info.chromiumVersion,
      node: process.version,
      onnxruntimeWeb: pkg('onnxruntime-web'),
      onnxruntimeNode: pkg('onnxruntime-node'),
    },
    options: { size: SIZE, runs: RUNS, perRound: PER_ROUND, warmup: WARMUP },
    rows: rows.map((r) => ({
      ...r,
      median: round(r.median),
      min: round(r.min),
      p10: round(r.p10),
      p90: round(r.p90),
      times: r.times.map(round),
    })),
    ratios,
  };
  const outDir = path.join(repoRoot, 'bench/results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, 'web.json'), `${JSON.stringify(json, null, 2)}\n`);

  const cell = (runtime: Runtime, model: string, t: number) => {
    const r = get(runtime, model, t);
    return `${r.median.toFixed(2)} (${r.p10.toFixed(1)}–${r.p90.toFixed(1)})`;
  };
  const lines = [
    '# Browser latency (ORT Web) vs Node',
    '',
    `Batch 1, ${SIZE}x${SIZE}, our deploy ONNX (every BN folded), median ms of ${RUNS} runs (p10–p90 in brackets) ` +
      `after a warm-up of at least ${WARMUP.runs} runs and ${WARMUP.ms / 1000} s`,
    `per configuration. The runs are taken in ${Math.ceil(RUNS / PER_ROUND)} rounds of ${PER_ROUND}, ` +
      'every configuration in each round (rotating order, one untimed run first),',
    'so background load falls on all alike. ' +
      `One run of \`npm run bench:web\`, ${info.started}; ${json.machine.cpus} CPUs (${json.machine.cpu}),`,
    `load average ${info.load0.map((v) => v.toFixed(1)).join('/')} ` +
      `before and ${info.load1.map((v) => v.toFixed(1)).join('/')} after ` +
      '(the machine is shared: compare within this table).',
    `Chromium ${info.chromiumVersion} headless (page on 127.0.0.1, COOP/COEP, crossOriginIsolated), ` +
      `onnxruntime-web ${json.versions.onnxruntimeWeb}, onnxruntime-node ${json.versions.onnxruntimeNode}, ` +
      `Node ${process.version}.`,
    '',
    '| model | threads | Chromium, ORT Web wasm | Node, ORT Web wasm | Node, ORT native | ' +
      'browser / Node wasm | browser / native |',
    '|---|---|---|---|---|---|---|',
    ...MODELS.flatMap((m) =>
      THREADS.map((t) => {
        const r = ratios.find((x) => x.model === m.name && x.threads === t)!;
        return (
          `| ${m.name.replace('repghostnet_', '')} deploy | ${t} | ${cell('chromium-ort-web-wasm', m.name, t)} | ` +
          `${cell('node-ort-web-wasm', m.name, t)} | ${cell('node-ort-native', m.name, t)} | ` +
          `${r.browserVsNodeWeb.toFixed(2)}x | ${r.browserVsNative.toFixed(2)}x |`
        );
      }),
    ),
    '',
    'Fastest single run (min), less sensitive to other work on the machine than the median:',
    '',
    '| model | threads | Chromium, ORT Web wasm | Node, ORT Web wasm | Node, ORT native |',
    '|---|---|---|---|---|',
    ...MODELS.flatMap((m) =>
      THREADS.map(
        (t) =>
          `| ${m.name.replace('repghostnet_', '')} deploy | ${t} | ` +
          (['chromium-ort-web-wasm', 'node-ort-web-wasm', 'node-ort-native'] as const)
            .map((rt) => get(rt, m.name, t).min.toFixed(2))
            .join(' | ') +
          ' |',
      ),
    ),
    '',
    'Best thread count each side (the target is browser <= 2x the same wasm in Node):',
    '',
    ...MODELS.map(
      (m) =>
        `- ${m.name}: best browser / best Node wasm = ` +
        `${ratios.find((x) => x.model === m.name)!.bestBrowserVsBestNodeWeb.toFixed(2)}x`,
    ),
    '',
    "The like-for-like comparison for a page is onnxruntime-web's wasm in Node (same kernels, 4-lane wasm SIMD);",
    'native ORT uses AVX-512 (16 lanes) and is expected to be several times faster ' +
      '(REFERENCE.md: 6-10x on this machine).',
    '',
  ];
  writeFileSync(path.join(outDir, 'web.md'), lines.join('\n'));
  process.stdout.write(lines.join('\n'));
}

if (process.argv[2] === '--node-web-child') {
  nodeWebChild(Number(process.argv[3])).then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
      process.exit(1);
    },
  );
} else {
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
      process.exit(1);
    },
  );
}
