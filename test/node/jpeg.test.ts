/**
 * The native JPEG path (native/jpeg: the system libjpeg-turbo, Pillow's own decoder): the
 * same bytes as the sharp path on every kind of JPEG it takes, and a clean hand-over to
 * sharp for every kind it declines (CMYK, damage, a rotation to apply, ambiguous EXIF).
 * The golden tests (test/data/preprocess.test.ts) check both against Pillow's tensors.
 */
import { readFileSync } from 'node:fs';
import sharp, { type Sharp } from 'sharp';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodeImageFile } from '../../src/node/decode.js';
import { decodeJpegNative, exifOrientation, nativeJpegAvailable, setNativeJpegEnabled } from '../../src/node/jpeg.js';
import { sharedPath } from '../helpers/shared.js';

/** A photo-like test picture: smooth gradients plus texture, so every DCT band is used. */
function picture(width: number, height: number): Sharp {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 3; c++)
        data[(y * width + x) * 3 + c] = (x * (c + 1) * 3 + y * 2 + ((x * 7919 + y * 104729 + c * 31) % 61)) & 255;
  return sharp(data, { raw: { width, height, channels: 3 } });
}

/** The sharp path's pixels for the same bytes. */
async function viaSharp(bytes: Uint8Array, autoOrient = true): Promise<Uint8Array> {
  setNativeJpegEnabled(false);
  try {
    return (await decodeImageFile(bytes, { autoOrient })).data;
  } finally {
    setNativeJpegEnabled(true);
  }
}

const equal = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

/** An APP1 EXIF segment holding one IFD0 entry: Orientation = `value` (big-endian TIFF). */
function exifSegment(value: number): Uint8Array {
  const tiff = [0x4d, 0x4d, 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, value, 0, 0, 0, 0, 0, 0];
  const payload = [...Buffer.from('Exif\0\0', 'latin1'), ...tiff];
  const len = payload.length + 2;
  return Uint8Array.from([0xff, 0xe1, len >> 8, len & 255, ...payload]);
}

/** `jpeg` with APP1 segments inserted right after SOI. */
function withSegments(jpeg: Uint8Array, ...segments: Uint8Array[]): Uint8Array {
  return Buffer.concat([jpeg.subarray(0, 2), ...segments, jpeg.subarray(2)]);
}

beforeAll(() => {
  // Built by `npm ci` wherever a C++ compiler and libjpeg-dev exist, as in CI (.ci/run).
  expect(nativeJpegAvailable(), 'native JPEG decoder not built: install libjpeg-dev, npm run build:native').toBe(true);
});
afterEach(() => setNativeJpegEnabled(true));

describe('native JPEG decoding', () => {
  it("gives sharp's pixels byte for byte: sizes, subsampling, progressive, quality, greyscale", async () => {
    let cases = 0;
    for (const [w, h] of [
      [1, 1],
      [17, 9],
      [500, 375],
      [375, 500],
      [1203, 31],
    ] as const) {
      const pic = picture(w, h);
      for (const chromaSubsampling of ['4:4:4', '4:2:0'])
        for (const progressive of [false, true])
          for (const quality of [50, 95]) {
            const bytes = await pic.clone().jpeg({ quality, chromaSubsampling, progressive }).toBuffer();
            const native = decodeJpegNative(bytes, 1e8, true);
            expect(native, `${w}x${h} ${chromaSubsampling} q${quality} progressive=${progressive}`).not.toBeNull();
            expect(equal(native!.data, await viaSharp(bytes))).toBe(true);
            cases++;
          }
      const grey = await pic.clone().toColourspace('b-w').jpeg({ quality: 90 }).toBuffer();
      const g = decodeJpegNative(grey, 1e8, true);
      expect(g, `${w}x${h} greyscale`).not.toBeNull();
      expect(equal(g!.data, await viaSharp(grey))).toBe(true);
      cases++;
    }
    // Pillow-written files from the reference data too.
    for (const name of ['rocket.jpg', 'coffee_exif6.jpg']) {
      const bytes = readFileSync(sharedPath('golden', 'preprocess', name));
      expect(equal(decodeJpegNative(bytes, 1e8, false)!.data, await viaSharp(bytes, false)), name).toBe(true);
      cases++;
    }
    expect(cases).toBe(47);
  });

  it('declines what it does not take, and decodeImageFile still gives the sharp result or error', async () => {
    const pic = picture(64, 48);
    const plain = await pic.clone().jpeg({ quality: 90 }).toBuffer();
    const cmyk = await pic.clone().toColourspace('cmyk').jpeg({ quality: 90 }).toBuffer();
    const declined: [string, Uint8Array, number][] = [
      ['CMYK', cmyk, 1e8],
      ['truncated', plain.subarray(0, plain.length - 200), 1e8],
      ['rotation 6 to apply', withSegments(plain, exifSegment(6)), 1e8],
      ['two EXIF blocks', withSegments(plain, exifSegment(1), exifSegment(1)), 1e8],
      ['over the pixel limit', plain, 64 * 48 - 1],
    ];
    for (const [label, bytes, limit] of declined) {
      expect(decodeJpegNative(bytes, limit, true), label).toBeNull();
      const viaDecode = await decodeImageFile(bytes, { maxPixels: limit }).then(
        (img) => img.data,
        (e: unknown) => (e as Error).message,
      );
      setNativeJpegEnabled(false);
      const sharpOnly = await decodeImageFile(bytes, { maxPixels: limit }).then(
        (img) => img.data,
        (e: unknown) => (e as Error).message,
      );
      setNativeJpegEnabled(true);
      expect(viaDecode, label).toEqual(sharpOnly);
    }
    // Orientation 6 is applied (by sharp): the picture comes out rotated.
    const rotated = await decodeImageFile(withSegments(plain, exifSegment(6)));
    expect([rotated.width, rotated.height]).toEqual([48, 64]);
  });

  it('takes EXIF orientation 1, and any orientation when the caller does not apply it', async () => {
    const plain = await picture(64, 48).jpeg({ quality: 90 }).toBuffer();
    const one = decodeJpegNative(withSegments(plain, exifSegment(1)), 1e8, true);
    expect(one && equal(one.data, await viaSharp(plain))).toBe(true);
    const six = decodeJpegNative(withSegments(plain, exifSegment(6)), 1e8, false);
    expect(six && [six.width, six.height]).toEqual([64, 48]);
  });

  it('reads the EXIF orientation in both byte orders, and calls a broken block unreadable', () => {
    const mm = exifSegment(3).subarray(10); // the TIFF structure after the segment header and "Exif\0\0"
    expect(exifOrientation(mm)).toBe(3);
    const ii = Uint8Array.from([0x49, 0x49, 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 8, 0, 0, 0, 0, 0]);
    expect(exifOrientation(ii)).toBe(8);
    const noTag = ii.slice();
    noTag[10] = 0x10; // tag 0x0110 (camera model) instead
    expect(exifOrientation(noTag)).toBeNull();
    const wrongType = ii.slice();
    wrongType[12] = 4; // LONG
    expect(exifOrientation(wrongType)).toBe('unreadable');
    expect(exifOrientation(ii.subarray(0, 15))).toBe('unreadable'); // entry cut off
    const badOffset = ii.slice();
    badOffset[4] = 200;
    expect(exifOrientation(badOffset)).toBe('unreadable');
    expect(exifOrientation(Uint8Array.from([0x41, 0x41, 42, 0, 8, 0, 0, 0]))).toBe('unreadable');
  });
});
