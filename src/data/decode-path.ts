/**
 * Decoding an image named by an {@link FsPath} (Node only): a string path goes straight
 * to the decoder; exact path bytes (a name that is not UTF-8, which sharp cannot open by
 * name) are read here and decoded from memory, with the same one-line reasons.
 */
import { readFile, stat } from 'node:fs/promises';
import { decodeImageFile, ImageDecodeError, type DecodeOptions } from '../node/decode.js';
import type { FsPath } from './image-folder.js';
import type { RgbImage } from './preprocess.js';

/** {@link decodeImageFile} for a string path or exact path bytes; throws {@link ImageDecodeError}. */
export async function decodeImagePath(file: FsPath, options: DecodeOptions = {}): Promise<RgbImage> {
  if (typeof file === 'string') return decodeImageFile(file, options);
  const name = new TextDecoder().decode(file);
  const bytesPath = Buffer.from(file.buffer, file.byteOffset, file.byteLength); // fs's types want a Buffer
  const st = await stat(bytesPath).catch(() => null);
  if (!st) throw new ImageDecodeError(name, 'file not found');
  if (!st.isFile()) throw new ImageDecodeError(name, 'not a regular file');
  const bytes = await readFile(bytesPath).catch((e: unknown) => {
    const err = e as NodeJS.ErrnoException;
    throw new ImageDecodeError(name, err.code === 'ENOENT' ? 'file not found' : err.message);
  });
  return decodeImageFile(bytes, { ...options, name });
}
