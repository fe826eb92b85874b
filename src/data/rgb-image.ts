/**
 * The image type the preprocessing works on, and a rectangle of it. Pure TypeScript
 * (browser-safe), shared by the PIL resampler (pil-resample.ts) and the eval pipeline
 * (preprocess.ts).
 */

/** An 8-bit RGB image, rows top to bottom, pixels interleaved (HWC): `data.length === width * height * 3`. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** A rectangle of an image, in pixels. */
export interface Rect {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Checks an RgbImage's shape so a bad buffer fails loudly instead of reading garbage. */
export function assertRgbImage(img: RgbImage): void {
  const { width, height, data } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`image: bad size ${width}x${height}`);
  }
  if (!(data instanceof Uint8Array) || data.length !== width * height * 3) {
    throw new RangeError(
      `image: expected ${width * height * 3} bytes of RGB for ${width}x${height}, got ${data?.length}`,
    );
  }
}

/** Copies a rectangle out of an image. */
export function cropRect(img: RgbImage, r: Rect): Uint8Array {
  const out = new Uint8Array(r.width * r.height * 3);
  const rowBytes = r.width * 3;
  for (let y = 0; y < r.height; y++) {
    const s = ((r.top + y) * img.width + r.left) * 3;
    out.set(img.data.subarray(s, s + rowBytes), y * rowBytes);
  }
  return out;
}
