/**
 * Builds the page with Vite's API into a given folder (tests and the benchmark build a
 * private copy so they never race `npm run web:build` or each other).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Rollup } from 'vite';

const webDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The emitted JS chunks (file name -> code), for checks on what the bundle contains. */
export type BuiltChunks = Map<string, string>;

/** Builds the page (index.html and bench.html) into `outDir`; returns the JS chunks. */
export async function buildPage(outDir: string): Promise<BuiltChunks> {
  const result = await build({
    configFile: path.join(webDir, 'vite.config.ts'),
    logLevel: 'warn',
    build: { outDir, emptyOutDir: true, sourcemap: false },
  });
  const outputs = (Array.isArray(result) ? result : [result]) as Rollup.RollupOutput[];
  const chunks: BuiltChunks = new Map();
  for (const o of outputs) {
    for (const c of o.output) if (c.type === 'chunk') chunks.set(c.fileName, c.code);
  }
  return chunks;
}
