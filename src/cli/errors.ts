/**
 * CLI error handling: every failure is one line on stderr and a non-zero exit;
 * the stack trace only with --verbose (or REPGHOST_VERBOSE=1).
 */
import { ImageFolderError } from '../data/image-folder.js';
import { UnknownModelError } from '../spec/variants.js';

/** An error whose message is meant for the user as is (bad flags, bad input). */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Prints `repghost: <message>` (plus the stack when verbose) and sets a failing exit code. */
export function reportError(err: unknown, verbose: boolean): void {
  const e = err instanceof Error ? err : new Error(String(err));
  const oneLine = e.message.replace(/\s*\n\s*/g, ' ').trim() || e.name;
  process.stderr.write(`repghost: ${oneLine}\n`);
  if (verbose && e.stack) process.stderr.write(`${e.stack}\n`);
  // A wrong flag value, model name or dataset folder is a command-line mistake (2); anything else, 1.
  process.exitCode = e instanceof UsageError || e instanceof UnknownModelError || e instanceof ImageFolderError ? 2 : 1;
}

/**
 * Parses an integer flag value in [min, max] or throws a UsageError naming the flag and
 * the range (#14: `--threads 1000` took 30 s for one image, `--size 30000` allocated 3 GB).
 */
export function intInRange(flag: string, min: number, max: number, why = '') {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${flag} takes an integer from ${min} to ${max}${why}, got '${v}'`);
    return n;
  };
}

/** Most inference/training threads a flag may ask for. */
export const MAX_THREADS = 64;
/** Largest square input side a flag may ask for (3 x 2048 x 2048 float32 is 48 MiB per image). */
export const MAX_INPUT_SIDE = 2048;

/** Parses a positive integer flag value or throws a UsageError naming the flag. */
export function positiveInt(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} takes a positive integer, got '${v}'`);
    return n;
  };
}
