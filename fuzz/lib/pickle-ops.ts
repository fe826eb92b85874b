/**
 * Pickle-aware pieces for the fuzzer: a disassembler that finds every opcode and its
 * argument (so mutations can hit an opcode, a length prefix, an int argument or a memo
 * index exactly), encoders for building opcodes, and a dictionary of hostile or odd
 * snippets (code-execution globals, malformed STACK_GLOBAL / NEWOBJ_EX / PERSID, memo
 * abuse, deep nesting, shared sub-structures, impossible lengths) that mutations splice
 * in at opcode boundaries, as AFL-style dictionaries do.
 */
import { concat } from './bytes.js';

/** How an opcode's argument is encoded. */
export type ArgKind =
  | { kind: 'none' }
  | { kind: 'fixed'; width: 1 | 2 | 4 | 8 }
  | { kind: 'len'; width: 1 | 4 | 8 } // length prefix, then that many bytes
  | { kind: 'lines'; count: 1 | 2 }; // newline-terminated text arguments

/** Opcode table of pickle protocols 0-5: byte -> [name, argument]. */
export const OPCODES = new Map<number, [string, ArgKind]>();
{
  const none: ArgKind = { kind: 'none' };
  const fixed = (width: 1 | 2 | 4 | 8): ArgKind => ({ kind: 'fixed', width });
  const len = (width: 1 | 4 | 8): ArgKind => ({ kind: 'len', width });
  const lines = (count: 1 | 2): ArgKind => ({ kind: 'lines', count });
  const table: [string, string, ArgKind][] = [
    ['(', 'MARK', none],
    ['.', 'STOP', none],
    ['0', 'POP', none],
    ['1', 'POP_MARK', none],
    ['2', 'DUP', none],
    ['F', 'FLOAT', lines(1)],
    ['I', 'INT', lines(1)],
    ['J', 'BININT', fixed(4)],
    ['K', 'BININT1', fixed(1)],
    ['L', 'LONG', lines(1)],
    ['M', 'BININT2', fixed(2)],
    ['N', 'NONE', none],
    ['P', 'PERSID', lines(1)],
    ['Q', 'BINPERSID', none],
    ['R', 'REDUCE', none],
    ['S', 'STRING', lines(1)],
    ['T', 'BINSTRING', len(4)],
    ['U', 'SHORT_BINSTRING', len(1)],
    ['V', 'UNICODE', lines(1)],
    ['X', 'BINUNICODE', len(4)],
    ['a', 'APPEND', none],
    ['b', 'BUILD', none],
    ['c', 'GLOBAL', lines(2)],
    ['d', 'DICT', none],
    ['}', 'EMPTY_DICT', none],
    ['e', 'APPENDS', none],
    ['g', 'GET', lines(1)],
    ['h', 'BINGET', fixed(1)],
    ['i', 'INST', lines(2)],
    ['j', 'LONG_BINGET', fixed(4)],
    ['l', 'LIST', none],
    [']', 'EMPTY_LIST', none],
    ['o', 'OBJ', none],
    ['p', 'PUT', lines(1)],
    ['q', 'BINPUT', fixed(1)],
    ['r', 'LONG_BINPUT', fixed(4)],
    ['s', 'SETITEM', none],
    ['t', 'TUPLE', none],
    [')', 'EMPTY_TUPLE', none],
    ['u', 'SETITEMS', none],
    ['G', 'BINFLOAT', fixed(8)],
    ['B', 'BINBYTES', len(4)],
    ['C', 'SHORT_BINBYTES', len(1)],
    ['\x80', 'PROTO', fixed(1)],
    ['\x81', 'NEWOBJ', none],
    ['\x82', 'EXT1', fixed(1)],
    ['\x83', 'EXT2', fixed(2)],
    ['\x84', 'EXT4', fixed(4)],
    ['\x85', 'TUPLE1', none],
    ['\x86', 'TUPLE2', none],
    ['\x87', 'TUPLE3', none],
    ['\x88', 'NEWTRUE', none],
    ['\x89', 'NEWFALSE', none],
    ['\x8a', 'LONG1', len(1)],
    ['\x8b', 'LONG4', len(4)],
    ['\x8c', 'SHORT_BINUNICODE', len(1)],
    ['\x8d', 'BINUNICODE8', len(8)],
    ['\x8e', 'BINBYTES8', len(8)],
    ['\x8f', 'EMPTY_SET', none],
    ['\x90', 'ADDITEMS', none],
    ['\x91', 'FROZENSET', none],
    ['\x92', 'NEWOBJ_EX', none],
    ['\x93', 'STACK_GLOBAL', none],
    ['\x94', 'MEMOIZE', none],
    ['\x95', 'FRAME', fixed(8)],
    ['\x96', 'BYTEARRAY8', len(8)],
    ['\x97', 'NEXT_BUFFER', none],
    ['\x98', 'READONLY_BUFFER', none],
  ];
  for (const [ch, name, arg] of table) OPCODES.set(ch.charCodeAt(0), [name, arg]);
}

