/**
 * An ImageFolder dataset root as {@link TrainingData}: `<root>/train/<class>/*` and
 * `<root>/val/<class>/*` (timm's split folder names are accepted, see image-folder.ts).
 * Classes are the training folder names, sorted as torchvision sorts them; validation
 * folders are matched to them by name (timm would number them separately and silently
 * mislabel a validation set that lacks a class).
 *
 * Memory stays bounded: only the compact file index is held (image-folder.ts); images are decoded and augmented
 * batch by batch in the data workers, the next `prefetch` batches while a step runs.
 * Unreadable images are left out of their batch and reported, never fatal.
 */
import { findSplitFolder, ImageFolderError, ImageFolderIndex, type FsPath } from '../../data/image-folder.js';
import {
  compileTrainTransform,
  type EvalTransformConfig,
  type TrainTransformConfig,
} from '../../data/augment/transforms.js';
import type { Rng } from '../rng.js';
import { SamplePool } from './batch-pool.js';
import type { SampleJob, SampleJobResult } from './sample-pipeline.js';
import { drawEpochKey, sampleSeed } from './sample-seed.js';
import { epochStreamKey, evalRange, shardIndices, type EpochShard } from './distributed-sampler.js';
import type { EpochBatches, SkippedImage, DataBatch, TrainingData } from './source.js';

/** Options of {@link ImageFolderData.open}. */
export interface ImageFolderDataOptions {
  /** Dataset root holding the train and validation folders. */
  root: string;
  train: TrainTransformConfig;
  eval: EvalTransformConfig;
  /** Data worker threads (0: decode in the main thread). */
  workers: number;
  /** Batches prepared ahead of the one being used (default 2). */
  prefetch?: number;
  /** Use only the first N training / validation images (ImageFolder order). */
  trainLimit?: number;
  evalLimit?: number;
}

/** Keeps `depth` promises of an ordered sequence in flight ahead of the consumer. */
class Prefetch<T> {
  private readonly queue: Promise<T>[] = [];
  private made = 0;
  private closed = false;

  constructor(
    private readonly count: number,
    private readonly make: (k: number) => Promise<T>,
    private readonly depth: number,
  ) {
    this.fill();
  }

  private fill(): void {
    while (!this.closed && this.queue.length < this.depth && this.made < this.count) {
      const p = this.make(this.made++);
      p.catch(() => {}); // surfaced when taken; a batch never taken must not crash the process
      this.queue.push(p);
    }
  }

  next(): Promise<T> {
    const p = this.queue.shift();
    if (!p) return Promise.reject(new Error(`internal: only ${this.count} batches`));
    this.fill();
    return p;
  }

  close(): void {
    this.closed = true;
    this.queue.length = 0;
  }
}

/** One image of a split: the path to open, the path to report, its training class. */
interface Sample {
  file: FsPath;
  name: string;
  target: number;
}

/**
 * The images of one split over the compact index: `length` of them, `at(i)` made on
 * demand (a batch's worth at a time), labels through `target` (folder class -> training class).
 */
class Split {
  readonly length: number;
  constructor(
    private readonly index: ImageFolderIndex,
    private readonly target: Int32Array,
    limit?: number,
  ) {
    this.length = Math.min(index.length, limit ?? Infinity);
  }

  at(i: number): Sample {
    return { file: this.index.fsPath(i), name: this.index.path(i), target: this.target[this.index.label(i)]! };
  }
}

/** Contiguous [lo, hi) ranges splitting n items into at most `parts` chunks. */
function splitRange(n: number, parts: number): [number, number][] {
  const k = Math.max(1, Math.min(parts, n));
  return Array.from(
    { length: k },
    (_, i) => [Math.floor((i * n) / k), Math.floor(((i + 1) * n) / k)] as [number, number],
  );
}

export class ImageFolderData implements TrainingData {
  readonly kind = 'imagefolder';
  readonly classes: string[];

  private constructor(
    private readonly trainSet: Split,
    private readonly valSet: Split,
    classes: string[],
    private readonly o: ImageFolderDataOptions,
    private readonly pool: SamplePool,
  ) {
    this.classes = classes;
  }

  /** Lists the split folders (errors name what is wrong) and starts the data workers. */
  static async open(o: ImageFolderDataOptions): Promise<ImageFolderData> {
    if (o.eval.size !== o.train.size)
      throw new RangeError(`internal: eval size ${o.eval.size} differs from the training size ${o.train.size}`);
    compileTrainTransform(o.train); // a bad setting (an --aa string) fails here, not in a worker
    if ((o.prefetch ?? 2) < 1) throw new RangeError(`prefetch must be at least 1, got ${o.prefetch}`);
    const trainDir = await findSplitFolder(o.root, 'train');
    const valDir = await findSplitFolder(o.root, 'val');
    const train = await ImageFolderIndex.read(trainDir);
    const val = await ImageFolderIndex.read(valDir);
    const index = new Map(train.classes.map((c, i) => [c, i]));
    const unknown = val.classes.filter((c) => !index.has(c));
    if (unknown.length) {
      const names = unknown.slice(0, 3).join(', ') + (unknown.length > 3 ? `, ... (${unknown.length} in all)` : '');
      throw new ImageFolderError(
        `${valDir} has class folder${unknown.length > 1 ? 's' : ''} ${names} that ${trainDir} does not have: ` +
          'validation classes must be training classes',
      );
    }
    const trainSplit = new Split(
      train,
      Int32Array.from(train.classes, (_, i) => i),
      o.trainLimit,
    );
    const valSplit = new Split(
      val,
      Int32Array.from(val.classes, (c) => index.get(c)!),
      o.evalLimit,
    );
    return new ImageFolderData(trainSplit, valSplit, [...train.classes], o, new SamplePool(o.workers));
  }

