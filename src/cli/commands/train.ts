/**
 * `repghost train`: trains a RepGhostNet with timm's recipe flags (train.py names), on
 * Fashion-MNIST or an ImageFolder (`<root>/train/<class>/*`, `<root>/val/<class>/*`).
 * Writes last.pth.tar / model_best.pth.tar (timm layout, torch-loadable) and summary.csv
 * to --output; --resume continues a killed run exactly.
 */
import { Option, type Command } from 'commander';
import { DEFAULT_FASHION_MNIST_DIR } from '../../data/fashion-mnist.js';
import { parseRandAugment } from '../../data/augment/rand-augment.js';
import type { EraseMode } from '../../data/augment/random-erasing.js';
import type { TrainInterpolation } from '../../data/augment/random-resized-crop.js';
import { buildSpec, modelNames } from '../../spec/index.js';
import type { ScheduleName } from '../../train/lr-schedule.js';
import { DEFAULT_TRAIN_OPTIONS, type DatasetName, type OptimizerName, type TrainOptions } from '../../train/options.js';
import { intInRange, MAX_INPUT_SIDE, MAX_THREADS, positiveInt, UsageError } from '../errors.js';
import { clobberedInput } from '../../node/output-guard.js';
import path from 'node:path';

function num(flag: string, min = -Infinity, max = Infinity) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`${flag} takes a number in [${min}, ${max}], got '${v}'`);
    return n;
  };
}

function nonNegativeInt(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`${flag} takes a non-negative integer, got '${v}'`);
    return n;
  };
}

/** One of a fixed set of names. */
function oneOf<T extends string>(flag: string, names: readonly T[], value: string): T {
  if (!(names as readonly string[]).includes(value)) throw new UsageError(`${flag} must be one of ${names.join(', ')}, got '${value}'`);
  return value as T;
}

/** A variadic flag that takes exactly two numbers lo <= hi in (min, max] (commander gives strings, or the default numbers). */
function pair(flag: string, values: readonly (string | number)[], min: number, max: number, strictLo = true): [number, number] {
  const nums = values.map(Number);
  const inRange = (n: number): boolean => Number.isFinite(n) && (strictLo ? n > min : n >= min) && n <= max;
  if (nums.length !== 2 || !nums.every(inRange) || nums[0]! > nums[1]!) {
    throw new UsageError(`${flag} takes two numbers lo hi with ${min} ${strictLo ? '<' : '<='} lo <= hi <= ${max}, got '${values.join(' ')}'`);
  }
  return [nums[0]!, nums[1]!];
}

const OPTIMIZERS: readonly OptimizerName[] = ['sgd', 'momentum', 'adamw'];
const SCHEDULES: readonly ScheduleName[] = ['cosine', 'step', 'none'];
const DATASETS: readonly DatasetName[] = ['fashion-mnist', 'imagefolder'];
const INTERPOLATIONS: readonly TrainInterpolation[] = ['random', 'bilinear', 'bicubic', 'nearest'];
const ERASE_MODES: readonly EraseMode[] = ['pixel', 'rand', 'const'];

/** Flags that only the ImageFolder pipeline reads (commander option names). */
const IMAGEFOLDER_ONLY = ['inputSize', 'imgSize', 'scale', 'ratio', 'trainInterpolation', 'aa', 'colorJitter', 'reprob', 'remode', 'workers'];

interface TrainFlags {
  model: string; numClasses?: number; epochs: number; batchSize: number; lr: number; sched: string; minLr: number;
  warmupEpochs: number; warmupLr: number; decayEpochs: number; decayRate: number; opt: string; momentum: number;
  weightDecay: number; optEps: number; optBetas: string[]; smoothing: number;
  drop: number; modelEma: boolean; modelEmaDecay: number; hflip: number; seed: number; output: string;
  resume?: string; initialCheckpoint?: string; freezeStages?: number; dataset: string; dataDir?: string;
  validationBatchSize?: number; trainLimit?: number; evalLimit?: number; backend: string; threads?: number; logInterval: number;
  inputSize?: string[]; imgSize?: number; scale: string[]; ratio: string[]; trainInterpolation: string;
  aa?: string; colorJitter: number; reprob: number; remode: string; workers: number;
}

