/**
 * `pickle`: damage to the `data.pkl` record *inside an otherwise valid zip* (offsets,
 * sizes and CRC rewritten by replaceRecordData), so every case gets past the zip layer
 * and exercises the restricted unpickler and what consumes its result. Mutations are
 * opcode-aware: replace an opcode, corrupt a length prefix, an int argument (tensor
 * sizes, strides, offsets, storage numel) or a memo index, swap a GLOBAL for another
 * (allowed or hostile) one, change a string (storage keys, dict keys), delete,
 * duplicate or move opcodes, splice in a hostile snippet, truncate at an opcode.
 */
import { concat, flipBits, interestingValue, readUint, writeUint } from '../bytes.js';
import {
  ALLOWED_GLOBALS,
  HOSTILE_GLOBALS,
  OPCODE_BYTES,
  SNIPPETS,
  STRINGS,
  bytesOf,
  disassemble,
  glob,
  int,
  opName,
  type Op,
} from '../pickle-ops.js';
import type { Rng } from '../rng.js';
import { mapZip, replaceRecordData, type ZipLayout } from '../zip-layout.js';
import { randomHostileTorch } from '../hostile.js';
import { runTorch, torchSeeds, weightsMemoryBound } from './torch-common.js';
import type { CaseInput, FormatTarget, PreparedFormat, Seed } from './types.js';

/** Share of cases that are generated hostile structures (fuzz/lib/hostile.ts) instead of seed mutations. */
const HOSTILE_SHARE = 0.15;

interface PickleSeed {
  seed: Seed;
  layout: ZipLayout;
  record: string;
  pkl: Uint8Array;
  ops: Op[];
}

const enc = new TextEncoder();

/** Interesting integers for tensor geometry and counts. */
function interestingInt(rng: Rng, old: bigint): bigint {
  return rng.pick([
    0n,
    1n,
    -1n,
    2n,
    old + 1n,
    old - 1n,
    old * 2n,
    old * 1000n,
    -old,
    255n,
    256n,
    65535n,
    65536n,
    2n ** 31n - 1n,
    -(2n ** 31n),
    2n ** 32n,
    2n ** 40n,
    2n ** 53n - 1n,
    2n ** 53n + 1n,
    2n ** 63n,
    2n ** 64n,
  ]);
}

/** Decodes the value of an int opcode (BININT1/2, BININT, LONG1), or null. */
function intValue(p: Uint8Array, op: Op): bigint | null {
  switch (op.name) {
    case 'BININT1':
      return readUint(p, op.argAt, 1);
    case 'BININT2':
      return readUint(p, op.argAt, 2);
    case 'BININT':
      return BigInt.asIntN(32, readUint(p, op.argAt, 4));
    case 'LONG1': {
      if (!op.dataLen) return 0n;
      let v = 0n;
      for (let i = op.dataLen - 1; i >= 0; i--) v = (v << 8n) | BigInt(p[op.dataAt! + i]!);
      return BigInt.asIntN(8 * op.dataLen, v);
    }
    default:
      return null;
  }
}

/** Replaces the bytes of `op` with `bytes`. */
function replaceOp(p: Uint8Array, op: Op, bytes: Uint8Array): Uint8Array {
  return concat(p.subarray(0, op.pos), bytes, p.subarray(op.end));
}