/** Every opcode byte, for opcode-replacement mutations. */
export const OPCODE_BYTES = [...OPCODES.keys()];

/** One decoded opcode: where it starts and ends and where its argument is. */
export interface Op {
  pos: number;
  code: number;
  name: string;
  /** Offset just past the opcode and its argument. */
  end: number;
  arg: ArgKind;
  /** Start of the argument (the length prefix for 'len' arguments). */
  argAt: number;
  /** For 'len' arguments: where the payload starts and how long it is. */
  dataAt?: number;
  dataLen?: number;
}

/**
 * Disassembles a pickle up to STOP (or the first unknown or truncated opcode). Reads
 * only; a seed's pickle disassembles completely.
 */
export function disassemble(p: Uint8Array): Op[] {
  const ops: Op[] = [];
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  let pos = 0;
  while (pos < p.length) {
    const code = p[pos]!;
    const entry = OPCODES.get(code);
    if (!entry) break;
    const [name, arg] = entry;
    const argAt = pos + 1;
    let end = argAt;
    let dataAt: number | undefined;
    let dataLen: number | undefined;
    if (arg.kind === 'fixed') end += arg.width;
    else if (arg.kind === 'len') {
      if (argAt + arg.width > p.length) break;
      const n =
        arg.width === 1 ? p[argAt]! : arg.width === 4 ? v.getUint32(argAt, true) : Number(v.getBigUint64(argAt, true));
      dataAt = argAt + arg.width;
      dataLen = n;
      end = dataAt + n;
    } else if (arg.kind === 'lines') {
      for (let i = 0; i < arg.count; i++) {
        const nl = p.indexOf(0x0a, end);
        if (nl < 0) {
          end = p.length + 1;
          break;
        }
        end = nl + 1;
      }
    }
    if (end > p.length) break;
    ops.push({ pos, code, name, end, arg, argAt, ...(dataAt !== undefined ? { dataAt, dataLen } : {}) });
    pos = end;
    if (name === 'STOP') break;
  }
  return ops;
}

// ---------------------------------------------------------------------------
// Encoders

const enc = new TextEncoder();

/** Bytes from opcode parts: numbers are bytes, strings are raw latin-1 text. */
export function bytesOf(...parts: (number | number[] | string | Uint8Array)[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p & 0xff);
    else if (typeof p === 'string') for (const c of p) out.push(c.charCodeAt(0) & 0xff);
    else for (const x of p) out.push(x);
  }
  return Uint8Array.from(out);
}

const le = (v: bigint, width: number): number[] =>
  Array.from({ length: width }, (_, i) => Number((BigInt.asUintN(8 * width, v) >> BigInt(8 * i)) & 0xffn));

/** BINUNICODE of a string. */
export function str(s: string): Uint8Array {
  const b = enc.encode(s);
  return concat(bytesOf(0x58, le(BigInt(b.length), 4)), b);
}

/** GLOBAL module.name (protocol 0-2 form). */
export function glob(module: string, name: string): Uint8Array {
  return bytesOf(0x63, `${module}\n${name}\n`);
}

/** The shortest int opcode for a value (BININT1/BININT2/BININT, else LONG1). */
export function int(v: bigint): Uint8Array {
  if (v >= 0n && v < 256n) return bytesOf(0x4b, Number(v));
  if (v >= 0n && v < 65536n) return bytesOf(0x4d, le(v, 2));
  if (v >= -(2n ** 31n) && v < 2n ** 31n) return bytesOf(0x4a, le(v, 4));
  const bytes: number[] = [];
  let x = v;
  for (;;) {
    const byte = Number(x & 0xffn);
    bytes.push(byte);
    x >>= 8n;
    if ((x === 0n && !(byte & 0x80)) || (x === -1n && byte & 0x80)) break;
  }
  return bytesOf(0x8a, bytes.length, bytes);
}

/** A tuple of ints: MARK ints... TUPLE. */
export function intTuple(xs: bigint[]): Uint8Array {
  return concat(bytesOf(0x28), ...xs.map(int), bytesOf(0x74));
}

