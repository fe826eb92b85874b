/**
 * Crash-safe file writes (Node only): write a unique temporary file in the target's
 * folder, fsync it, then rename over the target. A reader (or a process killed
 * mid-write) only ever sees the previous complete file or the new complete file.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, lstatSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/**
 * A unique temporary name beside `file` (same folder, so the rename stays atomic):
 * `.<name>.<pid>.<8 hex digits>.tmp`, the scheme {@link removeStaleTempFiles} recognises.
 */
function tempName(file: string): { dir: string; tmp: string } {
  const dir = path.dirname(path.resolve(file));
  return { dir, tmp: path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`) };
}

/** `.<name>.<pid>.<hex>.tmp`, as {@link tempName} makes them. */
const TEMP_NAME = /^\.(.+)\.([1-9][0-9]*)\.([0-9a-f]{8})\.tmp$/;

/** Whether a process with this id exists on this machine (EPERM: it exists, owned by someone else). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Removes the temporary files that a writer of this module left in `dir` when it was
 * killed mid-write (SIGKILL, power cut): regular files named `.<name>.<pid>.<hex>.tmp`
 * whose `pid` is not a live process. With `baseName`, only those of that target
 * (`.<baseName>.<pid>.<hex>.tmp`). A temp file of a live process (a writer still at
 * work, or this process) and every file not of this naming scheme are left alone; an
 * unreadable or missing `dir` removes nothing. Process ids are only meaningful on this
 * machine (and in this pid namespace): do not use it on a folder that writers on other
 * machines share. Returns the paths removed.
 */
export function removeStaleTempFiles(dir: string, baseName?: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = TEMP_NAME.exec(name);
    if (!m || (baseName !== undefined && m[1] !== baseName)) continue;
    const pid = Number(m[2]);
    if (!Number.isSafeInteger(pid) || pid === process.pid || processAlive(pid)) continue;
    const file = path.join(dir, name);
    try {
      if (!lstatSync(file).isFile()) continue;
      rmSync(file, { force: true });
      removed.push(file);
    } catch {
      // Gone already (another cleaner) or not removable: nothing to do.
    }
  }
  return removed;
}

/** Writes `data` to `file` atomically; the temporary file is removed on failure. */
export async function writeFileAtomic(file: string, data: Uint8Array): Promise<void> {
  const { dir, tmp } = tempName(file);
  // 'wx' (O_CREAT | O_EXCL): never opens through a link planted at the temporary name.
  const fh = await open(tmp, 'wx');
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
    const fd = openSync(tmp, 'wx'); // O_EXCL: never through a planted link
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
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // Folder fsync is not supported everywhere; the rename itself is already atomic.
  }
}
