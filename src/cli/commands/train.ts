/**
 * `repghost train`: trains a RepGhostNet with timm's recipe flags (train.py names), on
 * Fashion-MNIST or an ImageFolder (`<root>/train/<class>/*`, `<root>/val/<class>/*`).
 * Writes last.pth.tar / model_best.pth.tar (timm layout, torch-loadable) and summary.csv
 * to --output; --resume continues a killed run exactly.
 */
import { availableParallelism } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_FASHION_MNIST_DIR } from '../../data/fashion-mnist.js';
import { parseRandAugment } from '../../data/augment/rand-augment.js';
import { buildSpec } from '../../spec/index.js';
import { clobberedInput } from '../../node/output-guard.js';
import {
  BEST_CHECKPOINT,
  DEFAULT_TRAIN_OPTIONS,
  LAST_CHECKPOINT,
  SUMMARY_FILE,
  TRAIN_OPTION_TABLE,
  type TrainOptions,
} from '../../train/options.js';
import { UsageError } from '../errors.js';
import { addTableOptions, intFlag, longFlag, readTableOptions } from '../flags.js';

/** Flags of the command itself, not trainer options. */
interface CommandFlags {
  logInterval: number;
  nproc?: number;
}

const HELP = `
Datasets:
  fashion-mnist  the four IDX files in --data-dir (default ${DEFAULT_FASHION_MNIST_DIR});
                 32x32 input, random crop (pad 2) + flip, 10 classes.
  imagefolder    --data-dir <root> with <root>/train/<class>/<image> and <root>/val/<class>/<image>
                 (also training/, validation/, valid/, eval/); classes = sorted training folder names,
                 --num-classes defaults to their number. Train transform = timm's transforms_imagenet_train:
                 RandomResizedCrop(--input-size, --scale, --ratio, --train-interpolation) -> flip (--hflip)
                 -> RandAugment (--aa rand-m9-mstd0.5) or ColorJitter (--color-jitter) -> normalize
                 -> RandomErasing (--reprob, --remode). Eval: resize to size/0.875 (bilinear), centre crop.
                 Images are decoded by --workers threads ahead of each step; unreadable ones are skipped
                 with a warning.

Fine-tuning:
  --initial-checkpoint W loads W's weights; a classifier of another size (e.g. ImageNet's 1000
  classes) is re-initialized for this dataset. --freeze-stages N freezes conv_stem, bn1 and
  blocks.0..N-1 (no gradient, no update, BatchNorm running statistics kept).

Examples:
  repghost train --output runs/fmnist
  repghost train --dataset imagefolder --data-dir flowers --input-size 224 -b 64 --epochs 30 \\
    --opt adamw --lr 1e-3 --weight-decay 0.05 --aa rand-m9-mstd0.5 --reprob 0.25 \\
    --initial-checkpoint repghostnet_0_5x_43M_66.95.pth.tar --freeze-stages 3 --output runs/flowers
  repghost train --resume runs/flowers/last.pth.tar <the same flags>`;

export function register(program: Command): void {
  const cmd = program
    .command('train')
    .description('train a RepGhostNet (timm train.py recipe) on Fashion-MNIST or an ImageFolder, with exact --resume');
  addTableOptions(cmd, TRAIN_OPTION_TABLE)
    .option(
      '--log-interval <n>',
      'steps between progress lines when stderr is not a terminal',
      intFlag('--log-interval'),
      50,
    )
    .option(
      '--nproc <n>',
      'data-parallel on this machine: start mpirun with n processes of this command (-b is per process)',
      intFlag('--nproc', 1, 4096),
    )
    .addHelpText('after', HELP)
    .action(async (f: CommandFlags & Record<string, unknown>) => {
      const options = optionsFromFlags(f);
      const { launcherWorldSize } = await import('../../distributed/mpi.js');
      if (f.nproc !== undefined) {
        const cores = availableParallelism();
        if (f.nproc > 4 * cores) {
          throw new UsageError(
            `--nproc ${f.nproc} is more than 4 processes per core on this ${cores}-core machine; ` +
              `for several machines use mpirun -H`,
          );
        }
        if (launcherWorldSize() !== null)
          throw new UsageError('--nproc starts mpirun itself: leave it out when the command already runs under mpirun');
        const { launchRanks } = await import('../../distributed/launch.js');
        process.exitCode = await launchRanks(f.nproc);
        return;
      }
      if (launcherWorldSize() !== null) {
        await trainRank(options, f.logInterval);
        return;
      }
      // TensorFlow.js loads only when training runs, not at every CLI start.
      const [{ train }, { progressHooks }] = await Promise.all([
        import('../../train/trainer.js'),
        import('../../train/progress.js'),
      ]);
      const hooks = progressHooks({ every: f.logInterval });
      const outcome = await train(options, hooks).finally(() => hooks.stop());
      outcome.final.dispose();
      if (outcome.status === 'nan') {
        process.stderr.write(`repghost: ${outcome.message}\n`);
        process.exitCode = 1;
        return;
      }
      const best =
        outcome.bestMetric === null
          ? ''
          : `; best top-1 ${outcome.bestMetric.toFixed(2)} at epoch ${outcome.bestEpoch}`;
      process.stderr.write(`done (${outcome.backend}): ${outcome.history.length} epochs in ${options.output}${best}\n`);
    });
}

