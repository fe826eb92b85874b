/**
 * The ONNX Runtime engine bound to onnxruntime-node (native CPU execution provider).
 * Node only; the browser binds onnxruntime-web to the same `OrtEngine`.
 */
import * as ort from 'onnxruntime-node';
import { OrtEngine, type OrtModule, type OrtSessionOptions } from './ort-engine.js';

/** Options of {@link createNodeEngine}. */
export interface NodeEngineOptions {
  /** CPU threads of one inference (ORT's intra-op pool); default: ORT's choice (all cores). */
  threads?: number;
  /** Graph optimization level (default `all`). */
  graphOptimizationLevel?: OrtSessionOptions['graphOptimizationLevel'];
}

/** onnxruntime-node as the engine-agnostic `OrtModule`. */
export const nodeOrt: OrtModule = ort;

/** Session options for onnxruntime-node from our options. */
export function nodeSessionOptions(options: NodeEngineOptions = {}): OrtSessionOptions {
  if (options.threads !== undefined && (!Number.isInteger(options.threads) || options.threads < 1)) {
    throw new RangeError(`threads must be a positive integer, got ${options.threads}`);
  }
  return {
    graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
    // One model, one request at a time: parallelism inside ops, none between them.
    executionMode: 'sequential',
    interOpNumThreads: 1,
    ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
  };
}

/** Creates an onnxruntime-node session for ONNX model bytes. */
export function createNodeEngine(model: Uint8Array, options: NodeEngineOptions = {}): Promise<OrtEngine> {
  return OrtEngine.create(nodeOrt, model, nodeSessionOptions(options));
}
