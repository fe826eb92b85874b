/**
 * Training with TensorFlow.js (Node): the RepGhostNet training graph built from the
 * spec, PyTorch-exact train-mode BN / label smoothing / Nesterov SGD / timm schedule
 * and EMA, timm-compatible checkpoints with exact resume, and reports.
 */
export { initTrainingBackend, registerTrainingKernels, type BackendOptions, type TrainBackendName } from './backend.js';
export { train, DEFAULT_TRAIN_OPTIONS, LAST_CHECKPOINT, BEST_CHECKPOINT, SUMMARY_FILE, type TrainOptions, type TrainHooks, type TrainOutcome, type StepProgress } from './trainer.js';
export { trainStep, BN_MOMENTUM, type StepInputs, type StepResult } from './train-step.js';
export { forward, type WeightSource, type ForwardOptions, type BnStatTensors } from './network.js';
export { ModelState, bnNames, floatStateToStateDict, stateDictToFloatState, type BnBuffers, type FloatState } from './state.js';
export { paramLayouts, torchToTf, tfToTorch, type ParamLayout, type ParamKind } from './layout.js';
export { Sgd, type SgdOptions, type SgdState, type SgdParamGroup } from './sgd.js';
export { ModelEma } from './ema.js';
export { cosineLr, type CosineSchedule } from './lr-schedule.js';
export { labelSmoothingCrossEntropy } from './loss.js';
export { Rng, type RngState } from './rng.js';
export { evaluate, type EvalResult } from './evaluate.js';
export { EvalWeights } from './weights.js';
export { encodeCheckpoint, decodeCheckpoint, checkpointTree, type TrainingCheckpoint, type TrainerExtras, type SummaryRow } from './checkpoint.js';
export { summaryCsv, parseSummaryCsv, SUMMARY_COLUMNS } from './summary.js';
export { writeReport, reportCharts, reportHtml, lineChartPng } from './report.js';
export { batchNormTrain, type BnAttrs } from './kernels/batch-norm.js';
