/**
 * Options of the trainer and their defaults (the reference Fashion-MNIST recipe, timm's
 * train.py defaults for the rest), apart from the trainer itself so the CLI can describe
 * them without loading TensorFlow.js.
 */
import { availableParallelism } from 'node:os';
import { DEFAULT_FASHION_MNIST_DIR } from '../data/fashion-mnist.js';
import type { EraseMode } from '../data/augment/random-erasing.js';
import type { TrainInterpolation } from '../data/augment/random-resized-crop.js';
import type { TrainBackendName } from './backend.js';
import type { ScheduleName } from './lr-schedule.js';

/** Optimizers of `--opt` (timm's names): Nesterov SGD, plain momentum SGD, AdamW. */
export type OptimizerName = 'sgd' | 'momentum' | 'adamw';

/** Datasets of `--dataset`. */
export type DatasetName = 'fashion-mnist' | 'imagefolder';

/** Options of the trainer's `train`, named after timm's train.py flags. */
export interface TrainOptions {
  model: string;
  /** Classifier outputs; default: the classes the data has. Given and different: an error. */
  numClasses?: number;
  epochs: number;
  batchSize: number;
  lr: number;
  /** LR schedule, stepped per epoch: timm's cosine or step, or none (constant --lr, no warm-up). */
  sched: ScheduleName;
  minLr: number;
  warmupEpochs: number;
  warmupLr: number;
  /** `--sched step`: epochs between decays (timm's --decay-epochs) and the factor (--decay-rate). */
  decayEpochs: number;
  decayRate: number;
  opt: OptimizerName;
  momentum: number;
  weightDecay: number;
  /** Nesterov momentum for `--opt sgd` (timm's sgd is Nesterov SGD; `momentum` never is). */
  nesterov: boolean;
  /** AdamW's epsilon and betas (timm's --opt-eps, --opt-betas). */
  optEps: number;
  optBetas: [number, number];
  smoothing: number;
  drop: number;
  modelEma: boolean;
  modelEmaDecay: number;
  hflip: number;
  seed: number;
  output: string;
  /** A last.pth.tar (or any checkpoint of this trainer) to continue from. */
  resume?: string;
  /** Weights to start from (timm's --initial-checkpoint: weights only; a classifier of another size is re-initialized). */
  initialCheckpoint?: string;
  /** Freeze conv_stem, bn1 and the first N stages of `blocks` (see freeze.ts); undefined freezes nothing. */
  freezeStages?: number;
  dataset: DatasetName;
  /** Fashion-MNIST: the IDX files' folder. ImageFolder: the root holding train/ and val/. */
  dataDir: string;
  evalBatchSize: number;
  /** Use only the first N training / test images (quick runs and tests). */
  trainLimit?: number;
  evalLimit?: number;
  // --- ImageFolder only (timm's transforms_imagenet_train / _eval) ---
  /** Model input side (timm's --input-size / --img-size). */
  inputSize: number;
  /** RandomResizedCrop's area and aspect ranges. */
  scale: [number, number];
  ratio: [number, number];
  trainInterpolation: TrainInterpolation;
  /** RandAugment string (`rand-m9-mstd0.5`), or null for ColorJitter. */
  aa: string | null;
  colorJitter: number;
  /** RandomErasing probability and fill. */
  reprob: number;
  remode: EraseMode;
  /** Data worker threads (0: decode in the main thread). */
  workers: number;
  backend?: TrainBackendName;
  threads?: number;
  // --- Data-parallel runs (mpirun -np N, or --nproc N which starts mpirun) ---
  /** timm's --sync-bn: BatchNorm statistics over the global batch of all ranks. */
  syncBn: boolean;
  /** timm's --dist-bn: at each epoch end, BN running statistics averaged over ranks, rank 0's copied, or left per rank. */
  distBn: DistBnMode;
}

/** timm's --dist-bn choices ('' leaves each rank's statistics as they are). */
export type DistBnMode = 'reduce' | 'broadcast' | '';

/** ImageFolder evaluation: timm 0.6.7's defaults for a model without a pretrained config. */
export const IMAGEFOLDER_EVAL = { cropPct: 0.875, interpolation: 'bilinear' } as const;

/** Defaults: the reference Fashion-MNIST recipe; timm train.py's defaults for the ImageFolder flags. */
export const DEFAULT_TRAIN_OPTIONS: Omit<TrainOptions, 'output'> = {
  model: 'repghostnet_0_5x', epochs: 12, batchSize: 128, lr: 0.1, sched: 'cosine', minLr: 1e-5,
  warmupEpochs: 1, warmupLr: 1e-4, decayEpochs: 100, decayRate: 0.1, opt: 'sgd', momentum: 0.9, weightDecay: 1e-5,
  nesterov: true, optEps: 1e-8, optBetas: [0.9, 0.999], smoothing: 0.1,
  drop: 0.2, modelEma: true, modelEmaDecay: 0.999, hflip: 0.5, seed: 42, dataset: 'fashion-mnist',
  dataDir: DEFAULT_FASHION_MNIST_DIR, evalBatchSize: 500,
  inputSize: 224, scale: [0.08, 1.0], ratio: [3 / 4, 4 / 3], trainInterpolation: 'random', aa: null, colorJitter: 0.4,
  reprob: 0, remode: 'pixel', workers: Math.min(2, availableParallelism()), syncBn: false, distBn: 'reduce',
};