/**
 * One rank of a data-parallel job (started by mpirun): rank 0 shows progress; an error on
 * any rank is printed with its rank and ends the whole job (MPI_Abort), so no rank waits
 * forever in a collective; a clean end leaves MPI cleanly.
 */
async function trainRank(options: TrainOptions, logInterval: number): Promise<void> {
  const [{ train }, { progressHooks }, { joinWorld, launcherRank }] = await Promise.all([
    import('../../train/trainer.js'),
    import('../../train/progress.js'),
    import('../../distributed/mpi.js'),
  ]);
  let comm;
  try {
    comm = joinWorld()!;
  } catch (e) {
    // No binding: usually every rank fails the same way. Rank 0 says so at once; the others wait
    // (mpirun ends the job, and them, when rank 0 exits), and speak only if rank 0 did not fail.
    if (launcherRank() === 0) throw e;
    await new Promise((resolve) => setTimeout(resolve, 5000));
    throw e;
  }
  const hooks = progressHooks({ every: logInterval });
  let outcome;
  try {
    outcome = await train(options, hooks).finally(() => hooks.stop());
  } catch (e) {
    const verbose = process.argv.includes('--verbose');
    process.stderr.write(
      `repghost: rank ${comm.rank}: ${(e as Error).message.replace(/\s*\n\s*/g, ' ')}` +
        `\n${verbose ? `${(e as Error).stack}\n` : ''}`,
    );
    return comm.abort(1);
  }
  outcome.final.dispose();
  if (outcome.status === 'nan') {
    if (comm.rank === 0) process.stderr.write(`repghost: ${outcome.message}\n`);
    comm.finalize();
    process.exitCode = 1;
    return;
  }
  comm.finalize();
  if (comm.rank !== 0) return;
  const best =
    outcome.bestMetric === null ? '' : `; best top-1 ${outcome.bestMetric.toFixed(2)} at epoch ${outcome.bestEpoch}`;
  const d = outcome.distributed;
  const share = d ? `; allreduce ${(100 * d.allreduceShare).toFixed(1)} % of the step` : '';
  process.stderr.write(
    `done (${outcome.backend}, ${comm.size} processes): ` +
      `${outcome.history.length} epochs in ${options.output}${best}${share}\n`,
  );
}

/** Checks the flags together and turns them into trainer options (UsageError for any bad value). */
function optionsFromFlags(flags: Record<string, unknown>): TrainOptions {
  const given = readTableOptions<TrainOptions>(flags, TRAIN_OPTION_TABLE);
  const o = { ...DEFAULT_TRAIN_OPTIONS, ...given } as TrainOptions;
  if (o.resume && o.initialCheckpoint) throw new UsageError('--resume and --initial-checkpoint exclude each other');
  // A run's files must not replace the checkpoint it starts from (#14).
  const outputs = [LAST_CHECKPOINT, BEST_CHECKPOINT, SUMMARY_FILE].map((n) => path.join(o.output, n));
  if (o.initialCheckpoint && outputs.some((file) => clobberedInput(file, [o.initialCheckpoint]))) {
    throw new UsageError(
      `--initial-checkpoint ${o.initialCheckpoint} is one of the files this run writes in ${o.output}: ` +
        `copy it elsewhere first`,
    );
  }
  if (o.pretrained && (o.resume || o.initialCheckpoint))
    throw new UsageError(`--pretrained and ${o.resume ? '--resume' : '--initial-checkpoint'} exclude each other`);
  if (o.source && !o.pretrained) throw new UsageError('--source goes with --pretrained');
  if (o.dataset !== 'imagefolder') {
    const stray = Object.keys(given).filter((k) => TRAIN_OPTION_TABLE[k as keyof TrainOptions].imagefolderOnly);
    if (stray.length) {
      const names = stray.map((k) => longFlag(TRAIN_OPTION_TABLE[k as keyof TrainOptions]));
      throw new UsageError(`${names.join(', ')} appl${stray.length > 1 ? 'y' : 'ies'} to --dataset imagefolder only`);
    }
    o.inputSize = 32;
  }
  if (o.dataset === 'imagefolder') {
    if (!given.dataDir)
      throw new UsageError(
        '--dataset imagefolder needs --data-dir <root> ' +
          '(with <root>/train/<class>/<image> and <root>/val/<class>/<image>)',
      );
    if (given.evalBatchSize === undefined) o.evalBatchSize = o.batchSize;
  }
  if (o.freezeStages !== undefined) {
    const stages = buildSpec(o.model).stages.length;
    if (o.freezeStages > stages)
      throw new UsageError(
        `--freeze-stages takes 0..${stages} for ${o.model} (the stem and up to its ${stages} stages), ` +
          `got ${o.freezeStages}`,
      );
  }
  if (o.aa !== null) {
    try {
      parseRandAugment(o.aa);
    } catch (e) {
      throw new UsageError(`--aa: ${(e as Error).message}`);
    }
  }
  return o;
}
