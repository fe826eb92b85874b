/** fp16 / int8 weight storage (`export --weights-precision`): size, golden logits, Fashion-MNIST agreement. */
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { exportOnnx } from '../../src/onnx/emit.js';
import { storeWeights } from '../../src/onnx/precision.js';
import { decodeModel } from '../../src/onnx/proto.js';
import { float16Bits, float16Value, quantizePerChannel, roundHalfEven } from '../../src/onnx/model-edit.js';
import { createNodeEngine } from '../../src/node/ort.js';
import { buildSpec } from '../../src/spec/model-spec.js';
import { loadWeights } from '../../src/reparam/load.js';
import {
  DEFAULT_FASHION_MNIST_DIR,
  loadFashionMnistSplit,
  prepareSplit,
  type PreparedSplit,
} from '../../src/data/fashion-mnist.js';
import { fashionPredictions } from '../../src/api/quantize.js';
import { maxAbsDiff, repoRoot, sharedTensors } from '../helpers/shared.js';
import { runCli } from '../helpers/cli.js';
import { goldenInput } from './golden-cases.js';

const maxAbs = (a: Float32Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

describe('float16 rounding and per-channel int8', () => {
  it('rounds to nearest even, keeps specials, saturates to inf', () => {
    for (const v of [0, 1, -2.5, 65504, 6.1035156e-5, 5.9604645e-8, 0.1, 1 / 3]) {
      const back = float16Value(float16Bits(v));
      expect(Math.abs(back - v)).toBeLessThanOrEqual(Math.max(Math.abs(v) * 2 ** -11, 2 ** -25));
    }
    expect(float16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie -> even (1.0)
    expect([
      roundHalfEven(2.5),
      roundHalfEven(-2.5),
      roundHalfEven(3.5),
      roundHalfEven(-63.5),
      roundHalfEven(1.4),
    ]).toEqual([2, -2, 4, -64, 1]);
    expect(float16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie -> even (up)
    expect(float16Value(float16Bits(1e6))).toBe(Infinity);
    expect(float16Value(float16Bits(-0))).toBe(-0);
    expect(Number.isNaN(float16Value(float16Bits(NaN)))).toBe(true);
  });

  it('quantizes each output channel to [-127, 127] with its own scale', () => {
    const w = Float32Array.from([0.5, -1, 0.25, 100, -50.5, 0, 0, 0, 0]);
    const { q, scales } = quantizePerChannel(w, 3);
    expect([...q.slice(0, 3)]).toEqual([64, -127, 32]);
    expect([...q.slice(3, 6)]).toEqual([127, -64, 0]);
    expect(scales[2]).toBe(1); // all-zero channel: a usable, nonzero scale
    expect(Math.abs(q[0]! * scales[0]! - 0.5)).toBeLessThanOrEqual(scales[0]! / 2);
  });
});

describe('export --weights-precision on the golden 0.5x (ImageNet head)', () => {
  const input = goldenInput();
  let f32: Uint8Array;
  let ref: Float32Array;
  beforeAll(async () => {
    f32 = exportOnnx(buildSpec('repghostnet_0_5x'), sharedTensors('golden', 'repghostnet_0_5x', 'deploy.safetensors'));
    const e = await createNodeEngine(f32, { threads: 1 });
    ref = await e.logits(input.data, 2);
    await e.dispose();
  });

  for (const [precision, sizeLimit, tol] of [
    ['fp16', 0.55, 1e-2],
    ['int8', 0.3, 5e-2],
  ] as const) {
    const title =
      `${precision}: <= ${Math.round(sizeLimit * 100)} % of the float32 file, ` + `logits within ${tol} x max|logit|`;
    it(title, async () => {
      const bytes = storeWeights(f32, precision);
      expect(bytes.length / f32.length).toBeLessThanOrEqual(sizeLimit);
      const ops = decodeModel(bytes).graph.node.map((n) => n.op_type);
      expect(ops.filter((o) => o === (precision === 'fp16' ? 'Cast' : 'DequantizeLinear')).length).toBeGreaterThan(40);
      const e = await createNodeEngine(bytes, { threads: 1 });
      const got = await e.logits(input.data, 2);
      await e.dispose();
      const err = maxAbsDiff(got, ref);
      expect(err).toBeGreaterThan(0); // the weights really changed
      expect(err).toBeLessThanOrEqual(tol * maxAbs(ref));
    });
  }
});

describe('the shipped Fashion-MNIST model with int8 / fp16 weights', () => {
  let test: PreparedSplit;
  let f32: Uint8Array;
  beforeAll(async () => {
    test = prepareSplit(await loadFashionMnistSplit(DEFAULT_FASHION_MNIST_DIR, 'test'), 2000);
    const lw = loadWeights(
      new Uint8Array(readFileSync(path.join(repoRoot, 'assets/fashion-mnist/deploy.safetensors'))),
      { fileName: 'deploy.safetensors' },
    );
    f32 = exportOnnx(lw.spec, lw.deploy, { inputSize: [32, 32] });
  });

  it('predictions agree >= 99.5 % with float32 on 2,000 test images', async () => {
    const base = await fashionPredictions(f32, test, 2000, { threads: 1 });
    expect(base.top1).toBeGreaterThan(88);
    for (const precision of ['int8', 'fp16'] as const) {
      const got = await fashionPredictions(storeWeights(f32, precision), test, 2000, { threads: 1 });
      const agree = got.predictions.filter((p, i) => p === base.predictions[i]).length / 2000;
      expect(agree, precision).toBeGreaterThanOrEqual(0.995);
    }
  });
});

describe('repghost export --weights-precision', () => {
  it('writes the int8-weight file and says so; refuses an unknown precision with exit 2', () => {
    const tmp = mkdtempSync(path.join(tmpdir(), 'repghost-precision-'));
    const out = path.join(tmp, 'fm-int8.onnx');
    const r = runCli([
      'export',
      'assets/fashion-mnist/deploy.safetensors',
      out,
      '--input-size',
      '32',
      '--weights-precision',
      'int8',
      '--json',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout) as { bytes: number };
    expect(summary).toMatchObject({ weights_precision: 'int8', model: 'repghostnet_0_5x' });
    expect(summary.bytes).toBe(statSync(out).size);
    expect(decodeModel(new Uint8Array(readFileSync(out))).metadata_props).toContainEqual({
      key: 'repghost.weights_precision',
      value: 'int8',
    });
    const bad = runCli([
      'export',
      'assets/fashion-mnist/deploy.safetensors',
      path.join(tmp, 'x.onnx'),
      '--weights-precision',
      'int4',
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/int4/);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  });
});
