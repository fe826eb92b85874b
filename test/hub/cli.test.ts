/**
 * `repghost download`: once end to end (the real CLI in a child process, so main.ts's
 * wiring is covered), the rest in-process through the same command registration and
 * error reporter (child processes cost seconds each).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { register } from '../../src/cli/commands/download.js';
import { reportError } from '../../src/cli/errors.js';
import { repoRoot } from '../helpers/shared.js';
import { startHubServer, type HubServer } from './server.js';

let srv: HubServer;
let cacheDir: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `repghost ...` in a child process with a clean REPGHOST_* environment plus `env`. */
function spawnCli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REPGHOST_')));
  return new Promise((resolve) => {
    execFile(
      path.join(repoRoot, 'node_modules', '.bin', 'tsx'),
      [path.join(repoRoot, 'src', 'cli', 'main.ts'), ...args],
      { cwd: repoRoot, env: { ...base, ...env } },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
      },
    );
  });
}

/** Runs `repghost download ...` in-process: stdout/stderr captured, exit code as main.ts sets it. */
async function runCli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const saved = { ...process.env };
  process.env = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REPGHOST_'))),
    ...env,
  };
  const out: string[] = [];
  const err: string[] = [];
  const so = vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
    out.push(String(s));
    return true;
  });
  const se = vi.spyOn(process.stderr, 'write').mockImplementation((s) => {
    err.push(String(s));
    return true;
  });
  const before = process.exitCode;
  process.exitCode = 0;
  try {
    const program = new Command('repghost').exitOverride();
    register(program);
    await program.parseAsync(['node', 'repghost', 'download', ...args]);
  } catch (e) {
    reportError(e, false);
  } finally {
    so.mockRestore();
    se.mockRestore();
    process.env = saved;
  }
  // Set by main.ts during the awaits above; TypeScript still holds it to the 0 assigned before.
  const code = Number((process.exitCode as number | string | undefined) ?? 0);
  process.exitCode = before;
  return { code, stdout: out.join(''), stderr: err.join('') };
}

beforeAll(async () => {
  srv = await startHubServer();
  cacheDir = mkdtempSync(path.join(os.tmpdir(), 'repghost-cli-'));
});
afterAll(async () => {
  await (srv as HubServer | undefined)?.close(); // unset when beforeAll failed
  rmSync(cacheDir, { recursive: true, force: true });
});

describe('repghost download', () => {
  it('end to end: downloads and prints one JSON object, nothing on stderr off a TTY', async () => {
    const run = await spawnCli([
      'download',
      'repghostnet_050',
      '--json',
      '--cache-dir',
      cacheDir,
      '--hf-endpoint',
      srv.url,
    ]);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const r = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(Object.keys(r).slice(0, 7)).toEqual(['model', 'source', 'url', 'path', 'bytes', 'sha256', 'ema']);
    const port = new URL(srv.url).port;
    expect(r).toMatchObject({
      model: 'repghostnet_0_5x',
      source: 'hf',
      url: `${srv.url}/timm/repghostnet_050.in1k/resolve/main/model.safetensors`,
      path: path.join(
        cacheDir,
        `127.0.0.1_${port}`,
        'timm',
        'repghostnet_050.in1k',
        'resolve',
        'main',
        'model.safetensors',
      ),
      ema: false,
      fromCache: false,
    });
  });

  it('prints just the cached path; the official source via environment variables', async () => {
    const official = await runCli(['repghostnet_0_5x', '--source', 'official', '--json'], {
      REPGHOST_CACHE: cacheDir,
      REPGHOST_OFFICIAL_ENDPOINT: srv.url,
    });
    expect(official).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(official.stdout)).toMatchObject({ source: 'official', ema: true, top1: 66.95 });
    srv.reset();
    const port = new URL(srv.url).port;
    const plain = await runCli(['repghostnet_0_5x'], {
      REPGHOST_CACHE: cacheDir,
      REPGHOST_HF_ENDPOINT: srv.url,
      REPGHOST_OFFLINE: '1',
    });
    expect(plain).toEqual({
      code: 0,
      stdout:
        path.join(
          cacheDir,
          `127.0.0.1_${port}`,
          'timm',
          'repghostnet_050.in1k',
          'resolve',
          'main',
          'model.safetensors',
        ) + '\n',
      stderr: '',
    });
    expect(srv.requests).toEqual([]);
  });

  it('--dry-run prints the URL and the cache path without any request', async () => {
    const port = new URL(srv.url).port;
    const run = await runCli(['repghostnet_100', '--dry-run', '--cache-dir', cacheDir, '--hf-endpoint', srv.url]);
    expect(run).toEqual({
      code: 0,
      stdout:
        `${srv.url}/timm/repghostnet_100.in1k/resolve/main/model.safetensors\n` +
        path.join(
          cacheDir,
          `127.0.0.1_${port}`,
          'timm',
          'repghostnet_100.in1k',
          'resolve',
          'main',
          'model.safetensors',
        ) +
        '\n',
      stderr: '',
    });
    expect(srv.requests).toEqual([]);
  });

  it('fails with one line and a non-zero exit: offline miss (1), unknown model (2)', async () => {
    const offline = await runCli(['repghostnet_1_0x', '--offline', '--cache-dir', cacheDir, '--hf-endpoint', srv.url]);
    const port = new URL(srv.url).port;
    const p = path.join(
      cacheDir,
      `127.0.0.1_${port}`,
      'timm',
      'repghostnet_100.in1k',
      'resolve',
      'main',
      'model.safetensors',
    );
    const u = `${srv.url}/timm/repghostnet_100.in1k/resolve/main/model.safetensors`;
    expect(offline).toEqual({
      code: 1,
      stdout: '',
      stderr:
        `repghost: offline mode: repghostnet_1_0x (hf) is not in the cache: ` +
        `${p} does not exist; run 'repghost download repghostnet_1_0x --source hf' ` +
        `with network access, or fetch ${u} by hand and save it as ${p}\n`,
    });
    const unknown = await runCli(['repghostnet_9x'], { REPGHOST_CACHE: cacheDir });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(
      new RegExp(
        /^repghost: no pretrained weights are published for 'repghostnet_9x' \(only the main-line models have them\); /
          .source + /models with pretrained weights: repghostnet_0_5x, .*\n$/.source,
      ),
    );
    const source = await runCli(['repghostnet_050', '--source', 's3']);
    expect(source).toEqual({
      code: 2,
      stdout: '',
      stderr: "repghost: unknown source 's3'; use one of: hf, official\n",
    });
    expect(srv.requests).toEqual([]);
  });
});
