/**
 * The public API as a user imports it: the packed tarball unpacked as node_modules/repghost of
 * a project outside the checkout (its dependencies linked to the checkout's, so this takes
 * seconds). Every name README.md and docs/*.md import must exist there, in JavaScript and in
 * the types; the README's library example must run and give PyTorch's logits, on
 * onnxruntime-node and on the wasm fallback. The real `npm ci` of the tarball is install.test.ts.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, repoRoot, sharedPath, sharedTensors } from '../helpers/shared.js';
import {
  docImports, exampleOutput, linkedProject, packTarball, run, runAny, userEnv, writeImportChecks, writeReadmeExample, type ExampleOutput,
} from './packed.js';

const checkpoint = sharedPath('golden', 'repghostnet_0_5x', 'checkpoint.pth');
const images = [sharedPath('golden', 'preprocess', 'chelsea.png'), sharedPath('golden', 'preprocess', 'coffee.png')];
/** PyTorch's EMA logits of chelsea.png through the bicubic eval pipeline (the API's default). */
const want = (sharedTensors('golden', 'repghostnet_0_5x', 'expected.safetensors').get('logits_ema')!.data as Float32Array).slice(0, 1000);
const WASM_NOTICE = /onnxruntime-web's wasm build/g;

let tgz: string;
let dir: string;
beforeAll(async () => {
  tgz = await packTarball();
  dir = await linkedProject(tgz);
}, 300_000);

/** The checks every run of the README example must pass. */
function checkExample(out: ExampleOutput): void {
  expect(out.logits).toHaveLength(2000);
  expect(maxAbsDiff(out.logits.slice(0, 1000), want)).toBeLessThan(1e-4);
  expect(out.top5).toHaveLength(5);
  expect(out.top5[0]!.index).toBe(want.indexOf(Math.max(...want)));
  expect(Object.keys(out.maps)).toEqual(['conv_stem', 'blocks.1', 'blocks.3', 'blocks.5', 'blocks.7']);
}

describe('the packed package', () => {
  it('holds every file its exports map names, and no sources or tests', async () => {
    const files = (await run('tar', ['-tzf', tgz], { cwd: repoRoot })).stdout.split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { exports: Record<string, string | Record<string, string>> };
    const targets = Object.values(pkg.exports).flatMap((t) => (typeof t === 'string' ? [t] : Object.values(t)));
    expect(targets.length).toBeGreaterThanOrEqual(9);
    for (const t of targets) expect(files, t).toContain(t.replace(/^\.\//, ''));
    expect(files.filter((f) => /^(src|test|bench|web)\//.test(f))).toEqual([]);
    // onnxruntime-node is optional: a user's type check must not need it.
    const importsOrt = /(from\s*|import\(\s*)['"]onnxruntime-node['"]/;
    const dts = files.filter((f) => f.endsWith('.d.ts'));
    const naming = dts.filter((f) => importsOrt.test(readFileSync(path.join(dir, 'node_modules/repghost', f), 'utf8')));
    expect(naming).toEqual([]);
  });

  it('exports every name README.md and docs/*.md import, as values and as types', async () => {
    const imports = docImports();
    const specifiers = new Set(imports.map((i) => i.specifier));
    // The parser must see the docs' imports at all (README's entry-point list names all four).
    for (const s of ['repghost', 'repghost/hub', 'repghost/train', 'repghost/browser']) expect(specifiers, s).toContain(s);
    const { script } = writeImportChecks(dir, imports);
    const missing = JSON.parse(exampleLine((await run(process.execPath, [script], { cwd: dir, env: userEnv() })).stdout)) as string[];
    expect(missing).toEqual([]);
    const tsc = path.join(repoRoot, 'node_modules/typescript/bin/tsc');
    const r = await run(process.execPath, [tsc, '-p', dir], { cwd: dir, env: userEnv() });
    expect(r.stdout).toBe('');
  });

  it("runs the README's library example on onnxruntime-node", async () => {
    const script = writeReadmeExample(dir, checkpoint, images);
    const r = await run(process.execPath, [script], { cwd: dir, env: userEnv() });
    checkExample(exampleOutput(r.stdout));
    expect(r.stderr).not.toMatch(WASM_NOTICE);
  });

  it('runs it on onnxruntime-web (wasm) in Node with REPGHOST_ORT=web, and says so once', async () => {
    const script = writeReadmeExample(dir, checkpoint, images);
    const r = await run(process.execPath, [script], { cwd: dir, env: userEnv({ REPGHOST_ORT: 'web' }) });
    checkExample(exampleOutput(r.stdout));
    expect(r.stderr.match(WASM_NOTICE)).toHaveLength(1);
  });

  it('rejects an unknown REPGHOST_ORT, naming it', async () => {
    const script = writeReadmeExample(dir, checkpoint, images);
    const r = await runAny(process.execPath, [script], { cwd: dir, env: userEnv({ REPGHOST_ORT: 'cuda' }) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/REPGHOST_ORT must be 'node' or 'web', got 'cuda'/);
  });
});

function exampleLine(stdout: string): string {
  const line = stdout.split('\n').find((l) => l.startsWith('@@'));
  if (!line) throw new Error(`no result line in:\n${stdout}`);
  return line.slice(2);
}
