#!/usr/bin/env node
/**
 * The `repghost` command. Each subcommand lives in ./commands/<name>.ts and exports
 * `register(program)`; this file only wires them up and turns errors into one line.
 */
import { Command, CommanderError } from 'commander';
import { reportError } from './errors.js';
import { register as registerDemo } from './commands/demo.js';
import { register as registerInfo } from './commands/info.js';
import { register as registerConvert } from './commands/convert.js';
import { register as registerDownload } from './commands/download.js';
import { register as registerPredict } from './commands/predict.js';
import { register as registerValidate } from './commands/validate.js';
import { register as registerExport } from './commands/export.js';
import { register as registerPreprocess } from './commands/preprocess.js';
import { register as registerTrain } from './commands/train.js';
import { register as registerReport } from './commands/report.js';
import { register as registerQuantize } from './commands/quantize.js';

const verbose = process.argv.includes('--verbose') || process.env.REPGHOST_VERBOSE === '1';

const program = new Command('repghost')
  .description('RepGhostNet in TypeScript: inspect, convert, export, run and train the official models')
  .option('--verbose', 'print stack traces on errors')
  // commander's own errors (unknown option, missing argument) in our one-line form;
  // subcommands registered below inherit this.
  .configureOutput({
    outputError: (str, write) => write(`repghost: ${str.replace(/^error: /, '').trim()} (see --help)\n`),
  })
  .exitOverride();

registerDemo(program);
registerInfo(program);
registerConvert(program);
registerDownload(program);
registerPredict(program);
registerValidate(program);
registerExport(program);
registerPreprocess(program);
registerTrain(program);
registerReport(program);
registerQuantize(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // commander already printed its message (or the help/version, which exit 0); a usage error exits 2.
    process.exitCode = err.exitCode === 0 ? 0 : 2;
    if (verbose && err.exitCode !== 0 && err.stack) process.stderr.write(`${err.stack}\n`);
  } else {
    reportError(err, verbose);
  }
}
