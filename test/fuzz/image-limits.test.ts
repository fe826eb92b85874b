/**
 * What a small image file may cost, pinned down. The image fuzzer runs with a 16 MP pixel
 * limit (fuzz/lib/formats/image.ts) because of what these tests show: a JPEG whose SOF
 * header claims more pixels than its scan holds still decodes (libjpeg only warns when the
 * scan ends early at an EOI marker, and decodeImageFile fails only on errors, as PIL
 * does; PIL itself was not available here to compare), so the decoded size follows the
 * header, bounded only by the pixel limit (PIL's 89.5 MP by default).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeImageFile, ImageDecodeError } from '../../src/node/decode.js';
import { mapImage } from '../../fuzz/lib/image-layout.js';
import { writeUint } from '../../fuzz/lib/bytes.js';
import { sharedPath } from '../helpers/shared.js';

/** rocket.jpg (57 KB, 640x427) with its SOF header claiming width x height. */
function claiming(width: number, height: number): Uint8Array {
  const jpg = new Uint8Array(readFileSync(sharedPath('golden', 'preprocess', 'rocket.jpg')));
  const layout = mapImage(jpg);
  const field = (name: string) => layout.fields.find((f) => f.name === name)!;
  writeUint(jpg, field('SOF.width').at, 2, BigInt(width), false);
  writeUint(jpg, field('SOF.height').at, 2, BigInt(height), false);
  return jpg;
}

describe('declared image size versus file size', () => {
  it('a 57 KB JPEG claiming 4000x3000 decodes to 12 MP (grey where the scan ran out)', async () => {
    const img = await decodeImageFile(claiming(4000, 3000));
    expect([img.width, img.height]).toEqual([4000, 3000]);
    expect(img.data.length).toBe(4000 * 3000 * 3);
  });

  it('claims above the pixel limit are refused from the header, before any pixel is decoded', async () => {
    const t0 = performance.now();
    const err = await decodeImageFile(claiming(10_000, 10_000)).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ImageDecodeError);
    expect((err as Error).message).toMatch(/declared dimensions exceed the limit of 89478485 pixels/);
    const small = await decodeImageFile(claiming(4000, 3000), { maxPixels: 10_000_000 }).then(
      () => null,
      (e: unknown) => e,
    );
    expect((small as Error).message).toMatch(/exceed the limit of 10000000 pixels/);
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});
