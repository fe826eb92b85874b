/**
 * Hostile pickles beyond test/weights/pickle.test.ts (which covers GLOBAL os.system,
 * builtins.eval/exec, torch.load as a bare global, INST/OBJ, REDUCE/NEWOBJ/BUILD on
 * non-allow-listed objects, deep nesting, huge memo indices, out-of-range storage offsets
 * and text PERSID): other code-execution spellings (posix/nt.system, subprocess,
 * __builtin__/builtins.getattr + __import__ chains, torch.load nested in a state dict),
 * STACK_GLOBAL with non-string operands, NEWOBJ_EX, PERSID inside a real zip, tensors
 * with negative or overflowing geometry and a 2^40-element storage. Every payload goes
 * through the same entry points a user's file does (unpickle, readPth, readCheckpoint,
 * loadWeights, `repghost convert`), and the side-effect payloads are proven live: CPython's
 * own pickle.loads runs them and creates a marker file; repghost never does.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadWeights } from '../../src/reparam/load.js';
import { readCheckpoint } from '../../src/weights/checkpoint.js';
import { PickleError, unpickle } from '../../src/weights/pickle.js';
import { readPth, writePth } from '../../src/weights/pth.js';
import type { Tensor } from '../../src/weights/tensor.js';
import { writeZip } from '../../src/weights/zip.js';
import { concat } from '../../fuzz/lib/bytes.js';
import { bytesOf, glob, int, str, tensorCall } from '../../fuzz/lib/pickle-ops.js';
import { repoRoot } from '../helpers/shared.js';

const PROTO2 = bytesOf(0x80, 2);
const STOP = bytesOf(0x2e);
const TUPLE1 = bytesOf(0x85);
const REDUCE = bytesOf(0x52);
const enc = new TextEncoder();

/** A pickle as the data.pkl of an otherwise valid torch zip (so the zip layer is no obstacle). */
function zipped(pkl: Uint8Array, storages: Record<string, Uint8Array> = {}): Uint8Array {
  return writeZip([
    { name: 'archive/data.pkl', data: pkl },
    { name: 'archive/byteorder', data: enc.encode('little') },
    ...Object.entries(storages).map(([k, data]) => ({ name: `archive/data/${k}`, data })),
    { name: 'archive/version', data: enc.encode('3\n') },
  ]);
}

/** Asserts `f` throws a PickleError (possibly wrapped by readCheckpoint) whose message matches; returns it. */
function refused(f: () => unknown, re: RegExp): Error {
  let err: unknown = null;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a refusal').toBeInstanceOf(Error);
  const e = err as Error;
  const root = e.cause instanceof Error ? e.cause : e;
  expect(root).toBeInstanceOf(PickleError);
  expect(e.message).toMatch(re);
  return e;
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'repghost-hostile-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Payloads that, unpickled by CPython, create `marker`: each a different spelling of "run this". */
function sideEffectPayloads(marker: string): [string, Uint8Array][] {
  const touch = `touch ${marker}`;
  return [
    ['posix.system', concat(PROTO2, glob('posix', 'system'), str(touch), TUPLE1, REDUCE, STOP)],
    [
      'os.system via STACK_GLOBAL',
      concat(bytesOf(0x80, 4), bytesOf(0x8c, 2, 'os', 0x8c, 6, 'system', 0x93), str(touch), TUPLE1, REDUCE, STOP),
    ],
    [
      'subprocess.check_output',
      concat(
        PROTO2,
        glob('subprocess', 'check_output'),
        bytesOf(0x28),
        str('touch'),
        str(marker),
        bytesOf(0x6c),
        TUPLE1,
        REDUCE,
        STOP,
      ),
    ],
    [
      'builtins.exec',
      concat(
        PROTO2,
        glob('builtins', 'exec'),
        str(`open(${JSON.stringify(marker)}, 'w').close()`),
        TUPLE1,
        REDUCE,
        STOP,
      ),
    ],
    // getattr(__import__('os'), 'system')('touch ...'): the classic gadget chain.
    [
      '__builtin__.getattr(__import__("os"), "system")',
      concat(
        PROTO2,
        glob('__builtin__', 'getattr'),
        glob('__builtin__', '__import__'),
        str('os'),
        TUPLE1,
        REDUCE,
        str('system'),
        bytesOf(0x86),
        REDUCE,
        str(touch),
        TUPLE1,
        REDUCE,
        STOP,
      ),
    ],
    [
      'builtins.getattr(__import__("subprocess"), "check_call")',
      concat(
        PROTO2,
        glob('builtins', 'getattr'),
        glob('builtins', '__import__'),
        str('subprocess'),
        TUPLE1,
        REDUCE,
        str('check_call'),
        bytesOf(0x86),
        REDUCE,
        bytesOf(0x28),
        str('touch'),
        str(marker),
        bytesOf(0x6c),
        TUPLE1,
        REDUCE,
        STOP,
      ),
    ],
    // The payload as a value inside an otherwise ordinary state dict.
    [
      'posix.system nested in an OrderedDict',
      concat(
        PROTO2,
        glob('collections', 'OrderedDict'),
        bytesOf(0x29),
        REDUCE,
        str('conv.weight'),
        glob('posix', 'system'),
        str(touch),
        TUPLE1,
        REDUCE,
        bytesOf(0x73),
        STOP,
      ),
    ],
  ];
}

/** Runs a process to completion (async, so several can run at once). */
function run(cmd: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: repoRoot, encoding: 'utf8' }, (err, _stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stderr });
    });
  });
}

