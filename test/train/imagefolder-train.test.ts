/**
 * ImageFolder training end to end: `repghost train --dataset imagefolder` on a tiny
 * generated folder (3 classes, 32x32 input, repghostnet_0_5x) writes checkpoints and
 * summary with the class names, skipping an unreadable image; a run stopped after epoch
 * 0 and resumed (with another number of data workers) ends identical to an uninterrupted
 * run; --initial-checkpoint with a 10-class classifier and --freeze-stages fine-tune.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSpec } from '../../src/spec/index.js';
import { initTrainingBackend } from '../../src/train/backend.js';
import { Rng } from '../../src/train/rng.js';
import { ModelState } from '../../src/train/state.js';
import { parseSummaryCsv } from '../../src/train/summary.js';
import { DEFAULT_TRAIN_OPTIONS, train, type TrainOptions } from '../../src/train/trainer.js';
import { readCheckpoint } from '../../src/weights/checkpoint.js';
import { writeSafetensors } from '../../src/weights/safetensors.js';
import { repoRoot } from '../helpers/shared.js';
import { expectSameCheckpoint, loadRun, runEpochZeroThenStop, runToEnd } from './resume-helpers.js';
import { writeSyntheticImageFolder } from './synthetic-imagefolder.js';

const work = mkdtempSync(path.join(tmpdir(), 'repghost-iftrain-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const data = path.join(work, 'data');
const spec = buildSpec('repghostnet_0_5x', { numClasses: 3 });

beforeAll(async () => {
  await initTrainingBackend({ backend: 'wasm' });
  await writeSyntheticImageFolder(data, { train: 6, val: 2 });
});

const base = (output: string, extra: Partial<TrainOptions> = {}): TrainOptions => ({
  ...DEFAULT_TRAIN_OPTIONS,
  dataset: 'imagefolder',
  dataDir: data,
  inputSize: 32,
  batchSize: 6,
  evalBatchSize: 6,
  epochs: 2,
  aa: 'rand-m9-mstd0.5',
  reprob: 0.25,
  output,
  ...extra,
});

describe('repghost train --dataset imagefolder', () => {
  it('trains, writes timm checkpoints with the class names and summary.csv, skips an unreadable image', () => {
    const dir = path.join(work, 'with-bad');
    // A copy of the dataset with one corrupt file (the resume test below keeps the clean one).
    cpSync(data, dir, { recursive: true });
    writeFileSync(path.join(dir, 'train', 'cat', 'zz-broken.jpg'), 'not a jpeg');
    const output = path.join(work, 'cli-run');
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(repoRoot, 'test/train/train-cli.ts'),
        'train',
        '--dataset',
        'imagefolder',
        '--data-dir',
        dir,
        '--input-size',
        '32',
        '-b',
        '6',
        '--epochs',
        '1',
        '--workers',
        '2',
        '--aa',
        'rand-m9-mstd0.5',
        '--reprob',
        '0.25',
        '--opt',
        'adamw',
        '--lr',
        '0.001',
        '--log-interval',
        '1',
        '--output',
        output,
      ],
      { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/19 training and 6 validation images, 3 classes; 2 data workers/);
    expect(r.stderr).toMatch(/warning: skipped: cannot decode image .*zz-broken\.jpg/);
    expect(r.stderr).toMatch(/epoch 0: train_loss .* 1 unreadable training image skipped/);
    for (const f of ['last.pth.tar', 'model_best.pth.tar', 'summary.csv'])
      expect(existsSync(path.join(output, f)), f).toBe(true);
    const rows = parseSummaryCsv(readFileSync(path.join(output, 'summary.csv'), 'utf8'));
    expect(rows.map((x) => x.epoch)).toEqual([0]);
    const ck = loadRun(spec, path.join(output, 'last.pth.tar'), base(output, { opt: 'adamw' }));
    expect(ck.extras.classes).toEqual(['ant', 'bee', 'cat']);
    expect(ck.args).toMatchObject({
      dataset: 'imagefolder',
      opt: 'adamw',
      input_size: [3, 32, 32],
      aa: 'rand-m9-mstd0.5',
      reprob: 0.25,
      num_classes: 3,
    });
    expect(ck.args.class_names).toEqual(['ant', 'bee', 'cat']); // what validate maps folders by
    expect(ck.stateDict.get('classifier.weight')!.shape).toEqual([3, 1280]);
    expect(Object.keys(ck.optimizer.state.get(0)!)).toEqual(['step', 'exp_avg', 'exp_avg_sq']);
  }, 120_000);

  it('resumes after epoch 0 to exactly the uninterrupted run, whatever the number of workers', async () => {
    const straight = base(path.join(work, 'straight'), { workers: 2 });
    const stopped = base(path.join(work, 'stopped'), { workers: 0 });
    const refFile = await runToEnd(straight);
    const half = await runEpochZeroThenStop(stopped);
    expect(loadRun(spec, half, stopped).epoch).toBe(0);
    const gotFile = await runToEnd({ ...stopped, workers: 1, resume: half });
    expectSameCheckpoint(loadRun(spec, gotFile, stopped), loadRun(spec, refFile, straight));
  }, 120_000);

  const fineTuneTitle =
    'fine-tunes from a 10-class checkpoint with frozen stages, and refuses to resume with other settings';
  it(
    fineTuneTitle,
    async () => {
      // Any 10-class training-form state dict of the 0.5x stands for a pretrained checkpoint.
      const m = ModelState.init(buildSpec('repghostnet_0_5x', { numClasses: 10 }), new Rng(77));
      const w10 = path.join(work, 'ten.safetensors');
      writeFileSync(w10, writeSafetensors(m.toStateDict()));
      m.dispose();
      const lines: string[] = [];
      const o = base(path.join(work, 'finetune'), { epochs: 1, initialCheckpoint: w10, freezeStages: 4, workers: 0 });
      const outcome = await train(o, { log: (l) => lines.push(l) });
      outcome.final.dispose();
      expect(outcome.status).toBe('completed');
      expect(lines.join('\n')).toMatch(
        /except its 10-class classifier: classifier\.weight and classifier\.bias re-initialized for 3 classes/,
      );
      expect(lines.join('\n')).toMatch(
        new RegExp(
          /frozen: conv_stem, bn1, blocks\.0\.\.blocks\.3 \(\d+ parameters without gradient; /.source +
            /\d+ BatchNorms keep their running statistics\)/.source,
        ),
      );
      const ck = loadRun(spec, path.join(o.output, 'last.pth.tar'), o);
      const init = readCheckpoint(new Uint8Array(readFileSync(w10))).stateDict;
      for (const k of ['conv_stem.weight', 'bn1.running_var', 'blocks.3.0.ghost1.primary_conv.0.weight']) {
        expect(Array.from(ck.stateDict.get(k)!.data as Float32Array), k).toEqual(
          Array.from(init.get(k)!.data as Float32Array),
        );
      }
      expect(Array.from(ck.stateDict.get('blocks.4.0.ghost1.primary_conv.0.weight')!.data as Float32Array)).not.toEqual(
        Array.from(init.get('blocks.4.0.ghost1.primary_conv.0.weight')!.data as Float32Array),
      );
      // Resuming with another optimizer or other frozen stages would mis-assign the optimizer state: refused.
      await expect(
        train({
          ...o,
          resume: path.join(o.output, 'last.pth.tar'),
          initialCheckpoint: undefined,
          epochs: 2,
          freezeStages: 2,
        }),
      ).rejects.toThrow(/was trained with --freeze-stages 4; this run has --freeze-stages 2/);
      await expect(
        train({
          ...o,
          resume: path.join(o.output, 'last.pth.tar'),
          initialCheckpoint: undefined,
          epochs: 2,
          opt: 'adamw',
        }),
      ).rejects.toThrow(/was trained with --opt sgd; this run has --opt adamw/);
      await expect(train({ ...o, numClasses: 5 })).rejects.toThrow(
        /has 3 class folders but the 'numClasses' option is 5/,
      );
    },
    120_000,
  );
});
