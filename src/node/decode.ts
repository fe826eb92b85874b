/**
 * Image decoding for Node (sharp / libvips, and libjpeg directly for plain JPEGs: jpeg.ts),
 * producing the pixels PIL produces for
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
import { statSync, type Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { isMainThread } from 'node:worker_threads';
import sharp, { type OutputInfo, type SharpOptions } from 'sharp';
import { decodeJpegNative } from './jpeg.js';
import { readInputFile, readInputFileSync } from './read-input.js';
import type { RgbImage } from '../data/preprocess.js';
import { DEFAULT_MAX_PIXELS, ImageDecodeError } from '../data/decode-error.js';

export { DEFAULT_MAX_PIXELS, ImageDecodeError };

/** Largest image file read (bytes): far above any photo; the pixel limit bounds the decoded size. */
export const MAX_IMAGE_FILE_BYTES = 512 * 2 ** 20;

/** The formats repghost decodes, as the documentation promises them. */
export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff' | 'avif';

const SUPPORTED = 'JPEG, PNG, WebP, GIF, TIFF, AVIF';

const ascii = (b: Uint8Array, at: number, n: number): string => String.fromCharCode(...b.subarray(at, at + n));

/**
 * The format of an image file from its first bytes, or null for anything else. libvips
 * decodes much more than the promised formats (SVG, its own `.v`, PDF, FITS, ...), and
 * some of those read other files or burn CPU by design: an SVG named `.jpg` rendered a
 * sibling file into the picture and a 300-byte filter SVG took 35-53 s. Only these
 * signatures ever reach the decoder.
 */
export function sniffImageFormat(b: Uint8Array): ImageFormat | null {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 8 && ascii(b, 0, 8) === '\x89PNG\r\n\x1a\n') return 'png';
  if (b.length >= 6 && (ascii(b, 0, 6) === 'GIF87a' || ascii(b, 0, 6) === 'GIF89a')) return 'gif';
  if (b.length >= 12 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'WEBP') return 'webp';
  if (
    b.length >= 4 &&
    (ascii(b, 0, 4) === 'II*\0' ||
      ascii(b, 0, 4) === 'MM\0*' ||
      ascii(b, 0, 4) === 'II+\0' ||
      ascii(b, 0, 4) === 'MM\0+')
  )
    return 'tiff';
  if (b.length >= 16 && ascii(b, 4, 4) === 'ftyp') {
    // ISO BMFF: AVIF when the major brand or a compatible brand is avif/avis.
    const boxLen = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0, false);
    const end = Math.min(b.length, Math.max(16, boxLen), 4096);
    for (let at = 8; at + 4 <= end; at += 4) {
      if (at === 12) continue; // minor version
      const brand = ascii(b, at, 4);
      if (brand === 'avif' || brand === 'avis') return 'avif';
    }
  }
  return null;
}

/** What an unsupported file looks like, for the message. */
function describeUnsupported(b: Uint8Array): string {
  const head = new TextDecoder('latin1')
    .decode(b.subarray(0, 1024))
    .replace(/^\ufeff/, '')
    .trimStart()
    .toLowerCase();
  if (head.startsWith('<') && head.includes('<svg')) return ': it is an SVG image, which repghost does not decode';
  if (
    b.length >= 4 &&
    ((b[0] === 0x08 && b[1] === 0xf2 && b[2] === 0xa6 && b[3] === 0xb6) ||
      (b[0] === 0xb6 && b[1] === 0xa6 && b[2] === 0xf2 && b[3] === 0x08))
  ) {
    return ': it is a libvips .v file, which repghost does not decode';
  }
  if (head.startsWith('%pdf')) return ': it is a PDF document';
  return '';
}