const python = spawnSync('python3', ['-c', 'import pickle'], { encoding: 'utf8' }).status === 0;

describe('code-execution payloads are refused at the global, before anything is called', () => {
  const marker = path.join(tmp, 'pwned-by-repghost');
  const payloads = sideEffectPayloads(marker);

  for (const [name, pkl] of payloads) {
    it(`${name}: unpickle, readPth, readCheckpoint and loadWeights refuse it; no marker file`, () => {
      refused(
        () => unpickle(pkl),
        new RegExp(
          "global '(posix\\.system|os\\.system|subprocess\\.check_output|builtins\\.exec|" +
            "__builtin__\\.getattr|builtins\\.getattr)' is not allowed",
        ),
      );
      const file = zipped(pkl);
      refused(() => readPth(file), /is not allowed/);
      refused(() => readCheckpoint(file, 'evil.pth'), /^evil\.pth: pickle: global .* is not allowed/);
      refused(() => loadWeights(file, { fileName: 'evil.pth' }), /is not allowed/);
      expect(existsSync(marker)).toBe(false);
    });
  }

  it('the global is refused as soon as it is read: the same bytes cut right after GLOBAL fail the same way', () => {
    // Were resolution deferred to REDUCE, the cut pickle would fail as truncated instead.
    for (const g of [
      ['posix', 'system'],
      ['subprocess', 'Popen'],
      ['__builtin__', 'getattr'],
    ] as const) {
      refused(
        () => unpickle(concat(PROTO2, glob(g[0], g[1]))),
        new RegExp(`global '${g[0]}\\.${g[1]}' is not allowed`),
      );
    }
  });

  it('`repghost convert` on payloads: one line naming the global, exit 1, nothing written, no marker', async () => {
    // Three spellings (direct, gadget chain, nested in a state dict), run side by side.
    await Promise.all(
      [0, 4, 6].map(async (i) => {
        const input = path.join(tmp, `evil${i}.pth`);
        const out = path.join(tmp, `out${i}.safetensors`);
        writeFileSync(input, zipped(payloads[i]![1]));
        const r = await run(process.execPath, [
          '--import',
          'tsx',
          path.join(repoRoot, 'src/cli/main.ts'),
          'convert',
          input,
          out,
        ]);
        expect(r.code).toBe(1);
        expect(r.stderr.trim().split('\n')).toHaveLength(1);
        expect(r.stderr).toMatch(/^repghost: evil\d\.pth: pickle: global '.*' is not allowed/);
        expect(existsSync(out)).toBe(false);
      }),
    );
    expect(existsSync(marker)).toBe(false);
  });

  it.skipIf(!python)('the same bytes are live: CPython pickle.loads runs each one (creating its marker)', () => {
    for (const [i, [name]] of sideEffectPayloads('').entries()) {
      const m = path.join(tmp, `pwned-by-cpython-${i}`);
      const [, pkl] = sideEffectPayloads(m)[i]!;
      const f = path.join(tmp, `live${i}.pkl`);
      writeFileSync(f, pkl);
      const r = spawnSync('python3', ['-c', `import pickle,sys\npickle.loads(open(sys.argv[1],'rb').read())`, f], {
        encoding: 'utf8',
      });
      expect(existsSync(m), `${name}: ${r.stderr}`).toBe(true);
    }
  });
});

