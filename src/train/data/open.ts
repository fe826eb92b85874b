/** Opens the dataset of a run's options as {@link TrainingData}. */
import { IMAGENET_MEAN, IMAGENET_STD } from '../../data/augment/transforms.js';
import { IMAGEFOLDER_EVAL, type TrainOptions } from '../options.js';
import { FashionMnistData } from './fashion-source.js';
import { ImageFolderData } from './imagefolder-source.js';
import type { TrainingData } from './source.js';

/** Fashion-MNIST from its IDX files, or an ImageFolder root with timm's train / eval pipelines. */
export async function openTrainingData(o: TrainOptions): Promise<TrainingData> {
  // A plain string: a JavaScript caller is not bound by the DatasetName type, so check it here.
  const dataset: string = o.dataset;
  if (dataset === 'fashion-mnist') return FashionMnistData.open(o.dataDir, o.hflip, o.trainLimit, o.evalLimit);
  if (dataset !== 'imagefolder') throw new Error(`dataset '${dataset}' is not supported (fashion-mnist, imagefolder)`);
  return ImageFolderData.open({
    root: o.dataDir,
    train: {
      size: o.inputSize,
      scale: o.scale,
      ratio: o.ratio,
      interpolation: o.trainInterpolation,
      hflip: o.hflip,
      autoAugment: o.aa,
      colorJitter: o.colorJitter,
      reprob: o.reprob,
      remode: o.remode,
      mean: IMAGENET_MEAN,
      std: IMAGENET_STD,
    },
    eval: { size: o.inputSize, ...IMAGEFOLDER_EVAL, mean: IMAGENET_MEAN, std: IMAGENET_STD },
    workers: o.workers,
    trainLimit: o.trainLimit,
    evalLimit: o.evalLimit,
  });
}
