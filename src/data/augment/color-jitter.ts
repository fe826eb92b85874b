/**
 * torchvision 0.14's ColorJitter on PIL images as timm configures it without
 * AutoAugment (`--color-jitter 0.4`: brightness, contrast and saturation each with
 * factor range [max(0, 1 - s), 1 + s], no hue): a random order of the three (torch's
 * randperm over four slots, hue's slot a no-op), factors drawn uniformly, each applied
 * with Pillow's ImageEnhance (see enhance.ts). Factors are rounded to float32 as
 * torch's `uniform_` returns them.
 */
import type { RgbImage } from '../preprocess.js';
import { brightness, color, contrast } from './enhance.js';
import { uniform, type RandomSource } from './random.js';

/** Jitter strengths; 0 leaves that adjustment out. */
export interface ColorJitterStrength {
  brightness: number;
  contrast: number;
  saturation: number;
}

/** A random permutation of 0..n-1 (Fisher-Yates). */
function permutation(n: number, r: RandomSource): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r.uniform() * (i + 1));
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return p;
}

/** The factor range of one strength, or null when it is off (torchvision's `_check_input`). */
function range(s: number): [number, number] | null {
  return s > 0 ? [Math.max(0, 1 - s), 1 + s] : null;
}

/** Applies ColorJitter: draws the order, then the factors (brightness, contrast, saturation), then adjusts. */
export function colorJitter(img: RgbImage, s: ColorJitterStrength, r: RandomSource): RgbImage {
  const order = permutation(4, r);
  const draw = (rg: [number, number] | null): number | null => (rg ? Math.fround(uniform(r, rg[0], rg[1])) : null);
  const b = draw(range(s.brightness));
  const c = draw(range(s.contrast));
  const sat = draw(range(s.saturation));
  let out = img;
  for (const fn of order) {
    if (fn === 0 && b !== null) out = brightness(out, b);
    else if (fn === 1 && c !== null) out = contrast(out, c);
    else if (fn === 2 && sat !== null) out = color(out, sat);
  }
  return out;
}
