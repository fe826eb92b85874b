/**
 * Channel rounding of the official code (`_make_divisible`, from the TF MobileNet repo):
 * round to the nearest multiple of `divisor`, never below `minValue`, and never more
 * than 10 % below `v`. `int(v + d/2) // d * d` in Python truncates toward zero; all
 * inputs here are positive, so Math.floor is the same.
 */
export function makeDivisible(v: number, divisor: number, minValue?: number): number {
  const min = minValue ?? divisor;
  let newV = Math.max(min, Math.floor(Math.floor(v + divisor / 2) / divisor) * divisor);
  if (newV < 0.9 * v) newV += divisor;
  return newV;
}
