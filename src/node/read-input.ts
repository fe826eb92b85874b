/**
 * Reading a user-named input file with one-line errors a user can act on (Node only).
 * Only regular files are read, and only up to a size cap: a FIFO as weights used to hang
 * every reader and `/dev/zero` read until 3 GB. The file is opened without blocking
 * (a FIFO without a writer would block the open itself) and checked on the open handle,
 * so a path swapped between a check and the read cannot slip through.
 */
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

/** Default size cap of {@link readInputFile}: far above any RepGhostNet checkpoint, image or dataset file. */
export const MAX_INPUT_BYTES = 2 * 2 ** 30;

/** Options of {@link readInputFile}. */
export interface ReadInputOptions {
  /** Refuse files larger than this (default {@link MAX_INPUT_BYTES}). */
  maxBytes?: number;
}

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

function openError(e: unknown, file: string, what: string): Error {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new Error(`${what} not found: ${file}`);
  if (code === 'EACCES') return new Error(`no permission to read ${what} ${file}`);
  if (code === 'EISDIR') return new Error(`${what} ${file} is a folder, not a file`);
  return new Error(`cannot read ${what} ${file}: ${(e as Error).message}`);
}

function checkKind(st: Stats, file: string, what: string, maxBytes: number): void {
  if (st.isDirectory()) throw new Error(`${what} ${file} is a folder, not a file`);
  if (!st.isFile()) {
    const kind = st.isFIFO()
      ? 'a FIFO'
      : st.isCharacterDevice() || st.isBlockDevice()
        ? 'a device'
        : st.isSocket()
          ? 'a socket'
          : 'not a regular file';
    throw new Error(`${what} ${file} is ${kind}, not a regular file: refusing to read it`);
  }
  if (st.size > maxBytes)
    throw new Error(`${what} ${file} is ${st.size} bytes, more than the ${maxBytes}-byte limit for inputs`);
}

/**
 * Reads a whole regular file of at most `maxBytes`; a missing file, a folder, a FIFO or
 * device, an unreadable or oversized file gives a clear Error naming `what` and the path.
 */
export async function readInputFile(file: string, what = 'file', opts: ReadInputOptions = {}): Promise<Uint8Array> {
  const maxBytes = opts.maxBytes ?? MAX_INPUT_BYTES;
  let fh: FileHandle;
  try {
    fh = await open(file, OPEN_FLAGS);
  } catch (e) {
    throw openError(e, file, what);
  }
  try {
    const st = await fh.stat();
    checkKind(st, file, what, maxBytes);
    const out = new Uint8Array(st.size);
    let at = 0;
    while (at < out.length) {
      const { bytesRead } = await fh.read(out, at, out.length - at, at);
      if (bytesRead === 0) break;
      at += bytesRead;
    }
    if (at !== out.length) throw new Error(`${what} ${file} changed while being read (${at} of ${out.length} bytes)`);
    return out;
  } catch (e) {
    if (e instanceof Error && e.message.startsWith(what)) throw e;
    throw new Error(`cannot read ${what} ${file}: ${(e as Error).message}`, { cause: e });
  } finally {
    await fh.close();
  }
}

/** Synchronous {@link readInputFile}, for loaders that are synchronous (dataset files). */
export function readInputFileSync(file: string, what = 'file', opts: ReadInputOptions = {}): Uint8Array {
  const maxBytes = opts.maxBytes ?? MAX_INPUT_BYTES;
  let fd: number;
  try {
    fd = openSync(file, OPEN_FLAGS);
  } catch (e) {
    throw openError(e, file, what);
  }
  try {
    const st = fstatSync(fd);
    checkKind(st, file, what, maxBytes);
    const out = new Uint8Array(st.size);
    let at = 0;
    while (at < out.length) {
      const n = readSync(fd, out, at, out.length - at, at);
      if (n === 0) break;
      at += n;
    }
    if (at !== out.length) throw new Error(`${what} ${file} changed while being read (${at} of ${out.length} bytes)`);
    return out;
  } finally {
    closeSync(fd);
  }
}
