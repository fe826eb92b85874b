/** ONNX emission from the model spec (pure TypeScript, browser-safe). */
export {
  exportOnnx,
  featureOutputName,
  INPUT_NAME,
  LOGITS_NAME,
  type GraphMode,
  type OnnxExportOptions,
} from './emit.js';
export { allTaps, timmFeatureTaps, lastPerStrideTaps, checkTaps, type TapName, type TapInfo } from './taps.js';
export { decodeModel, encodeModel, OPSET, IR_VERSION } from './proto.js';
