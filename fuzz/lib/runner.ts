/**
 * The fuzz driver: for each format, forks `jobs` worker processes (fuzz/lib/child.ts),
 * hands them case indices 0..cases-1 until the count or the time budget runs out, and
 * aggregates verdicts, memory and timings. A watchdog kills a worker whose case runs
 * longer than `hangMs` of CPU time (wall time alone would blame a loaded machine: other
 * test suites share these cores), with a hard wall-clock cap as a backstop, and records
 * a hang. A worker that dies mid-case (abort, out-of-memory, segfault) is a crash.
 * Either way a fresh worker takes over and, if `findingsDir` is set, writes the
 * offending input there (cases are reproducible from their index alone).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { FromChild, ToChild, CaseMemory } from './child.js';
import { FORMATS, type FormatName } from './formats/index.js';
import { repoRoot } from './seeds.js';

/** Options of {@link runFuzz}. */
export interface FuzzOptions {
  formats: FormatName[];
  /** Cases per format (upper bound). */
  cases: number;
  /** Time budget per format in seconds (upper bound). */
  seconds: number;
  /** Master seed: the same seed and index give the same input. */
  seed: number;
  /** Worker processes per format. */
  jobs: number;
  /** CPU time after which a case is a hang (default 2000 ms). */
  hangMs?: number;
  /** Use only small seeds (for the test suite). */
  quick?: boolean;
  /** Where to write inputs of crashes, hangs and memory violations (null: do not write). */
  findingsDir?: string | null;
  /** Run all formats at once instead of one after another. */
  parallel?: boolean;
  /** Called with each format's results as soon as it is done (e.g. to save them). */
  onFormat?: (result: FormatResult) => void;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

/** A crash, hang or memory violation, with what is needed to reproduce it. */
export interface Finding {
  /** `fuzzer`: the fuzzer itself failed to generate the case (a bug here, not in a parser). */
  kind: 'crash' | 'hang' | 'memory' | 'fuzzer';
  index: number;
  message: string;
  seed?: string;
  notes?: string[];
  stack?: string;
  inputBytes?: number;
  /** The input, written under findingsDir. */
  file?: string;
}

/** Aggregated results of one format. */
export interface FormatResult {
  format: FormatName;
  description: string;
  seeds: { name: string; bytes: number }[];
  cases: number;
  accepted: number;
  cleanErrors: number;
  crashes: number;
  hangs: number;
  memoryViolations: number;
  /** Cases the fuzzer failed to generate (must be 0; not counted in `cases`). */
  fuzzerErrors: number;
  /** Process-wide peaks over all workers (MiB) and the largest single-case growths (MiB). */
  peak: {
    rssMiB: number;
    heapUsedMiB: number;
    arrayBuffersMiB: number;
    caseArrayBuffersGrowthMiB: number;
    caseRssGrowthMiB: number;
    /** Largest (arrayBuffers growth / allowed bound) over all cases: must stay <= 1. */
    worstGrowthToBound: number;
  };
  slowestCaseMs: number;
  seconds: number;
  casesPerSecond: number;
  stoppedBy: 'cases' | 'time';
  /** Clean-error messages folded into kinds, with counts (most frequent first). */
  errorKinds: [string, number][];
  findings: Finding[];
}

/** Everything one run produced. */
export interface FuzzReport {
  seed: number;
  casesPerFormat: number;
  secondsPerFormat: number;
  jobs: number;
  hangMs: number;
  quick: boolean;
  node: string;
  date: string;
  formats: FormatResult[];
}

const CHILD = path.join(repoRoot, 'fuzz', 'lib', 'child.ts');
const MiB = 1024 * 1024;
/** RSS also holds code, heap and allocator slack: peaks may exceed the arrayBuffers bound by this much. */
const RSS_SLACK = 256 * MiB;
const MAX_FINDINGS = 50;

/** CPU time (user + system) of a process in ms, from /proc; null where /proc is unavailable. */
function cpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in USER_HZ (100)
  } catch {
    return null;
  }
}

interface Busy {
  index: number;
  sentAt: number;
  startedAt?: number;
  cpuAtStart?: number | null;
}

