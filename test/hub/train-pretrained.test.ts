/**
 * `train --pretrained --model M [--source hf|official]` (issue 16) against the loopback
 * hub: the run starts from the published weights (frozen stages stay bit-identical to
 * them), with the classifier re-initialized for the dataset's classes.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCheckpoint, selectWeights } from '../../src/weights/checkpoint.js';
import { toFloat32 } from '../../src/weights/tensor.js';
import { repoRoot, sharedPath } from '../helpers/shared.js';
import { writeSyntheticImageFolder } from '../train/synthetic-imagefolder.js';
import { startHubServer, type HubServer } from './server.js';

let srv: HubServer;
let env: Record<string, string>;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'repghost-train-pretrained-'));
const data = path.join(tmp, 'data');

beforeAll(async () => {
  srv = await startHubServer();
  env = { REPGHOST_HF_ENDPOINT: srv.url, REPGHOST_OFFICIAL_ENDPOINT: srv.url, REPGHOST_CACHE: path.join(tmp, 'cache') };
  await writeSyntheticImageFolder(data, { train: 2, val: 1 });
});
afterAll(async () => {
  await srv.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** The train command in a child process (not blocking this one, which serves the hub). */
function train(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', path.join(repoRoot, 'test/train/train-cli.ts'), 'train', ...args],
      {
        cwd: repoRoot,
        encoding: 'utf8',
        env: { ...process.env, ...env },
        timeout: 120_000,
      },
      (err, _stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stderr }),
    );
  });
}

describe('train --pretrained', () => {
  it('starts from the published EMA weights (official source), classifier re-initialized', async () => {
    const output = path.join(tmp, 'run');
    const r = await train([
      '--pretrained',
      '--source',
      'official',
      '--model',
      'repghostnet_0_5x',
      '--dataset',
      'imagefolder',
      '--data-dir',
      data,
      '--input-size',
      '32',
      '-b',
      '6',
      '--epochs',
      '1',
      '--workers',
      '0',
      '--freeze-stages',
      '5',
      '--no-model-ema',
      '--output',
      output,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/pretrained repghostnet_0_5x \(official, EMA weights\) from /);
    expect(r.stderr).toMatch(/its 1000-class classifier re-initialized for 3 classes/);
    expect(srv.cdnRequests().length).toBe(1);
    const published = selectWeights(
      readCheckpoint(new Uint8Array(readFileSync(sharedPath('golden', 'repghostnet_0_5x', 'checkpoint.pth')))),
      { ema: true },
    );
    const trained = readCheckpoint(new Uint8Array(readFileSync(path.join(output, 'last.pth.tar')))).stateDict;
    for (const k of [
      'conv_stem.weight',
      'blocks.3.0.ghost1.cheap_operation.0.weight',
      'blocks.4.0.ghost2.fusion_bn.0.running_var',
    ]) {
      expect(Array.from(toFloat32(trained.get(k)!)), k).toEqual(Array.from(toFloat32(published.get(k)!)));
    }
    expect(trained.get('classifier.weight')!.shape).toEqual([3, 1280]);
  }, 120_000);

  it('--pretrained with --initial-checkpoint, and --source without --pretrained, are flag errors', async () => {
    let r = await train(['--pretrained', '--initial-checkpoint', 'x.pth', '--output', path.join(tmp, 'bad')]);
    expect([r.code, r.stderr.split('\n')[0]]).toEqual([
      2,
      'repghost: --pretrained and --initial-checkpoint exclude each other',
    ]);
    r = await train(['--source', 'hf', '--output', path.join(tmp, 'bad')]);
    expect([r.code, r.stderr.split('\n')[0]]).toEqual([2, 'repghost: --source goes with --pretrained']);
  }, 60_000);
});
