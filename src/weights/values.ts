/**
 * Value checks on loaded weights: a file can be well-formed and still hold numbers no
 * model can use. NaN or infinite weights (a diverged run) and negative BatchNorm
 * running variances (sqrt of a negative: NaN) made `predict` print "NaN %" with exit 0.
 */
import { previewText } from './preview.js';
import type { StateDict } from './tensor.js';

/** Raised when weights hold values that cannot be used; the message names the tensor. */
export class WeightValueError extends Error {
  override name = 'WeightValueError';
}

/**
 * Refuses a state dict whose float tensors hold NaN or +-Infinity, or whose BatchNorm
 * `running_var` holds a negative value. Expects floats as F32/F64 (loadWeights widens F16/BF16 first).
 */
export function checkWeightValues(sd: StateDict, fileName = 'weights'): void {
  for (const [key, t] of sd) {
    if (t.dtype !== 'F32' && t.dtype !== 'F64') continue;
    const d = t.data as Float32Array | Float64Array;
    const isVar = key.endsWith('running_var');
    for (let i = 0; i < d.length; i++) {
      const v = d[i]!;
      if (Number.isFinite(v) && !(isVar && v < 0)) continue;
      const what = Number.isNaN(v) ? 'NaN' : Number.isFinite(v) ? `a negative running variance (${v})` : String(v);
      throw new WeightValueError(
        `${fileName}: ${previewText(key)} holds ${what} at element ${i}: ` +
          `the weights are unusable (a diverged or corrupt training run?)`,
      );
    }
  }
}
