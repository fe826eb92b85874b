/**
 * Static int8 quantization of a model, end to end (Node): export the BN-folded float graph
 * from the spec, calibrate its activations on real images (Fashion-MNIST's training split or
 * an ImageFolder), and write the QDQ graph. Used by `repghost quantize`, the tests and
 * bench/infer.ts.
 */
import type { ModelSpec } from '../spec/model-spec.js';
import type { StateDict } from '../weights/tensor.js';
import { exportOnnx } from '../onnx/emit.js';
import { quantizeQdq, type ActivationType } from '../onnx/quantize.js';
import type { CalibrationMethod, Range } from '../onnx/calibrate.js';
import { calibrateRanges, type CalibrationBatch } from '../engine/calibrate.js';
import { nodeOrt, nodeSessionOptions } from '../node/ort.js';
import {
  DEFAULT_FASHION_MNIST_DIR,
  FASHION_MNIST_SIZE,
  loadFashionMnistSplit,
  prepareSplit,
  type PreparedSplit,
} from '../data/fashion-mnist.js';
import { readImageFolder } from '../data/image-folder.js';
import { decodeImageFile } from '../node/decode.js';
import { preprocess, type PreprocessConfig } from '../data/preprocess.js';

/** Where calibration images come from. */
export type CalibrationSource =
  { kind: 'fashion-mnist'; dir?: string } | { kind: 'image-folder'; dir: string; preprocess?: PreprocessConfig };

/** Options of {@link quantizeModel}. */
export interface QuantizeModelOptions {
  method?: CalibrationMethod;
  /** Calibration images (default 256), spread evenly over the source. */
  samples?: number;
  activations?: ActivationType;
  /** Calibration batch (default 32 for Fashion-MNIST, 8 for an ImageFolder: every activation of a batch is held). */
  batchSize?: number;
  threads?: number;
  onProgress?: (pass: number, done: number, total: number, passes: number) => void;
}

/** The result: both graphs and the ranges used. */
export interface QuantizedModel {
  model: Uint8Array;
  floatModel: Uint8Array;
  ranges: Map<string, Range>;
  inputSize: number;
  samples: number;
}

/** `count` indices spread evenly over `total` items (every class of a sorted folder gets its share). */
export function spreadIndices(total: number, count: number): number[] {
  const n = Math.min(total, count);
  return Array.from({ length: n }, (_, i) => Math.floor((i * total) / n));
}

/** Fashion-MNIST images (prepared split) as NCHW batches, gray replicated to 3 channels. */
export function fashionBatch(split: PreparedSplit, indices: readonly number[]): Float32Array {
  const S = FASHION_MNIST_SIZE * FASHION_MNIST_SIZE;
  const out = new Float32Array(indices.length * 3 * S);
  indices.forEach((idx, i) => {
    const img = split.images.subarray(idx * S, (idx + 1) * S);
    for (let c = 0; c < 3; c++) out.set(img, (i * 3 + c) * S);
  });
  return out;
}

async function sourceBatches(
  source: CalibrationSource,
  samples: number,
  batchSize: number,
): Promise<{
  size: number;
  count: number;
  batches: () => AsyncIterable<CalibrationBatch> | Iterable<CalibrationBatch>;
}> {
  if (source.kind === 'fashion-mnist') {
    // The training split: the test split stays unseen for the accuracy comparison.
    const raw = await loadFashionMnistSplit(source.dir ?? DEFAULT_FASHION_MNIST_DIR, 'train');
    // Prepare (resize, normalize) only the images used, not all 60,000.
    const picked = spreadIndices(raw.count, samples);
    const px = raw.height * raw.width;
    const images = new Uint8Array(picked.length * px);
    picked.forEach((src, i) => images.set(raw.images.subarray(src * px, (src + 1) * px), i * px));
    const split = prepareSplit({
      ...raw,
      count: picked.length,
      images,
      labels: Uint8Array.from(picked, (i) => raw.labels[i]!),
    });
    const idx = picked.map((_, i) => i);
    return {
      size: FASHION_MNIST_SIZE,
      count: idx.length,
      *batches() {
        for (let b = 0; b < idx.length; b += batchSize) {
          const part = idx.slice(b, b + batchSize);
          yield { data: fashionBatch(split, part), n: part.length };
        }
      },
    };
  }
  const folder = await readImageFolder(source.dir);
  const files = spreadIndices(folder.samples.length, samples).map((i) => folder.samples[i]!.file);
  const size = source.preprocess?.size ?? 224;
  const per = 3 * size * size;
  return {
    size,
    count: files.length,
    // Decoded batch by batch in each pass (percentile / entropy take two): memory stays one batch.
    async *batches() {
      for (let b = 0; b < files.length; b += batchSize) {
        const part = files.slice(b, b + batchSize);
        const data = new Float32Array(part.length * per);
        for (const [i, f] of part.entries())
          data.set(preprocess(await decodeImageFile(f), source.preprocess ?? {}), i * per);
        yield { data, n: part.length };
      }
    },
  };
}

/**
 * Quantizes deploy-form weights `deploy` of `spec` to a static int8 QDQ model calibrated on
 * `source` (see src/onnx/quantize.ts for the layout).
 */
export async function quantizeModel(
  spec: ModelSpec,
  deploy: StateDict,
  source: CalibrationSource,
  options: QuantizeModelOptions = {},
): Promise<QuantizedModel> {
  const method = options.method ?? 'minmax';
  const { size, count, batches } = await sourceBatches(
    source,
    options.samples ?? 256,
    options.batchSize ?? (source.kind === 'fashion-mnist' ? 32 : 8),
  );
  const floatModel = exportOnnx(spec, deploy, { mode: 'deploy', inputSize: [size, size] });
  const passes = method === 'minmax' ? 1 : 2;
  const ranges = await calibrateRanges(nodeOrt, floatModel, batches, {
    method,
    inputSize: [size, size],
    sessionOptions: nodeSessionOptions(options.threads ? { threads: options.threads } : {}),
    onBatch: (pass, done) => options.onProgress?.(pass, done, count, passes),
  });
  const model = quantizeQdq(floatModel, ranges, options.activations ? { activations: options.activations } : {});
  return { model, floatModel, ranges, inputSize: size, samples: count };
}

/** Top-1 predictions of an ONNX model (input [n, 3, 32, 32]) on Fashion-MNIST images, and their accuracy. */
export async function fashionPredictions(
  model: Uint8Array,
  split: PreparedSplit,
  count = split.count,
  options: { threads?: number; batchSize?: number } = {},
): Promise<{ predictions: Uint8Array; top1: number }> {
  const { createNodeEngine } = await import('../node/ort.js');
  const engine = await createNodeEngine(model, options.threads ? { threads: options.threads } : {});
  const n = Math.min(count, split.count);
  const batch = options.batchSize ?? 200;
  const predictions = new Uint8Array(n);
  let correct = 0;
  try {
    for (let b = 0; b < n; b += batch) {
      const idx = Array.from({ length: Math.min(batch, n - b) }, (_, i) => b + i);
      const logits = await engine.logits(fashionBatch(split, idx), idx.length, FASHION_MNIST_SIZE, FASHION_MNIST_SIZE);
      const classes = logits.length / idx.length;
      idx.forEach((img, i) => {
        let best = 0;
        for (let k = 1; k < classes; k++) if (logits[i * classes + k]! > logits[i * classes + best]!) best = k;
        predictions[img] = best;
        if (best === split.labels[img]) correct++;
      });
    }
  } finally {
    await engine.dispose();
  }
  return { predictions, top1: (100 * correct) / n };
}
