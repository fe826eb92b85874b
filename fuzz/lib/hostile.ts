/**
 * Structure-aware generators of whole hostile files (issue #14): what a crafted file
 * does that byte mutations of valid seeds almost never reach. Each generator builds a
 * file from scratch with its sizes drawn from the fuzzer's generator, and is also what
 * the regression tests (test/fuzz/hostile-structures.test.ts) build with fixed sizes:
 *
 * - fake tensors: objects with dtype/shape/data attributes (argparse.Namespace + BUILD,
 *   data from BINBYTES) standing where tensors go (finding 1);
 * - shared references: one big container referenced many times through the memo (2);
 * - DAGs of shared tuples/lists (`l = (l, l)` repeated) as arch, args, keys, values (6);
 * - huge names: multi-megabyte keys and arch strings (6);
 * - values that make no sense: epoch -1e6 / NaN, NaN weights, negative running_var (11);
 * - safetensors with duplicate keys, overlapping/gapped/unordered ranges, headers of many
 *   empty objects, huge shape arrays (8, 9);
 * - gzipped IDX files whose header lies about the size (8).
 */
import { gzipSync } from 'node:zlib';
import { writeZip } from '../../src/weights/zip.js';
import { concat } from './bytes.js';
import { bytesOf, glob, int, str, tensorCall } from './pickle-ops.js';
import type { Rng } from './rng.js';

/** A generated file and how it was made. */
export interface Hostile {
  bytes: Uint8Array;
  note: string;
}

const enc = new TextEncoder();
const PROTO2 = bytesOf(0x80, 2);
const STOP = bytesOf(0x2e);

