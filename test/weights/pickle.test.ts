import { describe, it, expect } from 'vitest';
import {
  PickleError,
  PyFloat,
  TorchDtype,
  isNamespace,
  isPlainDict,
  isTuple,
  pickleTorch,
  plainDict,
  pyAttributes,
  setPyAttributes,
  tuple,
  unpickle,
  type StorageLoader,
} from '../../src/weights/pickle.js';
import type { DType, Tensor } from '../../src/weights/tensor.js';

// ---- hand-assembled pickles -------------------------------------------------

type Part = number | number[] | Uint8Array | string;
/** Concatenates opcodes: numbers are bytes, strings are raw ASCII text. */
function P(...parts: Part[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p);
    else if (typeof p === 'string') for (const c of p) out.push(c.charCodeAt(0));
    else out.push(...p);
  }
  return Uint8Array.from(out);
}
const u32 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
const X = (s: string): number[] => {
  const b = new TextEncoder().encode(s);
  return [0x58, ...u32(b.length), ...b];
};
const G = (module: string, name: string): string => `c${module}\n${name}\n`;
const PROTO2 = [0x80, 0x02];
const MARK = 0x28,
  STOP = 0x2e,
  REDUCE = 0x52,
  BUILD = 0x62,
  TUPLE = 0x74,
  EMPTY_TUPLE = 0x29,
  EMPTY_DICT = 0x7d;
const EMPTY_LIST = 0x5d,
  APPEND = 0x61,
  BINPERSID = 0x51,
  NEWFALSE = 0x89,
  SETITEM = 0x73;
const K = (n: number): number[] => [0x4b, n];

function fromHex(h: string): Uint8Array {
  return Uint8Array.from(h.match(/../g)!.map((x) => parseInt(x, 16)));
}

/** Asserts `f` throws a PickleError whose message matches `re`. */
function rejects(f: () => unknown, re: RegExp): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected an error').toBeInstanceOf(PickleError);
  expect((err as Error).message).toMatch(re);
}

/** A storage loader over an in-memory key -> bytes table. */
function loader(table: Record<string, Uint8Array>): StorageLoader {
  return (key) => {
    const b = table[key];
    if (!b) throw new Error(`no storage ${key}`);
    return b;
  };
}

/**
 * `_rebuild_tensor_v2(persistent(('storage', torch.<cls>, key, 'cpu', numel)), offset, size, stride, False,
 * OrderedDict())`.
 */
function tensorPickle(
  cls: string,
  key: string,
  numel: number,
  offset: number,
  size: number[],
  stride: number[],
): Uint8Array {
  const ints = (xs: number[]): number[] => [MARK, ...xs.flatMap((x) => [0x4a, ...u32(x)]), TUPLE];
  return P(
    PROTO2,
    G('torch._utils', '_rebuild_tensor_v2'),
    MARK,
    MARK,
    X('storage'),
    G('torch', cls),
    X(key),
    X('cpu'),
    0x4a,
    u32(numel),
    TUPLE,
    BINPERSID,
    0x4a,
    u32(offset),
    ints(size),
    ints(stride),
    NEWFALSE,
    G('collections', 'OrderedDict'),
    EMPTY_TUPLE,
    REDUCE,
    TUPLE,
    REDUCE,
    STOP,
  );
}

