/** Registry, cache paths and the small parsers: pure functions, no network. */
import path from 'node:path';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { cachePathForUrl, defaultCacheDir, cacheFsError } from '../../src/hub/cache.js';
import { parseContentRange, sha256FromEtag } from '../../src/hub/http.js';
import { pretrainedEntry, pretrainedModels } from '../../src/hub/registry.js';
import { looksLikeHtml } from '../../src/hub/verify.js';

describe('registry', () => {
  it('has both sources for the eight published models, with the published top-1', () => {
    const top1 = pretrainedModels().map((m) => pretrainedEntry(m).official.top1);
    expect(top1).toEqual([66.95, 68.94, 72.24, 74.22, 75.07, 76.37, 77.45, 78.81]);
    const e = pretrainedEntry('repghostnet_111');
    expect(e.hf).toEqual({
      repo: 'timm/repghostnet_111.in1k',
      file: 'model.safetensors',
      altFile: 'pytorch_model.bin',
      url: 'https://huggingface.co/timm/repghostnet_111.in1k/resolve/main/model.safetensors',
      ema: false,
    });
    expect(e.official).toEqual({
      file: 'repghostnet_1_11x_170M_75.07.pth.tar',
      url: 'https://github.com/ChengpengChen/RepGhost/releases/download/RepGhost/repghostnet_1_11x_170M_75.07.pth.tar',
      top1: 75.07,
      macs: '170M',
      ema: true,
    });
    expect(e.preprocess).toMatchObject({ interpolation: 'bilinear', cropPct: 0.875 });
    expect(pretrainedEntry('repghostnet_2_0x').official.file).toBe('repghostnet_2_0x_516M_78.81.pth.tar');
  });

  it('uses mirrors (with a path prefix, trailing slash ignored) and rejects non-http endpoints', () => {
    expect(pretrainedEntry('repghostnet_050', { hf: 'https://mirror.example/hf/' }).hf.url).toBe(
      'https://mirror.example/hf/timm/repghostnet_050.in1k/resolve/main/model.safetensors',
    );
    expect(() => pretrainedEntry('repghostnet_050', { hf: 'ftp://x' })).toThrow(
      "the Hugging Face endpoint must be an http(s) URL, got 'ftp://x'",
    );
  });
});

describe('cache paths', () => {
  it('derives a readable path from the URL, and a hashed level when the URL needs sanitizing', () => {
    expect(
      cachePathForUrl('/c', 'https://huggingface.co/timm/repghostnet_050.in1k/resolve/main/model.safetensors'),
    ).toBe(path.join('/c', 'huggingface.co', 'timm', 'repghostnet_050.in1k', 'resolve', 'main', 'model.safetensors'));
    const odd = cachePathForUrl('/c', 'http://127.0.0.1:8080/a%20b/..%2F..%2Fetc/passwd?x=1');
    expect(odd.startsWith(path.join('/c', '127.0.0.1_8080', 'a_b', '_.._.._etc', 'u-'))).toBe(true);
    expect(path.basename(odd)).toBe('passwd');
    expect(cachePathForUrl('/c', 'http://h/a?x=1')).not.toBe(cachePathForUrl('/c', 'http://h/a?x=2'));
  });

  it('picks the cache dir: option, REPGHOST_CACHE, XDG_CACHE_HOME, ~/.cache', () => {
    expect(defaultCacheDir('/opt', { REPGHOST_CACHE: '/r' })).toBe('/opt');
    expect(defaultCacheDir(undefined, { REPGHOST_CACHE: '/r', XDG_CACHE_HOME: '/x' })).toBe('/r');
    expect(defaultCacheDir(undefined, { XDG_CACHE_HOME: '/x' })).toBe(path.join('/x', 'repghost'));
    expect(defaultCacheDir(undefined, {})).toBe(path.join(os.homedir(), '.cache', 'repghost'));
    expect(defaultCacheDir(undefined, { REPGHOST_CACHE: '~/w' })).toBe(path.join(os.homedir(), 'w'));
  });

  it('formats file-system errors as one actionable line', () => {
    const err = (code: string) => Object.assign(new Error(code), { code });
    expect(cacheFsError(err('EROFS'), '/c').message).toBe(
      'the cache directory /c is on a read-only file system; set REPGHOST_CACHE (or --cache-dir) to a writable ' +
        'directory',
    );
    expect(cacheFsError(err('EDQUOT'), '/c').code).toBe('disk-full');
  });
});

describe('parsers', () => {
  it('reads a sha256 only from 64-hex ETags', () => {
    const h = 'AB'.repeat(32);
    expect(sha256FromEtag(`"${h}"`)).toBe(h.toLowerCase());
    expect(sha256FromEtag(`W/"${h}"`)).toBe(h.toLowerCase());
    expect(sha256FromEtag('"0123456789abcdef0123456789abcdef01234567"')).toBeUndefined(); // git blob id
    expect(sha256FromEtag(null)).toBeUndefined();
  });

  it('parses Content-Range', () => {
    expect(parseContentRange('bytes 100-199/200')).toEqual({ start: 100, end: 199, total: 200 });
    expect(parseContentRange('bytes 0-9/*')).toEqual({ start: 0, end: 9 });
    expect(parseContentRange('items 1-2/3')).toBeUndefined();
  });

  it('recognizes HTML but not weight files', () => {
    const enc = (s: string) => new TextEncoder().encode(s);
    expect(looksLikeHtml(enc('\ufeff  <!DOCTYPE html>'))).toBe(true);
    expect(looksLikeHtml(enc('<html>'))).toBe(true);
    expect(looksLikeHtml(enc('PK\x03\x04'))).toBe(false);
    expect(looksLikeHtml(new Uint8Array([0x80, 0x02]))).toBe(false);
    // safetensors header length 60
    expect(looksLikeHtml(new Uint8Array([0x3c, 0x00, 0, 0, 0, 0, 0, 0, 0x7b]))).toBe(false);
  });
});
