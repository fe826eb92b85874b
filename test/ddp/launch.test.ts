/**
 * Launching: `repghost train --nproc 2` starts mpirun itself (root consent, no binding to
 * cores) and trains the same weights as `mpirun -np 2 repghost train`; under mpirun without
 * the MPI binding, train stops with one clear line instead of training unconnected copies.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withoutNproc } from '../../src/distributed/launch.js';
import { launcherWorldSize } from '../../src/distributed/mpi.js';
import { readCheckpoint } from '../../src/weights/checkpoint.js';
import { repoRoot } from '../helpers/shared.js';
import { writeSyntheticImageFolder } from '../train/synthetic-imagefolder.js';
import { cliCommand } from './cli-run.js';
import { mpiEnv, mpirun, type JobResult } from './mpirun.js';

const work = mkdtempSync(path.join(os.tmpdir(), 'repghost-ddp-launch-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const data = path.join(work, 'data');
const trainArgs = (out: string): string[] => [
  'train',
  '--dataset',
  'imagefolder',
  '--data-dir',
  data,
  '--input-size',
  '32',
  '-b',
  '4',
  '--epochs',
  '1',
  '--train-limit',
  '16',
  '--seed',
  '9',
  '-j',
  '0',
  '--threads',
  '1',
  '--output',
  path.join(work, out),
];

/** Runs a command (not under mpirun) and collects its output. */
function run(cmd: string[], env: NodeJS.ProcessEnv): Promise<JobResult> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd[0]!, cmd.slice(1), { cwd: repoRoot, env });
    let stdout = '',
      stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 }));
  });
}

describe('launching data-parallel training', () => {
  beforeAll(() => writeSyntheticImageFolder(data, { train: 6, val: 2 }), 60_000);

  it('detects an MPI launcher from its environment only', () => {
    expect(launcherWorldSize({})).toBeNull();
    expect(launcherWorldSize({ OMPI_COMM_WORLD_SIZE: '4' })).toBe(4);
    expect(launcherWorldSize({ PMI_SIZE: '2' })).toBe(2);
    expect(withoutNproc(['node', 'main.js', 'train', '--nproc', '2', '-b', '4', '--nproc=3'])).toEqual([
      'node',
      'main.js',
      'train',
      '-b',
      '4',
    ]);
  });

  it('--nproc 2 starts mpirun itself and trains what mpirun -np 2 trains', async () => {
    // Without Open MPI's root consent in the environment: the shortcut must supply it.
    const env = Object.fromEntries(
      Object.entries(process.env).filter(
        ([k]) => !['OMPI_ALLOW_RUN_AS_ROOT', 'OMPI_ALLOW_RUN_AS_ROOT_CONFIRM'].includes(k),
      ),
    );
    const viaNproc = await run([...cliCommand(), ...trainArgs('nproc'), '--nproc', '2'], env);
    expect(viaNproc.code, viaNproc.stderr.slice(-1500)).toBe(0);
    expect(viaNproc.stderr).toMatch(/data-parallel: 2 processes x batch 4/);
    const viaMpirun = await mpirun(2, 'shm', [...cliCommand(), ...trainArgs('mpirun')]);
    expect(viaMpirun.code, viaMpirun.stderr.slice(-1500)).toBe(0);
    const a = readCheckpoint(new Uint8Array(readFileSync(path.join(work, 'nproc', 'last.pth.tar')))).stateDict;
    const b = readCheckpoint(new Uint8Array(readFileSync(path.join(work, 'mpirun', 'last.pth.tar')))).stateDict;
    for (const [k, t] of a)
      expect(
        Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).equals(
          Buffer.from(b.get(k)!.data.buffer, b.get(k)!.data.byteOffset, b.get(k)!.data.byteLength),
        ),
        k,
      ).toBe(true);
    console.log(`--nproc 2: ${(viaNproc.ms / 1000).toFixed(1)} s; mpirun -np 2: ${(viaMpirun.ms / 1000).toFixed(1)} s`);
  }, 180_000);

  it('stops with one clear line under mpirun when the MPI binding is unavailable', async () => {
    const job = await run(
      ['mpirun', '-np', '2', '-x', 'REPGHOST_MPI=0', ...cliCommand(), ...trainArgs('nobinding')],
      mpiEnv(),
    );
    expect(job.code).not.toBe(0);
    const lines = job.stderr.split('\n').filter((l) => l.startsWith('repghost:'));
    expect(lines.length, job.stderr).toBe(1);
    for (const l of lines)
      expect(l).toMatch(/started by an MPI launcher \(2 processes\) but the MPI binding is disabled/);
  }, 60_000);
});
