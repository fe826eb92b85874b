/**
 * The one walk (spec/walk.ts): what the recorder reads off it, and that a new fusion
 * kind, given only as the layers of its branch (one row of FUSION_BRANCHES), is
 * carried by every consumer with no other edit: keys, counts, re-parameterization,
 * the ONNX graphs of all modes and the TF.js training graph.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  bnLayer,
  buildSpec,
  depthwise,
  layers,
  record,
  stateDictKeys,
  type LinearChain,
  type ModelSpec,
} from '../../src/spec/index.js';
import { countModel } from '../../src/reparam/count.js';
import { toDeploy } from '../../src/reparam/fuse.js';
import { exportOnnx } from '../../src/onnx/emit.js';
import { initTrainingBackend } from '../../src/train/backend.js';
import { evalLogits } from '../../src/train/evaluate.js';
import { ModelState } from '../../src/train/state.js';
import { EvalWeights } from '../../src/train/weights.js';
import { Rng } from '../../src/train/rng.js';
import { f32, i64Scalar, type StateDict } from '../../src/weights/tensor.js';
import { maxAbsDiff } from '../helpers/shared.js';
import { runOnnx } from '../onnx/golden-cases.js';

/** The spec `spec` would be with `branch` as the FUSION_BRANCHES row of its fusion kind. */
function withFusionRow(spec: ModelSpec, branch: (module: string, channels: number) => LinearChain): ModelSpec {
  const stages = spec.stages.map((blocks) =>
    blocks.map((b) =>
      b.kind !== 'bottleneck'
        ? b
        : {
            ...b,
            ghost1: { ...b.ghost1, fusionBranch: branch(b.ghost1.name, b.ghost1.channels) },
            ghost2: { ...b.ghost2, fusionBranch: branch(b.ghost2.name, b.ghost2.channels) },
          },
    ),
  );
  return { ...spec, stages };
}

/** A RepVGG-style branch: 1x1 depthwise conv + BN, registered as the official ModuleLists would name it. */
const dw1x1 = (m: string, c: number): LinearChain => [
  depthwise(`${m}.fusion_conv.0`, c, 1, 1, false),
  bnLayer(`${m}.fusion_bn.0`, c),
];

/** Random training-form weights that look trained (BN statistics away from 0/1, so folding is no no-op). */
function randomWeights(spec: ModelSpec, seed: number): StateDict {
  const rng = new Rng(seed);
  const u = (lo: number, hi: number) => lo + (hi - lo) * rng.uniform();
  const bns = new Set(
    layers(spec, 'train')
      .filter((l) => l.kind === 'bn')
      .map((l) => l.name),
  );
  const sd: StateDict = new Map();
  for (const [key, shape, dtype] of stateDictKeys(spec, 'train')) {
    if (dtype === 'I64') {
      sd.set(key, i64Scalar(0));
      continue;
    }
    const n = shape.reduce((a, b) => a * b, 1);
    const fanIn = shape.length > 1 ? n / shape[0]! : 1;
    const [layer, field] = [key.slice(0, key.lastIndexOf('.')), key.slice(key.lastIndexOf('.') + 1)];
    const gen = !bns.has(layer)
      ? shape.length > 1
        ? () => u(-1, 1) * Math.sqrt(3 / fanIn)
        : () => u(-0.2, 0.2)
      : field === 'weight' || field === 'running_var'
        ? () => u(0.5, 1.5)
        : () => u(-0.2, 0.2);
    sd.set(key, f32(shape, Float32Array.from({ length: n }, gen)));
  }
  return sd;
}

describe('the recorder', () => {
  const spec = buildSpec('repghostnet_0_5x');

  it('folds every deploy-form BN into the conv it reads, found by data flow', () => {
    const rec = record(spec, 'deploy');
    const bns = rec.layers.filter((r) => r.layer.kind === 'bn');
    expect(rec.foldInto.size).toBe(bns.length);
    expect(rec.foldInto.get('bn1')).toBe('conv_stem');
    expect(rec.foldInto.get('blocks.1.0.shortcut.3')).toBe('blocks.1.0.shortcut.2');
    // Each pair is a conv directly before its BN in the layer list, and never an SE conv.
    rec.layers.forEach((r, i) => {
      if (r.layer.kind === 'bn') expect(rec.layers[i - 1]!.layer.name).toBe(rec.foldInto.get(r.layer.name));
    });
  });

  it('in training form, a fusion BN (reading a module output, not a conv) folds into nothing', () => {
    const rec = record(spec, 'train');
    expect(rec.foldInto.has('blocks.0.0.ghost1.fusion_bn.0')).toBe(false);
    expect(rec.foldInto.get('blocks.0.0.ghost1.cheap_operation.1')).toBe('blocks.0.0.ghost1.cheap_operation.0');
    expect(rec.tapSources.get('conv_stem')).toBe('conv_stem');
  });

  it('assigns stages and output sizes from the walk, and works without an input size', () => {
    const rec = record(spec, 'train', [224, 224]);
    expect([...rec.stageOut.keys()]).toEqual(['stem', ...spec.stages.map((_, i) => `blocks.${i}`), 'head']);
    expect(rec.stageOut.get('blocks.9')).toEqual({ c: spec.headIn, h: 7, w: 7 });
    expect(rec.layers.find((r) => r.layer.name === 'blocks.3.0.se.conv_reduce')!.stage).toBe('blocks.3');
    const unsized = record(spec, 'train');
    expect(unsized.layers.map((r) => r.layer)).toEqual(rec.layers.map((r) => r.layer));
    expect(unsized.stageOut.get('stem')).toEqual({ c: spec.stemChannels, h: null, w: null });
  });
});

