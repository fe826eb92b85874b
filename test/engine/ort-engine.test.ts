/** The engine on onnxruntime-node and, unchanged, on onnxruntime-web (wasm, as the browser runs it). */
import { beforeAll, describe, expect, it } from 'vitest';
import * as ortWeb from 'onnxruntime-web';
import { exportOnnx } from '../../src/onnx/emit.js';
import { OrtEngine } from '../../src/engine/ort-engine.js';
import { createNodeEngine, nodeSessionOptions } from '../../src/node/ort.js';
import { buildSpec } from '../../src/spec/model-spec.js';
import { maxAbsDiff, sharedTensors } from '../helpers/shared.js';
import { expected, goldenInput } from '../onnx/golden-cases.js';

const input = goldenInput();
const want = () => expected('repghostnet_0_5x').get('logits_deploy')!.data as Float32Array;
let graph: Uint8Array;
beforeAll(() => {
  graph = exportOnnx(buildSpec('repghostnet_0_5x'), sharedTensors('golden', 'repghostnet_0_5x', 'deploy.safetensors'), {
    features: ['blocks.1', 'pre_logits'],
  });
});

describe('OrtEngine on onnxruntime-node', () => {
  it('batch inference gives the PyTorch logits, with 1 and 2 threads', async () => {
    for (const threads of [1, 2]) {
      const engine = await createNodeEngine(graph, { threads });
      expect(engine.outputNames).toEqual(['logits', 'features.blocks.1', 'features.pre_logits']);
      expect(maxAbsDiff(await engine.logits(input.data, 2), want())).toBeLessThan(1e-4);
      await engine.dispose();
    }
  });

  it('returns named feature outputs with their dims', async () => {
    const engine = await createNodeEngine(graph, { threads: 1 });
    const out = await engine.run(input.data, 2, 224, 224, ['features.blocks.1', 'features.pre_logits']);
    expect(out.get('features.blocks.1')!.dims).toEqual([2, 12, 56, 56]);
    expect(out.get('features.pre_logits')!.dims).toEqual([2, 1280]);
    expect(
      maxAbsDiff(
        out.get('features.pre_logits')!.data,
        expected('repghostnet_0_5x').get('features.pre_logits')!.data as Float32Array,
      ),
    ).toBeLessThan(1e-4);
    await engine.dispose();
  });

  it('rejects a wrong input size, unknown outputs and bad thread counts', async () => {
    const engine = await createNodeEngine(graph, { threads: 1 });
    await expect(engine.logits(input.data, 3)).rejects.toThrow(/\[3, 3, 224, 224\] needs/);
    await expect(engine.run(input.data, 2, 224, 224, ['features.act1'])).rejects.toThrow(/no output 'features.act1'/);
    await engine.dispose();
    expect(() => nodeSessionOptions({ threads: 0 })).toThrow(/threads/);
    expect(nodeSessionOptions({ threads: 2 })).toMatchObject({ intraOpNumThreads: 2, graphOptimizationLevel: 'all' });
  });
});

describe('OrtEngine on onnxruntime-web (wasm) in Node: the browser code path', () => {
  it('gives the same logits', async () => {
    ortWeb.env.wasm.numThreads = 1;
    const engine = await OrtEngine.create(ortWeb, graph);
    expect(maxAbsDiff(await engine.logits(input.data, 2), want())).toBeLessThan(1e-4);
    await engine.dispose();
  });
});
