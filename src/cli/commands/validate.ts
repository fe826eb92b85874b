/**
 * `repghost validate <dir> --weights W`: top-1 / top-5 / loss on an ImageFolder, as the
 * official validate.py reports them. Unreadable images are reported and counted, never fatal.
 */
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import type { RepGhostModel } from '../../api/model.js';
import { ClassificationMetrics } from '../../api/postprocess.js';
import { decodeImagePath } from '../../data/decode-path.js';
import { IMG_EXTENSIONS, ImageFolderIndex } from '../../data/image-folder.js';
import { writeFileAtomic } from '../../node/atomic-write.js';
import { UsageError } from '../errors.js';
import { addModelOptions, addPreprocessOptions, intFlag, type ModelFlags, type PreprocessFlags } from '../flags.js';
import { loadModelFromFlags } from '../weights-flags.js';

interface Batch { data: Float32Array; targets: number[]; n: number; unreadable: { file: string; reason: string }[] }

/** Decodes and preprocesses images [lo, hi) of the index; images that fail are reported, not fatal. */
async function prepareBatch(model: RepGhostModel, index: ImageFolderIndex, lo: number, hi: number): Promise<Batch> {
  const rows: Float32Array[] = [];
  const targets: number[] = [];
  const unreadable: Batch['unreadable'] = [];
  for (let i = lo; i < hi; i++) {
    try {
      rows.push(await model.preprocess(await decodeImagePath(index.fsPath(i))));
      targets.push(index.label(i));
    } catch (e) {
      unreadable.push({ file: index.path(i), reason: (e as Error).message });
    }
  }
  const plane = rows[0]?.length ?? 0;
  const data = new Float32Array(rows.length * plane);
  rows.forEach((r, i) => data.set(r, i * plane));
  return { data, targets, n: rows.length, unreadable };
}

interface ValidateFlags extends ModelFlags, PreprocessFlags { batchSize: number; json?: boolean; out?: string; limit?: number }

