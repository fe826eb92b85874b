/**
 * `repghost train`: trains a RepGhostNet with timm's recipe flags (train.py names),
 * on Fashion-MNIST for now. Writes last.pth.tar / model_best.pth.tar (timm layout,
 * torch-loadable) and summary.csv to --output; --resume continues a killed run exactly.
 */
import type { Command } from 'commander';
import { DEFAULT_FASHION_MNIST_DIR } from '../../data/fashion-mnist.js';
import { modelNames } from '../../spec/index.js';
import { DEFAULT_TRAIN_OPTIONS, type TrainOptions } from '../../train/options.js';
import { positiveInt, UsageError } from '../errors.js';

function num(flag: string, min = -Infinity, max = Infinity) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`${flag} takes a number in [${min}, ${max}], got '${v}'`);
    return n;
  };
}

function nonNegativeInt(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`${flag} takes a non-negative integer, got '${v}'`);
    return n;
  };
}

interface TrainFlags {
  model: string; numClasses: number; epochs: number; batchSize: number; lr: number; sched: string; minLr: number;
  warmupEpochs: number; warmupLr: number; opt: string; momentum: number; weightDecay: number; smoothing: number;
  drop: number; modelEma: boolean; modelEmaDecay: number; hflip: number; seed: number; output: string;
  resume?: string; initialCheckpoint?: string; dataset: string; dataDir: string; validationBatchSize: number;
  trainLimit?: number; evalLimit?: number; backend: string; threads?: number; logInterval: number;
}

export function register(program: Command): void {
  const d = DEFAULT_TRAIN_OPTIONS;
  program
    .command('train')
    .description('train a RepGhostNet (timm train.py recipe; Fashion-MNIST) with exact --resume')
    .option('--model <name>', `model: ${modelNames().join(', ')}`, d.model)
    .option('--num-classes <n>', 'classifier outputs', positiveInt('--num-classes'), d.numClasses)
    .option('--epochs <n>', 'epochs', positiveInt('--epochs'), d.epochs)
    .option('-b, --batch-size <n>', 'batch size (last partial batch dropped)', positiveInt('--batch-size'), d.batchSize)
    .option('--lr <x>', 'base learning rate', num('--lr', 0), d.lr)
    .option('--sched <name>', 'LR schedule (cosine, stepped per epoch)', d.sched)
    .option('--min-lr <x>', 'cosine floor', num('--min-lr', 0), d.minLr)
    .option('--warmup-epochs <n>', 'linear warm-up epochs', nonNegativeInt('--warmup-epochs'), d.warmupEpochs)
    .option('--warmup-lr <x>', 'warm-up start LR', num('--warmup-lr', 0), d.warmupLr)
    .option('--opt <name>', 'optimizer (sgd: Nesterov momentum SGD, as timm)', d.opt)
    .option('--momentum <x>', 'SGD momentum', num('--momentum', 0, 1), d.momentum)
    .option('--weight-decay <x>', 'weight decay (not on biases and 1-d parameters)', num('--weight-decay', 0), d.weightDecay)
    .option('--smoothing <x>', 'label smoothing', num('--smoothing', 0, 1), d.smoothing)
    .option('--drop <x>', 'dropout before the classifier', num('--drop', 0, 0.999), d.drop)
    .option('--model-ema', 'keep an EMA of the weights (ModelEmaV2)', d.modelEma)
    .option('--no-model-ema', 'no EMA')
    .option('--model-ema-decay <x>', 'EMA decay per step', num('--model-ema-decay', 0, 1), d.modelEmaDecay)
    .option('--hflip <p>', 'horizontal flip probability', num('--hflip', 0, 1), d.hflip)
    .option('--seed <n>', 'seed of the trainer PRNG', nonNegativeInt('--seed'), d.seed)
    .requiredOption('--output <dir>', 'output directory (checkpoints, summary.csv)')
    .option('--resume <file>', 'continue from a checkpoint of this trainer (e.g. <output>/last.pth.tar)')
    .option('--initial-checkpoint <file>', 'start from these weights (.pth, timm checkpoint or .safetensors)')
    .option('--dataset <name>', 'dataset (fashion-mnist)', d.dataset)
    .option('--data-dir <dir>', 'folder with the four Fashion-MNIST IDX files', DEFAULT_FASHION_MNIST_DIR)
    .option('--validation-batch-size <n>', 'evaluation batch size', positiveInt('--validation-batch-size'), d.evalBatchSize)
    .option('--train-limit <n>', 'use only the first n training images (quick runs)', positiveInt('--train-limit'))
    .option('--eval-limit <n>', 'use only the first n test images (quick runs)', positiveInt('--eval-limit'))
    .option('--log-interval <n>', 'steps between progress lines when stderr is not a terminal', positiveInt('--log-interval'), 50)
    .option('--backend <name>', 'tfjs backend: wasm or cpu', 'wasm')
    .option('--threads <n>', 'wasm threads (ignored in Node: tfjs-backend-wasm runs single-threaded there)', positiveInt('--threads'))
    .action(async (f: TrainFlags) => {
      if (f.sched !== 'cosine') throw new UsageError(`--sched ${f.sched} is not supported (cosine only)`);
      if (f.opt !== 'sgd') throw new UsageError(`--opt ${f.opt} is not supported (sgd only)`);
      if (f.dataset !== 'fashion-mnist') throw new UsageError(`--dataset ${f.dataset} is not supported yet (fashion-mnist; ImageFolder training is not implemented)`);
      if (f.backend !== 'wasm' && f.backend !== 'cpu') throw new UsageError(`--backend must be wasm or cpu, got '${f.backend}'`);
      if (f.resume && f.initialCheckpoint) throw new UsageError('--resume and --initial-checkpoint exclude each other');
      const options: TrainOptions = {
        ...d, model: f.model, numClasses: f.numClasses, epochs: f.epochs, batchSize: f.batchSize, lr: f.lr, sched: 'cosine',
        minLr: f.minLr, warmupEpochs: f.warmupEpochs, warmupLr: f.warmupLr, opt: 'sgd', momentum: f.momentum,
        weightDecay: f.weightDecay, smoothing: f.smoothing, drop: f.drop, modelEma: f.modelEma, modelEmaDecay: f.modelEmaDecay,
        hflip: f.hflip, seed: f.seed, output: f.output, resume: f.resume, initialCheckpoint: f.initialCheckpoint,
        dataset: 'fashion-mnist', dataDir: f.dataDir, evalBatchSize: f.validationBatchSize, trainLimit: f.trainLimit,
        evalLimit: f.evalLimit, backend: f.backend, threads: f.threads,
      };
      // TensorFlow.js loads only when training runs, not at every CLI start.
      const [{ train }, { progressHooks }] = await Promise.all([import('../../train/trainer.js'), import('../../train/progress.js')]);
      const hooks = progressHooks({ every: f.logInterval });
      const outcome = await train(options, hooks);
      hooks.stop();
      outcome.final.dispose();
      if (outcome.status === 'nan') {
        process.stderr.write(`repghost: ${outcome.message}\n`);
        process.exitCode = 1;
        return;
      }
      const best = outcome.bestMetric === null ? '' : `; best top-1 ${outcome.bestMetric.toFixed(2)} at epoch ${outcome.bestEpoch}`;
      process.stderr.write(`done (${outcome.backend}): ${outcome.history.length} epochs in ${options.output}${best}\n`);
    });
}
