/**
 * `repghost predict <images...> --weights W`: top-k classes of each image.
 */
import { access } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import type { Prediction } from '../../api/postprocess.js';
import { UsageError } from '../errors.js';
import { addModelOptions, addPreprocessOptions, intFlag, type ModelFlags, type PreprocessFlags } from '../flags.js';
import { loadModelFromFlags } from '../weights-flags.js';

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
  return [
    image,
    ...preds.map(
      (p, i) =>
        `  ${i + 1}. ${p.label.padEnd(width)}  ${String(p.index).padStart(4)}  ` +
        `${(100 * p.probability).toFixed(2).padStart(6)}%`,
    ),
  ].join('\n');
}

export function register(program: Command): void {
  const cmd = program
    .command('predict')
    .description('classify images: top-k classes with softmax probabilities (BN-folded deploy graph on ONNX Runtime)')
    .argument('<images...>', 'image files (JPEG, PNG, WebP, GIF, TIFF, AVIF); EXIF orientation is applied')
    .option('--topk <k>', 'classes per image', intFlag('--topk'), 5)
    .option('--json', 'print one JSON object {model, results: [{image, predictions}]}');
  addPreprocessOptions(addModelOptions(cmd), 'bicubic')
    .addHelpText(
      'after',
      '\nExamples:\n  repghost predict cat.jpg dog.png --weights repghostnet_0_5x.pth --topk 3' +
        '\n  repghost predict cat.jpg --pretrained --model repghostnet_100',
    )
    .action(
      async (
        images: string[],
        opts: ModelFlags & PreprocessFlags & { topk: number; json?: boolean },
        command: Command,
      ) => {
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
            process.stdout.write(
              JSON.stringify({ model: model.spec.name, num_classes: model.numClasses, ema: !!opts.ema, results }) +
                '\n',
            );
          } else {
            process.stdout.write(
              `${results.map((r) => formatPredictions(path.normalize(r.image), r.predictions)).join('\n')}\n`,
            );
          }
        } finally {
          await model.dispose();
        }
      },
    );
}
