/**
 * Two SGD steps of repghostnet_0_5x against PyTorch (shared/golden/train_step_0_5x):
 * loss, logits, every parameter gradient of step 0 and the whole state after step 1,
 * with the tolerances shared/README.md gives (PyTorch's own measured floors).
 * Exercises the fused BN kernels and the wasm conv-gradient kernels end to end.
 *
 * Step 1 is checked twice. (a) Driven by PyTorch's step-0 gradients: the state after
 * two steps (parameters, momentum-driven update, weight-decay groups, BN running
 * statistics, counters) must match within 1e-4. (b) Fully our own: this golden is
 * ill-conditioned there. After step 0, a few ReLU pre-activations of step 1
 * (blocks.1.0.ghost1.primary_conv) lie within ~5e-6 of zero, so a step-0 gradient
 * difference of ~6e-6 relative (float32 summation order; 10x below PyTorch's own
 * 6.5e-5 floor) flips ReLU masks and moves early-layer step-1 gradients by a few
 * percent: the state then differs by up to ~1e-2. Its loss and logits are asserted
 * with the tolerances, the state difference is only printed.
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSpec } from '../../src/spec/index.js';
import { initTrainingBackend } from '../../src/train/backend.js';
import { nativeKernels, setNativeEnabled } from '../../src/train/kernels/native.js';
import { paramLayouts, tfToTorch, torchToTf } from '../../src/train/layout.js';
import { Sgd } from '../../src/train/sgd.js';
import { ModelState } from '../../src/train/state.js';
import { trainStep, type StepResult } from '../../src/train/train-step.js';
import { toFloat32, type StateDict } from '../../src/weights/tensor.js';
import { maxAbsDiff, sharedPath, sharedTensors } from '../helpers/shared.js';
import { nchwToNhwc } from '../../src/train/tensor-utils.js';

const config = JSON.parse(readFileSync(sharedPath('golden', 'train_step_0_5x.json'), 'utf8')) as {
  model: string;
  num_classes: number;
  lr: number;
  momentum: number;
  weight_decay: number;
  smoothing: number;
  loss: number[];
};

function prefixed(sd: StateDict, prefix: string): StateDict {
  const out: StateDict = new Map();
  for (const [k, v] of sd) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), v);
  return out;
}

function norm(a: Iterable<number>): number {
  let s = 0;
  for (const v of a) s += v * v;
  return Math.sqrt(s);
}

/** The fully own two-step runs by mode: final state and step-0 gradients. */
const ownRuns = new Map<string, { after: StateDict; grads: Map<string, Float32Array> }>();

/** wasm with the native kernels (the default in Node), wasm on its own, cpu on its own. */
const MODES = [
  { name: 'wasm+native', backendName: 'wasm', native: true },
  { name: 'wasm', backendName: 'wasm', native: false },
  { name: 'cpu', backendName: 'cpu', native: false },
] as const;

