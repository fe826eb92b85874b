/**
 * A quick pass of the fuzzer (fuzz/README.md) inside the test suite: a couple of hundred
 * seeded mutations per format on small seeds, every format at once in its own worker
 * process, with the same watchdog, crash classification and memory bounds as
 * `npm run fuzz`. Deterministic: the same seed gives the same cases, so a failure here
 * reproduces with `npm run fuzz -- --quick --format <f> --replay <index>`.
 */
import { describe, expect, it } from 'vitest';
import { FORMAT_NAMES } from '../../fuzz/lib/formats/index.js';
import { findingsList } from '../../fuzz/lib/report.js';
import { runFuzz } from '../../fuzz/lib/runner.js';

const CASES = 200;

describe('quick fuzz', () => {
  it(`${CASES} cases per format: no crashes, no hangs, memory within bounds`, async () => {
    const report = await runFuzz({
      formats: [...FORMAT_NAMES],
      cases: CASES,
      seconds: 60,
      seed: 7,
      jobs: 1,
      quick: true,
      parallel: true,
      findingsDir: null,
    });
    expect(findingsList(report)).toBe('');
    for (const f of report.formats) {
      expect(f.cases, f.format).toBe(CASES);
      expect(f.crashes, f.format).toBe(0);
      expect(f.hangs, f.format).toBe(0);
      expect(f.memoryViolations, f.format).toBe(0);
      expect(f.fuzzerErrors, f.format).toBe(0);
      expect(f.peak.worstGrowthToBound, f.format).toBeLessThanOrEqual(1);
      // The mutations must reach past the first checks: some cases parse, most are refused.
      expect(f.cleanErrors, f.format).toBeGreaterThan(CASES / 4);
    }
    // The pickle cases must reach the unpickler (not stop at the zip layer).
    const pickle = report.formats.find((f) => f.format === 'pickle')!;
    const unpicklerErrors = pickle.errorKinds.filter(([k]) => k.includes('pickle: ')).reduce((n, [, c]) => n + c, 0);
    expect(unpicklerErrors).toBeGreaterThan(CASES / 3);
  });
});
