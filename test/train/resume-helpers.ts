/**
 * Shared by the resume tests: a run stopped after its first epoch, the tiny run in a child
 * process (for SIGKILL), and checkpoint comparison.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import type { ModelSpec } from '../../src/spec/model-spec.js';
import { decodeCheckpoint, type TrainingCheckpoint } from '../../src/train/checkpoint.js';
import type { ParamState } from '../../src/train/optimizer.js';
import { train, type TrainOptions } from '../../src/train/trainer.js';
import { createOptimizer } from '../../src/train/create-optimizer.js';
import { frozenParts } from '../../src/train/freeze.js';
import { paramLayouts } from '../../src/train/layout.js';
import { repoRoot } from '../helpers/shared.js';

/** How a child training run ended. */
export interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/**
 * Runs the kill tests' tiny `repghost train` (2 epochs, batch 8, validation batch 16, a log
 * line per step) in a child through `script` (test/train/train-cli.ts or a fixture wrapping
 * it); `onStderr` sees the stderr so far after each chunk (to kill the child at a line).
 */
export function runTinyTrainChild(
  script: string,
  dataDir: string,
  output: string,
  extra: string[],
  env: Record<string, string> = {},
  onStderr?: (stderr: string, child: ChildProcess) => void,
): Promise<ChildRun> {
  const args = [
    '--import',
    'tsx',
    script,
    'train',
    '--epochs',
    '2',
    '-b',
    '8',
    '--validation-batch-size',
    '16',
    '--log-interval',
    '1',
    '--data-dir',
    dataDir,
    '--output',
    output,
    ...extra,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      onStderr?.(stderr, child);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

/** Runs `options` to the end; returns its last checkpoint's path. */
export async function runToEnd(options: TrainOptions): Promise<string> {
  const outcome = await train(options);
  outcome.final.dispose();
  expect(outcome.status).toBe('completed');
  return path.join(options.output, 'last.pth.tar');
}

/** Runs `options` but stops it (an error from the hook, as a crash would) once epoch 0 is written. */
export async function runEpochZeroThenStop(options: TrainOptions): Promise<string> {
  await expect(
    train(options, {
      onEpochEnd: (row) => {
        if (row.epoch === 0) throw new Error('stopped after epoch 0');
      },
    }),
  ).rejects.toThrow('stopped after epoch 0');
  return path.join(options.output, 'last.pth.tar');
}

/** Decodes a checkpoint of a run with these options (its optimizer order depends on them). */
export function loadRun(spec: ModelSpec, file: string, o: TrainOptions): TrainingCheckpoint<ParamState> {
  const frozen = frozenParts(spec, paramLayouts(spec), o.freezeStages);
  const opt = createOptimizer(o, paramLayouts(spec), (k) => !frozen.params.has(k));
  return decodeCheckpoint<ParamState>(spec, new Uint8Array(readFileSync(file)), file, opt.order);
}

const bytes = (a: { buffer: ArrayBufferLike; byteOffset: number; byteLength: number }): Buffer =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** Everything but wall-clock figures must be identical, bit for bit. */
export function expectSameCheckpoint(got: TrainingCheckpoint<ParamState>, ref: TrainingCheckpoint<ParamState>): void {
  expect(got.epoch).toBe(ref.epoch);
  for (const [name, a, b] of [
    ['state_dict', ref.stateDict, got.stateDict],
    ['ema', ref.emaStateDict, got.emaStateDict],
  ] as const) {
    expect(b === null, name).toBe(a === null);
    if (!a || !b) continue;
    expect([...b.keys()], name).toEqual([...a.keys()]);
    for (const [k, t] of a) expect(bytes(b.get(k)!.data).equals(bytes(t.data)), `${name} ${k}`).toBe(true);
  }
  expect(got.optimizer.param_groups).toEqual(ref.optimizer.param_groups);
  expect([...got.optimizer.state.keys()]).toEqual([...ref.optimizer.state.keys()]);
  for (const [i, e] of ref.optimizer.state) {
    const g = got.optimizer.state.get(i)!;
    expect(Object.keys(g), `state ${i}`).toEqual(Object.keys(e));
    for (const [k, v] of Object.entries(e)) {
      if (v instanceof Float32Array) expect(bytes(g[k as 'exp_avg']!).equals(bytes(v)), `state ${i} ${k}`).toBe(true);
      else expect(g[k as 'step'], `state ${i} ${k}`).toBe(v);
    }
  }
  expect(got.extras.rng).toEqual(ref.extras.rng);
  expect(got.extras.classes).toEqual(ref.extras.classes);
  const keep = (h: TrainingCheckpoint['extras']['history']) =>
    h.map((r) => [r.epoch, r.lr, r.train_loss, r.eval_loss, r.eval_top1, r.eval_top5, r.eval_top1_ema]);
  expect(keep(got.extras.history)).toEqual(keep(ref.extras.history));
}
