/**
 * Static int8 QDQ quantization: calibration methods, the shipped Fashion-MNIST model's top-1
 * before/after, the graph ORT's CPU EP makes of it (every Conv an integer kernel), the same
 * file on onnxruntime-web, and `repghost quantize` on an ImageFolder and with bad flags.
 */
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { RangeCalibrator } from '../../src/onnx/calibrate.js';
import { activationParams, calibrationTargets, quantizeQdq } from '../../src/onnx/quantize.js';
import { exportOnnx } from '../../src/onnx/emit.js';
import { decodeModel, encodeModel } from '../../src/onnx/proto.js';
import { OrtEngine } from '../../src/engine/ort-engine.js';
import { createNodeEngine } from '../../src/node/ort.js';
import { loadWeights } from '../../src/reparam/load.js';
import {
  DEFAULT_FASHION_MNIST_DIR,
  loadFashionMnistSplit,
  prepareSplit,
  type PreparedSplit,
} from '../../src/data/fashion-mnist.js';
import {
  fashionBatch,
  fashionPredictions,
  quantizeModel,
  spreadIndices,
  type QuantizedModel,
} from '../../src/api/quantize.js';
import { register } from '../../src/cli/commands/quantize.js';
import { runCli } from '../helpers/cli.js';
import { runInProcess } from '../cli/in-process.js';
import { maxAbsDiff, repoRoot, sharedPath } from '../helpers/shared.js';

/** Ops the optimized quantized graph may still run in float: the SE gate and the layout/boundary ops. */
const FLOAT_ISLANDS = new Set(['HardSigmoid', 'QuantizeLinear', 'DequantizeLinear', 'Transpose', 'Flatten']);

describe('RangeCalibrator', () => {
  const data = Float32Array.from({ length: 100_000 }, (_, i) => Math.sin(i) * 2);
  data[5] = 50; // one outlier
  it('minmax keeps the outlier; percentile clips it; entropy clips it', () => {
    const ranges = (['minmax', 'percentile', 'entropy'] as const).map((m) => {
      const c = new RangeCalibrator(m);
      c.observe('x', data);
      if (c.needsSecondPass) {
        c.startSecondPass();
        c.observe('x', data);
      }
      return c.ranges().get('x')!;
    });
    expect(ranges[0]).toEqual({ min: expect.closeTo(-2, 3) as number, max: 50 });
    expect(ranges[1]!.max).toBeLessThan(3);
    expect(ranges[1]!.max).toBeGreaterThan(1.9);
    expect(ranges[2]!.max).toBeLessThan(10);
    expect(ranges[2]!.min).toBeLessThan(-1.5);
  });
  it('refuses non-finite activations', () => {
    expect(() => new RangeCalibrator('minmax').observe('x', Float32Array.of(1, NaN))).toThrow(/non-finite/);
  });
  it('activation parameters represent 0 exactly, at the bottom for ReLU outputs', () => {
    expect(activationParams({ min: 0, max: 2.55 }, 'uint8')).toEqual({
      scale: expect.closeTo(0.01, 8) as number,
      zeroPoint: 0,
    });
    expect(activationParams({ min: 0, max: 2.55 }, 'int8').zeroPoint).toBe(-128);
    const p = activationParams({ min: -1, max: 3 }, 'uint8');
    expect(Number.isInteger(p.zeroPoint)).toBe(true);
    expect(Math.abs(p.zeroPoint * p.scale - 1)).toBeLessThanOrEqual(p.scale / 2);
  });
});

