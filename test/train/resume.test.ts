/**
 * Kill and resume: a tiny run (a synthetic Fashion-MNIST-shaped set of 32 training
 * images in IDX files, batch 8, 2 epochs of 4 steps) is killed with SIGKILL in the
 * middle of epoch 1 and resumed from its last checkpoint; it must end bit-identical
 * to the same run left alone (model, EMA, optimizer, PRNG, history).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runTinyTrainChild, type ChildRun } from './resume-helpers.js';
import { writeSyntheticFashionMnist } from './synthetic-data.js';
import { buildSpec } from '../../src/spec/index.js';
import { decodeCheckpoint, type TrainingCheckpoint } from '../../src/train/checkpoint.js';
import { parseSummaryCsv } from '../../src/train/summary.js';
import { repoRoot } from '../helpers/shared.js';

const work = mkdtempSync(path.join(tmpdir(), 'repghost-resume-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const dataDir = path.join(work, 'data');
writeSyntheticFashionMnist(dataDir, 32, 16, 7);

const spec = buildSpec('repghostnet_0_5x', { numClasses: 10, dropout: 0.2 });
const TRAIN_CLI = path.join(repoRoot, 'test/train/train-cli.ts');

/** Runs the tiny training run in a child; `killAt` kills it with SIGKILL when a stderr line matches. */
function runTrain(output: string, extra: string[], killAt?: RegExp): Promise<ChildRun> {
  return runTinyTrainChild(TRAIN_CLI, dataDir, output, extra, {}, (stderr, child) => {
    if (killAt && killAt.test(stderr) && child.exitCode === null) child.kill('SIGKILL');
  });
}

function load(file: string): TrainingCheckpoint {
  return decodeCheckpoint(spec, new Uint8Array(readFileSync(file)), file);
}

function expectSameTensors(
  a: Map<string, { data: ArrayLike<unknown> }>,
  b: Map<string, { data: ArrayLike<unknown> }>,
): void {
  expect([...a.keys()]).toEqual([...b.keys()]);
  for (const [k, t] of a) expect(Array.from(b.get(k)!.data), k).toEqual(Array.from(t.data));
}

describe('resume after SIGKILL', () => {
  it('continues from the last complete checkpoint and ends identical to an uninterrupted run', async () => {
    const straight = path.join(work, 'straight');
    const killed = path.join(work, 'killed');
    const [a, b] = await Promise.all([runTrain(straight, []), runTrain(killed, [], /epoch 1\/2 step 2\/4/)]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.signal).toBe('SIGKILL');

    // What the kill left: the complete epoch-0 checkpoint, one summary row, no temp files.
    const afterKill = load(path.join(killed, 'last.pth.tar'));
    expect(afterKill.epoch).toBe(0);
    expect(parseSummaryCsv(readFileSync(path.join(killed, 'summary.csv'), 'utf8')).map((r) => r.epoch)).toEqual([0]);
    expect(readdirSync(killed).filter((f) => f.includes('.tmp'))).toEqual([]);

    const c = await runTrain(killed, ['--resume', path.join(killed, 'last.pth.tar')]);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stderr).toMatch(/resumed from .*: epoch 0 done, continuing at epoch 1/);

    const ref = load(path.join(straight, 'last.pth.tar'));
    const got = load(path.join(killed, 'last.pth.tar'));
    expect(got.epoch).toBe(1);
    expectSameTensors(ref.stateDict, got.stateDict);
    expectSameTensors(ref.emaStateDict!, got.emaStateDict!);
    expect([...got.optimizer.state.keys()]).toEqual([...ref.optimizer.state.keys()]);
    for (const [i, e] of ref.optimizer.state)
      expect(Array.from(got.optimizer.state.get(i)!.momentum_buffer), `buffer ${i}`).toEqual(
        Array.from(e.momentum_buffer),
      );
    expect(got.extras.rng).toEqual(ref.extras.rng);
    // Same schedule: epoch 0 at warmup_lr, epoch 1 at the cosine value, same metrics.
    const rows = parseSummaryCsv(readFileSync(path.join(killed, 'summary.csv'), 'utf8'));
    const refRows = parseSummaryCsv(readFileSync(path.join(straight, 'summary.csv'), 'utf8'));
    expect(rows.map((r) => [r.epoch, r.lr, r.train_loss, r.eval_top1, r.eval_top1_ema])).toEqual(
      refRows.map((r) => [r.epoch, r.lr, r.train_loss, r.eval_top1, r.eval_top1_ema]),
    );
    expect(rows.map((r) => r.lr)).toEqual([1e-4, 1e-5 + 0.5 * (0.1 - 1e-5) * (1 + Math.cos(Math.PI / 2))]);
  }, 120_000);
});
