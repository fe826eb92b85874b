/** LR schedule, label smoothing and EMA against PyTorch/timm values. */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildSpec } from '../../src/spec/index.js';
import { initTrainingBackend } from '../../src/train/backend.js';
import { ModelEma } from '../../src/train/ema.js';
import { labelSmoothingCrossEntropy } from '../../src/train/loss.js';
import { cosineLr } from '../../src/train/lr-schedule.js';
import { Rng } from '../../src/train/rng.js';
import { ModelState } from '../../src/train/state.js';
import { sharedPath } from '../helpers/shared.js';

const recipe = { lr: 0.1, minLr: 1e-5, warmupEpochs: 1, warmupLr: 1e-4 };

describe('cosine LR schedule (timm CosineLRScheduler, per epoch)', () => {
  const ref = JSON.parse(readFileSync(sharedPath('reference', 'fashion_mnist.json'), 'utf8')) as Record<
    string,
    { history?: { epoch: number; lr: number }[] }
  >;

  it.each([3, 12])("reproduces the lr of every epoch of PyTorch's %i-epoch run", (epochs) => {
    const history = ref[String(epochs)]!.history!;
    expect(history.length).toBe(epochs);
    for (const h of history) expect(cosineLr(h.epoch, { ...recipe, epochs })).toBeCloseTo(h.lr, 15);
  });

  it('warms up linearly and ends at min_lr past the cycle', () => {
    const s = { lr: 1, minLr: 0.01, epochs: 10, warmupEpochs: 4, warmupLr: 0 };
    expect([0, 1, 2, 3].map((e) => cosineLr(e, s))).toEqual([0, 0.25, 0.5, 0.75]);
    expect(cosineLr(4, s)).toBeCloseTo(0.01 + 0.495 * (1 + Math.cos((Math.PI * 4) / 10)), 15);
    expect(cosineLr(10, s)).toBe(0.01);
  });
});

describe('label smoothing and EMA', () => {
  beforeAll(async () => {
    await initTrainingBackend({ backend: 'cpu' });
  });

  it('computes timm LabelSmoothingCrossEntropy', () => {
    const logits = [
      [2, 0.5, -1],
      [0, 0, 3],
    ];
    const targets = [0, 1];
    const s = 0.1;
    let expected = 0;
    logits.forEach((row, i) => {
      const lse = Math.log(row.reduce((a, v) => a + Math.exp(v), 0));
      const logp = row.map((v) => v - lse);
      expected += (1 - s) * -logp[targets[i]!]! + s * -(logp.reduce((a, v) => a + v, 0) / row.length);
    });
    expected /= logits.length;
    const loss = tf.tidy(
      () => labelSmoothingCrossEntropy(tf.tensor2d(logits), tf.tensor1d(targets, 'int32'), s).dataSync()[0]!,
    );
    expect(loss).toBeCloseTo(expected, 6);
    const plain = tf.tidy(
      () => labelSmoothingCrossEntropy(tf.tensor2d(logits), tf.tensor1d(targets, 'int32'), 0).dataSync()[0]!,
    );
    const ce =
      logits.reduce((a, row, i) => a - (row[targets[i]!]! - Math.log(row.reduce((b, v) => b + Math.exp(v), 0))), 0) / 2;
    expect(plain).toBeCloseTo(ce, 6);
  });

  it('updates every float entry as decay * ema + (1 - decay) * model and truncates num_batches_tracked', () => {
    const spec = buildSpec('repghostnet_0_5x', { numClasses: 10 });
    const a = ModelState.init(spec, new Rng(1));
    const b = ModelState.init(spec, new Rng(2));
    const ema = new ModelEma(a, 0.9);
    const bn = b.bn.get('bn1')!;
    bn.mean.fill(2);
    bn.numBatchesTracked = 25n;
    b.loadFloatState(b.floatState());
    ema.update(b);
    const before = a.floatState();
    const cur = b.floatState();
    for (const key of ['conv_stem.weight', 'classifier.bias', 'bn1.running_mean', 'blocks.3.0.se.conv_reduce.weight']) {
      const e = ema.state.get(key)!;
      const x = before.get(key)!,
        y = cur.get(key)!;
      for (let i = 0; i < e.length; i++) expect(e[i]).toBeCloseTo(0.9 * x[i]! + 0.1 * y[i]!, 6);
    }
    // int64 counter: 0.9 * 0 + 0.1 * 25 = 2.5 -> 2 (torch copy_ into int64 truncates).
    expect(ema.numBatchesTracked.get('bn1')).toBe(2n);
    a.dispose();
    b.dispose();
  });
});
