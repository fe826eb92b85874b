#!/usr/bin/env node
/**
 * The `repghost` command. Each subcommand lives in ./commands/<name>.ts and exports
 * `register(program)`; this file only wires them up and turns errors into one line.
 */
import { Command, CommanderError } from 'commander';
import { reportError } from './errors.js';
import { register as registerInfo } from './commands/info.js';
import { register as registerConvert } from './commands/convert.js';

const verbose = process.argv.includes('--verbose') || process.env.REPGHOST_VERBOSE === '1';

const program = new Command('repghost')
  .description('RepGhostNet in TypeScript: inspect, convert, export, run and train the official models')
  .option('--verbose', 'print stack traces on errors')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

registerInfo(program);
registerConvert(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // commander already printed its message (or the help); keep its exit code.
    process.exitCode = err.exitCode;
  } else {
    reportError(err, verbose);
  }
}
