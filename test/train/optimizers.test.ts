/**
 * Optimizers against hand-computed torch steps (AdamW, momentum and Nesterov SGD), timm's
 * parameter groups (frozen parameters, weight decay 0), and the AdamW state through a
 * checkpoint in torch's state_dict layout.
 */
import { describe, expect, it } from 'vitest';
import { buildSpec } from '../../src/spec/index.js';
import { AdamW } from '../../src/train/adamw.js';
import { decodeCheckpoint, encodeCheckpoint, type TrainingCheckpoint } from '../../src/train/checkpoint.js';
import { createOptimizer } from '../../src/train/create-optimizer.js';
import { paramLayouts, type ParamLayout } from '../../src/train/layout.js';
import { timmParamGroups, type AdamWParamState } from '../../src/train/optimizer.js';
import { Rng } from '../../src/train/rng.js';
import { Sgd } from '../../src/train/sgd.js';
import { bnNames, floatStateToStateDict, type FloatState } from '../../src/train/state.js';
import { readPth } from '../../src/weights/pth.js';
import type { Tensor } from '../../src/weights/tensor.js';

/** A 2-element weight (decayed) and a 1-element bias (not decayed). */
const W: ParamLayout = {
  key: 'fc.weight',
  kind: 'matrix',
  torchShape: [1, 2],
  tfShape: [2, 1],
  perm: [1, 0],
  decay: true,
};
const B: ParamLayout = { key: 'fc.bias', kind: 'vector', torchShape: [1], tfShape: [1], perm: [0], decay: false };

function run(
  opt: { step: AdamW['step'] },
  lr: number,
  params: Record<string, Float32Array>,
  grads: Record<string, number[]>[],
): void {
  for (const g of grads)
    opt.step(
      lr,
      (k) => params[k]!,
      (k) => Float32Array.from(g[k]!),
    );
}

describe('AdamW (torch.optim.AdamW 1.13 semantics)', () => {
  it('matches a hand-computed two-step example, decoupled decay on the weight only', () => {
    // lr 0.1, weight_decay 0.01, betas (0.9, 0.999), eps 1e-8. Worked by the torch formula:
    // step 1, weight: p = [1, -2] * (1 - 0.001) = [0.999, -1.998]; m = 0.1 g = [0.05, -0.1];
    //   v = 0.001 g^2 = [0.00025, 0.001]; denom = sqrt(v) / sqrt(0.001) + 1e-8 = [0.5, 1] + 1e-8;
    //   p -= (0.1 / 0.1) * m / denom -> [0.899000002, -1.898000001]
    // step 2, g = [0.2, 0.4]: m = [0.065, -0.05], v = [0.00028975, 0.001159],
    //   bias corrections 0.19 and 0.001999 -> [0.8082434839, -1.8615414167]
    // bias (no decay), g = 1 then -1 from 0.3: 0.200000001, then 0.2052631588
    const opt = new AdamW([W, B], { betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 });
    const params = { 'fc.weight': Float32Array.of(1, -2), 'fc.bias': Float32Array.of(0.3) };
    run(opt, 0.1, params, [{ 'fc.weight': [0.5, -1], 'fc.bias': [1] }]);
    expect(params['fc.weight'][0]).toBeCloseTo(0.899000002, 6);
    expect(params['fc.weight'][1]).toBeCloseTo(-1.898000001, 6);
    expect(params['fc.bias'][0]).toBeCloseTo(0.200000001, 6);
    run(opt, 0.1, params, [{ 'fc.weight': [0.2, 0.4], 'fc.bias': [-1] }]);
    expect(params['fc.weight'][0]).toBeCloseTo(0.8082434839, 6);
    expect(params['fc.weight'][1]).toBeCloseTo(-1.8615414167, 6);
    expect(params['fc.bias'][0]).toBeCloseTo(0.2052631588, 6);
    const m = opt.moment('fc.weight')!;
    expect(m.step).toBe(2);
    expect(m.expAvg[0]).toBeCloseTo(0.065, 7);
    expect(m.expAvgSq[1]).toBeCloseTo(0.001159, 9);
  });

  it("keeps torch's state_dict layout: state {step, exp_avg, exp_avg_sq}, groups with betas and eps", () => {
    const opt = new AdamW([W, B], { betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0.05 });
    run(opt, 0.01, { 'fc.weight': Float32Array.of(1, 2), 'fc.bias': Float32Array.of(0) }, [
      { 'fc.weight': [1, 1], 'fc.bias': [1] },
    ]);
    const sd = opt.stateDict(0.01);
    // Group 0 is the no-decay group (the bias), group 1 the weight: torch numbers them 0, 1.
    expect(sd.param_groups.map((g) => [g.weight_decay, g.params])).toEqual([
      [0, [0]],
      [0.05, [1]],
    ]);
    expect(Object.keys(sd.param_groups[0]!)).toEqual([
      'weight_decay',
      'lr',
      'betas',
      'eps',
      'amsgrad',
      'foreach',
      'maximize',
      'capturable',
      'params',
    ]);
    expect(sd.param_groups[1]!.betas).toEqual([0.8, 0.99]);
    expect(Object.keys(sd.state.get(1)!)).toEqual(['step', 'exp_avg', 'exp_avg_sq']);
    const copy = new AdamW([W, B], { betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0.05 });
    copy.loadStateDict(sd);
    expect(copy.moment('fc.weight')).toEqual(opt.moment('fc.weight'));
    expect(() => new Sgd([W, B], { momentum: 0.9, weightDecay: 0.05, nesterov: true }).loadStateDict(sd)).toThrow(
      /not written by SGD/,
    );
  });
});

