/**
 * HTTP plumbing shared by the Node and browser resolvers, on plain `fetch`:
 * redirects followed by hand (capped, and so the hub's `X-Linked-Etag` on its 302 to
 * the CDN is visible), a connect and an idle time-out, status -> HubError mapping,
 * and exponential back-off. Browser-safe: no `node:` imports.
 */
import { HubError, networkError, safeHost } from './errors.js';
import { pretrainedModelList } from './registry.js';

/** Knobs for one HTTP exchange. */
export interface HttpOptions {
  /** `fetch` to use (a proxy-aware one, a test double); default the global. */
  fetchImpl?: typeof fetch;
  /** Most redirects followed before giving up (default 10; the hub uses 1-2). */
  maxRedirects?: number;
  /** Time allowed until response headers arrive, per attempt (default 30 s). */
  connectTimeoutMs?: number;
  /** Time allowed between two body chunks (default 60 s). */
  idleTimeoutMs?: number;
  /**
   * 'manual' (Node) follows redirects here, seeing every hop's headers; 'follow' lets
   * fetch do it (browsers hide redirect responses from scripts).
   */
  redirect?: 'manual' | 'follow';
  /** Cancels the exchange; the caller sees HubError('aborted'). */
  signal?: AbortSignal;
}

/** An open response: status and headers read, body not yet consumed. */
export interface OpenedResponse {
  response: Response;
  /** URL of the last hop. */
  finalUrl: string;
  /** sha256 the server states for the content (hub `X-Linked-Etag`, or a 64-hex ETag), lower-case hex. */
  sha256?: string;
  /** Size the hub states for an LFS file (`X-Linked-Size`), if any. */
  linkedSize?: number;
  /** Redirects followed. */
  redirects: number;
  /** The body, chunk by chunk, under the idle time-out. */
  chunks(): AsyncGenerator<Uint8Array>;
  /** Stops timers and cancels the body; safe to call twice. */
  close(): void;
}

const DEFAULTS = { maxRedirects: 10, connectTimeoutMs: 30_000, idleTimeoutMs: 60_000 };
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * Parses an ETag-like header into a sha256 when it is one (64 hex digits after
 * dropping `W/` and quotes). Git blob ids (40 hex) and CDN md5s (32 hex) are not.
 */
