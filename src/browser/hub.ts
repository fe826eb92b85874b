/**
 * Pretrained weights in the browser: the same registry, endpoints and checks as the
 * Node resolver (no HTML, stated sha256, parses as the expected model), with `fetch`
 * and the Cache API as the cache. Returns the verified bytes; feed them to the loader.
 *
 * No `node:` imports. Differences from Node, and why:
 * - redirects are followed by `fetch` itself (scripts cannot see redirect responses),
 *   so a sha256 is compared only when the final response states one;
 * - an interrupted download restarts instead of resuming (Cache API entries are
 *   whole responses; there is no partial file to append to);
 * - no lock: each tab downloads on its own; `cache.put` replaces whole entries, so
 *   the cache still never holds a partial file.
 */
import type { PreprocessConfig } from '../data/preprocess.js';
import { HubError, htmlError } from '../hub/errors.js';
import { backoffMs, openUrl, sleep, statusError, type HttpOptions } from '../hub/http.js';
import { sourceWeights, type PretrainedSource } from '../hub/registry.js';
import { checkSha256, looksLikeHtml, toHex, verifyWeights, type Verifier } from '../hub/verify.js';

/** The subset of the Cache API used (window.caches satisfies it; tests pass a fake). */
export interface CacheStorageLike {
  open(name: string): Promise<{
    match(url: string): Promise<Response | undefined>;
    put(url: string, response: Response): Promise<void>;
  }>;
}

/** Options of {@link fetchPretrained}. */
export interface BrowserResolveOptions extends Pick<
  HttpOptions,
  'fetchImpl' | 'maxRedirects' | 'connectTimeoutMs' | 'idleTimeoutMs' | 'signal'
> {
  /** 'hf' (default) or 'official'. Official release assets are served without CORS headers: use a mirror. */
  source?: string;
  /** Hub mirror (default https://huggingface.co). */
  hfEndpoint?: string;
  /** Host of the official release assets (default https://github.com). */
  officialEndpoint?: string;
  /** Cache API storage; default `globalThis.caches` when present; false disables caching. */
  cache?: CacheStorageLike | false;
  /** Cache name (default 'repghost-weights-v1'). */
  cacheName?: string;
  /** Only use the cache; a miss is an error naming the URL. */
  offline?: boolean;
  /** Called after every received chunk. */
  onProgress?: (p: { url: string; received: number; total?: number }) => void;
  /** Retries after network errors, time-outs and 5xx (default 4). */
  retries?: number;
  /** First back-off delay, doubled per retry (default 1000 ms). */
  retryDelayMs?: number;
  /** Replaces the "parses as the expected model" check. */
  verify?: Verifier;
}

/** Verified weights and how to use them. */
export interface FetchedPretrained {
  model: string;
  source: PretrainedSource;
  url: string;
  /** Pass as `ema` when loading the bytes. */
  ema: boolean;
  preprocess: Required<PreprocessConfig>;
  top1: number;
  /** The file's content. */
  bytes: Uint8Array;
  sha256: string;
  fromCache: boolean;
}

const SHA_HEADER = 'x-repghost-sha256';
const SIZE_HEADER = 'x-repghost-bytes';

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return toHex(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
}

/**
 * Fetches `model`'s published weights (from the Cache API when there), verified.
 * Errors are HubErrors with the same one-line messages as the Node resolver.
 */
