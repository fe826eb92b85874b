/**
 * The browser resolver (fetch + Cache API) against the loopback hub, with an in-memory
 * CacheStorage standing in for window.caches.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fetchPretrained, type CacheStorageLike } from '../../src/browser/hub.js';
import { HubError } from '../../src/hub/errors.js';
import { goldenFiles, startHubServer, type HubServer } from './server.js';

let srv: HubServer;
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** A Map-backed CacheStorage: enough of the Cache API for the resolver. */
function memoryCaches(): CacheStorageLike & { entries: Map<string, Response> } {
  const entries = new Map<string, Response>();
  return {
    entries,
    open() {
      return Promise.resolve({
        match(url: string) {
          return Promise.resolve(entries.get(url)?.clone());
        },
        put(url: string, res: Response) {
          entries.set(url, res);
          return Promise.resolve();
        },
      });
    },
  };
}

beforeAll(async () => {
  srv = await startHubServer();
});
afterAll(async () => {
  await (srv as HubServer | undefined)?.close(); // unset when beforeAll failed
});
beforeEach(() => srv.reset());

describe('fetchPretrained (browser)', () => {
  it('fetches verified bytes, caches them, and serves the next call with no request', async () => {
    const cache = memoryCaches();
    const r = await fetchPretrained('repghostnet_050', { hfEndpoint: srv.url, cache });
    expect(r).toMatchObject({
      model: 'repghostnet_0_5x',
      source: 'hf',
      ema: false,
      fromCache: false,
      sha256: sha256(goldenFiles().hf050),
    });
    expect(sha256(r.bytes)).toBe(sha256(goldenFiles().hf050));
    srv.reset();
    const again = await fetchPretrained('repghostnet_0_5x', { hfEndpoint: srv.url, cache, offline: true });
    expect(again.fromCache).toBe(true);
    expect(sha256(again.bytes)).toBe(r.sha256);
    expect(srv.requests).toEqual([]);
  });

  it('rejects a sha256 mismatch the CDN states and an HTML page, caching nothing', async () => {
    const cache = memoryCaches();
    const url = `${srv.url}/timm/repghostnet_050.in1k/resolve/main/model.safetensors`;
    srv.knobs.cdnStatesSha = true;
    srv.knobs.statedSha256 = 'cd'.repeat(32);
    await expect(fetchPretrained('repghostnet_0_5x', { hfEndpoint: srv.url, cache })).rejects.toThrow(
      `sha256 mismatch for ${url}: the server states ${'cd'.repeat(32)}, ` +
        `the download has ${sha256(goldenFiles().hf050)}; the file was discarded (not cached)`,
    );
    srv.reset();
    srv.knobs.html = true;
    const e = await fetchPretrained('repghostnet_0_5x', { hfEndpoint: srv.url, cache }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(HubError);
    expect((e as HubError).message).toBe(
      `the server returned an HTML page, not model weights (a proxy or login page?) ` +
        `for ${url}; the file was discarded (not cached)`,
    );
    expect(cache.entries.size).toBe(0);
  });

  it('offline with an empty cache names the URL; 404 lists the models', async () => {
    await expect(
      fetchPretrained('repghostnet_0_5x', { hfEndpoint: srv.url, cache: memoryCaches(), offline: true }),
    ).rejects.toThrow(
      `offline mode: repghostnet_0_5x (hf) is not in the browser cache; ` +
        `load it once with network access (${srv.url}/timm/repghostnet_050.in1k/resolve/main/model.safetensors)`,
    );
    await expect(fetchPretrained('repghostnet_2_0x', { hfEndpoint: srv.url, cache: false })).rejects.toThrow(
      /^HTTP 404 Not Found for .*repghostnet_200\.in1k.*; models with pretrained weights: repghostnet_0_5x, /,
    );
  });
});
