import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { readSafetensors } from '../../src/weights/safetensors.js';
import { register } from '../../src/cli/commands/preprocess.js';
import { runCli } from '../helpers/cli.js';
import { runInProcess } from './in-process.js';
import { maxAbsDiff, sharedPath, sharedTensors } from '../helpers/shared.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'repghost-pre-'));
const golden = sharedTensors('golden', 'preprocess', 'preprocessed.safetensors');

describe('repghost preprocess', () => {
  it.each(['bicubic', 'bilinear'])(
    'writes the %s model input of torchvision, and the PNG view',
    async (interpolation) => {
      const out = path.join(tmp, `chelsea-${interpolation}.safetensors`);
      const png = path.join(tmp, `chelsea-${interpolation}.png`);
      const r = runCli([
        'preprocess',
        sharedPath('golden', 'preprocess', 'chelsea.png'),
        out,
        '--png',
        png,
        '--interpolation',
        interpolation,
      ]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const { tensors, metadata } = readSafetensors(new Uint8Array(readFileSync(out)));
      const t = tensors.get('input')!;
      expect(t.shape).toEqual([1, 3, 224, 224]);
      expect(metadata.interpolation).toBe(interpolation);
      expect(
        maxAbsDiff(t.data as Float32Array, golden.get(`chelsea.png.${interpolation}`)!.data as Float32Array),
      ).toBeLessThan(1e-6);
      expect(await sharp(png).metadata()).toMatchObject({ width: 224, height: 224, format: 'png' });
    },
  );

  it('a missing image: one line, exit 1', () => {
    const r = runCli(['preprocess', '/nonexistent.png', path.join(tmp, 'x.safetensors')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('repghost: cannot decode image /nonexistent.png: file not found\n');
  });

  it.each([
    [['x.npy'], /use a \.safetensors extension/],
    [['x.safetensors', '--png', 'view.jpg'], /--png view\.jpg: use a \.png extension/],
    [['x.safetensors', '--size', '0'], /--size takes a positive integer, got '0'/],
  ])('bad arguments %# (in process): nothing written', async (args, message) => {
    const r = await runInProcess(register, [
      'preprocess',
      sharedPath('golden', 'preprocess', 'chelsea.png'),
      ...args.map((a) => (a.startsWith('x.') ? path.join(tmp, a) : a)),
    ]);
    expect(`${r.stderr} ${r.error?.message}`).toMatch(message);
    expect(existsSync(path.join(tmp, 'x.safetensors'))).toBe(false);
  });
});
