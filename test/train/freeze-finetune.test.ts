/**
 * Fine-tuning: --freeze-stages (frozen parameters bit-identical after steps, the rest
 * trained, frozen BatchNorm statistics untouched, no optimizer state for frozen
 * parameters) and --initial-checkpoint with another classifier size (everything loaded
 * but the classifier, which is initialized as a new model's; other mismatches refused).
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildSpec } from '../../src/spec/index.js';
import { initTrainingBackend } from '../../src/train/backend.js';
import { createOptimizer } from '../../src/train/create-optimizer.js';
import { evalLogits } from '../../src/train/evaluate.js';
import { frozenParts } from '../../src/train/freeze.js';
import { paramLayouts } from '../../src/train/layout.js';
import { loadInitialWeights, modelFromInitialStateDict } from '../../src/train/initial-weights.js';
import { Rng } from '../../src/train/rng.js';
import { ModelState } from '../../src/train/state.js';
import { trainStep } from '../../src/train/train-step.js';
import { EvalWeights } from '../../src/train/weights.js';
import { readCheckpoint } from '../../src/weights/checkpoint.js';
import { WeightsMismatchError } from '../../src/weights/match.js';
import { toFloat32 } from '../../src/weights/tensor.js';
import { sharedPath, sharedTensors } from '../helpers/shared.js';

beforeAll(async () => {
  await initTrainingBackend({ backend: 'wasm' });
});

const spec = buildSpec('repghostnet_0_5x', { numClasses: 10, dropout: 0 });

describe('--freeze-stages', () => {
  it('selects the stem and the first N stages', () => {
    const layouts = paramLayouts(spec);
    const none = frozenParts(spec, layouts, undefined);
    expect([none.params.size, none.batchNorms.size]).toEqual([0, 0]);
    const stem = frozenParts(spec, layouts, 0);
    expect([...stem.params].sort()).toEqual(['bn1.bias', 'bn1.weight', 'conv_stem.weight']);
    expect([...stem.batchNorms]).toEqual(['bn1']);
    const two = frozenParts(spec, layouts, 2);
    expect([...two.params].every((k) => /^(conv_stem|bn1|blocks\.[01])\./.test(k))).toBe(true);
    expect([...two.params].some((k) => k.startsWith('blocks.1.'))).toBe(true);
    expect([...two.batchNorms].includes('blocks.0.0.ghost1.primary_conv.1')).toBe(true);
    expect(frozenParts(spec, layouts, spec.stages.length).params.size).toBe(
      layouts.filter((p) => p.key.startsWith('blocks.') || /^(conv_stem|bn1)\./.test(p.key)).length,
    );
    expect(() => frozenParts(spec, layouts, spec.stages.length + 1)).toThrow(/the 'freezeStages' option takes 0\.\.10/);
  });

  it('keeps frozen parameters and BatchNorm statistics bit-identical through training steps', () => {
    const model = ModelState.init(spec, new Rng(1));
    const parts = frozenParts(spec, model.layouts, 3);
    model.freeze(parts);
    const optimizer = createOptimizer(
      { opt: 'sgd', momentum: 0.9, weightDecay: 1e-4, optEps: 1e-8, optBetas: [0.9, 0.999] },
      model.layouts,
      (k) => model.isTrainable(k),
    );
    const before = model.floatState();
    const counts = new Map([...model.bn].map(([k, b]) => [k, b.numBatchesTracked]));
    const rng = new Rng(2);
    for (let s = 0; s < 2; s++) {
      const x = tf.tensor4d(
        Float32Array.from({ length: 4 * 32 * 32 * 3 }, () => rng.uniform() * 2 - 1),
        [4, 32, 32, 3],
      );
      const y = tf.tensor1d([1, 3, 5, 7], 'int32');
      const r = trainStep(model, optimizer, { x, y, lr: 0.1, smoothing: 0.1 });
      tf.dispose([x, y]);
      expect(r.applied).toBe(true);
    }
    const after = model.floatState();
    let trainedChanged = 0;
    let trained = 0;
    for (const p of model.layouts) {
      const a = before.get(p.key)!,
        b = after.get(p.key)!;
      if (parts.params.has(p.key)) expect(Buffer.from(b.buffer).equals(Buffer.from(a.buffer)), p.key).toBe(true);
      else {
        trained++;
        if (!Buffer.from(b.buffer).equals(Buffer.from(a.buffer))) trainedChanged++;
      }
    }
    expect(trained).toBeGreaterThan(100);
    expect(trainedChanged).toBe(trained); // weight decay alone moves every decayed tensor; gradients the rest
    for (const [name, b] of model.bn) {
      const mean = Buffer.from(b.mean.buffer).equals(Buffer.from(before.get(`${name}.running_mean`)!.buffer));
      if (parts.batchNorms.has(name)) {
        expect(mean, name).toBe(true);
        expect(
          Buffer.from(b.variance.buffer).equals(Buffer.from(before.get(`${name}.running_var`)!.buffer)),
          name,
        ).toBe(true);
        expect(b.numBatchesTracked, name).toBe(counts.get(name));
      } else {
        expect(mean, name).toBe(false);
        expect(b.numBatchesTracked, name).toBe(counts.get(name)! + 2n);
      }
    }
    // timm leaves frozen parameters out of the optimizer: no state for them.
    const state = optimizer.stateDict(0.1);
    expect(state.state.size).toBe(model.layouts.length - parts.params.size);
    expect(optimizer.order.some((p) => parts.params.has(p.key))).toBe(false);
    model.dispose();
  }, 60_000);
});

describe('frozen BatchNorms in eval mode', () => {
  // Frozen stages normalize with their running statistics (ForwardOptions.evalModeBn).
  it('with every stage frozen, the training forward equals the eval forward', () => {
    const model = ModelState.init(spec, new Rng(1));
    for (const b of model.bn.values()) {
      b.mean.fill(0.1);
      b.variance.fill(2);
    } // far from any batch's statistics
    model.freeze(frozenParts(spec, model.layouts, spec.stages.length));
    const rng = new Rng(2);
    const data = Float32Array.from({ length: 4 * 32 * 32 * 3 }, () => rng.uniform() * 2 - 1);
    const w = EvalWeights.fromModel(model);
    const ref = evalLogits(spec, w, data, 4, 32);
    w.dispose();
    const opt = createOptimizer(
      { opt: 'sgd', momentum: 0.9, weightDecay: 1e-4, optEps: 1e-8, optBetas: [0.9, 0.999] },
      model.layouts,
      (k) => model.isTrainable(k),
    );
    const x = tf.tensor4d(data, [4, 32, 32, 3]);
    const y = tf.tensor1d([1, 2, 3, 4], 'int32');
    const r = trainStep(model, opt, { x, y, lr: 0.1, smoothing: 0, keepLogits: true });
    tf.dispose([x, y]);
    model.dispose();
    let d = 0;
    for (let i = 0; i < ref.length; i++) d = Math.max(d, Math.abs(ref[i]! - r.logits![i]!));
    expect(d).toBeLessThan(1e-4);
  });
});

describe('--initial-checkpoint with another classifier', () => {
  it("loads everything but a mis-shaped classifier, which gets a new model's initialization", () => {
    const src = ModelState.init(buildSpec('repghostnet_0_5x', { numClasses: 20 }), new Rng(3));
    const sd = src.toStateDict();
    src.dispose();
    const three = buildSpec('repghostnet_0_5x', { numClasses: 3 });
    const { model, reinitializedFrom } = modelFromInitialStateDict(three, sd, new Rng(9));
    expect(reinitializedFrom).toBe(20);
    const fresh = ModelState.init(three, new Rng(9));
    const got = model.toStateDict();
    const ref = fresh.toStateDict();
    for (const [k, t] of got) {
      const want = k.startsWith('classifier.') ? ref.get(k)! : sd.get(k)!;
      expect(t.shape, k).toEqual(want.shape);
      expect(Array.from(t.data as ArrayLike<number | bigint>), k).toEqual(
        Array.from(want.data as ArrayLike<number | bigint>),
      );
    }
    expect(got.get('classifier.weight')!.shape).toEqual([3, 1280]);
    model.dispose();
    fresh.dispose();
    const same = modelFromInitialStateDict(buildSpec('repghostnet_0_5x', { numClasses: 20 }), sd, new Rng(9));
    expect(same.reinitializedFrom).toBeNull();
    same.model.dispose();
  });

  it('fine-tunes the official 1000-class training checkpoint to 3 classes', () => {
    const three = buildSpec('repghostnet_0_5x', { numClasses: 3 });
    const { model, reinitializedFrom } = loadInitialWeights(
      three,
      sharedPath('golden', 'repghostnet_0_5x', 'checkpoint.pth'),
      new Rng(1),
    );
    expect(reinitializedFrom).toBe(1000);
    const file = readCheckpoint(
      new Uint8Array(readFileSync(sharedPath('golden', 'repghostnet_0_5x', 'checkpoint.pth'))),
    ).stateDict;
    const got = model.toStateDict();
    for (const k of ['blocks.9.0.conv.weight', 'conv_head.bias', 'blocks.4.0.ghost2.fusion_bn.0.running_var']) {
      expect(Array.from(got.get(k)!.data as Float32Array), k).toEqual(Array.from(toFloat32(file.get(k)!)));
    }
    expect(got.get('classifier.weight')!.shape).toEqual([3, 1280]);
    model.dispose();
  });

  it('names the keys of any other mismatch, and expands deploy-form weights', () => {
    const src = ModelState.init(buildSpec('repghostnet_0_5x', { numClasses: 20 }), new Rng(3));
    const sd = src.toStateDict();
    src.dispose();
    sd.delete('blocks.2.0.ghost1.primary_conv.0.weight');
    expect(() => modelFromInitialStateDict(spec, sd, new Rng(1))).toThrow(WeightsMismatchError);
    expect(() => modelFromInitialStateDict(spec, sd, new Rng(1))).toThrow(
      /missing 1 keys: blocks\.2\.0\.ghost1\.primary_conv\.0\.weight/,
    );
    const wider = ModelState.init(buildSpec('repghostnet_1_0x', { numClasses: 10 }), new Rng(3));
    const wsd = wider.toStateDict();
    wider.dispose();
    expect(() => modelFromInitialStateDict(spec, wsd, new Rng(1))).toThrow(
      /wrong shapes: conv_stem\.weight: file \[16, 3, 3, 3\], model \[8, 3, 3, 3\]/,
    );
    const deploy = sharedTensors('golden', 'repghostnet_0_5x', 'deploy.safetensors');
    const expanded = modelFromInitialStateDict(spec, deploy, new Rng(1)); // reparam/expand.ts; tested in test/reparam
    expect([expanded.expandedFromDeploy, expanded.reinitializedFrom]).toEqual([true, 1000]);
    expanded.model.dispose();
  });
});
