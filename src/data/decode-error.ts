/**
 * What both image decoders (Node's sharp path and the browser's) share: the pixel limit
 * and the error they raise. Browser-safe: no `node:` imports.
 */

/** PIL's `Image.MAX_IMAGE_PIXELS`: above it PIL warns of a decompression bomb. Both decoders' default hard limit. */
export const DEFAULT_MAX_PIXELS = 89_478_485;

/** Raised for input that cannot be decoded: "cannot decode image <name>: <reason>". */
export class ImageDecodeError extends Error {
  override name = 'ImageDecodeError';
  constructor(
    readonly source: string,
    readonly reason: string,
  ) {
    super(`cannot decode image ${source}: ${reason}`);
  }
}
