/**
 * The data-parallel goldens (shared/golden/ddp_step_0_5x*.safetensors: PyTorch 1.13 DDP over
 * gloo, 2 ranks x batch 8, two SGD steps) replayed by `mpirun -np 2 node --import tsx
 * scripts/ddp-replay.ts`, with shared/README.md's tolerances.
 *
 * Fully own runs, over shared memory and over TCP (as between machines): each rank's step-0
 * loss within 1e-5; the averaged step-0 gradients ||d|| <= 1e-3 ||g|| + 1e-6; parameters
 * bit-identical on both ranks; the two transports give the same bits. Like the single-process
 * golden (see test/train/golden-step.test.ts), step 1 of a fully own run is ill-conditioned:
 * a few ReLU inputs sit within float noise of zero after step 0, so step-0 gradients a float
 * summation order apart (our native and wasm kernels: 1.9e-4 relative) end step 1 ~3e-2
 * apart. So step 1 is also checked driven by PyTorch's step-0 gradients (`--drive-step0`):
 * both losses within 1e-5 and the whole state (parameters, each rank's BN buffers) within
 * 1e-4, tighter than the README's 2e-2. The fully own state difference is printed.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSafetensors } from '../../src/weights/safetensors.js';
import { toFloat32, type StateDict } from '../../src/weights/tensor.js';
import { maxAbsDiff, sharedPath, sharedTensors } from '../helpers/shared.js';
import { mpirun, type Transport } from './mpirun.js';

function norm(a: Iterable<number>): number {
  let s = 0;
  for (const v of a) s += v * v;
  return Math.sqrt(s);
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length),
    y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

const work = mkdtempSync(path.join(os.tmpdir(), 'repghost-ddp-golden-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Run {
  label: string;
  ranks: StateDict[];
}

/** Runs the replay under mpirun and reads every rank's output. */
async function replay(
  goldenFile: string,
  world: number,
  transport: Transport,
  drive: boolean,
  outDir: string,
): Promise<StateDict[]> {
  const job = await mpirun(world, transport, [
    'node',
    '--import',
    'tsx',
    'scripts/ddp-replay.ts',
    ...(drive ? ['--drive-step0'] : []),
    goldenFile,
    outDir,
  ]);
  if (job.code !== 0) throw new Error(`mpirun exited ${job.code ?? job.signal}: ${job.stderr.slice(-2000)}`);
  console.log(`mpirun -np ${world} (${transport}${drive ? ', step 0 driven' : ''}): ${(job.ms / 1000).toFixed(1)} s`);
  return Array.from(
    { length: world },
    (_, r) => readSafetensors(new Uint8Array(readFileSync(path.join(outDir, `r${r}.safetensors`)))).tensors,
  );
}

/** Worst |ours - golden| over every float state entry of every rank after the last step. */
function stateDiff(ranks: StateDict[], golden: StateDict, check?: (d: number, what: string) => void): number {
  let worst = 0;
  ranks.forEach((t, r) => {
    for (const [key, v] of t) {
      if (!key.startsWith('after.') || v.dtype !== 'F32') continue;
      const sd = key.slice('after.'.length);
      const d = maxAbsDiff(toFloat32(v), toFloat32(golden.get(`after.r${r}.${sd}`)!));
      worst = Math.max(worst, d);
      check?.(d, `r${r} ${sd}`);
    }
  });
  return worst;
}

