/**
 * Deploy form -> training form (issue 16): the expanded model's eval-mode logits equal
 * the deploy model's (PyTorch's `logits_deploy` of the goldens) within 1e-4, the floor of
 * ../shared/README.md, for BN fusion (0.5x, raw and EMA), identity fusion (repid, centre
 * tap), no fusion (norep: unchanged) and the no-shortcut ablation (wo_0_5x).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { toDeploy } from '../../src/reparam/fuse.js';
import { toTrain } from '../../src/reparam/expand.js';
import { stateDictKeys } from '../../src/spec/layers.js';
import { buildSpec } from '../../src/spec/model-spec.js';
import { evalLogits } from '../../src/train/evaluate.js';
import { modelFromInitialStateDict } from '../../src/train/initial-weights.js';
import { Rng } from '../../src/train/rng.js';
import { ModelState } from '../../src/train/state.js';
import { EvalWeights } from '../../src/train/weights.js';
import { readCheckpoint } from '../../src/weights/checkpoint.js';
import { classesInStateDict, detectForm } from '../../src/weights/match.js';
import { toFloat32, type StateDict } from '../../src/weights/tensor.js';
import { readSafetensors } from '../../src/weights/safetensors.js';
import { runCli } from '../helpers/cli.js';
import { maxAbsDiff, sharedPath, sharedTensors } from '../helpers/shared.js';

const input = toFloat32(sharedTensors('golden', 'input_224.safetensors').get('input')!);
/** The golden input as NHWC, the layout of the training network. */
const nhwc = (() => {
  const out = new Float32Array(input.length);
  const hw = 224 * 224;
  for (let n = 0; n < 2; n++)
    for (let c = 0; c < 3; c++)
      for (let p = 0; p < hw; p++) out[n * 3 * hw + p * 3 + c] = input[n * 3 * hw + c * hw + p]!;
  return out;
})();

function trainFormLogits(model: string, train: StateDict): Float32Array {
  const spec = buildSpec(model, { numClasses: classesInStateDict(train) ?? 1000 });
  const state = ModelState.fromStateDict(spec, train);
  const w = EvalWeights.fromModel(state);
  try {
    return evalLogits(spec, w, nhwc, 2, 224);
  } finally {
    w.dispose();
    state.dispose();
  }
}

const expected = (model: string, key: string) =>
  toFloat32(sharedTensors('golden', model, 'expected.safetensors').get(key)!);

describe('deploy -> training form', () => {
  it.each([
    ['repghostnet_0_5x', 'deploy.safetensors', 'logits_deploy'],
    ['repghostnet_0_5x', 'deploy_ema.safetensors', 'logits_deploy_ema'],
    ['repghostnet_repid_0_5x', 'deploy.safetensors', 'logits_deploy'],
  ])(
    '%s %s: eval logits of the expanded model = the deploy model within 1e-4',
    (model, file, key) => {
      const deploy = sharedTensors('golden', model, file);
      const spec = buildSpec(model, { numClasses: classesInStateDict(deploy) ?? 1000 });
      expect(detectForm(spec, deploy)).toBe('deploy');
      const train = toTrain(spec, deploy);
      expect([...train.keys()]).toEqual(stateDictKeys(spec, 'train').map(([k]) => k));
      expect(detectForm(spec, train)).toBe('train');
      expect(maxAbsDiff(trainFormLogits(model, train), expected(model, key))).toBeLessThan(1e-4);
      // Folding the expansion again gives back the deploy weights (float32 rounding only).
      const again = toDeploy(spec, train);
      for (const [k, t] of deploy) expect(maxAbsDiff(toFloat32(again.get(k)!), toFloat32(t)), k).toBeLessThan(1e-5);
    },
    60_000,
  );

  it('identity fusion: the identity is taken out of the centre tap, the kernel otherwise kept', () => {
    const deploy = sharedTensors('golden', 'repghostnet_repid_0_5x', 'deploy.safetensors');
    const spec = buildSpec('repghostnet_repid_0_5x', { numClasses: classesInStateDict(deploy)! });
    const train = toTrain(spec, deploy);
    const d = toFloat32(deploy.get('blocks.0.0.ghost1.cheap_operation.weight')!);
    const t = toFloat32(train.get('blocks.0.0.ghost1.cheap_operation.0.weight')!);
    expect(t[4]).toBeCloseTo(d[4]! - 1, 6); // 3x3 kernel, centre tap of channel 0
    expect(t[0]).toBe(d[0]);
    expect(train.has('blocks.0.0.ghost1.fusion_bn.0.weight')).toBe(false);
  });

  it('no fusion (norep): deploy form is training form, nothing to set', () => {
    const sd = sharedTensors('golden', 'repghostnet_norep_0_5x', 'model.safetensors');
    const spec = buildSpec('repghostnet_norep_0_5x', { numClasses: classesInStateDict(sd)! });
    const train = toTrain(spec, sd);
    for (const [k, t] of train) expect(t, k).toBe(sd.get(k));
  });

  it('wo_0_5x (no shortcut): training -> deploy -> training keeps the logits', () => {
    const sd = readCheckpoint(
      new Uint8Array(readFileSync(sharedPath('golden', 'repghostnet_wo_0_5x', 'model.pth'))),
    ).stateDict;
    const spec = buildSpec('repghostnet_wo_0_5x', { numClasses: classesInStateDict(sd)! });
    const train = toTrain(spec, toDeploy(spec, sd));
    expect(
      maxAbsDiff(trainFormLogits('repghostnet_wo_0_5x', train), expected('repghostnet_wo_0_5x', 'logits_deploy')),
    ).toBeLessThan(1e-4);
  }, 60_000);

  it('--initial-checkpoint takes deploy-form weights, expanded', () => {
    const deploy = sharedTensors('golden', 'repghostnet_0_5x', 'deploy.safetensors');
    const spec = buildSpec('repghostnet_0_5x', { numClasses: 1000 });
    const init = modelFromInitialStateDict(spec, deploy, new Rng(1));
    expect(init.expandedFromDeploy).toBe(true);
    expect(toFloat32(init.model.toStateDict().get('blocks.1.0.ghost1.cheap_operation.1.bias')!)).toEqual(
      toFloat32(deploy.get('blocks.1.0.ghost1.cheap_operation.bias')!),
    );
    init.model.dispose();
  });

  it('repghost convert --to train writes the expanded training form', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'repghost-expand-'));
    try {
      const out = path.join(dir, 'train.safetensors');
      const r = runCli([
        'convert',
        sharedPath('golden', 'repghostnet_repid_0_5x', 'deploy.safetensors'),
        out,
        '--to',
        'train',
        '--json',
        '--model',
        'repghostnet_repid_0_5x',
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({
        input_form: 'deploy',
        output_form: 'train',
        model: 'repghostnet_repid_0_5x',
      });
      const deploy = sharedTensors('golden', 'repghostnet_repid_0_5x', 'deploy.safetensors');
      const spec = buildSpec('repghostnet_repid_0_5x', { numClasses: classesInStateDict(deploy)! });
      const written = readSafetensors(new Uint8Array(readFileSync(out))).tensors;
      expect(detectForm(spec, written)).toBe('train');
      const want = toTrain(spec, deploy);
      for (const [k, t] of want) expect(Array.from(toFloat32(written.get(k)!)), k).toEqual(Array.from(toFloat32(t)));
      expect(runCli(['convert', out, path.join(dir, 'x.safetensors'), '--to', 'onnx']).code).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
