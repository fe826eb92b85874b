/**
 * A loopback stand-in for the Hugging Face hub and GitHub release downloads, on
 * 127.0.0.1 with a random port, serving the golden files under both URL layouts:
 *
 *   /timm/<repo>/resolve/main/<file>                        302 -> /cdn/hf/<repo>/<file>
 *     (with X-Linked-Etag / ETag = sha256 and X-Linked-Size, as the hub does for LFS files)
 *   /ChengpengChen/RepGhost/releases/download/RepGhost/<f>  302 -> [/hop/..]* -> /cdn/gh/<f>
 *   /cdn/...                                                the bytes, with Range support
 *
 * Knobs make it misbehave the ways real networks do; every request is logged.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readCheckpoint, selectWeights } from '../../src/weights/checkpoint.js';
import { writeSafetensors } from '../../src/weights/safetensors.js';
import { sharedPath } from '../helpers/shared.js';

/** One logged request. */
export interface LoggedRequest {
  path: string;
  range?: string;
  ifRange?: string;
  status: number;
}

/** Ways to misbehave; each test sets what it needs (reset() clears them). */
export interface Knobs {
  /** Cut the connection after this many body bytes, for the next `cutTimes` CDN responses. */
  cutAfterBytes?: number;
  cutTimes?: number;
  /** Stop sending (without closing) after this many bytes, for the next `stallTimes` responses. */
  stallAfterBytes?: number;
  stallTimes?: number;
  /** Answer Range requests with the whole file (200). */
  ignoreRange?: boolean;
  /** State this sha256 instead of the real one. */
  statedSha256?: string;
  /** Answer file URLs with a login page, status 200. */
  html?: boolean;
  /** Content-Type of that page (default text/html; proxies sometimes lie). */
  htmlContentType?: string;
  /** The next N requests get 503. */
  fail503?: number;
  /** Extra redirect hops before the official CDN. */
  extraRedirects?: number;
  /** Redirect forever. */
  redirectLoop?: boolean;
  /** The CDN also states the sha256 (as its ETag), like the hub's LFS CDN; browsers only see this one. */
  cdnStatesSha?: boolean;
  /** Delay before answering a CDN request (ms). */
  delayMs?: number;
}

/** The running server. */
export interface HubServer {
  /** `http://127.0.0.1:<port>`: use as both hfEndpoint and officialEndpoint. */
  url: string;
  requests: LoggedRequest[];
  knobs: Knobs;
  /** Served files by their CDN key (`hf/<repo>/<file>`, `gh/<file>`). */
  files: Map<string, Uint8Array>;
  /** Requests that reached the bytes (the CDN), i.e. downloads started. */
  cdnRequests(): LoggedRequest[];
  reset(): void;
  close(): Promise<void>;
}

let goldenCache: { hf050: Uint8Array; official050: Uint8Array; norep: Uint8Array } | undefined;

/**
 * The golden bytes: the official 0.5x training checkpoint as the release asset; its
 * EMA state dict as safetensors (what timm's hub file holds); the norep model (weights
 * of another architecture, for "wrong model" tests).
 */
export function goldenFiles(): { hf050: Uint8Array; official050: Uint8Array; norep: Uint8Array } {
  if (!goldenCache) {
    const official050 = new Uint8Array(readFileSync(sharedPath('golden', 'repghostnet_0_5x', 'checkpoint.pth')));
    const hf050 = writeSafetensors(selectWeights(readCheckpoint(official050), { ema: true }), { format: 'pt' });
    const norep = new Uint8Array(readFileSync(sharedPath('golden', 'repghostnet_norep_0_5x', 'model.safetensors')));
    goldenCache = { hf050, official050, norep };
  }
  return goldenCache;
}

