/**
 * The in-page half of `npm run bench:web`: onnxruntime-web (wasm) sessions the Node driver
 * loads, warms up and times through `window.__bench`. The thread count comes from the URL
 * (`?threads=N`): ORT fixes its thread pool at first use, so each count needs its own page.
 */
import { loadOrtWeb, OrtEngine, readBytes, type WebOrt } from '../../src/browser/index.js';
import { LatencyProbe, type WarmupOptions } from './latency.js';

const threads = Number(new URLSearchParams(location.search).get('threads') ?? '1');
const probes = new Map<string, LatencyProbe>();
let web: Promise<WebOrt> | null = null;

const ort = () =>
  (web ??= loadOrtWeb({ backend: 'wasm', numThreads: threads, wasmPaths: new URL('ort/', document.baseURI).href }));

function probe(name: string): LatencyProbe {
  const p = probes.get(name);
  if (!p) throw new Error(`no model '${name}' loaded`);
  return p;
}

(globalThis as { __bench?: unknown }).__bench = {
  /** Threads ORT really runs with, and whether the page can have threads at all. */
  async info() {
    const w = await ort();
    return { backend: w.backend, threads: w.threads, crossOriginIsolated };
  },
  async load(name: string, url: string, size: number) {
    const w = await ort();
    probes.set(
      name,
      new LatencyProbe(await OrtEngine.create(w.ort, await readBytes(url, 'model'), w.sessionOptions), size),
    );
  },
  warm: (name: string, o: WarmupOptions) => probe(name).warm(o),
  time: (name: string, runs: number) => probe(name).time(runs),
};
document.getElementById('out')!.textContent = `ready; crossOriginIsolated=${crossOriginIsolated}`;
