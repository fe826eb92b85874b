/**
 * resolvePretrained against a loopback hub (test/hub/server.ts): downloads, cache hits,
 * resume, redirects, verification and every user-facing failure, each asserting the
 * exact message a user would see.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { resolvePretrained, type ResolveOptions } from '../../src/hub/download.js';
import { HubError } from '../../src/hub/errors.js';
import { pretrainedModelList } from '../../src/hub/registry.js';
import type { CacheIO } from '../../src/hub/cache.js';
import { repoRoot } from '../helpers/shared.js';
import { goldenFiles, OFFICIAL_PREFIX, startHubServer, type HubServer } from './server.js';

let srv: HubServer;
let tmp: string;
let cacheDir: string;
let port: number;

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const hfUrl = (repo = 'repghostnet_050.in1k') => `${srv.url}/timm/${repo}/resolve/main/model.safetensors`;
const hfPath = (repo = 'repghostnet_050.in1k') =>
  path.join(cacheDir, `127.0.0.1_${port}`, 'timm', repo, 'resolve', 'main', 'model.safetensors');
const offUrl = () => `${srv.url}${OFFICIAL_PREFIX}repghostnet_0_5x_43M_66.95.pth.tar`;
const offPath = () =>
  path.join(
    cacheDir,
    `127.0.0.1_${port}`,
    'ChengpengChen',
    'RepGhost',
    'releases',
    'download',
    'RepGhost',
    'repghostnet_0_5x_43M_66.95.pth.tar',
  );

/** Options pointing at the loopback server, a fresh cache, no inherited environment, fast retries. */
function opts(extra: ResolveOptions = {}): ResolveOptions {
  return {
    cacheDir,
    hfEndpoint: srv.url,
    officialEndpoint: srv.url,
    env: {},
    retryDelayMs: 5,
    lock: { pollMs: 20 },
    ...extra,
  };
}

/** Files under the cache other than finished weights and their sidecars (partials, locks, temps). */
function leftovers(): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (!/\.(safetensors|tar)$/.test(e.name) && !e.name.endsWith('.meta.json')) out.push(p);
    }
  };
  walk(cacheDir);
  return out;
}

async function failure(p: Promise<unknown>): Promise<HubError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(HubError);
    return e as HubError;
  }
  throw new Error('expected a failure');
}

beforeAll(async () => {
  srv = await startHubServer();
  port = Number(new URL(srv.url).port);
  tmp = mkdtempSync(path.join(os.tmpdir(), 'repghost-hub-'));
});
afterAll(async () => {
  await (srv as HubServer | undefined)?.close(); // unset when beforeAll failed
  rmSync(tmp, { recursive: true, force: true });
});
beforeEach(() => {
  srv.reset();
  cacheDir = mkdtempSync(path.join(tmp, 'cache-'));
});
afterEach(() => {
  // A failed test must not leave a read-only directory behind for rmSync.
  try {
    chmodSync(cacheDir, 0o755);
  } catch {
    /* gone */
  }
});

