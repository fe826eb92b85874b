/**
 * The random draws of the augmentations, written like the Python calls they stand for
 * (`random.random`, `random.uniform`, `random.randint`, `random.choice`, `random.gauss`,
 * `torch.rand(1) < p`), on any uniform source. The trainer passes its seeded PRNG (one
 * per sample), so every draw is reproducible; the numbers differ from Python's Mersenne
 * Twister, the distributions do not.
 */

/** A source of uniform floats in [0, 1) (the trainer's `Rng` is one). */
export interface RandomSource {
  uniform(): number;
}

/** Python's `random.uniform(a, b)`: a + (b - a) * random(). */
export function uniform(r: RandomSource, a: number, b: number): number {
  return a + (b - a) * r.uniform();
}

/** Python's `random.randint(a, b)`: an integer in [a, b], both ends included. */
export function randint(r: RandomSource, a: number, b: number): number {
  return a + Math.floor(r.uniform() * (b - a + 1));
}

/** Python's `random.choice(seq)`. */
export function choice<T>(r: RandomSource, items: readonly T[]): T {
  return items[Math.floor(r.uniform() * items.length)]!;
}

/**
 * A normal draw (Python's `random.gauss`, torch's `normal_`) by the Box-Muller transform
 * of two uniforms; `1 - u` keeps the logarithm finite.
 */
export function gauss(r: RandomSource, mean = 0, std = 1): number {
  const u1 = 1 - r.uniform();
  const u2 = r.uniform();
  return mean + std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/** True with probability p (torchvision's `torch.rand(1) < p`). */
export function chance(r: RandomSource, p: number): boolean {
  return r.uniform() < p;
}

/** Python's round(): halves go to the even neighbour (timm's `int(round(...))` sizes use it). */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