describe('static int8 QDQ of the shipped Fashion-MNIST model', () => {
  let test: PreparedSplit;
  let q: QuantizedModel;
  const N = 2000;
  beforeAll(async () => {
    test = prepareSplit(await loadFashionMnistSplit(DEFAULT_FASHION_MNIST_DIR, 'test'), N);
    const lw = loadWeights(
      new Uint8Array(readFileSync(path.join(repoRoot, 'assets/fashion-mnist/deploy.safetensors'))),
      { fileName: 'deploy.safetensors' },
    );
    q = await quantizeModel(
      lw.spec,
      lw.deploy,
      { kind: 'fashion-mnist' },
      { samples: 128, method: 'minmax', threads: 1 },
    );
  });

  it('calibrates every activation and writes a model ~1/3 the float size', () => {
    expect(q.samples).toBe(128);
    for (const t of calibrationTargets(q.floatModel)) expect(q.ranges.has(t), t).toBe(true);
    expect(q.model.length / q.floatModel.length).toBeLessThan(0.36);
  });

  it('top-1 on 2,000 test images drops by <= 0.5 points', async () => {
    const before = await fashionPredictions(q.floatModel, test, N, { threads: 1 });
    const after = await fashionPredictions(q.model, test, N, { threads: 1 });
    expect(before.top1).toBeGreaterThan(88);
    expect(before.top1 - after.top1).toBeLessThanOrEqual(0.5);
  });

  it("ORT's optimized graph runs every Conv as an integer kernel; only the known float islands remain", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'repghost-qdq-'));
    const optimized = path.join(dir, 'optimized.onnx');
    const s = await ort.InferenceSession.create(q.model, {
      graphOptimizationLevel: 'all',
      intraOpNumThreads: 1,
      optimizedModelFilePath: optimized,
    });
    await s.release();
    const convs = decodeModel(q.floatModel).graph.node.filter((n) => n.op_type === 'Conv').length;
    const ops = decodeModel(new Uint8Array(readFileSync(optimized))).graph.node;
    const count = (op: string) => ops.filter((n) => n.op_type === op).length;
    expect(count('Conv') + count('FusedConv') + count('NchwcConv')).toBe(0);
    expect(count('QLinearConv') + count('ConvInteger')).toBe(convs);
    expect(count('QLinearAdd')).toBe(decodeModel(q.floatModel).graph.node.filter((n) => n.op_type === 'Add').length);
    const floatOps = ops.filter((n) => !/^(QLinear|QGemm|ConvInteger)/.test(n.op_type)).map((n) => n.op_type);
    for (const op of floatOps) expect(FLOAT_ISLANDS.has(op), `${op} left in float`).toBe(true);
    expect(count('HardSigmoid')).toBeGreaterThan(0); // the SE gate: no integer kernel
  });

  it('runs on onnxruntime-web (wasm) with the same predictions as onnxruntime-node', async () => {
    const idx = spreadIndices(N, 200);
    const batch = fashionBatch(test, idx);
    const native = await createNodeEngine(q.model, { threads: 1 });
    const a = await native.logits(batch, idx.length, 32, 32);
    await native.dispose();
    ortWeb.env.wasm.numThreads = 1;
    const web = await OrtEngine.create(ortWeb, q.model);
    const b = await web.logits(batch, idx.length, 32, 32);
    await web.dispose();
    const top = (l: Float32Array, i: number) => {
      let k = 0;
      for (let c = 1; c < 10; c++) if (l[i * 10 + c]! > l[i * 10 + k]!) k = c;
      return k;
    };
    const agree = idx.filter((_, i) => top(a, i) === top(b, i)).length / idx.length;
    expect(agree).toBeGreaterThanOrEqual(0.99);
    const range = a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expect(maxAbsDiff(a, b)).toBeLessThan(0.05 * range);
  });
});

describe('quantizeQdq options', () => {
  it('keeps chosen convs float and writes per-tensor depthwise scales when asked', async () => {
    const lw = loadWeights(
      new Uint8Array(readFileSync(path.join(repoRoot, 'assets/fashion-mnist/deploy.safetensors'))),
      { fileName: 'deploy.safetensors' },
    );
    const f32 = exportOnnx(lw.spec, lw.deploy, { inputSize: [32, 32] });
    const ranges = new Map(calibrationTargets(f32).map((t) => [t, { min: -4, max: 4 }]));
    const m = decodeModel(quantizeQdq(f32, ranges, { floatConvs: ['conv_stem'], depthwiseWeights: 'per-tensor' }));
    const byName = new Map(m.graph.node.map((n) => [n.name, n]));
    // conv_stem reads the float input directly and keeps its float weight; nothing quantizes the input.
    expect(byName.get('conv_stem')!.input.slice(0, 2)).toEqual(['input', 'conv_stem.folded_weight']);
    expect(m.graph.node.some((n) => n.op_type === 'QuantizeLinear' && n.input[0] === 'input')).toBe(false);
    const inits = new Map(m.graph.initializer.map((t) => [t.name, t]));
    const dw = 'blocks.0.0.ghost1.cheap_operation.folded_weight';
    expect(inits.get(`${dw}.scale`)!.dims).toEqual([]);
    expect(inits.get('blocks.0.0.ghost1.primary_conv.0.folded_weight.scale')!.dims.length).toBe(1);
    // Every Relu was folded into its conv's QuantizeLinear.
    expect(m.graph.node.some((n) => n.op_type === 'Relu')).toBe(false);
    const e = await createNodeEngine(encodeModel(m), { threads: 1 });
    expect((await e.logits(new Float32Array(3 * 32 * 32), 1, 32, 32)).every(Number.isFinite)).toBe(true);
    await e.dispose();
  });

  it('refuses a graph with BatchNormalization nodes', () => {
    const lw = loadWeights(
      new Uint8Array(readFileSync(path.join(repoRoot, 'assets/fashion-mnist/deploy.safetensors'))),
      { fileName: 'deploy.safetensors' },
    );
    const bn = exportOnnx(lw.spec, lw.deploy, { mode: 'deploy-bn', inputSize: [32, 32] });
    expect(() => quantizeQdq(bn, new Map())).toThrow(/BN-folded/);
  });
});