describe('download and cache', () => {
  it('downloads from the hub layout into a path derived from the URL, verified, with a sidecar', async () => {
    const g = goldenFiles();
    const r = await resolvePretrained('repghostnet_050', opts());
    expect(r).toMatchObject({
      model: 'repghostnet_0_5x',
      source: 'hf',
      url: hfUrl(),
      path: hfPath(),
      ema: false,
      fromCache: false,
      bytes: g.hf050.length,
      sha256: sha256(g.hf050),
      top1: 66.95,
    });
    expect(r.preprocess).toEqual({
      size: 224,
      cropPct: 0.875,
      interpolation: 'bilinear',
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
    });
    expect(sha256(readFileSync(r.path))).toBe(sha256(g.hf050));
    expect(JSON.parse(readFileSync(`${r.path}.meta.json`, 'utf8'))).toMatchObject({
      url: hfUrl(),
      sha256: r.sha256,
      statedSha256: r.sha256,
      bytes: r.bytes,
    });
    // The hub's 302 (which carries the sha256), then the CDN.
    expect(srv.requests.map((q) => [q.path, q.status])).toEqual([
      ['/timm/repghostnet_050.in1k/resolve/main/model.safetensors', 302],
      ['/cdn/hf/timm/repghostnet_050.in1k/model.safetensors', 200],
    ]);
    expect(leftovers()).toEqual([]);
  });

  it('serves a cached file without any request, online and offline', async () => {
    await resolvePretrained('repghostnet_0_5x', opts());
    srv.reset();
    const again = await resolvePretrained('repghostnet_050.in1k', opts());
    expect(again.fromCache).toBe(true);
    expect(again.path).toBe(hfPath());
    const offline = await resolvePretrained('repghostnet_0_5x', opts({ env: { REPGHOST_OFFLINE: '1' } }));
    expect(offline).toMatchObject({ fromCache: true, path: hfPath(), sha256: again.sha256 });
    expect(srv.requests).toEqual([]);
  });

  it('downloads the official release asset through a redirect chain, with ema: true', async () => {
    srv.knobs.extraRedirects = 3;
    const r = await resolvePretrained('repghostnet_0_5x', opts({ source: 'official' }));
    expect(r).toMatchObject({ source: 'official', url: offUrl(), path: offPath(), ema: true, top1: 66.95 });
    expect(sha256(readFileSync(r.path))).toBe(sha256(goldenFiles().official050));
    expect(srv.requests.map((q) => q.status)).toEqual([302, 307, 307, 307, 200]);
  });

  it('stops at the redirect cap with a clear message', async () => {
    srv.knobs.redirectLoop = true;
    const e = await failure(resolvePretrained('repghostnet_0_5x', opts({ maxRedirects: 5 })));
    expect(e.message).toBe(
      `more than 5 redirects fetching ${hfUrl()} (last to ` +
        `/timm/repghostnet_050.in1k/resolve/main/model.safetensors); the server or a proxy is looping`,
    );
    expect(srv.requests).toHaveLength(6);
  });
});

