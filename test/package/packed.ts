/**
 * The package as a user gets it: `npm pack` of the checkout, installed into a temporary
 * project outside the repository. Also the doc parser that finds every `import ... from
 * 'repghost...'` in README.md and docs/*.md, and the README's library example as a script.
 * Nothing here uses the network: installs read npm's cache only (`--offline`).
 */
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../helpers/shared.js';

/** How a child process ended. */
export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command without blocking the test worker (vitest's RPC must keep running during
 * an install); resolves however it ends.
 */
export function runAny(
  cmd: string,
  args: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv; timeout?: number },
): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, timeout: opts.timeout ?? 300_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (e) => resolve({ code: null, stdout, stderr: `${stderr}${e.message}` }));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Like {@link runAny}, but rejects with the output when the command fails. */
export async function run(
  cmd: string,
  args: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv; timeout?: number },
): Promise<RunResult> {
  const r = await runAny(cmd, args, opts);
  if (r.code !== 0)
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}):\n${r.stdout}\n${r.stderr}`.slice(-4000));
  return r;
}

/**
 * The environment of a user's shell: no npm_* variables leaking from `npm test` (the cache
 * location aside: the offline installs read the packages from it), no ORT install flag.
 */
export function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    const npmSetting = /^npm_/i.test(k) && k.toLowerCase() !== 'npm_config_cache';
    if (npmSetting || k.startsWith('ONNXRUNTIME_NODE_INSTALL') || k === 'REPGHOST_ORT' || k.startsWith('VITEST'))
      continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

function newestMtime(dir: string, ext: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(p, ext));
    else if (e.name.endsWith(ext)) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

let tarball: Promise<string> | undefined;

/**
 * `npm pack` of the checkout into a temporary folder; returns the tarball's path. dist/ is
 * rebuilt first (the `prepare` script, as `npm pack` and `npm publish` run it) unless it is
 * newer than every source file, which keeps the common case fast.
 */
export function packTarball(): Promise<string> {
  tarball ??= pack();
  return tarball;
}

async function pack(): Promise<string> {
  const dist = path.join(repoRoot, 'dist');
  const fresh =
    existsSync(path.join(dist, 'index.js')) &&
    newestMtime(dist, '.js') >= newestMtime(path.join(repoRoot, 'src'), '.ts');
  if (!fresh) await run('npm', ['run', 'build'], { cwd: repoRoot });
  const out = mkdtempSync(path.join(os.tmpdir(), 'repghost-pack-'));
  const r = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', out], { cwd: repoRoot });
  const [info] = JSON.parse(r.stdout) as [{ filename: string }];
  return path.join(out, info.filename);
}

/** A fresh project folder outside the repository with a package.json of its own. */
export function newProject(prefix: string, pkg: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module', ...pkg }, null, 2),
  );
  return dir;
}

/**
 * The tarball unpacked as `node_modules/repghost` of a new project whose other packages are
 * links to the checkout's node_modules: the published files and `exports` exactly, in a second.
 */
export async function linkedProject(tgz: string): Promise<string> {
  const dir = newProject('repghost-linked-');
  const modules = path.join(dir, 'node_modules');
  mkdirSync(path.join(modules, 'repghost'), { recursive: true });
  await run('tar', ['-xzf', tgz, '-C', path.join(modules, 'repghost'), '--strip-components=1'], { cwd: dir });
  for (const name of readdirSync(path.join(repoRoot, 'node_modules'))) {
    if (name.startsWith('.') || name === 'repghost') continue;
    symlinkSync(path.join(repoRoot, 'node_modules', name), path.join(modules, name));
  }
  return dir;
}

interface LockEntry {
  dev?: boolean;
  [k: string]: unknown;
}

/**
 * A new project that depends on the tarball, with a package-lock.json made from the
 * checkout's (the same versions, minus dev-only packages), so that `npm ci --offline`
 * installs it from npm's cache exactly as `npm install <tarball>` would from the registry.
 */
export function lockedProject(tgz: string): string {
  const dir = newProject('repghost-installed-');
  const spec = `file:${path.relative(dir, tgz)}`;
  const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ ...pkg, dependencies: { repghost: spec } }, null, 2));
  const lock = JSON.parse(readFileSync(path.join(repoRoot, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  const root = lock.packages['']!;
  const packages: Record<string, unknown> = {
    '': { name: 'app', version: '1.0.0', dependencies: { repghost: spec } },
    'node_modules/repghost': {
      version: root.version,
      resolved: spec,
      hasInstallScript: true,
      license: root.license,
      engines: root.engines,
      bin: root.bin,
      dependencies: root.dependencies,
      optionalDependencies: root.optionalDependencies,
    },
  };
  for (const [key, entry] of Object.entries(lock.packages)) if (key && !entry.dev) packages[key] = entry;
  writeFileSync(
    path.join(dir, 'package-lock.json'),
    JSON.stringify({ name: 'app', version: '1.0.0', lockfileVersion: 3, requires: true, packages }, null, 2),
  );
  return dir;
}

/** One `import { ... } from 'repghost...'` found in a doc. */
export interface DocImport {
  doc: string;
  specifier: string;
  /** Imported names (the exported side of `a as b`). */
  values: string[];
  types: string[];
  /** The statement as written. */
  statement: string;
}

/** Every import from the package in README.md and docs/*.md (code blocks included, any layout). */
export function docImports(): DocImport[] {
  const docs = [
    'README.md',
    ...readdirSync(path.join(repoRoot, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`),
  ];
  const found: DocImport[] = [];
  const re = /import\s+(type\s+)?\{([^}]*)\}\s*from\s*['"](repghost(?:\/[\w/-]+)?)['"]/g;
  for (const doc of docs) {
    const text = readFileSync(path.join(repoRoot, doc), 'utf8');
    for (const m of text.matchAll(re)) {
      const typeOnly = Boolean(m[1]);
      const values: string[] = [];
      const types: string[] = [];
      for (const raw of m[2]!
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)) {
        const isType = typeOnly || raw.startsWith('type ');
        const name = raw
          .replace(/^type\s+/, '')
          .split(/\s+as\s+/)[0]!
          .trim();
        (isType ? types : values).push(name);
      }
      found.push({ doc, specifier: m[3]!, values, types, statement: m[0] });
    }
  }
  return found;
}

