/**
 * Image decoding for Node (sharp / libvips), producing the pixels PIL produces for
 * `ImageOps.exif_transpose(Image.open(f)).convert("RGB")`:
 *
 * - EXIF orientation applied (what a user expects from a phone photo; timm's and
 *   torchvision's own loaders skip it, `ImageOps.exif_transpose` does not).
 * - Embedded ICC profiles ignored: PIL never colour-manages on open/convert, while sharp
 *   by default transforms to sRGB with the embedded profile, which would shift pixels.
 * - Alpha dropped, not composited: PIL's RGBA -> RGB discards the band, keeping the
 *   stored colour even under alpha 0. sharp only premultiplies when it resizes or
 *   filters, which we never ask it to, so `removeAlpha()` is a plain band drop.
 * - Grey replicated to three channels (1-bit images as 0/255), palettes expanded (the
 *   colour of a transparent palette entry is kept, alpha dropped), 16-bit RGB reduced to its
 *   most significant byte (PIL's "RGB;16B" unpacking does the same).
 * - CMYK JPEGs converted with PIL's naive formula (`cmyk2rgb`), not a CMYK ICC profile:
 *   ImageNet itself has a few CMYK JPEGs, and the model was trained on PIL's colours.
 * - First frame only of animated GIF / WebP.
 *
 * Known differences from PIL 9.4, all outside the reference data: 16-bit greyscale PNGs
 * are reduced to the most significant byte (PIL opens them as mode "I" and its I -> RGB
 * conversion saturates everything above 255 to white, which we do not copy); CMYK JPEGs
 * without an Adobe marker (PIL assumes inverted CMYK regardless); possibly GIFs whose first
 * frame is smaller than the logical screen or has transparent pixels (libvips renders the
 * frame onto a transparent canvas, PIL keeps raw palette indices; not verified).
 *
 * Node only: import it from here, not from the browser-safe `src/data/index.ts`.
 */
import { stat } from 'node:fs/promises';
import sharp, { type OutputInfo, type SharpOptions } from 'sharp';
import type { RgbImage } from './preprocess.js';

/** PIL's `Image.MAX_IMAGE_PIXELS`: above it PIL warns of a decompression bomb. Our default hard limit. */
export const DEFAULT_MAX_PIXELS = 89_478_485;

/** Options of {@link decodeImageFile}. */
export interface DecodeOptions {
  /** Refuse images whose declared width x height exceeds this (checked from the header, before decoding). Default {@link DEFAULT_MAX_PIXELS}. */
  maxPixels?: number;
  /** Apply the EXIF Orientation tag like `ImageOps.exif_transpose` (default true). */
  autoOrient?: boolean;
  /** Name used in error messages when the input is bytes (default "<bytes>"). */
  name?: string;
}

/** Raised for any input that cannot be decoded; the message names the file and the reason. */
export class ImageDecodeError extends Error {
  override name = 'ImageDecodeError';
  constructor(readonly source: string, readonly reason: string) {
    super(`cannot decode image ${source}: ${reason}`);
  }
}

/**
 * Decodes a JPEG / PNG / WebP / GIF (first frame) / TIFF / AVIF file or buffer to 8-bit
 * RGB as PIL's `exif_transpose(...).convert("RGB")` would.
 * Throws {@link ImageDecodeError} ("cannot decode image <path>: <reason>") for missing,
 * empty, truncated, corrupt, oversized or non-image input.
 */
export async function decodeImageFile(input: string | Uint8Array, options: DecodeOptions = {}): Promise<RgbImage> {
  const source = typeof input === 'string' ? input : (options.name ?? '<bytes>');
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  const fail = (reason: string): never => {
    throw new ImageDecodeError(source, reason);
  };
  if (typeof input === 'string') {
    // Checked here so the common mistakes get plain reasons instead of libvips wording.
    const st = await stat(input).catch(() => null);
    if (!st) fail('file not found');
    else if (!st.isFile()) fail('not a regular file');
    else if (st.size === 0) fail('empty file (0 bytes)');
  } else if (input.length === 0) {
    fail('empty input (0 bytes)');
  }
  try {
    return await decodeWithSharp(typeof input === 'string' ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength), {
      ignoreIcc: true,
      autoOrient: options.autoOrient ?? true,
      limitInputPixels: maxPixels,
      // 'error' rejects truncated and undecodable data, like PIL without
      // LOAD_TRUNCATED_IMAGES, but accepts what libjpeg only warns about (e.g. "extraneous
      // bytes before marker", found in ImageNet itself), which PIL loads silently too.
      failOn: 'error',
      pages: 1,
      page: 0,
    });
  } catch (e) {
    return fail(cleanReason(e, maxPixels));
  }
}

async function decodeWithSharp(input: string | Buffer, opts: SharpOptions): Promise<RgbImage> {
  // The header alone says whether this is CMYK, which needs its own path.
  const meta = await sharp(input, opts).metadata();
  if (meta.space === 'cmyk') {
    // Keep CMYK through the pipeline and out: no ICC conversion at either end.
    const { data, info } = await sharp(input, opts)
      .pipelineColourspace('cmyk').toColourspace('cmyk').raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    checkLayout(info, data, 4);
    return { width: info.width, height: info.height, data: cmykToRgb(data) };
  }
  const { data, info } = await sharp(input, opts)
    .removeAlpha()
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  checkLayout(info, data, 3);
  // Own the pixels in a plain Uint8Array (sharp's Buffer may be a view into a shared pool).
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}

function checkLayout(info: OutputInfo, data: Buffer, channels: number): void {
  if (info.channels !== channels || data.length !== info.width * info.height * channels) {
    throw new Error(`unexpected decoder output (${info.width}x${info.height}, ${info.channels} channels, ${data.length} bytes)`);
  }
}

/**
 * PIL's `cmyk2rgb` (Convert.c): r = (255 - k) - c * (255 - k) / 255 with its MULDIV255
 * rounding, same for g/m and b/y. Input is CMYK as stored after Adobe inversion.
 */
export function cmykToRgb(cmyk: Uint8Array): Uint8Array {
  const n = cmyk.length >> 2;
  const out = new Uint8Array(n * 3);
  const muldiv255 = (a: number, b: number): number => {
    const t = a * b + 128;
    return ((t >> 8) + t) >> 8;
  };
  for (let i = 0; i < n; i++) {
    const nk = 255 - cmyk[i * 4 + 3]!;
    for (let c = 0; c < 3; c++) {
      const v = nk - muldiv255(cmyk[i * 4 + c]!, nk);
      out[i * 3 + c] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return out;
}

/** sharp/libvips errors are multi-line and prefixed; keep the first meaningful line. */
function cleanReason(e: unknown, maxPixels: number): string {
  const msg = e instanceof Error ? e.message : String(e);
  if (/ENOENT|Input file is missing/i.test(msg)) return 'file not found';
  if (/unsupported image format/i.test(msg)) return 'not a supported image format (JPEG, PNG, WebP, GIF, TIFF, AVIF)';
  if (/pixel limit/i.test(msg)) return `declared dimensions exceed the limit of ${maxPixels} pixels (DecodeOptions.maxPixels)`;
  const line = msg.split('\n').map((l) => l.trim()).find((l) => l.length > 0) ?? 'unknown error';
  if (/premature end|read error|truncat|unexpected end|corrupt|invalid|bad /i.test(line)) return `truncated or corrupt image data (${line})`;
  // libvips' PNG loader fails a damaged IHDR (e.g. a wrong CRC) with no message at all.
  if (/^unknown error$/i.test(line)) return 'corrupt image data (the decoder gave no reason: a damaged header?)';
  return line;
}
