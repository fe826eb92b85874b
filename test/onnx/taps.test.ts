import { describe, expect, it } from 'vitest';
import { allTaps, checkTaps, lastPerStrideTaps, timmFeatureTaps } from '../../src/onnx/taps.js';
import { buildSpec } from '../../src/spec/model-spec.js';
import { OFFICIAL_VARIANTS } from '../../src/spec/variants.js';

describe('feature taps', () => {
  it.each(Object.keys(OFFICIAL_VARIANTS))('%s: timm taps at strides 2..32 and last-per-stride taps', (name) => {
    const spec = buildSpec(name);
    const stride = new Map(allTaps(spec).map((t) => [t.name, t.stride]));
    expect(timmFeatureTaps(spec)).toEqual(['conv_stem', 'blocks.1', 'blocks.3', 'blocks.5', 'blocks.7']);
    expect(lastPerStrideTaps(spec)).toEqual(['blocks.0', 'blocks.2', 'blocks.4', 'blocks.6', 'blocks.9']);
    expect(timmFeatureTaps(spec).map((t) => stride.get(t))).toEqual([2, 4, 8, 16, 32]);
    expect(lastPerStrideTaps(spec).map((t) => stride.get(t))).toEqual([2, 4, 8, 16, 32]);
  });

  it('channels follow the width', () => {
    const taps = new Map(allTaps(buildSpec('repghostnet_1_0x')).map((t) => [t.name, t.channels]));
    expect([taps.get('conv_stem'), taps.get('blocks.1'), taps.get('blocks.9'), taps.get('pre_logits')]).toEqual([
      16, 24, 960, 1280,
    ]);
  });

  it('rejects unknown names, listing the valid ones', () => {
    expect(() => checkTaps(buildSpec('repghostnet_0_5x'), ['blocks.1', 'stem'])).toThrow(
      /unknown feature tap 'stem'; valid taps: conv_stem, act1, blocks.0/,
    );
  });
});
