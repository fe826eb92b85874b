/**
 * Input pipelines: an RGB image in, the model input (CHW float32) and the picture the
 * model sees out. ImageNet models use the library's PIL-exact eval pipeline (the same
 * numbers as Node); the shipped Fashion-MNIST model uses its training input recipe.
 */
import {
  DEFAULT_PREPROCESS,
  FASHION_DEFAULTS,
  fashionInput,
  preprocess,
  resizeAndCrop,
  type FashionConfig,
  type Interpolation,
  type InvertMode,
  type RgbImage,
} from '../../src/browser/index.js';

export { FASHION_DEFAULTS, type FashionConfig, type InvertMode };

/** One model's input preparation. */
export interface Pipeline {
  /** Side of the square model input. */
  size: number;
  /** Short description for the page ("224 crop, bicubic, ImageNet mean/std"). */
  describe: string;
  prepare(image: RgbImage): { input: Float32Array; picture: RgbImage };
}

/** timm's ImageNet eval pipeline (shorter side to 256, center 224, mean/std) with the chosen resize filter. */
export function imagenetPipeline(interpolation: Interpolation): Pipeline {
  const config = { ...DEFAULT_PREPROCESS, interpolation };
  return {
    size: config.size,
    describe:
      `shorter side to ${Math.floor(config.size / config.cropPct)} (${interpolation}), ` +
      `center ${config.size} crop, ImageNet mean/std`,
    prepare(image) {
      // The crop before normalization is exactly what the model sees; no need to invert.
      return { input: preprocess(image, config), picture: resizeAndCrop(image, config) };
    },
  };
}

/**
 * The Fashion-MNIST recipe for any image (the library's `fashionInput`: gray, inverted
 * when it looks dark-on-light, fitted into 28x28, then exactly the training input).
 */
export function fashionPipeline(config: FashionConfig, invert: InvertMode = 'auto'): Pipeline {
  const inverted =
    invert === 'auto' ? 'inverted if the background is light' : invert === 'yes' ? 'inverted' : 'not inverted';
  return {
    size: config.size,
    describe:
      `gray, ${inverted}, fitted to ${config.sourceSize}x${config.sourceSize}, ` +
      `bilinear to ${config.size}, mean ${config.mean} / std ${config.std}`,
    prepare(image) {
      const { input, picture } = fashionInput(image, invert, config);
      return { input, picture };
    },
  };
}
