import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildSpec } from '../src/spec/index.js';
import { countModel, countByStage } from '../src/reparam/count.js';
import { sharedPath } from './helpers/shared.js';

const ref = JSON.parse(readFileSync(sharedPath('reference', 'flops_params.json'), 'utf8')) as {
  models: Record<string, { train: object; deploy: object }>;
};

describe('params/FLOPs equal the official counter exactly', () => {
  for (const [model, forms] of Object.entries(ref.models)) {
    it(model, () => {
      const spec = buildSpec(model);
      expect(countModel(spec, 'train')).toEqual(forms.train);
      expect(countModel(spec, 'deploy')).toEqual(forms.deploy);
    });
  }
  it('reproduces the published table (2.3M/43M ... 9.8M/516M)', () => {
    const row = (m: string) => {
      const c = countModel(buildSpec(m), 'train');
      return `${(c.params / 1e6).toFixed(1)}M/${Math.round(c.flops / 1e6)}M`;
    };
    expect(row('repghostnet_0_5x')).toBe('2.3M/43M');
    expect(row('repghostnet_1_0x')).toBe('4.1M/142M');
    expect(row('repghostnet_2_0x')).toBe('9.8M/516M');
  });
  it('stage rows add up to the totals', () => {
    const spec = buildSpec('repghostnet_1_0x');
    const rows = countByStage(spec, 'deploy');
    const total = countModel(spec, 'deploy');
    expect(rows.reduce((s, r) => s + r.flops, 0)).toBe(total.flops);
    expect(rows.reduce((s, r) => s + r.params, 0)).toBe(total.params);
    expect(rows.map((r) => r.stage)).toEqual(['stem', ...Array.from({ length: 10 }, (_, i) => `blocks.${i}`), 'head']);
  });
});
