/** The golden models of shared/golden and helpers to run ONNX graphs on the golden input. */
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { loadWeights, type LoadedWeights } from '../../src/reparam/load.js';
import type { StateDict, Tensor } from '../../src/weights/tensor.js';
import { sharedPath, sharedTensors } from '../helpers/shared.js';

/** One weights set of shared/golden with the expected-logits keys it must reproduce. */
export interface GoldenCase {
  model: string;
  file: string;
  ema: boolean;
  /** expected.safetensors key for the training-form network. */
  train: string;
  /** expected.safetensors key after the official conversion. */
  deploy: string;
  /** Whether expected.safetensors holds every feature tap (0.5x raw only). */
  allFeatures: boolean;
}

export const GOLDEN_CASES: GoldenCase[] = [
  {
    model: 'repghostnet_0_5x',
    file: 'checkpoint.pth',
    ema: false,
    train: 'logits_train',
    deploy: 'logits_deploy',
    allFeatures: true,
  },
  {
    model: 'repghostnet_0_5x',
    file: 'checkpoint.pth',
    ema: true,
    train: 'logits_ema',
    deploy: 'logits_deploy_ema',
    allFeatures: false,
  },
  {
    model: 'repghostnet_1_0x',
    file: 'model.pth',
    ema: false,
    train: 'logits_train',
    deploy: 'logits_deploy',
    allFeatures: false,
  },
  {
    model: 'repghostnet_repid_0_5x',
    file: 'model.pth',
    ema: false,
    train: 'logits_train',
    deploy: 'logits_deploy',
    allFeatures: false,
  },
  {
    model: 'repghostnet_norep_0_5x',
    file: 'model.safetensors',
    ema: false,
    train: 'logits_train',
    deploy: 'logits_deploy',
    allFeatures: false,
  },
  {
    model: 'repghostnet_wo_0_5x',
    file: 'model.pth',
    ema: false,
    train: 'logits_train',
    deploy: 'logits_deploy',
    allFeatures: false,
  },
];

export const caseName = (c: GoldenCase): string => `${c.model}${c.ema ? ' (EMA)' : ''}`;

/** Loads a golden case's weights through the real checkpoint loader. */
export function loadCase(c: GoldenCase): LoadedWeights {
  const path = sharedPath('golden', c.model, c.file);
  return loadWeights(new Uint8Array(readFileSync(path)), { model: c.model, ema: c.ema, fileName: c.file });
}

/** expected.safetensors of a golden model. */
export function expected(model: string): StateDict {
  return sharedTensors('golden', model, 'expected.safetensors');
}

/** The golden input [2, 3, 224, 224]: row 0 is chelsea.png (bicubic), row 1 noise. */
export function goldenInput(): Tensor<'F32'> {
  return sharedTensors('golden', 'input_224.safetensors').get('input') as Tensor<'F32'>;
}

/** Runs ONNX bytes on onnxruntime-node (optimizations on) and returns every output. */
export async function runOnnx(
  bytes: Uint8Array,
  input: Tensor<'F32'>,
  threads = 1,
): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(bytes, {
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
  });
  try {
    const out = await session.run({ input: new ort.Tensor('float32', input.data, input.shape) });
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
  } finally {
    await session.release();
  }
}
