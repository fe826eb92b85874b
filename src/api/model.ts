/**
 * The library's model object, runtime-agnostic: weights bytes in, an ONNX graph built
 * from the spec, an ONNX Runtime session, and classify / infer / features on top.
 * The Node binding (`./node.ts`) supplies onnxruntime-node, file reading and sharp
 * decoding; a browser binding supplies onnxruntime-web and canvas decoding.
 */
import type { ModelSpec } from '../spec/model-spec.js';
import type { Form } from '../spec/layers.js';
import { loadWeights, type LoadedWeights } from '../reparam/load.js';
import type { StateDict } from '../weights/tensor.js';
import { exportOnnx, featureOutputName } from '../onnx/emit.js';
import { allTaps, checkTaps, lastPerStrideTaps, timmFeatureTaps, type TapInfo, type TapName } from '../onnx/taps.js';
import { OrtEngine, type FloatTensor, type OrtModule, type OrtSessionOptions } from '../engine/ort-engine.js';
import { preprocess, resolvePreprocessConfig, type PreprocessConfig, type RgbImage } from '../data/preprocess.js';
import { resolveLabels } from './labels.js';
import { logitsRow, rank, type Prediction } from './postprocess.js';

/** An image: a path (Node) or URL (browser), encoded file bytes, or decoded RGB pixels. */
export type ImageInput = string | Uint8Array | RgbImage;

/** What a platform provides: the ORT module, its session options and image decoding. */
export interface RepGhostRuntime {
  ort: OrtModule;
  sessionOptions: OrtSessionOptions;
  /** Decodes a path/URL or encoded bytes to RGB, EXIF orientation applied. */
  decodeImage(input: string | Uint8Array): Promise<RgbImage>;
}

/** Options shared by every platform's `load`. */
export interface ModelOptions {
  /** Model name (official or timm); default: the checkpoint's `arch`, else what the keys fit. */
  model?: string;
  /** Use the EMA weights (`state_dict_ema`) of a training checkpoint. */
  ema?: boolean;
  /** Class names in index order; default ImageNet-1k's for 1000 classes, else `class <i>`. */
  labels?: readonly string[];
  /**
   * Eval preprocessing (default timm's: 224, crop 0.875, bicubic, ImageNet mean/std).
   * The official checkpoints were evaluated with `interpolation: 'bilinear'`.
   */
  preprocess?: PreprocessConfig;
  /** File name for messages. */
  fileName?: string;
}

/**
 * Which feature maps `features()` returns: a list of taps, or
 * - `'timm'`: timm's `features_only` taps conv_stem, blocks.1, blocks.3, blocks.5, blocks.7
 *   (strides 2, 4, 8, 16, 32; the first stage of each stride, conv_stem before bn1);
 * - `'last-per-stride'`: blocks.0, blocks.2, blocks.4, blocks.6, blocks.9 (the last stage
 *   of each stride);
 * - `'all'`: every tap (conv_stem, act1, blocks.0 ... blocks.9, pre_logits).
 */
export type TapSelection = 'timm' | 'last-per-stride' | 'all' | readonly TapName[];

/** Options of {@link RepGhostModel.classify}. */
export interface ClassifyOptions {
  /** How many classes to return (default 5). */
  topk?: number;
}

/** A loaded RepGhostNet: one ONNX Runtime session on the BN-folded deploy graph. */
export class RepGhostModel {
  /** Architecture of the loaded weights. */
  readonly spec: ModelSpec;
  /** Form the weights file held ('train' or 'deploy'); inference always runs the folded deploy graph. */
  readonly form: Form;
  /** Class names, index order. */
  readonly labels: readonly string[];
  /** Resolved preprocessing settings. */
  readonly preprocessConfig: Required<PreprocessConfig>;
  /** How the model was chosen when not named (e.g. "keys fit 0.5x and wo_0_5x: using 0.5x"). */
  readonly note: string | undefined;
  /** What the weights file said about itself (arch, epoch, metric, args such as `class_names`). */
  readonly meta: LoadedWeights['meta'];
  private readonly deploy: StateDict;
  private featureEngine: Promise<OrtEngine> | null = null;
  private disposed = false;

  protected constructor(
    private readonly runtime: RepGhostRuntime,
    loaded: LoadedWeights,
    private readonly engine: OrtEngine,
    labels: readonly string[],
    preprocessConfig: Required<PreprocessConfig>,
  ) {
    this.spec = loaded.spec;
    this.form = loaded.form;
    this.deploy = loaded.deploy;
    this.note = loaded.note;
    this.meta = loaded.meta;
    this.labels = labels;
    this.preprocessConfig = preprocessConfig;
  }

