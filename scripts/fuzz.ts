/**
 * `npm run fuzz -- [--cases N] [--seconds S] [--format pth|pickle|safetensors|idx|image]...`
 *
 * Seeded mutation fuzzing of every parser that reads files from strangers (see
 * fuzz/README.md). Stops by itself after N cases or S seconds per format, writes the
 * JSON report (default bench/results/fuzz.json, the Markdown table beside it as fuzz.md)
 * and prints the table. Exits 1 when
 * any case crashed, hung or broke its memory bound; inputs of such cases are written to
 * fuzz/findings/ (reproduce one with --format F --replay INDEX).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { FORMAT_NAMES, type FormatName } from '../fuzz/lib/formats/index.js';
import { findingsList, markdownTable } from '../fuzz/lib/report.js';
import { runFuzz, type FuzzReport } from '../fuzz/lib/runner.js';
import { replay } from '../fuzz/lib/replay.js';
import { repoRoot } from '../fuzz/lib/seeds.js';

const int =
  (flag: string) =>
  (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${flag} takes a non-negative integer`);
    return n;
  };

const program = new Command('fuzz')
  .description('mutation-fuzz the checkpoint, safetensors, IDX and image parsers')
  .option('--cases <n>', 'cases per format', int('--cases'), 10_000)
  .option(
    '--seconds <s>',
    'time budget per format (10,000 torch cases take ~30 min on a busy 2-core machine)',
    int('--seconds'),
    3600,
  )
  .option('--format <name...>', `formats to fuzz (${FORMAT_NAMES.join(', ')}; default all)`)
  .option('--seed <n>', 'master seed (same seed, same cases)', int('--seed'), 1)
  .option(
    '--jobs <n>',
    'worker processes per format',
    int('--jobs'),
    Math.max(1, Math.min(2, os.availableParallelism())),
  )
  .option('--hang-ms <ms>', 'CPU time after which a case counts as a hang', int('--hang-ms'), 2000)
  .option('--quick', 'small seeds only (what the test suite uses)')
  .option('--parallel', 'fuzz all formats at once (default: one after another, so peak memory is per format)')
  .option('--replay <index>', 'run only this case index (writes its input to fuzz/findings/)', int('--replay'))
  .option('--out <file>', 'JSON report path', path.join(repoRoot, 'bench', 'results', 'fuzz.json'))
  .option('--markdown <file>', 'Markdown table path (default: the JSON path with .md)');

program.parse();
const o = program.opts<{
  cases: number;
  seconds: number;
  format?: string[];
  seed: number;
  jobs: number;
  hangMs: number;
  quick?: boolean;
  parallel?: boolean;
  replay?: number;
  out: string;
  markdown?: string;
}>();
const formats = (o.format ?? [...FORMAT_NAMES]) as FormatName[];
for (const f of formats) {
  if (!FORMAT_NAMES.includes(f)) {
    process.stderr.write(`fuzz: unknown format '${f}' (one of ${FORMAT_NAMES.join(', ')})\n`);
    process.exit(2);
  }
}

const findingsDir = path.join(repoRoot, 'fuzz', 'findings');
if (o.replay !== undefined) {
  await replay(formats, o.replay, o.seed, o.quick ?? false, findingsDir);
  process.exit(0);
}
mkdirSync(path.dirname(o.out), { recursive: true });
const save = (r: FuzzReport): void => writeFileSync(o.out, `${JSON.stringify(r, null, 2)}\n`);
const settings = {
  formats,
  cases: o.cases,
  seconds: o.seconds,
  seed: o.seed,
  jobs: o.jobs,
  hangMs: o.hangMs,
  quick: o.quick ?? false,
  parallel: o.parallel ?? false,
  findingsDir,
};
// Each format's results are saved as soon as it finishes, so a long run that is stopped keeps them.
const done: FuzzReport['formats'] = [];
const report = await runFuzz({
  ...settings,
  log: (line) => process.stderr.write(`${line}\n`),
  onFormat: (r) => {
    done.push(r);
    save({
      seed: o.seed,
      casesPerFormat: o.cases,
      secondsPerFormat: o.seconds,
      jobs: o.jobs,
      hangMs: o.hangMs,
      quick: settings.quick,
      node: process.version,
      date: new Date().toISOString(),
      formats: done,
    });
  },
});
save(report);
const table = markdownTable(report);
writeFileSync(o.markdown ?? o.out.replace(/\.json$/, '') + '.md', `${table}\n`);
process.stdout.write(`${table}\n`);
const findings = findingsList(report);
if (findings) process.stdout.write(`\nfindings:\n${findings}\n`);
process.stdout.write(`\nwrote ${path.relative(process.cwd(), o.out)}\n`);
const bad = report.formats.some((f) => f.crashes || f.hangs || f.memoryViolations || f.fuzzerErrors);
process.exitCode = bad ? 1 : 0;
