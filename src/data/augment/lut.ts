/**
 * Per-pixel lookup-table operations on RGB images, as Pillow 9.4's `ImageOps` builds
 * them (invert, solarize, posterize, autocontrast, equalize) plus timm's SolarizeAdd.
 * Each band has its own 256-entry table where PIL computes one per band from the band's
 * histogram; `Image.point` clips table values to 0..255. Bit-exact with Pillow.
 */
import type { RgbImage } from '../preprocess.js';

/** Maps every band through its table: `luts[b][value]` (one table for all bands, or three). */
export function applyLut(img: RgbImage, luts: readonly ArrayLike<number>[]): RgbImage {
  const tables = [0, 1, 2].map((b) => {
    const src = luts[luts.length === 1 ? 0 : b]!;
    if (src.length !== 256) throw new RangeError(`lookup table needs 256 entries, got ${src.length}`);
    // Image.point clips table entries to 0..255.
    return Uint8Array.from({ length: 256 }, (_, i) => Math.min(255, Math.max(0, Math.trunc(src[i]!))));
  });
  const out = new Uint8Array(img.data.length);
  const d = img.data;
  const [t0, t1, t2] = tables as [Uint8Array, Uint8Array, Uint8Array];
  for (let i = 0; i < d.length; i += 3) {
    out[i] = t0[d[i]!]!;
    out[i + 1] = t1[d[i + 1]!]!;
    out[i + 2] = t2[d[i + 2]!]!;
  }
  return { width: img.width, height: img.height, data: out };
}

/** 256-bin histograms of the three bands (PIL's `Image.histogram()` for RGB, split per band). */
export function bandHistograms(img: RgbImage): [Uint32Array, Uint32Array, Uint32Array] {
  const h: [Uint32Array, Uint32Array, Uint32Array] = [new Uint32Array(256), new Uint32Array(256), new Uint32Array(256)];
  const d = img.data;
  for (let i = 0; i < d.length; i += 3) {
    h[0][d[i]!]!++;
    h[1][d[i + 1]!]!++;
    h[2][d[i + 2]!]!++;
  }
  return h;
}

const identity = (): number[] => Array.from({ length: 256 }, (_, i) => i);

/** `ImageOps.invert`: 255 - v. */
export function invert(img: RgbImage): RgbImage {
  return applyLut(img, [Array.from({ length: 256 }, (_, i) => 255 - i)]);
}

/** `ImageOps.solarize(img, threshold)`: values >= threshold are inverted. */
export function solarize(img: RgbImage, threshold: number): RgbImage {
  return applyLut(img, [Array.from({ length: 256 }, (_, i) => (i < threshold ? i : 255 - i))]);
}

/** timm's `solarize_add`: values below `threshold` get `add` (capped at 255). */
export function solarizeAdd(img: RgbImage, add: number, threshold = 128): RgbImage {
  return applyLut(img, [Array.from({ length: 256 }, (_, i) => (i < threshold ? Math.min(255, i + add) : i))]);
}

/** `ImageOps.posterize(img, bits)`: keeps the `bits` most significant bits (0 makes the image black). */
export function posterize(img: RgbImage, bits: number): RgbImage {
  const mask = ~(2 ** (8 - bits) - 1);
  return applyLut(img, [Array.from({ length: 256 }, (_, i) => i & mask)]);
}

/**
 * `ImageOps.autocontrast(img)` (cutoff 0): each band stretched so its lowest value
 * becomes 0 and its highest 255: `int(v * 255 / (hi - lo) - lo * 255 / (hi - lo))`.
 */
export function autocontrast(img: RgbImage): RgbImage {
  const luts = bandHistograms(img).map((h) => {
    let lo = 0;
    while (lo < 256 && !h[lo]) lo++;
    let hi = 255;
    while (hi >= 0 && !h[hi]) hi--;
    if (hi <= lo) return identity();
    const scale = 255.0 / (hi - lo);
    const offset = -lo * scale;
    return Array.from({ length: 256 }, (_, i) => Math.min(255, Math.max(0, Math.trunc(i * scale + offset))));
  });
  return applyLut(img, luts);
}

/**
 * `ImageOps.equalize(img)`: per band, step = (pixels - count of the last used value) // 255,
 * lut[i] = (step // 2 + pixels below i) // step; identity when a band has one value.
 */
export function equalize(img: RgbImage): RgbImage {
  const luts = bandHistograms(img).map((h) => {
    const used = Array.from(h).filter((v) => v > 0);
    if (used.length <= 1) return identity();
    const total = used.reduce((a, b) => a + b, 0);
    const step = Math.floor((total - used[used.length - 1]!) / 255);
    if (!step) return identity();
    const lut: number[] = [];
    let n = Math.floor(step / 2);
    for (let i = 0; i < 256; i++) {
      lut.push(Math.floor(n / step));
      n += h[i]!;
    }
    return lut;
  });
  return applyLut(img, luts);
}
