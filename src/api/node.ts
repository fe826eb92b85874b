/**
 * The Node entry of the library API: `RepGhost.load({ weights })` with onnxruntime-node,
 * files read from disk and images decoded by sharp (EXIF orientation applied).
 */
import path from 'node:path';
import { nodeOrt, nodeSessionOptions } from '../engine/node.js';
import { decodeImageFile } from '../data/decode-node.js';
import { readInputFile } from '../node/read-input.js';
import { RepGhostModel, type ModelOptions, type RepGhostRuntime } from './model.js';

/** Options of {@link RepGhost.load}. */
export interface LoadOptions extends ModelOptions {
  /** Checkpoint path or bytes: .pth / .pth.tar (state dict or timm training checkpoint) or .safetensors, either form. */
  weights: string | Uint8Array;
  /** CPU threads per inference (ORT intra-op threads); default all cores. */
  threads?: number;
}

/** The Node runtime: onnxruntime-node sessions and sharp decoding. */
export function nodeRuntime(options: { threads?: number } = {}): RepGhostRuntime {
  return {
    ort: nodeOrt,
    sessionOptions: nodeSessionOptions(options.threads ? { threads: options.threads } : {}),
    decodeImage: (input) => decodeImageFile(input),
  };
}

/** A loaded model (the type of what {@link RepGhost.load} returns). */
export type RepGhost = RepGhostModel;

/**
 * Entry point, in the style of tfjs-models / transformers.js:
 *
 * ```ts
 * const model = await RepGhost.load({ weights: 'repghostnet_0_5x.pth' });
 * const top5 = await model.classify('cat.jpg');   // [{ label, index, probability }, ...]
 * await model.dispose();
 * ```
 */
export const RepGhost = {
  /**
   * Reads the weights, detects their form and class count, builds the BN-folded
   * deploy ONNX graph from the spec and opens an onnxruntime-node session on it.
   */
  async load(options: LoadOptions): Promise<RepGhostModel> {
    const { weights, threads, ...rest } = options;
    const bytes = typeof weights === 'string' ? await readInputFile(weights, 'weights file') : weights;
    const fileName = rest.fileName ?? (typeof weights === 'string' ? path.basename(weights) : undefined);
    return RepGhostModel.fromWeights(nodeRuntime(threads ? { threads } : {}), bytes, { ...rest, ...(fileName ? { fileName } : {}) });
  },
};
