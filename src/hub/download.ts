/**
 * `resolvePretrained`: the local path of a model's published weights, downloading
 * them into the cache first when needed (Node).
 *
 * A file enters the cache only complete and verified: it is written under a unique
 * temp name beside its final path, fsync'ed, checked (the sha256 the hub states, no
 * HTML, parses as the expected model) and then renamed into place, which is atomic.
 * So a cache hit needs no request and no re-check, concurrent downloads of one file
 * end with one good file, and an interrupted download leaves only a `.partial` that
 * the next run resumes with an HTTP Range request.
 */
import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import path from 'node:path';
import type { PreprocessConfig } from '../data/preprocess.js';
import {
  cacheFsError,
  cachePathForUrl,
  defaultCacheDir,
  fileSize,
  nodeCacheIO,
  syncDir,
  type CacheIO,
} from './cache.js';
import { HubError, htmlError } from './errors.js';
import { backoffMs, openUrl, parseContentRange, sleep, statusError, strongEtag, type HttpOptions } from './http.js';
import { acquireLock, type LockOptions } from './lock.js';
import { claimPartial, dropPartial, releasePartial, saveState, type PartialDownload } from './partial.js';
import { sourceWeights, type PretrainedSource } from './registry.js';
import { checkSha256, looksLikeHtml, verifyWeights, type Verifier, type VerifyTarget } from './verify.js';

/** Progress of one download, reported after every chunk. */
export interface DownloadProgress {
  url: string;
  /** Bytes in the file so far (including `resumedFrom`). */
  received: number;
  /** Full size, when the server announced it. */
  total?: number;
  /** Bytes a resumed download started with (for a rate that counts only this run). */
  resumedFrom: number;
}

/** Options of {@link resolvePretrained}. Every one is optional. */
export interface ResolveOptions extends Pick<
  HttpOptions,
  'fetchImpl' | 'maxRedirects' | 'connectTimeoutMs' | 'idleTimeoutMs' | 'signal'
> {
  /** 'hf' (default: timm's safetensors on the Hugging Face hub) or 'official' (the release .pth.tar). */
  source?: string;
  /** Never touch the network; default `REPGHOST_OFFLINE=1`. A missing file is an error naming path and URL. */
  offline?: boolean;
  /** Cache directory; default `$REPGHOST_CACHE`, else `$XDG_CACHE_HOME/repghost`, else `~/.cache/repghost`. */
  cacheDir?: string;
  /** Hub mirror; default `$REPGHOST_HF_ENDPOINT`, else https://huggingface.co. */
  hfEndpoint?: string;
  /** Host serving the official release assets; default `$REPGHOST_OFFICIAL_ENDPOINT`, else https://github.com. */
  officialEndpoint?: string;
  /** Called after every received chunk (drive a progress bar with it; see progress.ts). */
  onProgress?: (p: DownloadProgress) => void;
  /** Retries after network errors, time-outs, cut-off bodies and 5xx (default 4); never after 4xx. */
  retries?: number;
  /** First back-off delay, doubled per retry (default 1000 ms). */
  retryDelayMs?: number;
  /** Lock timing for concurrent downloads of one file. */
  lock?: LockOptions;
  /** Replaces the "parses as the expected model" check (tests; a custom loader). */
  verify?: Verifier;
  /** Test seam: file operations (simulate a full disk or a read-only directory). */
  io?: Partial<CacheIO>;
  /** Environment read for the defaults above (default `process.env`). */
  env?: NodeJS.ProcessEnv;
}

/** Where the weights are and how to use them. */
export interface ResolvedPretrained {
  /** Official model name. */
  model: string;
  source: PretrainedSource;
  /** Where the file comes from. */
  url: string;
  /** The cached file. */
  path: string;
  /** Pass as `ema` when loading: true for the official checkpoints (their top-1 is the EMA's). */
  ema: boolean;
  /** Eval preprocessing that reproduces the published top-1. */
  preprocess: Required<PreprocessConfig>;
  /** Published ImageNet top-1 (%). */
  top1: number;
  /** File size. */
  bytes: number;
  /** sha256 of the file (hex). */
  sha256: string;
  /** True when no download happened. */
  fromCache: boolean;
}

/** What the cache keeps beside each verified file (`<file>.meta.json`). */
interface CacheMeta {
  url: string;
  model: string;
  source: PretrainedSource;
  bytes: number;
  sha256: string;
  /** sha256 the server stated, when it did. */
  statedSha256?: string;
  downloadedAt: string;
}

const DISCARDED = 'the file was discarded (not cached)';

function truthy(v: string | undefined): boolean {
  return !!v && /^(1|true|yes|on)$/i.test(v.trim());
}

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