/** `--input-size N` or timm's `--input-size 3 N N`, reconciled with `--img-size N`. */
function inputSize(f: TrainFlags): number {
  let fromInput: number | undefined;
  if (f.inputSize) {
    const v = f.inputSize.map(Number);
    const ok = (n: number): boolean => Number.isInteger(n) && n > 0 && n <= MAX_INPUT_SIDE;
    if (v.length === 1 && ok(v[0]!)) fromInput = v[0];
    else if (v.length === 3 && v[0] === 3 && ok(v[1]!) && v[1] === v[2]) fromInput = v[1];
    else throw new UsageError(`--input-size takes N or 3 N N (square RGB input, N from 1 to ${MAX_INPUT_SIDE}), got '${f.inputSize.join(' ')}'`);
  }
  if (fromInput !== undefined && f.imgSize !== undefined && fromInput !== f.imgSize) {
    throw new UsageError(`--input-size ${fromInput} and --img-size ${f.imgSize} disagree`);
  }
  return fromInput ?? f.imgSize ?? DEFAULT_TRAIN_OPTIONS.inputSize;
}

const HELP = `
Datasets:
  fashion-mnist  the four IDX files in --data-dir (default ${DEFAULT_FASHION_MNIST_DIR});
                 32x32 input, random crop (pad 2) + flip, 10 classes.
  imagefolder    --data-dir <root> with <root>/train/<class>/<image> and <root>/val/<class>/<image>
                 (also training/, validation/, valid/, eval/); classes = sorted training folder names,
                 --num-classes defaults to their number. Train transform = timm's transforms_imagenet_train:
                 RandomResizedCrop(--input-size, --scale, --ratio, --train-interpolation) -> flip (--hflip)
                 -> RandAugment (--aa rand-m9-mstd0.5) or ColorJitter (--color-jitter) -> normalize
                 -> RandomErasing (--reprob, --remode). Eval: resize to size/0.875 (bilinear), centre crop.
                 Images are decoded by --workers threads ahead of each step; unreadable ones are skipped
                 with a warning.

Fine-tuning:
  --initial-checkpoint W loads W's weights; a classifier of another size (e.g. ImageNet's 1000
  classes) is re-initialized for this dataset. --freeze-stages N freezes conv_stem, bn1 and
  blocks.0..N-1 (no gradient, no update, BatchNorm running statistics kept).

Examples:
  repghost train --output runs/fmnist
  repghost train --dataset imagefolder --data-dir flowers --input-size 224 -b 64 --epochs 30 \\
    --opt adamw --lr 1e-3 --weight-decay 0.05 --aa rand-m9-mstd0.5 --reprob 0.25 \\
    --initial-checkpoint repghostnet_0_5x_43M_66.95.pth.tar --freeze-stages 3 --output runs/flowers
  repghost train --resume runs/flowers/last.pth.tar <the same flags>`;

