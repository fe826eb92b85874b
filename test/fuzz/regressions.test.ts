/**
 * Regression tests for the parser bugs found while building the fuzzer (issue #7; see
 * fuzz/README.md, "Bugs found and fixed"). Each builds the
 * hostile input the bug needed, sized so that the unfixed code fails the assertion
 * quickly (instead of hanging the suite or exhausting memory). The fuzzer keeps these
 * patterns in its dictionary (fuzz/lib/pickle-ops.ts, the safetensors 'alias' edits).
 */
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeImageFile, ImageDecodeError } from '../../src/node/decode.js';
import { IdxError, readIdx } from '../../src/data/idx.js';
import { readCheckpoint } from '../../src/weights/checkpoint.js';
import { PickleError, unpickle } from '../../src/weights/pickle.js';
import { readPth } from '../../src/weights/pth.js';
import { readSafetensors, SafetensorsError } from '../../src/weights/safetensors.js';
import { writeZip } from '../../src/weights/zip.js';
import { concat, writeUint } from '../../fuzz/lib/bytes.js';
import { bytesOf, glob, str, tensorCall } from '../../fuzz/lib/pickle-ops.js';
import { mapZip } from '../../fuzz/lib/zip-layout.js';
import { sharedPath } from '../helpers/shared.js';

const PROTO2 = bytesOf(0x80, 2);
const STOP = bytesOf(0x2e);

/** Runs `f`, returning what it threw (or null) and how long it took. */
function attempt(f: () => unknown): { error: Error | null; ms: number } {
  const t0 = performance.now();
  try {
    f();
    return { error: null, ms: performance.now() - t0 };
  } catch (e) {
    return { error: e as Error, ms: performance.now() - t0 };
  }
}

/**
 * l0 = [], l(i+1) = [l(i), l(i)], left on the stack: `depth` levels in 9 bytes each, but
 * 2^depth leaves when walked as a tree (String(), join, JSON.stringify).
 */
function dag(depth: number): Uint8Array {
  const put = bytesOf(0x71, 7); // BINPUT 7
  const parts = [bytesOf(0x5d), put];
  // POP MARK GET GET LIST PUT
  for (let i = 0; i < depth; i++) parts.push(bytesOf(0x30, 0x28, 0x68, 7, 0x68, 7, 0x6c), put);
  return concat(...parts);
}

describe('pickle error messages never walk shared sub-structures (exponential String())', () => {
  // Before the fix, messages embedded String(value): for a 200-byte DAG of depth 22 that is
  // a 4-million-character message built in ~1 s; depth 40 (360 bytes) never finished.
  const depth = 22;

  it('a DAG list as a tensor size', () => {
    // _rebuild_tensor_v2(storage, 0, (dag,), (1,), False, None)
    const p = concat(
      PROTO2,
      glob('torch._utils', '_rebuild_tensor_v2'),
      bytesOf(0x28),
      bytesOf(0x28),
      str('storage'),
      glob('torch', 'FloatStorage'),
      str('0'),
      str('cpu'),
      bytesOf(0x4b, 4, 0x74, 0x51),
      bytesOf(0x4b, 0),
      dag(depth),
      bytesOf(0x85, 0x4b, 1, 0x85, 0x89, 0x4e, 0x74, 0x52),
      STOP,
    );
    const { error, ms } = attempt(() => unpickle(p, { loadStorage: () => new Uint8Array(16) }));
    expect(error).toBeInstanceOf(PickleError);
    expect(error!.message).toMatch(/tensor size holds list/);
    expect(error!.message.length).toBeLessThan(500);
    expect(ms).toBeLessThan(2000);
  });

  it('a DAG list as a tensor storage offset and as a storage element count', () => {
    const offset = concat(
      PROTO2,
      glob('torch._utils', '_rebuild_tensor'),
      bytesOf(0x28),
      bytesOf(0x28),
      str('storage'),
      glob('torch', 'FloatStorage'),
      str('0'),
      str('cpu'),
      bytesOf(0x4b, 4, 0x74, 0x51),
      dag(depth),
      bytesOf(0x29, 0x29, 0x74, 0x52),
      STOP,
    );
    const r1 = attempt(() => unpickle(offset, { loadStorage: () => new Uint8Array(16) }));
    expect(r1.error).toBeInstanceOf(PickleError);
    expect(r1.error!.message).toMatch(/bad tensor storage offset/);
    expect(r1.error!.message.length).toBeLessThan(500);
    const count = concat(
      PROTO2,
      bytesOf(0x28),
      str('storage'),
      glob('torch', 'FloatStorage'),
      str('0'),
      str('cpu'),
      dag(depth),
      bytesOf(0x74, 0x51),
      STOP,
    );
    const r2 = attempt(() => unpickle(count, { loadStorage: () => new Uint8Array(16) }));
    expect(r2.error).toBeInstanceOf(PickleError);
    expect(r2.error!.message).toMatch(/bad element count/);
    expect(r2.error!.message.length).toBeLessThan(500);
  });

  it('a DAG tuple as a state-dict key (readCheckpoint)', () => {
    // {(dag,): None} inside a valid torch zip: readCheckpoint names the key without expanding it.
    const pkl = concat(PROTO2, bytesOf(0x7d), dag(depth), bytesOf(0x85, 0x4e, 0x73), STOP);
    const file = writeZip([
      { name: 'archive/data.pkl', data: pkl },
      { name: 'archive/version', data: new TextEncoder().encode('3\n') },
    ]);
    const { error, ms } = attempt(() => readCheckpoint(file, 'dag.pth'));
    expect(error?.name).toBe('CheckpointError');
    expect(error!.message.length).toBeLessThan(500);
    expect(ms).toBeLessThan(2000);
  });
});

