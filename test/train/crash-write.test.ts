/**
 * SIGKILL inside a checkpoint write, then resume. The same tiny run as resume.test.ts
 * (32 synthetic Fashion-MNIST-shaped training images, batch 8, 2 epochs of 4 steps) is
 * started through fixtures/kill-in-write-child.ts, which lets the epoch-1 write of
 * last.pth.tar put half of its bytes into the temp file and then freezes it there; the
 * test kills it with SIGKILL at that point. On disk must be the complete epoch-0
 * checkpoint (byte for byte what the run wrote at epoch 0) with its summary.csv; after
 * --resume the run must end equal to an uninterrupted one, and the dead writer's temp
 * file must be gone.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runTinyTrainChild, type ChildRun } from './resume-helpers.js';
import { writeSyntheticFashionMnist } from './synthetic-data.js';
import { buildSpec } from '../../src/spec/index.js';
import { decodeCheckpoint, encodeCheckpoint, type TrainingCheckpoint } from '../../src/train/checkpoint.js';
import { parseSummaryCsv, SUMMARY_COLUMNS } from '../../src/train/summary.js';
import type { StateDict } from '../../src/weights/tensor.js';
import { repoRoot } from '../helpers/shared.js';

const work = mkdtempSync(path.join(tmpdir(), 'repghost-crash-write-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const dataDir = path.join(work, 'data');
writeSyntheticFashionMnist(dataDir, 32, 16, 7);

const spec = buildSpec('repghostnet_0_5x', { numClasses: 10, dropout: 0.2 });
const TRAIN_CLI = path.join(repoRoot, 'test/train/train-cli.ts');
const KILL_CHILD = path.join(repoRoot, 'test/train/fixtures/kill-in-write-child.ts');

/** Runs the tiny training run in a child through `script`. */
function runTrain(
  script: string,
  output: string,
  extra: string[],
  env: Record<string, string> = {},
  onStderr?: (stderr: string, child: ChildProcess) => void,
): Promise<ChildRun> {
  return runTinyTrainChild(script, dataDir, output, extra, env, onStderr);
}

function load(file: string): TrainingCheckpoint {
  return decodeCheckpoint(spec, new Uint8Array(readFileSync(file)), file);
}

/** A checkpoint without what legitimately differs between two runs: wall-clock times, the output folder. */
function normalized(c: TrainingCheckpoint): TrainingCheckpoint {
  return {
    ...c,
    args: { ...c.args, output: null },
    extras: { ...c.extras, history: c.extras.history.map((r) => ({ ...r, seconds: 0, images_per_s: 0 })) },
  };
}

function bytesOf(a: ArrayBufferView): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** Same keys in the same order, same dtypes and shapes, bit-identical data. */
function expectSameTensors(what: string, a: StateDict, b: StateDict): void {
  expect([...b.keys()], what).toEqual([...a.keys()]);
  for (const [k, t] of a) {
    const u = b.get(k)!;
    expect([u.dtype, u.shape], `${what} ${k}`).toEqual([t.dtype, t.shape]);
    expect(bytesOf(u.data).equals(bytesOf(t.data)), `${what} ${k}`).toBe(true);
  }
}

/** summary.csv rows without the timing columns. */
function untimedRows(file: string): unknown[][] {
  return parseSummaryCsv(readFileSync(file, 'utf8')).map((r) =>
    SUMMARY_COLUMNS.filter((c) => c !== 'seconds' && c !== 'images_per_s').map((c) => r[c]),
  );
}