describe.each(MODES)('golden two-step training parity ($name)', ({ name, backendName, native }) => {
  const golden = sharedTensors('golden', 'train_step_0_5x.safetensors');
  const spec = buildSpec(config.model, { numClasses: config.num_classes, dropout: 0 });
  const results: StepResult[] = [];
  const driven: StepResult[] = [];
  let after: StateDict | undefined;
  let afterDriven: StateDict;

  afterAll(() => setNativeEnabled(true));
  beforeAll(async () => {
    setNativeEnabled(native);
    expect(nativeKernels() !== null, 'native kernels loaded').toBe(native);
    expect(await initTrainingBackend({ backend: backendName })).toBe(backendName);
    const layouts = new Map(paramLayouts(spec).map((p) => [p.key, p]));
    const refGrad = (key: string): Float32Array =>
      torchToTf(layouts.get(key)!, toFloat32(golden.get(`grad.0.${key}`)!));
    const run = (out: StepResult[], drive: boolean): StateDict => {
      const model = ModelState.fromStateDict(spec, prefixed(golden, 'init.'));
      const sgd = new Sgd(model.layouts, {
        momentum: config.momentum,
        weightDecay: config.weight_decay,
        nesterov: true,
      });
      for (const s of [0, 1]) {
        const input = golden.get(`input.${s}`)!;
        const x = tf.tensor4d(nchwToNhwc(toFloat32(input), input.shape), [
          input.shape[0]!,
          input.shape[2]!,
          input.shape[3]!,
          input.shape[1]!,
        ]);
        const y = tf.tensor1d(Int32Array.from(golden.get(`target.${s}`)!.data as BigInt64Array, Number), 'int32');
        out.push(
          trainStep(
            model,
            sgd,
            {
              x,
              y,
              lr: config.lr,
              smoothing: config.smoothing,
              keepLogits: true,
              overrideGrad: drive && s === 0 ? refGrad : undefined,
            },
            { keepGrads: s === 0 },
          ),
        );
        tf.dispose([x, y]);
      }
      const sd = model.toStateDict();
      model.dispose();
      return sd;
    };
    afterDriven = run(driven, true);
    // Step 0 of the driven run is our own computation (the override only replaces the
    // gradients used by the update); the fully own run is done on the default backend.
    if (backendName === 'wasm') {
      after = run(results, false);
      ownRuns.set(name, { after, grads: results[0]!.grads! });
    } else results.push(driven[0]!);
  }, 300_000);

  it('matches the loss of both steps within 1e-5', () => {
    expect(Math.abs(results[0]!.loss - config.loss[0]!)).toBeLessThan(1e-5);
    expect(Math.abs(driven[1]!.loss - config.loss[1]!)).toBeLessThan(1e-5);
  });

  it('matches the logits of both steps within 1e-4', () => {
    expect(maxAbsDiff(results[0]!.logits!, toFloat32(golden.get('logits.0')!))).toBeLessThan(1e-4);
    expect(maxAbsDiff(driven[1]!.logits!, toFloat32(golden.get('logits.1')!))).toBeLessThan(1e-4);
  });

  if (backendName === 'wasm')
    it('step 1 of the fully own run stays close in loss and logits (ill-conditioned, see top)', () => {
      const dl = Math.abs(results[1]!.loss - config.loss[1]!);
      const dz = maxAbsDiff(results[1]!.logits!, toFloat32(golden.get('logits.1')!));
      console.log(
        `[${name}] own two steps: step-1 loss diff ${dl.toExponential(2)}, logits diff ${dz.toExponential(2)}`,
      );
      expect(dl).toBeLessThan(1e-4);
      expect(dz).toBeLessThan(1e-3);
    });

  it('matches every step-0 gradient: ||g - g_ref|| <= 1e-3 ||g_ref|| + 1e-6', () => {
    const grads = results[0]!.grads!;
    const layouts = paramLayouts(spec);
    let worst = 0;
    for (const p of layouts) {
      const ref = toFloat32(golden.get(`grad.0.${p.key}`)!);
      const g = tfToTorch(p, grads.get(p.key)!);
      const diff = g.map((v, i) => v - ref[i]!);
      const rel = norm(diff) / (norm(ref) + 1e-30);
      if (norm(ref) > 1e-5) worst = Math.max(worst, rel);
      expect(norm(diff), p.key).toBeLessThanOrEqual(1e-3 * norm(ref) + 1e-6);
    }
    console.log(`[${name}] worst relative gradient error (|g_ref| > 1e-5): ${worst.toExponential(2)}`);
  });

  it('matches the full state after two steps within 1e-4 (step 0 driven by PyTorch gradients)', () => {
    let worst = 0;
    for (const [key, ref] of prefixed(golden, 'after.')) {
      const got = afterDriven.get(key);
      expect(got, key).toBeDefined();
      if (ref.dtype === 'I64') {
        expect((got!.data as BigInt64Array)[0], key).toBe((ref.data as BigInt64Array)[0]);
        continue;
      }
      const d = maxAbsDiff(toFloat32(got!), toFloat32(ref));
      worst = Math.max(worst, d);
      expect.soft(d, key).toBeLessThan(1e-4);
    }
    let ownWorst = NaN;
    if (after) {
      ownWorst = 0;
      for (const [key, ref] of prefixed(golden, 'after.')) {
        if (ref.dtype !== 'I64') ownWorst = Math.max(ownWorst, maxAbsDiff(toFloat32(after.get(key)!), toFloat32(ref)));
      }
    }
    console.log(
      `[${name}] state after two steps: worst diff ${worst.toExponential(2)} (step 0 driven), ` +
        `${Number.isNaN(ownWorst) ? 'not run' : ownWorst.toExponential(2)} (fully own); loss diffs ` +
        `${Math.abs(results[0]!.loss - config.loss[0]!).toExponential(2)}, ` +
        Math.abs(driven[1]!.loss - config.loss[1]!).toExponential(2),
    );
  });
});

describe('conditioning of the fully own two-step run', () => {
  // Why the state check drives step 0: our two kernel paths (native and wasm) are both
  // correct, with step-0 gradients a float-summation-order apart, yet their states after
  // step 1 differ by orders of magnitude more than 1e-4. No implementation that is not
  // bit-identical to PyTorch at step 0 can meet 1e-4 on this golden without driving.
  it('amplifies float-order differences of step 0 far beyond 1e-4 at step 1', () => {
    const a = ownRuns.get('wasm+native')!,
      b = ownRuns.get('wasm')!;
    let gradRel = 0;
    for (const [k, g] of a.grads) {
      const ref = b.grads.get(k)!;
      const d = norm(g.map((v, i) => v - ref[i]!)),
        r = norm(ref);
      if (r > 1e-5) gradRel = Math.max(gradRel, d / r);
    }
    let stateDiff = 0;
    for (const [k, t] of a.after)
      if (t.dtype === 'F32') stateDiff = Math.max(stateDiff, maxAbsDiff(toFloat32(t), toFloat32(b.after.get(k)!)));
    console.log(
      `native vs wasm, both ours: step-0 gradients ${gradRel.toExponential(2)} relative apart, state after step ` +
        `1 ${stateDiff.toExponential(2)} apart`,
    );
    expect(gradRel).toBeLessThan(1e-4); // within PyTorch's own 6.5e-5 floor
    expect(stateDiff).toBeGreaterThan(1e-3);
  });
});
