/**
 * Fashion-MNIST as {@link TrainingData}: both splits prepared in memory, each training
 * batch filled when it is taken, drawing the crop offsets and flips of its images from the
 * trainer's PRNG at that moment (so the draws interleave with the per-step dropout masks
 * exactly as they always have: runs and checkpoints of earlier versions stay reproducible).
 */
import {
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_SIZE,
  loadFashionMnistSplit,
  prepareSplit,
  writeImage,
  type PreparedSplit,
} from '../../data/fashion-mnist.js';
import type { Rng } from '../rng.js';
import { epochStreamKey, evalRange, sampleStream, shardIndices, type EpochShard } from './distributed-sampler.js';
import type { EpochBatches, DataBatch, TrainingData } from './source.js';

/** Fills one training batch (NHWC) and its labels, drawing crops and flips from `rng`. */
function fillDataBatch(
  split: PreparedSplit,
  order: Int32Array,
  first: number,
  hflip: number,
  rng: Rng,
  x: Float32Array,
  y: Int32Array,
): void {
  const n = y.length;
  for (let i = 0; i < n; i++) {
    const index = order[first + i]!;
    // torchvision RandomCrop draws the row offset, then the column; then the flip.
    const top = rng.int(5);
    const left = rng.int(5);
    const flip = rng.uniform() < hflip;
    writeImage(split, index, i, x, { top, left, flip });
    y[i] = split.labels[index]!;
  }
}

export class FashionMnistData implements TrainingData {
  readonly kind = 'fashion-mnist';
  readonly inputSize = FASHION_MNIST_SIZE;
  readonly numClasses = FASHION_MNIST_CLASSES.length;
  // Fashion-MNIST's class names are fixed; checkpoints keep their earlier contents.
  readonly classes = null;

  private constructor(
    private readonly train: PreparedSplit,
    private readonly test: PreparedSplit,
    private readonly hflip: number,
  ) {}

  /** Loads and prepares both splits from `dir` (the first `trainLimit` / `evalLimit` images). */
  static async open(dir: string, hflip: number, trainLimit?: number, evalLimit?: number): Promise<FashionMnistData> {
    const train = prepareSplit(await loadFashionMnistSplit(dir, 'train'), trainLimit);
    const test = prepareSplit(await loadFashionMnistSplit(dir, 'test'), evalLimit);
    return new FashionMnistData(train, test, hflip);
  }

  get trainCount(): number {
    return this.train.count;
  }
  get evalCount(): number {
    return this.test.count;
  }

  epoch(rng: Rng, batchSize: number, steps: number, shard?: EpochShard): EpochBatches {
    const S = FASHION_MNIST_SIZE;
    const x = new Float32Array(batchSize * S * S * 3);
    const y = new Int32Array(batchSize);
    let step = 0;
    if (shard) {
      // Data-parallel: this rank's share; each image's crop and flip from its own stream.
      const order = shardIndices(this.train.count, shard);
      const key = epochStreamKey(shard.seed, shard.epoch, 'augment');
      return {
        next: () => {
          if (step >= steps) return Promise.reject(new Error(`internal: epoch has ${steps} batches`));
          const indices = order.slice(step * batchSize, ++step * batchSize);
          indices.forEach((index, i) => {
            const r = sampleStream(key, index);
            const top = r.int(5);
            const left = r.int(5);
            writeImage(this.train, index, i, x, { top, left, flip: r.uniform() < this.hflip });
            y[i] = this.train.labels[index]!;
          });
          return Promise.resolve({ x, y, n: batchSize, size: S, skipped: [], indices });
        },
        close: () => {},
      };
    }
    const order = new Int32Array(this.train.count);
    for (let i = 0; i < order.length; i++) order[i] = i;
    rng.shuffle(order);
    return {
      next: () => {
        if (step >= steps) return Promise.reject(new Error(`internal: epoch has ${steps} batches`));
        fillDataBatch(this.train, order, step++ * batchSize, this.hflip, rng, x, y);
        const batch: DataBatch = { x, y, n: batchSize, size: S, skipped: [] };
        return Promise.resolve(batch);
      },
      close: () => {},
    };
  }

  *evalBatches(batchSize: number, part?: { rank: number; world: number }): Iterable<DataBatch> {
    const S = FASHION_MNIST_SIZE;
    const x = new Float32Array(batchSize * S * S * 3);
    const [first, end] = part ? evalRange(this.test.count, part.rank, part.world) : [0, this.test.count];
    for (let start = first; start < end; start += batchSize) {
      const n = Math.min(batchSize, end - start);
      for (let i = 0; i < n; i++) writeImage(this.test, start + i, i, x);
      yield { x, y: Int32Array.from(this.test.labels.subarray(start, start + n)), n, size: S, skipped: [] };
    }
  }

  close(): Promise<void> {
    return Promise.resolve(); // nothing to free: the arrays belong to the garbage collector
  }
}
