import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { sharedPath } from '../helpers/shared.js';

const slug = (label: string) => label.toLowerCase().replace(/[^a-z]+/g, '-');

describe('repghost demo (the README main command)', () => {
  it('classifies the bundled samples with the shipped model; both forms agree', () => {
    const r = runCli(['demo', '--json', '--runs', '5']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as {
      results: {
        image: string;
        predictions: { label: string; probability: number }[];
        max_abs_train_vs_deploy: number;
      }[];
      latency: { train_ms: number; deploy_ms: number };
    };
    expect(out.results.length).toBeGreaterThanOrEqual(4);
    const right = out.results.filter((x) => x.image.endsWith(`${slug(x.predictions[0]!.label)}.png`)).length;
    expect(right).toBeGreaterThanOrEqual(out.results.length - 2); // files are named by their true label
    for (const x of out.results) {
      expect(x.predictions).toHaveLength(3);
      expect(x.max_abs_train_vs_deploy).toBeLessThan(1e-4);
    }
    expect(out.latency.train_ms).toBeGreaterThan(0);
    expect(out.latency.deploy_ms).toBeGreaterThan(0);
  });
  it('takes your own pictures, and an unreadable one is one line', () => {
    const ok = runCli(['demo', sharedPath('golden', 'preprocess', 'coffee.png'), '--json', '--runs', '2']);
    expect(ok.code, ok.stderr).toBe(0);
    const bad = runCli(['demo', sharedPath('golden', 'keys.json')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/cannot decode image .*keys\.json/);
  });
});