// Python 3.11 `pickle.dumps(d, protocol=p)` of
// {'a': [1, 2.5, 'x', None, True, False], 'b': (1, 2), 't3': (1, 2, 3), 't4': (1, 2, 3, 4), 'big': 2**70,
//  'nbig': -2**70, 'neg': -5, 'i32': -100000, 'bytes': b'ab', 's': {1}, 'fs': frozenset([3]),
//  'e': 'é😀', 'f': float('inf'), 'nested': {'x': [[]]}}
const PY_PICKLES: Record<number, string> = {
  3:
    '80037d71002858010000006171015d7102284b0147400400000000000058010000007871034e88896558010000006271044b' +
    '014b028671055802000000743371064b014b024b03877107580200000074347108284b014b024b034b047471095803000000' +
    '626967710a8a0900000000000000004058040000006e626967710b8a090000000000000000c058030000006e6567710c4afb' +
    'ffffff5803000000693332710d4a6079feff58050000006279746573710e43026162710f5801000000737110636275696c74' +
    '696e730a7365740a71115d71124b0161857113527114580200000066737115636275696c74696e730a66726f7a656e736574' +
    '0a71165d71174b0361857118527119580100000065711a5806000000c3a9f09f9880711b580100000066711c477ff0000000' +
    '00000058060000006e6573746564711d7d711e68035d711f5d71206173752e',
  4:
    '800495cd000000000000007d94288c0161945d94284b014740040000000000008c0178944e8889658c0162944b014b028694' +
    '8c027433944b014b024b0387948c02743494284b014b024b034b0474948c03626967948a090000000000000000408c046e62' +
    '6967948a090000000000000000c08c036e6567944afbffffff8c03693332944a6079feff8c0562797465739443026162948c' +
    '0173948f94284b01908c02667394284b0391948c0165948c06c3a9f09f9880948c016694477ff00000000000008c066e6573' +
    '746564947d9468035d945d946173752e',
  5:
    '800595cd000000000000007d94288c0161945d94284b014740040000000000008c0178944e8889658c0162944b014b028694' +
    '8c027433944b014b024b0387948c02743494284b014b024b034b0474948c03626967948a090000000000000000408c046e62' +
    '6967948a090000000000000000c08c036e6567944afbffffff8c03693332944a6079feff8c0562797465739443026162948c' +
    '0173948f94284b01908c02667394284b0391948c0165948c06c3a9f09f9880948c016694477ff00000000000008c066e6573' +
    '746564947d9468035d945d946173752e',
};
// The same dict at protocol 2: bytes go through `_codecs.encode`, which is not allow-listed.
const PY_PROTO2_BYTES =
  '80027d71002858010000006171015d7102284b0147400400000000000058010000007871034e88896558010000006271044b' +
  '014b028671055802000000743371064b014b024b03877107580200000074347108284b014b024b034b047471095803000000' +
  '626967710a8a0900000000000000004058040000006e626967710b8a090000000000000000c058030000006e6567710c4afb' +
  'ffffff5803000000693332710d4a6079feff58050000006279746573710e635f636f646563730a656e636f64650a710f5802' +
  '0000006162711058060000006c6174696e3171118671125271135801000000737114635f5f6275696c74696e5f5f0a736574' +
  '0a71155d71164b0161857117527118580200000066737119635f5f6275696c74696e5f5f0a66726f7a656e7365740a711a5d' +
  '711b4b036185711c52711d580100000065711e5806000000c3a9f09f9880711f5801000000667120477ff000000000000058' +
  '060000006e657374656471217d712268035d71235d71246173752e';

