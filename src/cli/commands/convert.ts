/**
 * `repghost convert <in> <out>`: any checkpoint -> the official deploy-form state dict, or
 * with `--to train` back to the training form (reparam/expand.ts) for fine-tuning.
 */
import path from 'node:path';
import { Option, type Command } from 'commander';
import { resolveWeightsSource } from '../weights-flags.js';
import { loadWeights } from '../../reparam/load.js';
import { toTrain } from '../../reparam/expand.js';
import { countModel } from '../../reparam/count.js';
import { writeSafetensors } from '../../weights/safetensors.js';
import { writePth } from '../../weights/pth.js';
import { numel, type StateDict } from '../../weights/tensor.js';
import { readInputFile } from '../../node/read-input.js';
import { writeFileAtomic } from '../../node/atomic-write.js';
import { sameFile } from '../../node/output-guard.js';
import { optionsAsFlags, UsageError } from '../errors.js';
import { addCheckpointOptions, addPretrainedOptions, type PretrainedFlags } from '../flags.js';
import { human } from '../format.js';

interface ConvertOptions extends PretrainedFlags {
  json?: boolean;
  to?: 'deploy' | 'train';
}

function summary(sd: StateDict): { keys: number; values: number } {
  let values = 0;
  for (const t of sd.values()) values += numel(t.shape);
  return { keys: sd.size, values };
}

export function register(program: Command): void {
  addCheckpointOptions(
    addPretrainedOptions(program.command('convert')),
    'convert the EMA weights (state_dict_ema) of a training checkpoint',
  )
    .description(
      're-parameterize a checkpoint into the official deploy form ' +
        '(fusion branches and cheap_operation BN folded into cheap_operation.weight/bias; ' +
        'other BNs kept), written as .safetensors or .pth by the output extension',
    )
    .argument(
      '<in>',
      'checkpoint: .pth / .pth.tar / .bin (torch.save zip) or .safetensors, ' +
        'a state dict or a timm training checkpoint, ' +
        'training or deploy form (with --pretrained, omit it and give only <out>)',
    )
    .argument(
      '[out]',
      'output file: .safetensors, or .pth / .pth.tar / .bin (loads with torch.load(weights_only=True))',
    )
    .option('--json', 'print a JSON summary instead of text')
    // --- issue 16: the inverse conversion ---
    .addOption(
      new Option(
        '--to <form>',
        'deploy (default): fold for inference; train: expand deploy-form weights ' +
          'back to the training form with the same eval-mode function ' +
          '(fusion BN zeroed, cheap_operation BN set to identity), to fine-tune them',
      )
        .choices(['deploy', 'train'])
        .default('deploy'),
    )
    .addHelpText(
      'after',
      '\nExamples:\n  repghost convert repghostnet_0_5x_43M_66.95.pth.tar deploy.safetensors --ema' +
        '\n  repghost convert --pretrained --model repghostnet_100 repghostnet_100_deploy.safetensors',
    )
    .action(async (first: string, second: string | undefined, opts: ConvertOptions) => {
      const [inputArg, output] = opts.pretrained && second === undefined ? [undefined, first] : [first, second];
      if (!output) throw new UsageError('missing the output file (arguments are <in> <out>)');
      const source = await resolveWeightsSource(opts, inputArg, opts.json);
      const input = source.path;
      const ext = path.extname(output).toLowerCase();
      const asPth = ['.pth', '.tar', '.bin', '.pt'].includes(ext);
      if (!asPth && ext !== '.safetensors')
        throw new UsageError(`output ${output}: use a .safetensors or .pth extension`);
      if (sameFile(input, output))
        throw new UsageError('output would overwrite the input checkpoint: choose another output path');
      const bytes = await readInputFile(input, 'checkpoint');
      const loaded = loadWeights(bytes, {
        ...(source.model ? { model: source.model } : {}),
        ema: source.ema,
        fileName: path.basename(input),
      });
      if (loaded.note && !opts.json) process.stderr.write(`note: ${optionsAsFlags(loaded.note)}\n`);
      const to = opts.to ?? 'deploy';
      const converted =
        to === 'deploy'
          ? loaded.deploy
          : loaded.form === 'train'
            ? loaded.stateDict
            : toTrain(loaded.spec, loaded.deploy);
      const data = asPth
        ? writePth(converted)
        : writeSafetensors(converted, { format: 'pt', model: loaded.spec.name, form: to });
      await writeFileAtomic(output, data);
      const before = summary(loaded.stateDict);
      const after = summary(converted);
      const counts = { train: countModel(loaded.spec, 'train'), deploy: countModel(loaded.spec, 'deploy') };
      const result = {
        model: loaded.spec.name,
        num_classes: loaded.spec.numClasses,
        ema: source.ema,
        input,
        output,
        input_form: loaded.form,
        output_form: to,
        before: { ...before, params: counts[loaded.form].params },
        after: { ...after, params: counts[to].params },
      };
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(result)}\n`);
        return;
      }
      process.stdout.write(
        `${loaded.spec.name} (${loaded.spec.numClasses} classes${source.ema ? ', EMA weights' : ''}), ` +
          `${loaded.form} form -> ${to} form\n` +
          `  before: ${before.keys} keys, ${human(result.before.params)} params\n` +
          `  after:  ${after.keys} keys, ${human(result.after.params)} params\n` +
          `wrote ${output}${loaded.form === to ? ` (input was already in ${to} form: copied)` : ''}\n`,
      );
    });
}