describe('resume', () => {
  it('resumes a body cut off mid-transfer with a Range request; the file is byte-identical', async () => {
    srv.knobs.cutAfterBytes = 5_000_000;
    srv.knobs.cutTimes = 1;
    const r = await resolvePretrained('repghostnet_0_5x', opts({ source: 'official' }));
    const cdn = srv.cdnRequests();
    expect(cdn.map((q) => q.status)).toEqual([200, 206]);
    // The client keeps what it read before the cut: at most what the server sent (a
    // stream error drops chunks still queued in fetch's body stream).
    expect(resumedAt(cdn[1]!.range)).toBeGreaterThan(0);
    expect(resumedAt(cdn[1]!.range)).toBeLessThanOrEqual(5_000_000);
    expect(cdn[1]!.ifRange).toMatch(/^"cdn-/); // If-Range guards against a changed file
    expect(sha256(readFileSync(r.path))).toBe(sha256(goldenFiles().official050));
    expect(leftovers()).toEqual([]);
  });

  it('keeps the partial when retries run out and resumes it in the next run', async () => {
    srv.knobs.cutAfterBytes = 3_000_000;
    srv.knobs.cutTimes = 1;
    const e = await failure(resolvePretrained('repghostnet_0_5x', opts({ retries: 0 })));
    const cut =
      `the connection to 127.0.0.1:${port} was closed mid-transfer while fetching ${srv.url}/cdn/hf/timm/` +
      `repghostnet_050.in1k/model.safetensors; check the network or proxy settings, set REPGHOST_HF_ENDPOINT ` +
      `to a reachable mirror, or use --offline with a cached file; gave up after 1 attempt; `;
    expect(e.message).toMatch(new RegExp(`^${esc(cut)}[0-3]\\.\\d MB kept, the next run resumes$`));
    const partials = leftovers();
    const kept = statSync(partials.find((p) => p.endsWith('.partial'))!).size;
    expect(partials.map((p) => path.basename(p).replace(/\.\d+-[0-9a-f]+\./, '.<token>.')).sort()).toEqual([
      'model.safetensors.<token>.partial',
      'model.safetensors.<token>.partial.json',
    ]);
    expect(existsSync(hfPath())).toBe(false);
    srv.reset();
    const r = await resolvePretrained('repghostnet_0_5x', opts());
    expect(srv.cdnRequests().map((q) => [q.range, q.status])).toEqual([[`bytes=${kept}-`, 206]]);
    expect(sha256(readFileSync(r.path))).toBe(sha256(goldenFiles().hf050));
    expect(leftovers()).toEqual([]);
  });

  it('resumes the partial of a process that was killed (dead pid in the lock and the partial name)', async () => {
    const g = goldenFiles().hf050;
    const dead = 2 ** 22 + 12345; // above Linux's pid_max: never a live process
    mkdirSync(path.dirname(hfPath()), { recursive: true });
    const partial = `${hfPath()}.${dead}-0123456789ab.partial`;
    writeFileSync(partial, g.subarray(0, 1_234_567));
    writeFileSync(
      `${partial}.json`,
      JSON.stringify({ url: hfUrl(), size: g.length, etag: `"cdn-${sha256(g).slice(0, 16)}"`, sha256: sha256(g) }),
    );
    writeFileSync(
      `${hfPath()}.lock`,
      JSON.stringify({ pid: dead, host: os.hostname(), token: 'dead', time: new Date().toISOString() }),
    );
    const r = await resolvePretrained('repghostnet_0_5x', opts());
    expect(srv.cdnRequests().map((q) => [q.range, q.status])).toEqual([['bytes=1234567-', 206]]);
    expect(sha256(readFileSync(r.path))).toBe(sha256(g));
    expect(leftovers()).toEqual([]);
  });

  it('falls back to a full download when the server ignores Range', async () => {
    srv.knobs.cutAfterBytes = 4_000_000;
    srv.knobs.cutTimes = 1;
    srv.knobs.ignoreRange = true;
    const r = await resolvePretrained('repghostnet_0_5x', opts());
    const cdn = srv.cdnRequests();
    expect(cdn.map((q) => q.status)).toEqual([200, 200]);
    expect(resumedAt(cdn[1]!.range)).toBeGreaterThan(0);
    expect(sha256(readFileSync(r.path))).toBe(sha256(goldenFiles().hf050));
  });

  it('retries after an idle time-out and resumes', async () => {
    srv.knobs.stallAfterBytes = 2_000_000;
    srv.knobs.stallTimes = 1;
    const r = await resolvePretrained('repghostnet_0_5x', opts({ idleTimeoutMs: 300 }));
    const cdn = srv.cdnRequests();
    expect(cdn.map((q) => q.status)).toEqual([200, 206]);
    expect(resumedAt(cdn[1]!.range)).toBe(2_000_000); // a stall loses nothing: every byte sent was read
    expect(sha256(readFileSync(r.path))).toBe(sha256(goldenFiles().hf050));
  });

  it('retries 5xx with back-off, but not 404', async () => {
    srv.knobs.fail503 = 2;
    await resolvePretrained('repghostnet_0_5x', opts());
    expect(srv.requests.map((q) => q.status)).toEqual([503, 503, 302, 200]);
    srv.reset();
    await failure(resolvePretrained('repghostnet_1_0x', opts()));
    expect(srv.requests).toHaveLength(1);
  });
});

describe('verification', () => {
  it('rejects a file whose sha256 differs from the one the hub states, caching nothing', async () => {
    const bad = 'ab'.repeat(32);
    srv.knobs.statedSha256 = bad;
    const e = await failure(resolvePretrained('repghostnet_0_5x', opts()));
    expect(e.code).toBe('sha256');
    expect(e.message).toBe(
      `sha256 mismatch for ${hfUrl()}: the server states ${bad}, the download has ` +
        `${sha256(goldenFiles().hf050)}; the file was discarded (not cached)`,
    );
    expect(existsSync(hfPath())).toBe(false);
    expect(leftovers()).toEqual([]);
  });

  it('rejects an HTML page served with status 200 (text/html, or mislabelled)', async () => {
    srv.knobs.html = true;
    const msg =
      `the server returned an HTML page, not model weights (a proxy or login page?) for ${hfUrl()}; ` +
      `the file was discarded (not cached)`;
    expect((await failure(resolvePretrained('repghostnet_0_5x', opts()))).message).toBe(msg);
    srv.knobs.htmlContentType = 'application/octet-stream';
    expect((await failure(resolvePretrained('repghostnet_0_5x', opts()))).message).toBe(msg);
    expect(existsSync(hfPath())).toBe(false);
    expect(leftovers()).toEqual([]);
  });

  it('rejects weights of another model', async () => {
    const e = await failure(resolvePretrained('repghostnet_0_58x', opts()));
    expect(e.code).toBe('not-weights');
    expect(
      e.message.startsWith(
        `${hfUrl('repghostnet_058.in1k')} is not repghostnet_0_58x weights: weights do not fit repghostnet_0_58x`,
      ),
    ).toBe(true);
    expect(e.message.endsWith('; the file was discarded (not cached)')).toBe(true);
    expect(existsSync(hfPath('repghostnet_058.in1k'))).toBe(false);
  });

  it('verifies a file put into the cache by hand once, then trusts its sidecar', async () => {
    mkdirSync(path.dirname(hfPath()), { recursive: true });
    writeFileSync(hfPath(), goldenFiles().hf050);
    const r = await resolvePretrained('repghostnet_0_5x', opts({ offline: true }));
    expect(r).toMatchObject({ fromCache: true, sha256: sha256(goldenFiles().hf050) });
    expect(existsSync(`${hfPath()}.meta.json`)).toBe(true);
    mkdirSync(path.dirname(hfPath('repghostnet_058.in1k')), { recursive: true });
    writeFileSync(hfPath('repghostnet_058.in1k'), '<html>login</html>');
    const e = await failure(resolvePretrained('repghostnet_0_58x', opts({ offline: true })));
    expect(e.message).toBe(
      `the cached file ${hfPath('repghostnet_058.in1k')} is unusable (the server returned an HTML page, not ` +
        `model weights (a proxy or login page?) for ${hfUrl('repghostnet_058.in1k')}); delete it and download again`,
    );
  });
});

describe('user-facing errors', () => {
  it('rejects unknown models and models without weights before any request', async () => {
    expect((await failure(resolvePretrained('resnet50', opts()))).message).toBe(
      `unknown model 'resnet50'; models with pretrained weights: ${pretrainedModelList()}`,
    );
    expect((await failure(resolvePretrained('repghostnet_norep_0_5x', opts()))).message).toBe(
      `no pretrained weights are published for 'repghostnet_norep_0_5x' (only the main-line models have them); ` +
        `models with pretrained weights: ${pretrainedModelList()}`,
    );
    expect(srv.requests).toEqual([]);
  });

  it('explains a 404 and lists the valid models', async () => {
    const url = hfUrl('repghostnet_100.in1k');
    const e = await failure(resolvePretrained('repghostnet_1_0x', opts()));
    expect(e.code).toBe('not-found');
    expect(e.message).toBe(
      `HTTP 404 Not Found for ${url}: the server has no such file (wrong model name or an incomplete mirror?); ` +
        `models with pretrained weights: repghostnet_0_5x, repghostnet_0_58x, repghostnet_0_8x, repghostnet_1_0x, ` +
        `repghostnet_1_11x, repghostnet_1_3x, repghostnet_1_5x, repghostnet_2_0x (or timm's names repghostnet_050, ` +
        `repghostnet_058, repghostnet_080, repghostnet_100, repghostnet_111, repghostnet_130, repghostnet_150, ` +
        `repghostnet_200)`,
    );
  });

  it('offline and not cached: names the cache path and the URL to fetch by hand, no request', async () => {
    const msg =
      `offline mode: repghostnet_0_5x (hf) is not in the cache: ${hfPath()} does not exist; ` +
      `run 'repghost download repghostnet_0_5x --source hf' with network access, ` +
      `or fetch ${hfUrl()} by hand and save it as ${hfPath()}`;
    expect((await failure(resolvePretrained('repghostnet_0_5x', opts({ offline: true })))).message).toBe(msg);
    expect(
      (await failure(resolvePretrained('repghostnet_0_5x', opts({ env: { REPGHOST_OFFLINE: '1' } })))).message,
    ).toBe(msg);
    expect(srv.requests).toEqual([]);
  });

  it('connection refused: one line naming the host, after the retries', async () => {
    const dead = await freePort();
    const url = `http://127.0.0.1:${dead}/timm/repghostnet_050.in1k/resolve/main/model.safetensors`;
    const e = await failure(
      resolvePretrained('repghostnet_0_5x', opts({ hfEndpoint: `http://127.0.0.1:${dead}`, retries: 1 })),
    );
    expect(e.message).toBe(
      `cannot connect to 127.0.0.1:${dead} (connection refused) while fetching ${url}; check the network or ` +
        `proxy settings, set REPGHOST_HF_ENDPOINT to a reachable mirror, or use --offline with a cached file; gave ` +
        `up after 2 attempts`,
    );
  });

  it('DNS failure: one line (injected fetch, no real lookup)', async () => {
    const fetchImpl = (() =>
      Promise.reject(
        Object.assign(new TypeError('fetch failed'), {
          cause: Object.assign(new Error('getaddrinfo ENOTFOUND huggingface.co'), { code: 'ENOTFOUND' }),
        }),
      )) as typeof fetch;
    const e = await failure(resolvePretrained('repghostnet_0_5x', { cacheDir, env: {}, fetchImpl, retries: 0 }));
    expect(e.message).toBe(
      `cannot resolve huggingface.co (DNS lookup failed: no network?) while fetching ` +
        `https://huggingface.co/timm/repghostnet_050.in1k/resolve/main/model.safetensors; check the network or ` +
        `proxy settings, set REPGHOST_HF_ENDPOINT to a reachable mirror, or use --offline with a cached file; gave ` +
        `up after 1 attempt`,
    );
  });

  it('a disk filling up mid-download: one line naming the cache dir, no partial kept', async () => {
    const limit = 3_000_000;
    const io: Partial<CacheIO> = {
      async openWriter(file, mode) {
        let written = 0;
        const fh = await import('node:fs/promises').then((f) => f.open(file, mode === 'append' ? 'a' : 'w'));
        return {
          async write(chunk) {
            if (written + chunk.length > limit)
              throw Object.assign(new Error(`ENOSPC: no space left on device, write`), {
                code: 'ENOSPC',
                errno: -28,
                syscall: 'write',
              });
            await fh.write(chunk);
            written += chunk.length;
          },
          sync: () => fh.sync(),
          close: () => fh.close(),
        };
      },
    };
    const e = await failure(resolvePretrained('repghostnet_0_5x', opts({ io })));
    expect(e.code).toBe('disk-full');
    expect(e.message).toMatch(
      new RegExp(
        `^no space left on the device holding ${esc(cacheDir)} while downloading ${esc(hfUrl())} ` +
          `\\((2\\.\\d|3\\.0) MB of 9\\.4 MB written\\); free some space there or set REPGHOST_CACHE to a ` +
          `directory on another disk \\(the partial download was removed\\)$`,
      ),
    );
    expect(existsSync(hfPath())).toBe(false);
    expect(leftovers()).toEqual([]);
    expect(srv.cdnRequests()).toHaveLength(1); // not retried
  });

  it('an unusable cache dir: a path under a regular file (ENOTDIR, works as root)', async () => {
    const file = path.join(cacheDir, 'not-a-dir');
    writeFileSync(file, '');
    const bad = path.join(file, 'cache');
    const e = await failure(resolvePretrained('repghostnet_0_5x', opts({ cacheDir: bad })));
    expect(e.code).toBe('cache-access');
    expect(e.message).toBe(
      `cannot create the cache directory ${bad}: ${file} is a file, not a directory; set REPGHOST_CACHE (or ` +
        `--cache-dir) to a writable directory`,
    );
    expect(srv.requests).toEqual([]);
  });

  it('permission denied (EACCES): injected, and a real chmod 500 dir when not root', async () => {
    const io: Partial<CacheIO> = {
      mkdir: (d) =>
        Promise.reject(Object.assign(new Error(`EACCES: permission denied, mkdir '${d}'`), { code: 'EACCES' })),
    };
    const msg =
      `permission denied writing to the cache directory ${cacheDir}; ` +
      `set REPGHOST_CACHE (or --cache-dir) to a writable directory`;
    expect((await failure(resolvePretrained('repghostnet_0_5x', opts({ io })))).message).toBe(msg);
    // root ignores directory permissions, so the real check only means something for others.
    if (process.getuid?.() !== 0) {
      chmodSync(cacheDir, 0o500);
      expect((await failure(resolvePretrained('repghostnet_0_5x', opts()))).message).toBe(msg);
    }
    expect(srv.requests).toEqual([]);
  });
});

describe('concurrency', () => {
  it('two concurrent calls in one process: one download, one good file, no leftovers', async () => {
    const [a, b] = await Promise.all([
      resolvePretrained('repghostnet_0_5x', opts()),
      resolvePretrained('repghostnet_050', opts()),
    ]);
    expect(a.path).toBe(b.path);
    expect([a.fromCache, b.fromCache].sort()).toEqual([false, true]);
    expect(srv.cdnRequests()).toHaveLength(1);
    expect(sha256(readFileSync(a.path))).toBe(sha256(goldenFiles().hf050));
    expect(leftovers()).toEqual([]);
  });

  const noLockTitle =
    'without the lock (always judged stale) both download to their own temp files and one good file remains';
  it(noLockTitle, async () => {
    const lock = { staleMs: 0, pollMs: 5 };
    srv.knobs.delayMs = 100;
    const rs = await Promise.all([1, 2, 3].map(() => resolvePretrained('repghostnet_0_5x', opts({ lock }))));
    expect(srv.cdnRequests().length).toBeGreaterThanOrEqual(2);
    for (const r of rs) expect(r.sha256).toBe(sha256(goldenFiles().hf050));
    expect(sha256(readFileSync(hfPath()))).toBe(sha256(goldenFiles().hf050));
    expect(leftovers()).toEqual([]);
  });

  it('two processes at once: one good file, no leftovers', async () => {
    srv.knobs.delayMs = 800; // keep the first download open while the second process starts
    const run = promisify(execFile);
    const tsx = path.join(repoRoot, 'node_modules', '.bin', 'tsx');
    const child = path.join(repoRoot, 'test', 'hub', 'fixtures', 'resolve-child.ts');
    const outs = await Promise.all(
      [1, 2].map(() => run(tsx, [child, 'repghostnet_0_5x', cacheDir, srv.url], { cwd: repoRoot })),
    );
    const results = outs.map((o) => JSON.parse(o.stdout) as { path: string; sha256: string; fromCache: boolean });
    expect(results[0]!.path).toBe(hfPath());
    expect(results[1]!.path).toBe(hfPath());
    expect(sha256(readFileSync(hfPath()))).toBe(sha256(goldenFiles().hf050));
    expect(results.every((r) => r.sha256 === sha256(goldenFiles().hf050))).toBe(true);
    expect(srv.cdnRequests()).toHaveLength(1); // the second waited on the lock (or found the file)
    expect(leftovers()).toEqual([]);
  });

  it('breaks a stale lock left by a dead process', async () => {
    mkdirSync(path.dirname(hfPath()), { recursive: true });
    writeFileSync(
      `${hfPath()}.lock`,
      JSON.stringify({ pid: 2 ** 22 + 12345, host: os.hostname(), token: 'dead', time: new Date().toISOString() }),
    );
    const r = await resolvePretrained('repghostnet_0_5x', opts());
    expect(r.fromCache).toBe(false);
    expect(leftovers()).toEqual([]);
  });
});

/** N of a `bytes=N-` Range header (NaN when absent). */
function resumedAt(range: string | undefined): number {
  return Number(/^bytes=(\d+)-$/.exec(range ?? '')?.[1] ?? NaN);
}

function esc(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A port nothing listens on (bound, then released). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}