describe('pickle work is linear in the input (repeated REDUCE/BUILD over one memoized container)', () => {
  /** `k` times set(L) / OrderedDict(L) / BUILD(ns, D) with L or D of `m` items, each repetition ~10 bytes. */
  function repeated(kind: 'set' | 'ordered_dict' | 'build', m: number, k: number): Uint8Array {
    const LONG_BINPUT = (i: number): Uint8Array => bytesOf(0x72, i, 0, 0, 0);
    const LONG_BINGET = (i: number): Uint8Array => bytesOf(0x6a, i, 0, 0, 0);
    const parts: Uint8Array[] = [PROTO2];
    if (kind === 'build') {
      // D = {'a0': None, ..., 'a<m-1>': None} (distinct keys: ~6 bytes each), ns = Namespace()
      parts.push(bytesOf(0x7d, 0x28));
      for (let i = 0; i < m; i++) {
        const s = `a${i}`;
        parts.push(bytesOf(0x8c, s.length, s, 0x4e));
      }
      parts.push(bytesOf(0x75), LONG_BINPUT(1), bytesOf(0x30), glob('argparse', 'Namespace'), bytesOf(0x29, 0x81));
      for (let i = 0; i < k; i++) parts.push(LONG_BINGET(1), bytesOf(0x62)); // BUILD
    } else {
      parts.push(
        kind === 'set' ? glob('builtins', 'set') : glob('collections', 'OrderedDict'),
        LONG_BINPUT(1),
        bytesOf(0x30),
      );
      // L = [None, ...] or [(None, None), ...] (OrderedDict wants pairs; the pair is memoized, so 3 bytes per item)
      parts.push(bytesOf(0x5d, 0x28));
      if (kind === 'set') parts.push(new Uint8Array(m).fill(0x4e));
      else {
        parts.push(bytesOf(0x4e, 0x4e, 0x86), LONG_BINPUT(3));
        for (let i = 1; i < m; i++) parts.push(LONG_BINGET(3));
      }
      parts.push(bytesOf(0x65), LONG_BINPUT(2), bytesOf(0x30));
      for (let i = 0; i < k; i++) parts.push(LONG_BINGET(1), LONG_BINGET(2), bytesOf(0x85, 0x52, 0x30));
      parts.push(bytesOf(0x4e));
    }
    parts.push(STOP);
    return concat(...parts);
  }

  for (const kind of ['set', 'ordered_dict', 'build'] as const) {
    it(`refuses ${kind} repeated over a big memoized container`, () => {
      // 4000 x 4000 = 16M items processed for a ~50 KB pickle: fine before the fix (~0.5 s), but
      // the same shape at 1 MB (200k x 200k) did not finish in 60 s.
      const p = repeated(kind, 4000, 4000);
      const { error, ms } = attempt(() => unpickle(p));
      expect(error, `${kind}: ${p.length} bytes`).toBeInstanceOf(PickleError);
      expect(error!.message).toMatch(/more work than its size allows/);
      expect(ms).toBeLessThan(5000);
    });
  }

  it('still accepts one REDUCE/BUILD per container, however big', () => {
    expect(unpickle(repeated('set', 20_000, 1))).toBeNull();
    expect(unpickle(repeated('ordered_dict', 20_000, 1))).toBeNull();
    const ns = unpickle(repeated('build', 20_000, 1)) as Record<string, unknown>;
    expect(Object.keys(ns)).toHaveLength(20_000);
  });
});

