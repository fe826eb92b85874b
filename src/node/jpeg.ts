/**
 * The fast JPEG path of the Node decoder: the system libjpeg(-turbo) through the optional
 * native/jpeg binding, the decoder Pillow itself links, called synchronously on the calling
 * thread. About 4x faster than going through sharp for an ImageNet-sized photo, which makes
 * decoding the cheap half of preprocessing instead of the dear one.
 *
 * It takes only the plain case, where it gives Pillow's (and sharp's) pixels byte for byte:
 * an 8-bit YCbCr or greyscale JPEG within the pixel limit that libjpeg reads without a
 * warning, and whose EXIF orientation (when the caller applies it) is absent or 1. Anything
 * else (CMYK, 12-bit, corrupt or truncated data, a rotation to apply, an EXIF block it cannot
 * read) returns null and goes through sharp, which gives the canonical pixels or one-line error.
 * Without the binding (no compiler or no libjpeg-dev at install, or REPGHOST_NATIVE=0) every
 * JPEG goes through sharp.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RgbImage } from '../data/rgb-image.js';

interface JpegAddon {
  decode(
    bytes: Uint8Array,
    maxPixels: number,
  ): { width: number; height: number; pixels: Uint8Array; exif: Uint8Array | null } | { declined: string };
}

const addonPath = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../native/jpeg/build/Release/repghost_jpeg.node',
);

let addon: JpegAddon | null | undefined;
let enabled = true;

function loadAddon(): JpegAddon | null {
  if (addon === undefined) {
    try {
      addon = process.env.REPGHOST_NATIVE === '0' ? null : (createRequire(import.meta.url)(addonPath) as JpegAddon);
    } catch {
      addon = null; // not built: sharp decodes every JPEG
    }
  }
  return enabled ? addon : null;
}

/** Which decoder JPEGs go through, for logs and benchmarks. */
export function describeJpegDecoder(): string {
  return loadAddon() ? 'libjpeg-turbo (native/jpeg binding), sharp for the rest' : 'sharp (libvips)';
}

/** True when the native JPEG path is built and enabled. */
export function nativeJpegAvailable(): boolean {
  return loadAddon() !== null;
}

/** Turns the native JPEG path off (or back on when built) for this thread, so tests and benchmarks can compare. */
export function setNativeJpegEnabled(on: boolean): void {
  enabled = on;
}

/**
 * The EXIF Orientation (tag 0x0112 of IFD0) from the TIFF structure of an APP1 "Exif" block:
 * 1-8 as stored, null when IFD0 has no such tag, 'unreadable' when the block is not a clean
 * TIFF header and IFD0 (then the caller lets sharp's EXIF reader decide).
 */
export function exifOrientation(tiff: Uint8Array): number | null | 'unreadable' {
  if (tiff.length < 8) return 'unreadable';
  const little = tiff[0] === 0x49 && tiff[1] === 0x49;
  if (!little && !(tiff[0] === 0x4d && tiff[1] === 0x4d)) return 'unreadable';
  const view = new DataView(tiff.buffer, tiff.byteOffset, tiff.byteLength);
  if (view.getUint16(2, little) !== 42) return 'unreadable';
  const ifd = view.getUint32(4, little);
  if (ifd < 8 || ifd + 2 > tiff.length) return 'unreadable';
  const entries = view.getUint16(ifd, little);
  if (ifd + 2 + entries * 12 > tiff.length) return 'unreadable';
  for (let i = 0; i < entries; i++) {
    const at = ifd + 2 + i * 12;
    if (view.getUint16(at, little) !== 0x0112) continue;
    // SHORT, one value, stored in the first two bytes of the value field.
    if (view.getUint16(at + 2, little) !== 3 || view.getUint32(at + 4, little) !== 1) return 'unreadable';
    return view.getUint16(at + 8, little);
  }
  return null;
}

/**
 * Decodes a JPEG (already sniffed as one) to RGB with the native binding, or returns null
 * when the binding is missing or the file is not the plain case (see the module comment).
 */
export function decodeJpegNative(bytes: Uint8Array, maxPixels: number, autoOrient: boolean): RgbImage | null {
  const jpeg = loadAddon();
  if (jpeg === null) return null;
  const r = jpeg.decode(bytes, maxPixels);
  if ('declined' in r) return null;
  if (autoOrient && r.exif !== null) {
    const orientation = exifOrientation(r.exif);
    if (orientation !== null && orientation !== 1) return null; // a rotation to apply, or doubt: sharp
  }
  return { width: r.width, height: r.height, data: r.pixels };
}
