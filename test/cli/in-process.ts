/**
 * Runs one command's `register` in this process on a fresh commander program: the fast
 * way to test flag and argument errors, which fail before any model loads. (The
 * one-line printing and exit codes of main.ts are covered by the spawned CLI tests.)
 */
import { Command, CommanderError } from 'commander';

export interface InProcessResult {
  /** What was thrown (a CommanderError for flag errors, our Error/UsageError otherwise). */
  error: Error | undefined;
  /** commander's own error output (for CommanderError cases). */
  stderr: string;
}

export async function runInProcess(register: (program: Command) => void, args: string[]): Promise<InProcessResult> {
  let stderr = '';
  const program = new Command('repghost').exitOverride().configureOutput({
    writeErr: (s) => {
      stderr += s;
    },
    writeOut: () => {},
  });
  register(program);
  // Subcommands inherit neither exitOverride nor output settings: apply them to each.
  for (const c of program.commands)
    c.exitOverride().configureOutput({
      writeErr: (s) => {
        stderr += s;
      },
      writeOut: () => {},
    });
  try {
    await program.parseAsync(['node', 'repghost', ...args]);
    return { error: undefined, stderr };
  } catch (e) {
    return { error: e as Error, stderr: e instanceof CommanderError ? stderr || e.message : stderr };
  }
}
