/**
 * Per-image random streams for ImageFolder augmentation. At the start of an epoch the
 * trainer's PRNG draws a 128-bit epoch key (after the shuffle); image k of the epoch gets
 * its own generator seeded from (key, k). Each image's augmentation therefore depends on
 * nothing but the key and its position: the same with 0, 1 or 8 workers, in any order
 * of completion, and a resumed run (whose PRNG state was saved at the epoch boundary)
 * draws the same key and so the same crops, flips and RandAugment ops.
 */
import { Rng, type RngState } from '../rng.js';

/** murmur3's 32-bit finalizer: a bijective avalanche of one word. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Draws an epoch key (four words) from the trainer's PRNG. */
export function drawEpochKey(rng: Rng): RngState {
  return [rng.nextU32(), rng.nextU32(), rng.nextU32(), rng.nextU32()];
}

/** The seed words of image `position` of the epoch with `key`. */
export function sampleSeed(key: RngState, position: number): RngState {
  const p = position >>> 0;
  return key.map((k, j) => fmix32((k ^ fmix32(Math.imul(p, 4) + j + 0x9e3779b9)) >>> 0)) as RngState;
}

/** The generator of one image: seeded from its words, warmed up as sfc32 recommends. */
export function sampleRng(seed: ArrayLike<number>): Rng {
  const r = new Rng([seed[0]!, seed[1]!, seed[2]!, seed[3]!]);
  for (let i = 0; i < 12; i++) r.nextU32();
  return r;
}