describe('unpickle: plain data from CPython', () => {
  for (const proto of [3, 4, 5]) {
    it(`decodes a protocol ${proto} pickle`, () => {
      const d = unpickle(fromHex(PY_PICKLES[proto]!)) as Map<string, unknown>;
      expect(d).toBeInstanceOf(Map);
      expect(isPlainDict(d)).toBe(true);
      expect([...d.keys()]).toEqual([
        'a',
        'b',
        't3',
        't4',
        'big',
        'nbig',
        'neg',
        'i32',
        'bytes',
        's',
        'fs',
        'e',
        'f',
        'nested',
      ]);
      expect(d.get('a')).toEqual([1, 2.5, 'x', null, true, false]);
      expect(isTuple(d.get('a'))).toBe(false);
      expect(d.get('b')).toEqual([1, 2]);
      expect(isTuple(d.get('b'))).toBe(true);
      expect(d.get('t3')).toEqual([1, 2, 3]);
      expect(d.get('t4')).toEqual([1, 2, 3, 4]);
      expect(d.get('big')).toBe(2n ** 70n); // beyond 2^53: bigint
      expect(d.get('nbig')).toBe(-(2n ** 70n));
      expect(d.get('neg')).toBe(-5);
      expect(d.get('i32')).toBe(-100000);
      expect(d.get('bytes')).toEqual(Uint8Array.of(0x61, 0x62));
      expect(d.get('s')).toEqual(new Set([1]));
      expect(d.get('fs')).toEqual(new Set([3]));
      expect(d.get('e')).toBe('é😀');
      expect(d.get('f')).toBe(Infinity);
      expect((d.get('nested') as Map<string, unknown>).get('x')).toEqual([[]]);
    });
  }

  it('names _codecs.encode when protocol 2 bytes appear (not allow-listed)', () => {
    rejects(() => unpickle(fromHex(PY_PROTO2_BYTES)), /global '_codecs\.encode' is not allowed/);
  });

  it('decodes an argparse.Namespace (NEWOBJ + BUILD) into a plain object', () => {
    const p = P(
      PROTO2,
      G('argparse', 'Namespace'),
      EMPTY_TUPLE,
      0x81,
      EMPTY_DICT,
      X('lr'),
      0x47,
      [0x3f, 0xe3, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33],
      SETITEM,
      X('__proto__'),
      K(1),
      SETITEM,
      BUILD,
      STOP,
    );
    const ns = unpickle(p) as Record<string, unknown>;
    expect(isNamespace(ns)).toBe(true);
    expect(ns.lr).toBe(0.6);
    // A hostile attribute name stays an attribute; it never touches a prototype.
    expect(Object.getOwnPropertyDescriptor(ns, '__proto__')?.value).toBe(1);
    expect(({} as Record<string, unknown>).lr).toBeUndefined();
  });

  it('keeps OrderedDict attributes set by BUILD (torch _metadata) aside from the items', () => {
    const p = P(
      PROTO2,
      G('collections', 'OrderedDict'),
      EMPTY_TUPLE,
      REDUCE,
      X('k'),
      K(7),
      SETITEM,
      EMPTY_DICT,
      X('_metadata'),
      EMPTY_DICT,
      SETITEM,
      BUILD,
      STOP,
    );
    const m = unpickle(p) as Map<string, unknown>;
    expect([...m]).toEqual([['k', 7]]);
    expect([...pyAttributes(m)!.keys()]).toEqual(['_metadata']);
  });

  it('resolves torch dtypes and torch.Size', () => {
    const p = P(
      PROTO2,
      MARK,
      G('torch', 'float32'),
      G('torch', 'Size'),
      MARK,
      K(2),
      K(3),
      TUPLE,
      0x85,
      REDUCE,
      TUPLE,
      STOP,
    );
    const [dt, size] = unpickle(p) as [TorchDtype, number[]];
    expect(dt).toBeInstanceOf(TorchDtype);
    expect(dt.dtype).toBe('F32');
    expect(size).toEqual([2, 3]);
  });
});

