import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PthError, readPth, writePth } from '../../src/weights/pth.js';
import { PickleError, isNamespace, pyAttributes } from '../../src/weights/pickle.js';
import { ZipError, writeZip } from '../../src/weights/zip.js';
import type { StateDict, Tensor } from '../../src/weights/tensor.js';
import { LEGACY_TORCH_FILE } from '../helpers/legacy-torch.js';
import { sharedPath } from '../helpers/shared.js';

type KeyList = [string, number[], string][];

/** keys.json's train-form list for a model, with the classifier resized to `numClasses`. */
function goldenKeys(model: string, numClasses: number): KeyList {
  const all = JSON.parse(readFileSync(sharedPath('golden/keys.json'), 'utf8')) as Record<string, { train: KeyList }>;
  return all[model]!.train.map(([k, s, d]) => [k, k.startsWith('classifier.') ? [numClasses, ...s.slice(1)] : s, d]);
}

function keyList(sd: Map<unknown, unknown>): KeyList {
  return [...sd].map(([k, t]) => [k as string, (t as Tensor).shape, (t as Tensor).dtype]);
}

function golden(rel: string): Uint8Array {
  return new Uint8Array(readFileSync(sharedPath('golden', rel)));
}

function bytesOf(t: Tensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** Bit-exact tensor data comparison (expect().toEqual on big typed arrays is very slow). */
function sameBytes(a: Tensor, b: Tensor): boolean {
  return Buffer.compare(bytesOf(a), bytesOf(b)) === 0;
}

/** Asserts two state dicts have the same keys in order and bit-identical tensors. */
function expectSameStateDict(a: Map<unknown, unknown>, b: Map<unknown, unknown>): void {
  expect([...b.keys()]).toEqual([...a.keys()]);
  for (const [k, t] of a) {
    const u = b.get(k) as Tensor;
    expect(u.dtype).toBe((t as Tensor).dtype);
    expect(u.shape).toEqual((t as Tensor).shape);
    expect(sameBytes(u, t as Tensor), `tensor ${String(k)}`).toBe(true);
  }
}

function rejects(f: () => unknown, cls: new (...a: never[]) => Error, re: RegExp): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected an error').toBeInstanceOf(cls);
  expect((err as Error).message).toMatch(re);
}