  /**
   * Loads weights (any supported checkpoint bytes) on a runtime. Throws one readable
   * error when the file is unreadable or does not fit the model (naming the one it fits).
   */
  static async fromWeights(
    runtime: RepGhostRuntime,
    weights: Uint8Array,
    options: ModelOptions = {},
  ): Promise<RepGhostModel> {
    const loaded = loadWeights(weights, {
      ...(options.model ? { model: options.model } : {}),
      ema: !!options.ema,
      ...(options.fileName ? { fileName: options.fileName } : {}),
    });
    // Settle labels and preprocessing first: their errors should not wait for a session.
    const labels = resolveLabels(loaded.spec.numClasses, options.labels);
    const config = resolvePreprocessConfig(options.preprocess);
    const graph = exportOnnx(loaded.spec, loaded.deploy, { mode: 'deploy', inputSize: [config.size, config.size] });
    const engine = await OrtEngine.create(runtime.ort, graph, runtime.sessionOptions);
    return new RepGhostModel(runtime, loaded, engine, labels, config);
  }

  /** Classifier outputs. */
  get numClasses(): number {
    return this.spec.numClasses;
  }

  /** Every feature tap with its stride and channels. */
  get taps(): TapInfo[] {
    return allTaps(this.spec);
  }

  private get size(): number {
    return this.preprocessConfig.size;
  }

  private alive(): void {
    if (this.disposed) throw new Error('this model was disposed');
  }

  /** Decodes (if needed) and preprocesses one image to a [3, size, size] float32 CHW tensor. */
  async preprocess(image: ImageInput): Promise<Float32Array> {
    const rgb =
      typeof image === 'string' || image instanceof Uint8Array ? await this.runtime.decodeImage(image) : image;
    return preprocess(rgb, this.preprocessConfig);
  }

  /** Preprocesses images into one [n, 3, size, size] batch. */
  async preprocessBatch(images: readonly ImageInput[]): Promise<Float32Array> {
    const plane = 3 * this.size * this.size;
    const batch = new Float32Array(images.length * plane);
    for (let i = 0; i < images.length; i++) batch.set(await this.preprocess(images[i]!), i * plane);
    return batch;
  }

  /**
   * Logits [n, numClasses] (row-major) of a preprocessed batch `[n, 3, size, size]`.
   */
  async infer(batch: Float32Array, n: number): Promise<Float32Array> {
    this.alive();
    return this.engine.logits(batch, n, this.size, this.size);
  }

  /** The top-k classes of one image, most probable first. */
  async classify(image: ImageInput, options: ClassifyOptions = {}): Promise<Prediction[]> {
    return (await this.classifyBatch([image], options))[0]!;
  }

  /** The top-k classes of each image, in one batch. */
  async classifyBatch(images: readonly ImageInput[], options: ClassifyOptions = {}): Promise<Prediction[][]> {
    const k = options.topk ?? 5;
    if (!Number.isInteger(k) || k < 1) throw new RangeError(`topk must be a positive integer, got ${k}`);
    if (images.length === 0) return [];
    const logits = await this.infer(await this.preprocessBatch(images), images.length);
    return images.map((_, i) => rank(logitsRow(logits, this.numClasses, i), this.labels, k));
  }

  /** Feature maps of one image, keyed by tap name ([1, C, H, W]; pre_logits [1, 1280]). */
  async features(image: ImageInput, options: { taps?: TapSelection } = {}): Promise<Record<string, FloatTensor>> {
    return this.inferFeatures(await this.preprocess(image), 1, options);
  }

  /** Feature maps of a preprocessed batch [n, 3, size, size], keyed by tap name. */
  async inferFeatures(
    batch: Float32Array,
    n: number,
    options: { taps?: TapSelection } = {},
  ): Promise<Record<string, FloatTensor>> {
    this.alive();
    const taps = this.selectTaps(options.taps ?? 'timm');
    // A second session whose graph outputs every tap; created on first use so plain
    // classification keeps the leaner graph (extra outputs block some ORT fusions).
    this.featureEngine ??= OrtEngine.create(
      this.runtime.ort,
      exportOnnx(this.spec, this.deploy, {
        mode: 'deploy',
        inputSize: [this.size, this.size],
        features: allTaps(this.spec).map((t) => t.name),
      }),
      this.runtime.sessionOptions,
    );
    const out = await (await this.featureEngine).run(batch, n, this.size, this.size, taps.map(featureOutputName));
    return Object.fromEntries(taps.map((t) => [t, out.get(featureOutputName(t))!]));
  }

  private selectTaps(sel: TapSelection): TapName[] {
    if (sel === 'timm') return timmFeatureTaps(this.spec);
    if (sel === 'last-per-stride') return lastPerStrideTaps(this.spec);
    if (sel === 'all') return allTaps(this.spec).map((t) => t.name);
    return checkTaps(this.spec, sel);
  }

  /** Releases the ONNX Runtime sessions. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.engine.dispose();
    if (this.featureEngine) await (await this.featureEngine).dispose();
  }
}
