/**
 * ONNX Runtime inference, engine-agnostic: the `ort` module is a parameter, so the same
 * code runs on onnxruntime-node (native CPU) and onnxruntime-web (wasm / WebGPU in a
 * browser), which share the InferenceSession / Tensor API. Nothing here imports either.
 */
import { INPUT_NAME, LOGITS_NAME } from '../onnx/emit.js';

/** The part of an ORT tensor we read. */
export interface OrtTensorLike {
  readonly data: unknown;
  readonly dims: readonly number[];
  readonly type: string;
  dispose?(): void;
}

/**
 * Session options both runtimes understand (a subset of `InferenceSession.SessionOptions`;
 * execution providers are left to each binding's defaults: CPU in Node, wasm on the web).
 */
export interface OrtSessionOptions {
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  executionMode?: 'sequential' | 'parallel';
}

/** The part of an ORT InferenceSession we use. */
export interface OrtSessionLike {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, OrtTensorLike>, fetches: readonly string[]): Promise<Record<string, OrtTensorLike>>;
  release(): Promise<void>;
}

/** The part of an `onnxruntime-node` / `onnxruntime-web` module we use. */
export interface OrtModule {
  InferenceSession: { create(model: Uint8Array, options?: OrtSessionOptions): Promise<OrtSessionLike> };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensorLike;
}

/** A float32 output: row-major data and its dims. */
export interface FloatTensor {
  dims: number[];
  data: Float32Array;
}

/** An inference session on one ONNX model with input `input` [N, 3, H, W] and output `logits`. */
export class OrtEngine {
  private constructor(
    private readonly ort: OrtModule,
    private readonly session: OrtSessionLike,
  ) {}

  /**
   * Creates a session from model bytes. Graph optimizations default to `all` (ORT's
   * Conv+Add+ReLU fusions and NCHWc layouts are where its CPU speed comes from).
   */
  static async create(ort: OrtModule, model: Uint8Array, options: OrtSessionOptions = {}): Promise<OrtEngine> {
    const session = await ort.InferenceSession.create(model, { graphOptimizationLevel: 'all', ...options });
    if (!session.inputNames.includes(INPUT_NAME)) {
      throw new Error(`ONNX model has inputs [${session.inputNames.join(', ')}], expected '${INPUT_NAME}'`);
    }
    return new OrtEngine(ort, session);
  }

  /** Output names of the graph (`logits` and any `features.<tap>`). */
  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /**
   * Runs a batch: `input` holds n images as float32 NCHW (`n * 3 * height * width` values).
   * Returns the requested outputs (default: all of them).
   */
  async run(
    input: Float32Array,
    n: number,
    height = 224,
    width = 224,
    outputs: readonly string[] = this.session.outputNames,
  ): Promise<Map<string, FloatTensor>> {
    const expected = n * 3 * height * width;
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`batch size must be a positive integer, got ${n}`);
    if (input.length !== expected) {
      throw new RangeError(`input has ${input.length} values; [${n}, 3, ${height}, ${width}] needs ${expected}`);
    }
    for (const o of outputs) {
      if (!this.session.outputNames.includes(o))
        throw new Error(`ONNX model has no output '${o}' (it has ${this.session.outputNames.join(', ')})`);
    }
    const feed = new this.ort.Tensor('float32', input, [n, 3, height, width]);
    const result = await this.session.run({ [INPUT_NAME]: feed }, outputs);
    const out = new Map<string, FloatTensor>();
    for (const name of outputs) {
      const t = result[name]!;
      if (!(t.data instanceof Float32Array)) throw new Error(`output ${name} is ${t.type}, expected float32`);
      out.set(name, { dims: [...t.dims], data: t.data });
      t.dispose?.();
    }
    feed.dispose?.();
    return out;
  }

  /** Logits [n, numClasses] of a batch, row-major. */
  async logits(input: Float32Array, n: number, height = 224, width = 224): Promise<Float32Array> {
    return (await this.run(input, n, height, width, [LOGITS_NAME])).get(LOGITS_NAME)!.data;
  }

  /** Frees the native session. The engine is unusable afterwards. */
  async dispose(): Promise<void> {
    await this.session.release();
  }
}