function hasPython(): boolean {
  try {
    execFileSync('python3', ['-c', 'import zipfile, pickletools'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('readPth on the golden files', () => {
  it('reads the timm training checkpoint (records under checkpoint/) fast', () => {
    const bytes = golden('repghostnet_0_5x/checkpoint.pth');
    readPth(bytes); // warm-up (JIT), then time a second read
    const t0 = performance.now();
    const ck = readPth(bytes) as Map<string, unknown>;
    const ms = performance.now() - t0;
    expect(ms).toBeLessThan(1000);
    expect([...ck.keys()]).toEqual([
      'epoch',
      'arch',
      'state_dict',
      'optimizer',
      'version',
      'args',
      'amp_scaler',
      'state_dict_ema',
      'metric',
    ]);
    expect(ck.get('epoch')).toBe(296);
    expect(ck.get('arch')).toBe('repghost.repghostnet_0_5x');
    expect(ck.get('version')).toBe(2);
    expect(ck.get('metric')).toBeCloseTo(66.948, 5);
    const train = goldenKeys('repghostnet_0_5x', 1000);
    const sd = ck.get('state_dict') as Map<string, Tensor>;
    const ema = ck.get('state_dict_ema') as Map<string, Tensor>;
    expect(keyList(sd)).toEqual(train);
    expect(keyList(ema)).toEqual(train);
    // Each OrderedDict keeps torch's per-module `_metadata` aside from its tensors.
    expect(pyAttributes(sd as Map<unknown, unknown>)?.get('_metadata')).toBeInstanceOf(Map);
    // EMA differs from raw weights (a real EMA, not a copy).
    expect(sameBytes(ema.get('conv_stem.weight')!, sd.get('conv_stem.weight')!)).toBe(false);
    expect((sd.get('bn1.num_batches_tracked')!.data as BigInt64Array)[0]).toBeTypeOf('bigint');

    const args = ck.get('args') as Record<string, unknown>;
    expect(isNamespace(args)).toBe(true);
    expect(args.model).toBe('repghost.repghostnet_0_5x');
    expect(args.lr).toBe(0.6);
    expect(ck.get('amp_scaler')).toEqual(
      new Map<string, number>([
        ['scale', 32768],
        ['growth_factor', 2],
        ['backoff_factor', 0.5],
        ['growth_interval', 2000],
        ['_growth_tracker', 1523],
      ]),
    );

    const opt = ck.get('optimizer') as Map<string, unknown>;
    const groups = opt.get('param_groups') as Map<string, unknown>[];
    const state = opt.get('state') as Map<number, Map<string, Tensor>>;
    const nParams = groups.reduce((n, g) => n + (g.get('params') as number[]).length, 0);
    expect(state.size).toBe(nParams); // SGD momentum buffer per parameter
    // One F32 buffer per parameter: their sizes add up to the parameters' (BN running stats excluded).
    const paramNumel = [...sd]
      .filter(([k]) => !/running_|num_batches_tracked/.test(k))
      .reduce((n, [, t]) => n + t.data.length, 0);
    const bufNumel = [...state.values()].reduce((n, s) => n + s.get('momentum_buffer')!.data.length, 0);
    expect(bufNumel).toBe(paramNumel);
  });

  const plain: [string, string, number, number][] = [
    ['repghostnet_1_0x', 'repghostnet_1_0x/model.pth', 1000, 0],
    ['repghostnet_repid_0_5x', 'repghostnet_repid_0_5x/model.pth', 10, 0],
    ['repghostnet_wo_0_5x', 'repghostnet_wo_0_5x/model.pth', 10, 1],
  ];
  for (const [model, file, classes, ddp] of plain) {
    it(`reads ${file} with exactly keys.json's keys, shapes and dtypes`, () => {
      const sd = readPth(golden(file)) as Map<string, Tensor>;
      const keys = keyList(sd);
      if (ddp) {
        expect(keys.every(([k]) => k.startsWith('module.'))).toBe(true);
        for (const k of keys) k[0] = k[0].slice('module.'.length);
      }
      expect(keys).toEqual(goldenKeys(model, classes));
    });
  }
});

describe('writePth', () => {
  it('round-trips the golden checkpoint bit-identically (all tensors, metadata, structure)', () => {
    const original = readPth(golden('repghostnet_0_5x/checkpoint.pth')) as Map<string, unknown>;
    const again = readPth(writePth(original)) as Map<string, unknown>;
    expect([...again.keys()]).toEqual([...original.keys()]);
    expectSameStateDict(
      original.get('state_dict') as Map<unknown, unknown>,
      again.get('state_dict') as Map<unknown, unknown>,
    );
    expectSameStateDict(
      original.get('state_dict_ema') as Map<unknown, unknown>,
      again.get('state_dict_ema') as Map<unknown, unknown>,
    );
    const metaA = pyAttributes(original.get('state_dict') as Map<unknown, unknown>)!.get('_metadata') as Map<
      unknown,
      unknown
    >;
    const metaB = pyAttributes(again.get('state_dict') as Map<unknown, unknown>)!.get('_metadata') as Map<
      unknown,
      unknown
    >;
    expect([...metaB]).toEqual([...metaA]);
    for (const k of ['epoch', 'arch', 'version', 'metric', 'amp_scaler']) expect(again.get(k)).toEqual(original.get(k));
    // The Namespace is written as a plain dict (weights_only refuses argparse.Namespace).
    expect(Object.fromEntries(again.get('args') as Map<string, unknown>)).toEqual({
      ...(original.get('args') as object),
    });
    const optA = original.get('optimizer') as Map<string, unknown>;
    const optB = again.get('optimizer') as Map<string, unknown>;
    expect(optB.get('param_groups')).toEqual(optA.get('param_groups'));
    const stA = optA.get('state') as Map<number, Map<string, Tensor>>;
    const stB = optB.get('state') as Map<number, Map<string, Tensor>>;
    expect([...stB.keys()]).toEqual([...stA.keys()]);
    for (const [i, s] of stA)
      expect(sameBytes(stB.get(i)!.get('momentum_buffer')!, s.get('momentum_buffer')!), `buffer ${i}`).toBe(true);
  });

  for (const file of [
    'repghostnet_1_0x/model.pth',
    'repghostnet_repid_0_5x/model.pth',
    'repghostnet_wo_0_5x/model.pth',
  ]) {
    it(`round-trips ${file} bit-identically`, () => {
      const sd = readPth(golden(file)) as StateDict;
      expectSameStateDict(sd, readPth(writePth(sd)) as StateDict);
    });
  }

  it('round-trips every dtype, scalars, empty tensors and shared data exactly', () => {
    const shared = Float32Array.of(1, -2, 3.5, NaN);
    const sd: StateDict = new Map<string, Tensor>([
      ['f32', { dtype: 'F32', shape: [2, 2], data: shared }],
      ['alias', { dtype: 'F32', shape: [4], data: shared }],
      ['f64', { dtype: 'F64', shape: [3], data: Float64Array.of(Math.PI, -0, 1e300) }],
      ['f16', { dtype: 'F16', shape: [2], data: Uint16Array.of(0x3c00, 0x7e00) }],
      ['bf16', { dtype: 'BF16', shape: [1, 1, 2], data: Uint16Array.of(0x3f80, 0xff80) }],
      ['i64', { dtype: 'I64', shape: [], data: BigInt64Array.of(-(2n ** 62n)) }],
      ['i32', { dtype: 'I32', shape: [2], data: Int32Array.of(-1, 2 ** 31 - 1) }],
      ['i16', { dtype: 'I16', shape: [1], data: Int16Array.of(-300) }],
      ['i8', { dtype: 'I8', shape: [1], data: Int8Array.of(-3) }],
      ['u8', { dtype: 'U8', shape: [3], data: Uint8Array.of(0, 128, 255) }],
      ['bool', { dtype: 'BOOL', shape: [2], data: Uint8Array.of(1, 0) }],
      ['empty', { dtype: 'F32', shape: [0, 3], data: new Float32Array(0) }],
    ]);
    const file = writePth(sd);
    const back = readPth(file) as StateDict;
    expectSameStateDict(sd, back);
    // Written with the default 'archive/' prefix; 'alias' shares f32's storage record.
    const text = Buffer.from(file).toString('latin1');
    expect(text).toContain('archive/data.pkl');
    expect(text).toContain('archive/version');
    expect(text).not.toContain('archive/data/12');
    expect(writePth(sd, { prefix: 'my_model' })).not.toEqual(file);
    expect(readPth(writePth(sd, { prefix: 'my_model' }))).toBeInstanceOf(Map);
  });

  it.runIf(hasPython())(
    'writes what torch.load(weights_only=True) accepts: only its opcodes and globals (checked by CPython)',
    () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'repghost-pth-'));
      try {
        const sd = readPth(golden('repghostnet_repid_0_5x/model.pth')) as StateDict;
        const ck = {
          epoch: 3,
          arch: 'repghostnet_0_5x',
          state_dict: sd,
          state_dict_ema: sd,
          metric: 1.5,
          args: { lr: 0.1, model: 'x', betas: [0.9, 0.99] },
          optimizer: {
            state: new Map([[0, { momentum_buffer: sd.get('conv_stem.weight') }]]),
            param_groups: [{ lr: 0.1, params: [0] }],
          },
        };
        writeFileSync(path.join(dir, 'sd.pth'), writePth(sd));
        writeFileSync(path.join(dir, 'ck.pth'), writePth(ck));
        // A stand-in for torch's weights_only unpickler: CPython's Unpickler with the same
        // opcode and global allow-lists, and tensors rebuilt from the zip records.
        const script = `
import collections, json, pickle, pickletools, sys, zipfile
OPS = {'PROTO','STOP','MARK','EMPTY_DICT','EMPTY_LIST','EMPTY_TUPLE','TUPLE','TUPLE1','TUPLE2','TUPLE3',
       'SETITEM','SETITEMS',
       'APPEND','APPENDS','BINPUT','LONG_BINPUT','BINGET','LONG_BINGET','BININT','BININT1','BININT2','LONG1','BINFLOAT',
       'BINUNICODE','NONE','NEWTRUE','NEWFALSE','GLOBAL','REDUCE','BUILD','BINPERSID'}
SIZES = {'FloatStorage': 4, 'LongStorage': 8}
out = {}
for f in sys.argv[1:]:
    z = zipfile.ZipFile(f)
    assert z.testzip() is None
    names = z.namelist()
    assert (names[0] == 'archive/data.pkl' and 'archive/version' in names
            and z.read('archive/byteorder') == b'little'), names[:3]
    data = z.read('archive/data.pkl')
    ops = {op.name for op, arg, pos in pickletools.genops(data)}
    assert ops <= OPS, ops - OPS
    def rebuild(storage, offset, size, stride, requires_grad, hooks):
        kind, key, numel = storage
        assert offset == 0 and type(hooks) is collections.OrderedDict and requires_grad is False
        assert len(z.read('archive/data/' + key)) == numel * SIZES[kind]
        return ['tensor', kind, list(size), list(stride)]
    ALLOWED = {('collections', 'OrderedDict'): collections.OrderedDict, ('torch._utils', '_rebuild_tensor_v2'): rebuild,
               ('torch', 'FloatStorage'): 'FloatStorage', ('torch', 'LongStorage'): 'LongStorage'}
    class U(pickle.Unpickler):
        def find_class(self, module, name):
            return ALLOWED[(module, name)]
        def persistent_load(self, pid):
            tag, kind, key, location, numel = pid
            assert tag == 'storage' and location == 'cpu'
            return (kind, key, numel)
    import io
    obj = U(io.BytesIO(data)).load()
    def sd_keys(d):
        assert type(d) is collections.OrderedDict
        return [[k, v[2], v[1]] for k, v in d.items()]
    if 'state_dict' in obj:
        out['ck'] = {'top': list(obj.keys()), 'sd': sd_keys(obj['state_dict']),
                     'ema_same': sd_keys(obj['state_dict_ema']) == sd_keys(obj['state_dict']),
                     'args': obj['args'], 'metric': obj['metric'], 'epoch': obj['epoch'],
                     'opt_state_keys': list(obj['optimizer']['state'].keys())}
    else:
        out['sd'] = sd_keys(obj)
print(json.dumps(out))
`;
        const res = JSON.parse(
          execFileSync('python3', ['-c', script, path.join(dir, 'sd.pth'), path.join(dir, 'ck.pth')]).toString(),
        ) as {
          sd: [string, number[], string][];
          ck: {
            top: string[];
            sd: unknown[];
            ema_same: boolean;
            args: unknown;
            metric: number;
            epoch: number;
            opt_state_keys: unknown[];
          };
        };
        const expected = goldenKeys('repghostnet_repid_0_5x', 10).map(([k, s, d]) => [
          k,
          s,
          d === 'F32' ? 'FloatStorage' : 'LongStorage',
        ]);
        expect(res.sd).toEqual(expected);
        expect(res.ck.top).toEqual(['epoch', 'arch', 'state_dict', 'state_dict_ema', 'metric', 'args', 'optimizer']);
        expect(res.ck.sd).toEqual(expected);
        expect(res.ck.ema_same).toBe(true);
        expect(res.ck.args).toEqual({ lr: 0.1, model: 'x', betas: [0.9, 0.99] });
        expect(res.ck.metric).toBe(1.5);
        expect(res.ck.epoch).toBe(3);
        expect(res.ck.opt_state_keys).toEqual([0]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

describe('readPth on bad input', () => {
  const small = writePth(
    new Map<string, Tensor>([['w', { dtype: 'F32', shape: [4, 4], data: new Float32Array(16).fill(1) }]]),
  );

  it('refuses truncated files at several cut points (data, mid central directory, end records)', () => {
    const bytes = golden('repghostnet_1_0x/model.pth');
    for (const cut of [1000, 5_000_000, bytes.length - 20_000, bytes.length - 60, bytes.length - 1]) {
      rejects(() => readPth(bytes.subarray(0, cut)), ZipError, /truncated/);
    }
    for (let cut = 64; cut < small.length; cut += 97) {
      let err: unknown;
      try {
        readPth(small.subarray(0, cut));
      } catch (e) {
        err = e;
      }
      expect(err, `cut at ${cut}`).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(/truncated|corrupt/);
    }
  });

  it('refuses non-zip files and says what they look like', () => {
    const random = new Uint8Array(4096).map((_, i) => (i * 7919 + 13) & 0xff);
    rejects(() => readPth(random), PthError, /not a PyTorch checkpoint \(not a zip file\)/);
    rejects(
      () => readPth(Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13)),
      PthError,
      /looks like a PNG image/,
    );
    rejects(
      () => readPth(new TextEncoder().encode('<!DOCTYPE html>\n<html><head><title>404</title></head></html>')),
      PthError,
      /HTML/,
    );
    rejects(() => readPth(new Uint8Array(0)), PthError, /empty file/);
    rejects(() => readPth(golden('repghostnet_norep_0_5x/model.safetensors')), PthError, /this is a safetensors file/);
    rejects(
      () => readPth(writeZip([{ name: 'a/b.txt', data: new Uint8Array(3) }])),
      PthError,
      /no <folder>\/data\.pkl/,
    );
  });

  it('refuses legacy (pre-1.6) torch files with how to re-save them', () => {
    // torch.save(..., _use_new_zipfile_serialization=False) starts with the pickled magic number.
    const legacy = LEGACY_TORCH_FILE;
    rejects(() => readPth(legacy), PthError, /legacy .* torch\.save\(torch\.load\(f\), f2\)/);
    rejects(() => readPth(Uint8Array.of(0x80, 0x02, 0x7d, 0x2e)), PthError, /legacy/);
  });

  it('refuses hostile pickles inside a valid zip', () => {
    const wrap = (pkl: number[]): Uint8Array =>
      writeZip([
        { name: 'archive/data.pkl', data: Uint8Array.from(pkl) },
        { name: 'archive/version', data: new TextEncoder().encode('3\n') },
      ]);
    const os = [
      0x80,
      0x02,
      ...new TextEncoder().encode('cos\nsystem\n'),
      0x58,
      2,
      0,
      0,
      0,
      0x6c,
      0x73,
      0x85,
      0x52,
      0x2e,
    ];
    rejects(() => readPth(wrap(os)), PickleError, /global 'os\.system' is not allowed/);
    const eval_ = [
      0x80,
      0x02,
      ...new TextEncoder().encode('cbuiltins\neval\n'),
      0x58,
      1,
      0,
      0,
      0,
      0x31,
      0x85,
      0x52,
      0x2e,
    ];
    rejects(() => readPth(wrap(eval_)), PickleError, /'builtins\.eval' is not allowed/);
  });

  it('refuses a storage key missing from the zip and a tensor beyond its storage', () => {
    const zip = (pklFrom: Uint8Array, dropStorage: boolean, patch?: (p: Uint8Array) => void): Uint8Array => {
      // Re-pack `small`'s records, optionally dropping the storage or patching the pickle.
      const pkl = pklFrom.slice();
      patch?.(pkl);
      const entries = [
        { name: 'archive/data.pkl', data: pkl },
        { name: 'archive/version', data: new TextEncoder().encode('3\n') },
      ];
      if (!dropStorage) entries.push({ name: 'archive/data/0', data: new Uint8Array(64) });
      return writeZip(entries);
    };
    const pkl = extractPickle(small);
    rejects(() => readPth(zip(pkl, true)), PthError, /references storage '0' .* has no record archive\/data\/0/);
    // The pickle's tensor size (4, 4) at offset 0 fits 16 floats = 64 bytes; patch the offset BININT1 0 -> 1.
    const offsetAt = findOffsetOpcode(pkl);
    rejects(
      () =>
        readPth(
          zip(pkl, false, (p) => {
            p[offsetAt + 1] = 1;
          }),
        ),
      PickleError,
      /beyond storage 0 of 16 elements/,
    );
  });

  it('refuses TorchScript archives with what to do instead', () => {
    const ts = writeZip([
      { name: 'model/data.pkl', data: Uint8Array.of(0x80, 0x02, 0x4e, 0x2e) },
      { name: 'model/constants.pkl', data: Uint8Array.of(0x80, 0x02, 0x29, 0x2e) },
      { name: 'model/code/__torch__.py', data: new Uint8Array(1) },
    ]);
    rejects(() => readPth(ts), PthError, /TorchScript archive/);
  });
});

/** The data.pkl record of a file writePth made. */
function extractPickle(file: Uint8Array): Uint8Array {
  const text = Buffer.from(file).toString('latin1');
  const at = text.indexOf('archive/data.pkl');
  const v = new DataView(file.buffer, file.byteOffset);
  const start = at - 30;
  const size = v.getUint32(start + 22, true);
  const dataStart = start + 30 + v.getUint16(start + 26, true) + v.getUint16(start + 28, true);
  return file.slice(dataStart, dataStart + size);
}

/** Position of the storage-offset opcode (BININT1 0 right after BINPERSID) in a writePth pickle. */
function findOffsetOpcode(pkl: Uint8Array): number {
  const i = pkl.indexOf(0x51);
  expect(pkl[i + 1]).toBe(0x4b);
  expect(pkl[i + 2]).toBe(0);
  return i + 1;
}
