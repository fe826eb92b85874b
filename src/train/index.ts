/**
 * Training with TensorFlow.js (Node): the RepGhostNet training graph built from the
 * spec, PyTorch-exact train-mode BN / label smoothing / SGD and AdamW / timm schedules
 * and EMA, Fashion-MNIST and ImageFolder data (timm's augmentations, data workers),
 * fine-tuning (classifier re-initialization, frozen stages), timm-compatible checkpoints
 * with exact resume, and reports.
 */
export { initTrainingBackend, registerTrainingKernels, type BackendOptions, type TrainBackendName } from './backend.js';
export { type OptimizerName, type DatasetName } from './options.js';
export {
  train,
  DEFAULT_TRAIN_OPTIONS,
  LAST_CHECKPOINT,
  BEST_CHECKPOINT,
  SUMMARY_FILE,
  type TrainOptions,
  type TrainHooks,
  type TrainOutcome,
  type StepProgress,
} from './trainer.js';
export { trainStep, BN_MOMENTUM, type StepInputs, type StepResult } from './train-step.js';
export { forward, type WeightSource, type ForwardOptions, type BnStatTensors } from './network.js';
export {
  ModelState,
  bnNames,
  floatStateToStateDict,
  stateDictToFloatState,
  type BnBuffers,
  type FloatState,
} from './state.js';
export { paramLayouts, torchToTf, tfToTorch, type ParamLayout, type ParamKind } from './layout.js';
export { Sgd, type SgdOptions, type SgdState, type SgdParamGroup } from './sgd.js';
export { AdamW, type AdamWOptions, type AdamWParamGroup } from './adamw.js';
export { createOptimizer } from './create-optimizer.js';
export {
  timmParamGroups,
  type Optimizer,
  type OptimizerState,
  type ParamGroup,
  type ParamState,
  type SgdParamState,
  type AdamWParamState,
} from './optimizer.js';
export { frozenParts, frozenPrefixes, type FrozenParts } from './freeze.js';
export { loadInitialWeights, modelFromInitialStateDict, type InitialWeights } from './initial-weights.js';
export { openTrainingData } from './data/open.js';
export { ImageFolderData, type ImageFolderDataOptions } from './data/imagefolder-source.js';
export { FashionMnistData } from './data/fashion-source.js';
export type { TrainingData, DataBatch, EpochBatches, SkippedImage } from './data/source.js';
export { ModelEma } from './ema.js';
export {
  cosineLr,
  stepLr,
  scheduledLr,
  type CosineSchedule,
  type StepSchedule,
  type Schedule,
  type ScheduleName,
} from './lr-schedule.js';
export { labelSmoothingCrossEntropy } from './loss.js';
export { Rng, type RngState } from './rng.js';
export { evaluate, evaluateStream, EvalAccumulator, type EvalResult, type LabelledBatch } from './evaluate.js';
export { EvalWeights } from './weights.js';
export {
  encodeCheckpoint,
  decodeCheckpoint,
  peekCheckpoint,
  checkpointTree,
  defaultOptimizerOrder,
  type TrainingCheckpoint,
  type TrainerExtras,
  type SummaryRow,
} from './checkpoint.js';
export { summaryCsv, parseSummaryCsv, SUMMARY_COLUMNS } from './summary.js';
export { writeReport, reportCharts, reportHtml, lineChartPng } from './report.js';
export { batchNormTrain, type BnAttrs } from './kernels/batch-norm.js';
