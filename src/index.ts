/**
 * repghost: RepGhostNet for TypeScript (Node entry).
 *
 * Entry points (package.json `exports`): `repghost` (this file: the library API, the lower
 * layers, ONNX Runtime in Node and the pretrained-weights resolver), `repghost/hub` (the
 * resolver alone, without ONNX Runtime or sharp), `repghost/train` (training on
 * TensorFlow.js) and `repghost/browser` (browser-safe, imports nothing Node-only).
 *
 * ```ts
 * import { RepGhost } from 'repghost';
 * const model = await RepGhost.load({ weights: 'repghostnet_0_5x.pth' }); // form and classes detected
 * console.log(await model.classify('cat.jpg', { topk: 5 }));       // [{ label, index, probability }]
 * const feats = await model.features('cat.jpg', { taps: 'timm' });  // conv_stem, blocks.1/3/5/7
 * await model.dispose();
 * ```
 *
 * Lower layers (spec, weights, re-parameterization, ONNX emission, engines,
 * preprocessing) are exported too for tools that need them.
 */

// ---- Library API ----
export { RepGhost, nodeRuntime, type LoadOptions } from './node/api.js';
export {
  RepGhostModel,
  type ImageInput,
  type ModelOptions,
  type RepGhostRuntime,
  type TapSelection,
  type ClassifyOptions,
} from './api/model.js';
export { IMAGENET_CLASSES } from './api/imagenet-classes.js';
export { resolveLabels } from './api/labels.js';
export { softmax, topK, rank, ClassificationMetrics, type Prediction } from './api/postprocess.js';

// ---- ONNX export and inference engines ----
export {
  exportOnnx,
  featureOutputName,
  INPUT_NAME,
  LOGITS_NAME,
  allTaps,
  timmFeatureTaps,
  lastPerStrideTaps,
  checkTaps,
  type GraphMode,
  type OnnxExportOptions,
  type TapName,
  type TapInfo,
} from './onnx/index.js';
export { OrtEngine, type OrtModule, type OrtSessionOptions, type FloatTensor } from './engine/index.js';
export {
  createNodeEngine,
  nodeOrt,
  nodeSessionOptions,
  loadNodeOrt,
  type NodeEngineOptions,
  type NodeOrtBackend,
  type LoadedNodeOrt,
} from './node/ort.js';

// ---- Pretrained weights (the same names as `repghost/hub`) ----
export * from './hub/index.js';

// ---- Model spec, weights, re-parameterization, preprocessing ----
export {
  buildSpec,
  modelNames,
  resolveModelName,
  stateDictKeys,
  layers,
  type ModelSpec,
  type Form,
} from './spec/index.js';
export { readCheckpoint, selectWeights, type CheckpointContents } from './weights/checkpoint.js';
export { readPth, writePth } from './weights/pth.js';
export { readSafetensors, writeSafetensors } from './weights/safetensors.js';
export { detectForm, WeightsMismatchError } from './weights/match.js';
export type { Tensor, StateDict, DType } from './weights/tensor.js';
export { loadWeights, type LoadOptions as LoadWeightsOptions, type LoadedWeights } from './reparam/load.js';
export { toDeploy, foldAllBatchNorms } from './reparam/fuse.js';
export { countModel } from './reparam/count.js';
export {
  preprocess,
  DEFAULT_PREPROCESS,
  type PreprocessConfig,
  type RgbImage,
  type Interpolation,
} from './data/preprocess.js';
export { decodeImageFile } from './node/decode.js';