describe('SGD', () => {
  it('--opt momentum is plain momentum; --opt sgd is Nesterov (hand-computed)', () => {
    // p = 1, wd 0.01, m 0.9, lr 0.1; g = 0.5 then 0.2.
    // momentum: d = 0.51, buf = 0.51, p = 0.949; d = 0.20949, buf = 0.66849, p = 0.882151
    // nesterov: p = 1 - 0.1 (0.51 + 0.459) = 0.9031; d = 0.209031, buf = 0.668031, p = 0.82207411
    const expected = { momentum: [0.949, 0.882151], sgd: [0.9031, 0.82207411] } as const;
    for (const opt of ['momentum', 'sgd'] as const) {
      const o = createOptimizer(
        { opt, momentum: 0.9, weightDecay: 0.01, optEps: 1e-8, optBetas: [0.9, 0.999] },
        [W],
        () => true,
      );
      const params = { 'fc.weight': Float32Array.of(1, 1) };
      run(o, 0.1, params, [{ 'fc.weight': [0.5, 0.5] }]);
      expect(params['fc.weight'][0], opt).toBeCloseTo(expected[opt][0], 6);
      run(o, 0.1, params, [{ 'fc.weight': [0.2, 0.2] }]);
      expect(params['fc.weight'][0], opt).toBeCloseTo(expected[opt][1], 6);
    }
  });
});

describe('timm parameter groups', () => {
  const spec = buildSpec('repghostnet_0_5x', { numClasses: 10 });
  const layouts = paramLayouts(spec);

  it('leave frozen parameters out of both weight-decay groups', () => {
    const frozen = (k: string): boolean => k.startsWith('conv_stem.') || k.startsWith('bn1.');
    const groups = timmParamGroups(layouts, 1e-5, (k) => !frozen(k));
    const keys = groups.flatMap((g) => g.params.map((p) => p.key));
    expect(keys.some(frozen)).toBe(false);
    expect(keys.length).toBe(layouts.length - 3); // conv_stem.weight, bn1.weight, bn1.bias
    expect(groups[0]!.params.every((p) => !p.decay)).toBe(true);
    expect(groups[1]!.params.every((p) => p.decay)).toBe(true);
  });

  it('are one group in model order with weight decay 0 (timm passes model.parameters())', () => {
    const groups = timmParamGroups(layouts, 0, () => false);
    expect(groups.length).toBe(1);
    expect(groups[0]!.params.map((p) => p.key)).toEqual(layouts.map((p) => p.key));
  });
});

