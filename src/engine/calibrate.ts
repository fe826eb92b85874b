/**
 * Runs the calibration of static quantization on ONNX Runtime (node or web: the `ort`
 * module is a parameter): the float model with every activation as an output, over the
 * caller's batches, feeding a {@link RangeCalibrator}.
 */
import { RangeCalibrator, type CalibrationMethod, type Range } from '../onnx/calibrate.js';
import { calibrationModel } from '../onnx/quantize.js';
import { INPUT_NAME } from '../onnx/emit.js';
import type { OrtModule, OrtSessionOptions } from './ort-engine.js';

/** One calibration batch: `n` images as float32 NCHW. */
export interface CalibrationBatch {
  data: Float32Array;
  n: number;
}

/** Options of {@link calibrateRanges}. */
export interface CalibrateOptions {
  method?: CalibrationMethod;
  /** Input [height, width] of the model (default 224 x 224). */
  inputSize?: [number, number];
  sessionOptions?: OrtSessionOptions;
  /** Called after each batch with (pass, images done in this pass). */
  onBatch?: (pass: number, done: number) => void;
}

/**
 * Calibrated [min, max] of every value `quantizeQdq` quantizes. `batches` is called once per
 * pass and must yield the same images each time (`percentile` and `entropy` take two passes);
 * a plain generator does when the batches are already in memory.
 */
export async function calibrateRanges(
  ort: OrtModule,
  floatModel: Uint8Array,
  batches: () => AsyncIterable<CalibrationBatch> | Iterable<CalibrationBatch>,
  options: CalibrateOptions = {},
): Promise<Map<string, Range>> {
  const [h, w] = options.inputSize ?? [224, 224];
  const { model, targets } = calibrationModel(floatModel);
  const fetched = targets.filter((t) => t !== INPUT_NAME);
  const calibrator = new RangeCalibrator(options.method ?? 'minmax');
  // Plain 'basic' optimizations: fusions would remove the intermediate values we observe.
  const session = await ort.InferenceSession.create(model, {
    graphOptimizationLevel: 'basic',
    ...options.sessionOptions,
  });
  try {
    const passes = calibrator.needsSecondPass ? 2 : 1;
    for (let pass = 1; pass <= passes; pass++) {
      if (pass === 2) calibrator.startSecondPass();
      let done = 0;
      for await (const { data, n } of batches()) {
        const feed = new ort.Tensor('float32', data, [n, 3, h, w]);
        const out = await session.run({ [INPUT_NAME]: feed }, fetched);
        calibrator.observe(INPUT_NAME, data);
        for (const t of fetched) {
          const v = out[t]!;
          if (!(v.data instanceof Float32Array)) throw new Error(`internal: calibration output ${t} is ${v.type}`);
          calibrator.observe(t, v.data);
          v.dispose?.();
        }
        feed.dispose?.();
        done += n;
        options.onBatch?.(pass, done);
      }
      if (done === 0) throw new Error('calibration got no images');
    }
  } finally {
    await session.release();
  }
  return calibrator.ranges();
}
