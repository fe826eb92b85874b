/**
 * `pth`: zip-level damage to torch.save files. Mutations aim at the fields a zip reader
 * trusts: end-of-central-directory counts/sizes/offsets, the ZIP64 locator and record,
 * central-directory entries (sizes, header offsets, name/extra/comment lengths, method,
 * flags, ZIP64 extra values) and local headers (name/extra lengths that position the
 * data), plus truncation at structure boundaries, duplicated/reordered directory
 * entries and generic damage biased to header bytes.
 */
import { genericMutation, insertAt, interestingValue, readUint, replaceAt, writeUint } from '../bytes.js';
import { randomHostileTorch } from '../hostile.js';
import type { Rng } from '../rng.js';
import { mapZip, type ZipField, type ZipLayout } from '../zip-layout.js';
import { runTorch, torchSeeds, weightsMemoryBound } from './torch-common.js';
import type { CaseInput, FormatTarget, PreparedFormat, Seed } from './types.js';

interface ZipSeed {
  seed: Seed;
  layout: ZipLayout;
}

/** Picks a field: end records, a directory entry (often data.pkl's) or a local header. */
function pickField(rng: Rng, z: ZipLayout): ZipField {
  const area = rng.weighted([
    ['end', 30],
    ['central', 45],
    ['local', 25],
  ] as const);
  if (area === 'end') return rng.pick(z.endFields);
  // Entry 0 is data.pkl in torch's files; the last ones are byteorder/version.
  const n = z.records.length;
  const i = rng.weighted([
    [0, 40],
    [n - 1, 10],
    [rng.int(Math.min(n, 8)), 20],
    [rng.int(n), 30],
  ] as const);
  return rng.pick(area === 'central' ? z.centralFields[i]! : z.localFields[i]!);
}

/** One zip-structure mutation that keeps the file length (so field positions stay valid). */
function fieldMutation(rng: Rng, b: Uint8Array, z: ZipLayout): string {
  const f = pickField(rng, z);
  const old = readUint(b, f.at, f.width);
  const v = interestingValue(rng, f.width, old, b.length);
  writeUint(b, f.at, f.width, v);
  return `${f.name}: ${old} -> ${v}`;
}

/** Mutations that move structures around (length may change; done last). */
function structuralMutation(rng: Rng, b: Uint8Array, z: ZipLayout): { bytes: Uint8Array; note: string } {
  const kind = rng.pick([
    'cut-at-boundary',
    'dup-central',
    'swap-central',
    'prepend',
    'append',
    'drop-end-records',
  ] as const);
  const rec = rng.pick(z.records);
  const centralLen = (i: number): number => {
    const next = z.records[i + 1]?.centralAt ?? z.cdOffset + z.cdSize;
    return next - z.records[i]!.centralAt;
  };
  switch (kind) {
    case 'cut-at-boundary': {
      const bounds = [
        z.eocd,
        z.locator ?? z.eocd,
        z.eocd64 ?? z.eocd,
        z.cdOffset,
        z.cdOffset + z.cdSize,
        rec.centralAt,
        rec.headerOffset,
        rec.dataStart,
        rec.dataStart + rec.size,
      ];
      const cut = Math.max(0, Math.min(b.length, rng.pick(bounds) + rng.range(-3, 3)));
      return { bytes: b.subarray(0, cut), note: `truncate at structure boundary ${cut} of ${b.length}` };
    }
    case 'dup-central': {
      const i = rng.int(z.records.length);
      const entry = b.slice(z.records[i]!.centralAt, z.records[i]!.centralAt + centralLen(i));
      return {
        bytes: insertAt(b, z.records[rng.int(z.records.length)]!.centralAt, entry),
        note: `duplicate central entry ${i} (${z.records[i]!.name})`,
      };
    }
    case 'swap-central': {
      const i = rng.int(z.records.length - 1);
      const a = b.slice(z.records[i]!.centralAt, z.records[i]!.centralAt + centralLen(i));
      const c = b.slice(z.records[i + 1]!.centralAt, z.records[i + 1]!.centralAt + centralLen(i + 1));
      const out = replaceAt(b, z.records[i]!.centralAt, a.length + c.length, new Uint8Array([...c, ...a]));
      return { bytes: out, note: `swap central entries ${i} and ${i + 1}` };
    }
    case 'prepend': {
      const n = rng.small(4096);
      return {
        bytes: insertAt(b, 0, new Uint8Array(n).fill(rng.int(256))),
        note: `prepend ${n} bytes (offsets now all wrong)`,
      };
    }
    case 'append': {
      const n = rng.small(70000);
      return {
        bytes: insertAt(b, b.length, new Uint8Array(n).fill(rng.pick([0, 0x50, 0xff]))),
        note: `append ${n} bytes after the end record`,
      };
    }
    case 'drop-end-records': {
      const from = z.eocd64 ?? z.locator ?? z.eocd;
      return { bytes: b.subarray(0, from), note: 'drop the end records' };
    }
  }
}

export const pthFormat: FormatTarget = {
  name: 'pth',
  description:
    'torch.save zip files: end records, ZIP64 locator/record, central directory, local headers; ' +
    'parsed by loadWeights (readCheckpoint -> readPth -> readZip)',
  async prepare({ quick }): Promise<PreparedFormat> {
    const seeds = torchSeeds(quick);
    const zips: ZipSeed[] = seeds.map((seed) => ({ seed, layout: mapZip(seed.bytes) }));
    const donors = seeds.map((s) => s.bytes.subarray(0, 1 << 16));
    return {
      seeds,
      mutate(rng: Rng): CaseInput {
        if (rng.chance(0.1)) {
          // A generated hostile torch file, half the time with zip-level damage on top.
          const h = randomHostileTorch(rng);
          if (rng.chance(0.5)) return { bytes: h.bytes, seed: 'generated', notes: [h.note] };
          const layout = mapZip(h.bytes);
          const bytes = h.bytes.slice();
          return { bytes, seed: 'generated', notes: [h.note, fieldMutation(rng, bytes, layout)] };
        }
        const z = rng.weighted(zips.map((x) => [x, x.seed.weight] as const));
        let bytes: Uint8Array = z.seed.bytes.slice();
        const notes: string[] = [];
        const n = rng.range(1, 3);
        // In-place field edits first: they rely on the seed's layout, which later length changes would shift.
        const plan = Array.from({ length: n }, () =>
          rng.weighted([
            ['field', 55],
            ['generic', 30],
            ['structural', 15],
          ] as const),
        ).sort((a, b) => (a === 'field' ? -1 : b === 'field' ? 1 : 0));
        for (const step of plan) {
          if (step === 'field') notes.push(fieldMutation(rng, bytes, z.layout));
          else {
            const r =
              step === 'generic'
                ? genericMutation(rng, bytes, z.layout.hot, donors)
                : structuralMutation(rng, bytes, z.layout);
            bytes = r.bytes;
            notes.push(r.note);
          }
        }
        return { bytes, seed: z.seed.name, notes, ema: z.seed.name.includes('checkpoint') && rng.chance(0.5) };
      },
      run: runTorch,
      memoryBound: weightsMemoryBound,
    };
  },
};
