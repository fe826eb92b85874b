/**
 * Partial downloads kept for resuming. Each download writes `<file>.<token>.partial`
 * (a name no other writer uses) with a sidecar `<file>.<token>.partial.json` saying
 * what it is a prefix of (URL, announced size, ETag, stated sha256), so a later run
 * can continue with an HTTP Range request and check that the server still has the
 * same file. Callers hold the entry's lock while they claim and write partials.
 */
import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import path from 'node:path';
import { fileSize, removeQuietly } from './cache.js';
import { pidAlive } from './lock.js';

/** What a partial file is a prefix of. */
export interface PartialState {
  url: string;
  /** Full size the server announced. */
  size?: number;
  /** Strong ETag of the response, sent back as If-Range. */
  etag?: string;
  /** sha256 the server stated for the whole file. */
  sha256?: string;
}

/** A partial download owned by this writer. */
export interface PartialDownload {
  /** The data file (written in place, renamed to the cache file when complete and verified). */
  path: string;
  /** Its JSON sidecar. */
  statePath: string;
  state: PartialState;
  /** Bytes already in `path`. */
  have: number;
}

const SUFFIX = '.partial';
const STATE_SUFFIX = '.partial.json';

/** Partials this process is writing right now (concurrent calls share the pid). */
const active = new Set<string>();

/** A leftover older than this is abandoned even if its writer's pid is alive (another host, a reused pid). */
const ABANDONED_MS = 5 * 60_000;

/**
 * Whether a leftover partial may be taken over or deleted: not being written by this
 * process, and its writer (the pid in its name) gone or long silent. Normally the
 * lock already guarantees that; this keeps a wrongly broken lock from making two
 * writers share one file.
 */
async function abandoned(p: string): Promise<boolean> {
  if (active.has(p)) return false;
  const pid = Number(/\.(\d+)-[0-9a-f]+\.partial$/.exec(p)?.[1]);
  if (pid === process.pid || (Number.isInteger(pid) && pid > 0 && !pidAlive(pid))) return true;
  try {
    return Date.now() - (await fsp.stat(p)).mtimeMs > ABANDONED_MS;
  } catch {
    return false;
  }
}

/**
 * A partial for `url` under `file`: a leftover one of an interrupted run (the
 * longest with a matching sidecar, renamed to this writer's own unique name so no one
 * else can still be appending to it), else a new empty one. Leftovers that cannot be
 * resumed are deleted: they only waste disk.
 */
export async function claimPartial(file: string, url: string): Promise<PartialDownload> {
  const dir = path.dirname(file);
  const base = path.basename(file);
  const token = `${process.pid}-${randomBytes(6).toString('hex')}`;
  const mine = { path: `${file}.${token}${SUFFIX}`, statePath: `${file}.${token}${STATE_SUFFIX}` };
  let names: string[] = [];
  try {
    names = await fsp.readdir(dir);
  } catch {
    // no directory yet: nothing to resume
  }
  const leftovers = names.filter((n) => n.startsWith(`${base}.`) && n.endsWith(SUFFIX)).map((n) => path.join(dir, n));
  let best: { path: string; state: PartialState; have: number } | undefined;
  for (const p of leftovers) {
    if (!(await abandoned(p))) continue;
    const state = await readState(`${p}.json`);
    const have = await fileSize(p);
    if (state?.url === url && have !== undefined && have > (best?.have ?? 0)) {
      if (best) await removeQuietly(best.path, `${best.path}.json`);
      best = { path: p, state, have };
    } else {
      await removeQuietly(p, `${p}.json`);
    }
  }
  // Orphan sidecars (their data file is gone).
  await removeQuietly(
    ...names
      .filter((n) => n.startsWith(`${base}.`) && n.endsWith(STATE_SUFFIX) && !names.includes(n.slice(0, -5)))
      .map((n) => path.join(dir, n)),
  );
  active.add(mine.path);
  if (best) {
    try {
      await fsp.rename(best.path, mine.path);
      await removeQuietly(`${best.path}.json`);
      const claimed: PartialDownload = { ...mine, state: best.state, have: best.have };
      await saveState(claimed);
      return claimed;
    } catch {
      // Someone else claimed it in between: start fresh.
    }
  }
  return { ...mine, state: { url }, have: 0 };
}

async function readState(p: string): Promise<PartialState | undefined> {
  try {
    const s = JSON.parse(await fsp.readFile(p, 'utf8')) as PartialState;
    return typeof s.url === 'string' ? s : undefined;
  } catch {
    return undefined;
  }
}

/** Writes the sidecar (small; a torn write only costs the resume, never correctness). */
export async function saveState(p: PartialDownload): Promise<void> {
  await fsp.writeFile(p.statePath, JSON.stringify(p.state));
}

/** Marks the partial as no longer written by this process (after rename, failure or success). */
export function releasePartial(p: PartialDownload): void {
  active.delete(p.path);
}

/** Deletes the partial and its sidecar. */
export async function dropPartial(p: PartialDownload): Promise<void> {
  p.have = 0;
  await removeQuietly(p.path, p.statePath);
}