/** Options of {@link decodeImageFile}. */
export interface DecodeOptions {
  /**
   * Refuse images whose declared width x height exceeds this (checked from the header, before decoding).
   * Default {@link DEFAULT_MAX_PIXELS}.
   */
  maxPixels?: number;
  /** Apply the EXIF Orientation tag like `ImageOps.exif_transpose` (default true). */
  autoOrient?: boolean;
  /** Name used in error messages when the input is bytes (default "<bytes>"). */
  name?: string;
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
  let bytes: Uint8Array;
  if (typeof input === 'string') {
    // Checked here so the common mistakes get plain reasons instead of libvips wording.
    // Synchronous in worker threads: a data worker has nothing else to do meanwhile, and each
    // asynchronous call is a hop through libuv's thread pool that costs more than a cached read.
    const st = isMainThread ? await stat(input).catch(() => null) : statOrNull(input);
    if (!st) fail('file not found');
    else if (!st.isFile()) fail('not a regular file');
    else if (st.size === 0) fail('empty file (0 bytes)');
    else if (st.size > MAX_IMAGE_FILE_BYTES)
      fail(`file of ${st.size} bytes is larger than the ${MAX_IMAGE_FILE_BYTES}-byte limit for images`);
    // Read here, not by libvips from the path: regular files only (checked again on the
    // open handle) and the format is known before any decoder sees the bytes.
    try {
      bytes = isMainThread
        ? await readInputFile(input, 'image', { maxBytes: MAX_IMAGE_FILE_BYTES })
        : readInputFileSync(input, 'image', { maxBytes: MAX_IMAGE_FILE_BYTES });
    } catch (e) {
      return fail((e as Error).message.replace(`image ${input} `, ''));
    }
  } else {
    bytes = input;
    if (bytes.length === 0) fail('empty input (0 bytes)');
  }
  // The allow-list, on the detected format, before decoding.
  const format = sniffImageFormat(bytes);
  if (format === null) fail(`not a supported image format (${SUPPORTED})${describeUnsupported(bytes)}`);
  const autoOrient = options.autoOrient ?? true;
  // Plain JPEGs (most of any dataset) through libjpeg directly; everything else, and any
  // JPEG it declines, through sharp.
  const fast = format === 'jpeg' ? decodeJpegNative(bytes, maxPixels, autoOrient) : null;
  if (fast !== null) return fast;
  try {
    return await decodeWithSharp(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), {
      ignoreIcc: true,
      autoOrient,
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

function statOrNull(file: string): Stats | null {
  try {
    return statSync(file);
  } catch {
    return null;
  }
}

/** sharp's names of the allowed formats (AVIF is HEIF with AV1 compression). */
const SHARP_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff', 'heif']);

async function decodeWithSharp(input: Buffer, opts: SharpOptions): Promise<RgbImage> {
  // The header alone says whether this is CMYK, which needs its own path.
  const meta = await sharp(input, opts).metadata();
  // The loader libvips chose must be one of the allowed ones too (the signature said so).
  if (!SHARP_FORMATS.has(String(meta.format)) || (meta.format === 'heif' && meta.compression !== 'av1')) {
    throw new Error(`unsupported image format: the decoder sees ${String(meta.format)}`);
  }
  if (meta.space === 'cmyk') {
    // Keep CMYK through the pipeline and out: no ICC conversion at either end.
    const { data, info } = await sharp(input, opts)
      .pipelineColourspace('cmyk')
      .toColourspace('cmyk')
      .raw({ depth: 'uchar' })
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
    throw new Error(
      `unexpected decoder output (${info.width}x${info.height}, ${info.channels} channels, ${data.length} bytes)`,
    );
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
  if (/pixel limit/i.test(msg))
    return `declared dimensions exceed the limit of ${maxPixels} pixels (DecodeOptions.maxPixels)`;
  const line =
    msg
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l.length > 0) ?? 'unknown error';
  if (/premature end|read error|truncat|unexpected end|corrupt|invalid|bad /i.test(line))
    return `truncated or corrupt image data (${line})`;
  // libvips' PNG loader fails a damaged IHDR (e.g. a wrong CRC) with no message at all.
  if (/^unknown error$/i.test(line)) return 'corrupt image data (the decoder gave no reason: a damaged header?)';
  return line;
}
