/** Reading a user-named input file with one-line errors a user can act on (Node only). */
import { readFile, stat } from 'node:fs/promises';

/** Reads a whole file; a missing file, a folder or an unreadable file gives a clear Error. */
export async function readInputFile(file: string, what = 'file'): Promise<Uint8Array> {
  let st;
  try {
    st = await stat(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`${what} not found: ${file}`);
    if (code === 'EACCES') throw new Error(`no permission to read ${what} ${file}`);
    throw new Error(`cannot read ${what} ${file}: ${(e as Error).message}`);
  }
  if (st.isDirectory()) throw new Error(`${what} ${file} is a folder, not a file`);
  try {
    const buf = await readFile(file);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (e) {
    throw new Error(`cannot read ${what} ${file}: ${(e as Error).message}`);
  }
}