/** One opcode-aware mutation of a pickle whose disassembly is `ops`. */
function mutatePickle(rng: Rng, p: Uint8Array, ops: Op[]): { pkl: Uint8Array; note: string } {
  if (ops.length < 2) return { pkl: p, note: 'no opcodes left to mutate' };
  const some = (pred: (o: Op) => boolean): Op | null => {
    const xs = ops.filter(pred);
    return xs.length ? rng.pick(xs) : null;
  };
  const kind = rng.weighted([
    ['opcode', 12],
    ['length', 12],
    ['int', 18],
    ['memo', 10],
    ['global', 10],
    ['string', 10],
    ['delete', 6],
    ['duplicate', 5],
    ['move', 4],
    ['snippet', 10],
    ['truncate', 3],
    ['flip', 5],
  ] as const);
  switch (kind) {
    case 'opcode': {
      const op = rng.pick(ops);
      const code = rng.pick(OPCODE_BYTES);
      const out = p.slice();
      out[op.pos] = code;
      return { pkl: out, note: `opcode ${op.name} -> ${opName(code)} @${op.pos}` };
    }
    case 'length': {
      const op = some((o) => o.arg.kind === 'len');
      if (op?.arg.kind !== 'len') break;
      const out = p.slice();
      const old = readUint(out, op.argAt, op.arg.width);
      const remaining = BigInt(p.length - op.argAt - op.arg.width);
      const v = rng.chance(0.3)
        ? rng.pick([remaining, remaining + 1n, remaining - 1n])
        : interestingValue(rng, op.arg.width, old, p.length);
      writeUint(out, op.argAt, op.arg.width, v);
      return { pkl: out, note: `${op.name} length ${old} -> ${v} @${op.pos}` };
    }
    case 'int': {
      const op = some((o) => intValue(p, o) !== null);
      if (!op) break;
      const old = intValue(p, op)!;
      const v = interestingInt(rng, old);
      return { pkl: replaceOp(p, op, int(v)), note: `${op.name} ${old} -> ${v} @${op.pos}` };
    }
    case 'memo': {
      const op = some((o) => /BINPUT|BINGET|MEMOIZE/.test(o.name));
      if (!op) break;
      const gets = ops.filter((o) => o.name === 'BINGET' || o.name === 'LONG_BINGET');
      // Half the time re-point at another memo slot that exists (type confusion), else any index.
      const idx =
        gets.length && rng.chance(0.5)
          ? readUint(p, rng.pick(gets).argAt, 4) & 0xffffffffn
          : interestingValue(rng, 4, 0n, p.length);
      const code = op.name === 'BINPUT' || op.name === 'LONG_BINPUT' ? 0x72 : op.name === 'MEMOIZE' ? 0x94 : 0x6a;
      const bytes = code === 0x94 ? bytesOf(0x94) : concat(bytesOf(code), new Uint8Array([0, 0, 0, 0]));
      if (code !== 0x94) writeUint(bytes, 1, 4, idx);
      return {
        pkl: replaceOp(p, op, bytes),
        note: `${op.name} -> ${opName(code)} ${code === 0x94 ? '' : idx} @${op.pos}`,
      };
    }
    case 'global': {
      const op = some((o) => o.name === 'GLOBAL');
      if (!op) break;
      const [m, n] = rng.chance(0.7) ? rng.pick(ALLOWED_GLOBALS) : rng.pick(HOSTILE_GLOBALS);
      return { pkl: replaceOp(p, op, glob(m, n)), note: `GLOBAL -> ${m}.${n} @${op.pos}` };
    }
    case 'string': {
      const op = some((o) => o.name === 'BINUNICODE' || o.name === 'SHORT_BINUNICODE');
      if (!op) break;
      const s = rng.pick(STRINGS);
      const b = enc.encode(s);
      const bytes =
        b.length < 256 && rng.chance(0.5)
          ? concat(bytesOf(0x8c, b.length), b)
          : concat(bytesOf(0x58, [b.length & 255, (b.length >> 8) & 255, (b.length >> 16) & 255, 0]), b);
      return {
        pkl: replaceOp(p, op, bytes),
        note: `string -> '${s.slice(0, 24)}'${s.length > 24 ? `... (${s.length})` : ''} @${op.pos}`,
      };
    }
    case 'delete': {
      const op = rng.pick(ops.slice(1));
      return { pkl: replaceOp(p, op, new Uint8Array(0)), note: `delete ${op.name} @${op.pos}` };
    }
    case 'duplicate': {
      const op = rng.pick(ops.slice(1));
      const times = rng.chance(0.8) ? 1 : rng.small(300);
      const once = p.subarray(op.pos, op.end);
      return {
        pkl: replaceOp(p, op, concat(...Array.from({ length: times + 1 }, () => once))),
        note: `duplicate ${op.name} x${times} @${op.pos}`,
      };
    }
    case 'move': {
      const a = rng.pick(ops.slice(1));
      const moved = p.slice(a.pos, a.end);
      const without = replaceOp(p, a, new Uint8Array(0));
      const targets = disassemble(without);
      const to = targets.length ? rng.pick(targets).pos : 0;
      return {
        pkl: concat(without.subarray(0, to), moved, without.subarray(to)),
        note: `move ${a.name} @${a.pos} -> @${to}`,
      };
    }
    case 'snippet': {
      const s = rng.pick(SNIPPETS);
      const at = rng.pick(ops.slice(1));
      // Insert before an opcode, or replace it (the snippet then stands where a value was).
      const replace = rng.chance(0.4);
      return {
        pkl: concat(p.subarray(0, at.pos), s.bytes, p.subarray(replace ? at.end : at.pos)),
        note: `${replace ? 'replace' : 'insert before'} ${at.name} @${at.pos} with snippet '${s.name}'`,
      };
    }
    case 'truncate': {
      const op = rng.pick(ops);
      const cut = Math.max(0, op.pos + rng.range(-1, 2));
      return { pkl: p.subarray(0, cut), note: `truncate pickle at ${cut} of ${p.length}` };
    }
    case 'flip':
      break;
  }
  const out = p.slice();
  return { pkl: out, note: `pickle ${flipBits(rng, out, rng.int(out.length))}` };
}

