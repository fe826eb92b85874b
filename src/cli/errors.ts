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