/** One worker process and what it is doing. */
class Worker {
  proc: ChildProcess;
  busy: Busy | null = null;
  ready: Promise<{ name: string; bytes: number }[]>;
  stderrTail = '';
  exited = false;
  /** Set when the driver gave up on this worker (hang): late messages from it are ignored. */
  retired = false;
  private onMessage: ((m: FromChild) => void) | null = null;

  constructor(format: FormatName, seed: number, quick: boolean) {
    this.proc = fork(CHILD, [], {
      cwd: repoRoot,
      execArgv: ['--import', 'tsx', '--expose-gc', '--max-old-space-size=3072'],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    this.proc.stderr!.on('data', (d: Buffer) => {
      this.stderrTail = (this.stderrTail + d.toString()).slice(-2000);
    });
    this.proc.on('exit', () => {
      this.exited = true;
    });
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`fuzz worker for ${format} did not start within 120 s: ${this.stderrTail}`)),
        120_000,
      );
      this.proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`fuzz worker for ${format} exited during start (${code ?? signal}): ${this.stderrTail}`));
      });
      this.proc.on('message', (m: FromChild) => {
        if (m.type === 'ready') {
          clearTimeout(timer);
          resolve(m.seeds);
        } else if (m.type === 'init-failed') {
          clearTimeout(timer);
          reject(new Error(m.message));
        } else this.onMessage?.(m);
      });
    });
    this.send({ type: 'init', format, seed, quick });
  }

  listen(f: (m: FromChild) => void): void {
    this.onMessage = f;
  }
  send(m: ToChild): void {
    if (!this.exited) this.proc.send(m);
  }
  kill(): void {
    this.retired = true;
    if (!this.exited) this.proc.kill('SIGKILL');
  }
  stop(): void {
    if (!this.exited) this.proc.disconnect();
  }
}