describe('repghost quantize', () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'repghost-quantize-'));

  it('calibrates on an ImageFolder and writes a QDQ model of the golden 0.5x that runs', async () => {
    const folder = path.join(tmp, 'images');
    for (const [cls, files] of [
      ['cat', ['chelsea.png', 'chelsea.webp']],
      ['other', ['coffee.png', 'rocket.jpg', 'camera_gray.png']],
    ] as const) {
      mkdirSync(path.join(folder, cls), { recursive: true });
      for (const f of files) symlinkSync(sharedPath('golden', 'preprocess', f), path.join(folder, cls, f));
    }
    const out = path.join(tmp, 'golden-int8.onnx');
    const r = runCli([
      'quantize',
      sharedPath('golden', 'repghostnet_0_5x', 'checkpoint.pth'),
      out,
      '--calibrate',
      folder,
      '--method',
      'percentile',
      '--threads',
      '1',
      '--json',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      model: 'repghostnet_0_5x',
      samples: 5,
      method: 'percentile',
      activations: 'uint8',
      input: ['batch', 3, 224, 224],
    });
    const model = new Uint8Array(readFileSync(out));
    expect(decodeModel(model).graph.node.some((n) => n.op_type === 'QuantizeLinear')).toBe(true);
    const e = await createNodeEngine(model, { threads: 1 });
    const logits = await e.logits(new Float32Array(3 * 224 * 224), 1);
    await e.dispose();
    expect(logits.length).toBe(1000);
    expect(logits.every(Number.isFinite)).toBe(true);
  });

  it('bad flags: one clear error before any work', async () => {
    const w = 'assets/fashion-mnist/deploy.safetensors';
    const cases: [string[], RegExp][] = [
      [[w, path.join(tmp, 'a.onnx')], /--calibrate is required/],
      [[w, path.join(tmp, 'a.onnx'), '--calibrate', path.join(tmp, 'nope')], /not a directory/],
      [
        [w, path.join(tmp, 'a.onnx'), '--calibrate', 'fashion-mnist', '--method', 'magic'],
        /--method must be one of minmax, percentile, entropy/,
      ],
      [[w, path.join(tmp, 'a.txt'), '--calibrate', 'fashion-mnist'], /\.onnx extension/],
      [[w, path.join(tmp, 'a.onnx'), '--calibrate', 'fashion-mnist', '--samples', '0'], /positive integer/],
      [[w, path.join(tmp, 'a.onnx'), '--calibrate', 'fashion-mnist', '--input-size', '224'], /drop --input-size/],
      [
        [w, path.join(tmp, 'a.onnx'), '--calibrate', 'fashion-mnist', '--batch-size', '100000'],
        /--batch-size takes an integer from 1 to 256, got '100000'/,
      ],
    ];
    for (const [args, re] of cases) {
      const r = await runInProcess(register, ['quantize', ...args]);
      expect(`${r.error?.message ?? ''} ${r.stderr}`, args.join(' ')).toMatch(re);
    }
    const spawned = runCli(['quantize', w, path.join(tmp, 'b.onnx')]);
    expect(spawned.code).toBe(2);
    expect(spawned.stderr.trim().split('\n')).toHaveLength(1);
  });
});
