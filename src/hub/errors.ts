/**
 * Errors of the pretrained-weights resolver. Each message is one line a user can act
 * on (what failed, where, what to do); `code` lets callers and tests branch without
 * parsing text, `retryable` tells the download loop whether another attempt can help.
 *
 * Browser-safe: no `node:` imports.
 */

/** What went wrong, coarse enough to branch on. */
export type HubErrorCode =
  | 'unknown-model' // name not in the registry (checked before any request)
  | 'bad-source' // --source not hf/official
  | 'bad-endpoint' // endpoint setting is not an http(s) URL
  | 'offline-missing' // offline mode and the file is not cached
  | 'not-found' // 404 / 410 / 401 / 403: the server has no such file for us
  | 'http' // any other unexpected HTTP status
  | 'network' // connection refused / reset, DNS, TLS
  | 'timeout' // connect or idle time-out
  | 'too-many-redirects'
  | 'truncated' // body shorter than announced
  | 'html' // an HTML page where weights were expected
  | 'sha256' // content does not match the hash the server states
  | 'not-weights' // the file does not parse as the expected model
  | 'disk-full' // ENOSPC / EDQUOT / EFBIG while writing the cache
  | 'cache-access' // cache dir not creatable / writable
  | 'aborted'; // the caller's AbortSignal fired

/** A resolver failure with a one-line, user-facing message. */
export class HubError extends Error {
  override name = 'HubError';
  constructor(
    readonly code: HubErrorCode,
    message: string,
    /** Whether a later attempt may succeed (network blips, 5xx, time-outs, cut-off bodies). */
    readonly retryable = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The error code (`ECONNREFUSED`, `ENOTFOUND`, ...) buried in a fetch failure's cause chain. */
export function errnoCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code) return code;
  }
  return undefined;
}

const NETWORK_HINT =
  'check the network or proxy settings, set REPGHOST_HF_ENDPOINT to a reachable mirror, or use --offline with a ' +
  'cached file';

/**
 * Turns a fetch / body-read failure into a HubError. Everything here is retryable:
 * even DNS failures are often transient (EAI_AGAIN, a waking VPN); the retry budget
 * bounds the cost when they are not.
 */
export function networkError(err: unknown, url: string): HubError {
  if (err instanceof HubError) return err;
  const code = errnoCode(err);
  const host = safeHost(url);
  let what: string;
  switch (code) {
    case 'ECONNREFUSED':
      what = `cannot connect to ${host} (connection refused)`;
      break;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
    case 'EAI_FAIL':
      what = `cannot resolve ${host} (DNS lookup failed: no network?)`;
      break;
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      what = `the connection to ${host} was closed mid-transfer`;
      break;
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      what = `the connection to ${host} timed out`;
      break;
    case 'ENETUNREACH':
    case 'EHOSTUNREACH':
    case 'ENETDOWN':
      what = `${host} is unreachable (no network route)`;
      break;
    default: {
      const msg = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
      what = `network error talking to ${host} (${code ? `${code}: ` : ''}${msg})`;
    }
  }
  return new HubError('network', `${what} while fetching ${url}; ${NETWORK_HINT}`, true, { cause: err });
}

/** `host[:port]` of a URL for messages; the URL itself when it does not parse. */
export function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** The message for an HTML page served where weights were expected. */
export function htmlError(url: string): HubError {
  return new HubError(
    'html',
    `the server returned an HTML page, not model weights (a proxy or login page?) for ${url}`,
  );
}