describe('SIGKILL inside a checkpoint write', () => {
  const title =
    'leaves the previous complete checkpoint; resume ends identical to an uninterrupted run and removes the temp file';
  it(
    title,
    async () => {
      const straight = path.join(work, 'straight');
      const killed = path.join(work, 'killed');
      const side = path.join(work, 'side');
      mkdirSync(side);

      interface AtKill {
        pid: number;
        tmp: string;
        written: number;
        total: number;
        tmpSize: number;
        listing: string[];
        last: Buffer;
      }
      let atKill: AtKill | null = null;
      const [a, b] = await Promise.all([
        runTrain(TRAIN_CLI, straight, []),
        runTrain(
          KILL_CHILD,
          killed,
          [],
          { REPGHOST_KILL_IN_WRITE: JSON.stringify({ target: 'last.pth.tar', nth: 2, sideDir: side }) },
          (stderr, child) => {
            const m = /^KILL-IN-WRITE (\{.*\})\n/m.exec(stderr);
            if (!m || atKill || child.exitCode !== null) return;
            // The child is frozen inside the write: look at the folder, then kill it there.
            try {
              const info = JSON.parse(m[1]!) as { tmp: string; written: number; total: number };
              atKill = {
                ...info,
                pid: child.pid!,
                tmpSize: existsSync(info.tmp) ? statSync(info.tmp).size : -1,
                listing: readdirSync(killed).sort(),
                last: readFileSync(path.join(killed, 'last.pth.tar')),
              };
            } finally {
              child.kill('SIGKILL');
            }
          },
        ),
      ]);
      expect(a.code, a.stderr).toBe(0);
      expect(b.signal, b.stderr).toBe('SIGKILL');
      expect(atKill, 'the child never reached the second write of last.pth.tar').not.toBeNull();
      const k = atKill as unknown as AtKill;

      // (c) The kill landed mid-write: the temp file of the epoch-1 write was there, partly
      // written (its bytes are the start of the epoch-1 checkpoint), and it still is.
      const tmpName = path.basename(k.tmp);
      expect(path.dirname(k.tmp)).toBe(killed);
      expect(tmpName).toMatch(new RegExp(`^\\.last\\.pth\\.tar\\.${k.pid}\\.[0-9a-f]{8}\\.tmp$`));
      expect(k.written).toBeGreaterThan(0);
      expect(k.written).toBeLessThan(k.total);
      expect(k.tmpSize).toBe(k.written);
      expect(k.listing).toEqual([tmpName, 'last.pth.tar', 'model_best.pth.tar', 'summary.csv'].sort());
      const intended = readFileSync(path.join(side, 'last.pth.tar.2.intended'));
      expect(intended.length).toBe(k.total);
      expect(load(path.join(side, 'last.pth.tar.2.intended')).epoch).toBe(1);
      const partial = readFileSync(k.tmp);
      expect(partial.equals(intended.subarray(0, k.written))).toBe(true);
      expect(() => decodeCheckpoint(spec, new Uint8Array(partial), tmpName)).toThrow();

      // (a) last.pth.tar is, byte for byte, the complete epoch-0 checkpoint the run wrote
      // (as at kill time), and it decodes; model_best.pth.tar (epoch 0 was the best) too.
      const epoch0 = readFileSync(path.join(side, 'last.pth.tar.1.bin'));
      const last = readFileSync(path.join(killed, 'last.pth.tar'));
      expect(last.equals(epoch0)).toBe(true);
      expect(last.equals(k.last)).toBe(true);
      expect(readFileSync(path.join(killed, 'model_best.pth.tar')).equals(epoch0)).toBe(true);
      const ck0 = load(path.join(killed, 'last.pth.tar'));
      expect(ck0.epoch).toBe(0);
      expect(ck0.extras.bestEpoch).toBe(0);

      // (b) summary.csv is complete and matches the checkpoint's history: one row, epoch 0.
      const summaryText = readFileSync(path.join(killed, 'summary.csv'), 'utf8');
      expect(summaryText.endsWith('\n')).toBe(true);
      const rows = parseSummaryCsv(summaryText);
      expect(rows.map((r) => r.epoch)).toEqual([0]);
      expect(rows).toEqual(ck0.extras.history);

      // (d) Resume from last.pth.tar: same schedule, same end as the uninterrupted run.
      const c = await runTrain(TRAIN_CLI, killed, ['--resume', path.join(killed, 'last.pth.tar')]);
      expect(c.code, c.stderr).toBe(0);
      expect(c.stderr).toMatch(/resumed from .*: epoch 0 done, continuing at epoch 1/);
      for (const file of ['last.pth.tar', 'model_best.pth.tar']) {
        const ref = normalized(load(path.join(straight, file)));
        const got = normalized(load(path.join(killed, file)));
        const { stateDict: s1, emaStateDict: e1, optimizer: o1, ...rest1 } = ref;
        const { stateDict: s2, emaStateDict: e2, optimizer: o2, ...rest2 } = got;
        expect(rest2, file).toEqual(rest1);
        expectSameTensors(`${file} model`, s1, s2);
        expectSameTensors(`${file} ema`, e1!, e2!);
        expect(o2.param_groups).toEqual(o1.param_groups);
        expect([...o2.state.keys()]).toEqual([...o1.state.keys()]);
        for (const [i, e] of o1.state) {
          // Per-parameter state (momentum buffer, or whatever the optimizer keeps): tensors bit for bit.
          const f = o2.state.get(i) as unknown as Record<string, unknown>;
          expect(Object.keys(f), `${file} state ${i}`).toEqual(Object.keys(e));
          for (const [name, v] of Object.entries(e as unknown as Record<string, unknown>)) {
            if (ArrayBuffer.isView(v))
              expect(bytesOf(f[name] as ArrayBufferView).equals(bytesOf(v)), `${file} state ${i} ${name}`).toBe(true);
            else expect(f[name], `${file} state ${i} ${name}`).toEqual(v);
          }
        }
        // Bit for bit: the same bytes once encoded (all tensors, optimizer, PRNG, history).
        expect(Buffer.from(encodeCheckpoint(spec, got)).equals(Buffer.from(encodeCheckpoint(spec, ref))), file).toBe(
          true,
        );
      }
      expect(load(path.join(killed, 'last.pth.tar')).epoch).toBe(1);
      const got = untimedRows(path.join(killed, 'summary.csv'));
      expect(got).toEqual(untimedRows(path.join(straight, 'summary.csv')));
      expect(parseSummaryCsv(readFileSync(path.join(killed, 'summary.csv'), 'utf8')).map((r) => r.lr)).toEqual([
        1e-4,
        1e-5 + 0.5 * (0.1 - 1e-5) * (1 + Math.cos(Math.PI / 2)),
      ]);

      // (e) No temp file left: the resumed run removed the dead writer's.
      expect(readdirSync(killed).sort()).toEqual(['last.pth.tar', 'model_best.pth.tar', 'summary.csv']);
      expect(readdirSync(straight).sort()).toEqual(['last.pth.tar', 'model_best.pth.tar', 'summary.csv']);
    },
    120_000,
  );
});