describe.each(['ddp_step_0_5x', 'ddp_step_0_5x_s12'])('DDP golden %s', (name) => {
  const goldenFile = sharedPath('golden', `${name}.safetensors`);
  const config = JSON.parse(readFileSync(sharedPath('golden', `${name}.json`), 'utf8')) as {
    losses: Record<string, number[]>;
    world_size: number;
  };
  const golden = sharedTensors('golden', `${name}.safetensors`);
  const own: Run[] = [];
  let driven: StateDict[];

  beforeAll(async () => {
    for (const transport of ['shm', 'tcp'] as Transport[]) {
      own.push({
        label: transport,
        ranks: await replay(goldenFile, config.world_size, transport, false, path.join(work, `${name}-${transport}`)),
      });
    }
    driven = await replay(goldenFile, config.world_size, 'shm', true, path.join(work, `${name}-driven`));
  }, 240_000);

  it("matches each rank's step-0 loss within 1e-5 (fully own, shm and tcp)", () => {
    for (const run of own) {
      run.ranks.forEach((t, r) => {
        expect(
          Math.abs(toFloat32(t.get('loss.0')!)[0]! - config.losses[`r${r}`]![0]!),
          `${run.label} r${r}`,
        ).toBeLessThan(1e-5);
      });
    }
  });

  it('matches the averaged step-0 gradient of every parameter: ||d|| <= 1e-3 ||g|| + 1e-6', () => {
    let worst = 0,
      checked = 0;
    for (const [key, ref] of golden) {
      if (!key.startsWith('grad.0.')) continue;
      const g = toFloat32(ref);
      for (const run of own)
        for (const t of run.ranks) {
          const got = toFloat32(t.get(key)!);
          const d = norm(got.map((v, i) => v - g[i]!));
          if (norm(g) > 1e-5) worst = Math.max(worst, d / norm(g));
          expect(d, `${run.label} ${key}`).toBeLessThanOrEqual(1e-3 * norm(g) + 1e-6);
          checked++;
        }
    }
    expect(checked).toBeGreaterThan(400);
    console.log(`[${name}] worst relative gradient error ${worst.toExponential(2)}`);
  });

  it('keeps parameters bit-identical on both ranks, and shm and tcp give the same bits', () => {
    for (const run of [...own, { label: 'driven', ranks: driven }]) {
      for (const [key, t0] of run.ranks[0]!) {
        if (!key.startsWith('after.') || t0.dtype !== 'F32' || /running_(mean|var)$/.test(key)) continue;
        expect(sameBits(toFloat32(t0), toFloat32(run.ranks[1]!.get(key)!)), `${run.label} ${key}`).toBe(true);
      }
    }
    for (const [key, t] of own[0]!.ranks[1]!) {
      if (t.dtype === 'F32') expect(sameBits(toFloat32(t), toFloat32(own[1]!.ranks[1]!.get(key)!)), key).toBe(true);
    }
  });

  it("step 1 driven by PyTorch's step-0 gradients: both losses within 1e-5, the whole state within 1e-4", () => {
    driven.forEach((t, r) => {
      for (const s of [0, 1])
        expect(
          Math.abs(toFloat32(t.get(`loss.${s}`)!)[0]! - config.losses[`r${r}`]![s]!),
          `r${r} loss ${s}`,
        ).toBeLessThan(1e-5);
    });
    const worst = stateDiff(driven, golden, (d, what) => expect.soft(d, what).toBeLessThan(1e-4));
    for (const [key, ref] of golden) {
      const m = /^after\.r(\d)\.(.+\.num_batches_tracked)$/.exec(key);
      if (m)
        expect((driven[Number(m[1])]!.get(`after.${m[2]}`)!.data as BigInt64Array)[0], key).toBe(
          (ref.data as BigInt64Array)[0],
        );
    }
    const ownWorst = stateDiff(own[0]!.ranks, golden);
    const ownLoss1 = Math.max(
      ...own[0]!.ranks.map((t, r) => Math.abs(toFloat32(t.get('loss.1')!)[0]! - config.losses[`r${r}`]![1]!)),
    );
    console.log(
      `[${name}] state after two steps: ${worst.toExponential(2)} (step 0 driven); fully own: ` +
        `${ownWorst.toExponential(2)}, step-1 loss diff ${ownLoss1.toExponential(2)} (ill-conditioned, see top)`,
    );
    expect(ownLoss1).toBeLessThan(1e-3); // a sanity bound only: measured 6e-5 (seed 11) and 1.2e-4 (seed 12)
  });
});
