/**
 * Locating seed files: the golden reference data (../shared, or $REPGHOST_SHARED, as the
 * tests find it) and the Fashion-MNIST IDX files ($REPGHOST_FASHION_MNIST, default
 * /usr/share/datasets/fashion-mnist). Seeds are read, never written.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (fuzz/lib/ is two levels down). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The shared reference folder. */
export const sharedDir = process.env.REPGHOST_SHARED
  ? path.resolve(process.env.REPGHOST_SHARED)
  : path.resolve(repoRoot, '../shared');

/** Where the Fashion-MNIST IDX files (gzipped) live. */
export const fashionMnistDir = process.env.REPGHOST_FASHION_MNIST
  ? path.resolve(process.env.REPGHOST_FASHION_MNIST)
  : '/usr/share/datasets/fashion-mnist';

/** Reads a seed file, failing with the path when it is missing. */
export function readSeed(file: string): Uint8Array {
  if (!existsSync(file)) throw new Error(`fuzz seed missing: ${file} (set REPGHOST_SHARED / REPGHOST_FASHION_MNIST)`);
  const b = readFileSync(file);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Reads a file under shared/golden. */
export function golden(...parts: string[]): Uint8Array {
  return readSeed(path.join(sharedDir, 'golden', ...parts));
}