/** Re-throws a HubError with text appended (keeping code, retryability and cause). */
function withNote(e: HubError, note: string): HubError {
  return new HubError(e.code, `${e.message}; ${note}`, e.retryable, { cause: e.cause ?? e });
}

/** Everything resolvePretrained decides before touching the disk or network. */
export interface PretrainedLocation {
  model: string;
  source: PretrainedSource;
  url: string;
  path: string;
  cacheDir: string;
  ema: boolean;
  preprocess: Required<PreprocessConfig>;
  top1: number;
  target: VerifyTarget;
}

/**
 * Where a model's weights come from and where the cache keeps them, without any I/O.
 * Throws HubError('unknown-model') for names without published weights.
 */
export function locatePretrained(
  model: string,
  opts: Pick<ResolveOptions, 'source' | 'cacheDir' | 'hfEndpoint' | 'officialEndpoint' | 'env'> = {},
): PretrainedLocation {
  const env = opts.env ?? process.env;
  const { entry, source, url, ema, target } = sourceWeights(model, opts.source ?? 'hf', {
    hf: opts.hfEndpoint || env.REPGHOST_HF_ENDPOINT || undefined,
    official: opts.officialEndpoint || env.REPGHOST_OFFICIAL_ENDPOINT || undefined,
  });
  const cacheDir = defaultCacheDir(opts.cacheDir, env);
  return {
    model: entry.model,
    source,
    url,
    path: cachePathForUrl(cacheDir, url),
    cacheDir,
    ema,
    preprocess: entry.preprocess,
    top1: entry.official.top1,
    target,
  };
}

/**
 * Returns the local path of `model`'s published weights (official or timm name),
 * downloading and verifying them into the cache when they are not there yet.
 *
 * Load the result with the returned `ema`:
 * `loadWeights(readFileSync(r.path), { model: r.model, ema: r.ema })`.
 *
 * Errors are HubErrors with one-line messages: unknown model (before any request),
 * offline and not cached, 404, network / time-out after retries, HTML instead of
 * weights, sha256 mismatch, not the expected model, full disk, unwritable cache.
 */
export async function resolvePretrained(model: string, opts: ResolveOptions = {}): Promise<ResolvedPretrained> {
  const loc = locatePretrained(model, opts);
  const env = opts.env ?? process.env;
  const verify = opts.verify ?? verifyWeights;
  const io: CacheIO = { ...nodeCacheIO, ...opts.io };
  const base = {
    model: loc.model,
    source: loc.source,
    url: loc.url,
    path: loc.path,
    ema: loc.ema,
    preprocess: loc.preprocess,
    top1: loc.top1,
  };

  const hit = await cacheHit(loc, verify);
  if (hit) return { ...base, ...hit, fromCache: true };
  if (opts.offline ?? truthy(env.REPGHOST_OFFLINE)) {
    throw new HubError(
      'offline-missing',
      `offline mode: ${loc.model} (${loc.source}) is not in the cache: ${loc.path} does not exist; run 'repghost ` +
        `download ${loc.model} --source ${loc.source}' with network access, or fetch ${loc.url} by hand and save ` +
        `it as ${loc.path}`,
    );
  }

  const dir = path.dirname(loc.path);
  try {
    await io.mkdir(dir);
  } catch (e) {
    throw cacheFsError(e, loc.cacheDir);
  }
  let lock;
  try {
    lock = await acquireLock(`${loc.path}.lock`, async () => (await fileSize(loc.path)) !== undefined, opts.lock);
  } catch (e) {
    throw cacheFsError(e, loc.cacheDir);
  }
  if (!lock) {
    // Another process or call finished it while we waited.
    const done = await cacheHit(loc, verify);
    if (done) return { ...base, ...done, fromCache: true };
    return resolvePretrained(model, opts);
  }
  try {
    const again = await cacheHit(loc, verify);
    if (again) return { ...base, ...again, fromCache: true };
    const got = await download(loc, io, verify, opts);
    return { ...base, ...got, fromCache: false };
  } finally {
    await lock.release();
  }
}

/**
 * A cached file's size and hash, or null when absent. The sidecar written at download
 * time vouches for the file; a file without one (put there by hand, as the offline
 * error suggests) is verified once and then gets a sidecar.
 */
