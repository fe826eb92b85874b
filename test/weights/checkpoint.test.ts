import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import {
  CheckpointError,
  readCheckpoint,
  selectWeights,
  sniffFormat,
  stripModulePrefix,
} from '../../src/weights/checkpoint.js';
import { writePth } from '../../src/weights/pth.js';
import { writeSafetensors } from '../../src/weights/safetensors.js';
import type { StateDict, Tensor } from '../../src/weights/tensor.js';
import { sharedPath, sharedTensors } from '../helpers/shared.js';
import { LEGACY_TORCH_FILE } from '../helpers/legacy-torch.js';

type KeyList = [string, number[], string][];

/** keys.json's train-form list for a model, with the classifier resized to `numClasses`. */
function goldenKeys(model: string, numClasses: number): KeyList {
  const all = JSON.parse(readFileSync(sharedPath('golden/keys.json'), 'utf8')) as Record<string, { train: KeyList }>;
  return all[model]!.train.map(([k, s, d]) => [k, k.startsWith('classifier.') ? [numClasses, ...s.slice(1)] : s, d]);
}

const keyList = (sd: StateDict): KeyList => [...sd].map(([k, t]) => [k, t.shape, t.dtype]);
const golden = (rel: string): Uint8Array => new Uint8Array(readFileSync(sharedPath('golden', rel)));
const same = (a: Tensor, b: Tensor): boolean =>
  Buffer.compare(
    new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength),
    new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength),
  ) === 0;

function rejects(f: () => unknown, re: RegExp): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected an error').toBeInstanceOf(CheckpointError);
  expect((err as Error).message).toMatch(re);
}

const tiny = (): StateDict =>
  new Map<string, Tensor>([
    ['conv.weight', { dtype: 'F32', shape: [2, 1, 1, 1], data: Float32Array.of(1, 2) }],
    ['bn.num_batches_tracked', { dtype: 'I64', shape: [], data: BigInt64Array.of(5n) }],
  ]);

describe('readCheckpoint on the golden files', () => {
  it('reads the timm checkpoint: raw + EMA weights and metadata', () => {
    const c = readCheckpoint(golden('repghostnet_0_5x/checkpoint.pth'), 'checkpoint.pth');
    const train = goldenKeys('repghostnet_0_5x', 1000);
    expect(c.meta.source).toBe('timm-checkpoint');
    expect(c.meta.arch).toBe('repghost.repghostnet_0_5x');
    expect(c.meta.epoch).toBe(296);
    expect(c.meta.metric).toBeCloseTo(66.948, 5);
    expect(c.meta.args?.model).toBe('repghost.repghostnet_0_5x');
    expect(c.meta.args?.batch_size).toBe(128);
    expect(keyList(c.stateDict)).toEqual(train);
    expect(keyList(c.ema!)).toEqual(train);
    expect(selectWeights(c, { ema: false })).toBe(c.stateDict);
    expect(selectWeights(c, { ema: true })).toBe(c.ema);
    expect(same(c.ema!.get('classifier.weight')!, c.stateDict.get('classifier.weight')!)).toBe(false);
  });

  it('reads a plain state dict file', () => {
    const c = readCheckpoint(golden('repghostnet_1_0x/model.pth'));
    expect(c.meta).toEqual({ source: 'state-dict' });
    expect(c.ema).toBeNull();
    expect(keyList(c.stateDict)).toEqual(goldenKeys('repghostnet_1_0x', 1000));
    expect(keyList(readCheckpoint(golden('repghostnet_repid_0_5x/model.pth')).stateDict)).toEqual(
      goldenKeys('repghostnet_repid_0_5x', 10),
    );
  });

  it('strips the DDP module. prefix', () => {
    const c = readCheckpoint(golden('repghostnet_wo_0_5x/model.pth'));
    expect(keyList(c.stateDict)).toEqual(goldenKeys('repghostnet_wo_0_5x', 10));
  });

  it('reads safetensors by content, whatever the file name says', () => {
    const bytes = golden('repghostnet_norep_0_5x/model.safetensors');
    expect(sniffFormat(bytes)).toBe('safetensors');
    const c = readCheckpoint(bytes, 'misnamed.pth');
    expect(c.meta.source).toBe('safetensors');
    // safetensors writers sort names alphabetically, so only the set (and file order) can match.
    const byName = (a: KeyList[number], b: KeyList[number]): number => (a[0] < b[0] ? -1 : 1);
    expect(keyList(c.stateDict).sort(byName)).toEqual(goldenKeys('repghostnet_norep_0_5x', 10).sort(byName));
    const direct = sharedTensors('golden/repghostnet_norep_0_5x/model.safetensors');
    expect([...c.stateDict.keys()]).toEqual([...direct.keys()]);
    for (const [k, t] of direct) expect(same(c.stateDict.get(k)!, t)).toBe(true);
  });

  it('tells safetensors from a legacy pickle when the header length starts with 0x80 0x02', () => {
    // Grow metadata until the 8-byte header length is 0x0280: the file then starts like a protocol-2 pickle.
    let st = writeSafetensors(tiny());
    for (let n = 0; !(st[0] === 0x80 && st[1] === 0x02) && n < 1000; n++)
      st = writeSafetensors(tiny(), { pad: 'x'.repeat(n) });
    expect([st[0], st[1]]).toEqual([0x80, 0x02]);
    expect(sniffFormat(st)).toBe('safetensors');
    expect([...readCheckpoint(st).stateDict.keys()]).toEqual(['conv.weight', 'bn.num_batches_tracked']);
  });

  it('says the file has no EMA when EMA is asked for', () => {
    const c = readCheckpoint(golden('repghostnet_1_0x/model.pth'));
    expect(() => selectWeights(c, { ema: true }, 'model.pth')).toThrow(CheckpointError);
    expect(() => selectWeights(c, { ema: true }, 'model.pth')).toThrow(
      /EMA weights were requested but model\.pth has none/,
    );
  });
});

