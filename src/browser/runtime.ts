/**
 * The browser entry of the library API: the same `RepGhostModel` as Node, bound to
 * onnxruntime-web and the browser's image decoders. Weights come as bytes, a Blob/File or
 * a URL; nothing leaves the page (conversion and ONNX emission run here).
 */
import { RepGhostModel, type ModelOptions, type RepGhostRuntime } from '../api/model.js';
import { decodeImageBlob } from './decode.js';
import { loadOrtWeb, type WebOrt, type WebOrtOptions } from './ort.js';

/** Reads a URL, a Blob/File or bytes into bytes; a failed fetch names the URL and status. */
export async function readBytes(input: string | Blob | Uint8Array, what = 'file'): Promise<Uint8Array> {
  if (input instanceof Uint8Array) return input;
  if (typeof input !== 'string') return new Uint8Array(await input.arrayBuffer());
  let res: Response;
  try {
    res = await fetch(input);
  } catch (e) {
    throw new Error(`cannot fetch ${what} ${input}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  if (!res.ok) throw new Error(`cannot fetch ${what} ${input}: HTTP ${res.status} ${res.statusText}`.trim());
  return new Uint8Array(await res.arrayBuffer());
}

/** A `RepGhostRuntime` on a loaded onnxruntime-web build; image paths are URLs. */
export function browserRuntime(web: WebOrt): RepGhostRuntime {
  return {
    ort: web.ort,
    sessionOptions: web.sessionOptions,
    decodeImage: async (input) => {
      const name = typeof input === 'string' ? input : '<bytes>';
      return decodeImageBlob(
        typeof input === 'string' ? new Blob([(await readBytes(input, 'image')) as Uint8Array<ArrayBuffer>]) : input,
        { name },
      );
    },
  };
}

/** Options of {@link RepGhost.load} in the browser. */
export interface BrowserLoadOptions extends ModelOptions, WebOrtOptions {
  /** Checkpoint: bytes, a File/Blob, or a URL (.pth / .pth.tar / .safetensors, either form). */
  weights: Uint8Array | Blob | string;
}

/**
 * Browser entry point:
 *
 * ```ts
 * import { RepGhost } from 'repghost/browser';
 * const model = await RepGhost.load({ weights: file, wasmPaths: '/ort/' });
 * const top5 = await model.classify(await decodeImageBlob(imageFile));
 * ```
 */
export const RepGhost = {
  /**
   * Reads the weights, detects form and classes, builds the BN-folded deploy ONNX graph
   * from the spec and opens an onnxruntime-web session on it (wasm unless `backend`
   * says 'webgpu'; no automatic fallback).
   */
  async load(options: BrowserLoadOptions): Promise<RepGhostModel> {
    const { weights, backend, wasmPaths, numThreads, ...rest } = options;
    const web = await loadOrtWeb({
      ...(backend ? { backend } : {}),
      ...(wasmPaths ? { wasmPaths } : {}),
      ...(numThreads ? { numThreads } : {}),
    });
    const bytes = await readBytes(weights, 'weights');
    const fileName =
      rest.fileName ??
      (typeof File !== 'undefined' && weights instanceof File
        ? weights.name
        : typeof weights === 'string'
          ? weights.split('/').pop()
          : undefined);
    return RepGhostModel.fromWeights(browserRuntime(web), bytes, { ...rest, ...(fileName ? { fileName } : {}) });
  },
};
