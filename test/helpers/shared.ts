/** Locates ../shared (the read-only reference data) for tests. */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readSafetensors } from '../../src/weights/safetensors.js';
import type { StateDict } from '../../src/weights/tensor.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The shared reference folder: $REPGHOST_SHARED, else ../shared beside the repo. */
export const sharedDir = process.env.REPGHOST_SHARED
  ? path.resolve(process.env.REPGHOST_SHARED)
  : path.resolve(repoRoot, '../shared');

/** Absolute path of a file under shared/; fails with a message naming it when absent. */
export function sharedPath(...parts: string[]): string {
  const p = path.join(sharedDir, ...parts);
  if (!existsSync(p)) throw new Error(`reference file missing: ${p} (set REPGHOST_SHARED to the shared/ folder)`);
  return p;
}

/** Reads a safetensors file under shared/. */
export function sharedTensors(...parts: string[]): StateDict {
  return readSafetensors(new Uint8Array(readFileSync(sharedPath(...parts)))).tensors;
}

/** Max absolute difference of two float arrays of equal length. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
