/** `repghost train` flag checking (in process: every case fails before TensorFlow.js loads). */
import { describe, expect, it } from 'vitest';
import { register } from '../../src/cli/commands/train.js';
import { optionsAsFlags, UsageError } from '../../src/cli/errors.js';
import { runInProcess } from './in-process.js';
import { DEFAULT_TRAIN_OPTIONS, TRAIN_OPTION_TABLE, trainArgs, type TrainOptions } from '../../src/train/options.js';

const cases: [string, string[], RegExp][] = [
  ['unknown optimizer', ['--opt', 'lamb'], /--opt must be one of sgd, momentum, adamw, got 'lamb'/],
  ['unknown schedule', ['--sched', 'poly'], /--sched must be one of cosine, step, none, got 'poly'/],
  ['unknown dataset', ['--dataset', 'imagenet'], /--dataset must be one of fashion-mnist, imagefolder/],
  [
    'a bad RandAugment string',
    ['--dataset', 'imagefolder', '--data-dir', 'd', '--aa', 'rand-m9-q1'],
    /--aa: unknown RandAugment section 'q1'/,
  ],
  [
    'AutoAugment policies (not implemented)',
    ['--dataset', 'imagefolder', '--data-dir', 'd', '--aa', 'v0'],
    /--aa: 'v0' is not a RandAugment string/,
  ],
  [
    'a reversed --scale',
    ['--dataset', 'imagefolder', '--data-dir', 'd', '--scale', '1', '0.5'],
    /--scale takes two numbers lo hi with 0 < lo <= hi/,
  ],
  [
    'one --ratio value',
    ['--dataset', 'imagefolder', '--data-dir', 'd', '--ratio', '0.75'],
    /--ratio takes two numbers/,
  ],
  ['a beta of 1', ['--opt', 'adamw', '--opt-betas', '0.9', '1'], /--opt-betas takes two numbers in \[0, 1\)/],
  [
    'ImageFolder flags with Fashion-MNIST',
    ['--input-size', '64', '--reprob', '0.2'],
    /--input-size, --reprob apply to --dataset imagefolder only/,
  ],
  ['imagefolder without --data-dir', ['--dataset', 'imagefolder'], /--dataset imagefolder needs --data-dir <root>/],
  ['too many frozen stages', ['--freeze-stages', '11'], /--freeze-stages takes 0\.\.10 for repghostnet_0_5x/],
  [
    'a non-square --input-size',
    ['--dataset', 'imagefolder', '--data-dir', 'd', '--input-size', '3', '64', '48'],
    /--input-size takes N or 3 N N/,
  ],
  [
    '--input-size and --img-size disagreeing',
    ['--dataset', 'imagefolder', '--data-dir', 'd', '--input-size', '64', '--img-size', '32'],
    /--input-size 64 and --img-size 32 disagree/,
  ],
  [
    'an unknown erase mode',
    ['--dataset', 'imagefolder', '--data-dir', 'd', '--remode', 'noise'],
    /--remode must be one of pixel, rand, const/,
  ],
  [
    'lanczos crops (PIL transforms refuse it)',
    ['--dataset', 'imagefolder', '--data-dir', 'd', '--train-interpolation', 'lanczos'],
    /--train-interpolation must be one of random, bilinear, bicubic, nearest/,
  ],
  ['negative workers', ['--workers', '-1'], /--workers takes a non-negative integer, got '-1'/],
  ['an absurd epoch count', ['--epochs', '1e9'], /--epochs takes an integer from 1 to 100000, got '1e9'/],
  ['too many workers', ['--workers', '5000'], /--workers takes an integer from 0 to 256/],
  ['a missing --output', [], /required option '--output <dir>' not specified/],
  ['a zero decay period', ['--sched', 'step', '--decay-epochs', '0'], /--decay-epochs takes a number in/],
];

describe('repghost train flags', () => {
  it.each(cases)('refuses %s with one UsageError line', async (_, args, message) => {
    const output = message.source.includes('--output') ? [] : ['--output', 'unused'];
    const r = await runInProcess(register, ['train', ...output, ...args]);
    expect(r.error).toBeInstanceOf(UsageError);
    expect(r.error!.message).toMatch(message);
  });

  it('explains the datasets, fine-tuning and gives examples in --help', async () => {
    let help = '';
    const { Command } = await import('commander');
    const program = new Command('repghost').exitOverride().configureOutput({
      writeOut: (s) => {
        help += s;
      },
    });
    register(program);
    program.commands[0]!.exitOverride().configureOutput({
      writeOut: (s) => {
        help += s;
      },
    });
    await program.parseAsync(['node', 'repghost', 'train', '--help']).catch(() => {});
    // Every row of the option table is a flag, with its default where it has one.
    for (const row of Object.values(TRAIN_OPTION_TABLE)) expect(help, row.flag).toContain(row.flag.split(' ')[0]);
    expect(help.replace(/\s+/g, ' ')).toContain(
      '--opt-betas <b...> adamw betas: two numbers in [0, 1) (default: 0.9 0.999)',
    );
    expect(help.replace(/\s+/g, ' ')).toContain('--reprob <p> imagefolder: RandomErasing probability (default: 0)');
    expect(help).toContain('--no-model-ema');
    expect(help).toContain('--img-size');
    expect(help).toMatch(/imagefolder +--data-dir <root> with <root>\/train\/<class>\/<image>/);
    expect(help).toMatch(/--freeze-stages N freezes conv_stem, bn1 and/);
  });

  it('saves every option that timm names in the checkpoint args, ImageFolder ones only for ImageFolder runs', () => {
    const o: TrainOptions = {
      ...DEFAULT_TRAIN_OPTIONS,
      output: 'out',
      dataset: 'imagefolder',
      dataDir: 'd',
      aa: 'rand-m9-mstd0.5',
    };
    const args = trainArgs(o, 7, 96);
    for (const row of Object.values(TRAIN_OPTION_TABLE)) if (row.timm) expect(args, row.timm).toHaveProperty(row.timm);
    expect(args).toMatchObject({
      num_classes: 7,
      input_size: [3, 96, 96],
      img_size: 96,
      aa: 'rand-m9-mstd0.5',
      initial_checkpoint: null,
    });
    const fashion = trainArgs({ ...o, dataset: 'fashion-mnist' }, 10, 32);
    const imagefolderOnly = Object.values(TRAIN_OPTION_TABLE).filter(
      (r) => 'imagefolderOnly' in r && r.imagefolderOnly,
    );
    for (const row of imagefolderOnly)
      if (row.timm !== 'input_size') expect(fashion, row.timm!).not.toHaveProperty(row.timm!);
    expect(fashion.input_size).toEqual([3, 32, 32]);
  });

  it("names a library error's option fields as the command line's flags", () => {
    expect(optionsAsFlags("the 'evalBatchSize' option is 3; the 'numClasses' option; the 'ema' option")).toBe(
      '--validation-batch-size is 3; --num-classes; --ema',
    );
  });
});
