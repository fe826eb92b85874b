/** `repghost info <model>`: architecture table and the official params/FLOPs counts. */
import type { Command } from 'commander';
import { buildSpec, modelNames } from '../../spec/index.js';
import { countByStage, countModel } from '../../reparam/count.js';
import { human, table } from '../format.js';
import { intFlag, MAX_IMAGE_SIZE } from '../flags.js';

export function register(program: Command): void {
  program
    .command('info')
    .description(
      'print the per-stage architecture and the params/FLOPs (MACs) of both forms, counted like the official ' +
        'tools.cal_flops_params',
    )
    .argument('<model>', `model name: ${modelNames().join(', ')}`)
    .option('--num-classes <n>', 'classifier outputs', intFlag('--num-classes'), 1000)
    .option(
      '--input-size <n>',
      'square input size for the FLOPs count',
      intFlag('--input-size', 1, MAX_IMAGE_SIZE),
      224,
    )
    .option('--json', 'print one JSON object {model, train, deploy} instead of tables')
    .action((model: string, opts: { numClasses: number; inputSize: number; json?: boolean }) => {
      const spec = buildSpec(model, { numClasses: opts.numClasses });
      const size: [number, number] = [opts.inputSize, opts.inputSize];
      const train = countModel(spec, 'train', size);
      const deploy = countModel(spec, 'deploy', size);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ model: spec.name, train, deploy })}\n`);
        return;
      }
      const trainRows = countByStage(spec, 'train', size);
      const deployRows = new Map(countByStage(spec, 'deploy', size).map((r) => [r.stage, r]));
      const blocks = new Map(spec.stages.map((s, i) => [`blocks.${i}`, s]));
      const rows: (string | number)[][] = [
        ['stage', 'blocks', 'out', 'size', 'params (train)', 'MACs (train)', 'MACs (deploy)'],
      ];
      for (const r of trainRows) {
        const b = blocks.get(r.stage);
        const desc = b
          ? b
              .map((x) =>
                x.kind === 'bottleneck' ? `k${x.kernel}${x.stride > 1 ? '/s2' : ''}${x.se ? '+SE' : ''}` : '1x1 conv',
              )
              .join(' ')
          : r.stage === 'stem'
            ? '3x3/s2 conv'
            : 'pool, conv_head, classifier';
        rows.push([
          r.stage,
          desc,
          r.outChannels,
          `${r.outSize[0]}x${r.outSize[1]}`,
          human(r.params),
          human(r.flops),
          human(deployRows.get(r.stage)!.flops),
        ]);
      }
      const lines = [
        `${spec.name}: width ${spec.variant.width}, fusion ${spec.variant.fusion}, shortcut ` +
          `${spec.variant.shortcut ? 'on' : 'off'}, ${spec.numClasses} classes, input ${size[0]}x${size[1]}`,
        '',
        table(rows, [false, false, true, true, true, true, true]),
        '',
        table(
          [
            ['form', 'params', 'MACs', 'total_params'],
            [
              'train',
              `${train.params} (${human(train.params)})`,
              `${train.flops} (${human(train.flops)})`,
              train.total_params,
            ],
            [
              'deploy',
              `${deploy.params} (${human(deploy.params)})`,
              `${deploy.flops} (${human(deploy.flops)})`,
              deploy.total_params,
            ],
          ],
          [false, true, true, true],
        ),
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}
