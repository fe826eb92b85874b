/** `repghost quantize <weights> <out.onnx> --calibrate <folder | fashion-mnist>`: static int8 QDQ ONNX. */
import path from 'node:path';
import { existsSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { resolveWeightsSource } from '../weights-flags.js';
import {
  addCheckpointOptions,
  addPretrainedOptions,
  choiceFlag,
  intFlag,
  MAX_IMAGE_SIZE,
  MAX_THREADS,
  type PretrainedFlags,
} from '../flags.js';
import { loadWeights } from '../../reparam/load.js';
import { readInputFile } from '../../node/read-input.js';
import { writeFileAtomic } from '../../node/atomic-write.js';
import { optionsAsFlags, UsageError } from '../errors.js';
import { human } from '../format.js';
import { CALIBRATION_METHODS, type CalibrationMethod } from '../../onnx/calibrate.js';
import type { ActivationType } from '../../onnx/quantize.js';
import type { CalibrationSource } from '../../api/quantize.js';

interface QuantizeFlags extends PretrainedFlags {
  calibrate?: string;
  samples: number;
  method: CalibrationMethod;
  activations: ActivationType;
  batchSize?: number;
  inputSize?: number;
  threads?: number;
  dataDir?: string;
  json?: boolean;
}

/** Upper bound of --samples (images are read batch by batch; this only bounds the run time). */
const MAX_SAMPLES = 100_000;
/** Upper bound of --batch-size: a 224x224 batch's activations take tens of MB per image. */
const MAX_BATCH = 256;

export function register(program: Command): void {
  addCheckpointOptions(
    addPretrainedOptions(program.command('quantize')),
    'quantize the EMA weights (state_dict_ema) of a training checkpoint',
  )
    .description(
      'write a static int8 ONNX model (QDQ: per-channel int8 weights, uint8 activations calibrated on real ' +
        "images) in the layout ONNX Runtime's CPU EP runs with integer kernels (QLinearConv, QLinearAdd, " +
        'QLinearMul)',
    )
    .argument(
      '<weights>',
      'checkpoint: .pth / .pth.tar or .safetensors, training or deploy form (with --pretrained, omit it)',
    )
    .argument('[out]', 'output .onnx file')
    .option(
      '--calibrate <source>',
      'calibration images: an ImageFolder (<dir>/<class>/<image>) or "fashion-mnist" (its training split, 32x32 input)',
    )
    .option(
      '--samples <n>',
      'calibration images, spread evenly over the source',
      intFlag('--samples', 1, MAX_SAMPLES),
      256,
    )
    .option(
      '--method <m>',
      "activation ranges: minmax (observed), percentile (99.999 %), entropy (KL divergence, TensorRT's, never " +
        'below the 99.99th percentile)',
      choiceFlag('--method', CALIBRATION_METHODS),
      'minmax',
    )
    .option(
      '--activations <t>',
      "activation integer type: uint8 (ORT 1.30's CPU EP fuses every op; see docs/deploy.md) or int8",
      choiceFlag('--activations', ['uint8', 'int8']),
      'uint8',
    )
    .option(
      '--input-size <n>',
      'square input size (default 32 for fashion-mnist, else 224)',
      intFlag('--input-size', 1, MAX_IMAGE_SIZE),
    )
    .option('--data-dir <dir>', "where the Fashion-MNIST files are (default: Debian's dataset-fashion-mnist)")
    .option(
      '-b, --batch-size <n>',
      'calibration batch size (default 32 for fashion-mnist, 8 for 224x224 images: every activation of a batch ' +
        'is held at once)',
      intFlag('--batch-size', 1, MAX_BATCH),
    )
    .option(
      '--threads <n>',
      'ONNX Runtime threads for calibration (default all cores)',
      intFlag('--threads', 1, MAX_THREADS),
    )
    .option('--json', 'print a JSON summary')
    .addHelpText(
      'after',
      '\nExamples:\n  repghost quantize assets/fashion-mnist/deploy.safetensors fmnist-int8.onnx --calibrate ' +
        'fashion-mnist\n  repghost quantize --pretrained --model repghostnet_100 r100-int8.onnx --calibrate ' +
        'imagenet/train --samples 512 --method percentile',
    )
    .action(async (first: string, second: string | undefined, opts: QuantizeFlags) => {
      const [weightsArg, out] = opts.pretrained && second === undefined ? [undefined, first] : [first, second];
      if (!out) throw new UsageError('missing the output .onnx file (arguments are <weights> <out.onnx>)');
      if (path.extname(out).toLowerCase() !== '.onnx')
        throw new UsageError(`output ${out}: use an .onnx extension (arguments are <weights> <out.onnx>)`);
      if (!opts.calibrate) throw new UsageError('--calibrate is required: an ImageFolder directory or "fashion-mnist"');
      const fashion = opts.calibrate === 'fashion-mnist';
      if (!fashion && !(existsSync(opts.calibrate) && statSync(opts.calibrate).isDirectory())) {
        throw new UsageError(`--calibrate ${opts.calibrate}: not a directory (give an ImageFolder or "fashion-mnist")`);
      }
      if (opts.dataDir && !fashion) throw new UsageError('--data-dir goes with --calibrate fashion-mnist');
      if (fashion && opts.inputSize !== undefined && opts.inputSize !== 32)
        throw new UsageError('--calibrate fashion-mnist feeds 32x32 images: drop --input-size');
      const source = await resolveWeightsSource(opts, weightsArg, opts.json);
      if (path.resolve(source.path) === path.resolve(out))
        throw new UsageError('output would overwrite the weights file: choose another output path');
      const loaded = loadWeights(await readInputFile(source.path, 'weights file'), {
        ...(source.model ? { model: source.model } : {}),
        ema: source.ema,
        fileName: path.basename(source.path),
      });
      if (loaded.note && !opts.json) process.stderr.write(`note: ${optionsAsFlags(loaded.note)}\n`);
      if (fashion && loaded.spec.numClasses !== 10)
        throw new UsageError(
          `--calibrate fashion-mnist needs a 10-class model; ${loaded.spec.name} here has ` +
            `${loaded.spec.numClasses} classes`,
        );
      const calibration: CalibrationSource = fashion
        ? { kind: 'fashion-mnist', ...(opts.dataDir ? { dir: opts.dataDir } : {}) }
        : {
            kind: 'image-folder',
            dir: opts.calibrate,
            preprocess: { ...(source.preprocess ?? {}), ...(opts.inputSize ? { size: opts.inputSize } : {}) },
          };
      const bar =
        !opts.json && process.stderr.isTTY
          ? new cliProgress.SingleBar(
              {
                stream: process.stderr,
                format: 'calibrate pass {pass}/{passes} [{bar}] {value}/{total} images',
                hideCursor: true,
              },
              cliProgress.Presets.shades_classic,
            )
          : null;
      let barPass = 0;
      const { quantizeModel } = await import('../../api/quantize.js');
      const t0 = performance.now();
      const q = await quantizeModel(loaded.spec, loaded.deploy, calibration, {
        method: opts.method,
        samples: opts.samples,
        activations: opts.activations,
        batchSize: opts.batchSize ?? (fashion ? 32 : 8),
        ...(opts.threads ? { threads: opts.threads } : {}),
        onProgress: (pass, done, total, passes) => {
          if (!bar) return;
          if (pass !== barPass) {
            if (barPass) bar.stop();
            bar.start(total, 0, { pass, passes });
            barPass = pass;
          }
          bar.update(done, { pass, passes });
        },
      });
      bar?.stop();
      // Refuse to leave behind a file ONNX Runtime would not load.
      const { createNodeEngine } = await import('../../node/ort.js');
      await (await createNodeEngine(q.model, { threads: 1 })).dispose();
      await writeFileAtomic(out, q.model);
      const summary = {
        model: loaded.spec.name,
        num_classes: loaded.spec.numClasses,
        ema: source.ema,
        calibration: fashion ? 'fashion-mnist (train split)' : opts.calibrate,
        samples: q.samples,
        method: opts.method,
        activations: opts.activations,
        weights: 'int8 per-channel symmetric',
        input: ['batch', 3, q.inputSize, q.inputSize],
        bytes: q.model.length,
        float_bytes: q.floatModel.length,
        seconds: Number(((performance.now() - t0) / 1000).toFixed(2)),
        output: out,
      };
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(summary)}\n`);
        return;
      }
      process.stdout.write(
        `${summary.model} (${summary.num_classes} classes${source.ema ? ', EMA weights' : ''}): static int8 QDQ, ` +
          `${opts.activations} activations, ` +
          `${opts.method} ranges from ${q.samples} images of ${summary.calibration}\n` +
          `wrote ${out} (${human(q.model.length)}B, ${((100 * q.model.length) / q.floatModel.length).toFixed(0)} ` +
          `% of float32; input [${summary.input.join(', ')}])\n`,
      );
    });
}
