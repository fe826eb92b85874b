import { mkdtempSync, readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensors } from '../../src/weights/safetensors.js';
import { readPth } from '../../src/weights/pth.js';
import { toFloat32, type StateDict } from '../../src/weights/tensor.js';
import { runCli } from '../helpers/cli.js';
import { maxAbsDiff, sharedPath, sharedTensors } from '../helpers/shared.js';

const ckpt = sharedPath('golden', 'repghostnet_0_5x', 'checkpoint.pth');
const tmp = mkdtempSync(path.join(tmpdir(), 'repghost-cli-'));

function worst(ours: StateDict, ref: StateDict): number {
  expect([...ours.keys()].sort()).toEqual([...ref.keys()].sort());
  let w = 0;
  for (const [k, r] of ref) if (r.dtype === 'F32') w = Math.max(w, maxAbsDiff(toFloat32(ours.get(k)!), toFloat32(r)));
  return w;
}

describe('repghost info', () => {
  it('--json prints the official counts of both forms', () => {
    const r = runCli(['info', 'repghostnet_050', '--json']);
    expect(r.code).toBe(0);
    const reference = JSON.parse(readFileSync(sharedPath('reference', 'flops_params.json'), 'utf8')) as {
      models: Record<string, Record<string, unknown>>;
    };
    const ref = reference.models.repghostnet_0_5x;
    expect(JSON.parse(r.stdout)).toEqual({ model: 'repghostnet_0_5x', ...ref });
  });
  it('prints a per-stage table', () => {
    const r = runCli(['info', 'repghostnet_1_0x']);
    expect(r.stdout).toMatch(/blocks\.9/);
    expect(r.stdout).toMatch(/142397872/);
  });
  it('unknown model: one line, exit 2 (a command-line mistake)', () => {
    const r = runCli(['info', 'resnet50']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/unknown model 'resnet50'/);
  });
});

describe('repghost convert', () => {
  it('timm checkpoint (EMA) -> deploy .safetensors equal to the official conversion', () => {
    const out = path.join(tmp, 'deploy_ema.safetensors');
    const r = runCli(['convert', ckpt, out, '--ema']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/before: 672 keys/);
    expect(r.stdout).toMatch(/after: {2}384 keys/);
    const ours = readSafetensors(new Uint8Array(readFileSync(out))).tensors;
    expect(worst(ours, sharedTensors('golden', 'repghostnet_0_5x', 'deploy_ema.safetensors'))).toBeLessThanOrEqual(
      1e-6,
    );
  });
  it('-> .pth (torch.load-able state dict), --json summary', () => {
    const out = path.join(tmp, 'deploy.pth');
    const r = runCli(['convert', ckpt, out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const summary: unknown = JSON.parse(r.stdout);
    expect(summary).toMatchObject({
      model: 'repghostnet_0_5x',
      input_form: 'train',
      before: { keys: 672, params: 2313968 },
      after: { keys: 384, params: 2306528 },
    });
    const sd = readPth(new Uint8Array(readFileSync(out))) as StateDict;
    expect(worst(sd, sharedTensors('golden', 'repghostnet_0_5x', 'deploy.safetensors'))).toBeLessThanOrEqual(1e-6);
  });
  it('bad inputs: one line each, non-zero exit, nothing written', () => {
    const junk = path.join(tmp, 'junk.pth');
    writeFileSync(junk, 'not a checkpoint at all');
    const cases: [string[], RegExp][] = [
      [['convert', path.join(tmp, 'missing.pth'), path.join(tmp, 'o.safetensors')], /checkpoint not found/],
      [['convert', junk, path.join(tmp, 'o.safetensors')], /junk\.pth|not a|unrecognized|unknown/i],
      [['convert', ckpt, path.join(tmp, 'o.onnx')], /\.safetensors or \.pth/],
      [['convert', ckpt, ckpt], /overwrite the input/],
      [
        ['convert', ckpt, path.join(tmp, 'o.safetensors'), '--model', 'repghostnet_1_0x'],
        /do not fit repghostnet_1_0x.*fit repghostnet_0_5x/,
      ],
      [
        ['convert', sharedPath('golden', 'repghostnet_1_0x', 'model.pth'), path.join(tmp, 'o.safetensors'), '--ema'],
        /EMA|ema/,
      ],
    ];
    for (const [args, msg] of cases) {
      const r = runCli(args);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr, args.join(' ')).toMatch(msg);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
    }
    expect(existsSync(path.join(tmp, 'o.safetensors'))).toBe(false);
    expect(readdirSync(tmp).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