export const OFFICIAL_PREFIX = '/ChengpengChen/RepGhost/releases/download/RepGhost/';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Starts the server with the default files (0.5x under both layouts, norep as the hub's 0.58x). */
export async function startHubServer(): Promise<HubServer> {
  const g = goldenFiles();
  const files = new Map<string, Uint8Array>([
    ['hf/timm/repghostnet_050.in1k/model.safetensors', g.hf050],
    ['gh/repghostnet_0_5x_43M_66.95.pth.tar', g.official050],
    ['hf/timm/repghostnet_058.in1k/model.safetensors', g.norep],
  ]);
  const requests: LoggedRequest[] = [];
  const knobs: Knobs = {};
  const sockets = new Set<import('node:net').Socket>();

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const p = decodeURIComponent(url.pathname);
    const log: LoggedRequest = {
      path: p,
      status: 0,
      ...(req.headers.range ? { range: req.headers.range } : {}),
      ...(req.headers['if-range'] ? { ifRange: String(req.headers['if-range']) } : {}),
    };
    requests.push(log);
    // As the real hub does: pages on other origins may fetch (the browser resolver's path).
    res.setHeader('access-control-allow-origin', '*');
    res.setHeader('access-control-expose-headers', 'etag, x-linked-etag, x-linked-size, content-length');
    const send = (status: number, headers: Record<string, string | number>, body?: string | Uint8Array) => {
      log.status = status;
      res.writeHead(status, headers);
      res.end(body);
    };
    if (knobs.fail503 && knobs.fail503 > 0) {
      knobs.fail503--;
      send(503, { 'content-type': 'text/plain' }, 'busy');
      return;
    }
    if (knobs.redirectLoop) {
      send(302, { location: p });
      return;
    }
    if (knobs.html && !p.startsWith('/hop/')) {
      send(
        200,
        { 'content-type': knobs.htmlContentType ?? 'text/html; charset=utf-8' },
        '<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Proxy login</body></html>\n',
      );
      return;
    }
    const hf = /^\/(timm\/[^/]+)\/resolve\/main\/([^/]+)$/.exec(p);
    if (hf) {
      const key = `hf/${hf[1]}/${hf[2]}`;
      const data = files.get(key);
      if (!data) {
        send(
          404,
          { 'content-type': 'application/json', 'x-error-code': 'EntryNotFound' },
          '{"error":"Entry not found"}',
        );
        return;
      }
      const sha = knobs.statedSha256 ?? sha256(data);
      send(302, {
        location: `/cdn/${key}`,
        'x-linked-etag': `"${sha}"`,
        etag: `"${sha}"`,
        'x-linked-size': data.length,
        'x-repo-commit': '0123456789abcdef0123456789abcdef01234567',
      });
      return;
    }
    if (p.startsWith(OFFICIAL_PREFIX)) {
      const key = `gh/${p.slice(OFFICIAL_PREFIX.length)}`;
      if (!files.has(key)) {
        send(404, { 'content-type': 'text/plain' }, 'Not Found');
        return;
      }
      const hops = knobs.extraRedirects ?? 0;
      send(302, { location: hops > 0 ? `/hop/${hops}/${key}` : `/cdn/${key}` });
      return;
    }
    const hop = /^\/hop\/(\d+)\/(.*)$/.exec(p);
    if (hop) {
      const n = Number(hop[1]) - 1;
      // Relative and absolute Location headers both occur in the wild.
      send(307, {
        location:
          n > 0 ? `/hop/${n}/${hop[2]}` : `http://127.0.0.1:${(server.address() as AddressInfo).port}/cdn/${hop[2]}`,
      });
      return;
    }
    if (p.startsWith('/cdn/')) {
      const data = files.get(p.slice(5));
      if (!data) {
        send(404, {}, 'Not Found');
        return;
      }
      const serve = () => serveBytes(req, res, data, log, knobs);
      if (knobs.delayMs) setTimeout(serve, knobs.delayMs);
      else serve();
      return;
    }
    send(404, { 'content-type': 'text/plain' }, 'Not Found');
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    knobs,
    files,
    cdnRequests: () => requests.filter((r) => r.path.startsWith('/cdn/')),
    reset() {
      requests.length = 0;
      for (const k of Object.keys(knobs) as (keyof Knobs)[]) knobs[k] = undefined;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function serveBytes(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  data: Uint8Array,
  log: LoggedRequest,
  knobs: Knobs,
): void {
  const etag = knobs.cdnStatesSha ? `"${knobs.statedSha256 ?? sha256(data)}"` : `"cdn-${sha256(data).slice(0, 16)}"`;
  let start = 0;
  let status = 200;
  const headers: Record<string, string | number> = {
    'content-type': 'application/octet-stream',
    'accept-ranges': 'bytes',
    etag,
  };
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const ifRangeOk = !req.headers['if-range'] || req.headers['if-range'] === etag;
  if (m && !knobs.ignoreRange && ifRangeOk) {
    start = Number(m[1]);
    if (start >= data.length) {
      log.status = 416;
      res.writeHead(416, { 'content-range': `bytes */${data.length}` });
      res.end();
      return;
    }
    status = 206;
    headers['content-range'] = `bytes ${start}-${data.length - 1}/${data.length}`;
  }
  const body = data.subarray(start);
  headers['content-length'] = body.length;
  log.status = status;
  res.writeHead(status, headers);
  let limit = body.length;
  let action: 'cut' | 'stall' | undefined;
  if (knobs.cutAfterBytes !== undefined && (knobs.cutTimes ?? 1) > 0) {
    knobs.cutTimes = (knobs.cutTimes ?? 1) - 1;
    limit = Math.min(limit, knobs.cutAfterBytes);
    action = 'cut';
  } else if (knobs.stallAfterBytes !== undefined && (knobs.stallTimes ?? 1) > 0) {
    knobs.stallTimes = (knobs.stallTimes ?? 1) - 1;
    limit = Math.min(limit, knobs.stallAfterBytes);
    action = 'stall';
  }
  if (!action) {
    res.end(Buffer.from(body.buffer, body.byteOffset, body.length));
    return;
  }
  res.write(Buffer.from(body.buffer, body.byteOffset, limit), () => {
    // 'cut': the connection dies mid-body; 'stall': it stays open and silent.
    if (action === 'cut') setTimeout(() => res.destroy(), 20);
  });
}
