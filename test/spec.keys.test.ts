import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildSpec, stateDictKeys, resolveModelName, TIMM_ALIASES, stageStrides } from '../src/spec/index.js';
import { sharedPath } from './helpers/shared.js';

type Keys = Record<
  string,
  { train: [string, number[], string][]; deploy: [string, number[], string][]; deploy_constructor_equal: boolean }
>;
const golden = JSON.parse(readFileSync(sharedPath('golden', 'keys.json'), 'utf8')) as Keys;

describe('state-dict keys equal the official model, both forms', () => {
  for (const [model, forms] of Object.entries(golden)) {
    it(model, () => {
      const spec = buildSpec(model);
      expect(stateDictKeys(spec, 'train')).toEqual(forms.train);
      expect(stateDictKeys(spec, 'deploy')).toEqual(forms.deploy);
    });
  }
  it('covers all 11 official models', () => {
    expect(Object.keys(golden)).toHaveLength(11);
  });
});

describe('names', () => {
  it('accepts timm aliases and pretrained tags', () => {
    for (const [alias, canon] of Object.entries(TIMM_ALIASES)) expect(resolveModelName(alias)).toBe(canon);
    expect(resolveModelName('repghostnet_050.in1k')).toBe('repghostnet_0_5x');
    expect(resolveModelName('repghost.repghostnet_1_0x')).toBe('repghostnet_1_0x');
  });
  it('rejects unknown names with the list of valid ones', () => {
    expect(() => resolveModelName('resnet50')).toThrow(/valid models: repghostnet_0_5x/);
  });
  it('builds any width and a custom head', () => {
    const spec = buildSpec('repghostnet_0_75x', { numClasses: 10 });
    expect(spec.variant.width).toBe(0.75);
    const keys = stateDictKeys(spec, 'train');
    expect(keys.at(-2)).toEqual(['classifier.weight', [10, 1280], 'F32']);
  });
  it('stage strides end at 32', () => {
    expect(stageStrides(buildSpec('repghostnet_1_0x'))).toEqual([2, 4, 4, 8, 8, 16, 16, 32, 32, 32]);
  });
});