/**
 * `_rebuild_tensor_v2(persistent(('storage', torch.<cls>, key, 'cpu', numel)), offset, size, stride, False,
 * OrderedDict())`: torch's tensor encoding, with every number under the caller's control.
 */
export function tensorCall(
  cls: string,
  key: string,
  numel: bigint,
  offset: bigint,
  size: bigint[],
  stride: bigint[],
): Uint8Array {
  return concat(
    glob('torch._utils', '_rebuild_tensor_v2'),
    bytesOf(0x28),
    bytesOf(0x28),
    str('storage'),
    glob('torch', cls),
    str(key),
    str('cpu'),
    int(numel),
    bytesOf(0x74, 0x51),
    int(offset),
    intTuple(size),
    intTuple(stride),
    bytesOf(0x89),
    glob('collections', 'OrderedDict'),
    bytesOf(0x29, 0x52),
    bytesOf(0x74, 0x52),
  );
}

// ---------------------------------------------------------------------------
// Dictionary

/** Globals that must never resolve: code execution, imports, attribute access, nested loading. */
export const HOSTILE_GLOBALS: [string, string][] = [
  ['os', 'system'],
  ['posix', 'system'],
  ['nt', 'system'],
  ['subprocess', 'Popen'],
  ['subprocess', 'check_output'],
  ['builtins', 'eval'],
  ['builtins', 'exec'],
  ['builtins', 'getattr'],
  ['builtins', '__import__'],
  ['builtins', 'open'],
  ['__builtin__', 'getattr'],
  ['__builtin__', 'eval'],
  ['torch', 'load'],
  ['torch.serialization', 'load'],
  ['torch.jit', 'load'],
  ['pickle', 'loads'],
  ['_pickle', 'loads'],
  ['numpy.core.multiarray', '_reconstruct'],
  ['numpy', 'load'],
  ['_codecs', 'encode'],
  ['sys', 'modules'],
  ['shutil', 'rmtree'],
  ['webbrowser', 'open'],
  ['runpy', '_run_code'],
  ['operator', 'attrgetter'],
  ['functools', 'partial'],
  ['torch._utils', '_rebuild_tensor_v2\nos'],
];

/** Allow-listed globals: swapping one for another probes type confusion among them. */
export const ALLOWED_GLOBALS: [string, string][] = [
  ['torch._utils', '_rebuild_tensor_v2'],
  ['torch._utils', '_rebuild_tensor'],
  ['torch._utils', '_rebuild_parameter'],
  ['torch._utils', '_rebuild_parameter_with_state'],
  ['collections', 'OrderedDict'],
  ['argparse', 'Namespace'],
  ['torch', 'Size'],
  ['builtins', 'set'],
  ['builtins', 'frozenset'],
  ['torch', 'FloatStorage'],
  ['torch', 'DoubleStorage'],
  ['torch', 'HalfStorage'],
  ['torch', 'BFloat16Storage'],
  ['torch', 'LongStorage'],
  ['torch', 'IntStorage'],
  ['torch', 'ByteStorage'],
  ['torch', 'BoolStorage'],
  ['torch', 'UntypedStorage'],
  ['torch', 'float32'],
  ['torch', 'int64'],
];

/** Strings that mean something to the checkpoint layers above the unpickler. */
export const STRINGS = [
  'storage',
  'cpu',
  'cuda:0',
  '0',
  '1',
  '99999',
  '',
  'state_dict',
  'state_dict_ema',
  'model',
  'model_ema',
  'arch',
  'epoch',
  'metric',
  'args',
  'optimizer',
  'repghost.repghostnet_0_5x',
  'repghostnet_1_0x',
  'timm.resnet50',
  'module.',
  'weight',
  'classifier.weight',
  'conv_stem.weight',
  '__proto__',
  'constructor',
  'prototype',
  '_metadata',
  'x'.repeat(70000),
  '\u0000',
  'é😀',
];

/** A list nested as a DAG: l0 = [], l(i+1) = [l(i), l(i)]; tiny to encode, 2^depth leaves if walked as a tree. */
function dagList(depth: number, memo: number): Uint8Array {
  const parts: Uint8Array[] = [bytesOf(0x5d, 0x72, le(BigInt(memo), 4))];
  for (let i = 0; i < depth; i++)
    parts.push(
      bytesOf(0x30, 0x28, 0x6a, le(BigInt(memo), 4), 0x6a, le(BigInt(memo), 4), 0x6c, 0x72, le(BigInt(memo), 4)),
    );
  return concat(...parts);
}