describe('readCheckpoint on written files', () => {
  it('reads a timm-style training dict written by writePth', () => {
    const sd = tiny();
    const ema = new Map([...sd].map(([k, t]): [string, Tensor] => [k, { ...t, data: t.data.slice() }]));
    const file = writePth({
      epoch: 7,
      arch: 'repghostnet_0_5x',
      state_dict: sd,
      state_dict_ema: ema,
      metric: 12.5,
      args: { lr: 0.1 },
    });
    const c = readCheckpoint(file);
    expect(c.meta).toEqual({
      source: 'timm-checkpoint',
      arch: 'repghostnet_0_5x',
      epoch: 7,
      metric: 12.5,
      args: { lr: 0.1 },
    });
    expect(keyList(c.stateDict)).toEqual(keyList(sd));
    expect(keyList(c.ema!)).toEqual(keyList(sd));
  });

  it('accepts model/model_ema keys (DeiT-style) and DDP prefixes inside them', () => {
    const ddp = new Map([...tiny()].map(([k, t]): [string, Tensor] => [`module.${k}`, t]));
    const c = readCheckpoint(writePth({ model: ddp, model_ema: tiny(), epoch: 1 }));
    expect([...c.stateDict.keys()]).toEqual(['conv.weight', 'bn.num_batches_tracked']);
    expect([...c.ema!.keys()]).toEqual(['conv.weight', 'bn.num_batches_tracked']);
  });

  it('strips module. only when every key has it', () => {
    const mixed = new Map([...tiny()].map(([k, t], i): [string, Tensor] => [i ? `module.${k}` : k, t]));
    expect([...stripModulePrefix(mixed).keys()]).toEqual(['conv.weight', 'module.bn.num_batches_tracked']);
    const c = readCheckpoint(
      writeSafetensors(new Map([...tiny()].map(([k, t]): [string, Tensor] => [`module.${k}`, t]))),
    );
    expect([...c.stateDict.keys()]).toEqual(['conv.weight', 'bn.num_batches_tracked']);
  });

  it('refuses non-tensor entries in a state dict', () => {
    const bad = new Map<string, unknown>([...tiny(), ['extra', 3]]);
    rejects(
      () => readCheckpoint(writePth({ state_dict: bad }), 'bad.pth'),
      /bad\.pth: 'state_dict' entry 'extra' is not a tensor/,
    );
    rejects(
      () => readCheckpoint(writePth(bad), 'bad.pth'),
      /neither a state dict \(some entries are not tensors\) nor a training checkpoint/,
    );
    rejects(() => readCheckpoint(writePth([1, 2]), 'list.pth'), /holds a list/);
  });

  it('refuses legacy, garbage and truncated files with the file name and the cause', () => {
    const legacy = LEGACY_TORCH_FILE;
    expect(sniffFormat(legacy)).toBe('legacy-torch');
    rejects(
      () => readCheckpoint(legacy, 'old.pth'),
      /old\.pth: this is a legacy .* re-save it: torch\.save\(torch\.load\(f\), f2\)/,
    );
    rejects(
      () => readCheckpoint(new TextEncoder().encode('<html><body>rate limited</body></html>'), 'w.pth'),
      /w\.pth: not a weight file .*HTML/,
    );
    rejects(() => readCheckpoint(Uint8Array.of(1, 2, 3, 4, 5), 'x.bin'), /x\.bin: not a weight file/);
    const file = writePth(tiny());
    rejects(() => readCheckpoint(file.subarray(0, file.length - 30), 't.pth'), /t\.pth: zip: .*truncated/);
    const st = writeSafetensors(tiny());
    rejects(() => readCheckpoint(st.subarray(0, st.length - 3), 't.safetensors'), /t\.safetensors: .*exceeds/);
  });
});
