/**
 * Faults of a data-parallel run: `mpirun -np 2 node dist/cli/main.js train` (3 epochs) whose
 * rank-1 node process is SIGKILLed once the first checkpoint exists. mpirun must end the job
 * within a minute with a non-zero status and no rank left running; last.pth.tar must be a
 * whole checkpoint; `--resume` with the same world size must reach, bit for bit, the
 * checkpoint of an unbroken run.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSpec } from '../../src/spec/index.js';
import type { TrainOptions } from '../../src/train/trainer.js';
import { repoRoot } from '../helpers/shared.js';
import { expectSameCheckpoint, loadRun } from '../train/resume-helpers.js';
import { writeSyntheticImageFolder } from '../train/synthetic-imagefolder.js';
import { cliCommand, imagefolderOptions } from './cli-run.js';
import { mpiEnv, mpirun, transportFlags, type JobResult } from './mpirun.js';

const work = mkdtempSync(path.join(os.tmpdir(), 'repghost-ddp-fault-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const data = path.join(work, 'data');
const flags = (out: string, extra: string[] = []): string[] => [
  ...cliCommand(),
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
  '3',
  '--lr',
  '0.05',
  '--warmup-epochs',
  '1',
  '--drop',
  '0.2',
  '--seed',
  '5',
  '-j',
  '0',
  '--threads',
  '1',
  '--output',
  path.join(work, out),
  ...extra,
];
const options = (out: string): TrainOptions => imagefolderOptions(data, path.join(work, out));
const spec = buildSpec('repghostnet_0_5x', { numClasses: 3 });

/** Children of `pid` (mpirun starts the local ranks itself). */
function children(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

/** The MPI rank of a process, from its environment. */
function rankOf(pid: number): number | null {
  try {
    const m = /(?:^|\0)OMPI_COMM_WORLD_RANK=(\d+)/.exec(readFileSync(`/proc/${pid}/environ`, 'latin1'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Whether a process still runs (a zombie does not). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

interface KilledRun {
  job: JobResult;
  ranks: number[];
  killedAtMs: number;
}

/** Starts the 3-epoch job, SIGKILLs rank 1 once last.pth.tar exists, waits for mpirun. */
function runAndKillRank1(out: string): Promise<KilledRun> {
  const last = path.join(work, out, 'last.pth.tar');
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn('mpirun', ['-np', '2', ...transportFlags('shm'), ...flags(out)], {
      cwd: repoRoot,
      env: mpiEnv(),
    });
    let stdout = '',
      stderr = '',
      ranks: number[] = [],
      killedAtMs = NaN;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const poll = setInterval(() => {
      if (!existsSync(last)) return;
      clearInterval(poll);
      ranks = children(child.pid!);
      const victim = ranks.find((p) => rankOf(p) === 1);
      if (victim === undefined) {
        reject(new Error(`rank 1 not found among ${ranks.join(', ')}`));
        return;
      }
      killedAtMs = Date.now();
      process.kill(victim, 'SIGKILL');
    }, 20);
    const guard = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.on('close', (code, signal) => {
      clearInterval(poll);
      clearTimeout(guard);
      resolve({ job: { code, signal, stdout, stderr, ms: Date.now() - t0 }, ranks, killedAtMs });
    });
  });
}

describe('a rank killed mid-run (mpirun -np 2, SIGKILL of rank 1 after the first checkpoint)', () => {
  let killed: KilledRun;
  let endedAtMs: number;

  beforeAll(async () => {
    await writeSyntheticImageFolder(data, { train: 8, val: 2 });
    const unbroken = await mpirun(2, 'shm', flags('unbroken'));
    if (unbroken.code !== 0) throw new Error(`unbroken run exited ${unbroken.code}: ${unbroken.stderr.slice(-1500)}`);
    killed = await runAndKillRank1('broken');
    endedAtMs = Date.now();
    console.log(
      `unbroken run ${(unbroken.ms / 1000).toFixed(1)} s; killed run ended ` +
        `${((endedAtMs - killed.killedAtMs) / 1000).toFixed(1)} s after the kill, exit ${killed.job.code}`,
    );
  }, 300_000);

  it('ends the whole job within a minute, non-zero, with no rank left', () => {
    expect(killed.ranks.length).toBe(2);
    expect(Number.isFinite(killed.killedAtMs)).toBe(true);
    expect(endedAtMs - killed.killedAtMs).toBeLessThan(60_000);
    expect(killed.job.code === null || killed.job.code === 0, killed.job.stderr.slice(-500)).toBe(false);
    for (const pid of killed.ranks) expect(running(pid), `rank process ${pid}`).toBe(false);
  });

  it('leaves a whole last.pth.tar of a finished epoch', () => {
    const ck = loadRun(spec, path.join(work, 'broken', 'last.pth.tar'), options('broken'));
    expect(ck.epoch).toBeGreaterThanOrEqual(0);
    expect(ck.epoch).toBeLessThan(2);
    expect(ck.args).toMatchObject({ world_size: 2 });
  });

  it("--resume with the same world size reaches the unbroken run's checkpoint bit for bit", async () => {
    const resumed = await mpirun(2, 'shm', flags('broken', ['--resume', path.join(work, 'broken', 'last.pth.tar')]));
    expect(resumed.code, resumed.stderr.slice(-1500)).toBe(0);
    expect(resumed.stderr).toMatch(/resumed from/);
    const got = loadRun(spec, path.join(work, 'broken', 'last.pth.tar'), options('broken'));
    const ref = loadRun(spec, path.join(work, 'unbroken', 'last.pth.tar'), options('unbroken'));
    expect(got.epoch).toBe(2);
    expectSameCheckpoint(got, ref);
  }, 180_000);
});