export const pickleFormat: FormatTarget = {
  name: 'pickle',
  description:
    'data.pkl inside a valid torch zip: opcodes, length prefixes, int arguments (tensor geometry), memo indices, ' +
    'globals, strings, hostile snippets; parsed by loadWeights',
  async prepare({ quick }): Promise<PreparedFormat> {
    const seeds = torchSeeds(quick);
    const pickles: PickleSeed[] = seeds.map((seed) => {
      const layout = mapZip(seed.bytes);
      const record = layout.records.find((r) => r.name.endsWith('/data.pkl'))!;
      const pkl = seed.bytes.subarray(record.dataStart, record.dataStart + record.size);
      return { seed, layout, record: record.name, pkl, ops: disassemble(pkl) };
    });
    return {
      seeds,
      mutate(rng: Rng): CaseInput {
        if (rng.chance(HOSTILE_SHARE)) {
          // A whole hostile structure (fake tensors, shared references, DAGs, huge names,
          // absurd values), half the time with one opcode-level mutation on top.
          const h = randomHostileTorch(rng);
          if (rng.chance(0.5)) return { bytes: h.bytes, seed: 'generated', notes: [h.note] };
          const layout = mapZip(h.bytes);
          const rec = layout.records.find((r) => r.name.endsWith('/data.pkl'))!;
          const pkl = h.bytes.subarray(rec.dataStart, rec.dataStart + rec.size);
          const r = mutatePickle(rng, pkl, disassemble(pkl));
          return {
            bytes: replaceRecordData(h.bytes, layout, rec.name, r.pkl),
            seed: 'generated',
            notes: [h.note, r.note],
          };
        }
        const s = rng.weighted(pickles.map((x) => [x, x.seed.weight] as const));
        let pkl = s.pkl;
        const notes: string[] = [];
        // The seed's disassembly is cached; only stacked mutations pay for a fresh one.
        for (
          let i = rng.weighted([
            [1, 6],
            [2, 3],
            [3, 1],
          ] as const);
          i > 0;
          i--
        ) {
          const r = mutatePickle(rng, pkl, pkl === s.pkl ? s.ops : disassemble(pkl));
          pkl = r.pkl;
          notes.push(r.note);
        }
        return {
          bytes: replaceRecordData(s.seed.bytes, s.layout, s.record, pkl),
          seed: s.seed.name,
          notes,
          ema: s.seed.name.includes('checkpoint') && rng.chance(0.5),
        };
      },
      run: runTorch,
      memoryBound: weightsMemoryBound,
    };
  },
};