/** The README's library example: the first ts code block that calls `RepGhost.load`. */
export function readmeExample(): string {
  const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  const block = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)]
    .map((m) => m[1]!)
    .find((b) => b.includes('RepGhost.load('));
  if (!block) throw new Error('README.md has no ts block calling RepGhost.load');
  return block;
}

/** What the README example printed (appended to it by {@link writeReadmeExample}). */
export interface ExampleOutput {
  top5: { label: string; index: number; probability: number }[];
  maps: Record<string, number[]>;
  logits: number[];
}

/**
 * Writes the README's library example into `dir` as example.mjs, with its file names pointing
 * at real files (weights -> `weights`, images -> `images` in order of appearance) and a line
 * that prints what it computed.
 */
export function writeReadmeExample(dir: string, weights: string, images: string[]): string {
  const seen: string[] = [];
  const code = readmeExample()
    .replace(/'[^'\n]+\.(?:pth\.tar|pth|safetensors|bin)'/g, JSON.stringify(weights))
    .replace(/'([^'\n]+\.(?:jpe?g|png|webp))'/g, (_, name: string) => {
      if (!seen.includes(name)) seen.push(name);
      const image = images[seen.indexOf(name)];
      if (!image) throw new Error(`README example uses more images than the test supplies (${seen.join(', ')})`);
      return JSON.stringify(image);
    });
  const report =
    "\nconsole.log('@@' + JSON.stringify({ top5, logits: Array.from(logits), " +
    'maps: Object.fromEntries(Object.entries(maps).map(([k, v]) => [k, v.dims])) }));\n';
  const file = path.join(dir, 'example.mjs');
  writeFileSync(file, code + report);
  return file;
}

/** Parses the line the example printed. */
export function exampleOutput(stdout: string): ExampleOutput {
  const line = stdout.split('\n').find((l) => l.startsWith('@@'));
  if (!line) throw new Error(`the example printed no result:\n${stdout}`);
  return JSON.parse(line.slice(2)) as ExampleOutput;
}

/**
 * Writes a script that imports each doc import's module and prints the value names it lacks
 * (a JSON list), and one TypeScript file per import statement for tsc to check the types too.
 */
export function writeImportChecks(dir: string, imports: DocImport[]): { script: string; typeFiles: string[] } {
  const want: Record<string, string[]> = {};
  for (const i of imports) want[i.specifier] = [...new Set([...(want[i.specifier] ?? []), ...i.values])];
  const script = path.join(dir, 'check-imports.mjs');
  writeFileSync(
    script,
    `const want = ${JSON.stringify(want)};\nconst missing = [];\n` +
      'for (const [spec, names] of Object.entries(want)) {\n  const m = await import(spec);\n' +
      '  for (const n of names) if (!(n in m)) missing.push(`${spec}: ${n}`);\n}\n' +
      "console.log('@@' + JSON.stringify(missing));\n",
  );
  const typeFiles = imports.map((imp, k) => {
    const file = path.join(dir, `check-types-${k}.ts`);
    writeFileSync(file, `// ${imp.doc}\n${imp.statement};\nexport {};\n`);
    return file;
  });
  writeFileSync(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        target: 'ES2022',
        lib: ['ES2023', 'DOM'],
        strict: true,
        skipLibCheck: true,
        noEmit: true,
        types: ['node'],
      },
      files: typeFiles.map((f) => path.basename(f)),
    }),
  );
  return { script, typeFiles };
}
