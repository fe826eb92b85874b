/**
 * The random transforms of ImageFolder training: RandomResizedCrop's box sampling (in
 * bounds, area and aspect in range, timm's fallback), RandomErasing, ColorJitter, and the
 * composed train / eval pipelines (reproducible per seed, eval = the PIL-exact preprocess).
 */
import { describe, expect, it } from 'vitest';
import {
  colorJitter,
  compileTrainTransform,
  evalTransform,
  IMAGENET_MEAN,
  IMAGENET_STD,
  randomErasing,
  randomResizedCrop,
  sampleCropBox,
  type TrainTransformConfig,
} from '../../src/data/augment/index.js';
import { preprocess, type RgbImage } from '../../src/data/preprocess.js';
import { Rng } from '../../src/train/rng.js';

function noise(width: number, height: number, seed = 1): RgbImage {
  const r = new Rng(seed);
  return { width, height, data: Uint8Array.from({ length: width * height * 3 }, () => r.int(256)) };
}

describe('RandomResizedCrop box sampling', () => {
  it.each([
    [224, 224],
    [500, 333],
    [64, 300],
    [37, 41],
  ])('stays inside a %ix%i image with area and aspect in range', (w, h) => {
    const rng = new Rng(w * 7 + h);
    const scale = [0.08, 1] as const;
    const ratio = [3 / 4, 4 / 3] as const;
    let fallbacks = 0;
    for (let i = 0; i < 2000; i++) {
      const b = sampleCropBox(w, h, scale, ratio, rng);
      expect(b.top >= 0 && b.left >= 0 && b.width >= 1 && b.height >= 1).toBe(true);
      expect(b.top + b.height <= h && b.left + b.width <= w).toBe(true);
      const isFallback =
        b.top === Math.floor((h - b.height) / 2) &&
        b.left === Math.floor((w - b.width) / 2) &&
        (b.width === w || b.height === h);
      if (isFallback) {
        fallbacks++;
        continue;
      }
      // Rounding each side to an integer moves area and aspect by at most half a pixel per side.
      const area = (b.width * b.height) / (w * h);
      const slack = (b.width + b.height + 1) / (2 * w * h);
      expect(area).toBeGreaterThanOrEqual(scale[0] - slack);
      expect(area).toBeLessThanOrEqual(scale[1] + slack);
      const aspect = b.width / b.height;
      expect(aspect).toBeGreaterThanOrEqual(
        (((ratio[0] * (b.width - 0.5)) / b.width) * b.height) / (b.height + 0.5) - 1e-9,
      );
      expect(aspect).toBeLessThanOrEqual(
        (((ratio[1] * (b.width + 0.5)) / b.width) * b.height) / (b.height - 0.5) + 1e-9,
      );
    }
    expect(fallbacks).toBeLessThan(2000 * (w === 64 ? 0.3 : 0.02)); // a tall strip fails more attempts
  });

  it('falls back to the centre crop clamped to the ratio range when no attempt fits', () => {
    // A 100x10 strip and square crops of >= 90 % of its area: none fits in 10 rows.
    expect(sampleCropBox(100, 10, [0.9, 1], [1, 1], new Rng(3))).toEqual({ top: 0, left: 45, height: 10, width: 10 });
    expect(sampleCropBox(10, 100, [0.9, 1], [1, 1], new Rng(3))).toEqual({ top: 45, left: 0, height: 10, width: 10 });
    // Within the ratio range: the whole image.
    expect(sampleCropBox(50, 40, [2, 3], [0.5, 2], new Rng(3))).toEqual({ top: 0, left: 0, height: 40, width: 50 });
  });

  it('resizes the crop to the output size', () => {
    const out = randomResizedCrop(
      noise(90, 60),
      { size: 32, scale: [0.08, 1], ratio: [3 / 4, 4 / 3], interpolation: 'random' },
      new Rng(2),
    );
    expect([out.width, out.height, out.data.length]).toEqual([32, 32, 32 * 32 * 3]);
  });
});

