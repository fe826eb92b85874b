/**
 * Fashion-MNIST for training (Node-only: reads files): the four IDX files of
 * Debian's `dataset-fashion-mnist` package (or the same files anywhere, gzipped or
 * not), the reference preprocessing of shared/reference/fashion_mnist.md and the
 * training augmentation, producing NHWC float32 batches.
 *
 * Preprocessing: pixels / 255 -> bilinear resize 28 -> 32 (PyTorch F.interpolate,
 * align_corners=False) -> normalize with mean 0.2860, std 0.3530 -> gray replicated
 * to 3 channels. Training augmentation: random 32x32 crop of the image zero-padded by
 * 2 on each side (zero of the normalized image), then horizontal flip with p = 0.5.
 */
import { existsSync } from 'node:fs';
import { readInputFileSync } from '../node/read-input.js';
import path from 'node:path';
import { IdxError, readIdx } from './idx.js';

/** Where Debian's `dataset-fashion-mnist` package installs the files. */
export const DEFAULT_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

// The per-image recipe is browser-safe and shared with the demo and the web page.
export {
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_MEAN,
  FASHION_MNIST_STD,
  FASHION_MNIST_SIZE,
  resizeBilinear,
} from './fashion-input.js';
import {
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_MEAN,
  FASHION_MNIST_STD,
  FASHION_MNIST_SIZE,
  resizeBilinear,
} from './fashion-input.js';
/** Zero padding of the random crop. */
export const FASHION_MNIST_CROP_PAD = 2;

/** One split as stored: uint8 28x28 images and labels. */
export interface RawSplit {
  count: number;
  height: number;
  width: number;
  images: Uint8Array;
  labels: Uint8Array;
}

/** Most images a split may hold (the train split has 60,000), and the largest file read (gzip or raw). */
const MAX_IMAGES = 1_000_000;
const MAX_FILE_BYTES = MAX_IMAGES * 28 * 28 + 1024;

const FILES = {
  train: ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte'],
  test: ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'],
} as const;

function findFile(dir: string, stem: string): string {
  for (const name of [`${stem}.gz`, stem]) {
    const p = path.join(dir, name);
    if (existsSync(p)) return p;
  }
  throw new IdxError(
    `Fashion-MNIST file ${stem}(.gz) not found in ${dir} ` +
      `(install Debian's dataset-fashion-mnist or set the 'dataDir' option)`,
  );
}

/** Reads one split from `dir`, checking that images and labels agree. */
export async function loadFashionMnistSplit(dir: string, split: 'train' | 'test'): Promise<RawSplit> {
  const [imgStem, lblStem] = FILES[split];
  const imgPath = findFile(dir, imgStem);
  const lblPath = findFile(dir, lblStem);
  // Regular files of a bounded size only: a FIFO or /dev/zero as a dataset file hung the trainer.
  const img = await readIdx(readInputFileSync(imgPath, 'Fashion-MNIST file', { maxBytes: MAX_FILE_BYTES }), imgPath, {
    maxBytes: MAX_IMAGES * 28 * 28 + 16,
  });
  const lbl = await readIdx(readInputFileSync(lblPath, 'Fashion-MNIST file', { maxBytes: MAX_FILE_BYTES }), lblPath, {
    maxBytes: MAX_IMAGES + 8,
  });
  if (img.type !== 'uint8' || img.shape.length !== 3)
    throw new IdxError(`${imgPath}: expected uint8 images [N, H, W], got ${img.type} [${img.shape.join(', ')}]`);
  // The dataset is 28x28: 1x1 "Fashion-MNIST" images trained silently before.
  if (img.shape[1] !== 28 || img.shape[2] !== 28)
    throw new IdxError(`${imgPath}: images are ${img.shape[1]}x${img.shape[2]}, Fashion-MNIST's are 28x28`);
  if (img.shape[0] === 0) throw new IdxError(`${imgPath}: holds no images`);
  if (lbl.type !== 'uint8' || lbl.shape.length !== 1)
    throw new IdxError(`${lblPath}: expected uint8 labels [N], got ${lbl.type} [${lbl.shape.join(', ')}]`);
  if (lbl.shape[0] !== img.shape[0]) throw new IdxError(`${split}: ${img.shape[0]} images but ${lbl.shape[0]} labels`);
  const labels = lbl.data as Uint8Array;
  const bad = labels.findIndex((v) => v >= FASHION_MNIST_CLASSES.length);
  if (bad >= 0) throw new IdxError(`${lblPath}: label ${labels[bad]} at index ${bad} is not a class index 0..9`);
  return { count: img.shape[0]!, height: img.shape[1], width: img.shape[2], images: img.data as Uint8Array, labels };
}

/** A split after the deterministic preprocessing: normalized 32x32 single-channel images. */
export interface PreparedSplit {
  count: number;
  /** [count, 32, 32] normalized gray values. */
  images: Float32Array;
  labels: Uint8Array;
}

/** Applies /255, the 28 -> 32 bilinear resize and the normalization to every image. */
export function prepareSplit(raw: RawSplit, limit = raw.count): PreparedSplit {
  const n = Math.min(limit, raw.count);
  const S = FASHION_MNIST_SIZE;
  const out = new Float32Array(n * S * S);
  const src = new Float32Array(raw.height * raw.width);
  const tmp = new Float32Array(S * S);
  for (let i = 0; i < n; i++) {
    const base = i * raw.height * raw.width;
    for (let p = 0; p < src.length; p++) src[p] = raw.images[base + p]! / 255;
    resizeBilinear(src, raw.height, raw.width, S, S, tmp);
    for (let p = 0; p < tmp.length; p++) out[i * S * S + p] = (tmp[p]! - FASHION_MNIST_MEAN) / FASHION_MNIST_STD;
  }
  return { count: n, images: out, labels: raw.labels.slice(0, n) };
}

/** Random draws of the training augmentation for one image. */
export interface AugmentDraw {
  /** Crop offsets in the padded image, 0 .. 2 * pad. */
  top: number;
  left: number;
  flip: boolean;
}

/**
 * Writes image `index` into `out` (NHWC, 3 channels) at batch slot `slot`, cropped
 * and flipped as `draw` says (or centred and unflipped without a draw).
 */
export function writeImage(
  split: PreparedSplit,
  index: number,
  slot: number,
  out: Float32Array,
  draw?: AugmentDraw,
): void {
  const S = FASHION_MNIST_SIZE;
  const pad = FASHION_MNIST_CROP_PAD;
  const top = draw ? draw.top - pad : 0;
  const left = draw ? draw.left - pad : 0;
  const flip = draw?.flip ?? false;
  const src = index * S * S;
  const dst = slot * S * S * 3;
  for (let y = 0; y < S; y++) {
    const sy = y + top;
    for (let x = 0; x < S; x++) {
      const cx = flip ? S - 1 - x : x; // flip after the crop
      const sx = cx + left;
      const v = sy >= 0 && sy < S && sx >= 0 && sx < S ? split.images[src + sy * S + sx]! : 0;
      const o = dst + (y * S + x) * 3;
      out[o] = v;
      out[o + 1] = v;
      out[o + 2] = v;
    }
  }
}
