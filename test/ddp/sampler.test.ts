/** The DistributedSampler-like sharding: what every rank reads, and why world size does not change a global step. */
import { describe, expect, it } from 'vitest';
import {
  epochPermutation,
  epochStreamKey,
  evalRange,
  sampleDropoutMask,
  shardIndices,
  shardSteps,
} from '../../src/train/data/distributed-sampler.js';

describe('distributed sampler', () => {
  it('pads to a multiple of the world size and deals positions r, r + N, ... to rank r', () => {
    const n = 10,
      world = 3,
      shard = { world, seed: 42, epoch: 2 };
    const perm = epochPermutation(n, shard);
    expect(perm.length).toBe(12);
    expect([...perm.slice(0, n)].sort((a, b) => a - b)).toEqual([...Array(n).keys()]);
    expect([...perm.slice(n)]).toEqual([...perm.slice(0, 2)]); // timm pads with the head
    const shards = [0, 1, 2].map((rank) => shardIndices(n, { ...shard, rank }));
    shards.forEach((s, rank) => expect([...s]).toEqual([...perm].filter((_, i) => i % world === rank)));
  });

  it('gives global step k the same images for N ranks x b as for 1 process x N b', () => {
    const n = 37,
      b = 3,
      seed = 7,
      epoch = 5;
    for (const world of [2, 4]) {
      const one = shardIndices(n, { world: 1, rank: 0, seed, epoch });
      const ranks = Array.from({ length: world }, (_, rank) => shardIndices(n, { world, rank, seed, epoch }));
      for (let k = 0; k < shardSteps(n, world, b); k++) {
        const union = ranks.flatMap((s) => [...s.slice(k * b, (k + 1) * b)]).sort((x, y) => x - y);
        const single = [...one.slice(k * world * b, (k + 1) * world * b)].sort((x, y) => x - y);
        expect(union, `world ${world} step ${k}`).toEqual(single);
      }
    }
  });

  it('shuffles by seed + epoch only', () => {
    const a = epochPermutation(50, { world: 1, seed: 1, epoch: 3 });
    expect([...epochPermutation(50, { world: 1, seed: 2, epoch: 2 })]).toEqual([...a]);
    expect([...epochPermutation(50, { world: 1, seed: 1, epoch: 4 })]).not.toEqual([...a]);
  });

  it("draws a sample's dropout mask from (seed, epoch, index), wherever it sits in a batch", () => {
    const key = epochStreamKey(3, 1, 'dropout');
    const c = 16,
      p = 0.3;
    const ab = new Float32Array(2 * c),
      ba = new Float32Array(2 * c);
    sampleDropoutMask(key, [5, 9], 2, c, p, ab);
    sampleDropoutMask(key, [9, 5], 2, c, p, ba);
    expect([...ab.slice(0, c)]).toEqual([...ba.slice(c)]);
    expect([...ab.slice(0, c)]).not.toEqual([...ab.slice(c)]);
    expect(new Set(ab)).toEqual(new Set([0, Math.fround(1 / (1 - p))]));
    const other = new Float32Array(c);
    sampleDropoutMask(epochStreamKey(3, 2, 'dropout'), [5], 1, c, p, other);
    expect([...other]).not.toEqual([...ab.slice(0, c)]);
  });

  it('splits an evaluation set into contiguous slices covering each image once', () => {
    for (const [n, world] of [
      [10, 3],
      [2, 4],
      [0, 2],
      [1000, 7],
    ] as const) {
      const parts = Array.from({ length: world }, (_, r) => evalRange(n, r, world));
      expect(parts[0]![0]).toBe(0);
      expect(parts.at(-1)![1]).toBe(n);
      for (let r = 1; r < world; r++) expect(parts[r]![0]).toBe(parts[r - 1]![1]);
    }
  });
});
