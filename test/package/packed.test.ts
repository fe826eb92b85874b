/**
 * The package as a user gets it, from `npm pack` of the checkout (one tarball for both parts):
 *
 * 1. the public API: the tarball unpacked as node_modules/repghost of a project outside the
 *    checkout, its dependencies linked to the checkout's (seconds). Every name README.md and
 *    docs/*.md import must exist there, in JavaScript and in the types; the README's library
 *    example must run and give PyTorch's logits, on onnxruntime-node and on the wasm fallback.
 * 2. installing it as a dependency: `npm ci` in a fresh project, from npm's cache (offline),
 *    without the checkout's settings, where onnxruntime-node's GPU download cannot succeed.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, repoRoot, sharedPath, sharedTensors } from '../helpers/shared.js';
import {
  docImports,
  exampleOutput,
  linkedProject,
  lockedProject,
  packTarball,
  run,
  runAny,
  userEnv,
  writeImportChecks,
  writeReadmeExample,
  type ExampleOutput,
  type RunResult,
} from './packed.js';

const checkpoint = sharedPath('golden', 'repghostnet_0_5x', 'checkpoint.pth');
const images = [sharedPath('golden', 'preprocess', 'chelsea.png'), sharedPath('golden', 'preprocess', 'coffee.png')];
/** PyTorch's EMA logits of chelsea.png through the bicubic eval pipeline (the API's default). */
const want = (
  sharedTensors('golden', 'repghostnet_0_5x', 'expected.safetensors').get('logits_ema')!.data as Float32Array
).slice(0, 1000);
const WASM_NOTICE = /onnxruntime-web's wasm build/g;

let tgz: string;
let dir: string;
/** Temporary folders to remove: an installed project holds ~700 MB (ONNX Runtime for every platform, TensorFlow.js). */
const made: string[] = [];
beforeAll(async () => {
  tgz = await packTarball();
  dir = await linkedProject(tgz);
  made.push(path.dirname(tgz), dir);
}, 300_000);
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** The checks every run of the README example must pass. */
function checkExample(out: ExampleOutput): void {
  expect(out.logits).toHaveLength(2000);
  expect(maxAbsDiff(out.logits.slice(0, 1000), want)).toBeLessThan(1e-4);
  expect(out.top5).toHaveLength(5);
  expect(out.top5[0]!.index).toBe(want.indexOf(Math.max(...want)));
  expect(Object.keys(out.maps)).toEqual(['conv_stem', 'blocks.1', 'blocks.3', 'blocks.5', 'blocks.7']);
}

describe('the public API of the packed package', () => {
  it('holds every file its exports map names, and no sources or tests', async () => {
    const files = (await run('tar', ['-tzf', tgz], { cwd: repoRoot })).stdout
      .split('\n')
      .filter(Boolean)
      .map((f) => f.replace(/^package\//, ''));
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
      exports: Record<string, string | Record<string, string>>;
    };
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
    for (const s of ['repghost', 'repghost/hub', 'repghost/train', 'repghost/browser'])
      expect(specifiers, s).toContain(s);
    const { script } = writeImportChecks(dir, imports);
    const missing = JSON.parse(
      exampleLine((await run(process.execPath, [script], { cwd: dir, env: userEnv() })).stdout),
    ) as string[];
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

describe('npm ci of the tarball in a fresh project, as a dependency', () => {
  let app: string;
  let install: RunResult;
  beforeAll(async () => {
    app = lockedProject(tgz);
    made.push(app);
    // A user's shell: no .npmrc, no ONNXRUNTIME_NODE_INSTALL, no allowScripts. NuGet is made
    // unreachable (onnxruntime-node's download honours global-agent's proxy variables) so the
    // test is the same with or without a network: its postinstall fails, as it does offline.
    const env = userEnv({
      GLOBAL_AGENT_HTTPS_PROXY: 'http://127.0.0.1:9',
      GLOBAL_AGENT_HTTP_PROXY: 'http://127.0.0.1:9',
      REPGHOST_NATIVE: '0',
    });
    install = await runAny('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--foreground-scripts'], {
      cwd: app,
      env,
    });
  }, 300_000);

  it('succeeds, with onnxruntime-node dropped when its install script fails', () => {
    expect(install.code, install.stderr.slice(-3000)).toBe(0);
    expect(install.stdout + install.stderr).toMatch(/onnxruntime-node@[\d.]+ postinstall/);
    expect(existsSync(path.join(app, 'node_modules/onnxruntime-node'))).toBe(false);
    expect(existsSync(path.join(app, 'node_modules/repghost/dist/index.js'))).toBe(true);
  });

  it("runs the README's library example on the wasm build, saying so once", async () => {
    const script = writeReadmeExample(app, checkpoint, images);
    const r = await run(process.execPath, [script], { cwd: app, env: userEnv() });
    checkExample(exampleOutput(r.stdout));
    expect(r.stderr.match(WASM_NOTICE)).toHaveLength(1);
    expect(r.stderr).toMatch(/onnxruntime-node is not installed/);
  });

  it('fails, naming the package, when REPGHOST_ORT=node asks for the missing onnxruntime-node', async () => {
    const script = writeReadmeExample(app, checkpoint, images);
    const r = await runAny(process.execPath, [script], { cwd: app, env: userEnv({ REPGHOST_ORT: 'node' }) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Cannot find package 'onnxruntime-node'/);
    expect(r.stderr).not.toMatch(WASM_NOTICE);
  });

  it('resolves every name the docs import, and the repghost command runs', async () => {
    const { script } = writeImportChecks(app, docImports());
    const missing = JSON.parse(
      exampleLine((await run(process.execPath, [script], { cwd: app, env: userEnv() })).stdout),
    ) as string[];
    expect(missing).toEqual([]);
    const info = await run(path.join(app, 'node_modules/.bin/repghost'), ['info', 'repghostnet_0_5x', '--json'], {
      cwd: app,
      env: userEnv(),
    });
    expect(JSON.parse(info.stdout)).toMatchObject({ model: 'repghostnet_0_5x' });
  });
});

function exampleLine(stdout: string): string {
  const line = stdout.split('\n').find((l) => l.startsWith('@@'));
  if (!line) throw new Error(`no result line in:\n${stdout}`);
  return line.slice(2);
}
