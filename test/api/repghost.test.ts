/** The library API on the golden models: load, classify, infer, features, labels, dispose. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { RepGhost, type RepGhostModel } from '../../src/index.js';
import { decodeImageFile } from '../../src/node/decode.js';
import { IMAGENET_CLASSES } from '../../src/api/imagenet-classes.js';
import { maxAbsDiff, sharedPath } from '../helpers/shared.js';
import { expected, goldenInput } from '../onnx/golden-cases.js';

const chelsea = sharedPath('golden', 'preprocess', 'chelsea.png');
const exp = expected('repghostnet_0_5x');
const input = goldenInput();

/** Indices of row 0 of the golden logits, largest first. */
function argsortRow0(key: string, k: number): number[] {
  const row = Array.from((exp.get(key)!.data as Float32Array).subarray(0, 1000));
  return row
    .map((v, i) => [v, i] as const)
    .sort((a, b) => b[0] - a[0])
    .slice(0, k)
    .map(([, i]) => i);
}

describe('RepGhost.load on the official 0.5x training checkpoint', () => {
  let model: RepGhostModel;
  beforeAll(async () => {
    model = await RepGhost.load({
      weights: sharedPath('golden', 'repghostnet_0_5x', 'checkpoint.pth'),
      model: 'repghostnet_0_5x',
      threads: 1,
    });
  });
  afterAll(() => model.dispose());

  it('detects the model, form and classes', () => {
    expect(model.spec.name).toBe('repghostnet_0_5x');
    expect(model.form).toBe('train');
    expect(model.numClasses).toBe(1000);
    expect(model.labels).toBe(IMAGENET_CLASSES);
  });

  const argsortTitle =
    'classify(chelsea.png) is the argsort of the golden logits row 0 (the same image, bicubic), deterministically';
  it(argsortTitle, async () => {
    const top5 = await model.classify(chelsea, { topk: 5 });
    expect(top5.map((p) => p.index)).toEqual(argsortRow0('logits_train', 5));
    expect(top5.map((p) => p.label)).toEqual(top5.map((p) => IMAGENET_CLASSES[p.index]));
    for (let i = 1; i < 5; i++) expect(top5[i]!.probability).toBeLessThanOrEqual(top5[i - 1]!.probability);
    expect(await model.classify(chelsea, { topk: 5 })).toEqual(top5);
    // Decoded pixels and encoded bytes take the same path.
    expect(await model.classify(await decodeImageFile(chelsea))).toEqual(top5);
    expect(await model.classify(new Uint8Array(readFileSync(chelsea)))).toEqual(top5);
  });

  it('infer(batch, n) gives the PyTorch logits', async () => {
    expect(maxAbsDiff(await model.infer(input.data, 2), exp.get('logits_train')!.data as Float32Array)).toBeLessThan(
      1e-4,
    );
  });

  it("features: timm's taps by default, last-per-stride on request, matching PyTorch", async () => {
    const timm = await model.inferFeatures(input.data, 2);
    expect(Object.keys(timm)).toEqual(['conv_stem', 'blocks.1', 'blocks.3', 'blocks.5', 'blocks.7']);
    expect(Object.values(timm).map((t) => t.dims)).toEqual([
      [2, 8, 112, 112],
      [2, 12, 56, 56],
      [2, 20, 28, 28],
      [2, 40, 14, 14],
      [2, 80, 7, 7],
    ]);
    const last = await model.inferFeatures(input.data, 2, { taps: 'last-per-stride' });
    expect(Object.keys(last)).toEqual(['blocks.0', 'blocks.2', 'blocks.4', 'blocks.6', 'blocks.9']);
    for (const [name, t] of [...Object.entries(timm), ...Object.entries(last)]) {
      expect(maxAbsDiff(t.data, exp.get(`features.${name}`)!.data as Float32Array), name).toBeLessThan(1e-4);
    }
    const one = await model.features(chelsea, { taps: ['pre_logits'] });
    expect(one.pre_logits!.dims).toEqual([1, 1280]);
    await expect(model.features(chelsea, { taps: ['blocks.10'] as never })).rejects.toThrow(/unknown feature tap/);
  });
});

describe('RepGhost.load options and errors', () => {
  it('EMA weights from bytes reproduce logits_ema', async () => {
    const bytes = new Uint8Array(readFileSync(sharedPath('golden', 'repghostnet_0_5x', 'checkpoint.pth')));
    const model = await RepGhost.load({ weights: bytes, model: 'repghostnet_0_5x', ema: true, threads: 1 });
    expect(maxAbsDiff(await model.infer(input.data, 2), exp.get('logits_ema')!.data as Float32Array)).toBeLessThan(
      1e-4,
    );
    await model.dispose();
    await expect(model.infer(input.data, 2)).rejects.toThrow(/disposed/);
  });

  it('custom labels for a 10-class head; a wrong count is refused', async () => {
    const weights = sharedPath('golden', 'repghostnet_repid_0_5x', 'model.pth');
    const labels = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
    const model = await RepGhost.load({ weights, model: 'repghostnet_repid_0_5x', labels, threads: 1 });
    const top3 = await model.classify(chelsea, { topk: 3 });
    expect(top3.map((p) => p.label)).toEqual(top3.map((p) => labels[p.index]));
    await model.dispose();
    await expect(RepGhost.load({ weights, model: 'repghostnet_repid_0_5x', labels: ['a', 'b'] })).rejects.toThrow(
      /2 labels for a classifier with 10 classes/,
    );
  });

  it('weights for another model: one line naming the model they fit', async () => {
    const err = await RepGhost.load({
      weights: sharedPath('golden', 'repghostnet_0_5x', 'checkpoint.pth'),
      model: 'repghostnet_1_0x',
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/do not fit repghostnet_1_0x.*set the 'model' option to repghostnet_0_5x/);
    expect((err as Error).message).not.toContain('\n');
  });

  it('a missing weights file', async () => {
    await expect(RepGhost.load({ weights: '/nonexistent/w.pth' })).rejects.toThrow(
      'weights file not found: /nonexistent/w.pth',
    );
  });
});
