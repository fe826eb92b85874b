/**
 * `repghost predict <images...> --weights W`: top-k classes of each image. Also home
 * of the model-loading flags that validate shares.
 */
import { access } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import type { RepGhostModel } from '../../api/model.js';
import type { Prediction } from '../../api/postprocess.js';
import { readInputFile } from '../../node/read-input.js';
import { intInRange, MAX_THREADS, positiveInt, UsageError } from '../errors.js';
import { addPreprocessOptions, preprocessConfigFrom, type PreprocessFlags } from './preprocess.js';
import { addPretrainedOptions, givenOnCommandLine, resolveWeightsSource, type PretrainedFlags } from '../weights-flags.js';

/** Values of the model flags. */
export interface ModelFlags extends PretrainedFlags { weights?: string; threads?: number; labels?: string }

/** Adds --weights (or --pretrained/--source), --model, --ema, --threads and --labels to a command. */
export function addModelOptions(cmd: Command): Command {
  return addPretrainedOptions(cmd)
    .option('--weights <file>', 'checkpoint: .pth / .pth.tar (state dict or timm training checkpoint) or .safetensors, training or deploy form')
    .option('--model <name>', "model name (default: the checkpoint's arch, else the model its keys fit)")
    .option('--ema', 'use the EMA weights (state_dict_ema) of a training checkpoint')
    .option('--threads <n>', 'CPU threads per inference (default: all cores)', intInRange('--threads', 1, MAX_THREADS))
    .option('--labels <file>', 'class names, one per line or a JSON array (default: ImageNet-1k names for 1000 classes)');
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
    if (!Array.isArray(parsed) || !parsed.every((s) => typeof s === 'string')) throw new UsageError(`labels file ${file}: expected a JSON array of strings`);
    return parsed;
  }
  return text.split(/\r?\n/).map((s) => s.trim());
}

/**
 * Loads the model the flags describe, printing the model-choice note (if any) to stderr.
 * With --pretrained, the published preprocessing applies unless the user typed
 * --interpolation / --crop-pct / --size (`cmd` tells which were typed).
 */
export async function loadModelFromFlags(flags: ModelFlags & PreprocessFlags, quiet = false, cmd?: Command): Promise<RepGhostModel> {
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
  const { RepGhost } = await import('../../api/node.js');
  const model = await RepGhost.load({
    weights: source.path,
    ...(source.model ? { model: source.model } : {}),
    ema: source.ema,
    ...(flags.threads ? { threads: flags.threads } : {}),
    ...(flags.labels ? { labels: await readLabels(flags.labels) } : {}),
    preprocess,
  });
  if (model.note && !quiet) process.stderr.write(`note: ${model.note}\n`);
  return model;
}

/** Fails with one line naming the first image that does not exist (before the model loads). */
async function checkImagesExist(images: string[]): Promise<void> {
  for (const image of images) {
    try {
      await access(image);
    } catch {
      throw new UsageError(`image not found: ${image}`);
    }
  }
}

const BATCH = 16;

function formatPredictions(image: string, preds: Prediction[]): string {
  const width = Math.max(...preds.map((p) => p.label.length));
  return [image, ...preds.map((p, i) => `  ${i + 1}. ${p.label.padEnd(width)}  ${String(p.index).padStart(4)}  ${(100 * p.probability).toFixed(2).padStart(6)}%`)].join('\n');
}

export function register(program: Command): void {
  const cmd = program
    .command('predict')
    .description('classify images: top-k classes with softmax probabilities (BN-folded deploy graph on ONNX Runtime)')
    .argument('<images...>', 'image files (JPEG, PNG, WebP, GIF, TIFF, AVIF); EXIF orientation is applied')
    .option('--topk <k>', 'classes per image', positiveInt('--topk'), 5)
    .option('--json', 'print one JSON object {model, results: [{image, predictions}]}');
  addPreprocessOptions(addModelOptions(cmd), 'bicubic')
    .addHelpText('after', '\nExamples:\n  repghost predict cat.jpg dog.png --weights repghostnet_0_5x.pth --topk 3\n  repghost predict cat.jpg --pretrained --model repghostnet_100')
    .action(async (images: string[], opts: ModelFlags & PreprocessFlags & { topk: number; json?: boolean }, command: Command) => {
      await checkImagesExist(images);
      const model = await loadModelFromFlags(opts, opts.json, command);
      try {
        const results: { image: string; predictions: Prediction[] }[] = [];
        for (let i = 0; i < images.length; i += BATCH) {
          const chunk = images.slice(i, i + BATCH);
          const preds = await model.classifyBatch(chunk, { topk: Math.min(opts.topk, model.numClasses) });
          chunk.forEach((image, j) => results.push({ image, predictions: preds[j]! }));
        }
        if (opts.json) {
          process.stdout.write(`${JSON.stringify({ model: model.spec.name, num_classes: model.numClasses, ema: !!opts.ema, results })}\n`);
        } else {
          process.stdout.write(`${results.map((r) => formatPredictions(path.normalize(r.image), r.predictions)).join('\n')}\n`);
        }
      } finally {
        await model.dispose();
      }
    });
}