async function cacheHit(loc: PretrainedLocation, verify: Verifier): Promise<{ bytes: number; sha256: string } | null> {
  const size = await fileSize(loc.path);
  if (size === undefined) return null;
  const metaPath = `${loc.path}.meta.json`;
  try {
    const meta = JSON.parse(await fsp.readFile(metaPath, 'utf8')) as Partial<CacheMeta>;
    if (meta.bytes === size && typeof meta.sha256 === 'string' && meta.url === loc.url)
      return { bytes: size, sha256: meta.sha256 };
  } catch {
    // no sidecar: verify below
  }
  const bytes = new Uint8Array(await fsp.readFile(loc.path));
  try {
    await verify(bytes, loc.target);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new HubError(
      'not-weights',
      `the cached file ${loc.path} is unusable (${msg}); delete it and download again`,
      false,
      { cause: e },
    );
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  await writeMeta(metaPath, {
    url: loc.url,
    model: loc.model,
    source: loc.source,
    bytes: size,
    sha256,
    downloadedAt: new Date().toISOString(),
  }).catch(() => undefined);
  return { bytes: size, sha256 };
}

async function writeMeta(metaPath: string, meta: CacheMeta): Promise<void> {
  const tmp = `${metaPath}.${process.pid}.${Date.now()}.tmp`;
  await fsp.writeFile(tmp, `${JSON.stringify(meta, null, 2)}\n`);
  await fsp.rename(tmp, metaPath);
}

/** Downloads (resuming a leftover partial), verifies and renames into place. Holds the lock. */
async function download(
  loc: PretrainedLocation,
  io: CacheIO,
  verify: Verifier,
  opts: ResolveOptions,
): Promise<{ bytes: number; sha256: string }> {
  let part: PartialDownload;
  try {
    part = await claimPartial(loc.path, loc.url);
  } catch (e) {
    throw cacheFsError(e, loc.cacheDir);
  }
  try {
    await fetchWithRetries(part, loc, io, opts);
    const bytes = new Uint8Array(await fsp.readFile(part.path));
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    checkSha256(sha256, part.state.sha256, loc.url);
    try {
      await verify(bytes, loc.target);
    } catch (e) {
      if (e instanceof HubError) throw e;
      throw new HubError(
        'not-weights',
        `${loc.url} is not ${loc.model} weights: ${e instanceof Error ? e.message : String(e)}`,
        false,
        { cause: e },
      );
    }
    try {
      await writeMeta(`${loc.path}.meta.json`, {
        url: loc.url,
        model: loc.model,
        source: loc.source,
        bytes: bytes.length,
        sha256,
        ...(part.state.sha256 ? { statedSha256: part.state.sha256 } : {}),
        downloadedAt: new Date().toISOString(),
      });
      await fsp.rename(part.path, loc.path); // atomic: readers see nothing or the whole file
      await fsp.rm(part.statePath, { force: true });
    } catch (e) {
      throw cacheFsError(e, loc.cacheDir, `while finishing ${loc.url}`);
    }
    await syncDir(path.dirname(loc.path));
    return { bytes: bytes.length, sha256 };
  } catch (e) {
    const err = e instanceof HubError ? e : cacheFsError(e, loc.cacheDir);
    // Keep what a later run can resume (network trouble, cancellation); drop the rest.
    const resumable = err.retryable || err.code === 'aborted';
    if (!resumable) await dropPartial(part);
    if (err.code === 'sha256' || err.code === 'not-weights' || err.code === 'html') throw withNote(err, DISCARDED);
    throw err;
  } finally {
    releasePartial(part);
  }
}

/** Repeats HTTP exchanges until the partial is complete; back-off between failures. */
async function fetchWithRetries(
  part: PartialDownload,
  loc: PretrainedLocation,
  io: CacheIO,
  opts: ResolveOptions,
): Promise<void> {
  const retries = opts.retries ?? 4;
  const baseDelay = opts.retryDelayMs ?? 1000;
  let failures = 0; // consecutive failures without progress
  let attempts = 0;
  for (;;) {
    const before = part.have;
    try {
      await exchange(part, loc, io, opts);
      return;
    } catch (e) {
      const err = e instanceof HubError ? e : cacheFsError(e, loc.cacheDir);
      attempts++;
      if (!err.retryable || opts.signal?.aborted) throw err;
      // A flaky link that cuts every few MB still makes progress: only failures in a
      // row count against the budget (with a hard cap against pathological servers).
      if (part.have > before) failures = 0;
      if (failures >= retries || attempts > 50) {
        const kept = part.have > 0 ? `; ${mb(part.have)} kept, the next run resumes` : '';
        throw withNote(err, `gave up after ${attempts} attempt${attempts > 1 ? 's' : ''}${kept}`);
      }
      await sleep(backoffMs(failures++, baseDelay), opts.signal);
    }
  }
}

/** One HTTP exchange appending to (or restarting) the partial. Throws HubErrors. */
async function exchange(
  part: PartialDownload,
  loc: PretrainedLocation,
  io: CacheIO,
  opts: ResolveOptions,
): Promise<void> {
  const url = loc.url;
  const headers: Record<string, string> = { 'accept-encoding': 'identity', 'user-agent': 'repghost' };
  if (part.have > 0) {
    headers.range = `bytes=${part.have}-`;
    // If-Range: a server whose file changed answers 200 with the new one instead of a bad splice.
    if (part.state.etag) headers['if-range'] = part.state.etag;
  }
  const opened = await openUrl(url, headers, { ...opts, redirect: 'manual' });
  try {
    const res = opened.response;
    let mode: 'append' | 'truncate';
    let total: number | undefined;
    if (res.status === 206 && part.have > 0) {
      const cr = parseContentRange(res.headers.get('content-range'));
      const changed =
        (opened.sha256 && part.state.sha256 && opened.sha256 !== part.state.sha256) ||
        (cr?.total !== undefined && part.state.size !== undefined && cr.total !== part.state.size);
      if (cr?.start !== part.have || changed) {
        // A different range or a different file: resuming would splice garbage.
        await dropPartial(part);
        part.state = { url };
        throw new HubError(
          'truncated',
          `the server answered an unusable range (${res.headers.get('content-range') ?? 'no Content-Range'}) ` +
            `resuming ${url}; restarting from the beginning`,
          true,
        );
      }
      mode = 'append';
      total = cr.total ?? part.state.size;
    } else if (res.status === 200) {
      // Fresh download, or the server ignored Range / If-Range said the file changed.
      part.have = 0;
      mode = 'truncate';
      const cl = Number(res.headers.get('content-length') ?? NaN);
      total = Number.isSafeInteger(cl) && cl >= 0 ? cl : opened.linkedSize;
      part.state = {
        url,
        ...(total !== undefined ? { size: total } : {}),
        ...(strongEtag(res.headers.get('etag')) ? { etag: strongEtag(res.headers.get('etag'))! } : {}),
        ...(opened.sha256 ? { sha256: opened.sha256 } : {}),
      };
      try {
        await saveState(part);
      } catch (e) {
        throw cacheFsError(e, loc.cacheDir, `while starting ${url}`);
      }
    } else if (res.status === 416 && part.have > 0) {
      // Nothing after our offset: complete if it has the announced size, else start over.
      if (part.state.size === part.have) return;
      await dropPartial(part);
      part.state = { url };
      throw new HubError(
        'truncated',
        `the server rejected resuming ${url} at byte ${part.have}; restarting from the beginning`,
        true,
      );
    } else {
      throw statusError(res, url);
    }
    if (/^\s*(text\/html|application\/xhtml)/i.test(res.headers.get('content-type') ?? '')) throw htmlError(url);

    let writer;
    try {
      writer = await io.openWriter(part.path, mode);
    } catch (e) {
      throw cacheFsError(e, loc.cacheDir);
    }
    const resumedFrom = part.have;
    const sizeNote = () =>
      `while downloading ${url} (${mb(part.have)}${total !== undefined ? ` of ${mb(total)}` : ''} written)`;
    try {
      let first = part.have === 0;
      for await (const chunk of opened.chunks()) {
        // Catch a login/proxy page at its first bytes, not after "downloading" it.
        if (first && looksLikeHtml(chunk.subarray(0, 512))) throw htmlError(url);
        first = false;
        try {
          await writer.write(chunk);
        } catch (e) {
          throw cacheFsError(e, loc.cacheDir, sizeNote());
        }
        part.have += chunk.length;
        if (total !== undefined && part.have > total) {
          await dropPartial(part);
          throw new HubError('truncated', `the server sent more than the announced ${total} bytes for ${url}`, true);
        }
        opts.onProgress?.({ url, received: part.have, ...(total !== undefined ? { total } : {}), resumedFrom });
      }
      if (total !== undefined && part.have < total) {
        throw new HubError('truncated', `the download of ${url} stopped at ${part.have} of ${total} bytes`, true);
      }
      try {
        await writer.sync();
      } catch (e) {
        throw cacheFsError(e, loc.cacheDir, sizeNote());
      }
    } finally {
      await writer.close().catch(() => undefined);
    }
  } finally {
    opened.close();
  }
}

/** The cache file for a model and source (no I/O besides reading the environment). */
export function pretrainedCachePath(
  model: string,
  opts: Pick<ResolveOptions, 'source' | 'cacheDir' | 'hfEndpoint' | 'officialEndpoint' | 'env'> = {},
): string {
  return locatePretrained(model, opts).path;
}
