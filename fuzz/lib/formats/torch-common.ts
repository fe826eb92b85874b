/**
 * Seeds and the parse step shared by the `pth` (zip-level) and `pickle` (data.pkl-level)
 * formats: the golden torch.save files as PyTorch wrote them, plus one derived
 * mini-checkpoint (the golden timm checkpoint's whole structure, tensors cut to a few
 * elements) re-zipped with ZIP64 extra fields, which the golden files do not use.
 * Quick mode (the test suite) uses only small derived files: the same structures with
 * every dict cut to its first entries, which parse in a millisecond or two.
 */
import { loadWeights } from '../../../src/reparam/load.js';
import { isTensor } from '../../../src/weights/pickle.js';
import { readPth, writePth } from '../../../src/weights/pth.js';
import { looksLikeZip, readZip, writeZip } from '../../../src/weights/zip.js';
import type { Tensor } from '../../../src/weights/tensor.js';
import type { CaseInput, Seed } from './types.js';
import { MiB } from './types.js';
import { golden } from '../seeds.js';

/** The golden torch files, largest (slowest to parse) picked least often. */
function goldenSeeds(): Seed[] {
  const all: [string, number][] = [
    ['repghostnet_0_5x/checkpoint.pth', 1],
    ['repghostnet_1_0x/model.pth', 1.5],
    ['repghostnet_repid_0_5x/model.pth', 3],
    ['repghostnet_wo_0_5x/model.pth', 3],
  ];
  return all.map(([name, weight]) => ({ name, bytes: golden(...name.split('/')), weight }));
}

/**
 * Replaces every tensor in a value tree (in place) by a tiny one of the same dtype (shared
 * tensors stay shared) and, with `maxEntries`, cuts every dict to its first entries.
 */
function shrinkTensors(v: unknown, maxEntries = Infinity, seen = new Map<Tensor, Tensor>()): unknown {
  const shrink = (t: Tensor): Tensor => {
    let s = seen.get(t);
    if (!s) {
      const n = Math.min(t.data.length, 2);
      s = { dtype: t.dtype, shape: [n], data: t.data.slice(0, n) };
      seen.set(t, s);
    }
    return s;
  };
  if (isTensor(v)) return shrink(v);
  if (v instanceof Map) {
    let i = 0;
    for (const [k, x] of v) {
      if (i++ >= maxEntries) v.delete(k);
      else v.set(k, shrinkTensors(x, maxEntries, seen));
    }
  } else if (Array.isArray(v))
    v.forEach((x, i) => {
      v[i] = shrinkTensors(x, maxEntries, seen);
    });
  else if (typeof v === 'object' && v !== null && !ArrayBuffer.isView(v)) {
    for (const k of Object.keys(v))
      (v as Record<string, unknown>)[k] = shrinkTensors((v as Record<string, unknown>)[k], maxEntries, seen);
  }
  return v;
}

/**
 * A golden file's structure with tiny tensors (dicts cut to `maxEntries`), written by writePth, optionally with ZIP64
 * extra fields.
 */
function derived(name: string, file: string, prefix: string, maxEntries: number, zip64: boolean): Seed {
  const value = shrinkTensors(readPth(golden(...file.split('/'))), maxEntries);
  let bytes = writePth(value, { prefix });
  if (zip64) {
    const plain = readZip(bytes);
    bytes = writeZip(
      [...plain.entries.keys()].map((n) => ({ name: n, data: plain.read(n) })),
      { align: 64, forceZip64: true },
    );
  }
  return { name, bytes, weight: 3 };
}

/** All torch seeds for the pth and pickle formats. */
export function torchSeeds(quick: boolean): Seed[] {
  if (quick) {
    return [
      derived('derived/small-checkpoint-zip64.pth', 'repghostnet_0_5x/checkpoint.pth', 'checkpoint', 12, true),
      derived('derived/small-state-dict.pth', 'repghostnet_wo_0_5x/model.pth', 'model', 24, false),
    ];
  }
  return [
    ...goldenSeeds(),
    derived('derived/mini-checkpoint-zip64.pth', 'repghostnet_0_5x/checkpoint.pth', 'checkpoint', Infinity, true),
  ];
}

/**
 * The parse step of both torch formats: what `repghost convert/predict --weights` runs
 * (content sniffing, zip, restricted unpickler, state-dict extraction, model matching,
 * re-parameterization). Files that no longer start like a zip still go through readZip
 * directly, so damage to the first bytes does not hide the zip reader.
 */
export function runTorch(input: CaseInput): unknown {
  if (!looksLikeZip(input.bytes)) {
    const zip = readZip(input.bytes);
    for (const name of zip.entries.keys()) zip.read(name);
    return zip;
  }
  return loadWeights(input.bytes, { ema: input.ema, fileName: 'fuzz.pth' });
}

/** Weight files legitimately expand to their tensors (plus float32 copies and the fused deploy form). */
export function weightsMemoryBound(input: CaseInput): number {
  return 6 * input.bytes.length + 64 * MiB;
}
