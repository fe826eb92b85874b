/**
 * Resume round trips for the other optimizers and schedules (synthetic Fashion-MNIST,
 * 32 images, batch 8): AdamW with the step schedule and plain momentum SGD with no
 * schedule, each stopped after epoch 0 and resumed, end identical to the uninterrupted
 * run (model, EMA, optimizer state, PRNG, metrics), with the LR each schedule prescribes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildSpec } from '../../src/spec/index.js';
import { DEFAULT_TRAIN_OPTIONS, type TrainOptions } from '../../src/train/trainer.js';
import { expectSameCheckpoint, loadRun, runEpochZeroThenStop, runToEnd } from './resume-helpers.js';
import { writeSyntheticFashionMnist } from './synthetic-data.js';

const work = mkdtempSync(path.join(tmpdir(), 'repghost-optresume-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const dataDir = path.join(work, 'data');
writeSyntheticFashionMnist(dataDir, 32, 16, 3);
const spec = buildSpec('repghostnet_0_5x', { numClasses: 10 });

const run = (name: string, extra: Partial<TrainOptions>): TrainOptions => ({
  ...DEFAULT_TRAIN_OPTIONS,
  dataDir,
  epochs: 3,
  batchSize: 8,
  evalBatchSize: 16,
  output: path.join(work, name),
  ...extra,
});

describe.each([
  [
    'adamw + step',
    {
      opt: 'adamw',
      lr: 2e-3,
      weightDecay: 0.05,
      sched: 'step',
      decayEpochs: 1,
      decayRate: 0.5,
      warmupEpochs: 1,
      warmupLr: 1e-4,
    },
    [1e-4, 1e-3, 5e-4],
  ],
  ['momentum + none', { opt: 'momentum', lr: 0.05, sched: 'none', weightDecay: 0 }, [0.05, 0.05, 0.05]],
] as const)('%s', (name, extra, lrs) => {
  it('resumes after epoch 0 to exactly the uninterrupted run', async () => {
    const straight = run(`${name}-straight`, extra);
    const stopped = run(`${name}-stopped`, extra);
    const ref = loadRun(spec, await runToEnd(straight), straight);
    await runEpochZeroThenStop(stopped);
    const got = loadRun(
      spec,
      await runToEnd({ ...stopped, resume: path.join(stopped.output, 'last.pth.tar') }),
      stopped,
    );
    expectSameCheckpoint(got, ref);
    expect(got.extras.history.map((r) => r.lr)).toEqual(lrs);
    expect(got.args.opt).toBe(extra.opt);
    const entry = got.optimizer.state.get(0)!;
    expect(Object.keys(entry)).toEqual(extra.opt === 'adamw' ? ['step', 'exp_avg', 'exp_avg_sq'] : ['momentum_buffer']);
    if (extra.opt === 'adamw') expect(entry.step).toBe(12); // 3 epochs x 4 steps
    expect(got.optimizer.param_groups[0]!.nesterov ?? false).toBe(false);
  }, 120_000);
});
