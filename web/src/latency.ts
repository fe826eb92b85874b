/**
 * Batch-1 latency measurement shared by the page's benchmark harness and `bench/web.ts`
 * in Node, so every runtime is timed by the same loop on the same input. No DOM, no Node.
 */
import type { OrtEngine } from '../../src/engine/ort-engine.js';
import { median } from '../../src/util/stats.js';

/** Warm-up rule: at least `runs` runs and at least `ms` milliseconds. */
export interface WarmupOptions {
  runs: number;
  /** A fresh wasm module runs on the baseline tier at first; time, not a count, covers that. */
  ms: number;
}

/** Summary of timed runs. */
export interface LatencySummary {
  /** Every timed run in ms, in order. */
  times: number[];
  median: number;
  min: number;
  /** 10th and 90th percentiles (nearest rank). */
  p10: number;
  p90: number;
}

/** Median of a list. */

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/** Median, min and p10/p90 of a list of run times. */
export function summarize(times: readonly number[]): LatencySummary {
  const sorted = [...times].sort((a, b) => a - b);
  return {
    times: [...times],
    median: median(times),
    min: sorted[0]!,
    p10: percentile(sorted, 0.1),
    p90: percentile(sorted, 0.9),
  };
}

/** Deterministic input in [-2, 2) (an LCG: every runtime sees the same numbers). */
export function benchInput(n: number): Float32Array {
  const out = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out[i] = (s / 2 ** 32) * 4 - 2;
  }
  return out;
}

/** An engine with its input, ready to be timed. */
export class LatencyProbe {
  private readonly x: Float32Array;

  constructor(
    private readonly engine: OrtEngine,
    private readonly size: number,
  ) {
    this.x = benchInput(3 * size * size);
  }

  /** Untimed runs until the warm-up rule is met; returns how many ran. */
  async warm(o: WarmupOptions): Promise<number> {
    let n = 0;
    const t0 = performance.now();
    while (n < o.runs || performance.now() - t0 < o.ms) {
      await this.engine.logits(this.x, 1, this.size, this.size);
      n++;
    }
    return n;
  }

  /** `runs` sequential batch-1 inferences, each timed. */
  async time(runs: number): Promise<number[]> {
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      await this.engine.logits(this.x, 1, this.size, this.size);
      times.push(performance.now() - t);
    }
    return times;
  }

  dispose(): Promise<void> {
    return this.engine.dispose();
  }
}