  get inputSize(): number {
    return this.o.train.size;
  }
  get trainCount(): number {
    return this.trainSet.length;
  }
  get evalCount(): number {
    return this.valSet.length;
  }
  get numClasses(): number {
    return this.classes.length;
  }

  /** Runs the jobs of one batch on the pool and packs the readable images densely. */
  private async assemble(
    samples: Sample[],
    job: (lo: number, hi: number) => SampleJob,
    indices?: Int32Array,
  ): Promise<DataBatch> {
    const size = this.o.train.size;
    const plane = size * size * 3;
    const parts = splitRange(samples.length, this.pool.count);
    const results: SampleJobResult[] = await Promise.all(parts.map(([lo, hi]) => this.pool.run(job(lo, hi))));
    const x = new Float32Array(samples.length * plane);
    const y = new Int32Array(samples.length);
    const kept = indices ? new Int32Array(samples.length) : undefined;
    const skipped: SkippedImage[] = [];
    let n = 0;
    results.forEach((r, k) => {
      const [lo, hi] = parts[k]!;
      const failed = new Map(r.failed.map((f) => [f.index, f.reason]));
      for (let i = 0; i < hi - lo; i++) {
        const s = samples[lo + i]!;
        const reason = failed.get(i);
        if (reason !== undefined) {
          skipped.push({ file: s.name, reason });
          continue;
        }
        x.set(r.data.subarray(i * plane, (i + 1) * plane), n * plane);
        if (kept) kept[n] = indices![lo + i]!;
        y[n++] = s.target;
      }
    });
    return { x, y, n, size, skipped, ...(kept ? { indices: kept } : {}) };
  }

  epoch(rng: Rng, batchSize: number, steps: number, shard?: EpochShard): EpochBatches {
    let order: Int32Array;
    let seedOf: (position: number, index: number) => ReturnType<typeof sampleSeed>;
    if (shard) {
      // Data-parallel: this rank's share; each image's draws keyed by its dataset index.
      order = shardIndices(this.trainSet.length, shard);
      const key = epochStreamKey(shard.seed, shard.epoch, 'augment');
      seedOf = (_position, index) => sampleSeed(key, index);
    } else {
      order = new Int32Array(this.trainSet.length);
      for (let i = 0; i < order.length; i++) order[i] = i;
      rng.shuffle(order);
      const key = drawEpochKey(rng);
      seedOf = (position) => sampleSeed(key, position);
    }
    const transform = this.o.train;
    const batch = (k: number): Promise<DataBatch> => {
      const first = k * batchSize;
      const indices = order.subarray(first, first + batchSize);
      const samples = Array.from(indices, (i) => this.trainSet.at(i));
      return this.assemble(
        samples,
        (lo, hi) => {
          const seeds = new Uint32Array((hi - lo) * 4);
          for (let i = lo; i < hi; i++) seeds.set(seedOf(first + i, indices[i]!), (i - lo) * 4);
          return { kind: 'train', files: samples.slice(lo, hi).map((s) => s.file), seeds, transform };
        },
        shard ? indices : undefined,
      );
    };
    const ahead = new Prefetch(steps, batch, this.o.prefetch ?? 2);
    return { next: () => ahead.next(), close: () => ahead.close() };
  }

  async *evalBatches(batchSize: number, part?: { rank: number; world: number }): AsyncIterable<DataBatch> {
    const [start, end] = part ? evalRange(this.valSet.length, part.rank, part.world) : [0, this.valSet.length];
    const count = Math.ceil((end - start) / batchSize);
    const transform = { ...this.o.eval };
    const batch = (k: number): Promise<DataBatch> => {
      const lo = start + k * batchSize;
      const samples = Array.from({ length: Math.min(end, lo + batchSize) - lo }, (_, i) => this.valSet.at(lo + i));
      return this.assemble(samples, (lo, hi) => ({
        kind: 'eval',
        files: samples.slice(lo, hi).map((s) => s.file),
        transform,
      }));
    };
    const ahead = new Prefetch(count, batch, this.o.prefetch ?? 2);
    try {
      for (let k = 0; k < count; k++) yield await ahead.next();
    } finally {
      ahead.close();
    }
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
