/**
 * The Node entry of the library API: `RepGhost.load({ weights })` with onnxruntime-node,
 * files read from disk and images decoded by sharp (EXIF orientation applied).
 */
import path from 'node:path';
import { nodeOrt, nodeSessionOptions } from './ort.js';
import { decodeImageFile } from './decode.js';
import { readInputFile } from './read-input.js';
import { RepGhostModel, type ModelOptions, type RepGhostRuntime } from '../api/model.js';

/** Options of {@link RepGhost.load}. */
export interface LoadOptions extends ModelOptions {
  /**
   * Checkpoint path or bytes: .pth / .pth.tar (state dict or timm training checkpoint) or .safetensors, either form.
   */
  weights?: string | Uint8Array;
  /**
   * Instead of `weights`: the published ImageNet weights of `model`, downloaded once into
   * the verified cache (`true` or `'hf'`: timm's copy on the Hugging Face hub; `'official'`:
   * the GitHub release, EMA weights). Their evaluation preprocessing (bilinear, crop 0.875)
   * becomes the default. See docs/pretrained.md for the cache, offline mode and mirrors.
   */
  pretrained?: boolean | 'hf' | 'official';
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
    const { weights: given, threads, pretrained, ...rest } = options;
    let weights = given;
    if (pretrained) {
      if (given !== undefined) throw new Error('give either weights or pretrained, not both');
      if (!rest.model)
        throw new Error("pretrained needs a model name, e.g. { model: 'repghostnet_050', pretrained: true }");
      const { resolvePretrained } = await import('../hub/download.js');
      const r = await resolvePretrained(rest.model, pretrained === true ? {} : { source: pretrained });
      weights = r.path;
      rest.model = r.model;
      rest.ema ??= r.ema;
      rest.preprocess = { ...r.preprocess, ...rest.preprocess };
    }
    if (weights === undefined)
      throw new Error('no weights: pass weights (a path or bytes) or pretrained: true with a model name');
    const bytes = typeof weights === 'string' ? await readInputFile(weights, 'weights file') : weights;
    const fileName = rest.fileName ?? (typeof weights === 'string' ? path.basename(weights) : undefined);
    return RepGhostModel.fromWeights(nodeRuntime(threads ? { threads } : {}), bytes, {
      ...rest,
      ...(fileName ? { fileName } : {}),
    });
  },
};
