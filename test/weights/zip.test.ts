import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ZipError, crc32, looksLikeZip, readZip, writeZip } from '../../src/weights/zip.js';
import { sharedPath } from '../helpers/shared.js';

const enc = new TextEncoder();

function hasPython(): boolean {
  try {
    execFileSync('python3', ['-c', 'import zipfile'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Asserts `f` throws a ZipError whose message matches `re`. */
function rejects(f: () => unknown, re: RegExp): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected an error').toBeInstanceOf(ZipError);
  expect((err as Error).message).toMatch(re);
}

function sample(): Uint8Array {
  return writeZip([
    { name: 'archive/data.pkl', data: enc.encode('pickle bytes') },
    { name: 'archive/data/0', data: new Uint8Array(1000).map((_, i) => i & 0xff) },
    { name: 'archive/empty', data: new Uint8Array(0) },
    { name: 'archive/version', data: enc.encode('3\n') },
  ]);
}

describe('crc32', () => {
  it('matches the standard check values', () => {
    expect(crc32(enc.encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(crc32(enc.encode('The quick brown fox jumps over the lazy dog'))).toBe(0x414fa339);
    // Incremental == one shot, across the 8-byte fast path boundary.
    const data = enc.encode('abcdefghijklmnopqrstuvwxyz0123456789');
    expect(crc32(data.subarray(13), crc32(data.subarray(0, 13)))).toBe(crc32(data));
  });
});

describe('readZip on the golden timm checkpoint', () => {
  const bytes = new Uint8Array(readFileSync(sharedPath('golden/repghostnet_0_5x/checkpoint.pth')));

  it('lists every record (ZIP64 end records as torch writes them) and returns subarrays', () => {
    const zip = readZip(bytes, { verifyCrc: true });
    expect(zip.entries.size).toBe(1682);
    const names = [...zip.entries.keys()];
    expect(names[0]).toBe('checkpoint/data.pkl');
    expect(names.at(-1)).toBe('checkpoint/version');
    expect(new TextDecoder().decode(zip.read('checkpoint/version'))).toBe('3\n');
    const pkl = zip.read('checkpoint/data.pkl');
    expect(pkl.buffer).toBe(bytes.buffer); // no copy
    expect(pkl[0]).toBe(0x80);
    // torch aligns record data to 64 bytes in the file.
    expect((zip.read('checkpoint/data/0').byteOffset - bytes.byteOffset) % 64).toBe(0);
  });
});

describe('writeZip', () => {
  it('round-trips through readZip with 64-byte aligned data and valid CRCs', () => {
    const z = sample();
    const zip = readZip(z, { verifyCrc: true });
    expect([...zip.entries.keys()]).toEqual(['archive/data.pkl', 'archive/data/0', 'archive/empty', 'archive/version']);
    expect(new TextDecoder().decode(zip.read('archive/data.pkl'))).toBe('pickle bytes');
    expect(zip.read('archive/data/0')).toEqual(new Uint8Array(1000).map((_, i) => i & 0xff));
    expect(zip.read('archive/empty').length).toBe(0);
    for (const name of zip.entries.keys()) expect(zip.read(name).byteOffset % 64).toBe(0);
    expect(looksLikeZip(z)).toBe(true);
  });

  it('writes and reads ZIP64 records', () => {
    const z = writeZip(
      [
        { name: 'a', data: enc.encode('x') },
        { name: 'b/c', data: new Uint8Array(300).fill(7) },
      ],
      { forceZip64: true },
    );
    const zip = readZip(z, { verifyCrc: true });
    expect(zip.read('a')).toEqual(enc.encode('x'));
    expect(zip.read('b/c')).toEqual(new Uint8Array(300).fill(7));
  });

  it('is deterministic and refuses duplicate names', () => {
    expect(sample()).toEqual(sample());
    expect(() =>
      writeZip([
        { name: 'a', data: new Uint8Array(1) },
        { name: 'a', data: new Uint8Array(1) },
      ]),
    ).toThrow(/duplicate entry a/);
  });

  it.runIf(hasPython())("is read by CPython's zipfile (CRC checked), plain and ZIP64", () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'repghost-zip-'));
    try {
      const files = {
        plain: sample(),
        z64: writeZip([{ name: 'x/y', data: enc.encode('hello') }], { forceZip64: true }),
      };
      for (const [n, b] of Object.entries(files)) writeFileSync(path.join(dir, `${n}.zip`), b);
      const out = execFileSync('python3', [
        '-c',
        `
import sys, zipfile
for f in sys.argv[1:]:
    z = zipfile.ZipFile(f)
    assert z.testzip() is None
    print(f.split('/')[-1], ','.join(z.namelist()), sum(len(z.read(n)) for n in z.namelist()))
`,
        path.join(dir, 'plain.zip'),
        path.join(dir, 'z64.zip'),
      ]).toString();
      expect(out.trim().split('\n')).toEqual([
        'plain.zip archive/data.pkl,archive/data/0,archive/empty,archive/version 1014',
        'z64.zip x/y 5',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('readZip on bad input', () => {
  it('refuses truncated files, cut anywhere (local data, central directory, end records)', () => {
    const z = sample();
    const eocd = z.length - 22;
    for (const cut of [0, 10, 100, 1100, eocd - 40, eocd - 5, eocd, eocd + 10, z.length - 1]) {
      rejects(() => {
        const zip = readZip(z.subarray(0, cut));
        for (const n of zip.entries.keys()) zip.read(n);
      }, /truncated|too short|corrupt/);
    }
  });

  it('refuses a truncated golden checkpoint cut mid central directory', () => {
    const bytes = new Uint8Array(readFileSync(sharedPath('golden/repghostnet_0_5x/checkpoint.pth')));
    for (const cut of [bytes.length - 50_000, bytes.length - 100, bytes.length - 30]) {
      rejects(() => readZip(bytes.subarray(0, cut)), /truncated/);
    }
  });

  it('refuses non-zip input quickly (the backwards scan is bounded)', () => {
    const random = new Uint8Array(1 << 20);
    for (let i = 0, x = 12345; i < random.length; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      random[i] = x >>> 24;
    }
    random[0] = 0; // make sure no accidental local-header signature
    const t0 = performance.now();
    rejects(() => readZip(random), /not a zip file/);
    expect(performance.now() - t0).toBeLessThan(1000);
    rejects(
      () => readZip(Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...new Uint8Array(100))),
      /not a zip file/,
    );
    rejects(() => readZip(enc.encode('<!DOCTYPE html><html><body>Not found</body></html>')), /not a zip file/);
    rejects(() => readZip(new Uint8Array(3)), /too short/);
  });

  it('refuses DEFLATE entries with a clear message', () => {
    const z = sample();
    const v = new DataView(z.buffer);
    // Flip the method of the first central-directory entry to 8 (DEFLATE).
    const cd = v.getUint32(z.length - 22 + 16, true);
    v.setUint16(cd + 10, 8, true);
    rejects(() => readZip(z).read('archive/data.pkl'), /DEFLATE-compressed; torch\.save never compresses/);
  });

  it('refuses directories whose counts, offsets or sizes point outside the file', () => {
    const base = sample();
    const eocd = base.length - 22;
    const patch = (f: (v: DataView) => void): Uint8Array => {
      const z = base.slice();
      f(new DataView(z.buffer));
      return z;
    };
    rejects(
      () =>
        readZip(
          patch((v) => {
            v.setUint16(eocd + 10, 60000, true);
            v.setUint16(eocd + 8, 60000, true);
          }),
        ),
      /claims 60000 entries/,
    );
    rejects(() => readZip(patch((v) => v.setUint32(eocd + 16, 0x7fffffff, true))), /runs past/);
    rejects(
      () => readZip(patch((v) => v.setUint32(eocd + 16, 0xffffffff, true))),
      /needs ZIP64 records but has no ZIP64 locator/,
    );
    const cd = new DataView(base.buffer).getUint32(eocd + 16, true);
    rejects(
      () => readZip(patch((v) => v.setUint32(cd + 42, 5, true))).read('archive/data.pkl'),
      /local header at offset 5 is missing/,
    );
    rejects(
      () =>
        readZip(
          patch((v) => {
            v.setUint32(cd + 20, 1e9, true);
            v.setUint32(cd + 24, 1e9, true);
          }),
        ).read('archive/data.pkl'),
      /runs past the central directory/,
    );
    rejects(
      () =>
        readZip(
          patch((v) => v.setUint32(cd + 16, 1, true)),
          { verifyCrc: true },
        ).read('archive/data.pkl'),
      /CRC32 mismatch/,
    );
    rejects(() => readZip(base).read('nope'), /no entry named nope/);
  });

  it('refuses ZIP64 values beyond the file size', () => {
    const z = writeZip([{ name: 'a', data: enc.encode('x') }], { forceZip64: true });
    const v = new DataView(z.buffer);
    const loc = z.length - 22 - 20;
    const rec = Number(v.getBigUint64(loc + 8, true));
    v.setBigUint64(rec + 32, 2n ** 62n, true);
    rejects(() => readZip(z), /ZIP64 entry count .* exceeds the file size/);
  });
});
