/**
 * Options of the trainer: one table, {@link TRAIN_OPTION_TABLE}, from which the option type,
 * the defaults, the command-line flags (src/cli/flags.ts) and the `args` dict saved in
 * checkpoints are all generated. Adding an option is adding a row. Kept apart from the
 * trainer so the CLI can describe the options without loading TensorFlow.js.
 */
import { availableParallelism } from 'node:os';
import { DEFAULT_FASHION_MNIST_DIR } from '../data/fashion-mnist.js';
import { modelNames } from '../spec/index.js';
import type { EraseMode } from '../data/augment/random-erasing.js';
import type { TrainInterpolation } from '../data/augment/random-resized-crop.js';
import type { TrainBackendName } from './backend.js';
import type { ScheduleName } from './lr-schedule.js';

/** Optimizers of `--opt` (timm's names): Nesterov SGD, plain momentum SGD, AdamW. */
export type OptimizerName = 'sgd' | 'momentum' | 'adamw';

/** Datasets of `--dataset`. */
export type DatasetName = 'fashion-mnist' | 'imagefolder';

export const OPTIMIZERS: readonly OptimizerName[] = ['sgd', 'momentum', 'adamw'];
export const SCHEDULES: readonly ScheduleName[] = ['cosine', 'step', 'none'];
export const DATASETS: readonly DatasetName[] = ['fashion-mnist', 'imagefolder'];
export const TRAIN_INTERPOLATIONS: readonly TrainInterpolation[] = ['random', 'bilinear', 'bicubic', 'nearest'];
export const ERASE_MODES: readonly EraseMode[] = ['pixel', 'rand', 'const'];
export const TRAIN_BACKENDS: readonly TrainBackendName[] = ['wasm', 'cpu'];

/** timm's --dist-bn choices ('' leaves each rank's statistics as they are). */
export type DistBnMode = 'reduce' | 'broadcast' | '';
export const DIST_BN_MODES: readonly DistBnMode[] = ['reduce', 'broadcast', ''];

/**
 * How a value is written on the command line and checked. Numbers are checked against
 * [min, max] (min excluded with `above`, max with `below`); a pair is two numbers lo <= hi in that range.
 */
export type OptionKind =
  | { type: 'string' }
  | { type: 'int'; min: number; max?: number }
  | { type: 'number'; min: number; max?: number; above?: boolean }
  | { type: 'choice'; choices: readonly string[] }
  | { type: 'flag' }
  | { type: 'pair'; min: number; max?: number; above?: boolean; below?: boolean }
  | { type: 'image-size' };

/** One option: its flag, kind, default, help and the name timm's train.py gives it in `args`. */
export interface OptionRow<T> {
  /** Long flag with its value placeholder, commander style: `--batch-size <n>`. */
  flag: string;
  short?: string;
  kind: OptionKind;
  /** The value when the flag is not given; `undefined`: none (the option is optional). */
  default: T;
  /** How --help shows the default, where the value itself reads badly. */
  defaultText?: string;
  help: string;
  /** The key in the checkpoint's `args` dict (timm's snake_case name); null: not saved. */
  timm: string | null;
  /**
   * Read by the ImageFolder pipeline only: given with another dataset it is an error; saved only for ImageFolder runs.
   */
  imagefolderOnly?: true;
  /** Must be given (no default). */
  required?: true;
}

const row = <T>(r: OptionRow<T>): OptionRow<T> => r;

/**
 * Every trainer option. Defaults: the reference Fashion-MNIST recipe
 * (shared/reference/fashion_mnist.md), timm train.py's defaults for the rest.
 */
