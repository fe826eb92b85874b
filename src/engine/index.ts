/** Engine-agnostic ONNX Runtime inference (browser-safe; the Node binding is `./node.js`). */
export {
  OrtEngine,
  type OrtModule,
  type OrtSessionLike,
  type OrtSessionOptions,
  type OrtTensorLike,
  type FloatTensor,
} from './ort-engine.js';
