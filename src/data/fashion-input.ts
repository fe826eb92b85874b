/**
 * The Fashion-MNIST input recipe (shared/reference/fashion_mnist.md), browser-safe:
 * pixels / 255 -> bilinear resize 28 -> 32 as PyTorch's F.interpolate(align_corners=False)
 * -> (x - 0.2860) / 0.3530 -> gray replicated to 3 channels; and the same recipe for any
 * picture (gray, inverted when it is dark-on-light, letterboxed into 28x28). Training
 * (src/data/fashion-mnist.ts), the demo and the web page all use these functions, so a
 * 28x28 picture gets bit-identical model input everywhere.
 */
import { resizePil, type RgbImage } from './preprocess.js';

/** Class names of Fashion-MNIST, label order. */
export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;
/** Normalization of the recipe. */
export const FASHION_MNIST_MEAN = 0.286;
export const FASHION_MNIST_STD = 0.353;
/** The dataset's image side and the model's input side. */
export const FASHION_MNIST_SOURCE_SIZE = 28;
export const FASHION_MNIST_SIZE = 32;

/**
 * Bilinear resize of one channel as PyTorch's upsample_bilinear2d with
 * align_corners=False: source = (dst + 0.5) * in/out - 0.5, clamped at 0.
 */
export function resizeBilinear(
  src: Float32Array,
  inH: number,
  inW: number,
  outH: number,
  outW: number,
  dst = new Float32Array(outH * outW),
): Float32Array {
  const axis = (inSize: number, outSize: number) => {
    const scale = inSize / outSize;
    const i0 = new Int32Array(outSize),
      i1 = new Int32Array(outSize),
      l1 = new Float32Array(outSize);
    for (let o = 0; o < outSize; o++) {
      const s = Math.max(0, Math.fround(scale * (o + 0.5) - 0.5));
      const i = Math.floor(s);
      i0[o] = i;
      i1[o] = i < inSize - 1 ? i + 1 : i;
      l1[o] = s - i;
    }
    return { i0, i1, l1 };
  };
  const ya = axis(inH, outH),
    xa = axis(inW, outW);
  for (let oy = 0; oy < outH; oy++) {
    const r0 = ya.i0[oy]! * inW,
      r1 = ya.i1[oy]! * inW,
      wy1 = ya.l1[oy]!,
      wy0 = 1 - wy1;
    for (let ox = 0; ox < outW; ox++) {
      const c0 = xa.i0[ox]!,
        c1 = xa.i1[ox]!,
        wx1 = xa.l1[ox]!,
        wx0 = 1 - wx1;
      dst[oy * outW + ox] =
        wy0 * (wx0 * src[r0 + c0]! + wx1 * src[r0 + c1]!) + wy1 * (wx0 * src[r1 + c0]! + wx1 * src[r1 + c1]!);
    }
  }
  return dst;
}

/** PIL's "L" conversion: L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16 (ITU-R 601-2 luma, fixed point). */
export function toGray(img: RgbImage): Uint8Array {
  const n = img.width * img.height;
  const out = new Uint8Array(n);
  const d = img.data;
  for (let i = 0, j = 0; i < n; i++, j += 3)
    out[i] = (19595 * d[j]! + 38470 * d[j + 1]! + 7471 * d[j + 2]! + 0x8000) >>> 16;
  return out;
}

/** Mean of the outermost pixel ring: the background of a product photo or a drawing. */
function borderMean(g: Uint8Array, w: number, h: number): number {
  let sum = 0;
  let n = 0;
  for (let x = 0; x < w; x++) {
    sum += g[x]! + g[(h - 1) * w + x]!;
    n += 2;
  }
  for (let y = 1; y < h - 1; y++) {
    sum += g[y * w]! + g[y * w + w - 1]!;
    n += 2;
  }
  return sum / n;
}

/**
 * Letterboxes a gray image into a side x side square: the longer side scaled to `side`
 * with PIL's antialiased bilinear filter, centred on black. Fashion-MNIST items fill
 * their box the same way; a centre crop would cut sleeves off.
 */
function fitSquare(gray: Uint8Array, w: number, h: number, side: number): Uint8Array {
  if (w === side && h === side) return gray;
  const scale = side / Math.max(w, h);
  const nw = Math.max(1, Math.round(w * scale));
  const nh = Math.max(1, Math.round(h * scale));
  // resizePil works on RGB: carry the gray value in all three channels.
  const rgb = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) rgb[i * 3] = rgb[i * 3 + 1] = rgb[i * 3 + 2] = gray[i]!;
  const small = resizePil({ width: w, height: h, data: rgb }, nw, nh, 'bilinear');
  const out = new Uint8Array(side * side);
  const ox = (side - nw) >> 1;
  const oy = (side - nh) >> 1;
  for (let y = 0; y < nh; y++)
    for (let x = 0; x < nw; x++) out[(y + oy) * side + x + ox] = small.data[(y * nw + x) * 3]!;
  return out;
}

/** Whether to invert an image into Fashion-MNIST's light-object-on-black look. */
export type InvertMode = 'auto' | 'yes' | 'no';

/** Model input [3, 32, 32] and the 32x32 picture it shows. */
export interface FashionInput {
  input: Float32Array;
  picture: RgbImage;
  inverted: boolean;
}

/** The recipe's numbers (a shipped model's meta.json may state other ones). */
export interface FashionConfig {
  /** The dataset's image side (28). */
  sourceSize: number;
  /** Model input side (32). */
  size: number;
  mean: number;
  std: number;
}

/** The reference recipe's values. */
export const FASHION_DEFAULTS: FashionConfig = {
  sourceSize: FASHION_MNIST_SOURCE_SIZE,
  size: FASHION_MNIST_SIZE,
  mean: FASHION_MNIST_MEAN,
  std: FASHION_MNIST_STD,
};

/**
 * The recipe for any RGB picture: gray (PIL "L"), inverted when it looks like a dark
 * object on a light background (`'auto'`), fitted into 28x28, then exactly the training
 * input. A 28x28 Fashion-MNIST picture goes through unchanged.
 */
export function fashionInput(
  image: RgbImage,
  invert: InvertMode = 'auto',
  config: FashionConfig = FASHION_DEFAULTS,
): FashionInput {
  const { sourceSize: src, size, mean, std } = config;
  let gray = toGray(image);
  const inverted = invert === 'yes' || (invert === 'auto' && borderMean(gray, image.width, image.height) > 127);
  if (inverted) gray = gray.map((v) => 255 - v);
  const fitted = fitSquare(gray, image.width, image.height, src);
  const up = resizeBilinear(
    Float32Array.from(fitted, (v) => v / 255),
    src,
    src,
    size,
    size,
  );
  const plane = size * size;
  const input = new Float32Array(3 * plane);
  const picture = new Uint8Array(plane * 3);
  for (let i = 0; i < plane; i++) {
    const v = (up[i]! - mean) / std;
    input[i] = input[plane + i] = input[2 * plane + i] = v;
    picture[i * 3] = picture[i * 3 + 1] = picture[i * 3 + 2] = Math.round(Math.min(1, Math.max(0, up[i]!)) * 255);
  }
  return { input, picture: { width: size, height: size, data: picture }, inverted };
}
