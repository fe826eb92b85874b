/**
 * `safetensors`: the 8-byte header length, the JSON header (structure-aware edits of
 * dtype, shape, data_offsets, entry types, __metadata__, duplicated entries that alias
 * one data range, renamed keys) and generic damage to the header text and the data.
 * Parsed by readSafetensors, then (for files that still look like safetensors) by loadWeights.
 */
import { loadWeights } from '../../../src/reparam/load.js';
import { looksLikeSafetensors, readSafetensors, writeSafetensors } from '../../../src/weights/safetensors.js';
import { concat, genericMutation, interestingValue, readUint, writeUint } from '../bytes.js';
import type { Rng } from '../rng.js';
import { golden } from '../seeds.js';
import { randomHostileSafetensors } from '../hostile.js';
import { weightsMemoryBound } from './torch-common.js';
import type { CaseInput, FormatTarget, PreparedFormat, Seed } from './types.js';

interface StSeed {
  seed: Seed;
  headerLen: number;
  header: Record<string, unknown>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

const DTYPES: unknown[] = [
  'F32',
  'F64',
  'F16',
  'BF16',
  'I64',
  'I32',
  'I16',
  'I8',
  'U8',
  'BOOL',
  'Q4',
  '',
  'f32',
  7,
  null,
  {},
  'F8_E4M3',
  'U64',
];

function shapeVariant(rng: Rng, shape: number[]): unknown {
  return rng.pick<unknown>([
    [],
    [0],
    [-1],
    [1e20],
    [2 ** 53],
    [2 ** 53 + 2],
    [1.5],
    ['3'],
    null,
    {},
    [...shape, 1],
    [...shape, 2],
    shape.map((d) => d * 2),
    [...shape].reverse(),
    [2 ** 31, 2 ** 31],
    [2 ** 26, 2 ** 26],
    shape.slice(1),
    Array(65).fill(1),
    [NaN],
    'shape',
  ]);
}

function offsetsVariant(rng: Rng, [b, e]: [number, number], dataLen: number, other: [number, number]): unknown {
  return rng.pick<unknown>([
    [0, 0],
    [e, b],
    [b, e + 1],
    [b - 1, e - 1],
    [b + 1, e + 1],
    [0, dataLen],
    [b, 2 ** 53],
    [-1, e],
    [b],
    [b, e, 0],
    ['0', String(e)],
    [1.5, e],
    [...other],
    [0, e - b],
    [dataLen, dataLen],
    [dataLen - (e - b), dataLen],
    null,
    [b, dataLen + 1],
    [1e300, 1e300],
  ]);
}

/** One structure-aware edit of a parsed header (in place); returns a note. */
function editHeader(rng: Rng, h: Record<string, unknown>, dataLen: number): string {
  const names = Object.keys(h).filter((k) => k !== '__metadata__');
  if (!names.length) {
    h.x = { dtype: 'F32', shape: [1], data_offsets: [0, 4] };
    return 'add an entry to an empty header';
  }
  const name = rng.pick(names);
  // An earlier edit may have replaced the entry by a non-object: give the next edit an object again.
  if (typeof h[name] !== 'object' || h[name] === null) h[name] = {};
  const e = h[name] as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  const offs = (Array.isArray(e?.data_offsets) ? e.data_offsets : [0, 0]) as [number, number];
  const kind = rng.weighted([
    ['dtype', 12],
    ['shape', 16],
    ['offsets', 18],
    ['drop-field', 6],
    ['drop-entry', 5],
    ['alias', 10],
    ['alias-many', 4],
    ['entry-type', 6],
    ['metadata', 8],
    ['rename', 8],
    ['header-type', 2],
    ['swap-offsets', 5],
  ] as const);
  switch (kind) {
    case 'dtype':
      e.dtype = rng.pick(DTYPES);
      return `${name}.dtype = ${JSON.stringify(e.dtype)}`;
    case 'shape':
      e.shape = shapeVariant(rng, (Array.isArray(e.shape) ? e.shape : []) as number[]);
      return `${name}.shape = ${JSON.stringify(e.shape)}`;
    case 'offsets': {
      const other = (h[rng.pick(names)] as { data_offsets?: [number, number] } | null)?.data_offsets ?? [0, 0];
      e.data_offsets = offsetsVariant(rng, offs, dataLen, other);
      return `${name}.data_offsets = ${JSON.stringify(e.data_offsets)}`;
    }
    case 'drop-field': {
      const f = rng.pick(['dtype', 'shape', 'data_offsets'] as const);
      delete e[f];
      return `delete ${name}.${f}`;
    }
    case 'drop-entry':
      delete h[name];
      return `delete entry ${name}`;
    case 'alias': {
      // A second entry reading the same bytes: legal JSON, overlapping data ranges.
      h[`${name}.alias`] = { ...e };
      return `alias ${name}`;
    }
    case 'alias-many': {
      const n = rng.small(4000);
      for (let i = 0; i < n; i++) h[`${name}.alias${i}`] = { ...e };
      return `alias ${name} x${n}`;
    }
    case 'entry-type':
      h[name] = rng.pick<unknown>([1, 'x', [], null, true, { dtype: 'F32' }]);
      return `${name} = ${JSON.stringify(h[name])}`;
    case 'metadata':
      h.__metadata__ = rng.pick<unknown>([
        null,
        1,
        'x',
        [],
        { arch: 'repghostnet_1_0x' },
        { arch: 'resnet50' },
        { arch: { nested: [1] } },
        { format: 'pt', arch: '' },
        { arch: 'x'.repeat(100000) },
      ]);
      return `__metadata__ = ${JSON.stringify(h.__metadata__)?.slice(0, 40)}`;
    case 'rename': {
      const to = rng.pick([
        '__proto__',
        'constructor',
        '',
        `module.${name}`,
        name.replace(/\d/, '9'),
        'classifier.weight',
        `${name}\u0000`,
      ]);
      const v = h[name];
      delete h[name];
      Object.defineProperty(h, to, { value: v, enumerable: true, writable: true, configurable: true });
      return `rename ${name} -> ${JSON.stringify(to)}`;
    }
    case 'header-type':
      return 'header-type';
    case 'swap-offsets': {
      const other = h[rng.pick(names)] as { data_offsets?: unknown } | null;
      if (typeof other !== 'object' || other === null) return 'swap data_offsets with a non-object entry (no-op)';
      const t = e.data_offsets;
      e.data_offsets = other.data_offsets;
      other.data_offsets = t;
      return `swap data_offsets of ${name} with another entry`;
    }
  }
}

/** The first `n` tensors of a golden safetensors file, re-written (a small seed for quick mode). */
function firstTensors(file: string, n: number): Seed {
  const { tensors, metadata } = readSafetensors(golden(...file.split('/')));
  return {
    name: `derived/${file.replace('/', '-')}[:${n}]`,
    bytes: writeSafetensors(new Map([...tensors].slice(0, n)), metadata),
    weight: 2,
  };
}

export const safetensorsFormat: FormatTarget = {
  name: 'safetensors',
  description:
    'header length, JSON header (dtype, shape, data_offsets, aliasing entries, __metadata__), header text and ' +
    'data; parsed by readSafetensors and loadWeights',
  async prepare({ quick }): Promise<PreparedFormat> {
    const all: [string, number][] = [
      ['repghostnet_norep_0_5x/model.safetensors', 3],
      ['repghostnet_repid_0_5x/deploy.safetensors', 3],
      ['repghostnet_0_5x/deploy_ema.safetensors', 1],
      ['repghostnet_0_5x/expected.safetensors', 1],
      ['repghostnet_1_0x/expected.safetensors', 2],
      ['input_224.safetensors', 1],
      ['train_step_0_5x.safetensors', 1],
    ];
    // Quick mode: the small golden file plus the first tensors of a golden state dict.
    const seeds: Seed[] = quick
      ? [
          {
            name: 'repghostnet_1_0x/expected.safetensors',
            bytes: golden('repghostnet_1_0x', 'expected.safetensors'),
            weight: 1,
          },
          firstTensors('repghostnet_repid_0_5x/deploy.safetensors', 40),
        ]
      : all.map(([name, weight]) => ({ name, bytes: golden(...name.split('/')), weight }));
    const parsed: StSeed[] = seeds.map((seed) => {
      const headerLen = Number(readUint(seed.bytes, 0, 8));
      return {
        seed,
        headerLen,
        header: JSON.parse(dec.decode(seed.bytes.subarray(8, 8 + headerLen))) as Record<string, unknown>,
      };
    });
    const donors = seeds.map((s) => s.bytes.subarray(0, 1 << 14));
    return {
      seeds,
      mutate(rng: Rng): CaseInput {
        if (rng.chance(0.15)) {
          // Duplicate keys, overlapping/gapped ranges, headers of empty objects, huge shapes, lying lengths.
          const h = randomHostileSafetensors(rng);
          return { bytes: h.bytes, seed: 'generated', notes: [h.note] };
        }
        const s = rng.weighted(parsed.map((x) => [x, x.seed.weight] as const));
        const notes: string[] = [];
        let bytes: Uint8Array;
        const kind = rng.weighted([
          ['json', 50],
          ['length', 12],
          ['header-text', 18],
          ['generic', 20],
        ] as const);
        if (kind === 'json') {
          let h: unknown = structuredClone(s.header);
          const dataLen = s.seed.bytes.length - 8 - s.headerLen;
          for (let i = rng.range(1, 3); i > 0; i--) {
            const note = editHeader(rng, h as Record<string, unknown>, dataLen);
            if (note === 'header-type') {
              h = rng.pick<unknown>([[], 'x', 1, null, [h]]);
              notes.push(`header = ${JSON.stringify(h)?.slice(0, 30)}`);
              break;
            }
            notes.push(note);
          }
          const json = enc.encode(JSON.stringify(h));
          const lenField = new Uint8Array(8);
          // Usually keep the length consistent so the JSON is what gets tested.
          writeUint(
            lenField,
            0,
            8,
            rng.chance(0.85) ? BigInt(json.length) : interestingValue(rng, 8, BigInt(json.length), s.seed.bytes.length),
          );
          bytes = concat(lenField, json, s.seed.bytes.subarray(8 + s.headerLen));
        } else if (kind === 'length') {
          bytes = s.seed.bytes.slice();
          const v = interestingValue(rng, 8, BigInt(s.headerLen), bytes.length);
          writeUint(bytes, 0, 8, v);
          notes.push(`header length ${s.headerLen} -> ${v}`);
        } else {
          const hot: [number, number][] = kind === 'header-text' ? [[8, 8 + s.headerLen]] : [[0, 8 + s.headerLen]];
          const r = genericMutation(rng, s.seed.bytes.slice(), hot, donors);
          bytes = r.bytes;
          notes.push(r.note);
        }
        return { bytes, seed: s.seed.name, notes };
      },
      run(input: CaseInput): unknown {
        const parsed = readSafetensors(input.bytes);
        if (!looksLikeSafetensors(input.bytes)) return parsed;
        return [parsed, loadWeights(input.bytes, { fileName: 'fuzz.safetensors' })];
      },
      memoryBound: weightsMemoryBound,
    };
  },
};
