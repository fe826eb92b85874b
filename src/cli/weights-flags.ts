/**
 * Where a command's weights come from: a file (`--weights` / a positional path) or the
 * published ImageNet weights (`--pretrained --model <name> [--source hf|official]`),
 * downloaded once into the verified cache; and the model those flags describe, loaded.
 */
import type { Command } from 'commander';
import type { RepGhostModel } from '../api/model.js';
import type { PreprocessConfig } from '../data/preprocess.js';
import { readInputFile } from '../node/read-input.js';
import { optionsAsFlags, UsageError } from './errors.js';
import { preprocessConfigFrom, type ModelFlags, type PreprocessFlags, type PretrainedFlags } from './flags.js';

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
export async function resolveWeightsSource(
  flags: PretrainedFlags,
  weights: string | undefined,
  quiet = false,
): Promise<WeightsSource> {
  if (!flags.pretrained) {
    if (flags.source) throw new UsageError('--source goes with --pretrained');
    if (!weights) throw new UsageError('no weights: give a checkpoint file, or --pretrained --model <name>');
    return { path: weights, ...(flags.model ? { model: flags.model } : {}), ema: !!flags.ema };
  }
  if (weights) throw new UsageError(`give either a weights file (${weights}) or --pretrained, not both`);
  if (!flags.model) throw new UsageError('--pretrained needs --model <name> (e.g. --model repghostnet_050)');
  // The hub code (and its native-free but sizeable deps) loads only when asked for.
  const { resolvePretrained, createProgressReporter } = await import('../hub/index.js');
  // The types say isTTY is boolean, but it is undefined on a pipe.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-conversion -- isTTY is undefined on a pipe
  const progress = createProgressReporter({ label: flags.model, enabled: !quiet && !!process.stderr.isTTY });
  try {
    const r = await resolvePretrained(flags.model, {
      ...(flags.source ? { source: flags.source } : {}),
      onProgress: progress.onProgress,
    });
    return { path: r.path, model: r.model, ema: flags.ema ?? r.ema, preprocess: r.preprocess };
  } finally {
    progress.stop();
  }
}

/** True when the user typed the option (not its default): pretrained preprocessing yields to it. */
export function givenOnCommandLine(cmd: Command | undefined, option: string): boolean {
  return cmd?.getOptionValueSource(option) === 'cli';
}

/** Reads a labels file: a JSON array of strings, or one name per line. */
async function readLabels(file: string): Promise<string[]> {
  const text = new TextDecoder().decode(await readInputFile(file, 'labels file')).trim();
  if (text.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new UsageError(`labels file ${file}: invalid JSON (${(e as Error).message})`);
    }
    if (!Array.isArray(parsed) || !parsed.every((s) => typeof s === 'string'))
      throw new UsageError(`labels file ${file}: expected a JSON array of strings`);
    return parsed;
  }
  return text.split(/\r?\n/).map((s) => s.trim());
}

/**
 * Loads the model the flags describe, printing the model-choice note (if any) to stderr.
 * With --pretrained, the published preprocessing applies unless the user typed
 * --interpolation / --crop-pct / --size (`cmd` tells which were typed).
 */
export async function loadModelFromFlags(
  flags: ModelFlags & PreprocessFlags,
  quiet = false,
  cmd?: Command,
): Promise<RepGhostModel> {
  const source = await resolveWeightsSource(flags, flags.weights, quiet);
  const typed = preprocessConfigFrom(flags);
  const preprocess = source.preprocess
    ? {
        ...source.preprocess,
        ...(givenOnCommandLine(cmd, 'interpolation') ? { interpolation: typed.interpolation } : {}),
        ...(givenOnCommandLine(cmd, 'cropPct') ? { cropPct: typed.cropPct } : {}),
        ...(givenOnCommandLine(cmd, 'size') ? { size: typed.size } : {}),
      }
    : typed;
  // Loaded on demand: onnxruntime-node and sharp are native modules that --help and flag errors need not wait for.
  const { RepGhost } = await import('../node/api.js');
  const model = await RepGhost.load({
    weights: source.path,
    ...(source.model ? { model: source.model } : {}),
    ema: source.ema,
    ...(flags.threads ? { threads: flags.threads } : {}),
    ...(flags.labels ? { labels: await readLabels(flags.labels) } : {}),
    preprocess,
  });
  if (model.note && !quiet) process.stderr.write(`note: ${optionsAsFlags(model.note)}\n`);
  return model;
}
