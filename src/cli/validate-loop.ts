/**
 * The evaluation loop of `repghost validate` (also driven by bench/validate.ts): images are
 * decoded, resized, cropped and normalized in data worker threads (train/data/batch-pool.ts,
 * the API's own `preprocess`, so the floats equal the single-thread path's bit for bit)
 * while ONNX Runtime runs the previous batch. At most `workers + 1` batches are in memory,
 * so memory stays bounded whatever the folder's size. Unreadable images (corrupt, deleted
 * or truncated since the folder was listed) are reported and left out, never fatal.
 */
import type { RepGhostModel } from '../api/model.js';
import { ClassificationMetrics, softmax, topK } from '../api/postprocess.js';
import type { ImageFolderIndex } from '../data/image-folder.js';
import { SamplePool } from '../train/data/batch-pool.js';
import type { SampleJobResult } from '../train/data/sample-pipeline.js';

/** Options of {@link runValidation}. */
export interface ValidationOptions {
  /** Images per inference batch. */
  batchSize: number;
  /** Data worker threads (0: preprocess in the main thread, overlapped with inference all the same). */
  workers: number;
  /** Evaluate images [0, count) of the index (default all). */
  count?: number;
  /** Called with each unreadable image as it is found. */
  onUnreadable?: (u: { file: string; reason: string }) => void;
  /** Called after each batch with the images done and the running top-1. */
  onProgress?: (done: number, top1: number) => void;
  /** Called with each readable image's top-k indices and probabilities (for --predictions). */
  onPredictions?: (file: string, indices: number[], probabilities: number[]) => void;
  /** k of onPredictions (default 5, at most the class count). */
  topk?: number;
  /** A running pool of `workers` threads to use and keep open (warm across benchmark runs); default: one made here. */
  pool?: SamplePool;
}

/** Metrics and throughput of a validation run (the fields of `validate --json`). */
export interface ValidationResult {
  images: number;
  top1: number;
  top5: number;
  loss: number;
  unreadable: number;
  unreadable_files: { file: string; reason: string }[];
  seconds: number;
  /** End to end: images / wall-clock seconds of the loop. */
  images_per_second: number;
  /** Inference alone: images / seconds ONNX Runtime spent on the batches (all its threads). */
  inference_images_per_second: number;
  /** Decode + resize + crop + normalize alone, all workers: workers x 1000 / preprocess_ms_per_image. */
  preprocess_images_per_second: number;
  /** Decode + resize + crop + normalize per image on one thread (measured in the workers during the run). */
  preprocess_ms_per_image: number;
  workers: number;
}

/**
 * Evaluates the first `count` images of `index`, image i scored against output
 * `targets[index.label(i)]`. Batches are the same whatever the worker count, so the
 * metrics are too.
 */
export async function runValidation(
  model: RepGhostModel,
  index: ImageFolderIndex,
  targets: Int32Array,
  o: ValidationOptions,
): Promise<ValidationResult> {
  const count = Math.min(o.count ?? index.length, index.length);
  const classes = model.numClasses;
  const k = Math.min(o.topk ?? 5, classes);
  const config = model.preprocessConfig;
  const plane = 3 * config.size * config.size;
  const pool = o.pool ?? new SamplePool(o.workers);
  if (pool.count !== o.workers) throw new RangeError(`internal: the pool has ${pool.count} workers, not ${o.workers}`);
  const batches = Math.ceil(count / o.batchSize);
  // timm's loader does not apply EXIF orientation (PIL open + convert), so neither does validate.
  const prepare = (b: number): Promise<SampleJobResult> => {
    const lo = b * o.batchSize;
    const files = Array.from({ length: Math.min(o.batchSize, count - lo) }, (_, j) => index.fsPath(lo + j));
    const p = pool.run({ kind: 'preprocess', files, config, autoOrient: false });
    p.catch(() => {}); // surfaced when awaited; a batch never awaited must not crash the process
    return p;
  };
  // Two batches per worker in flight besides the one in inference: a worker runs its jobs one
  // after another, so the second starts as the first is handed over and the worker never
  // waits for the main thread; memory stays bounded at 2 x workers + 1 batches.
  const depth = Math.max(1, 2 * o.workers);
  const ahead: Promise<SampleJobResult>[] = [];
  let made = 0;
  const fill = (): void => {
    while (ahead.length < depth && made < batches) ahead.push(prepare(made++));
  };
  const metrics = new ClassificationMetrics();
  const unreadable: ValidationResult['unreadable_files'] = [];
  let inferMs = 0;
  let preprocessMs = 0;
  const t0 = performance.now();
  try {
    fill();
    for (let b = 0; b < batches; b++) {
      const r = await ahead.shift()!;
      fill();
      preprocessMs += r.ms;
      const lo = b * o.batchSize;
      const size = r.data.length / plane;
      const failed = new Map(r.failed.map((f) => [f.index, f.reason]));
      const ids: number[] = [];
      for (let j = 0; j < size; j++) {
        const reason = failed.get(j);
        if (reason === undefined) {
          ids.push(lo + j);
          continue;
        }
        const u = { file: index.path(lo + j), reason };
        unreadable.push(u);
        o.onUnreadable?.(u);
      }
      if (ids.length) {
        // Readable images packed densely, in order (a no-op copy-free view when none failed).
        let x = r.data;
        if (ids.length < size) {
          x = new Float32Array(ids.length * plane);
          ids.forEach((id, n) => x.set(r.data.subarray((id - lo) * plane, (id - lo + 1) * plane), n * plane));
        }
        const tInfer = performance.now();
        const logits = await model.infer(x, ids.length);
        inferMs += performance.now() - tInfer;
        metrics.update(
          logits,
          classes,
          ids.map((id) => targets[index.label(id)]!),
        );
        if (o.onPredictions) {
          ids.forEach((id, n) => {
            const row = logits.subarray(n * classes, (n + 1) * classes);
            const p = softmax(row);
            const best = topK(row, k);
            o.onPredictions!(
              index.path(id),
              best,
              best.map((c) => p[c]!),
            );
          });
        }
      }
      o.onProgress?.(lo + size, metrics.summary().top1);
    }
  } finally {
    if (!o.pool) await pool.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  const s = metrics.summary();
  const msPerImage = preprocessMs / Math.max(1, count);
  return {
    images: s.count,
    top1: s.top1,
    top5: s.top5,
    loss: s.loss,
    unreadable: unreadable.length,
    unreadable_files: unreadable,
    seconds,
    images_per_second: s.count / seconds,
    inference_images_per_second: s.count / (inferMs / 1000),
    preprocess_images_per_second: (Math.max(1, o.workers) * 1000) / msPerImage,
    preprocess_ms_per_image: msPerImage,
    workers: o.workers,
  };
}