describe('RandomErasing (timm, after Normalize)', () => {
  const H = 40,
    W = 30;
  const base = (): Float32Array => Float32Array.from({ length: H * W * 3 }, (_, i) => (i % 7) / 7);

  it('erases one box with area in [0.02, 1/3] of the image, touching nothing else', () => {
    const rng = new Rng(9);
    for (let k = 0; k < 200; k++) {
      const data = base();
      const box = randomErasing(data, 0, H, W, { probability: 1, mode: 'pixel' }, rng);
      expect(box).not.toBeNull();
      const b = box!;
      expect(b.top + b.height <= H && b.left + b.width <= W).toBe(true);
      const area = (b.width * b.height) / (H * W);
      expect(area).toBeLessThan(1 / 3 + (b.width + b.height + 1) / (2 * H * W));
      const ref = base();
      let changed = 0;
      let outside = 0;
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const inside = y >= b.top && y < b.top + b.height && x >= b.left && x < b.left + b.width;
          for (let c = 0; c < 3; c++) {
            const i = (y * W + x) * 3 + c;
            if (data[i] !== ref[i]) {
              if (inside) changed++;
              else outside++;
            }
          }
        }
      }
      expect(outside).toBe(0);
      expect(changed).toBe(b.width * b.height * 3); // per-pixel normal noise hits every value
    }
  });

  it('does nothing when the probability draw fails; const fills zeros, rand one value per channel', () => {
    const data = base();
    expect(randomErasing(data, 0, H, W, { probability: 0, mode: 'pixel' }, new Rng(1))).toBeNull();
    expect(data).toEqual(base());
    const c = base();
    const b = randomErasing(c, 0, H, W, { probability: 1, mode: 'const' }, new Rng(2))!;
    expect(c[(b.top * W + b.left) * 3 + 1]).toBe(0);
    const r = base();
    const rb = randomErasing(r, 0, H, W, { probability: 1, mode: 'rand' }, new Rng(3))!;
    const px = (y: number, x: number): number[] => Array.from(r.subarray((y * W + x) * 3, (y * W + x) * 3 + 3));
    expect(px(rb.top + rb.height - 1, rb.left + rb.width - 1)).toEqual(px(rb.top, rb.left));
  });
});

describe('ColorJitter', () => {
  it('is the identity at strength 0 and random otherwise', () => {
    const img = noise(20, 16);
    expect(colorJitter(img, { brightness: 0, contrast: 0, saturation: 0 }, new Rng(1))).toEqual(img);
    const a = colorJitter(img, { brightness: 0.4, contrast: 0.4, saturation: 0.4 }, new Rng(1));
    expect(a).not.toEqual(img);
    expect(colorJitter(img, { brightness: 0.4, contrast: 0.4, saturation: 0.4 }, new Rng(1))).toEqual(a);
  });
});

describe('train and eval pipelines', () => {
  const cfg: TrainTransformConfig = {
    size: 24,
    scale: [0.08, 1],
    ratio: [3 / 4, 4 / 3],
    interpolation: 'random',
    hflip: 0.5,
    autoAugment: 'rand-m9-mstd0.5',
    colorJitter: 0.4,
    reprob: 0.25,
    remode: 'pixel',
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
  };

  it('gives the same floats for the same seed and different ones for another', () => {
    const t = compileTrainTransform(cfg);
    const img = noise(50, 40, 4);
    const out = (seed: number): Float32Array => {
      const o = new Float32Array(2 * 24 * 24 * 3);
      t.apply(img, new Rng(seed), o, 24 * 24 * 3);
      return o;
    };
    const a = out(7);
    expect(a.subarray(0, 24 * 24 * 3).every((v) => v === 0)).toBe(true); // only its own slot written
    expect(out(7)).toEqual(a);
    expect(out(8)).not.toEqual(a);
  });

  it('normalizes like ToTensor + Normalize: a flat grey image without augmentation maps to known values', () => {
    const t = compileTrainTransform({ ...cfg, autoAugment: null, colorJitter: 0, reprob: 0, hflip: 0 });
    const grey: RgbImage = { width: 30, height: 30, data: new Uint8Array(30 * 30 * 3).fill(128) };
    const o = new Float32Array(24 * 24 * 3);
    t.apply(grey, new Rng(1), o, 0);
    const f = Math.fround;
    expect(Array.from(o.subarray(0, 3))).toEqual(
      [0, 1, 2].map((c) => f(f(f(128 / 255) - f(IMAGENET_MEAN[c]!)) / f(IMAGENET_STD[c]!))),
    );
  });

  it('refuses a bad RandAugment string when compiled', () => {
    expect(() => compileTrainTransform({ ...cfg, autoAugment: 'rand-q3' })).toThrow(/unknown RandAugment section/);
  });

  it("evaluates with the PIL-exact eval preprocessing (HWC of preprocess()'s CHW)", () => {
    const img = noise(61, 47, 5);
    const hwc = new Float32Array(32 * 32 * 3);
    evalTransform(
      img,
      { size: 32, cropPct: 0.875, interpolation: 'bilinear', mean: IMAGENET_MEAN, std: IMAGENET_STD },
      hwc,
      0,
    );
    const chw = preprocess(img, { size: 32, cropPct: 0.875, interpolation: 'bilinear' });
    for (let c = 0; c < 3; c++) for (let i = 0; i < 32 * 32; i++) expect(hwc[i * 3 + c]).toBe(chw[c * 1024 + i]);
  });
});
