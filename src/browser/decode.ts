/**
 * Image decoding with the browser's own decoders, producing the pixels PIL produces for
 * `ImageOps.exif_transpose(Image.open(f)).convert("RGB")` (what the Node decoder matches):
 *
 * - EXIF orientation applied (`imageOrientation: 'from-image'`).
 * - Embedded colour profiles ignored (`colorSpaceConversion: 'none'`): PIL never
 *   colour-manages, and the model was trained on the stored values.
 * - Alpha dropped, not composited: PIL's RGBA -> RGB keeps the stored colour even under
 *   alpha 0. A 2D canvas cannot do that (it stores premultiplied colour, so a transparent
 *   pixel reads back black and a translucent one loses precision); for images with any
 *   transparency the pixels are read through a WebGL texture instead, which keeps the
 *   unpremultiplied bytes. Without WebGL the canvas values are kept and `alphaExact`
 *   says so.
 * - Grey, palette and 16-bit images come out as the browser expands them (grey replicated,
 *   palette looked up, 16 bits reduced to 8).
 */
import type { RgbImage } from '../data/preprocess.js';
import { DEFAULT_MAX_PIXELS, ImageDecodeError } from '../data/decode-error.js';

export { DEFAULT_MAX_PIXELS, ImageDecodeError };

/** Decoded pixels plus how faithfully transparency could be handled. */
export interface DecodedImage extends RgbImage {
  /** False when the image had transparent pixels and no WebGL was available to read their stored colour. */
  alphaExact: boolean;
  /** Whether any pixel had alpha < 255. */
  hadAlpha: boolean;
}

/** Options of {@link decodeImageBlob}. */
export interface BrowserDecodeOptions {
  /** Name used in messages (default: the File's name, else "<bytes>"). */
  name?: string;
  /** Refuse images with more pixels than this (default {@link DEFAULT_MAX_PIXELS}). */
  maxPixels?: number;
}

/** The createImageBitmap options that make the browser decode like PIL (see the module comment). */
export const PIL_LIKE_BITMAP_OPTIONS: ImageBitmapOptions = Object.freeze({
  colorSpaceConversion: 'none',
  premultiplyAlpha: 'none',
  imageOrientation: 'from-image',
});

/**
 * Decodes an encoded image (a File, Blob or bytes) to 8-bit RGB. Throws
 * {@link ImageDecodeError} for empty, corrupt, oversized or non-image input.
 */
export async function decodeImageBlob(
  input: Blob | Uint8Array,
  options: BrowserDecodeOptions = {},
): Promise<DecodedImage> {
  const name = options.name ?? (typeof File !== 'undefined' && input instanceof File ? input.name : '<bytes>');
  const blob = input instanceof Blob ? input : new Blob([input as Uint8Array<ArrayBuffer>]);
  if (blob.size === 0) throw new ImageDecodeError(name, 'the file is empty');
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(blob, PIL_LIKE_BITMAP_OPTIONS);
  } catch {
    // The browser's message ("The source image could not be decoded.") names no reason either.
    throw new ImageDecodeError(name, 'not an image format this browser can decode, or the file is corrupt');
  }
  try {
    const max = options.maxPixels ?? DEFAULT_MAX_PIXELS;
    if (bitmap.width * bitmap.height > max) {
      throw new ImageDecodeError(name, `${bitmap.width}x${bitmap.height} exceeds the limit of ${max} pixels`);
    }
    return bitmapToRgb(bitmap);
  } finally {
    bitmap.close();
  }
}

/**
 * RGB pixels of a bitmap created with {@link PIL_LIKE_BITMAP_OPTIONS} (or any drawable
 * such as a canvas, where colour is already what the user sees).
 */
export function bitmapToRgb(source: ImageBitmap | OffscreenCanvas | HTMLCanvasElement): DecodedImage {
  const { width, height } = source;
  const rgba = readRgba2d(source, width, height);
  let hadAlpha = false;
  for (let i = 3; i < rgba.length; i += 4) {
    if (rgba[i] !== 255) {
      hadAlpha = true;
      break;
    }
  }
  let exact: Uint8Array | Uint8ClampedArray = rgba;
  let alphaExact = true;
  if (hadAlpha) {
    const gl = readRgbaWebgl(source, width, height);
    if (gl) exact = gl;
    else alphaExact = false;
  }
  return { width, height, data: dropAlpha(exact), alphaExact, hadAlpha };
}

/** RGBA bytes through a 2D canvas: exact for opaque pixels. */
function readRgba2d(source: CanvasImageSource, width: number, height: number): Uint8ClampedArray {
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new Error('this browser has no 2D canvas to read image pixels');
  ctx.drawImage(source, 0, 0);
  return ctx.getImageData(0, 0, width, height).data;
}

/**
 * RGBA bytes through a WebGL texture uploaded without premultiplication or colour
 * conversion, read back from a framebuffer: the stored values, transparent pixels
 * included. Null when WebGL is unavailable or the image exceeds its texture size.
 */
function readRgbaWebgl(source: TexImageSource, width: number, height: number): Uint8Array | null {
  const canvas = new OffscreenCanvas(1, 1);
  const gl = canvas.getContext('webgl2', { premultipliedAlpha: false, antialias: false });
  if (!gl) return null;
  try {
    const maxSize = gl.getParameter(gl.MAX_TEXTURE_SIZE) as number;
    if (width > maxSize || height > maxSize) return null;
    const tex = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, tex);
    gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
    gl.pixelStorei(gl.UNPACK_COLORSPACE_CONVERSION_WEBGL, gl.NONE);
    gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, width, height, 0, gl.RGBA, gl.UNSIGNED_BYTE, source);
    const fb = gl.createFramebuffer();
    gl.bindFramebuffer(gl.FRAMEBUFFER, fb);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, tex, 0);
    if (gl.checkFramebufferStatus(gl.FRAMEBUFFER) !== gl.FRAMEBUFFER_COMPLETE) return null;
    const out = new Uint8Array(width * height * 4);
    // Row 0 of the texture is the image's top row (no flip on upload), and readPixels
    // returns rows from y = 0 up: the same order, no flip needed.
    gl.readPixels(0, 0, width, height, gl.RGBA, gl.UNSIGNED_BYTE, out);
    if (gl.getError() !== gl.NO_ERROR) return null;
    gl.deleteFramebuffer(fb);
    gl.deleteTexture(tex);
    return out;
  } finally {
    gl.getExtension('WEBGL_lose_context')?.loseContext();
  }
}

/** RGBA -> RGB by dropping the band (PIL's convert("RGB") on RGBA). */
export function dropAlpha(rgba: Uint8Array | Uint8ClampedArray): Uint8Array {
  const n = rgba.length / 4;
  const out = new Uint8Array(n * 3);
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    out[j] = rgba[i * 4]!;
    out[j + 1] = rgba[i * 4 + 1]!;
    out[j + 2] = rgba[i * 4 + 2]!;
  }
  return out;
}