describe('storages copied for strided tensors count against the tensor budget', () => {
  it('refuses many zip entries aliasing one large storage record, each read through a strided view', () => {
    // n storage keys whose central-directory entries all point at the same 256 KiB record;
    // each gets a 2-element strided tensor, which used to copy its whole storage unbudgeted:
    // a 0.6 MB file materialized n * 256 KiB = 500 MiB.
    const n = 2000;
    const big = 256 * 1024;
    const tensors = Array.from({ length: n }, (_, i) =>
      tensorCall('ByteStorage', String(i), BigInt(big), 0n, [2n], [2n]),
    );
    const pkl = concat(PROTO2, bytesOf(0x28), ...tensors, bytesOf(0x74), STOP);
    const entries = [
      { name: 'archive/data.pkl', data: pkl },
      { name: 'archive/data/0', data: new Uint8Array(big) },
    ];
    for (let i = 1; i < n; i++) entries.push({ name: `archive/data/${i}`, data: new Uint8Array(1) });
    const file = writeZip(entries, { align: 0 });
    const z = mapZip(file);
    const target = z.records[1]!;
    for (const r of z.records.slice(2)) {
      writeUint(file, r.offsetField.at, 4, BigInt(target.headerOffset));
      for (const f of r.sizeFields) writeUint(file, f.at, 4, BigInt(big));
    }
    const before = process.memoryUsage().arrayBuffers;
    const { error } = attempt(() => readPth(file));
    expect(error, `file of ${file.length} bytes`).toBeInstanceOf(PickleError);
    expect(error!.message).toMatch(/budget/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(5 * file.length + 128 * 2 ** 20);
  });
});

describe('safetensors entries may not alias the same data', () => {
  it('refuses overlapping data_offsets (each alias used to get its own copy)', () => {
    // 300 entries over one 1 MiB range: a 1.05 MB file that materialized 300 MiB (20k entries: 20 GB).
    const dataLen = 1 << 20;
    const header: Record<string, unknown> = {};
    for (let i = 0; i < 300; i++) header[`t${i}`] = { dtype: 'U8', shape: [dataLen], data_offsets: [0, dataLen] };
    const h = new TextEncoder().encode(JSON.stringify(header));
    const file = new Uint8Array(8 + h.length + dataLen);
    new DataView(file.buffer).setBigUint64(0, BigInt(h.length), true);
    file.set(h, 8);
    const { error } = attempt(() => readSafetensors(file));
    expect(error).toBeInstanceOf(SafetensorsError);
    expect(error!.message).toMatch(/overlap/);
  });

  const rangesTitle =
    'still accepts adjacent, unordered and zero-length ranges; a gap is refused (issue #14: ranges tile the data)';
  it(rangesTitle, () => {
    const file = (b0: number): Uint8Array => {
      const header = {
        b: { dtype: 'U8', shape: [2], data_offsets: [b0, b0 + 2] },
        a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] },
        e: { dtype: 'F32', shape: [0], data_offsets: [2, 2] },
      };
      const h = new TextEncoder().encode(JSON.stringify(header));
      const f = new Uint8Array(8 + h.length + b0 + 2);
      new DataView(f.buffer).setBigUint64(0, BigInt(h.length), true);
      f.set(h, 8);
      return f;
    };
    expect([...readSafetensors(file(2)).tensors.keys()]).toEqual(['b', 'a', 'e']);
    expect(() => readSafetensors(file(4))).toThrow(/leaves bytes \[2, 4\) unused/);
  });
});

describe('gzipped IDX stops inflating at the size its header declares', () => {
  it('refuses a gzip "bomb" (10 declared bytes, 200 MB of zeros) without inflating it', async () => {
    // Before the fix, readIdx inflated everything first: a 972 KB file took 14 s and ~2 GB.
    const raw = new Uint8Array(8 + 200_000_000);
    raw.set([0, 0, 0x08, 1, 0, 0, 0, 10]); // uint8, 1 dimension of 10
    const gz = new Uint8Array(gzipSync(raw, { level: 9 }));
    expect(gz.length).toBeLessThan(250_000);
    const before = process.memoryUsage().arrayBuffers;
    const t0 = performance.now();
    const err = await readIdx(gz, 'bomb.idx.gz').then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(IdxError);
    expect(err!.message).toMatch(
      /bomb\.idx\.gz: the gzip data decompresses to more than the 18 bytes its IDX header declares/,
    );
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 2 ** 20);
  });

  it('still reads a gzipped IDX exactly, and reports bad headers as before', async () => {
    const raw = Uint8Array.from([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6]);
    const a = await readIdx(new Uint8Array(gzipSync(raw)));
    expect(a.shape).toEqual([2, 3]);
    expect([...a.data]).toEqual([1, 2, 3, 4, 5, 6]);
    const bad = raw.slice();
    bad[2] = 0x07;
    await expect(readIdx(new Uint8Array(gzipSync(bad)), 'x.idx.gz')).rejects.toThrow(
      /x\.idx\.gz: unknown IDX type code 0x07/,
    );
    const extra = new Uint8Array(gzipSync(Uint8Array.from([...raw, 9, 9])));
    await expect(readIdx(extra, 'y.idx.gz')).rejects.toThrow(
      /y\.idx\.gz: the gzip data decompresses to more than the 18 bytes/,
    );
  });
});

describe('image decode errors always say something', () => {
  it('a PNG with a damaged IHDR CRC: libvips reports "Unknown error", the user gets a reason', async () => {
    const png = new Uint8Array(readFileSync(sharedPath('golden', 'preprocess', 'camera_gray.png')));
    png[32]! ^= 0xff; // the IHDR CRC's last byte
    const err = await decodeImageFile(png, { name: 'badcrc.png' }).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(ImageDecodeError);
    expect(err!.message).toBe(
      'cannot decode image badcrc.png: corrupt image data (the decoder gave no reason: a damaged header?)',
    );
  });
});
