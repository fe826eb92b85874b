/** IDX reader: valid files (plain and gzip) and clear errors for corrupt ones. */
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { IdxError, parseIdx, readIdx } from '../../src/data/idx.js';

/** An IDX file of uint8 data with the given shape. */
function idx(shape: number[], data: number[], type = 0x08): Uint8Array {
  const header = new Uint8Array(4 + 4 * shape.length);
  header[2] = type;
  header[3] = shape.length;
  const dv = new DataView(header.buffer);
  shape.forEach((d, i) => dv.setUint32(4 + 4 * i, d, false));
  const out = new Uint8Array(header.length + data.length);
  out.set(header);
  out.set(data, header.length);
  return out;
}

describe('IDX reader', () => {
  const good = idx([2, 2, 3], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255]);

  it('reads uint8 arrays, plain and gzipped', async () => {
    const a = parseIdx(good);
    expect(a.type).toBe('uint8');
    expect(a.shape).toEqual([2, 2, 3]);
    expect([...a.data]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255]);
    const b = await readIdx(new Uint8Array(gzipSync(good)));
    expect(b.shape).toEqual([2, 2, 3]);
    expect([...b.data]).toEqual([...a.data]);
  });

  it('decodes big-endian int32', () => {
    const bytes = idx([2], [0, 0, 1, 2, 0xff, 0xff, 0xff, 0xfe], 0x0c);
    expect([...parseIdx(bytes).data]).toEqual([258, -2]);
  });

  it('rejects a wrong magic, naming it', () => {
    const bad = good.slice();
    bad[0] = 0x12;
    expect(() => parseIdx(bad, 'x.idx')).toThrow(IdxError);
    expect(() => parseIdx(bad, 'x.idx')).toThrow(/x\.idx: bad magic 12 00 08 03/);
    expect(() => parseIdx(new Uint8Array(gzipSync(good)))).toThrow(/gzip-compressed/);
  });

  it('rejects unknown types and empty headers', () => {
    const t = good.slice();
    t[2] = 0x42;
    expect(() => parseIdx(t)).toThrow(/unknown IDX type code 0x42/);
    expect(() => parseIdx(new Uint8Array([0, 0]))).toThrow(/too short/);
    expect(() => parseIdx(new Uint8Array([0, 0, 8, 3, 0, 0]))).toThrow(/truncated header/);
  });

  it('rejects truncated data and trailing bytes against the declared dims', () => {
    expect(() => parseIdx(good.subarray(0, good.length - 1))).toThrow(
      /truncated: shape \[2, 2, 3\] of uint8 needs 28 bytes, file has 27/,
    );
    const longer = new Uint8Array(good.length + 3);
    longer.set(good);
    expect(() => parseIdx(longer)).toThrow(/3 unexpected bytes after the data/);
  });

  it('rejects corrupt or truncated gzip with an IdxError', async () => {
    const gz = new Uint8Array(gzipSync(idx([100], new Array<number>(100).fill(7))));
    await expect(readIdx(gz.subarray(0, gz.length - 6), 'labels.gz')).rejects.toThrow(
      /labels\.gz: corrupt or truncated gzip data/,
    );
    const flipped = gz.slice();
    flipped[15] = flipped[15]! ^ 0xff;
    await expect(readIdx(flipped)).rejects.toBeInstanceOf(IdxError);
  });
});