export async function fetchPretrained(model: string, opts: BrowserResolveOptions = {}): Promise<FetchedPretrained> {
  const { entry, source, url, ema, target } = sourceWeights(model, opts.source ?? 'hf', {
    ...(opts.hfEndpoint ? { hf: opts.hfEndpoint } : {}),
    ...(opts.officialEndpoint ? { official: opts.officialEndpoint } : {}),
  });
  const base = { model: entry.model, source, url, ema, preprocess: entry.preprocess, top1: entry.official.top1 };

  const storage =
    opts.cache === false ? undefined : (opts.cache ?? (globalThis as { caches?: CacheStorageLike }).caches);
  const cache = storage ? await storage.open(opts.cacheName ?? 'repghost-weights-v1') : undefined;
  const hit = await cache?.match(url);
  if (hit) {
    const bytes = new Uint8Array(await hit.arrayBuffer());
    const sha = hit.headers.get(SHA_HEADER);
    // Entries are written only after verification; the size guards against a damaged store.
    if (sha && Number(hit.headers.get(SIZE_HEADER)) === bytes.length)
      return { ...base, bytes, sha256: sha, fromCache: true };
  }
  if (opts.offline) {
    throw new HubError(
      'offline-missing',
      `offline mode: ${entry.model} (${source}) is not in the browser cache; load it once with network access (${url})`,
    );
  }

  let bytes: Uint8Array;
  let sha256: string;
  try {
    const got = await downloadWithRetries(url, opts);
    bytes = got.bytes;
    sha256 = await sha256Hex(bytes);
    checkSha256(sha256, got.statedSha256, url);
    if (looksLikeHtml(bytes.subarray(0, 512))) throw htmlError(url);
    await (opts.verify ?? verifyWeights)(bytes, target);
  } catch (e) {
    const err =
      e instanceof HubError
        ? e
        : new HubError(
            'not-weights',
            `${url} is not ${entry.model} weights: ${e instanceof Error ? e.message : String(e)}`,
          );
    if (err.code !== 'html' && err.code !== 'sha256' && err.code !== 'not-weights') throw err;
    throw new HubError(err.code, `${err.message}; the file was discarded (not cached)`, false, { cause: e });
  }
  await cache
    ?.put(
      url,
      new Response(bytes as Uint8Array<ArrayBuffer>, {
        headers: {
          'content-type': 'application/octet-stream',
          [SHA_HEADER]: sha256,
          [SIZE_HEADER]: String(bytes.length),
        },
      }),
    )
    .catch(() => undefined); // a full or disabled storage only costs the next download
  return { ...base, bytes, sha256, fromCache: false };
}

async function downloadWithRetries(
  url: string,
  opts: BrowserResolveOptions,
): Promise<{ bytes: Uint8Array; statedSha256?: string }> {
  const retries = opts.retries ?? 4;
  for (let attempt = 0; ; attempt++) {
    try {
      return await downloadOnce(url, opts);
    } catch (e) {
      const err = e instanceof HubError ? e : new HubError('network', String(e), true);
      if (!err.retryable || attempt >= retries || opts.signal?.aborted) throw err;
      await sleep(backoffMs(attempt, opts.retryDelayMs ?? 1000), opts.signal);
    }
  }
}

async function downloadOnce(
  url: string,
  opts: BrowserResolveOptions,
): Promise<{ bytes: Uint8Array; statedSha256?: string }> {
  const opened = await openUrl(url, {}, { ...opts, redirect: 'follow' });
  try {
    const res = opened.response;
    if (res.status !== 200) throw statusError(res, url);
    if (/^\s*(text\/html|application\/xhtml)/i.test(res.headers.get('content-type') ?? '')) throw htmlError(url);
    const cl = Number(res.headers.get('content-length') ?? NaN);
    // Content-Length counts encoded bytes; only trust it when the body is not compressed.
    const total = Number.isSafeInteger(cl) && !res.headers.get('content-encoding') ? cl : opened.linkedSize;
    const parts: Uint8Array[] = [];
    let received = 0;
    for await (const chunk of opened.chunks()) {
      if (received === 0 && looksLikeHtml(chunk.subarray(0, 512))) throw htmlError(url);
      parts.push(chunk);
      received += chunk.length;
      opts.onProgress?.({ url, received, ...(total !== undefined ? { total } : {}) });
    }
    if (total !== undefined && received !== total) {
      throw new HubError('truncated', `the download of ${url} stopped at ${received} of ${total} bytes`, true);
    }
    const bytes = new Uint8Array(received);
    let off = 0;
    for (const p of parts) {
      bytes.set(p, off);
      off += p.length;
    }
    return { bytes, ...(opened.sha256 ? { statedSha256: opened.sha256 } : {}) };
  } finally {
    opened.close();
  }
}