export function register(program: Command): void {
  const d = DEFAULT_TRAIN_OPTIONS;
  program
    .command('train')
    .description('train a RepGhostNet (timm train.py recipe) on Fashion-MNIST or an ImageFolder, with exact --resume')
    .option('--model <name>', `model: ${modelNames().join(', ')}`, d.model)
    .option('--num-classes <n>', 'classifier outputs (default: the classes of the dataset; a different value is refused)', positiveInt('--num-classes'))
    .option('--epochs <n>', 'epochs', positiveInt('--epochs'), d.epochs)
    .option('-b, --batch-size <n>', 'batch size (last partial batch dropped)', positiveInt('--batch-size'), d.batchSize)
    .option('--lr <x>', 'base learning rate', num('--lr', 0), d.lr)
    .option('--sched <name>', 'LR schedule stepped per epoch: cosine, step (--decay-epochs/--decay-rate) or none (constant --lr, no warm-up)', d.sched)
    .option('--min-lr <x>', 'cosine floor', num('--min-lr', 0), d.minLr)
    .option('--warmup-epochs <n>', 'linear warm-up epochs', nonNegativeInt('--warmup-epochs'), d.warmupEpochs)
    .option('--warmup-lr <x>', 'warm-up start LR', num('--warmup-lr', 0), d.warmupLr)
    .option('--decay-epochs <n>', '--sched step: epochs between LR decays', num('--decay-epochs', Number.MIN_VALUE), d.decayEpochs)
    .option('--decay-rate <x>', '--sched step: LR factor per decay', num('--decay-rate', 0), d.decayRate)
    .option('--opt <name>', 'optimizer: sgd (Nesterov momentum, timm\'s sgd), momentum (plain momentum SGD) or adamw', d.opt)
    .option('--momentum <x>', 'SGD momentum', num('--momentum', 0, 1), d.momentum)
    .option('--weight-decay <x>', 'weight decay (not on biases and 1-d parameters; decoupled for adamw)', num('--weight-decay', 0), d.weightDecay)
    .option('--opt-eps <x>', 'adamw epsilon', num('--opt-eps', Number.MIN_VALUE), d.optEps)
    .addOption(new Option('--opt-betas <b...>', 'adamw betas: two numbers in [0, 1)').default(d.optBetas.map(String), d.optBetas.join(' ')))
    .option('--smoothing <x>', 'label smoothing', num('--smoothing', 0, 1), d.smoothing)
    .option('--drop <x>', 'dropout before the classifier', num('--drop', 0, 0.999), d.drop)
    .option('--model-ema', 'keep an EMA of the weights (ModelEmaV2)', d.modelEma)
    .option('--no-model-ema', 'no EMA')
    .option('--model-ema-decay <x>', 'EMA decay per step', num('--model-ema-decay', 0, 1), d.modelEmaDecay)
    .option('--hflip <p>', 'horizontal flip probability', num('--hflip', 0, 1), d.hflip)
    .option('--seed <n>', 'seed of the trainer PRNG', nonNegativeInt('--seed'), d.seed)
    .requiredOption('--output <dir>', 'output directory (checkpoints, summary.csv)')
    .option('--resume <file>', 'continue from a checkpoint of this trainer (e.g. <output>/last.pth.tar), with the same flags')
    .option('--initial-checkpoint <file>', 'start from these weights (.pth, timm checkpoint or .safetensors); a classifier of another size is re-initialized')
    .option('--freeze-stages <n>', 'freeze conv_stem, bn1 and blocks.0..n-1 (0: the stem only): no gradient, BN statistics kept', nonNegativeInt('--freeze-stages'))
    .option('--dataset <name>', 'dataset: fashion-mnist or imagefolder', d.dataset)
    .option('--data-dir <dir>', `fashion-mnist: folder of the four IDX files (default ${DEFAULT_FASHION_MNIST_DIR}); imagefolder: root with train/ and val/`)
    .option('--input-size <n...>', 'imagefolder: model input side, N or 3 N N (timm\'s --input-size; default 224)')
    .option('--img-size <n>', 'imagefolder: same as --input-size N', intInRange('--img-size', 1, MAX_INPUT_SIDE))
    .addOption(new Option('--scale <lo...>', 'imagefolder: RandomResizedCrop area range, two numbers').default(d.scale.map(String), '0.08 1.0'))
    .addOption(new Option('--ratio <lo...>', 'imagefolder: RandomResizedCrop aspect range, two numbers').default(d.ratio.map(String), '3/4 4/3'))
    .option('--train-interpolation <name>', 'imagefolder: crop and RandAugment resampling: random (bilinear or bicubic per image), bilinear, bicubic, nearest', d.trainInterpolation)
    .option('--aa <policy>', 'imagefolder: RandAugment, e.g. rand-m9-mstd0.5 (replaces color jitter)')
    .option('--color-jitter <x>', 'imagefolder: brightness/contrast/saturation jitter without --aa (0: off)', num('--color-jitter', 0), d.colorJitter)
    .option('--reprob <p>', 'imagefolder: RandomErasing probability', num('--reprob', 0, 1), d.reprob)
    .option('--remode <mode>', 'imagefolder: RandomErasing fill: pixel (per-pixel noise), rand (per-channel noise), const (zeros)', d.remode)
    .option('-j, --workers <n>', 'imagefolder: data worker threads decoding and augmenting ahead of the step (0: main thread)', nonNegativeInt('--workers'), d.workers)
    .option('--validation-batch-size <n>', 'evaluation batch size (default: 500 for fashion-mnist, --batch-size for imagefolder)', positiveInt('--validation-batch-size'))
    .option('--train-limit <n>', 'use only the first n training images (quick runs)', positiveInt('--train-limit'))
    .option('--eval-limit <n>', 'use only the first n test images (quick runs)', positiveInt('--eval-limit'))
    .option('--log-interval <n>', 'steps between progress lines when stderr is not a terminal', positiveInt('--log-interval'), 50)
    .option('--backend <name>', 'tfjs backend: wasm or cpu', 'wasm')
    .option('--threads <n>', 'threads of the native training kernels (default: all cores; the wasm kernels run single-threaded in Node)', intInRange('--threads', 1, MAX_THREADS))
    .addHelpText('after', HELP)
    .action(async (f: TrainFlags, command: Command) => {
      const options = optionsFromFlags(f, command);
      // TensorFlow.js loads only when training runs, not at every CLI start.
      const [{ train, LAST_CHECKPOINT, BEST_CHECKPOINT, SUMMARY_FILE }, { progressHooks }] = await Promise.all([import('../../train/trainer.js'), import('../../train/progress.js')]);
      // #14 output guard: a run's files must not replace the checkpoint it starts from.
      const outputs = [LAST_CHECKPOINT, BEST_CHECKPOINT, SUMMARY_FILE].map((n) => path.join(options.output, n));
      if (f.initialCheckpoint && outputs.some((o) => clobberedInput(o, [f.initialCheckpoint]))) throw new UsageError(`--initial-checkpoint ${f.initialCheckpoint} is one of the files this run writes in ${options.output}: copy it elsewhere first`);
      const hooks = progressHooks({ every: f.logInterval });
      const outcome = await train(options, hooks).finally(() => hooks.stop());
      outcome.final.dispose();
      if (outcome.status === 'nan') {
        process.stderr.write(`repghost: ${outcome.message}\n`);
        process.exitCode = 1;
        return;
      }
      const best = outcome.bestMetric === null ? '' : `; best top-1 ${outcome.bestMetric.toFixed(2)} at epoch ${outcome.bestEpoch}`;
      process.stderr.write(`done (${outcome.backend}): ${outcome.history.length} epochs in ${options.output}${best}\n`);
    });
}

