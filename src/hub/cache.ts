/**
 * The on-disk weights cache (Node): where it is, which file a URL maps to, the file
 * operations the downloader needs (behind a small interface so tests can make a disk
 * "fill up"), and one-line messages for the file-system errors users actually hit.
 */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { HubError, errnoCode } from './errors.js';

/**
 * The cache directory: `$REPGHOST_CACHE`, else `$XDG_CACHE_HOME/repghost`, else
 * `~/.cache/repghost`. An explicit `override` (the `cacheDir` option, `--cache-dir`) wins.
 */
export function defaultCacheDir(override?: string, env: NodeJS.ProcessEnv = process.env): string {
  const pick =
    override ||
    env.REPGHOST_CACHE ||
    (env.XDG_CACHE_HOME ? path.join(env.XDG_CACHE_HOME, 'repghost') : path.join(os.homedir(), '.cache', 'repghost'));
  // `~/x` arrives unexpanded from config files and quoted shell strings.
  return path.resolve(pick.replace(/^~(?=$|[\\/])/, os.homedir()));
}

const SEGMENT_MAX = 120;

function sanitizeSegment(s: string): string {
  const clean = s.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, SEGMENT_MAX);
  // Never '.', '..' or a hidden name: the path must stay inside the cache dir and visible.
  return clean === '' || clean.startsWith('.') ? `_${clean}` : clean;
}

/**
 * The cache file for a URL: `<cacheDir>/<host>[_<port>]/<path segments>`, each
 * segment reduced to [A-Za-z0-9._-]. When that reduction loses information (odd
 * characters, a query string, over-long names) a hash of the whole URL is added as a
 * directory level, so two URLs never share a file. Readable on purpose: the offline
 * error tells users to put a hand-fetched file at this path.
 */
export function cachePathForUrl(cacheDir: string, url: string): string {
  const u = new URL(url);
  const host = sanitizeSegment(u.hostname + (u.port ? `_${u.port}` : ''));
  const raw = u.pathname
    .split('/')
    .filter(Boolean)
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
  if (!raw.length) raw.push('index');
  const segs = raw.map(sanitizeSegment);
  const lossy = !!u.search || segs.some((s, i) => s !== raw[i]) || host !== u.hostname + (u.port ? `_${u.port}` : '');
  const file = segs.pop()!;
  if (lossy) segs.push(`u-${createHash('sha256').update(url).digest('hex').slice(0, 12)}`);
  return path.join(cacheDir, host, ...segs, file);
}

/** Sequential writes to one file. */
export interface CacheWriter {
  write(chunk: Uint8Array): Promise<void>;
  /** fsync: the bytes are on disk before the file is renamed into place. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** The file operations whose failures tests need to simulate (full disk, no permission). */
export interface CacheIO {
  /** mkdir -p. */
  mkdir(dir: string): Promise<void>;
  /** Opens for writing at the end ('append', for resuming) or from empty ('truncate'). */
  openWriter(file: string, mode: 'append' | 'truncate'): Promise<CacheWriter>;
}

/** The real file system. */
export const nodeCacheIO: CacheIO = {
  async mkdir(dir) {
    await fsp.mkdir(dir, { recursive: true });
  },
  async openWriter(file, mode) {
    const fh = await fsp.open(file, mode === 'append' ? 'a' : 'w');
    return {
      async write(chunk) {
        let off = 0;
        // FileHandle.write may write less than asked (signals, some file systems).
        while (off < chunk.length) off += (await fh.write(chunk, off, chunk.length - off)).bytesWritten;
      },
      sync: () => fh.sync(),
      close: () => fh.close(),
    };
  },
};

const WRITABLE_HINT = 'set REPGHOST_CACHE (or --cache-dir) to a writable directory';

/** The nearest existing ancestor of `p` if it is a file (why mkdir fails with ENOTDIR/EEXIST). */
function fileInPath(p: string): string | undefined {
  for (let cur = path.resolve(p); ; cur = path.dirname(cur)) {
    try {
      return statSync(cur).isDirectory() ? undefined : cur;
    } catch {
      if (path.dirname(cur) === cur) return undefined;
    }
  }
}

/**
 * One-line HubError for a file-system failure in the cache directory `dir`. `context`
 * adds what was being written (for a full disk: how far the download got).
 */
export function cacheFsError(err: unknown, dir: string, context = ''): HubError {
  if (err instanceof HubError) return err;
  const code = errnoCode(err);
  const ctx = context ? ` ${context}` : '';
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new HubError(
        'disk-full',
        `no space left on the device holding ${dir}${code === 'EDQUOT' ? ' (disk quota exceeded)' : ''}${ctx}; ` +
          'free some space there or set REPGHOST_CACHE to a directory on another disk (the partial download was ' +
          'removed)',
        false,
        { cause: err },
      );
    case 'EFBIG':
      return new HubError(
        'disk-full',
        `the file-size limit (ulimit -f) stopped the write into ${dir}${ctx}; raise the limit or set ` +
          'REPGHOST_CACHE to another directory (the partial download was removed)',
        false,
        { cause: err },
      );
    case 'EACCES':
    case 'EPERM':
      return new HubError(
        'cache-access',
        `permission denied writing to the cache directory ${dir}; ${WRITABLE_HINT}`,
        false,
        { cause: err },
      );
    case 'EROFS':
      return new HubError(
        'cache-access',
        `the cache directory ${dir} is on a read-only file system; ${WRITABLE_HINT}`,
        false,
        { cause: err },
      );
    case 'ENOTDIR':
    case 'EEXIST': {
      const file = fileInPath(dir);
      return new HubError(
        'cache-access',
        `cannot create the cache directory ${dir}: ` +
          (file ? `${file} is a file, not a directory` : 'a part of the path is not a directory') +
          `; ${WRITABLE_HINT}`,
        false,
        { cause: err },
      );
    }
    default:
      return new HubError(
        'cache-access',
        `cannot write to the cache directory ${dir} (${code ?? 'error'}: ` +
          `${err instanceof Error ? err.message : String(err)}); ${WRITABLE_HINT}`,
        false,
        { cause: err },
      );
  }
}

/** Size of a file, or undefined when it does not exist. */
export async function fileSize(file: string): Promise<number | undefined> {
  try {
    const st = await fsp.stat(file);
    return st.isFile() ? st.size : undefined;
  } catch {
    return undefined;
  }
}

/** Removes files, ignoring ones already gone. */
export async function removeQuietly(...files: string[]): Promise<void> {
  await Promise.all(files.map((f) => fsp.rm(f, { force: true }).catch(() => undefined)));
}

/** fsync a directory so a rename in it survives a crash (not supported everywhere: best effort). */
export async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await fsp.open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // Windows and some file systems refuse fsync on directories; the rename still happened.
  }
}
