/**
 * The deploy files the page can make from the loaded model, in the page: the float32 deploy
 * graph and the same graph with fp16 or int8 weights (`storeWeights`, the library's post-pass
 * that `repghost export --weights-precision` runs). Each is opened in onnxruntime-web and
 * timed on the current image, and offered as a download with its size.
 *
 * Static int8 (integer arithmetic) needs calibration images, so it stays on the command line
 * (`repghost quantize`).
 */
import { OrtEngine, type WebOrt } from '../../src/browser/index.js';
import { storeWeights, type WeightPrecision } from '../../src/onnx/precision.js';
import { median } from '../../src/util/stats.js';

/** One file the page made, measured. */
export interface FormatRow {
  precision: WeightPrecision;
  bytes: number;
  /** Median batch-1 latency (ms) over the timed runs. */
  latencyMs: number;
  /** max |logit - float32 logit| on the current image. */
  maxDiff: number;
  /** An object URL of the .onnx file (revoke when replaced). */
  url: string;
}

const PRECISIONS: readonly WeightPrecision[] = ['fp32', 'fp16', 'int8'];

/** Makes and measures the fp32 / fp16 / int8-weight files of `deployGraph` on `input` [3, size, size]. */
export async function makeFormats(
  web: WebOrt,
  deployGraph: Uint8Array,
  input: Float32Array,
  size: number,
  runs: number,
): Promise<FormatRow[]> {
  const rows: FormatRow[] = [];
  let reference: Float32Array | null = null;
  for (const precision of PRECISIONS) {
    const bytes = storeWeights(deployGraph, precision);
    const engine = await OrtEngine.create(web.ort, bytes, web.sessionOptions);
    try {
      let logits = await engine.logits(input, 1, size, size); // warm-up
      const times: number[] = [];
      for (let i = 0; i < runs; i++) {
        const t = performance.now();
        logits = await engine.logits(input, 1, size, size);
        times.push(performance.now() - t);
      }
      reference ??= logits;
      let maxDiff = 0;
      for (let i = 0; i < logits.length; i++) maxDiff = Math.max(maxDiff, Math.abs(logits[i]! - reference[i]!));
      const url = URL.createObjectURL(
        new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }),
      );
      rows.push({ precision, bytes: bytes.length, latencyMs: median(times), maxDiff, url });
    } finally {
      await engine.dispose();
    }
  }
  return rows;
}