export function register(program: Command): void {
  const cmd = program
    .command('validate')
    .description('evaluate on an ImageFolder (<dir>/<class>/<image>, classes sorted like torchvision): top-1, top-5, cross-entropy loss and images/s; unreadable images are reported and skipped')
    .argument('<dir>', 'dataset root with one subfolder per class, as many as the classifier has outputs')
    .option('-b, --batch-size <n>', 'images per inference batch', intFlag('--batch-size', 1, 65_536), 32)
    .option('--limit <n>', 'evaluate only the first n images (in ImageFolder order)', intFlag('--limit'))
    .option('--out <file>', 'also write the results as JSON to this file')
    .option('--json', 'print the results as one JSON object');
  // bilinear by default: the official checkpoints were evaluated with timm 0.6.7's defaults.
  addPreprocessOptions(addModelOptions(cmd), 'bilinear')
    .addHelpText('after', '\nExample:\n  repghost validate imagenet/val --weights repghostnet_0_5x.pth --ema -b 64 --out val.json')
    .action(async (dir: string, opts: ValidateFlags, command: Command) => {
      const folder = await ImageFolderIndex.read(dir);
      const count = Math.min(folder.length, opts.limit ?? Infinity);
      if (!count) throw new UsageError(`no images found under ${dir} (extensions: ${IMG_EXTENSIONS.join(' ')})`);
      const model = await loadModelFromFlags(opts, opts.json, command);
      try {
        if (folder.classes.length !== model.numClasses) {
          throw new UsageError(`${dir} has ${folder.classes.length} class folders but ${model.spec.name} has ${model.numClasses} outputs: ImageFolder indices would not match the classifier's`);
        }
        const result = await evaluate(model, folder, count, opts);
        if (!result.images) throw new Error(`none of the ${count} images under ${dir} could be read (see the warnings above)`);
        const report = {
          model: model.spec.name, num_classes: model.numClasses, weights: opts.weights ?? `pretrained:${opts.source ?? 'hf'}`, ema: !!opts.ema, dir,
          interpolation: model.preprocessConfig.interpolation, crop_pct: model.preprocessConfig.cropPct, size: model.preprocessConfig.size, batch_size: opts.batchSize,
          ...result, date: new Date().toISOString(),
        };
        if (opts.out) await writeFileAtomic(opts.out, new TextEncoder().encode(`${JSON.stringify(report, null, 2)}\n`));
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(report)}\n`);
          return;
        }
        const skipped = result.unreadable ? ` (${result.unreadable} unreadable, skipped)` : '';
        process.stdout.write(
          `${model.spec.name}${opts.ema ? ' (EMA)' : ''} on ${dir}: ${result.images} images${skipped}\n` +
          `  top-1 ${result.top1.toFixed(3)} %   top-5 ${result.top5.toFixed(3)} %   loss ${result.loss.toFixed(4)}\n` +
          `  ${result.images_per_second.toFixed(1)} images/s end to end (inference alone ${result.inference_images_per_second.toFixed(1)} images/s)\n` +
          (opts.out ? `wrote ${opts.out}\n` : ''),
        );
      } finally {
        await model.dispose();
      }
    });
}

/** Runs the evaluation loop, preparing batch k+1 (decode + resize in JS) while ONNX Runtime runs batch k. */
async function evaluate(model: RepGhostModel, index: ImageFolderIndex, count: number, opts: ValidateFlags) {
  const metrics = new ClassificationMetrics();
  const unreadable: { file: string; reason: string }[] = [];
  const bar = process.stderr.isTTY
    ? new cliProgress.SingleBar({ stream: process.stderr, format: 'validate [{bar}] {value}/{total} images | top-1 {top1} % | {eta_formatted} left', hideCursor: true }, cliProgress.Presets.shades_classic)
    : null;
  bar?.start(count, 0, { top1: '-' });
  const chunks: [number, number][] = [];
  for (let i = 0; i < count; i += opts.batchSize) chunks.push([i, Math.min(count, i + opts.batchSize)]);
  const t0 = performance.now();
  let inferMs = 0;
  let done = 0;
  let next: Promise<Batch> | null = prepareBatch(model, index, ...chunks[0]!);
  for (let k = 0; k < chunks.length; k++) {
    const batch: Batch = await next!;
    const tInfer = performance.now();
    // Timed when the run settles (the callback may wait for at most one image's JS preprocessing).
    const running = batch.n
      ? model.infer(batch.data, batch.n).then((l) => ((inferMs += performance.now() - tInfer), l))
      : Promise.resolve(new Float32Array(0));
    next = k + 1 < chunks.length ? prepareBatch(model, index, ...chunks[k + 1]!) : null;
    const logits = await running;
    metrics.update(logits, model.numClasses, batch.targets);
    for (const u of batch.unreadable) {
      unreadable.push(u);
      // Reported as they happen, above the progress bar.
      if (bar) bar.stop();
      process.stderr.write(`warning: skipped: ${u.reason.includes(u.file) ? u.reason : `${u.file}: ${u.reason}`}\n`);
      if (bar) bar.start(count, done, { top1: metrics.summary().top1.toFixed(2) });
    }
    done += chunks[k]![1] - chunks[k]![0];
    bar?.update(done, { top1: metrics.summary().top1.toFixed(2) });
  }
  bar?.stop();
  const seconds = (performance.now() - t0) / 1000;
  const s = metrics.summary();
  return {
    images: s.count, top1: s.top1, top5: s.top5, loss: s.loss,
    unreadable: unreadable.length, unreadable_files: unreadable,
    seconds, images_per_second: s.count / seconds,
    // Runs overlap the next batch's preprocessing on a 2-core machine: a lower bound of the engine's own speed.
    inference_images_per_second: s.count / (inferMs / 1000),
  };
}
