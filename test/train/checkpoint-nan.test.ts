/**
 * Checkpoints (timm layout written with writePth, read back exactly; PyTorch keys and
 * shapes) and the NaN stop (training halts before the update, last good checkpoint kept).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSpec, stateDictKeys } from '../../src/spec/index.js';
import { initTrainingBackend } from '../../src/train/backend.js';
import { decodeCheckpoint, encodeCheckpoint, type TrainingCheckpoint } from '../../src/train/checkpoint.js';
import { ModelEma } from '../../src/train/ema.js';
import { Rng } from '../../src/train/rng.js';
import { Sgd } from '../../src/train/sgd.js';
import { floatStateToStateDict, ModelState } from '../../src/train/state.js';
import { trainStep } from '../../src/train/train-step.js';
import { DEFAULT_TRAIN_OPTIONS, train } from '../../src/train/trainer.js';
import { readCheckpoint } from '../../src/weights/checkpoint.js';
import { readPth } from '../../src/weights/pth.js';
import { writeSyntheticFashionMnist } from './synthetic-data.js';

const work = mkdtempSync(path.join(tmpdir(), 'repghost-ckpt-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('training checkpoints', () => {
  const spec = buildSpec('repghostnet_0_5x', { numClasses: 10, dropout: 0.2 });
  let ck: TrainingCheckpoint;
  let bytes: Uint8Array;

  beforeAll(async () => {
    await initTrainingBackend({ backend: 'wasm' });
    const rng = new Rng(3);
    const model = ModelState.init(spec, rng);
    const sgd = new Sgd(model.layouts, { momentum: 0.9, weightDecay: 1e-5, nesterov: true });
    const ema = new ModelEma(model, 0.99);
    const x = tf.randomNormal<tf.Rank.R4>([4, 32, 32, 3]);
    const y = tf.tensor1d([1, 2, 3, 4], 'int32');
    trainStep(model, sgd, { x, y, lr: 0.05, smoothing: 0.1 });
    ema.update(model);
    tf.dispose([x, y]);
    ck = {
      epoch: 4,
      arch: spec.name,
      stateDict: model.toStateDict(),
      emaStateDict: floatStateToStateDict(spec, ema.state, (bn) => ema.numBatchesTracked.get(bn)!),
      optimizer: sgd.stateDict(0.05),
      args: { model: spec.name, lr: 0.1, model_ema: true },
      metric: 12.5,
      extras: {
        rng: rng.state(),
        bestMetric: 12.5,
        bestEpoch: 3,
        history: [
          {
            epoch: 0,
            train_loss: 2.3,
            eval_loss: 2.2,
            eval_top1: 12.5,
            eval_top5: 50,
            eval_top1_ema: null,
            lr: 1e-4,
            seconds: 1,
            images_per_s: 4,
          },
        ],
      },
    };
    bytes = encodeCheckpoint(spec, ck);
    model.dispose();
  });

  it('round-trips every tensor, the optimizer state and the extras exactly', () => {
    const back = decodeCheckpoint(spec, bytes);
    expect(back.epoch).toBe(4);
    expect(back.arch).toBe('repghostnet_0_5x');
    expect(back.metric).toBe(12.5);
    for (const [name, a, b] of [
      ['state_dict', ck.stateDict, back.stateDict],
      ['state_dict_ema', ck.emaStateDict!, back.emaStateDict!],
    ] as const) {
      expect([...b.keys()], name).toEqual([...a.keys()]);
      for (const [k, t] of a) {
        expect(b.get(k)!.dtype, k).toBe(t.dtype);
        expect(b.get(k)!.shape, k).toEqual(t.shape);
        expect(Array.from(b.get(k)!.data as ArrayLike<unknown>), k).toEqual(Array.from(t.data as ArrayLike<unknown>));
      }
    }
    expect([...back.optimizer.state.keys()]).toEqual([...ck.optimizer.state.keys()]);
    for (const [i, e] of ck.optimizer.state)
      expect(Array.from(back.optimizer.state.get(i)!.momentum_buffer)).toEqual(Array.from(e.momentum_buffer));
    expect(back.optimizer.param_groups).toEqual(ck.optimizer.param_groups);
    expect(back.extras).toEqual(ck.extras);
    expect(back.args).toEqual(ck.args);
  });

  it('uses PyTorch train-form keys, shapes and the torch SGD state layout', () => {
    const keys = stateDictKeys(spec, 'train');
    expect([...ck.stateDict].map(([k, t]) => [k, t.shape, t.dtype])).toEqual(keys);
    const root = readPth(bytes) as Map<string, unknown>;
    expect([...root.keys()]).toEqual([
      'epoch',
      'arch',
      'state_dict',
      'optimizer',
      'version',
      'args',
      'state_dict_ema',
      'metric',
      'repghost_trainer',
    ]);
    const opt = root.get('optimizer') as Map<string, unknown>;
    const groups = opt.get('param_groups') as Map<string, unknown>[];
    expect(groups.map((g) => g.get('weight_decay'))).toEqual([0, 1e-5]);
    expect([...groups[0]!.keys()]).toEqual([
      'weight_decay',
      'lr',
      'momentum',
      'dampening',
      'nesterov',
      'maximize',
      'foreach',
      'differentiable',
      'params',
    ]);
    // Group 0 (no decay: BN, biases) starts with bn1.weight, as torch numbers timm's groups.
    const state = opt.get('state') as Map<number, Map<string, { shape: number[] }>>;
    expect(state.get(0)!.get('momentum_buffer')!.shape).toEqual([8]);
    const nNoDecay = (groups[0]!.get('params') as number[]).length;
    expect(state.get(nNoDecay)!.get('momentum_buffer')!.shape).toEqual([8, 3, 3, 3]); // conv_stem.weight
    // The package's generic reader sees a timm checkpoint with EMA.
    const c = readCheckpoint(bytes, 'last.pth.tar');
    expect(c.meta.source).toBe('timm-checkpoint');
    expect(c.ema).not.toBeNull();
    expect(c.meta.epoch).toBe(4);
  });
});

describe('NaN loss', () => {
  it('stops before the update and keeps the last good checkpoint', async () => {
    const data = path.join(work, 'data');
    writeSyntheticFashionMnist(data, 16, 8, 5);
    const output = path.join(work, 'nan-run');
    // Epoch 0 warms up at 1e-4; epoch 1 runs at 1.5e38 (near float32's largest) and
    // overflows the weights to infinity, so the next loss is not finite on every kernel path.
    const outcome = await train({
      ...DEFAULT_TRAIN_OPTIONS,
      epochs: 2,
      batchSize: 8,
      lr: 3e38,
      warmupLr: 1e-4,
      output,
      dataDir: data,
      evalBatchSize: 8,
    });
    const epoch0 = readFileSync(path.join(output, 'last.pth.tar'));
    outcome.final.dispose();
    expect(outcome.status).toBe('nan');
    expect(outcome.message).toMatch(
      new RegExp(
        'loss is (NaN|-?Infinity) at epoch 1 step \\d+: training stopped before applying the update; ' +
          'the last good checkpoint is .*last\\.pth\\.tar \\(epoch 0\\)',
      ),
    );
    expect(outcome.history.map((r) => r.epoch)).toEqual([0]);
    const spec = buildSpec('repghostnet_0_5x', { numClasses: 10, dropout: 0.2 });
    const ck = decodeCheckpoint(spec, new Uint8Array(epoch0));
    expect(ck.epoch).toBe(0);
    for (const t of ck.stateDict.values()) {
      if (t.dtype === 'F32') expect((t.data as Float32Array).every(Number.isFinite)).toBe(true);
    }
    expect(readFileSync(path.join(output, 'summary.csv'), 'utf8').trim().split('\n')).toHaveLength(2);
  }, 60_000);
});
