/**
 * Crash-safe file writes (Node only): write a unique temporary file in the target's
 * folder, fsync it, then rename over the target. A reader (or a process killed
 * mid-write) only ever sees the previous complete file or the new complete file.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/** A unique temporary name beside `file` (same folder, so the rename stays atomic). */
function tempName(file: string): { dir: string; tmp: string } {
  const dir = path.dirname(path.resolve(file));
  return { dir, tmp: path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`) };
}

/** Writes `data` to `file` atomically; the temporary file is removed on failure. */
export async function writeFileAtomic(file: string, data: Uint8Array): Promise<void> {
  const { dir, tmp } = tempName(file);
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  // fsync the folder so the rename itself survives a power cut.
  const dh = await open(dir, 'r').catch(() => null);
  await dh?.sync().catch(() => {});
  await dh?.close();
}

/** Synchronous `writeFileAtomic`, for code that must not yield mid-write (the trainer's checkpoints). */
export function writeFileAtomicSync(file: string, data: Uint8Array): void {
  const { dir, tmp } = tempName(file);
  try {
    const fd = openSync(tmp, 'w');
    try {
      for (let off = 0; off < data.length;) off += writeSync(fd, data, off, data.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  try {
    const dfd = openSync(dir, 'r');
    try { fsyncSync(dfd); } finally { closeSync(dfd); }
  } catch {
    // Folder fsync is not supported everywhere; the rename itself is already atomic.
  }
}
