/**
 * Decoding and augmenting a list of images: one job of the data workers (see
 * batch-pool.ts), also run in the main thread with `--workers 0`. Pure function of the
 * job: the same files, seeds and settings give the same floats in any thread.
 *
 * Images are decoded as timm's loader does, PIL `open().convert("RGB")` without EXIF
 * orientation (timm and torchvision ignore it; src/node/decode.ts explains the rest). An
 * image that cannot be decoded is reported by index and its slot left as zeros; any
 * other error fails the job.
 */
import { ImageDecodeError } from '../../node/decode.js';
import { decodeImagePath } from '../../data/decode-path.js';
import type { FsPath } from '../../data/image-folder.js';
import {
  compileTrainTransform,
  evalTransform,
  type CompiledTrainTransform,
  type EvalTransformConfig,
  type TrainTransformConfig,
} from '../../data/augment/transforms.js';
import { preprocess, type PreprocessConfig } from '../../data/preprocess.js';
import { sampleRng } from './sample-seed.js';

/** Augmented training images: four seed words per file. */
export interface TrainJob {
  kind: 'train';
  files: FsPath[];
  seeds: Uint32Array;
  transform: TrainTransformConfig;
}
/** Evaluation images (deterministic). */
export interface EvalJob {
  kind: 'eval';
  files: FsPath[];
  transform: EvalTransformConfig;
}
/**
 * Model inputs for `repghost validate`: the API's `preprocess` (resize, crop, normalize to
 * CHW), so the worker pool gives the floats of the single-thread path bit for bit.
 */
export interface PreprocessJob {
  kind: 'preprocess';
  files: FsPath[];
  config: Required<PreprocessConfig>;
  autoOrient: boolean;
}
export type SampleJob = TrainJob | EvalJob | PreprocessJob;

/** The images of a job, NHWC float32, and the ones that could not be read. */
export interface SampleJobResult {
  data: Float32Array;
  failed: { index: number; reason: string }[];
  /** Milliseconds the job took in its thread (decode + transform), for throughput reports. */
  ms: number;
}

const compiled = new Map<string, CompiledTrainTransform>();

function trainTransformFor(config: TrainTransformConfig): CompiledTrainTransform {
  const key = JSON.stringify(config);
  let t = compiled.get(key);
  if (!t) compiled.set(key, (t = compileTrainTransform(config)));
  return t;
}

/** Runs a job: decodes every file and writes its pipeline's output at its slot. */
export async function runSampleJob(job: SampleJob): Promise<SampleJobResult> {
  const t0 = performance.now();
  const size = job.kind === 'preprocess' ? job.config.size : job.transform.size;
  const plane = size * size * 3;
  const data = new Float32Array(job.files.length * plane);
  const failed: SampleJobResult['failed'] = [];
  const train = job.kind === 'train' ? trainTransformFor(job.transform) : null;
  for (let i = 0; i < job.files.length; i++) {
    let img;
    try {
      img = await decodeImagePath(job.files[i]!, { autoOrient: job.kind === 'preprocess' && job.autoOrient });
    } catch (e) {
      if (!(e instanceof ImageDecodeError)) throw e;
      failed.push({ index: i, reason: e.message });
      continue;
    }
    if (job.kind === 'preprocess') data.set(preprocess(img, job.config), i * plane);
    else if (train) train.apply(img, sampleRng((job as TrainJob).seeds.subarray(i * 4, i * 4 + 4)), data, i * plane);
    else evalTransform(img, job.transform as EvalTransformConfig, data, i * plane);
  }
  return { data, failed, ms: performance.now() - t0 };
}
