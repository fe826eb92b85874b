import { describe, expect, it } from 'vitest';
import { register } from '../../src/cli/commands/predict.js';
import { runCli } from '../helpers/cli.js';
import { runInProcess } from './in-process.js';
import { sharedPath } from '../helpers/shared.js';
import { expected } from '../onnx/golden-cases.js';

const ckpt = sharedPath('golden', 'repghostnet_0_5x', 'checkpoint.pth');
const chelsea = sharedPath('golden', 'preprocess', 'chelsea.png');
const rocket = sharedPath('golden', 'preprocess', 'rocket.jpg');

describe('repghost predict', () => {
  it('--json: top-5 of chelsea.png is the argsort of the golden logits row 0', () => {
    const r = runCli([
      'predict',
      chelsea,
      rocket,
      '--weights',
      ckpt,
      '--model',
      'repghostnet_0_5x',
      '--json',
      '--threads',
      '1',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as {
      model: string;
      results: { image: string; predictions: { index: number; label: string; probability: number }[] }[];
    };
    expect(out.model).toBe('repghostnet_0_5x');
    expect(out.results.map((x) => x.image)).toEqual([chelsea, rocket]);
    const row = Array.from((expected('repghostnet_0_5x').get('logits_train')!.data as Float32Array).subarray(0, 1000));
    const argsort = row
      .map((v, i) => [v, i] as const)
      .sort((a, b) => b[0] - a[0])
      .slice(0, 5)
      .map(([, i]) => i);
    expect(out.results[0]!.predictions.map((p) => p.index)).toEqual(argsort);
  });

  it('prints a ranked table, noting how the model was chosen when the file does not say', () => {
    const r = runCli([
      'predict',
      chelsea,
      '--weights',
      sharedPath('golden', 'repghostnet_wo_0_5x', 'model.pth'),
      '--topk',
      '2',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(3);
    expect(r.stdout).toMatch(/^ {2}1\. \S.*\d+\.\d\d%$/m);
    expect(r.stderr).toMatch(/^note: .*using repghostnet_0_5x/);
  });

  it('weights of another model: one line naming the model that fits, exit 1', () => {
    const r = runCli(['predict', chelsea, '--weights', ckpt, '--model', 'repghostnet_1_0x']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^repghost: weights do not fit repghostnet_1_0x .*set --model to repghostnet_0_5x$/m);
  });

  it('a missing image fails before loading the model (in process)', async () => {
    const r = await runInProcess(register, [
      'predict',
      chelsea,
      '/nonexistent/cat.jpg',
      '--weights',
      '/nonexistent/weights.pth',
    ]);
    expect(r.error?.message).toBe('image not found: /nonexistent/cat.jpg');
  });

  it('a bad flag value: one line, exit 2', () => {
    const r = runCli(['predict', chelsea, '--weights', ckpt, '--topk', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("repghost: --topk takes a positive integer, got '0'\n");
    expect(r.stdout).toBe('');
  });

  it.each([
    [[], /no weights: give a checkpoint file, or --pretrained --model <name>/],
    [['--weights', ckpt, '--interpolation', 'nearest'], /argument 'nearest' is invalid/],
    [['--weights', ckpt, '--crop-pct', '2'], /--crop-pct takes a number in \(0, 1\]/],
    [['--weights', ckpt, '--threads', 'two'], /--threads takes a positive integer/],
    [['--weights', ckpt, '--threads', '100000'], /--threads takes an integer from 1 to 64, got '100000'/],
    [['--weights', ckpt, '--size', '30000'], /--size takes an integer from 1 to 2048, got '30000'/],
  ])('bad flags %# (in process)', async (args, message) => {
    const r = await runInProcess(register, ['predict', chelsea, ...args]);
    expect(r.error).toBeDefined();
    expect(`${r.stderr} ${r.error!.message}`).toMatch(message);
  });
});