describe('other refused constructs', () => {
  const refuse = (pkl: Uint8Array, re: RegExp): void => {
    refused(() => unpickle(concat(PROTO2, pkl, STOP)), re);
  };

  const nestedTitle =
    'subprocess.Popen, nt.system, builtins.__import__, _pickle.loads, torch.serialization.load and torch.load ' +
    'nested in a state dict';
  it(nestedTitle, () => {
    refuse(concat(glob('subprocess', 'Popen'), str('id'), TUPLE1, REDUCE), /'subprocess\.Popen' is not allowed/);
    refuse(concat(glob('nt', 'system'), str('calc'), TUPLE1, REDUCE), /'nt\.system' is not allowed/);
    refuse(concat(glob('builtins', '__import__'), str('os'), TUPLE1, REDUCE), /'builtins\.__import__' is not allowed/);
    refuse(concat(glob('_pickle', 'loads'), bytesOf(0x43, 1, 0x2e), TUPLE1, REDUCE), /'_pickle\.loads' is not allowed/);
    refuse(
      concat(glob('torch.serialization', 'load'), str('x.pth'), TUPLE1, REDUCE),
      /'torch\.serialization\.load' is not allowed/,
    );
    // {'state_dict': {'w': torch.load('other.pth')}}: the nested loader is refused as it is named.
    refuse(
      concat(
        bytesOf(0x7d),
        str('state_dict'),
        glob('collections', 'OrderedDict'),
        bytesOf(0x29),
        REDUCE,
        str('w'),
        glob('torch', 'load'),
        str('other.pth'),
        TUPLE1,
        REDUCE,
        bytesOf(0x73, 0x73),
      ),
      /'torch\.load' is not allowed/,
    );
  });

  it('STACK_GLOBAL with non-string operands or too few of them', () => {
    const p4 = (...parts: Uint8Array[]): Uint8Array => concat(bytesOf(0x80, 4), ...parts, STOP);
    refused(() => unpickle(p4(bytesOf(0x4e, 0x4e, 0x93))), /STACK_GLOBAL operands are not strings/);
    refused(() => unpickle(p4(bytesOf(0x4b, 1, 0x4b, 2, 0x93))), /STACK_GLOBAL operands are not strings/);
    refused(() => unpickle(p4(bytesOf(0x5d), str('system'), bytesOf(0x93))), /STACK_GLOBAL operands are not strings/);
    // A module operand that is itself an allowed global object, not a string.
    refused(
      () => unpickle(p4(glob('collections', 'OrderedDict'), str('system'), bytesOf(0x93))),
      /STACK_GLOBAL operands are not strings/,
    );
    refused(() => unpickle(p4(str('os'), bytesOf(0x93))), /stack underflow/);
    refused(() => unpickle(p4(str('torch._utils\nos'), str('system'), bytesOf(0x93))), /not allowed/);
  });

  it('NEWOBJ_EX: keyword arguments, non-dict kwargs and non-allow-listed classes', () => {
    refuse(
      concat(glob('argparse', 'Namespace'), bytesOf(0x29, 0x7d), str('lr'), bytesOf(0x4b, 1, 0x73, 0x92)),
      /NEWOBJ_EX with keyword arguments on global 'argparse\.Namespace' is not allowed/,
    );
    refuse(concat(glob('argparse', 'Namespace'), bytesOf(0x29, 0x29, 0x92)), /NEWOBJ_EX with keyword arguments/);
    refuse(
      concat(glob('torch', 'Size'), bytesOf(0x29, 0x7d, 0x92)),
      /creating an object of global 'torch\.Size' is not allowed/,
    );
    refuse(
      concat(glob('argparse', 'Namespace'), bytesOf(0x28, 0x4b, 1, 0x74, 0x7d, 0x92)),
      /with positional arguments is not supported/,
    );
    // The harmless form is fine: an empty Namespace.
    expect(
      Object.keys(unpickle(concat(PROTO2, glob('argparse', 'Namespace'), bytesOf(0x29, 0x7d, 0x92), STOP)) as object),
    ).toEqual([]);
  });

  it('PERSID (text persistent id) inside a valid zip, and BINPERSID of a non-storage tuple', () => {
    refused(() => readPth(zipped(concat(PROTO2, bytesOf(0x50), enc.encode('0\n'), STOP))), /unsupported opcode PERSID/);
    refused(
      () => readPth(zipped(concat(PROTO2, bytesOf(0x28), str('module'), str('os'), bytesOf(0x74, 0x51), STOP))),
      /persistent id tuple is not a torch storage reference/,
    );
  });

  it('BUILD cannot reach a prototype: __proto__ in a timm args Namespace stays data', () => {
    const ns = concat(
      glob('argparse', 'Namespace'),
      bytesOf(0x29, 0x81, 0x7d),
      str('__proto__'),
      bytesOf(0x7d),
      str('polluted'),
      bytesOf(0x88, 0x73, 0x73),
      str('lr'),
      int(1n),
      bytesOf(0x73, 0x62),
    );
    const pkl = concat(
      PROTO2,
      bytesOf(0x7d),
      str('state_dict'),
      glob('collections', 'OrderedDict'),
      bytesOf(0x29),
      REDUCE,
      bytesOf(0x73),
      str('args'),
      ns,
      bytesOf(0x73),
      STOP,
    );
    // The empty state dict is refused later; readPth shows the args came through as plain data.
    const value = readPth(zipped(pkl)) as Map<string, Record<string, unknown>>;
    const args = value.get('args')!;
    expect(Object.getOwnPropertyDescriptor(args, '__proto__')?.value).toBeInstanceOf(Map);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const c = readCheckpoint(zipped(pkl), 'ns.pth');
    expect(Object.getOwnPropertyDescriptor(c.meta.args!, '__proto__')?.value).toBeInstanceOf(Map);
    expect(c.meta.args!.lr).toBe(1);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('tensor geometry from a hostile file', () => {
  const f32 = new Uint8Array(new Float32Array(16).buffer);
  const load = (pkl: Uint8Array): unknown => readPth(zipped(concat(PROTO2, pkl, STOP), { 0: f32 }));

  it('negative sizes, strides and offsets', () => {
    refused(
      () => load(tensorCall('FloatStorage', '0', 16n, 0n, [-1n, 4n], [4n, 1n])),
      /tensor size holds int\/float -1, not a non-negative int/,
    );
    refused(
      () => load(tensorCall('FloatStorage', '0', 16n, 15n, [4n, 4n], [-4n, -1n])),
      /tensor stride holds int\/float -4, not a non-negative int/,
    );
    refused(() => load(tensorCall('FloatStorage', '0', 16n, -1n, [4n], [1n])), /bad tensor storage offset -1/);
    refused(() => load(tensorCall('FloatStorage', '0', -16n, 0n, [4n], [1n])), /storage 0: bad element count -16/);
  });

  it('a storage of 2^40 elements (4 TiB) backed by a 64-byte record', () => {
    refused(
      () => load(tensorCall('FloatStorage', '0', 1n << 40n, 0n, [4n], [1n])),
      /storage 0 holds 64 bytes, but 1099511627776 F32 elements need 4398046511104: corrupt file/,
    );
  });

  it('sizes whose product overflows, huge strides and offsets, too many dimensions', () => {
    refused(
      () => load(tensorCall('FloatStorage', '0', 16n, 0n, Array<bigint>(8).fill(1n << 20n), Array<bigint>(8).fill(0n))),
      /is too large/,
    );
    refused(() => load(tensorCall('FloatStorage', '0', 16n, 0n, [2n], [1n << 52n])), /beyond storage 0 of 16 elements/);
    refused(
      () => load(tensorCall('FloatStorage', '0', 16n, 1n << 53n, [1n], [1n])),
      /bad tensor storage offset 9007199254740992/,
    );
    refused(
      () => load(tensorCall('FloatStorage', '0', 16n, 0n, Array<bigint>(65).fill(1n), Array<bigint>(65).fill(1n))),
      /not a tuple of at most 64 ints/,
    );
    // A zero-stride broadcast over a million elements is geometry torch allows; the budget bounds what it may
    // materialize.
    refused(
      () =>
        unpickle(concat(PROTO2, tensorCall('FloatStorage', '0', 16n, 0n, [1000n, 1000n], [0n, 0n]), STOP), {
          loadStorage: () => f32,
          maxTensorBytes: 1_000_000,
        }),
      /budget/,
    );
  });

  it('a well-formed tensor still loads (the checks are not over-eager)', () => {
    const t = load(tensorCall('FloatStorage', '0', 16n, 2n, [2n, 3n], [1n, 2n])) as Tensor;
    expect(t.shape).toEqual([2, 3]);
    const sd = new Map<string, Tensor>([['w', t]]);
    expect(readCheckpoint(writePth(sd)).stateDict.get('w')!.shape).toEqual([2, 3]);
  });
});
