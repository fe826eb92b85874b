import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadWeights } from '../src/reparam/load.js';
import { toDeploy } from '../src/reparam/fuse.js';
import { stateDictKeys } from '../src/spec/index.js';
import { toFloat32, type StateDict } from '../src/weights/tensor.js';
import { maxAbsDiff, sharedPath, sharedTensors } from './helpers/shared.js';

const read = (...p: string[]) => new Uint8Array(readFileSync(sharedPath('golden', ...p)));

/**
 * Largest |a-b| over every key; also asserts identical key sets, shapes and dtypes (golden safetensors store keys
 * sorted).
 */
function worstDiff(ours: StateDict, ref: StateDict): number {
  expect([...ours.keys()].sort()).toEqual([...ref.keys()].sort());
  let worst = 0;
  for (const [k, r] of ref) {
    const o = ours.get(k)!;
    expect(o.shape, k).toEqual(r.shape);
    expect(o.dtype, k).toBe(r.dtype);
    if (r.dtype === 'I64') expect([...(o.data as BigInt64Array)], k).toEqual([...(r.data as BigInt64Array)]);
    else worst = Math.max(worst, maxAbsDiff(toFloat32(o), toFloat32(r)));
  }
  return worst;
}

describe('re-parameterization matches the official repghost_model_convert within 1e-6', () => {
  it('0.5x timm checkpoint, raw weights', () => {
    const loaded = loadWeights(read('repghostnet_0_5x', 'checkpoint.pth'), { fileName: 'checkpoint.pth' });
    expect(loaded.spec.name).toBe('repghostnet_0_5x');
    expect(loaded.meta.arch).toBe('repghost.repghostnet_0_5x');
    expect(loaded.note).toBeUndefined(); // the model came from the checkpoint's arch, not a guess
    expect(loaded.form).toBe('train');
    const worst = worstDiff(loaded.deploy, sharedTensors('golden', 'repghostnet_0_5x', 'deploy.safetensors'));
    expect(worst).toBeLessThanOrEqual(1e-6);
  });
  it('0.5x timm checkpoint, EMA weights', () => {
    const loaded = loadWeights(read('repghostnet_0_5x', 'checkpoint.pth'), { ema: true });
    const worst = worstDiff(loaded.deploy, sharedTensors('golden', 'repghostnet_0_5x', 'deploy_ema.safetensors'));
    expect(worst).toBeLessThanOrEqual(1e-6);
  });
  it('repid (identity fusion branch)', () => {
    const loaded = loadWeights(read('repghostnet_repid_0_5x', 'model.pth'), { model: 'repghostnet_repid_0_5x' });
    const worst = worstDiff(loaded.deploy, sharedTensors('golden', 'repghostnet_repid_0_5x', 'deploy.safetensors'));
    expect(worst).toBeLessThanOrEqual(1e-6);
  });
  it('norep: the official conversion leaves it unchanged', () => {
    const loaded = loadWeights(read('repghostnet_norep_0_5x', 'model.safetensors'), {
      model: 'repghostnet_norep_0_5x',
    });
    expect(loaded.form).toBe('train');
    expect(worstDiff(loaded.deploy, loaded.stateDict)).toBe(0);
  });
  it('deploy-form input is recognised and kept', () => {
    const deploy = sharedTensors('golden', 'repghostnet_0_5x', 'deploy.safetensors');
    const loaded = loadWeights(readFileSync(sharedPath('golden', 'repghostnet_0_5x', 'deploy.safetensors')), {
      model: 'repghostnet_0_5x',
    });
    expect(loaded.form).toBe('deploy');
    expect(worstDiff(loaded.deploy, deploy)).toBe(0);
  });
  it('1.0x and wo (DDP module. prefix) convert to the official deploy keys', () => {
    for (const [dir, model] of [
      ['repghostnet_1_0x', 'repghostnet_1_0x'],
      ['repghostnet_wo_0_5x', 'repghostnet_wo_0_5x'],
    ] as const) {
      const loaded = loadWeights(read(dir, 'model.pth'), { model });
      const keys = stateDictKeys(loaded.spec, 'deploy');
      expect([...loaded.deploy].map(([k, t]) => [k, t.shape, t.dtype])).toEqual(keys);
    }
  });
  it('toDeploy of a deploy key set is computed from training keys only', () => {
    const loaded = loadWeights(read('repghostnet_1_0x', 'model.pth'));
    expect(loaded.spec.name).toBe('repghostnet_1_0x');
    const again = toDeploy(loaded.spec, loaded.stateDict);
    expect(worstDiff(again, loaded.deploy)).toBe(0);
  });
});

describe('model choice and mismatches', () => {
  it('takes the model from the checkpoint arch and the classes from the classifier', () => {
    const loaded = loadWeights(read('repghostnet_wo_0_5x', 'model.pth'), { model: 'repghostnet_wo_0_5x' });
    expect(loaded.spec.numClasses).toBe(10);
  });
  it('keys that fit 0.5x and wo_0_5x pick the main-line model with a note', () => {
    const loaded = loadWeights(read('repghostnet_wo_0_5x', 'model.pth'), { fileName: 'model.pth' });
    expect(loaded.spec.name).toBe('repghostnet_0_5x');
    expect(loaded.note).toMatch(/repghostnet_0_5x and repghostnet_wo_0_5x/);
  });
  it('repid vs norep training keys are ambiguous: asks for --model', () => {
    expect(() => loadWeights(read('repghostnet_norep_0_5x', 'model.safetensors'))).toThrow(
      /name it with the 'model' option/,
    );
  });
  it('wrong width names the model the weights fit', () => {
    expect(() => loadWeights(read('repghostnet_1_0x', 'model.pth'), { model: 'repghostnet_0_5x' })).toThrow(
      /do not fit repghostnet_0_5x.*wrong shapes.*they fit repghostnet_1_0x \(train form\)/,
    );
  });
  it('EMA requested from a plain state dict is refused', () => {
    expect(() => loadWeights(read('repghostnet_1_0x', 'model.pth'), { ema: true })).toThrow(/EMA|ema/);
  });
});
