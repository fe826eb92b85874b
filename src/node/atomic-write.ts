/**
 * Crash-safe file writes (Node only): write a unique temporary file in the target's
 * folder, fsync it, then rename over the target. A reader (or a process killed
 * mid-write) only ever sees the previous complete file or the new complete file.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/** Writes `data` to `file` atomically; the temporary file is removed on failure. */
export async function writeFileAtomic(file: string, data: Uint8Array): Promise<void> {
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
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