describe('unpickle: tensors', () => {
  const f32bytes = (xs: number[]): Uint8Array => new Uint8Array(Float32Array.from(xs).buffer);

  it('rebuilds a contiguous tensor at a storage offset', () => {
    const t = unpickle(tensorPickle('FloatStorage', '0', 6, 2, [2, 2], [2, 1]), {
      loadStorage: loader({ 0: f32bytes([0, 1, 2, 3, 4, 5]) }),
    }) as Tensor;
    expect(t.dtype).toBe('F32');
    expect(t.shape).toEqual([2, 2]);
    expect([...(t.data as Float32Array)]).toEqual([2, 3, 4, 5]);
  });

  it('copies a non-contiguous (transposed) tensor with its strides', () => {
    const t = unpickle(tensorPickle('FloatStorage', '0', 6, 0, [3, 2], [1, 3]), {
      loadStorage: loader({ 0: f32bytes([0, 1, 2, 3, 4, 5]) }),
    }) as Tensor;
    expect([...(t.data as Float32Array)]).toEqual([0, 3, 1, 4, 2, 5]);
  });

  it('maps every storage class to its dtype', () => {
    const cases: [string, DType, Uint8Array][] = [
      ['DoubleStorage', 'F64', new Uint8Array(Float64Array.of(1.5, -2).buffer)],
      ['HalfStorage', 'F16', new Uint8Array(Uint16Array.of(0x3c00, 0xc000).buffer)],
      ['BFloat16Storage', 'BF16', new Uint8Array(Uint16Array.of(0x3f80, 0x4000).buffer)],
      ['LongStorage', 'I64', new Uint8Array(BigInt64Array.of(-1n, 2n ** 40n).buffer)],
      ['IntStorage', 'I32', new Uint8Array(Int32Array.of(-7, 9).buffer)],
      ['ShortStorage', 'I16', new Uint8Array(Int16Array.of(-7, 9).buffer)],
      ['CharStorage', 'I8', new Uint8Array(Int8Array.of(-7, 9).buffer)],
      ['ByteStorage', 'U8', Uint8Array.of(200, 9)],
      ['BoolStorage', 'BOOL', Uint8Array.of(1, 0)],
    ];
    for (const [cls, dtype, bytes] of cases) {
      const t = unpickle(tensorPickle(cls, '0', 2, 0, [2], [1]), { loadStorage: loader({ 0: bytes }) }) as Tensor;
      expect(t.dtype).toBe(dtype);
      expect(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)).toEqual(bytes);
    }
  });

  it('shares one storage between tensors (views at different offsets)', () => {
    const one = (offset: number, size: number): Part[] => [
      G('torch._utils', '_rebuild_tensor_v2'),
      MARK,
      MARK,
      X('storage'),
      G('torch', 'FloatStorage'),
      X('0'),
      X('cpu'),
      K(6),
      TUPLE,
      BINPERSID,
      K(offset),
      MARK,
      K(size),
      TUPLE,
      MARK,
      K(1),
      TUPLE,
      NEWFALSE,
      G('collections', 'OrderedDict'),
      EMPTY_TUPLE,
      REDUCE,
      TUPLE,
      REDUCE,
    ];
    let calls = 0;
    const p = P(PROTO2, MARK, ...one(0, 2), ...one(2, 4), TUPLE, STOP);
    const [a, b] = unpickle(p, {
      loadStorage: (k) => {
        calls++;
        return loader({ 0: f32bytes([0, 1, 2, 3, 4, 5]) })(k, 'F32', 6, 'cpu');
      },
    }) as Tensor[];
    expect(calls).toBe(1);
    expect([...(a!.data as Float32Array)]).toEqual([0, 1]);
    expect([...(b!.data as Float32Array)]).toEqual([2, 3, 4, 5]);
  });

  it('refuses a tensor reaching beyond its storage', () => {
    rejects(
      () =>
        unpickle(tensorPickle('FloatStorage', '0', 6, 3, [2, 2], [2, 1]), {
          loadStorage: loader({ 0: f32bytes([0, 1, 2, 3, 4, 5]) }),
        }),
      /reaches element 6, beyond storage 0 of 6 elements/,
    );
    rejects(
      () =>
        unpickle(tensorPickle('FloatStorage', '0', 6, 0, [4, 2], [1, 4]), {
          loadStorage: loader({ 0: f32bytes([0, 1, 2, 3, 4, 5]) }),
        }),
      /beyond storage/,
    );
  });

  it('refuses a storage record shorter than its declared element count', () => {
    rejects(
      () =>
        unpickle(tensorPickle('FloatStorage', '0', 100, 0, [2], [1]), { loadStorage: loader({ 0: f32bytes([0, 1]) }) }),
      /storage 0 holds 8 bytes, but 100 F32 elements need 400/,
    );
  });

  it('refuses storages without a loader and non-storage persistent ids', () => {
    rejects(() => unpickle(tensorPickle('FloatStorage', '0', 2, 0, [2], [1])), /no storage loader/);
    rejects(
      () => unpickle(P(PROTO2, X('evil'), BINPERSID, STOP)),
      /persistent id str is not a torch storage reference/,
    );
  });

  it('caps the bytes tensors may materialize (one storage re-used many times)', () => {
    const p = tensorPickle('FloatStorage', '0', 1000, 0, [1000], [1]);
    rejects(() => unpickle(p, { loadStorage: loader({ 0: new Uint8Array(4000) }), maxTensorBytes: 100 }), /budget/);
  });
});

