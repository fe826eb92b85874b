/**
 * Reproducing one case in this process: regenerate its input from (seed, format, index),
 * write it to the findings folder, run it and print the verdict with the full stack.
 * In-process on purpose: a debugger or --cpu-prof sees the parser directly.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { classify } from './classify.js';
import { FORMATS, type FormatName } from './formats/index.js';
import { caseRng } from './rng.js';

/** Regenerates, saves and runs case `index` of each format. */
export async function replay(
  formats: FormatName[],
  index: number,
  seed: number,
  quick: boolean,
  dir: string,
): Promise<void> {
  mkdirSync(dir, { recursive: true });
  for (const format of formats) {
    const prepared = await FORMATS[format].prepare({ quick });
    const input = prepared.mutate(caseRng(seed, format, index));
    const file = path.join(dir, `${format}-replay-${index}.bin`);
    writeFileSync(file, input.bytes);
    process.stdout.write(
      `${format} #${index}: ${input.bytes.length} bytes from ${input.seed}: ${input.notes.join('; ')}\n  input ` +
        `written to ${file}\n`,
    );
    const t0 = performance.now();
    try {
      await prepared.run(input);
      process.stdout.write(`  accepted in ${(performance.now() - t0).toFixed(0)} ms\n`);
    } catch (e) {
      const v = classify(e);
      process.stdout.write(
        `  ${v.outcome} in ${(performance.now() - t0).toFixed(0)} ms: ${v.outcome === 'accepted' ? '' : v.kind}\n`,
      );
      if (v.outcome === 'crash') process.stdout.write(`${v.stack ?? v.message}\n`);
      else process.stdout.write(`  message: ${(e as Error).message.slice(0, 500)}\n`);
    }
  }
}
