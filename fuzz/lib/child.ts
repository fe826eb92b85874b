/**
 * A fuzz worker process. The parent forks it per format; it loads that format's seeds
 * once, then for each case index it regenerates the mutated input (deterministically:
 * the rng is seeded by seed/format/index), runs the parser, classifies the outcome and
 * measures memory around the call. It runs in its own process so that a hang can be
 * killed, and a native abort (sharp/libvips) or an out-of-memory death only takes this
 * process down: the parent sees the exit and records the case as a crash.
 *
 * Run with `--expose-gc` (for a clean baseline before each case) and a bounded heap.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { classify, type Verdict } from './classify.js';
import { FORMATS, type FormatName } from './formats/index.js';
import type { CaseInput, PreparedFormat } from './formats/types.js';
import { caseRng } from './rng.js';

/** Parent -> child. */
export type ToChild =
  | { type: 'init'; format: FormatName; seed: number; quick: boolean }
  | { type: 'case'; index: number }
  | { type: 'dump'; index: number; file: string };

/** Memory around one case, in bytes. */
export interface CaseMemory {
  /** arrayBuffers growth with the parse result still alive. */
  arrayBuffersGrowth: number;
  heapGrowth: number;
  /** How far the process's peak RSS rose above the RSS at the start of the case (0 if the peak did not move). */
  peakRssGrowth: number;
  rss: number;
  /** The process's peak RSS so far. */
  maxRss: number;
  heapUsed: number;
  arrayBuffers: number;
  bound: number;
}

/** Child -> parent. */
export type FromChild =
  | { type: 'ready'; seeds: { name: string; bytes: number }[] }
  | { type: 'init-failed'; message: string }
  | { type: 'start'; index: number }
  | {
      type: 'result';
      index: number;
      verdict: Verdict;
      ms: number;
      inputBytes: number;
      seed: string;
      notes: string[];
      memory: CaseMemory;
    }
  | { type: 'dumped'; index: number; file: string }
  | { type: 'fuzzer-error'; index: number; message: string }
  | { type: 'async-crash'; message: string; stack?: string };

const send = (m: FromChild): void => {
  process.send!(m);
};
/** Sends and waits until the message is written: a synchronous hang right after must not swallow it. */
const sendFlushed = (m: FromChild): Promise<void> =>
  new Promise((resolve) => {
    process.send!(m, undefined, {}, () => resolve());
  });
const gc = (globalThis as { gc?: (opts?: { type: 'minor' | 'major' }) => void }).gc;
/** Above this many array-buffer bytes a case starts with a full GC (a full GC per case would cost ~25 ms). */
const MAJOR_GC_ABOVE = 256 * 1024 * 1024;

let prepared: PreparedFormat | null = null;
let format: FormatName = 'pth';
let seed = 1;

async function runCase(index: number): Promise<void> {
  let input: CaseInput;
  try {
    input = prepared!.mutate(caseRng(seed, format, index));
  } catch (e) {
    // A bug in the fuzzer itself, not in a parser: the parent records a `fuzzer` finding (the run fails).
    send({ type: 'fuzzer-error', index, message: (e as Error).stack ?? String(e) });
    return;
  }
  await sendFlushed({ type: 'start', index });
  // A scavenge frees the previous case's short-lived buffers cheaply; a full GC only when
  // much is still held, so the baseline stays close to the live seeds.
  gc?.({ type: process.memoryUsage().arrayBuffers > MAJOR_GC_ABOVE ? 'major' : 'minor' });
  const m0 = process.memoryUsage();
  const max0 = process.resourceUsage().maxRSS * 1024;
  const t0 = performance.now();
  let result: unknown;
  let verdict: Verdict;
  try {
    result = await prepared!.run(input);
    verdict = { outcome: 'accepted' };
  } catch (e) {
    verdict = classify(e);
  }
  const ms = performance.now() - t0;
  const m1 = process.memoryUsage();
  const max1 = process.resourceUsage().maxRSS * 1024;
  const memory: CaseMemory = {
    arrayBuffersGrowth: m1.arrayBuffers - m0.arrayBuffers,
    heapGrowth: m1.heapUsed - m0.heapUsed,
    // maxRSS only rises; if it rose during this case, the case's own peak was at least this high.
    peakRssGrowth: max1 > max0 ? max1 - m0.rss : 0,
    rss: m1.rss,
    maxRss: max1,
    heapUsed: m1.heapUsed,
    arrayBuffers: m1.arrayBuffers,
    bound: prepared!.memoryBound(input, result),
  };
  send({
    type: 'result',
    index,
    verdict,
    ms,
    inputBytes: input.bytes.length,
    seed: input.seed,
    notes: input.notes,
    memory,
  });
}

process.on('message', (msg: ToChild) => {
  void (async () => {
    switch (msg.type) {
      case 'init':
        try {
          format = msg.format;
          seed = msg.seed;
          prepared = await FORMATS[msg.format].prepare({ quick: msg.quick });
          send({ type: 'ready', seeds: prepared.seeds.map((s) => ({ name: s.name, bytes: s.bytes.length })) });
        } catch (e) {
          send({ type: 'init-failed', message: (e as Error).message });
        }
        return;
      case 'case':
        await runCase(msg.index);
        return;
      case 'dump': {
        const input = prepared!.mutate(caseRng(seed, format, msg.index));
        mkdirSync(path.dirname(msg.file), { recursive: true });
        writeFileSync(msg.file, input.bytes);
        writeFileSync(
          `${msg.file}.json`,
          `${JSON.stringify({ format, seed, index: msg.index, from: input.seed, notes: input.notes }, null, 2)}\n`,
        );
        send({ type: 'dumped', index: msg.index, file: msg.file });
      }
    }
  })();
});

// An exception or rejection that escapes the awaited parse (e.g. from a stream callback)
// is a crash of whatever case is running: report it instead of dying silently.
process.on('uncaughtException', (e) =>
  send({ type: 'async-crash', message: `${e.name}: ${e.message}`, stack: e.stack }),
);
process.on('unhandledRejection', (e) =>
  send({
    type: 'async-crash',
    message: e instanceof Error ? `${e.name}: ${e.message}` : String(e),
    stack: e instanceof Error ? e.stack : undefined,
  }),
);
process.on('disconnect', () => process.exit(0));
