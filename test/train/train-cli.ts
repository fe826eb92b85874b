/**
 * Child-process entry for trainer tests: only the `train` command, registered as the
 * CLI registers it (the full CLI also loads ONNX, image and download modules, which a
 * test of training does not need and which slow every child start).
 */
import { Command } from 'commander';
import { register } from '../../src/cli/commands/train.js';
import { reportError } from '../../src/cli/errors.js';

const program = new Command('repghost').exitOverride();
register(program);
try {
  await program.parseAsync(process.argv);
} catch (e) {
  if ((e as { code?: string }).code?.startsWith('commander.')) process.exitCode = 2;
  else reportError(e, true);
}
