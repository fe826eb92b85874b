/**
 * Where a command's weights come from: a file (`--weights` / a positional path) or the
 * published ImageNet weights (`--pretrained --model <name> [--source hf|official]`),
 * downloaded once into the verified cache.
 */
import { Option, type Command } from 'commander';
import type { PreprocessConfig } from '../data/preprocess.js';
import { UsageError } from './errors.js';

/** Values of the pretrained flags. */
export interface PretrainedFlags { pretrained?: boolean; source?: 'hf' | 'official'; model?: string; ema?: boolean }

/** Adds --pretrained and --source to a command. */
export function addPretrainedOptions(cmd: Command): Command {
  return cmd
    .option('--pretrained', 'use the published ImageNet weights of --model (downloaded once into the cache; see `repghost download --list`) instead of a weights file')
    .addOption(new Option('--source <hub>', 'where --pretrained downloads from: hf (timm on the Hugging Face hub, EMA weights) or official (the GitHub release .pth.tar, EMA selected)').choices(['hf', 'official']));
}

/** A weights file to load and what the source says about it. */
export interface WeightsSource {
  path: string;
  model?: string;
  ema: boolean;
  /** The preprocessing the published accuracy was measured with (pretrained only). */
  preprocess?: Required<PreprocessConfig>;
}

/**
 * Resolves the weights flags to a file: the given path, or the cached/downloaded
 * pretrained file (progress on stderr when it is a terminal and `quiet` is off).
 */
export async function resolveWeightsSource(flags: PretrainedFlags, weights: string | undefined, quiet = false): Promise<WeightsSource> {
  if (!flags.pretrained) {
    if (flags.source) throw new UsageError('--source goes with --pretrained');
    if (!weights) throw new UsageError('no weights: give a checkpoint file, or --pretrained --model <name>');
    return { path: weights, ...(flags.model ? { model: flags.model } : {}), ema: !!flags.ema };
  }
  if (weights) throw new UsageError(`give either a weights file (${weights}) or --pretrained, not both`);
  if (!flags.model) throw new UsageError('--pretrained needs --model <name> (e.g. --model repghostnet_050)');
  // The hub code (and its native-free but sizeable deps) loads only when asked for.
  const { resolvePretrained, createProgressReporter } = await import('../hub/index.js');
  const progress = createProgressReporter({ label: flags.model, enabled: !quiet && !!process.stderr.isTTY });
  try {
    const r = await resolvePretrained(flags.model, { ...(flags.source ? { source: flags.source } : {}), onProgress: progress.onProgress });
    return { path: r.path, model: r.model, ema: flags.ema ?? r.ema, preprocess: r.preprocess };
  } finally {
    progress.stop();
  }
}

/** True when the user typed the option (not its default): pretrained preprocessing yields to it. */
export function givenOnCommandLine(cmd: Command | undefined, option: string): boolean {
  return cmd?.getOptionValueSource(option) === 'cli';
}
