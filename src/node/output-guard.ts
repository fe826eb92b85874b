/**
 * Output paths that must not be an input (Node only). Comparing path strings misses
 * `same/ck.pth` with `same -> .`, `/proc/self/cwd/ck.pth`, hard links and links to the
 * input: two paths name the same file when their real paths are equal or, for files
 * that exist, when they have the same device and inode.
 */
import { realpathSync, statSync } from 'node:fs';
import path from 'node:path';

interface Identity {
  real: string;
  id: string | null;
}

/** The real path of `p` (of its folder when it does not exist yet) and its dev:inode when it exists. */
function identity(p: string): Identity {
  const abs = path.resolve(p);
  let real: string;
  try {
    real = realpathSync(abs);
  } catch {
    // Not there yet (or a dangling link): its folder's real path plus its name.
    try {
      real = path.join(realpathSync(path.dirname(abs)), path.basename(abs));
    } catch {
      real = abs;
    }
  }
  let id: string | null = null;
  try {
    const st = statSync(abs, { bigint: true });
    id = `${st.dev}:${st.ino}`;
  } catch {
    // Does not exist (or a dangling link): only the real path can match.
  }
  return { real, id };
}

/** True when paths `a` and `b` name the same file (through links, `..`, `/proc/self/cwd`, hard links). */
export function sameFile(a: string, b: string): boolean {
  const x = identity(a);
  const y = identity(b);
  return x.real === y.real || (x.id !== null && x.id === y.id);
}

/** True when `file` is `dir` or lies inside it, comparing real paths. */
export function insideFolder(file: string, dir: string): boolean {
  const f = identity(file).real;
  const d = identity(dir).real;
  return f === d || f.startsWith(d.endsWith(path.sep) ? d : d + path.sep);
}

/**
 * The first of `inputs` that `output` would overwrite (same file by {@link sameFile}), or
 * null. Inputs that are undefined are skipped, so optional flags can be passed as they are.
 */
export function clobberedInput(output: string, inputs: readonly (string | undefined)[]): string | null {
  for (const input of inputs) if (input !== undefined && sameFile(output, input)) return input;
  return null;
}