describe('unpickle: hostile input', () => {
  it('refuses GLOBAL os.system + REDUCE before calling anything', () => {
    rejects(
      () => unpickle(P(PROTO2, G('os', 'system'), X('echo pwned'), 0x85, REDUCE, STOP)),
      new RegExp(
        /global 'os\.system' is not allowed \(repghost loads only tensors and plain data; /.source +
          /re-save the file with torch\.save\(model\.state_dict\(\)\)\)/.source,
      ),
    );
  });

  it('refuses builtins.eval and builtins.exec (GLOBAL and STACK_GLOBAL)', () => {
    rejects(
      () => unpickle(P(PROTO2, G('builtins', 'eval'), X('1+1'), 0x85, REDUCE, STOP)),
      /'builtins\.eval' is not allowed/,
    );
    rejects(
      () => unpickle(P([0x80, 0x04], 0x8c, 8, 'builtins', 0x8c, 4, 'exec', 0x93, X('x'), 0x85, REDUCE, STOP)),
      /'builtins\.exec' is not allowed/,
    );
    rejects(() => unpickle(P(PROTO2, G('torch', 'load'), STOP)), /'torch\.load' is not allowed/);
  });

  it('refuses INST and OBJ', () => {
    rejects(() => unpickle(P(MARK, 'ios\nsystem\n', STOP)), /INST is not allowed/);
    rejects(() => unpickle(P(PROTO2, MARK, G('collections', 'OrderedDict'), 0x6f, STOP)), /OBJ is not allowed/);
  });

  it('refuses REDUCE, NEWOBJ and BUILD on anything not allow-listed', () => {
    rejects(() => unpickle(P(PROTO2, X('f'), EMPTY_TUPLE, REDUCE, STOP)), /REDUCE on str is not allowed/);
    rejects(
      () => unpickle(P(PROTO2, G('torch', 'FloatStorage'), EMPTY_TUPLE, REDUCE, STOP)),
      /REDUCE on global 'torch\.FloatStorage' is not allowed/,
    );
    rejects(
      () => unpickle(P(PROTO2, G('torch', 'Size'), EMPTY_TUPLE, 0x81, STOP)),
      /creating an object of global 'torch\.Size' is not allowed/,
    );
    rejects(() => unpickle(P(PROTO2, EMPTY_DICT, EMPTY_DICT, BUILD, STOP)), /BUILD on dict is not allowed/);
    rejects(() => unpickle(P(PROTO2, EMPTY_LIST, EMPTY_DICT, BUILD, STOP)), /BUILD on list is not allowed/);
    const withBuild = tensorPickle('FloatStorage', '0', 2, 0, [2], [1]);
    const p = P(withBuild.subarray(0, withBuild.length - 1), EMPTY_DICT, BUILD, STOP);
    rejects(() => unpickle(p, { loadStorage: loader({ 0: new Uint8Array(8) }) }), /BUILD on tensor is not allowed/);
  });

  it('refuses deep nesting: 100k nested lists and 100k MARKs', () => {
    const n = 100_000;
    // [[[...]]]: n EMPTY_LISTs, then n-1 APPENDs nest each list into the one below it.
    const lists = new Uint8Array(2 + n + (n - 1) + 1);
    lists.set(PROTO2);
    lists.fill(EMPTY_LIST, 2, 2 + n);
    lists.fill(APPEND, 2 + n, 2 + n + n - 1);
    lists[lists.length - 1] = STOP;
    rejects(() => unpickle(lists), /nested deeper than 256 levels/);
    const marks = new Uint8Array(2 + n + 1).fill(MARK);
    marks.set(PROTO2);
    marks[marks.length - 1] = STOP;
    rejects(() => unpickle(marks), /MARKs nested deeper than 256/);
  });

  it('handles a TUPLE of 200k items (no argument-spread limits)', () => {
    const n = 200_000;
    const p = new Uint8Array(2 + 1 + n + 2).fill(0x4e); // NONEs
    p.set(PROTO2);
    p[2] = MARK;
    p[p.length - 2] = TUPLE;
    p[p.length - 1] = STOP;
    const t = unpickle(p) as unknown[];
    expect(t.length).toBe(n);
    expect(isTuple(t)).toBe(true);
  });

  it('refuses reference cycles', () => {
    // l = []; l.append(l)
    rejects(() => unpickle(P(PROTO2, EMPTY_LIST, 0x71, 0, 0x68, 0, APPEND, STOP)), /reference cycle/);
  });

  it('accepts shared (acyclic) references without revisiting them', () => {
    // t = [[]]; [t, t, ..., t] 1000 times via memo: linear work
    const body: Part[] = [PROTO2, EMPTY_LIST, 0x71, 0, EMPTY_LIST, APPEND, 0x30, EMPTY_LIST, MARK];
    for (let i = 0; i < 1000; i++) body.push(0x68, 0);
    body.push(0x65, STOP);
    const r = unpickle(P(...body)) as unknown[][];
    expect(r.length).toBe(1000);
    expect(r[0]).toBe(r[999]);
  });

  it('refuses huge memo indices without allocating', () => {
    rejects(() => unpickle(P(PROTO2, 0x6a, u32(0xffffffff), STOP)), /memo index 4294967295 was never stored/);
    rejects(() => unpickle(P(PROTO2, 0x4e, 0x72, u32(2 ** 31), STOP)), /memo index 2147483648 out of range/);
    rejects(() => unpickle(P(PROTO2, 0x68, 5, STOP)), /memo index 5 was never stored/);
  });

  it('refuses lengths beyond the data', () => {
    rejects(
      () => unpickle(P(PROTO2, 0x58, u32(0xfffffff0), 'abc', STOP)),
      /needs 4294967280 more bytes but only 4 remain/,
    );
    rejects(
      () => unpickle(P([0x80, 0x04], 0x8d, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], STOP)),
      /more bytes/,
    );
    rejects(
      () => unpickle(P([0x80, 0x04], 0x95, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], STOP)),
      /frame of .* bytes exceeds/,
    );
    rejects(() => unpickle(P(PROTO2, 0x42, u32(100), STOP)), /more bytes/);
    rejects(() => unpickle(P(PROTO2, 0x8b, u32(100000), STOP)), /integer of 100000 bytes is too large/);
  });

  it('refuses truncated and malformed streams', () => {
    rejects(() => unpickle(P(PROTO2, EMPTY_DICT)), /without STOP: truncated/);
    rejects(() => unpickle(new Uint8Array(0)), /without STOP/);
    rejects(() => unpickle(P(PROTO2, APPEND, STOP)), /stack underflow/);
    rejects(() => unpickle(P(PROTO2, EMPTY_LIST, 0x65, STOP)), /no MARK/);
    rejects(() => unpickle(P([0x80, 0x09], STOP)), /unsupported pickle protocol 9/);
    rejects(() => unpickle(P(PROTO2, 0x58, u32(2), [0xff, 0xfe], STOP)), /not valid UTF-8/);
    rejects(() => unpickle(P(PROTO2, 'P1\n', STOP)), /unsupported opcode PERSID/);
    rejects(() => unpickle(P(PROTO2, EMPTY_TUPLE, K(1), APPEND, STOP)), /APPEND on tuple, not a list/);
    rejects(() => unpickle(P(PROTO2, EMPTY_LIST, K(1), K(2), SETITEM, STOP)), /SETITEM on list, not a dict/);
    rejects(() => unpickle(P(PROTO2, 'cos', STOP)), /newline-terminated/);
  });
});

