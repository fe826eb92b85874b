/**
 * Data-parallel sharding as timm's train.py gets it from torch's DistributedSampler, and the
 * per-sample random streams that make a data-parallel run independent of its world size.
 *
 * Epoch e's order is a permutation of the training set seeded with (--seed + e) alone (timm
 * seeds it with 0 + e; torch's randperm cannot be reproduced, ours is a Fisher-Yates shuffle
 * with the trainer's PRNG), padded by repeating its head to a multiple of the world size;
 * rank r takes positions r, r + world, r + 2 world, ... Global step k therefore covers
 * positions [k world b, (k + 1) world b) of the padded order for every world size, so with
 * --sync-bn N ranks x b see exactly the batch 1 process x N b sees. Each image's
 * augmentation and dropout draws come from a generator seeded from (seed, epoch, image
 * index): never from rank, worker or thread count.
 */
import { Rng, type RngState } from '../rng.js';
import { sampleRng, sampleSeed } from './sample-seed.js';

/** Which part of an epoch one rank of a data-parallel job reads. */
export interface EpochShard {
  world: number;
  rank: number;
  seed: number;
  epoch: number;
}

/** Samples per rank (timm's DistributedSampler.num_samples): ceil(n / world). */
export function shardLength(n: number, world: number): number {
  return Math.ceil(n / world);
}

/** Training steps per epoch of each rank (last partial batch dropped, as timm's loader). */
export function shardSteps(n: number, world: number, batchSize: number): number {
  return Math.floor(shardLength(n, world) / batchSize);
}

/** The padded epoch permutation (length world * ceil(n / world)). */
export function epochPermutation(n: number, shard: Pick<EpochShard, 'world' | 'seed' | 'epoch'>): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  new Rng((shard.seed + shard.epoch) >>> 0).shuffle(order);
  const total = shardLength(n, shard.world) * shard.world;
  const padded = new Int32Array(total);
  padded.set(order);
  for (let i = n; i < total; i++) padded[i] = order[(i - n) % n]!;
  return padded;
}

/** Dataset indices of rank `rank`'s samples this epoch, in order: permutation[rank::world]. */
export function shardIndices(n: number, shard: EpochShard): Int32Array {
  if (!(shard.rank >= 0 && shard.rank < shard.world))
    throw new RangeError(`rank ${shard.rank} outside a world of ${shard.world}`);
  const perm = epochPermutation(n, shard);
  const out = new Int32Array(perm.length / shard.world);
  for (let i = 0; i < out.length; i++) out[i] = perm[shard.rank + i * shard.world]!;
  return out;
}

/** Streams of per-sample draws. */
export type SampleStream = 'augment' | 'dropout';

/** The key of an epoch's per-sample streams: from (seed, epoch, stream) only. */
export function epochStreamKey(seed: number, epoch: number, stream: SampleStream): RngState {
  const r = new Rng([seed >>> 0, epoch >>> 0, stream === 'augment' ? 0x61756720 : 0x64726f70, 0x5eed0001]);
  for (let i = 0; i < 12; i++) r.nextU32();
  return [r.nextU32(), r.nextU32(), r.nextU32(), r.nextU32()];
}

/** The generator of one image's draws of a stream this epoch. */
export function sampleStream(key: RngState, index: number): Rng {
  return sampleRng(sampleSeed(key, index));
}

/**
 * Dropout multipliers of a batch: row i (headChannels values: 0 or 1 / (1 - p)) from image
 * `indices[i]`'s own stream, so a sample's mask is the same on any rank in any batch.
 */
export function sampleDropoutMask(
  key: RngState,
  indices: ArrayLike<number>,
  n: number,
  channels: number,
  p: number,
  out: Float32Array,
): void {
  const keep = 1 / (1 - p);
  for (let i = 0; i < n; i++) {
    const r = sampleStream(key, indices[i]!);
    for (let c = 0; c < channels; c++) out[i * channels + c] = r.uniform() < p ? 0 : keep;
  }
}

/** The contiguous slice [lo, hi) of an evaluation set of n images that rank `rank` scores. */
export function evalRange(n: number, rank: number, world: number): [number, number] {
  return [Math.floor((rank * n) / world), Math.floor(((rank + 1) * n) / world)];
}
