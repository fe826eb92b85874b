/**
 * Options of the trainer and their defaults (the reference Fashion-MNIST recipe), apart
 * from the trainer itself so the CLI can describe them without loading TensorFlow.js.
 */
import { DEFAULT_FASHION_MNIST_DIR } from '../data/fashion-mnist.js';
import type { TrainBackendName } from './backend.js';

/** Options of the trainer's `train`, named after timm's train.py flags. */
export interface TrainOptions {
  model: string;
  numClasses: number;
  epochs: number;
  batchSize: number;
  lr: number;
  sched: 'cosine';
  minLr: number;
  warmupEpochs: number;
  warmupLr: number;
  opt: 'sgd';
  momentum: number;
  weightDecay: number;
  /** Nesterov momentum (timm's `--opt sgd` is Nesterov SGD). */
  nesterov: boolean;
  smoothing: number;
  drop: number;
  modelEma: boolean;
  modelEmaDecay: number;
  hflip: number;
  seed: number;
  output: string;
  /** A last.pth.tar (or any checkpoint of this trainer) to continue from. */
  resume?: string;
  /** Weights to start from (timm's --initial-checkpoint: weights only). */
  initialCheckpoint?: string;
  dataset: 'fashion-mnist';
  dataDir: string;
  evalBatchSize: number;
  /** Use only the first N training / test images (quick runs and tests). */
  trainLimit?: number;
  evalLimit?: number;
  backend?: TrainBackendName;
  threads?: number;
}

/** Defaults: the reference Fashion-MNIST recipe. */
export const DEFAULT_TRAIN_OPTIONS: Omit<TrainOptions, 'output'> = {
  model: 'repghostnet_0_5x', numClasses: 10, epochs: 12, batchSize: 128, lr: 0.1, sched: 'cosine', minLr: 1e-5,
  warmupEpochs: 1, warmupLr: 1e-4, opt: 'sgd', momentum: 0.9, weightDecay: 1e-5, nesterov: true, smoothing: 0.1,
  drop: 0.2, modelEma: true, modelEmaDecay: 0.999, hflip: 0.5, seed: 42, dataset: 'fashion-mnist',
  dataDir: DEFAULT_FASHION_MNIST_DIR, evalBatchSize: 500,
};