describe('pickleTorch (writer) round trip', () => {
  const tables = (storages: { key: string; bytes: Uint8Array }[]): StorageLoader =>
    loader(Object.fromEntries(storages.map((s) => [s.key, s.bytes.slice()])));

  it('round-trips a general value tree exactly', () => {
    const sd = new Map<string, Tensor>([
      ['w', { dtype: 'F32', shape: [2, 3], data: Float32Array.of(1, 2, 3, 4, 5, 6.5) }],
      ['n', { dtype: 'I64', shape: [], data: BigInt64Array.of(7n) }],
      ['e', { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) }],
    ]);
    setPyAttributes(sd, new Map([['_metadata', new Map([['', plainDict(new Map([['version', 1]]))]])]]));
    const value = {
      epoch: 3,
      arch: 'repghost.repghostnet_0_5x',
      state_dict: sd,
      metric: 66.948,
      lr: new PyFloat(1),
      big: 2n ** 80n,
      neg: -(2 ** 40),
      flags: [true, false, null],
      shape: tuple(1, 2, 3, 4, 5),
      skipped: undefined,
      optimizer: plainDict(
        new Map<unknown, unknown>([
          ['state', new Map([[0, new Map([['momentum_buffer', sd.get('w')]])]])],
          ['param_groups', [{ params: [0] }]],
        ]),
      ),
    };
    const { pickle, storages } = pickleTorch(value);
    expect(storages.map((s) => s.key)).toEqual(['0', '1', '2']); // 'w' stored once though referenced twice
    const back = unpickle(pickle, { loadStorage: tables(storages) }) as Map<string, unknown>;
    expect(isPlainDict(back)).toBe(true);
    expect([...back.keys()]).toEqual([
      'epoch',
      'arch',
      'state_dict',
      'metric',
      'lr',
      'big',
      'neg',
      'flags',
      'shape',
      'optimizer',
    ]);
    expect(back.get('lr')).toBe(1);
    expect(back.get('big')).toBe(2n ** 80n);
    expect(back.get('neg')).toBe(-(2 ** 40));
    expect(isTuple(back.get('shape'))).toBe(true);
    const sd2 = back.get('state_dict') as Map<string, Tensor>;
    expect(isPlainDict(sd2)).toBe(false); // OrderedDict
    expect([...sd2.keys()]).toEqual(['w', 'n', 'e']);
    for (const [k, t] of sd) expect(sd2.get(k)).toEqual(t);
    expect([...pyAttributes(sd2 as Map<unknown, unknown>)!.keys()]).toEqual(['_metadata']);
    const opt = back.get('optimizer') as Map<string, unknown>;
    const mb = (opt.get('state') as Map<number, Map<string, Tensor>>).get(0)!.get('momentum_buffer')!;
    expect(mb).toBe(sd2.get('w')); // memoized: the same object, as in Python
    expect((opt.get('param_groups') as Map<string, unknown>[])[0]!.get('params')).toEqual([0]);
  });

  it('writes ints at their smallest opcode and floats as BINFLOAT', () => {
    for (const v of [
      0,
      255,
      256,
      65535,
      65536,
      -1,
      2 ** 31 - 1,
      -(2 ** 31),
      2 ** 31,
      2 ** 53 - 1,
      -(2 ** 53 - 1),
      2n ** 63n,
      -(2n ** 63n),
      1.5,
      -0,
      NaN,
    ]) {
      const back = unpickle(pickleTorch(v).pickle);
      if (typeof v === 'bigint') expect(back).toBe(v);
      else expect(Object.is(back, v)).toBe(true);
    }
  });

  it('writes large lists and dicts in batches', () => {
    const big = Array.from({ length: 2500 }, (_, i) => i);
    const m = new Map(big.map((i) => [`k${i}`, i]));
    const back = unpickle(pickleTorch([big, m]).pickle) as [number[], Map<string, number>];
    expect(back[0]).toEqual(big);
    expect([...back[1]]).toEqual([...m]);
  });

  it('refuses values it cannot represent', () => {
    expect(() => pickleTorch(new Set([1]))).toThrow(/cannot write a Set/);
    expect(() => pickleTorch(new Float32Array(2))).toThrow(/wrap it in a Tensor/);
    expect(() => pickleTorch({ f: () => 1 })).toThrow(/cannot write a function/);
    expect(() => pickleTorch({ dtype: 'F32', shape: [3], data: new Float32Array(2) })).toThrow(
      /shape \[3\] has 2 elements/,
    );
  });
});