export const TRAIN_OPTION_TABLE = {
  model: row<string>({
    flag: '--model <name>',
    kind: { type: 'string' },
    default: 'repghostnet_0_5x',
    help: `model: ${modelNames().join(', ')}`,
    timm: 'model',
  }),
  numClasses: row<number | undefined>({
    flag: '--num-classes <n>',
    kind: { type: 'int', min: 1, max: 1_000_000 },
    default: undefined,
    timm: 'num_classes',
    help: 'classifier outputs (default: the classes of the dataset; a different value is refused)',
  }),
  epochs: row<number>({
    flag: '--epochs <n>',
    kind: { type: 'int', min: 1, max: 100_000 },
    default: 12,
    help: 'epochs',
    timm: 'epochs',
  }),
  batchSize: row<number>({
    flag: '--batch-size <n>',
    short: '-b',
    kind: { type: 'int', min: 1, max: 65_536 },
    default: 128,
    timm: 'batch_size',
    help: 'batch size (last partial batch dropped)',
  }),
  lr: row<number>({
    flag: '--lr <x>',
    kind: { type: 'number', min: 0 },
    default: 0.1,
    help: 'base learning rate',
    timm: 'lr',
  }),
  sched: row<ScheduleName>({
    flag: '--sched <name>',
    kind: { type: 'choice', choices: SCHEDULES },
    default: 'cosine',
    timm: 'sched',
    help:
      'LR schedule stepped per epoch: cosine, step (--decay-epochs/--decay-rate) or none (constant --lr, no ' +
      'warm-up)',
  }),
  minLr: row<number>({
    flag: '--min-lr <x>',
    kind: { type: 'number', min: 0 },
    default: 1e-5,
    help: 'cosine floor',
    timm: 'min_lr',
  }),
  warmupEpochs: row<number>({
    flag: '--warmup-epochs <n>',
    kind: { type: 'int', min: 0, max: 100_000 },
    default: 1,
    help: 'linear warm-up epochs',
    timm: 'warmup_epochs',
  }),
  warmupLr: row<number>({
    flag: '--warmup-lr <x>',
    kind: { type: 'number', min: 0 },
    default: 1e-4,
    help: 'warm-up start LR',
    timm: 'warmup_lr',
  }),
  decayEpochs: row<number>({
    flag: '--decay-epochs <n>',
    kind: { type: 'number', min: 0, above: true },
    default: 100,
    timm: 'decay_epochs',
    help: '--sched step: epochs between LR decays',
  }),
  decayRate: row<number>({
    flag: '--decay-rate <x>',
    kind: { type: 'number', min: 0 },
    default: 0.1,
    help: '--sched step: LR factor per decay',
    timm: 'decay_rate',
  }),
  opt: row<OptimizerName>({
    flag: '--opt <name>',
    kind: { type: 'choice', choices: OPTIMIZERS },
    default: 'sgd',
    timm: 'opt',
    help: "optimizer: sgd (Nesterov momentum, timm's sgd), momentum (plain momentum SGD) or adamw",
  }),
  momentum: row<number>({
    flag: '--momentum <x>',
    kind: { type: 'number', min: 0, max: 1 },
    default: 0.9,
    help: 'SGD momentum',
    timm: 'momentum',
  }),
  weightDecay: row<number>({
    flag: '--weight-decay <x>',
    kind: { type: 'number', min: 0 },
    default: 1e-5,
    timm: 'weight_decay',
    help: 'weight decay (not on biases and 1-d parameters; decoupled for adamw)',
  }),
  optEps: row<number>({
    flag: '--opt-eps <x>',
    kind: { type: 'number', min: 0, above: true },
    default: 1e-8,
    help: 'adamw epsilon',
    timm: 'opt_eps',
  }),
  optBetas: row<[number, number]>({
    flag: '--opt-betas <b...>',
    kind: { type: 'pair', min: 0, max: 1, below: true },
    default: [0.9, 0.999],
    timm: 'opt_betas',
    help: 'adamw betas: two numbers in [0, 1)',
  }),
  smoothing: row<number>({
    flag: '--smoothing <x>',
    kind: { type: 'number', min: 0, max: 1 },
    default: 0.1,
    help: 'label smoothing',
    timm: 'smoothing',
  }),
  drop: row<number>({
    flag: '--drop <x>',
    kind: { type: 'number', min: 0, max: 0.999 },
    default: 0.2,
    help: 'dropout before the classifier',
    timm: 'drop',
  }),
  modelEma: row<boolean>({
    flag: '--model-ema',
    kind: { type: 'flag' },
    default: true,
    timm: 'model_ema',
    help: 'keep an EMA of the weights (ModelEmaV2); --no-model-ema: none',
  }),
  modelEmaDecay: row<number>({
    flag: '--model-ema-decay <x>',
    kind: { type: 'number', min: 0, max: 1 },
    default: 0.999,
    help: 'EMA decay per step',
    timm: 'model_ema_decay',
  }),
  hflip: row<number>({
    flag: '--hflip <p>',
    kind: { type: 'number', min: 0, max: 1 },
    default: 0.5,
    help: 'horizontal flip probability',
    timm: 'hflip',
  }),
  seed: row<number>({
    flag: '--seed <n>',
    kind: { type: 'int', min: 0, max: 2 ** 32 - 1 },
    default: 42,
    help: 'seed of the trainer PRNG',
    timm: 'seed',
  }),
  output: row<string>({
    flag: '--output <dir>',
    kind: { type: 'string' },
    default: '',
    required: true,
    timm: 'output',
    help: 'output directory (checkpoints, summary.csv)',
  }),
  resume: row<string | undefined>({
    flag: '--resume <file>',
    kind: { type: 'string' },
    default: undefined,
    timm: null,
    help: 'continue from a checkpoint of this trainer (e.g. <output>/last.pth.tar), with the same flags',
  }),
  initialCheckpoint: row<string | undefined>({
    flag: '--initial-checkpoint <file>',
    kind: { type: 'string' },
    default: undefined,
    timm: 'initial_checkpoint',
    help:
      'start from these weights (.pth, timm checkpoint or .safetensors); a classifier of another size is ' +
      're-initialized',
  }),
  // --- issue 16 (datasets): fine-tuning from the published weights ---
  pretrained: row<boolean>({
    flag: '--pretrained',
    kind: { type: 'flag' },
    default: false,
    timm: 'pretrained',
    help:
      'start from the published ImageNet weights of --model (the cache of `repghost download`; downloaded ' +
      'once); a classifier of another size is re-initialized',
  }),
  source: row<'hf' | 'official' | undefined>({
    flag: '--source <hub>',
    kind: { type: 'choice', choices: ['hf', 'official'] },
    default: undefined,
    defaultText: 'hf',
    timm: null,
    help:
      'where --pretrained comes from: hf (timm on the Hugging Face hub) or official (the GitHub release, EMA ' +
      'weights)',
  }),
  freezeStages: row<number | undefined>({
    flag: '--freeze-stages <n>',
    kind: { type: 'int', min: 0, max: 100 },
    default: undefined,
    timm: 'freeze_stages',
    help: 'freeze conv_stem, bn1 and blocks.0..n-1 (0: the stem only): no gradient, BN statistics kept',
  }),
  dataset: row<DatasetName>({
    flag: '--dataset <name>',
    kind: { type: 'choice', choices: DATASETS },
    default: 'fashion-mnist',
    help: 'dataset',
    timm: 'dataset',
  }),
  dataDir: row<string>({
    flag: '--data-dir <dir>',
    kind: { type: 'string' },
    default: DEFAULT_FASHION_MNIST_DIR,
    timm: 'data_dir',
    help: 'fashion-mnist: folder of the four IDX files; imagefolder: root with train/ and val/',
  }),
  evalBatchSize: row<number>({
    flag: '--validation-batch-size <n>',
    kind: { type: 'int', min: 1, max: 65_536 },
    default: 500,
    timm: 'validation_batch_size',
    defaultText: '500 for fashion-mnist, --batch-size for imagefolder',
    help: 'evaluation batch size',
  }),
  trainLimit: row<number | undefined>({
    flag: '--train-limit <n>',
    kind: { type: 'int', min: 1 },
    default: undefined,
    timm: 'train_limit',
    help: 'use only the first n training images (quick runs)',
  }),
  evalLimit: row<number | undefined>({
    flag: '--eval-limit <n>',
    kind: { type: 'int', min: 1 },
    default: undefined,
    timm: 'eval_limit',
    help: 'use only the first n test images (quick runs)',
  }),
  inputSize: row<number>({
    flag: '--input-size <n...>',
    kind: { type: 'image-size' },
    default: 224,
    timm: 'input_size',
    imagefolderOnly: true,
    help: "model input side, N or 3 N N (timm's --input-size; --img-size N is the same); fashion-mnist is 32",
  }),
  scale: row<[number, number]>({
    flag: '--scale <lo...>',
    kind: { type: 'pair', min: 0, above: true },
    default: [0.08, 1.0],
    defaultText: '0.08 1.0',
    timm: 'scale',
    imagefolderOnly: true,
    help: 'RandomResizedCrop area range, two numbers',
  }),
  ratio: row<[number, number]>({
    flag: '--ratio <lo...>',
    kind: { type: 'pair', min: 0, above: true },
    default: [3 / 4, 4 / 3],
    defaultText: '3/4 4/3',
    timm: 'ratio',
    imagefolderOnly: true,
    help: 'RandomResizedCrop aspect range, two numbers',
  }),
  trainInterpolation: row<TrainInterpolation>({
    flag: '--train-interpolation <name>',
    kind: { type: 'choice', choices: TRAIN_INTERPOLATIONS },
    default: 'random',
    timm: 'train_interpolation',
    imagefolderOnly: true,
    help: 'crop and RandAugment resampling: random (bilinear or bicubic per image), bilinear, bicubic, nearest',
  }),
  aa: row<string | null>({
    flag: '--aa <policy>',
    kind: { type: 'string' },
    default: null,
    defaultText: 'none',
    timm: 'aa',
    imagefolderOnly: true,
    help: 'RandAugment, e.g. rand-m9-mstd0.5 (replaces color jitter)',
  }),
  colorJitter: row<number>({
    flag: '--color-jitter <x>',
    kind: { type: 'number', min: 0 },
    default: 0.4,
    timm: 'color_jitter',
    imagefolderOnly: true,
    help: 'brightness/contrast/saturation jitter without --aa (0: off)',
  }),
  reprob: row<number>({
    flag: '--reprob <p>',
    kind: { type: 'number', min: 0, max: 1 },
    default: 0,
    timm: 'reprob',
    imagefolderOnly: true,
    help: 'RandomErasing probability',
  }),
  remode: row<EraseMode>({
    flag: '--remode <mode>',
    kind: { type: 'choice', choices: ERASE_MODES },
    default: 'pixel',
    timm: 'remode',
    imagefolderOnly: true,
    help: 'RandomErasing fill: pixel (per-pixel noise), rand (per-channel noise), const (zeros)',
  }),
  workers: row<number>({
    flag: '--workers <n>',
    short: '-j',
    kind: { type: 'int', min: 0, max: 256 },
    default: Math.min(2, availableParallelism()),
    defaultText: 'min(2, cores)',
    timm: 'workers',
    imagefolderOnly: true,
    help: 'data worker threads decoding and augmenting ahead of the step (0: main thread)',
  }),
  backend: row<TrainBackendName | undefined>({
    flag: '--backend <name>',
    kind: { type: 'choice', choices: TRAIN_BACKENDS },
    default: undefined,
    defaultText: 'wasm',
    timm: null,
    help: 'tfjs backend: wasm or cpu',
  }),
  threads: row<number | undefined>({
    flag: '--threads <n>',
    kind: { type: 'int', min: 1, max: 64 },
    default: undefined,
    timm: null,
    help: 'threads of the native training kernels (default: all cores; the wasm kernels run single-threaded in Node)',
  }),
  // Data-parallel runs (mpirun -np N, or the command's --nproc N): issue 18.
  syncBn: row<boolean>({
    flag: '--sync-bn',
    kind: { type: 'flag' },
    default: false,
    timm: 'sync_bn',
    help: "data-parallel: BatchNorm statistics over the global batch of all processes (timm's --sync-bn)",
  }),
  distBn: row<DistBnMode>({
    flag: '--dist-bn <mode>',
    kind: { type: 'choice', choices: DIST_BN_MODES },
    default: 'reduce',
    timm: 'dist_bn',
    help:
      'data-parallel: BN running statistics at each epoch end: reduce (averaged over processes), broadcast ' +
      "(rank 0's) or '' (kept)",
  }),
};

