/**
 * What the training loop needs from a dataset, whatever it is (Fashion-MNIST in memory,
 * an ImageFolder streamed from disk): numbered training batches per epoch, whose random
 * draws all come from the trainer's PRNG, and labelled evaluation batches.
 */
import type { LabelledBatch } from '../evaluate.js';
import type { Rng } from '../rng.js';
import type { EpochShard } from './distributed-sampler.js';

/** An image left out of a batch because it could not be read. */
export interface SkippedImage {
  file: string;
  reason: string;
}

/** A batch: NHWC float32 images of side `size`, labels, and the images that could not be read. */
export interface DataBatch extends LabelledBatch {
  /** Unreadable images left out (n is smaller than the batch size by their number). */
  skipped: SkippedImage[];
  /** Dataset index of each of the n images (sharded epochs: keys the per-sample dropout stream). */
  indices?: Int32Array;
}

/** The batches of one epoch, taken in order with `next()`. */
export interface EpochBatches {
  next(): Promise<DataBatch>;
  /** Stops any prefetching (the epoch ended early). */
  close(): void;
}

/** A dataset for {@link train}. */
export interface TrainingData {
  readonly kind: 'fashion-mnist' | 'imagefolder';
  /** Model input side. */
  readonly inputSize: number;
  readonly trainCount: number;
  readonly evalCount: number;
  /** Classes found in the data (the classifier's outputs). */
  readonly numClasses: number;
  /** Class names in index order, when the data names them (ImageFolder). */
  readonly classes: string[] | null;
  /**
   * Starts an epoch of `steps` batches of `batchSize`: draws from `rng` what the epoch
   * needs up front (the shuffle, per-sample seeds), or per batch as `next()` runs
   * (Fashion-MNIST's in-memory crops), always in the same order for the same state.
   * With `shard` (data-parallel runs) nothing comes from `rng`: the rank's share of the
   * epoch and every draw depend only on the shard's seed and epoch (distributed-sampler.ts).
   */
  epoch(rng: Rng, batchSize: number, steps: number, shard?: EpochShard): EpochBatches;
  /**
   * The evaluation set in order, in batches of `batchSize` (no randomness); with `part`,
   * only that rank's contiguous slice, so the ranks together score each image once.
   * Consumed with `for await`; an in-memory set may yield synchronously.
   */
  evalBatches(
    batchSize: number,
    part?: { rank: number; world: number },
  ): AsyncIterable<DataBatch> | Iterable<DataBatch>;
  /** Frees workers and buffers. */
  close(): Promise<void>;
}