/** `k` REDUCEs of builtins.set over one memoized list of `m` items: linear-looking, quadratic work. */
function repeatedReduce(m: number, k: number): Uint8Array {
  const parts: Uint8Array[] = [
    glob('builtins', 'set'),
    bytesOf(0x72, le(900001n, 4), 0x30, 0x5d, 0x28),
    new Uint8Array(m).fill(0x4e),
    bytesOf(0x65, 0x72, le(900002n, 4), 0x30),
  ];
  const one = bytesOf(0x6a, le(900001n, 4), 0x6a, le(900002n, 4), 0x85, 0x52, 0x30);
  for (let i = 0; i < k; i++) parts.push(one);
  return concat(...parts);
}

/**
 * Hostile and odd opcode sequences. Most are complete expressions (push one value); some
 * are deliberately broken (stack underflow, impossible lengths). Built once.
 */
export const SNIPPETS: { name: string; bytes: Uint8Array }[] = [
  ...HOSTILE_GLOBALS.map(([m, n]) => ({
    name: `GLOBAL ${m}.${n} + REDUCE`,
    bytes: concat(glob(m, n), str('touch /tmp/repghost-fuzz-pwned'), bytesOf(0x85, 0x52)),
  })),
  {
    name: 'STACK_GLOBAL os.system',
    bytes: concat(bytesOf(0x8c, 2, 'os', 0x8c, 6, 'system', 0x93), str('id'), bytesOf(0x85, 0x52)),
  },
  { name: 'STACK_GLOBAL None None', bytes: bytesOf(0x4e, 0x4e, 0x93) },
  { name: 'STACK_GLOBAL int int', bytes: bytesOf(0x4b, 1, 0x4b, 2, 0x93) },
  { name: 'STACK_GLOBAL list str', bytes: concat(bytesOf(0x5d), str('system'), bytesOf(0x93)) },
  { name: 'NEWOBJ_EX Namespace', bytes: concat(glob('argparse', 'Namespace'), bytesOf(0x29, 0x7d, 0x92)) },
  {
    name: 'NEWOBJ_EX kwargs',
    bytes: concat(glob('argparse', 'Namespace'), bytesOf(0x29, 0x7d), str('a'), bytesOf(0x4b, 1, 0x73, 0x92)),
  },
  { name: 'NEWOBJ_EX os.system', bytes: concat(glob('os', 'system'), bytesOf(0x29, 0x7d, 0x92)) },
  { name: 'NEWOBJ OrderedDict', bytes: concat(glob('collections', 'OrderedDict'), bytesOf(0x29, 0x81)) },
  { name: 'INST os.system', bytes: bytesOf(0x28, 'ios\nsystem\n') },
  { name: 'OBJ', bytes: concat(bytesOf(0x28), glob('collections', 'OrderedDict'), bytesOf(0x6f)) },
  { name: 'PERSID text', bytes: bytesOf(0x50, '0\n') },
  { name: 'BINPERSID str', bytes: concat(str('storage'), bytesOf(0x51)) },
  {
    name: 'BUILD Namespace __proto__',
    bytes: concat(
      glob('argparse', 'Namespace'),
      bytesOf(0x29, 0x81, 0x7d),
      str('__proto__'),
      bytesOf(0x7d, 0x73, 0x62),
    ),
  },
  {
    name: 'BUILD OrderedDict slots',
    bytes: concat(
      glob('collections', 'OrderedDict'),
      bytesOf(0x29, 0x52, 0x7d, 0x7d),
      str('k'),
      bytesOf(0x4e, 0x73, 0x86, 0x62),
    ),
  },
  {
    name: 'BUILD OrderedDict int key',
    bytes: concat(glob('collections', 'OrderedDict'), bytesOf(0x29, 0x52, 0x7d, 0x4b, 1, 0x4e, 0x73, 0x62)),
  },
  {
    name: 'OrderedDict of pairs',
    bytes: concat(
      glob('collections', 'OrderedDict'),
      bytesOf(0x5d, 0x28),
      str('a'),
      bytesOf(0x4b, 1, 0x86, 0x65, 0x85, 0x52),
    ),
  },
  {
    name: 'set REDUCE',
    bytes: concat(glob('builtins', 'set'), bytesOf(0x5d, 0x28, 0x4b, 1, 0x4b, 2, 0x65, 0x85, 0x52)),
  },
  { name: 'torch.Size of list', bytes: concat(glob('torch', 'Size'), bytesOf(0x5d, 0x5d, 0x61, 0x85, 0x52)) },
  { name: '300 MARKs', bytes: new Uint8Array(300).fill(0x28) },
  { name: '300 nested lists', bytes: concat(new Uint8Array(300).fill(0x5d), new Uint8Array(299).fill(0x61)) },
  { name: 'DUP x 10000', bytes: concat(bytesOf(0x4e), new Uint8Array(10000).fill(0x32)) },
  { name: 'self-referencing list', bytes: bytesOf(0x5d, 0x72, le(777777n, 4), 0x6a, le(777777n, 4), 0x61) },
  { name: 'DAG list depth 40', bytes: dagList(40, 888888) },
  {
    name: 'DAG list as tensor size',
    bytes: concat(
      glob('torch._utils', '_rebuild_tensor_v2'),
      bytesOf(0x28, 0x4e, 0x4b, 0),
      dagList(40, 888887),
      bytesOf(0x85, 0x29, 0x89, 0x4e, 0x74, 0x52),
    ),
  },
  { name: 'DAG list as dict key', bytes: concat(bytesOf(0x7d), dagList(40, 888886), bytesOf(0x85, 0x4e, 0x73)) },
  { name: 'repeated set REDUCE', bytes: repeatedReduce(3000, 3000) },
  { name: 'LONG_BINGET 0xffffffff', bytes: bytesOf(0x6a, 0xff, 0xff, 0xff, 0xff) },
  { name: 'LONG_BINPUT 2^31', bytes: bytesOf(0x4e, 0x72, 0, 0, 0, 0x80) },
  { name: 'MEMOIZE x 1000', bytes: concat(bytesOf(0x4e), new Uint8Array(1000).fill(0x94)) },
  { name: 'BINUNICODE8 2^63', bytes: bytesOf(0x8d, le(1n << 63n, 8)) },
  { name: 'BINBYTES8 2^53+1', bytes: bytesOf(0x8e, le((1n << 53n) + 1n, 8)) },
  { name: 'BINUNICODE 0xffffffff', bytes: bytesOf(0x58, 0xff, 0xff, 0xff, 0xff) },
  { name: 'FRAME 2^62', bytes: bytesOf(0x95, le(1n << 62n, 8)) },
  { name: 'LONG4 2^31-1', bytes: bytesOf(0x8b, 0xff, 0xff, 0xff, 0x7f) },
  { name: 'LONG1 2^2040', bytes: bytesOf(0x8a, 255, new Uint8Array(254), 0x7f) },
  { name: 'BINSTRING -1', bytes: bytesOf(0x54, 0xff, 0xff, 0xff, 0xff) },
  { name: 'PROTO 6', bytes: bytesOf(0x80, 6) },
  { name: 'bad UTF-8', bytes: bytesOf(0x8c, 2, 0xc3, 0x28) },
  { name: 'tensor negative size', bytes: tensorCall('FloatStorage', '0', 16n, 0n, [-1n, 4n], [4n, 1n]) },
  { name: 'tensor negative stride', bytes: tensorCall('FloatStorage', '0', 16n, 15n, [4n, 4n], [-4n, -1n]) },
  {
    name: 'tensor numel 2^40',
    bytes: tensorCall('FloatStorage', '0', 1n << 40n, 0n, [1n << 20n, 1n << 20n], [1n << 20n, 1n]),
  },
  { name: 'tensor offset 2^53', bytes: tensorCall('FloatStorage', '0', 16n, 1n << 53n, [4n], [1n]) },
  { name: 'tensor huge stride', bytes: tensorCall('FloatStorage', '0', 16n, 0n, [2n], [1n << 52n]) },
  { name: 'tensor zero stride broadcast', bytes: tensorCall('FloatStorage', '0', 1n, 0n, [1000n, 1000n], [0n, 0n]) },
  {
    name: 'tensor 65 dims',
    bytes: tensorCall('FloatStorage', '0', 1n, 0n, Array<bigint>(65).fill(1n), Array<bigint>(65).fill(1n)),
  },
  {
    name: 'tensor size overflow',
    bytes: tensorCall('ByteStorage', '0', 16n, 0n, Array<bigint>(8).fill(1n << 20n), Array<bigint>(8).fill(0n)),
  },
  { name: 'tensor unknown storage key', bytes: tensorCall('FloatStorage', '../../etc/passwd', 1n, 0n, [1n], [1n]) },
  { name: 'tensor UntypedStorage', bytes: tensorCall('UntypedStorage', '0', 64n, 0n, [8n], [1n]) },
  { name: 'tensor strided over shared storage', bytes: tensorCall('ByteStorage', '0', 4096n, 0n, [2n], [2n]) },
];

/** Names of opcodes for notes. */
export function opName(code: number): string {
  return OPCODES.get(code)?.[0] ?? `0x${code.toString(16)}`;
}
