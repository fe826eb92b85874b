/**
 * `repghost validate <dir> --weights W`: top-1 / top-5 / loss on an ImageFolder, as the
 * official validate.py reports them. Class folders are matched to the classifier's outputs
 * by --class-map, the checkpoint's class names, ImageNet wnids or numbers (data/class-map.ts);
 * images are prepared in worker threads while inference runs (cli/validate-loop.ts).
 * Unreadable images are reported and counted, never fatal.
 */
import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import type { RepGhostModel } from '../../api/model.js';
import { mapClassFolders, parseClassMap, type ClassNames } from '../../data/class-map.js';
import { IMG_EXTENSIONS, ImageFolderIndex } from '../../data/image-folder.js';
import { writeFileAtomic } from '../../node/atomic-write.js';
import { clobberedInput, insideFolder } from '../../node/output-guard.js';
import { readInputFile } from '../../node/read-input.js';
import { UsageError } from '../errors.js';
import { addModelOptions, addPreprocessOptions, intFlag, type ModelFlags, type PreprocessFlags } from '../flags.js';
import { runValidation } from '../validate-loop.js';
import { loadModelFromFlags } from '../weights-flags.js';

interface ValidateFlags extends ModelFlags, PreprocessFlags {
  batchSize: number;
  json?: boolean;
  out?: string;
  limit?: number;
  classMap?: string;
  predictions?: string;
  topk: number;
  workers?: number;
}

/** A CSV field, quoted when it must be (RFC 4180). */
const csvField = (v: string): string => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

/** The class names a checkpoint trained here recorded in its args (`class_names`), if any. */
function checkpointClassNames(args: Record<string, unknown> | undefined): string[] | undefined {
  const names = args?.class_names;
  return Array.isArray(names) && names.every((n) => typeof n === 'string') ? names : undefined;
}