export function sha256FromEtag(value: string | null | undefined): string | undefined {
  if (!value) return undefined;
  const v = value
    .trim()
    .replace(/^W\//, '')
    .replace(/^"(.*)"$/, '$1');
  return /^[0-9a-f]{64}$/i.test(v) ? v.toLowerCase() : undefined;
}

/** A strong ETag usable in `If-Range` (weak ones are not allowed there). */
export function strongEtag(value: string | null | undefined): string | undefined {
  return value && !value.startsWith('W/') ? value : undefined;
}

/** Parses `Content-Range: bytes a-b/total`; `total` is undefined for `*`. */
export function parseContentRange(value: string | null): { start: number; end: number; total?: number } | undefined {
  const m = value ? /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(value.trim()) : null;
  if (!m) return undefined;
  const total = m[3] === '*' ? undefined : Number(m[3]);
  return { start: Number(m[1]), end: Number(m[2]), ...(total !== undefined ? { total } : {}) };
}

/** Maps a non-success status to a HubError; 404-like ones list the models with weights. */
export function statusError(res: Response, url: string): HubError {
  const status = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
  if (res.status === 404 || res.status === 410) {
    return new HubError(
      'not-found',
      `${status} for ${url}: the server has no such file (wrong model name or an incomplete mirror?); ` +
        `models with pretrained weights: ${pretrainedModelList()}`,
    );
  }
  if (res.status === 401 || res.status === 403) {
    // The hub answers 401 for repositories that do not exist as well as for gated ones.
    return new HubError(
      'not-found',
      `${status} for ${url}: ` +
        `the server refuses access (a missing or private repository, or a mirror that needs a login); ` +
        `models with pretrained weights: ${pretrainedModelList()}`,
    );
  }
  if (res.status === 429 || res.status >= 500) {
    return new HubError(
      'http',
      `${status} from ${safeHost(url)} for ${url} (server busy or failing); ` +
        `try again later or use a mirror (REPGHOST_HF_ENDPOINT)`,
      true,
    );
  }
  return new HubError('http', `unexpected ${status} for ${url}`);
}

/** Delay before retry `attempt` (0-based): base * 2^attempt with +-25% jitter, at most 30 s. */
export function backoffMs(attempt: number, baseMs: number): number {
  return Math.min(30_000, baseMs * 2 ** attempt) * (0.75 + Math.random() / 2);
}

/** Sleeps `ms`, rejecting with HubError('aborted') when `signal` fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortedError());
      return;
    }
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(abortedError());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function abortedError(): HubError {
  return new HubError('aborted', 'the download was cancelled');
}

/**
 * Sends a GET (with `headers`, e.g. Range) and follows redirects, returning once the
 * final response's headers are in. Network failures, time-outs and 5xx become
 * retryable HubErrors; 3xx loops beyond `maxRedirects` a non-retryable one. The
 * status is not checked here (206 vs 200 vs 416 is the caller's business), except
 * that redirects are consumed.
 */
export async function openUrl(
  url: string,
  headers: Record<string, string>,
  opts: HttpOptions = {},
): Promise<OpenedResponse> {
  const fetchImpl = opts.fetchImpl ?? globalThis.fetch;
  const maxRedirects = opts.maxRedirects ?? DEFAULTS.maxRedirects;
  const connectMs = opts.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs;
  const idleMs = opts.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs;
  const ctrl = new AbortController();
  let timedOut: string | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = (ms: number, what: string) => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = what;
      ctrl.abort();
    }, ms);
  };
  const onUserAbort = () => ctrl.abort();
  opts.signal?.addEventListener('abort', onUserAbort, { once: true });
  const close = () => {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onUserAbort);
    if (!ctrl.signal.aborted) ctrl.abort();
  };
  // Why the exchange died: our timer, the caller, or the network.
  const failure = (err: unknown, at: string): HubError => {
    if (timedOut)
      return new HubError(
        'timeout',
        `${timedOut} from ${safeHost(at)} while fetching ${at}; ` +
          `the network or server is too slow (retry, or use a mirror via REPGHOST_HF_ENDPOINT)`,
        true,
        { cause: err },
      );
    if (opts.signal?.aborted) return abortedError();
    return networkError(err, at);
  };

  let current = url;
  let sha256: string | undefined;
  let linkedSize: number | undefined;
  try {
    for (let hop = 0; ; hop++) {
      arm(connectMs, `no response within ${Math.round(connectMs / 1000)} s`);
      let res: Response;
      try {
        res = await fetchImpl(current, { headers, redirect: opts.redirect ?? 'manual', signal: ctrl.signal });
      } catch (err) {
        throw failure(err, current);
      }
      // The hub puts the LFS sha256 on its 302 (X-Linked-Etag, and ETag); a CDN's own
      // ETag later is an md5 or opaque, so the first statement wins.
      sha256 ??= sha256FromEtag(res.headers.get('x-linked-etag')) ?? sha256FromEtag(res.headers.get('etag'));
      const ls = Number(res.headers.get('x-linked-size') ?? NaN);
      if (linkedSize === undefined && Number.isSafeInteger(ls) && ls >= 0) linkedSize = ls;
      const location = res.headers.get('location');
      if (REDIRECTS.has(res.status) && location) {
        await res.body?.cancel().catch(() => undefined);
        if (hop >= maxRedirects) {
          throw new HubError(
            'too-many-redirects',
            `more than ${maxRedirects} redirects fetching ${url} (last to ${location}); ` +
              `the server or a proxy is looping`,
          );
        }
        current = new URL(location, current).toString();
        continue;
      }
      clearTimeout(timer);
      const finalUrl = res.url || current;
      return {
        response: res,
        finalUrl,
        ...(sha256 ? { sha256 } : {}),
        ...(linkedSize !== undefined ? { linkedSize } : {}),
        redirects: hop,
        close,
        async *chunks() {
          if (!res.body) return;
          const reader = res.body.getReader();
          try {
            for (;;) {
              arm(idleMs, `no data for ${Math.round(idleMs / 1000)} s`);
              let r: ReadableStreamReadResult<Uint8Array>;
              try {
                r = await reader.read();
              } catch (err) {
                throw failure(err, finalUrl);
              }
              if (r.done) return;
              yield r.value;
            }
          } finally {
            clearTimeout(timer);
            reader.releaseLock();
          }
        },
      };
    }
  } catch (err) {
    close();
    throw err;
  }
}
