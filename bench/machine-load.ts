/**
 * How busy the machine is, for benchmarks on a shared host. The 1-minute load average lags by
 * minutes; /proc/stat over a few seconds says what other processes are doing now. Time spent at
 * a positive nice level is counted apart: our runs (nice 0) preempt most of it.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';

/** CPU use of the whole machine over a window, in cores (0..cores). */
export interface CpuUse {
  normal: number;
  niced: number;
  window_s: number;
}

function jiffies(): { normal: number; niced: number; total: number } | null {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = cpu;
    return {
      normal: user + system + irq + softirq + steal,
      niced: nice,
      total: user + nice + system + idle + iowait + irq + softirq + steal,
    };
  } catch {
    return null; // not Linux
  }
}

/** Cores busy with normal-priority and with niced work over `seconds`. */
export async function cpuUse(seconds = 3): Promise<CpuUse | null> {
  const a = jiffies();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const b = jiffies();
  if (!a || !b || b.total === a.total) return null;
  const cores = availableParallelism();
  const f = (x: number): number => Math.round((x * cores * 100) / (b.total - a.total)) / 100;
  return { normal: f(b.normal - a.normal), niced: f(b.niced - a.niced), window_s: seconds };
}

/** What a run records about the machine when it starts. */
export interface LoadAtStart {
  load1: number;
  busy_cores: number | null;
  niced_cores: number | null;
  waited_s: number;
}

/**
 * Waits (up to `maxWaitS`) until other normal-priority processes use at most `maxBusyCores`
 * cores; returns what the machine looked like when the run was let go.
 */
export async function settle(maxBusyCores: number, maxWaitS: number): Promise<LoadAtStart> {
  const t0 = Date.now();
  for (;;) {
    const use = await cpuUse(3);
    const waited = (Date.now() - t0) / 1000;
    if (!use || use.normal <= maxBusyCores || waited >= maxWaitS) {
      return {
        load1: loadavg()[0]!,
        busy_cores: use?.normal ?? null,
        niced_cores: use?.niced ?? null,
        waited_s: Math.round(waited),
      };
    }
  }
}