describe('AdamW state through a checkpoint', () => {
  it('round-trips exactly and is written in torch layout (step as a float32 0-dim tensor)', () => {
    const spec = buildSpec('repghostnet_0_5x', { numClasses: 10 });
    const layouts = paramLayouts(spec);
    const frozen = new Set(layouts.filter((p) => p.key.startsWith('blocks.0.')).map((p) => p.key));
    const opt = new AdamW(layouts, {
      betas: [0.9, 0.999],
      eps: 1e-8,
      weightDecay: 0.05,
      trainable: (k) => !frozen.has(k),
    });
    const rng = new Rng(4);
    const state: FloatState = new Map();
    for (const p of layouts)
      state.set(
        p.key,
        Float32Array.from({ length: p.tfShape.reduce((a, b) => a * b, 1) }, () => rng.uniform() - 0.5),
      );
    for (const bn of bnNames(spec)) {
      const c = state.get(`${bn}.weight`)!.length;
      state.set(`${bn}.running_mean`, new Float32Array(c));
      state.set(`${bn}.running_var`, new Float32Array(c).fill(1));
    }
    const grad = (k: string): Float32Array => state.get(k)!.map(() => rng.uniform() - 0.5);
    for (let s = 0; s < 2; s++) opt.step(1e-3, (k) => state.get(k)!, grad);
    const ck: TrainingCheckpoint<AdamWParamState> = {
      epoch: 1,
      arch: spec.name,
      stateDict: floatStateToStateDict(spec, state, () => 2n),
      emaStateDict: null,
      optimizer: opt.stateDict(1e-3),
      args: { opt: 'adamw' },
      metric: null,
      extras: { rng: rng.state(), bestMetric: null, bestEpoch: null, history: [], classes: ['a', 'b'] },
    };
    const bytes = encodeCheckpoint(spec, ck, opt.order);
    const back = decodeCheckpoint<AdamWParamState>(spec, bytes, 'ck', opt.order);
    expect(back.extras.classes).toEqual(['a', 'b']);
    expect(back.optimizer.param_groups).toEqual(ck.optimizer.param_groups);
    expect([...back.optimizer.state.keys()]).toEqual([...ck.optimizer.state.keys()]);
    expect(back.optimizer.state.size).toBe(layouts.length - frozen.size);
    for (const [i, e] of ck.optimizer.state) {
      const b = back.optimizer.state.get(i)!;
      expect(b.step).toBe(2);
      expect(Array.from(b.exp_avg), `exp_avg ${i}`).toEqual(Array.from(e.exp_avg));
      expect(Array.from(b.exp_avg_sq), `exp_avg_sq ${i}`).toEqual(Array.from(e.exp_avg_sq));
    }
    const restored = new AdamW(layouts, {
      betas: [0.9, 0.999],
      eps: 1e-8,
      weightDecay: 0.05,
      trainable: (k) => !frozen.has(k),
    });
    restored.loadStateDict(back.optimizer);
    const key = opt.order[opt.order.length - 1]!.key;
    expect(Array.from(restored.moment(key)!.expAvgSq)).toEqual(Array.from(opt.moment(key)!.expAvgSq));
    // What torch.load sees: a 0-dim float32 step, exp_avg in PyTorch's conv layout, betas a tuple.
    const root = readPth(bytes) as Map<string, unknown>;
    const optimizer = root.get('optimizer') as Map<string, unknown>;
    const st = optimizer.get('state') as Map<number, Map<string, Tensor>>;
    const nNoDecay = opt.stateDict(0).param_groups[0]!.params.length;
    const first = st.get(nNoDecay)!; // the first decayed parameter: conv_stem.weight
    expect([...first.keys()]).toEqual(['step', 'exp_avg', 'exp_avg_sq']);
    expect([first.get('step')!.dtype, first.get('step')!.shape]).toEqual(['F32', []]);
    expect(first.get('exp_avg')!.shape).toEqual(opt.order[nNoDecay]!.torchShape);
    expect(opt.order[nNoDecay]!.key).toBe('conv_stem.weight');
    expect(first.get('exp_avg')!.shape).toEqual([8, 3, 3, 3]);
    expect(opt.order.some((p) => p.key.startsWith('blocks.0.'))).toBe(false);
    const groups = optimizer.get('param_groups') as Map<string, unknown>[];
    expect(
      (groups[1]!.get('betas') as ({ value: number } | number)[]).map((b) => (typeof b === 'number' ? b : b.value)),
    ).toEqual([0.9, 0.999]);
  });
});
