/** `repghost export <weights> <out.onnx>`: the ONNX graph of a checkpoint, built from the spec. */
import path from 'node:path';
import type { Command } from 'commander';
import { resolveWeightsSource } from '../weights-flags.js';
import { loadWeights } from '../../reparam/load.js';
import { exportOnnx, type GraphMode } from '../../onnx/emit.js';
import { storeWeights, WEIGHT_PRECISIONS, type WeightPrecision } from '../../onnx/precision.js';
import { allTaps, checkTaps, type TapName } from '../../onnx/taps.js';
import type { ModelSpec } from '../../spec/model-spec.js';
import { readInputFile } from '../../node/read-input.js';
import { writeFileAtomic } from '../../node/atomic-write.js';
import { sameFile } from '../../node/output-guard.js';
import { optionsAsFlags, UsageError } from '../errors.js';
import {
  addCheckpointOptions,
  addPretrainedOptions,
  choiceFlag,
  intFlag,
  MAX_IMAGE_SIZE,
  type PretrainedFlags,
} from '../flags.js';
import { human } from '../format.js';

interface ExportFlags extends PretrainedFlags {
  trainForm?: boolean;
  keepBn?: boolean;
  dynamic?: boolean;
  inputSize: number;
  features?: string;
  json?: boolean;
  weightsPrecision: WeightPrecision;
}

/** The --features value: comma-separated tap names, or "all". */
function parseTaps(spec: ModelSpec, value: string | undefined): TapName[] {
  if (!value) return [];
  if (value === 'all') return allTaps(spec).map((t) => t.name);
  try {
    return checkTaps(
      spec,
      value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    );
  } catch (e) {
    throw new UsageError(`--features: ${(e as Error).message}`);
  }
}

export function register(program: Command): void {
  addCheckpointOptions(
    addPretrainedOptions(program.command('export')),
    'export the EMA weights (state_dict_ema) of a training checkpoint',
  )
    .description(
      'write an ONNX model (opset 13, input "input" [batch, 3, H, W], output "logits"): by default the deploy ' +
        'form with every BN folded into its conv, the fastest graph; it loads in ONNX Runtime with optimizations on',
    )
    .argument(
      '<weights>',
      'checkpoint: .pth / .pth.tar or .safetensors, training or deploy form (with --pretrained, omit it and give ' +
        'only <out>)',
    )
    .argument('[out]', 'output .onnx file')
    .option(
      '--train-form',
      'export the training-form graph (fusion branches as BatchNormalization + Add; needs training-form weights)',
    )
    .option('--keep-bn', 'deploy form with BatchNormalization nodes kept instead of folded')
    .option('--dynamic', 'symbolic height and width (the batch is always symbolic)')
    .option(
      '--input-size <n>',
      'fixed square input size when not --dynamic',
      intFlag('--input-size', 1, MAX_IMAGE_SIZE),
      224,
    )
    .option(
      '--features <taps>',
      'extra outputs features.<tap>, comma-separated: conv_stem, act1, blocks.0 ... blocks.9, pre_logits, or "all"',
    )
    .option(
      '--weights-precision <p>',
      'store Conv/Gemm weights as fp32, fp16 (Cast to float32) or int8 (per-channel, DequantizeLinear): smaller ' +
        'files, float32 arithmetic (docs/deploy.md)',
      choiceFlag('--weights-precision', WEIGHT_PRECISIONS),
      'fp32',
    )
    .option('--json', 'print a JSON summary')
    .addHelpText(
      'after',
      '\nExamples:\n  repghost export repghostnet_0_5x.pth repghostnet_0_5x.onnx --dynamic\n  repghost export ' +
        'deploy.safetensors model-int8w.onnx --weights-precision int8\n  repghost export --pretrained --model ' +
        'repghostnet_050 repghostnet_050.onnx',
    )
    .action(async (first: string, second: string | undefined, opts: ExportFlags) => {
      const [weightsArg, out] = opts.pretrained && second === undefined ? [undefined, first] : [first, second];
      if (!out) throw new UsageError('missing the output .onnx file (arguments are <weights> <out.onnx>)');
      if (path.extname(out).toLowerCase() !== '.onnx')
        throw new UsageError(`output ${out}: use an .onnx extension (arguments are <weights> <out.onnx>)`);
      if (opts.trainForm && opts.keepBn)
        throw new UsageError('--train-form already keeps every BatchNormalization: drop --keep-bn');
      const source = await resolveWeightsSource(opts, weightsArg, opts.json);
      const weights = source.path;
      if (sameFile(weights, out))
        throw new UsageError('output would overwrite the weights file: choose another output path');
      const mode: GraphMode = opts.trainForm ? 'train' : opts.keepBn ? 'deploy-bn' : 'deploy';
      const loaded = loadWeights(await readInputFile(weights, 'weights file'), {
        ...(source.model ? { model: source.model } : {}),
        ema: source.ema,
        fileName: path.basename(weights),
      });
      if (loaded.note && !opts.json) process.stderr.write(`note: ${optionsAsFlags(loaded.note)}\n`);
      const taps = parseTaps(loaded.spec, opts.features);
      const bytes = storeWeights(
        exportOnnx(loaded.spec, mode === 'train' ? loaded.stateDict : loaded.deploy, {
          mode,
          dynamicSpatial: !!opts.dynamic,
          inputSize: [opts.inputSize, opts.inputSize],
          features: taps,
        }),
        opts.weightsPrecision,
      );
      // Refuse to leave behind a file ONNX Runtime would not load (native module loaded on demand).
      const { createNodeEngine } = await import('../../node/ort.js');
      const engine = await createNodeEngine(bytes, { threads: 1 });
      await engine.dispose();
      await writeFileAtomic(out, bytes);
      const summary = {
        model: loaded.spec.name,
        num_classes: loaded.spec.numClasses,
        ema: source.ema,
        weights_form: loaded.form,
        graph: mode,
        input: opts.dynamic ? ['batch', 3, 'height', 'width'] : ['batch', 3, opts.inputSize, opts.inputSize],
        outputs: ['logits', ...taps.map((t) => `features.${t}`)],
        weights_precision: opts.weightsPrecision,
        bytes: bytes.length,
        output: out,
      };
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(summary)}\n`);
        return;
      }
      process.stdout.write(
        `${summary.model} (${summary.num_classes} classes${source.ema ? ', EMA weights' : ''}), ` +
          `${loaded.form}-form weights -> ${mode} graph\n` +
          `  input [${summary.input.join(', ')}], outputs ${summary.outputs.join(', ')}\n` +
          `wrote ${out} (${human(bytes.length)}B, ${opts.weightsPrecision} weights, opset 13; loads in ` +
          'onnxruntime-node)\n',
      );
    });
}