/** Concatenates many parts (no spread: a pickle of 90,000 opcodes would overflow the call stack). */
export function join(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** SHORT_BINUNICODE (short strings) or BINUNICODE. */
function s(text: string): Uint8Array {
  const b = enc.encode(text);
  return b.length < 256 ? concat(bytesOf(0x8c, b.length), b) : str(text);
}

/** BINFLOAT (big-endian double). */
export function float(v: number): Uint8Array {
  const b = new Uint8Array(9);
  b[0] = 0x47;
  new DataView(b.buffer).setFloat64(1, v, false);
  return b;
}

/** A pickle with the usual framing. */
export function pickleOf(...body: Uint8Array[]): Uint8Array {
  return join([PROTO2, ...body, STOP]);
}

/** `dict(pairs)`: EMPTY_DICT, MARK, k, v, ..., SETITEMS. */
export function dictOf(pairs: [Uint8Array, Uint8Array][]): Uint8Array {
  return concat(bytesOf(0x7d, 0x28), ...pairs.flatMap(([k, v]) => [k, v]), bytesOf(0x75));
}

/** A torch.save zip holding `pkl` as archive/data.pkl and the given storages. */
export function torchZip(pkl: Uint8Array, storages: [string, Uint8Array][] = []): Uint8Array {
  return writeZip(
    [
      { name: 'archive/data.pkl', data: pkl },
      { name: 'archive/byteorder', data: enc.encode('little') },
      ...storages.map(([k, data]) => ({ name: `archive/data/${k}`, data })),
      { name: 'archive/version', data: enc.encode('3\n') },
    ],
    { align: 64 },
  );
}

/**
 * An argparse.Namespace with tensor-like attributes: `dtype` (a string), `shape` (a tuple)
 * and `data` (BINBYTES of `data`). A duck-typed tensor check takes it for a tensor.
 */
export function fakeTensor(dtype: string, shape: number[], data: Uint8Array): Uint8Array {
  const shapeT = concat(bytesOf(0x28), ...shape.map((d) => int(BigInt(d))), bytesOf(0x74));
  const bytes = concat(
    bytesOf(0x42, [data.length & 255, (data.length >> 8) & 255, (data.length >> 16) & 255, (data.length >>> 24) & 255]),
    data,
  );
  return concat(
    glob('argparse', 'Namespace'),
    bytesOf(0x29, 0x81),
    dictOf([
      [s('dtype'), s(dtype)],
      [s('shape'), shapeT],
      [s('data'), bytes],
    ]),
    bytesOf(0x62),
  );
}

/** A real 1-D F32 tensor over storage `key` of `n` elements (its bytes are the caller's). */
export function realTensor(key: string, n: number): Uint8Array {
  return tensorCall('FloatStorage', key, BigInt(n), 0n, [BigInt(n)], [1n]);
}

/**
 * A state dict {name: fake tensor}: consistent U8 bytes, F32 claimed over bytes, or a
 * length that does not match the shape; with `withReal` one real tensor beside it.
 */
export function fakeTensorPth(variant: 'u8' | 'f32-bytes' | 'short', n: number, withReal: boolean): Uint8Array {
  const data = new Uint8Array(variant === 'f32-bytes' ? 4 * n : variant === 'short' ? Math.max(0, n - 1) : n).fill(
    0x3f,
  );
  const dtype = variant === 'u8' || variant === 'short' ? 'U8' : 'F32';
  const pairs: [Uint8Array, Uint8Array][] = [[s('conv_stem.weight'), fakeTensor(dtype, [n], data)]];
  if (withReal) pairs.unshift([s('bn1.weight'), realTensor('0', 4)]);
  return torchZip(pickleOf(dictOf(pairs)), withReal ? [['0', new Uint8Array(16)]] : []);
}

/**
 * One dict of `keys` distinct keys, memoized, then referenced `refs` times from a list
 * (BINGET is 2 bytes): a walk that copies a node's children before asking whether it
 * saw the node is keys x refs.
 */
export function sharedDictPickle(keys: number, refs: number, container: 'dict' | 'list' | 'set' = 'dict'): Uint8Array {
  const parts: Uint8Array[] = [];
  if (container === 'dict') {
    parts.push(bytesOf(0x7d, 0x72, 0, 0, 0, 0, 0x28));
    for (let i = 0; i < keys; i++) parts.push(s(`k${i}`), bytesOf(0x4e));
    parts.push(bytesOf(0x75, 0x30));
  } else {
    parts.push(bytesOf(0x5d, 0x72, 0, 0, 0, 0, 0x28));
    for (let i = 0; i < keys; i++) parts.push(int(BigInt(i)));
    parts.push(bytesOf(0x65, 0x30));
    if (container === 'set') {
      // builtins.set(list) memoized in slot 1, then referenced: set + its items.
      parts.push(glob('builtins', 'set'), bytesOf(0x68, 0, 0x85, 0x52, 0x72, 1, 0, 0, 0, 0x30));
    }
  }
  const slot = container === 'set' ? 1 : 0;
  parts.push(bytesOf(0x5d, 0x28));
  for (let i = 0; i < refs; i++) parts.push(bytesOf(0x68, slot));
  parts.push(bytesOf(0x65));
  return join([PROTO2, ...parts, STOP]);
}

/** `l0 = (); l(i+1) = (l(i), l(i))` as a tuple or list DAG: `depth` levels, 2^depth leaves as a tree. */
export function dag(depth: number, kind: 'tuple' | 'list' = 'tuple'): Uint8Array {
  const put = bytesOf(0x71, 9); // BINPUT 9
  const level =
    kind === 'tuple'
      ? bytesOf(0x30, 0x68, 9, 0x68, 9, 0x86) // POP, GET, GET, TUPLE2
      : bytesOf(0x30, 0x28, 0x68, 9, 0x68, 9, 0x6c); // POP, MARK, GET, GET, LIST
  const parts = [kind === 'tuple' ? bytesOf(0x29) : bytesOf(0x5d), put];
  for (let i = 0; i < depth; i++) parts.push(level, put);
  return join(parts);
}

/** Where a hostile value goes in a timm-style training checkpoint. */
export type CheckpointSlot = 'arch' | 'args' | 'epoch' | 'metric' | 'key';

/**
 * A timm training checkpoint {state_dict: {...}, arch, epoch, args} with `value` (pickle
 * opcodes leaving one value on the stack) in `slot`. The state dict holds one real tensor.
 */
export function checkpointWith(slot: CheckpointSlot, value: Uint8Array): Uint8Array {
  const sd = dictOf([[slot === 'key' ? value : s('bn1.weight'), realTensor('0', 4)]]);
  const pairs: [Uint8Array, Uint8Array][] = [
    [s('epoch'), slot === 'epoch' ? value : int(3n)],
    [s('arch'), slot === 'arch' ? value : s('repghostnet_0_5x')],
    [s('state_dict'), sd],
    [s('metric'), slot === 'metric' ? value : float(50)],
  ];
  if (slot === 'args') pairs.push([s('args'), value]);
  return torchZip(pickleOf(dictOf(pairs)), [['0', new Uint8Array(16)]]);
}

/** A string value of `n` characters. */
export function longString(n: number): Uint8Array {
  return str('k'.repeat(n));
}

// ---------------------------------------------------------------------------
// safetensors

/** A safetensors file from a header text (written verbatim) and data bytes. */
export function safetensorsOf(headerText: string, data: Uint8Array, declaredLength?: bigint): Uint8Array {
  const h = enc.encode(headerText);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, declaredLength ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

const entry = (name: string, n: number, b: number, e: number, dtype = 'F32'): string =>
  `${JSON.stringify(name)}:{"dtype":"${dtype}","shape":[${n}],"data_offsets":[${b},${e}]}`;

/** The safetensors layouts findings 8 and 9 name. */
export type SafetensorsTrick =
  'duplicate-key' | 'overlap' | 'gap' | 'unordered' | 'empty-objects' | 'long-shape' | 'deep-nesting' | 'lying-length';

/** A safetensors file with one of the tricks; `n` scales it (entries, elements or bytes). */
export function hostileSafetensors(trick: SafetensorsTrick, n: number): Uint8Array {
  const data = new Uint8Array(16);
  switch (trick) {
    case 'duplicate-key': // the second entry wins in JSON.parse: another tensor's bytes
      return safetensorsOf(`{${entry('a', 2, 0, 8)},${entry('b', 2, 8, 16)},${entry('a', 2, 8, 16)}}`, data);
    case 'overlap':
      return safetensorsOf(`{${entry('a', 4, 0, 16)},${entry('b', 2, 8, 16)}}`, data);
    case 'gap':
      return safetensorsOf(`{${entry('a', 2, 0, 8)},${entry('b', 1, 12, 16)}}`, data);
    case 'unordered': // tiles the data, in another order: valid
      return safetensorsOf(`{${entry('b', 2, 8, 16)},${entry('a', 2, 0, 8)}}`, data);
    case 'empty-objects':
      return safetensorsOf(`{${Array.from({ length: n }, (_, i) => `"${i}":{}`).join(',')}}`, data);
    case 'long-shape':
      return safetensorsOf(
        `{"a":{"dtype":"F32","shape":[${Array(n).fill(0).join(',')}],"data_offsets":[0,0]},${entry('b', 4, 0, 16)}}`,
        data,
      );
    case 'deep-nesting':
      return safetensorsOf(`{"__metadata__":${'['.repeat(n)}${']'.repeat(n)}}`, data);
    case 'lying-length':
      return safetensorsOf(`{${entry('a', 4, 0, 16)}}`, data, BigInt(n));
  }
}

// ---------------------------------------------------------------------------
// IDX

/** A gzipped IDX file of uint8 [dims...] whose payload is `payload` zero bytes (the header may lie). */
export function lyingIdxGz(dims: number[], payload: number): Uint8Array {
  const head = new Uint8Array(4 + 4 * dims.length);
  head.set([0, 0, 0x08, dims.length]);
  const dv = new DataView(head.buffer);
  dims.forEach((d, i) => dv.setUint32(4 + 4 * i, d >>> 0, false));
  return new Uint8Array(gzipSync(concat(head, new Uint8Array(payload)), { level: 9 }));
}

// ---------------------------------------------------------------------------
// Drawn by the fuzzer

/** A hostile torch file with its sizes drawn from `rng` (a few KB to ~1 MB). */
export function randomHostileTorch(rng: Rng): Hostile {
  const kind = rng.weighted([
    ['fake', 3],
    ['shared', 3],
    ['dag', 3],
    ['long', 1],
    ['values', 2],
  ] as const);
  switch (kind) {
    case 'fake': {
      const variant = rng.pick(['u8', 'f32-bytes', 'short'] as const);
      const n = rng.pick([1, 4, 216, 1000]);
      const withReal = rng.chance(0.5);
      return {
        bytes: fakeTensorPth(variant, n, withReal),
        note: `fake tensor ${variant} n=${n}${withReal ? ' beside a real one' : ''}`,
      };
    }
    case 'shared': {
      const container = rng.pick(['dict', 'list', 'set'] as const);
      const keys = rng.pick([100, 5_000, 45_000]);
      const refs = rng.pick([100, 5_000, 45_000]);
      return {
        bytes: torchZip(sharedDictPickle(keys, refs, container)),
        note: `one ${container} of ${keys} items referenced ${refs} times`,
      };
    }
    case 'dag': {
      const slot = rng.pick(['arch', 'args', 'epoch', 'metric', 'key'] as const);
      const depth = rng.pick([10, 24, 40, 60]);
      const k = rng.pick(['tuple', 'list'] as const);
      return { bytes: checkpointWith(slot, dag(depth, k)), note: `${k} DAG of depth ${depth} as ${slot}` };
    }
    case 'long': {
      const slot = rng.pick(['arch', 'key'] as const);
      const n = rng.pick([1_000, 100_000, 1_000_000]);
      return { bytes: checkpointWith(slot, longString(n)), note: `${n}-character string as ${slot}` };
    }
    case 'values': {
      const slot = rng.pick(['epoch', 'metric'] as const);
      const v = rng.pick([-1e6, NaN, Infinity, -1, 1.5, 2 ** 60]);
      return { bytes: checkpointWith(slot, float(v)), note: `${slot} = ${v}` };
    }
  }
}

/** A hostile safetensors file with its trick and size drawn from `rng`. */
export function randomHostileSafetensors(rng: Rng): Hostile {
  const trick = rng.pick([
    'duplicate-key',
    'overlap',
    'gap',
    'unordered',
    'empty-objects',
    'long-shape',
    'deep-nesting',
    'lying-length',
  ] as const);
  const n = trick === 'lying-length' ? rng.pick([0, 1, 40, 2 ** 40, 2 ** 63]) : rng.pick([1, 100, 10_000, 200_000]);
  return { bytes: hostileSafetensors(trick, n), note: `safetensors ${trick} n=${n}` };
}

/** A gzipped IDX whose header lies (dims up to 2^32-1) over up to ~8 MB of zeros. */
export function randomLyingIdx(rng: Rng): Hostile {
  const dims = rng.pick([
    [2 ** 32 - 1, 28, 28],
    [60000, 28, 28],
    [1, 1, 1],
    [10, 28, 28],
    [2 ** 20, 2 ** 12],
    [0, 28, 28],
  ]);
  const payload = rng.pick([0, 784, 1 << 20, 8 << 20]);
  return { bytes: lyingIdxGz(dims, payload), note: `gzip IDX declaring [${dims.join(', ')}] over ${payload} bytes` };
}

// ---------------------------------------------------------------------------
// Images

/**
 * Image files outside the allow-list (SVG reading a sibling or a FIFO, an SVG filter
 * bomb, libvips' .v, PDF) and PNGs of extreme aspect ratio, made once per fuzz run.
 */
export async function hostileImages(): Promise<Hostile[]> {
  const { default: sharp } = await import('sharp');
  const svg = (body: string): Uint8Array =>
    enc.encode(`<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">${body}</svg>`);
  const png = async (w: number, h: number): Promise<Uint8Array> =>
    new Uint8Array(
      await sharp(Buffer.alloc(w * h * 3, 90), { raw: { width: w, height: h, channels: 3 } })
        .png()
        .toBuffer(),
    );
  return [
    { bytes: svg('<image href="secret.png" width="64" height="64"/>'), note: 'SVG referencing a sibling file' },
    { bytes: svg('<image href="/dev/stdin" width="64" height="64"/>'), note: 'SVG referencing a FIFO' },
    {
      bytes: svg(
        '<filter id="f"><feGaussianBlur stdDeviation="1000"/></filter><rect width="64" height="64" filter="url(#f)"/>',
      ),
      note: 'SVG filter',
    },
    { bytes: concat(enc.encode('\ufeff  '), svg('')), note: 'SVG after a BOM and spaces' },
    { bytes: concat(bytesOf(0x08, 0xf2, 0xa6, 0xb6), new Uint8Array(64)), note: 'libvips .v header' },
    { bytes: enc.encode('%PDF-1.4\n1 0 obj<<>>endobj\n'), note: 'PDF' },
    { bytes: await png(1, 250_000), note: 'PNG 1x250000' },
    { bytes: await png(250_000, 1), note: 'PNG 250000x1' },
  ];
}
