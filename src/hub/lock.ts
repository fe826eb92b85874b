/**
 * A cross-process lock file beside a cache entry, so two processes (or two calls in
 * one process) asking for the same weights download them once. It is an optimization,
 * not what keeps the cache correct: that comes from unique temp files, verification
 * and atomic renames, so a wrongly broken lock costs a second download, never a
 * corrupt cache file.
 *
 * The holder rewrites the lock's mtime every `staleMs / 4` (a heartbeat). A lock is
 * stale when its holder is a dead process on this host, or its heartbeat is older than
 * `staleMs` (a holder on another host sharing the cache over NFS, or a hung one).
 */
import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import { sleep } from './http.js';

/** Lock timing. */
export interface LockOptions {
  /** Heartbeat age after which a lock is broken (default 60 s). */
  staleMs?: number;
  /** How often a waiter looks again (default 250 ms). */
  pollMs?: number;
  /** Stops waiting (rejects with HubError('aborted')). */
  signal?: AbortSignal;
}

/** A held lock. */
export interface HeldLock {
  readonly path: string;
  /** Stops the heartbeat and removes the lock if it is still ours. */
  release(): Promise<void>;
}

interface LockInfo {
  pid: number;
  host: string;
  token: string;
  time: string;
}

/** Whether a process with this pid exists on this host. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to another user.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function isStale(lockPath: string, staleMs: number): Promise<boolean> {
  let st;
  try {
    st = await fsp.stat(lockPath);
  } catch {
    return false; // gone: not stale, just retry creating it
  }
  if (Date.now() - st.mtimeMs > staleMs) return true;
  try {
    const info = JSON.parse(await fsp.readFile(lockPath, 'utf8')) as Partial<LockInfo>;
    if (info.host === os.hostname() && typeof info.pid === 'number' && !pidAlive(info.pid)) return true;
  } catch {
    // Half-written by a holder that just created it: judge by age only.
  }
  return false;
}

/**
 * Takes the lock at `lockPath`, waiting while a live holder has it. While waiting it
 * calls `done()`; when that reports the work already done (the holder finished), it
 * returns null without taking the lock.
 */
export async function acquireLock(
  lockPath: string,
  done: () => Promise<boolean>,
  opts: LockOptions = {},
): Promise<HeldLock | null> {
  const staleMs = opts.staleMs ?? 60_000;
  const pollMs = opts.pollMs ?? 250;
  const token = randomBytes(8).toString('hex');
  const info: LockInfo = { pid: process.pid, host: os.hostname(), token, time: new Date().toISOString() };
  for (;;) {
    try {
      // 'wx' = O_CREAT|O_EXCL: exactly one creator wins, also across processes.
      await fsp.writeFile(lockPath, JSON.stringify(info), { flag: 'wx' });
      return held(lockPath, token, staleMs);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    if (await done()) return null;
    if (await isStale(lockPath, staleMs)) {
      // Move it aside first: of several waiters breaking the same stale lock, only one
      // rename succeeds; the others see ENOENT and go back to creating.
      const aside = `${lockPath}.${token}.stale`;
      try {
        await fsp.rename(lockPath, aside);
        await fsp.rm(aside, { force: true });
      } catch {
        // someone else broke it
      }
      continue;
    }
    await sleep(pollMs, opts.signal);
  }
}

function held(lockPath: string, token: string, staleMs: number): HeldLock {
  const beat = setInterval(
    () => {
      const now = new Date();
      fsp.utimes(lockPath, now, now).catch(() => undefined);
    },
    Math.max(50, Math.floor(staleMs / 4)),
  );
  beat.unref(); // never keep the process alive for a heartbeat
  let released = false;
  return {
    path: lockPath,
    async release() {
      if (released) return;
      released = true;
      clearInterval(beat);
      try {
        const cur = JSON.parse(await fsp.readFile(lockPath, 'utf8')) as Partial<LockInfo>;
        if (cur.token === token) await fsp.rm(lockPath, { force: true });
      } catch {
        // already gone (or broken by another process: then it is theirs now)
      }
    },
  };
}
