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
import { positiveInt, UsageError } from '../errors.js';
import { addPreprocessOptions, preprocessConfigFrom, type PreprocessFlags } from './preprocess.js';

/** Values of the model flags. */
export interface ModelFlags { weights: string; model?: string; ema?: boolean; threads?: number; labels?: string }

/** Adds --weights (required), --model, --ema, --threads and --labels to a command. */
export function addModelOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--weights <file>', 'checkpoint: .pth / .pth.tar (state dict or timm training checkpoint) or .safetensors, training or deploy form')
    .option('--model <name>', "model name (default: the checkpoint's arch, else the model its keys fit)")
    .option('--ema', 'use the EMA weights (state_dict_ema) of a training checkpoint')
    .option('--threads <n>', 'CPU threads per inference (default: all cores)', positiveInt('--threads'))
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

/** Loads the model the flags describe, printing the model-choice note (if any) to stderr. */
export async function loadModelFromFlags(flags: ModelFlags & PreprocessFlags, quiet = false): Promise<RepGhostModel> {
  // Loaded on demand: onnxruntime-node and sharp are native modules that --help and flag errors need not wait for.
  const { RepGhost } = await import('../../api/node.js');
  const model = await RepGhost.load({
    weights: flags.weights,
    ...(flags.model ? { model: flags.model } : {}),
    ema: !!flags.ema,
    ...(flags.threads ? { threads: flags.threads } : {}),
    ...(flags.labels ? { labels: await readLabels(flags.labels) } : {}),
    preprocess: preprocessConfigFrom(flags),
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
    .addHelpText('after', '\nExample:\n  repghost predict cat.jpg dog.png --weights repghostnet_0_5x.pth --topk 3')
    .action(async (images: string[], opts: ModelFlags & PreprocessFlags & { topk: number; json?: boolean }) => {
      await checkImagesExist(images);
      const model = await loadModelFromFlags(opts, opts.json);
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