export function register(program: Command): void {
  const cmd = program
    .command('validate')
    .description(
      'evaluate on an ImageFolder (<dir>/<class>/<image>, classes sorted like torchvision): top-1, top-5, ' +
        'cross-entropy loss and images/s; unreadable images are reported and skipped',
    )
    .argument(
      '<dir>',
      'dataset root with one subfolder per class (all classes, or a subset with wnid / numeric names or --class-map)',
    )
    .option('-b, --batch-size <n>', 'images per inference batch', intFlag('--batch-size', 1, 65_536), 32)
    .option('--limit <n>', 'evaluate only the first n images (in ImageFolder order)', intFlag('--limit'))
    .option('--out <file>', 'also write the results as JSON to this file')
    .option('--json', 'print the results as one JSON object')
    // --- validate's own flags (issue 16) ---
    .option(
      '--class-map <file>',
      'as timm: a .txt whose line i names the folder of class i (for subsets and relabelled folders; wins over ' +
        "the checkpoint's class names, wnids and numbers)",
    )
    .option(
      '--predictions <file.csv>',
      "also write each image's top-k to this CSV (header: path, top-k indices, their probabilities)",
    )
    .option('--topk <k>', 'classes per image in --predictions (as timm inference.py)', intFlag('--topk'), 5)
    .option(
      '-j, --workers <n>',
      'threads decoding and resizing images while inference runs (0: the main thread; default: cores)',
      intFlag('--workers', 0, 256),
    );
  // bilinear by default: the official checkpoints were evaluated with timm 0.6.7's defaults.
  addPreprocessOptions(addModelOptions(cmd), 'bilinear')
    .addHelpText(
      'after',
      '\nExample:\n  repghost validate imagenet/val --weights repghostnet_0_5x.pth --ema -b 64 --out val.json',
    )
    .action(async (dir: string, opts: ValidateFlags, command: Command) => {
      for (const [flag, file] of [
        ['--out', opts.out],
        ['--predictions', opts.predictions],
      ] as const) {
        if (file && (clobberedInput(file, [opts.weights, opts.labels, opts.classMap]) || insideFolder(file, dir))) {
          throw new UsageError(
            `${flag} ${file} would write over an input (the weights, the labels, the class map or the dataset ` +
              `folder ${dir}): choose another path`,
          );
        }
      }
      if (opts.out && opts.predictions && clobberedInput(opts.predictions, [opts.out]))
        throw new UsageError(`--out and --predictions name the same file ${opts.out}: give each its own`);
      const folder = await ImageFolderIndex.read(dir);
      const count = Math.min(folder.length, opts.limit ?? Infinity);
      if (!count) throw new UsageError(`no images found under ${dir} (extensions: ${IMG_EXTENSIONS.join(' ')})`);
      const names: ClassNames = {};
      if (opts.classMap) {
        const text = new TextDecoder().decode(
          await readInputFile(opts.classMap, 'class map').catch((e: unknown) => {
            throw new UsageError((e as Error).message);
          }),
        );
        names.classMap = { names: parseClassMap(text, opts.classMap), file: opts.classMap };
      }
      const model = await loadModelFromFlags(opts, opts.json, command);
      try {
        const checkpoint = checkpointClassNames(model.meta.args);
        if (checkpoint) names.checkpoint = checkpoint;
        const mapping = mapClassFolders(dir, folder.classes, model.numClasses, names, model.spec.name);
        const csv: string[] = [];
        const k = Math.min(opts.topk, model.numClasses);
        if (opts.predictions) {
          const cols = Array.from({ length: k }, (_, j) => `top${j + 1}_index`).concat(
            Array.from({ length: k }, (_, j) => `top${j + 1}_probability`),
          );
          csv.push(['path', ...cols].join(','));
        }
        const result = await evaluate(
          model,
          folder,
          mapping.targets,
          count,
          opts,
          opts.predictions
            ? (file, indices, probs) => {
                csv.push([csvField(file), ...indices.map(String), ...probs.map((p) => p.toPrecision(6))].join(','));
              }
            : undefined,
        );
        if (!result.images)
          throw new Error(`none of the ${count} images under ${dir} could be read (see the warnings above)`);
        const report = {
          model: model.spec.name,
          num_classes: model.numClasses,
          weights: opts.weights ?? `pretrained:${opts.source ?? 'hf'}`,
          ema: !!opts.ema,
          dir,
          interpolation: model.preprocessConfig.interpolation,
          crop_pct: model.preprocessConfig.cropPct,
          size: model.preprocessConfig.size,
          batch_size: opts.batchSize,
          classes: folder.classes.length,
          class_mapping: mapping.source,
          ...(opts.predictions ? { predictions: opts.predictions } : {}),
          ...result,
          date: new Date().toISOString(),
        };
        if (opts.predictions) await writeFileAtomic(opts.predictions, new TextEncoder().encode(`${csv.join('\n')}\n`));
        if (opts.out) await writeFileAtomic(opts.out, new TextEncoder().encode(`${JSON.stringify(report, null, 2)}\n`));
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(report)}\n`);
          return;
        }
        const skipped = result.unreadable ? ` (${result.unreadable} unreadable, skipped)` : '';
        process.stdout.write(
          `${model.spec.name}${opts.ema ? ' (EMA)' : ''} on ${dir}: ${result.images} images${skipped}\n` +
            `  top-1 ${result.top1.toFixed(3)} %   top-5 ${result.top5.toFixed(3)} %   loss ` +
            `${result.loss.toFixed(4)}\n` +
            `  ${result.images_per_second.toFixed(1)} images/s end to end (inference alone ` +
            `${result.inference_images_per_second.toFixed(1)} images/s, ` +
            `preprocessing ${result.preprocess_ms_per_image.toFixed(1)} ms/image on one thread, ` +
            `${result.workers} worker${result.workers === 1 ? '' : 's'})\n` +
            (opts.predictions ? `wrote ${opts.predictions}\n` : '') +
            (opts.out ? `wrote ${opts.out}\n` : ''),
        );
      } finally {
        await model.dispose();
      }
    });
}

/** Runs {@link runValidation} with a progress bar and warnings on stderr. */
async function evaluate(
  model: RepGhostModel,
  index: ImageFolderIndex,
  targets: Int32Array,
  count: number,
  opts: ValidateFlags,
  onPredictions?: (file: string, indices: number[], probabilities: number[]) => void,
) {
  const bar = process.stderr.isTTY
    ? new cliProgress.SingleBar(
        {
          stream: process.stderr,
          format: 'validate [{bar}] {value}/{total} images | top-1 {top1} % | {eta_formatted} left',
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      )
    : null;
  bar?.start(count, 0, { top1: '-' });
  let done = 0;
  let top1 = NaN;
  try {
    return await runValidation(model, index, targets, {
      batchSize: opts.batchSize,
      workers: opts.workers ?? availableParallelism(),
      count,
      topk: opts.topk,
      ...(onPredictions ? { onPredictions } : {}),
      onUnreadable: (u) => {
        // Reported as they happen, above the progress bar.
        if (bar) bar.stop();
        process.stderr.write(`warning: skipped: ${u.reason.includes(u.file) ? u.reason : `${u.file}: ${u.reason}`}\n`);
        if (bar) bar.start(count, done, { top1: Number.isNaN(top1) ? '-' : top1.toFixed(2) });
      },
      onProgress: (d, t) => {
        done = d;
        top1 = t;
        bar?.update(d, { top1: t.toFixed(2) });
      },
    });
  } finally {
    bar?.stop();
  }
}
