import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { register } from '../../src/cli/commands/export.js';
import { runCli } from '../helpers/cli.js';
import { runInProcess } from './in-process.js';
import { maxAbsDiff, sharedPath } from '../helpers/shared.js';
import { expected, goldenInput, runOnnx } from '../onnx/golden-cases.js';

const ckpt = sharedPath('golden', 'repghostnet_0_5x', 'checkpoint.pth');
const tmp = mkdtempSync(path.join(tmpdir(), 'repghost-export-'));
const input = goldenInput();
const exp = expected('repghostnet_0_5x');

describe('repghost export', () => {
  it('the exported file alone (fresh session) reproduces logits_deploy_ema', async () => {
    const out = path.join(tmp, 'ema.onnx');
    const r = runCli(['export', ckpt, out, '--model', 'repghostnet_0_5x', '--ema', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      model: 'repghostnet_0_5x',
      graph: 'deploy',
      weights_form: 'train',
      outputs: ['logits'],
    });
    const logits = (await runOnnx(new Uint8Array(readFileSync(out)), input)).logits!;
    expect(maxAbsDiff(logits, exp.get('logits_deploy_ema')!.data as Float32Array)).toBeLessThan(1e-4);
  });

  it('--train-form --dynamic --features: training-form graph with symbolic H/W and feature outputs', async () => {
    const out = path.join(tmp, 'train.onnx');
    const r = runCli([
      'export',
      ckpt,
      out,
      '--model',
      'repghostnet_0_5x',
      '--train-form',
      '--dynamic',
      '--features',
      'conv_stem,pre_logits',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/-> train graph/);
    const res = await runOnnx(new Uint8Array(readFileSync(out)), input);
    expect(Object.keys(res).sort()).toEqual(['features.conv_stem', 'features.pre_logits', 'logits']);
    expect(maxAbsDiff(res.logits!, exp.get('logits_train')!.data as Float32Array)).toBeLessThan(1e-4);
    expect(maxAbsDiff(res['features.conv_stem']!, exp.get('features.conv_stem')!.data as Float32Array)).toBeLessThan(
      1e-4,
    );
  });

  it('deploy-form weights cannot give a training-form graph: one line, exit 1', () => {
    const r = runCli([
      'export',
      sharedPath('golden', 'repghostnet_0_5x', 'deploy.safetensors'),
      path.join(tmp, 'x.onnx'),
      '--train-form',
    ]);
    expect(r.code).toBe(1);
    expect(
      r.stderr
        .trim()
        .split('\n')
        .filter((l) => !l.startsWith('note:')),
    ).toEqual([
      'repghost: a training-form graph needs training-form weights; these repghostnet_0_5x weights are in deploy ' +
        'form (fusion branches already folded)',
    ]);
  });

  it.each([
    [[ckpt, 'x.pth'], /use an \.onnx extension/],
    [[ckpt, 'x.onnx', '--train-form', '--keep-bn'], /drop --keep-bn/],
    [[ckpt, 'x.onnx', '--model', 'repghostnet_0_5x', '--features', 'stem'], /--features: unknown feature tap 'stem'/],
    [['/nonexistent.pth', 'x.onnx'], /weights file not found: \/nonexistent\.pth/],
    [[ckpt, 'x.onnx', '--input-size', '-3'], /--input-size takes a positive integer, got '-3'/],
    [[ckpt, 'x.onnx', '--input-size', '4096'], /--input-size takes an integer from 1 to 2048, got '4096'/],
  ])('bad input %# (in process)', async (args, message) => {
    const r = await runInProcess(register, [
      'export',
      ...args.map((a) => (a.startsWith('x.') ? path.join(tmp, a) : a)),
    ]);
    expect(r.error).toBeDefined();
    expect(`${r.stderr} ${r.error!.message}`).toMatch(message);
    expect(existsSync(path.join(tmp, 'x.onnx'))).toBe(false);
  });
});
