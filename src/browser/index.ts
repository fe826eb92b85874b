/**
 * repghost for browsers: the browser-safe layers of the library (spec, checkpoint
 * reading, re-parameterization, ONNX emission, PIL-exact preprocessing, the ORT engine)
 * plus onnxruntime-web and browser image decoding. Imports nothing Node-only.
 */
export { RepGhost, browserRuntime, readBytes, type BrowserLoadOptions } from './runtime.js';
export {
  loadOrtWeb,
  chooseBackend,
  webgpuUnavailableReason,
  canUseThreads,
  defaultThreads,
  type WebBackend,
  type WebOrt,
  type WebOrtOptions,
  type WebSessionOptions,
  type BackendChoice,
} from './ort.js';
export {
  decodeImageBlob,
  bitmapToRgb,
  dropAlpha,
  ImageDecodeError,
  DEFAULT_MAX_PIXELS,
  PIL_LIKE_BITMAP_OPTIONS,
  type DecodedImage,
  type BrowserDecodeOptions,
} from './decode.js';

// ---- The shared, browser-safe library layers ----
export {
  RepGhostModel,
  type ImageInput,
  type ModelOptions,
  type RepGhostRuntime,
  type TapSelection,
  type ClassifyOptions,
} from '../api/model.js';
export { IMAGENET_CLASSES } from '../api/imagenet-classes.js';
export { resolveLabels } from '../api/labels.js';
export { softmax, topK, rank, logitsRow, type Prediction } from '../api/postprocess.js';
export { exportOnnx, INPUT_NAME, LOGITS_NAME, type GraphMode, type OnnxExportOptions } from '../onnx/index.js';
export { OrtEngine, type OrtModule, type OrtSessionOptions, type FloatTensor } from '../engine/ort-engine.js';
export { buildSpec, modelNames, resolveModelName, type ModelSpec } from '../spec/index.js';
export { loadWeights, type LoadOptions as LoadWeightsOptions, type LoadedWeights } from '../reparam/load.js';
export { toDeploy, foldAllBatchNorms } from '../reparam/fuse.js';
export { countModel } from '../reparam/count.js';
export {
  preprocess,
  resolvePreprocessConfig,
  resizeAndCrop,
  resizePil,
  modelInputToRgb,
  DEFAULT_PREPROCESS,
  type PreprocessConfig,
  type RgbImage,
  type Interpolation,
} from '../data/preprocess.js';
export {
  fashionInput,
  FASHION_DEFAULTS,
  FASHION_MNIST_CLASSES,
  type FashionConfig,
  type FashionInput,
  type InvertMode,
} from '../data/fashion-input.js';

// ---- Pretrained weights: fetch + Cache API (the Node resolver is in `repghost` and `repghost/hub`) ----
export { fetchPretrained, type FetchedPretrained, type BrowserResolveOptions, type CacheStorageLike } from './hub.js';
export * from '../hub/registry.js';
export { HubError, type HubErrorCode } from '../hub/errors.js';