type Table = typeof TRAIN_OPTION_TABLE;
/** The value type of a row. */
export type RowValue<R> = R extends OptionRow<infer T> ? T : never;
type OptionalKey = { [K in keyof Table]: undefined extends RowValue<Table[K]> ? K : never }[keyof Table];

/** Options of the trainer's `train`, named after timm's train.py flags (camelCase); see {@link TRAIN_OPTION_TABLE}. */
export type TrainOptions = { [K in Exclude<keyof Table, OptionalKey>]: RowValue<Table[K]> } & {
  [K in OptionalKey]?: Exclude<RowValue<Table[K]>, undefined>;
};

/** The option names, in table order. */
export const TRAIN_OPTION_NAMES = Object.keys(TRAIN_OPTION_TABLE) as (keyof TrainOptions)[];

/** File names in the output directory. */
export const LAST_CHECKPOINT = 'last.pth.tar';
export const BEST_CHECKPOINT = 'model_best.pth.tar';
export const SUMMARY_FILE = 'summary.csv';

/** ImageFolder evaluation: timm 0.6.7's defaults for a model without a pretrained config. */
export const IMAGEFOLDER_EVAL = { cropPct: 0.875, interpolation: 'bilinear' } as const;

/** Defaults of every option but `output`, from the table. */
export const DEFAULT_TRAIN_OPTIONS = Object.fromEntries(
  TRAIN_OPTION_NAMES.filter((k) => k !== 'output' && TRAIN_OPTION_TABLE[k].default !== undefined).map((k) => [
    k,
    TRAIN_OPTION_TABLE[k].default,
  ]),
) as Omit<TrainOptions, 'output'>;

/** Copies arrays so a saved dict never aliases the options. */
const plain = (v: unknown): unknown => (Array.isArray(v) ? [...(v as unknown[])] : (v ?? null));

/**
 * The `args` dict saved in checkpoints: every row with a timm name (ImageFolder-only rows
 * for ImageFolder runs only), absent optional values as null (Python's None), with the
 * class count and input side the run resolved.
 */
export function trainArgs(o: TrainOptions, numClasses: number, inputSize: number): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  for (const k of TRAIN_OPTION_NAMES) {
    const r: OptionRow<unknown> = TRAIN_OPTION_TABLE[k];
    if (r.timm === null || (r.imagefolderOnly && o.dataset !== 'imagefolder')) continue;
    args[r.timm] = plain(o[k]);
  }
  args.num_classes = numClasses;
  // timm saves the input size as [3, H, W] beside --img-size.
  args.input_size = [3, inputSize, inputSize];
  args.img_size = inputSize;
  if (o.dataset === 'imagefolder') args.recount = 1;
  return args;
}