describe('a new fusion kind is one row of FUSION_BRANCHES', () => {
  const base = buildSpec('repghostnet_0_5x', { numClasses: 10 });
  const spec = withFusionRow(base, dw1x1);
  const modules = base.stages.flat().flatMap((b) => (b.kind === 'bottleneck' ? [b.ghost1, b.ghost2] : []));
  let sd: StateDict;
  beforeAll(async () => {
    sd = randomWeights(spec, 11);
    await initTrainingBackend({ backend: 'wasm' });
  });

  it('keys: the branch in PyTorch registration order; the deploy form is unchanged', () => {
    const keys = stateDictKeys(spec, 'train')
      .map(([k]) => k)
      .filter((k) => k.startsWith('blocks.0.0.ghost1.'));
    expect(keys.slice(6, 9)).toEqual([
      'blocks.0.0.ghost1.fusion_conv.0.weight',
      'blocks.0.0.ghost1.fusion_bn.0.weight',
      'blocks.0.0.ghost1.fusion_bn.0.bias',
    ]);
    expect(keys.indexOf('blocks.0.0.ghost1.fusion_bn.0.num_batches_tracked')).toBeLessThan(
      keys.indexOf('blocks.0.0.ghost1.cheap_operation.0.weight'),
    );
    expect(stateDictKeys(spec, 'deploy')).toEqual(stateDictKeys(base, 'deploy'));
  });

  it('counts: one 1x1 depthwise conv more per module, in params and MACs', () => {
    const rec = record(base, 'train', [224, 224]);
    const size = new Map(rec.layers.map((r) => [r.layer.name, r.out]));
    const extraMacs = modules.reduce(
      (s, g) => s + g.channels * size.get(g.primary.bn.name)!.h! * size.get(g.primary.bn.name)!.w!,
      0,
    );
    const extraParams = modules.reduce((s, g) => s + g.channels, 0);
    expect(countModel(spec, 'train').params).toBe(countModel(base, 'train').params + extraParams);
    expect(countModel(spec, 'train').flops).toBe(countModel(base, 'train').flops + extraMacs);
    expect(countModel(spec, 'deploy')).toEqual(countModel(base, 'deploy'));
  });

  it('re-parameterization and ONNX: training, deploy-bn and folded graphs give the same logits', async () => {
    const rng = new Rng(3);
    const input = f32(
      [2, 3, 64, 64],
      Float32Array.from({ length: 2 * 3 * 64 * 64 }, () => rng.uniform() * 2 - 1),
    );
    const train = (await runOnnx(exportOnnx(spec, sd, { mode: 'train', inputSize: [64, 64] }), input)).logits!;
    const scale = train.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expect(scale).toBeGreaterThan(0.1);
    for (const mode of ['deploy-bn', 'deploy'] as const) {
      const out = (await runOnnx(exportOnnx(spec, toDeploy(spec, sd), { mode, inputSize: [64, 64] }), input)).logits!;
      expect(maxAbsDiff(out, train), mode).toBeLessThan(1e-4 * Math.max(1, scale));
    }
    // Without the branch's contribution the logits are clearly different: the fold is not vacuous.
    const noBranch = (
      await runOnnx(exportOnnx(base, toDeploy(base, sd), { mode: 'deploy', inputSize: [64, 64] }), input)
    ).logits!;
    expect(maxAbsDiff(noBranch, train)).toBeGreaterThan(1e-2 * scale);

    // The TF.js training graph (NHWC) in eval mode computes the same network.
    const model = ModelState.fromStateDict(spec, sd);
    const nhwc = tf.tidy(
      () => tf.transpose(tf.tensor4d(input.data, [2, 3, 64, 64]), [0, 2, 3, 1]).dataSync() as Float32Array,
    );
    const tfLogits = evalLogits(spec, EvalWeights.fromModel(model), nhwc, 2, 64);
    expect(maxAbsDiff(tfLogits, train)).toBeLessThan(1e-4 * Math.max(1, scale));
    model.dispose();
  });
});
