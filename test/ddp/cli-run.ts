/** The built CLI (dist/cli/main.js) as mpirun ranks run it. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../helpers/shared.js';
import { DEFAULT_TRAIN_OPTIONS, type TrainOptions } from '../../src/train/options.js';

/** `node dist/cli/main.js`, failing with a message when the build is missing. */
export function cliCommand(): string[] {
  const main = path.join(repoRoot, 'dist', 'cli', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: run npm run build (npm ci does) first`);
  return ['node', main];
}

/** Trainer options of the ImageFolder runs these tests launch (32x32 input), for reading their checkpoints back. */
export function imagefolderOptions(dataDir: string, output: string): TrainOptions {
  return { ...DEFAULT_TRAIN_OPTIONS, dataset: 'imagefolder', dataDir, output, inputSize: 32 };
}
