/**
 * CLI error handling: every failure is one line on stderr and a non-zero exit;
 * the stack trace only with --verbose (or REPGHOST_VERBOSE=1).
 */
import { ImageFolderError } from '../data/image-folder.js';
import { TRAIN_OPTION_TABLE } from '../train/options.js';
import { UnknownModelError } from '../spec/variants.js';

/** An error whose message is meant for the user as is (bad flags, bad input). */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * Library errors name an option by its field (`the 'numClasses' option`); on the command
 * line it is a flag (`--num-classes`), taken from the option table where the two differ.
 */
export function optionsAsFlags(message: string): string {
  return message.replace(/the '([a-z][a-zA-Z]*)' option/g, (_, name: string) => {
    const row = (TRAIN_OPTION_TABLE as Record<string, { flag: string } | undefined>)[name];
    return row ? row.flag.split(' ')[0]! : `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  });
}

/** Prints `repghost: <message>` (plus the stack when verbose) and sets a failing exit code. */
export function reportError(err: unknown, verbose: boolean): void {
  const e = err instanceof Error ? err : new Error(String(err));
  const oneLine = optionsAsFlags(e.message.replace(/\s*\n\s*/g, ' ').trim()) || e.name;
  process.stderr.write(`repghost: ${oneLine}\n`);
  if (verbose && e.stack) process.stderr.write(`${e.stack}\n`);
  // A wrong flag value, model name or dataset folder is a command-line mistake (2); anything else, 1.
  process.exitCode = e instanceof UsageError || e instanceof UnknownModelError || e instanceof ImageFolderError ? 2 : 1;
}