/** Checks the flags together and turns them into trainer options (UsageError for any bad value). */
function optionsFromFlags(f: TrainFlags, command: Command): TrainOptions {
  const d = DEFAULT_TRAIN_OPTIONS;
  const dataset = oneOf('--dataset', DATASETS, f.dataset);
  const sched = oneOf('--sched', SCHEDULES, f.sched);
  const opt = oneOf('--opt', OPTIMIZERS, f.opt);
  if (f.backend !== 'wasm' && f.backend !== 'cpu') throw new UsageError(`--backend must be wasm or cpu, got '${f.backend}'`);
  if (f.resume && f.initialCheckpoint) throw new UsageError('--resume and --initial-checkpoint exclude each other');
  const given = (name: string): boolean => command.getOptionValueSource(name) === 'cli';
  if (dataset !== 'imagefolder') {
    const stray = IMAGEFOLDER_ONLY.filter(given);
    if (stray.length) {
      const flag = (name: string): string => `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
      throw new UsageError(`${stray.map(flag).join(', ')} appl${stray.length > 1 ? 'y' : 'ies'} to --dataset imagefolder only`);
    }
  }
  if (dataset === 'imagefolder' && !f.dataDir) throw new UsageError('--dataset imagefolder needs --data-dir <root> (with <root>/train/<class>/<image> and <root>/val/<class>/<image>)');
  if (f.freezeStages !== undefined) {
    const stages = buildSpec(f.model).stages.length;
    if (f.freezeStages > stages) throw new UsageError(`--freeze-stages takes 0..${stages} for ${f.model} (the stem and up to its ${stages} stages), got ${f.freezeStages}`);
  }
  let aa: string | null = null;
  if (f.aa !== undefined) {
    try {
      parseRandAugment(f.aa);
    } catch (e) {
      throw new UsageError(`--aa: ${(e as Error).message}`);
    }
    aa = f.aa;
  }
  const betas = pair('--opt-betas', f.optBetas, 0, 1, false);
  if (betas[1] >= 1) throw new UsageError(`--opt-betas takes two numbers in [0, 1), got '${f.optBetas.join(' ')}'`);
  const size = dataset === 'imagefolder' ? inputSize(f) : 32;
  return {
    ...d, model: f.model, numClasses: f.numClasses, epochs: f.epochs, batchSize: f.batchSize, lr: f.lr, sched,
    minLr: f.minLr, warmupEpochs: f.warmupEpochs, warmupLr: f.warmupLr, decayEpochs: f.decayEpochs, decayRate: f.decayRate,
    opt, momentum: f.momentum, weightDecay: f.weightDecay, optEps: f.optEps, optBetas: betas,
    smoothing: f.smoothing, drop: f.drop, modelEma: f.modelEma, modelEmaDecay: f.modelEmaDecay,
    hflip: f.hflip, seed: f.seed, output: f.output, resume: f.resume, initialCheckpoint: f.initialCheckpoint,
    freezeStages: f.freezeStages, dataset, dataDir: f.dataDir ?? DEFAULT_FASHION_MNIST_DIR,
    evalBatchSize: f.validationBatchSize ?? (dataset === 'imagefolder' ? f.batchSize : d.evalBatchSize),
    trainLimit: f.trainLimit, evalLimit: f.evalLimit, backend: f.backend, threads: f.threads,
    inputSize: size, scale: pair('--scale', f.scale, 0, Infinity), ratio: pair('--ratio', f.ratio, 0, Infinity),
    trainInterpolation: oneOf('--train-interpolation', INTERPOLATIONS, f.trainInterpolation),
    aa, colorJitter: f.colorJitter, reprob: f.reprob, remode: oneOf('--remode', ERASE_MODES, f.remode), workers: f.workers,
  };
}
