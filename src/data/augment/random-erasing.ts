/**
 * timm's RandomErasing (timm/data/random_erasing.py, 0.6.x) on one normalized image,
 * applied after Normalize as timm's train transform does (`--reprob`, `--remode`):
 * with probability `probability`, up to 10 attempts to draw a box of area
 * uniform(0.02, 1/3) * image area and aspect exp(uniform(log 0.3, log 1/0.3)), with
 * `h = int(round(sqrt(area * aspect)))`, `w = int(round(sqrt(area / aspect)))`; the first
 * box strictly smaller than the image is placed uniformly and filled with per-pixel
 * standard normal noise (`pixel`), one normal value per channel (`rand`) or zeros
 * (`const`). One box (max_count 1). Works on HWC float32 data (the trainer's NHWC batch
 * slot); the noise is drawn in timm's (channel, row, column) order.
 */
import { gauss, randint, roundHalfEven, uniform, type RandomSource } from './random.js';

/** timm's `--remode`. */
export type EraseMode = 'pixel' | 'rand' | 'const';

/** Settings of {@link randomErasing} (timm's defaults but the probability). */
export interface RandomErasingOptions {
  probability: number;
  mode: EraseMode;
  minArea?: number;
  maxArea?: number;
  minAspect?: number;
}

/** The erased box, for tests and logs. */
export interface ErasedBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

/**
 * Erases one random box of the `height` x `width` x 3 HWC image at `data[offset ...]` in
 * place. Returns the box, or null when the probability draw or all 10 attempts failed.
 */
export function randomErasing(
  data: Float32Array,
  offset: number,
  height: number,
  width: number,
  o: RandomErasingOptions,
  r: RandomSource,
): ErasedBox | null {
  if (r.uniform() > o.probability) return null;
  const minArea = o.minArea ?? 0.02;
  const maxArea = o.maxArea ?? 1 / 3;
  const minAspect = o.minAspect ?? 0.3;
  const logAspect = [Math.log(minAspect), Math.log(1 / minAspect)] as const;
  const area = height * width;
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = uniform(r, minArea, maxArea) * area; // / count, count = 1
    const aspect = Math.exp(uniform(r, logAspect[0], logAspect[1]));
    const h = roundHalfEven(Math.sqrt(targetArea * aspect));
    const w = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w < width && h < height) {
      const top = randint(r, 0, height - h);
      const left = randint(r, 0, width - w);
      const perChannel = o.mode === 'rand' ? [gauss(r), gauss(r), gauss(r)] : null;
      for (let c = 0; c < 3; c++) {
        for (let y = top; y < top + h; y++) {
          for (let x = left; x < left + w; x++) {
            const v = o.mode === 'pixel' ? gauss(r) : perChannel ? perChannel[c]! : 0;
            data[offset + (y * width + x) * 3 + c] = v;
          }
        }
      }
      return { top, left, height: h, width: w };
    }
  }
  return null;
}