/** Runs one format to completion and aggregates its results. */
async function runFormat(format: FormatName, opts: FuzzOptions): Promise<FormatResult> {
  const hangMs = opts.hangMs ?? 2000;
  const quick = opts.quick ?? false;
  const log = opts.log ?? (() => {});
  const res: FormatResult = {
    format,
    description: FORMATS[format].description,
    seeds: [],
    cases: 0,
    accepted: 0,
    cleanErrors: 0,
    crashes: 0,
    hangs: 0,
    memoryViolations: 0,
    fuzzerErrors: 0,
    peak: {
      rssMiB: 0,
      heapUsedMiB: 0,
      arrayBuffersMiB: 0,
      caseArrayBuffersGrowthMiB: 0,
      caseRssGrowthMiB: 0,
      worstGrowthToBound: 0,
    },
    slowestCaseMs: 0,
    seconds: 0,
    casesPerSecond: 0,
    stoppedBy: 'cases',
    errorKinds: [],
    findings: [],
  };
  const kinds = new Map<string, number>();
  const outcomeOf = new Map<number, 'accepted' | 'error' | 'crash'>();
  const t0 = performance.now();
  let next = 0;
  let lastLog = t0;
  const dumpQueue: { index: number; finding: Finding }[] = [];

  const addFinding = (f: Finding): void => {
    log(`${format}: ${f.kind} at case ${f.index}: ${f.message.slice(0, 300)}`);
    if (res.findings.length < MAX_FINDINGS) res.findings.push(f);
    if (opts.findingsDir && f.index >= 0 && f.kind !== 'fuzzer' && res.findings.includes(f)) {
      f.file = path.join(opts.findingsDir, `${format}-${f.kind}-${f.index}.bin`);
      dumpQueue.push({ index: f.index, finding: f });
    }
  };
  const countAs = (index: number, outcome: 'accepted' | 'error' | 'crash'): void => {
    const before = outcomeOf.get(index);
    if (before === outcome) return;
    if (before === 'accepted') res.accepted--;
    else if (before === 'error') res.cleanErrors--;
    else if (before === 'crash') res.crashes--;
    else res.cases++;
    outcomeOf.set(index, outcome);
    if (outcome === 'accepted') res.accepted++;
    else if (outcome === 'error') res.cleanErrors++;
    else res.crashes++;
  };
  const noteMemory = (m: CaseMemory, index: number, seed: string, notes: string[], inputBytes: number): void => {
    const p = res.peak;
    p.rssMiB = Math.max(p.rssMiB, m.maxRss / MiB);
    p.heapUsedMiB = Math.max(p.heapUsedMiB, m.heapUsed / MiB);
    p.arrayBuffersMiB = Math.max(p.arrayBuffersMiB, m.arrayBuffers / MiB);
    p.caseArrayBuffersGrowthMiB = Math.max(p.caseArrayBuffersGrowthMiB, m.arrayBuffersGrowth / MiB);
    p.caseRssGrowthMiB = Math.max(p.caseRssGrowthMiB, m.peakRssGrowth / MiB);
    p.worstGrowthToBound = Math.max(p.worstGrowthToBound, m.arrayBuffersGrowth / m.bound);
    if (m.arrayBuffersGrowth > m.bound || m.peakRssGrowth > m.bound + RSS_SLACK) {
      res.memoryViolations++;
      addFinding({
        kind: 'memory',
        index,
        seed,
        notes,
        inputBytes,
        message:
          `arrayBuffers +${(m.arrayBuffersGrowth / MiB).toFixed(1)} MiB, peak RSS ` +
          `+${(m.peakRssGrowth / MiB).toFixed(1)} MiB for a ${inputBytes}-byte input (bound ` +
          `${(m.bound / MiB).toFixed(1)} MiB)`,
      });
    }
  };

  const workers: Worker[] = [];
  const more = (): boolean => next < opts.cases && (performance.now() - t0) / 1000 < opts.seconds;

  await new Promise<void>((resolveAll, rejectAll) => {
    let settled = false;
    const finish = (err?: Error): void => {
      if (settled) return;
      if (err) {
        settled = true;
        clearInterval(watchdog);
        workers.forEach((w) => w.kill());
        rejectAll(err);
        return;
      }
      if (workers.some((w) => w.busy) || dumpQueue.length) return;
      settled = true;
      clearInterval(watchdog);
      workers.forEach((w) => w.stop());
      resolveAll();
    };
    const dispatch = (w: Worker): void => {
      // Dumps first: they need a live worker and must happen before the run ends.
      const d = dumpQueue.shift();
      if (d) {
        w.busy = { index: -1, sentAt: performance.now() };
        w.send({ type: 'dump', index: d.index, file: d.finding.file! });
        return;
      }
      if (!more()) {
        if (next < opts.cases) res.stoppedBy = 'time';
        finish();
        return;
      }
      const index = next++;
      w.busy = { index, sentAt: performance.now() };
      w.send({ type: 'case', index });
    };
    const replace = (old: Worker): void => {
      const i = workers.indexOf(old);
      const w = start();
      workers[i] = w;
    };
    const start = (): Worker => {
      const w = new Worker(format, opts.seed, quick);
      w.listen((m) => {
        if (w.retired) return; // a result racing the watchdog's kill: the case already counts as a hang
        if (m.type === 'start') {
          if (w.busy) {
            w.busy.startedAt = performance.now();
            w.busy.cpuAtStart = cpuMs(w.proc.pid!);
          }
        } else if (m.type === 'result') {
          w.busy = null;
          res.slowestCaseMs = Math.max(res.slowestCaseMs, m.ms);
          const v = m.verdict;
          countAs(m.index, v.outcome);
          if (v.outcome === 'error') kinds.set(v.kind, (kinds.get(v.kind) ?? 0) + 1);
          if (v.outcome === 'crash')
            addFinding({
              kind: 'crash',
              index: m.index,
              message: v.message,
              stack: v.stack,
              seed: m.seed,
              notes: m.notes,
              inputBytes: m.inputBytes,
            });
          noteMemory(m.memory, m.index, m.seed, m.notes, m.inputBytes);
          const now = performance.now();
          if (now - lastLog > 5000) {
            lastLog = now;
            log(
              `${format}: ${res.cases} cases, ${res.crashes} crashes, ${res.hangs} hangs, ` +
                `${res.memoryViolations} memory, ${((now - t0) / 1000).toFixed(0)} s`,
            );
          }
          dispatch(w);
        } else if (m.type === 'dumped') {
          w.busy = null;
          dispatch(w);
        } else if (m.type === 'fuzzer-error') {
          // Loud (reported, fails the run) but not fatal: the other cases still count.
          w.busy = null;
          res.fuzzerErrors++;
          addFinding({
            kind: 'fuzzer',
            index: m.index,
            message: `the fuzzer failed to generate this case: ${m.message}`,
          });
          dispatch(w);
        } else if (m.type === 'async-crash') {
          const index = w.busy?.index ?? -1;
          if (index >= 0) countAs(index, 'crash');
          addFinding({ kind: 'crash', index, message: `escaped asynchronously: ${m.message}`, stack: m.stack });
        }
      });
      w.proc.on('exit', (code, signal) => {
        if (settled || !w.busy) return;
        const { index } = w.busy;
        w.busy = null;
        if (index >= 0) {
          countAs(index, 'crash');
          addFinding({
            kind: 'crash',
            index,
            message:
              `worker died (${signal ?? `exit ${code}`}): ` + w.stderrTail.trim().split('\n').slice(-3).join(' | '),
          });
        }
        replace(w);
      });
      w.ready.then(
        (seeds) => {
          if (!res.seeds.length) res.seeds = seeds;
          dispatch(w);
        },
        (e: unknown) => finish(e instanceof Error ? e : new Error(String(e))),
      );
      return w;
    };
    const watchdog = setInterval(() => {
      const now = performance.now();
      for (const w of [...workers]) {
        const b = w.busy;
        if (!b || b.index < 0) continue;
        // Generating a case takes milliseconds; a worker silent for a minute is stuck somewhere: treat it as a hang.
        if (b.startedAt === undefined && now - b.sentAt < 60_000) continue;
        const wall = now - (b.startedAt ?? b.sentAt);
        if (wall < hangMs) continue;
        const cpu = b.cpuAtStart == null ? null : (cpuMs(w.proc.pid!) ?? 0) - b.cpuAtStart;
        // slow because the machine is busy, not stuck
        if (b.startedAt !== undefined && cpu !== null && cpu < hangMs && wall < 15 * hangMs) continue;
        w.busy = null;
        res.hangs++;
        res.cases++;
        outcomeOf.set(b.index, 'crash');
        addFinding({
          kind: 'hang',
          index: b.index,
          message:
            `no result after ${(wall / 1000).toFixed(1)} s wall` +
            (cpu === null ? '' : `, ${(cpu / 1000).toFixed(1)} s CPU`),
        });
        w.kill();
        replace(w);
      }
    }, 100);
    for (let i = 0; i < opts.jobs; i++) workers.push(start());
  });

  res.seconds = (performance.now() - t0) / 1000;
  res.casesPerSecond = res.cases / res.seconds;
  res.errorKinds = [...kinds].sort((a, b) => b[1] - a[1]).slice(0, 40);
  const p = res.peak;
  for (const k of Object.keys(p) as (keyof typeof p)[]) p[k] = Math.round(p[k] * 100) / 100;
  res.seconds = Math.round(res.seconds * 10) / 10;
  res.casesPerSecond = Math.round(res.casesPerSecond * 10) / 10;
  res.slowestCaseMs = Math.round(res.slowestCaseMs);
  return res;
}

/**
 * Runs the fuzzer over the given formats (each with `jobs` workers): one after another,
 * so each format's peak memory is its own, or all at once with `parallel` (the test suite).
 */
export async function runFuzz(opts: FuzzOptions): Promise<FuzzReport> {
  const one = async (f: FormatName): Promise<FormatResult> => {
    opts.log?.(`${f}: starting (${opts.cases} cases or ${opts.seconds} s, ${opts.jobs} workers)`);
    const r = await runFormat(f, opts);
    opts.onFormat?.(r);
    return r;
  };
  const formats: FormatResult[] = [];
  if (opts.parallel) formats.push(...(await Promise.all(opts.formats.map(one))));
  else for (const f of opts.formats) formats.push(await one(f));
  return {
    seed: opts.seed,
    casesPerFormat: opts.cases,
    secondsPerFormat: opts.seconds,
    jobs: opts.jobs,
    hangMs: opts.hangMs ?? 2000,
    quick: opts.quick ?? false,
    node: process.version,
    date: new Date().toISOString(),
    formats,
  };
}
