/**
 * The data workers: `worker_threads` that decode and augment images (batch-worker.ts)
 * while the main thread runs training steps, returning float32 images through
 * transferred buffers. A job goes to the worker with the fewest jobs in flight. With 0
 * workers the jobs run in the main thread (same results: a job is a pure function of
 * its files, seeds and settings).
 *
 * From the TypeScript sources (tests, `tsx`), workers load the .ts entry through tsx's
 * loader; from the built package, the compiled .js entry.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { runSampleJob, type SampleJob, type SampleJobResult } from './sample-pipeline.js';

interface Pending {
  resolve: (r: SampleJobResult) => void;
  reject: (e: Error) => void;
}

interface PoolWorker {
  worker: Worker;
  ready: Promise<void>;
  pending: Map<number, Pending>;
}

/** Starts one data worker thread. */
function spawnWorker(): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    // Running from source: register tsx's ESM loader in the worker, then import the entry.
    const tsxApi = pathToFileURL(
      createRequire(here)
        .resolve('tsx/esm/api')
        .replace(/\.cjs$/, '.mjs'),
    ).href;
    const entry = new URL('./batch-worker.ts', here).href;
    return new Worker(
      `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`,
      { eval: true },
    );
  }
  return new Worker(new URL('./batch-worker.js', here));
}

/** A pool of data workers (or the main thread for 0). */
export class SamplePool {
  private readonly workers: PoolWorker[] = [];
  private nextId = 0;
  private failure: Error | null = null;
  private closed = false;

  /** Starts `count` worker threads (0: run jobs in the main thread). */
  constructor(readonly count: number) {
    if (!Number.isInteger(count) || count < 0)
      throw new RangeError(`workers must be a non-negative integer, got ${count}`);
    for (let i = 0; i < count; i++) this.workers.push(this.start(i));
  }

  private start(index: number): PoolWorker {
    const worker = spawnWorker();
    const pending = new Map<number, Pending>();
    let onReady!: () => void;
    let onStartFailure!: (e: Error) => void;
    const ready = new Promise<void>((resolve, reject) => {
      onReady = resolve;
      onStartFailure = reject;
    });
    // Awaited per job; a failed start must not also surface as an unhandled rejection.
    ready.catch(() => {});
    const fail = (e: Error): void => {
      this.failure ??= e;
      onStartFailure(e);
      for (const p of pending.values()) p.reject(e);
      pending.clear();
    };
    worker.on('message', (msg: { ready?: boolean; id?: number; result?: SampleJobResult; error?: string }) => {
      if (msg.ready) {
        onReady();
        return;
      }
      const p = pending.get(msg.id!);
      if (!p) return;
      pending.delete(msg.id!);
      if (msg.error !== undefined) p.reject(new Error(`data worker ${index}: ${msg.error}`));
      else p.resolve(msg.result!);
    });
    worker.on('error', (e) => fail(new Error(`data worker ${index} failed: ${e.message}`)));
    worker.on('exit', (code) => {
      if (!this.closed) fail(new Error(`data worker ${index} exited with code ${code}`));
    });
    return { worker, ready, pending };
  }

  /** Runs a job on the least busy worker (or in this thread). */
  async run(job: SampleJob): Promise<SampleJobResult> {
    if (this.closed) throw new Error('the data worker pool is closed');
    if (this.failure) throw this.failure;
    if (!this.workers.length) return runSampleJob(job);
    const w = this.workers.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
    const id = this.nextId++;
    const result = new Promise<SampleJobResult>((resolve, reject) => w.pending.set(id, { resolve, reject }));
    result.catch(() => {}); // rejected by a failing worker before this caller awaits it
    await w.ready;
    w.worker.postMessage({ id, job });
    return result;
  }

  /** Stops the workers; jobs still in flight are rejected. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const stopped = new Error('the data worker pool was closed');
    for (const w of this.workers) {
      for (const p of w.pending.values()) p.reject(stopped);
      w.pending.clear();
    }
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}
