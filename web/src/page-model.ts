/**
 * A model as the page runs it: checkpoint bytes -> `loadWeights` (form detection and the
 * official re-parameterization) -> ONNX graphs emitted from the spec for the training form
 * and the BN-folded deploy form -> one onnxruntime-web session each. The same library code
 * the Node CLI runs; here it all happens in the page.
 *
 * Both forms run on every classification so the page can show their latency side by side
 * and that their logits agree (re-parameterization changes the speed, not the function).
 */
import {
  exportOnnx,
  loadWeights,
  OrtEngine,
  rank,
  countModel,
  resolveLabels,
  type LoadedWeights,
  type Prediction,
  type RgbImage,
  type WebOrt,
} from '../../src/browser/index.js';
import type { Pipeline } from './pipelines.js';
import { median } from '../../src/util/stats.js';

/** How a checkpoint should be read. */
export interface LoadRequest {
  /** Model name; undefined lets the file (arch, then keys) decide. */
  model?: string;
  ema: boolean;
  fileName: string;
}

/** Milliseconds spent in each conversion step, for the status line. */
export interface LoadTimings {
  parseAndFuse: number;
  onnx: number;
  sessions: number;
}

/** One classification with everything the page shows. */
export interface Classification {
  /** The [3, size, size] model input. */
  input: Float32Array;
  /** The crop the model sees, as an RGB picture. */
  picture: RgbImage;
  /** Deploy-form logits (the model's answer). */
  logits: Float32Array;
  /** Training-form logits, when the file has a training form. */
  logitsTrain: Float32Array | null;
  /** max |train - deploy| over the logits. */
  formDiff: number | null;
  top: Prediction[];
  /** Median latency in ms of each form over `runs` batch-1 runs. */
  latency: { deploy: number; train: number | null; runs: number };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** A loaded checkpoint with sessions for its forms. */
export class PageModel {
  private warmedUp = false;

  private constructor(
    readonly loaded: LoadedWeights,
    readonly labels: readonly string[],
    readonly pipeline: Pipeline,
    readonly graphs: { deploy: Uint8Array; train: Uint8Array | null },
    readonly web: WebOrt,
    private readonly deploy: OrtEngine,
    private readonly train: OrtEngine | null,
    readonly timings: LoadTimings,
  ) {}

  /**
   * Reads and converts a checkpoint and opens sessions on `web`. Throws the library's
   * one-line error for unreadable or mismatched weights, or a label count that does not fit.
   * Without `labels`: ImageNet's for a 1000-class head, else `class <i>`.
   */
  static async create(
    web: WebOrt,
    bytes: Uint8Array,
    req: LoadRequest,
    pipeline: Pipeline,
    labels?: readonly string[],
  ): Promise<PageModel> {
    let t = performance.now();
    const loaded = loadWeights(bytes, {
      ...(req.model ? { model: req.model } : {}),
      ema: req.ema,
      fileName: req.fileName,
    });
    const n = loaded.spec.numClasses;
    if (labels && labels.length !== n) {
      throw new Error(
        `${req.fileName}: the classifier has ${n} outputs but the page has ${labels.length} labels for it`,
      );
    }
    // ImageNet's names for a 1000-class head, else "class <i>" (the library's rule).
    const names = resolveLabels(n, labels);
    const parseAndFuse = performance.now() - t;
    t = performance.now();
    const inputSize: [number, number] = [pipeline.size, pipeline.size];
    const deployGraph = exportOnnx(loaded.spec, loaded.deploy, { mode: 'deploy', inputSize });
    // A deploy-form file has no training form left to run (its fusion branches are folded).
    const trainGraph =
      loaded.form === 'train' ? exportOnnx(loaded.spec, loaded.stateDict, { mode: 'train', inputSize }) : null;
    const onnx = performance.now() - t;
    const graphs = { deploy: deployGraph, train: trainGraph };
    const { deploy, train, ms } = await PageModel.openSessions(web, graphs);
    return new PageModel(loaded, names, pipeline, graphs, web, deploy, train, { parseAndFuse, onnx, sessions: ms });
  }

  private static async openSessions(
    web: WebOrt,
    graphs: PageModel['graphs'],
  ): Promise<{ deploy: OrtEngine; train: OrtEngine | null; ms: number }> {
    const t = performance.now();
    const deploy = await OrtEngine.create(web.ort, graphs.deploy, web.sessionOptions);
    let train: OrtEngine | null;
    try {
      train = graphs.train ? await OrtEngine.create(web.ort, graphs.train, web.sessionOptions) : null;
    } catch (e) {
      await deploy.dispose();
      throw e;
    }
    return { deploy, train, ms: performance.now() - t };
  }

  /** The same weights on another ORT build (execution provider switch); this model stays usable. */
  async rebind(web: WebOrt): Promise<PageModel> {
    const { deploy, train, ms } = await PageModel.openSessions(web, this.graphs);
    return new PageModel(this.loaded, this.labels, this.pipeline, this.graphs, web, deploy, train, {
      ...this.timings,
      sessions: ms,
    });
  }

  /** Same sessions, another preprocessing (e.g. bicubic vs bilinear resize). */
  withPipeline(pipeline: Pipeline): PageModel {
    if (pipeline.size !== this.pipeline.size)
      throw new Error('internal: a pipeline change cannot change the input size');
    return new PageModel(
      this.loaded,
      this.labels,
      pipeline,
      this.graphs,
      this.web,
      this.deploy,
      this.train,
      this.timings,
    );
  }

  /** Parameters and MACs of both forms at the page's input size (the official counter's rules). */
  get counts(): { train: { params: number; flops: number }; deploy: { params: number; flops: number } } {
    const size: [number, number] = [this.pipeline.size, this.pipeline.size];
    return { train: countModel(this.loaded.spec, 'train', size), deploy: countModel(this.loaded.spec, 'deploy', size) };
  }

  /**
   * Preprocesses and classifies one image with both forms. `runs` timed runs per form,
   * interleaved so machine noise hits both alike; the first call also warms each session
   * up (ORT allocates and the browser tiers up its wasm on the first runs).
   */
  async classify(image: RgbImage, topk = 5, runs = 7): Promise<Classification> {
    const { input, picture } = this.pipeline.prepare(image);
    const s = this.pipeline.size;
    if (!this.warmedUp) {
      // Long enough for the browser's optimizing wasm tier: the first runs of a fresh page
      // can be several times slower and would make the comparison meaningless.
      const t0 = performance.now();
      // Fewer timed runs asked for (a slow backend): warm up as little.
      const minWarmup = Math.min(3, runs);
      for (let i = 0; i < minWarmup || (i < 30 && performance.now() - t0 < 600); i++) {
        await this.deploy.logits(input, 1, s, s);
        if (this.train) await this.train.logits(input, 1, s, s);
      }
      this.warmedUp = true;
    }
    const tDeploy: number[] = [];
    const tTrain: number[] = [];
    let logits: Float32Array = new Float32Array(0);
    // Assigned inside runTrain: the assertion keeps TypeScript from narrowing it to `null` here.
    let logitsTrain = null as Float32Array | null;
    const runDeploy = async () => {
      const t = performance.now();
      logits = await this.deploy.logits(input, 1, s, s);
      tDeploy.push(performance.now() - t);
    };
    const runTrain = async () => {
      if (!this.train) return;
      const t = performance.now();
      logitsTrain = await this.train.logits(input, 1, s, s);
      tTrain.push(performance.now() - t);
    };
    for (let i = 0; i < runs; i++) {
      // Alternate which form goes first: the first run after a pause pays for waking ORT's
      // thread pool, and a fixed order would always bill that to the same form.
      if (i % 2 === 0) {
        await runDeploy();
        await runTrain();
      } else {
        await runTrain();
        await runDeploy();
      }
    }
    return {
      input,
      picture,
      logits,
      logitsTrain,
      formDiff: logitsTrain ? maxAbsDiff(logits, logitsTrain) : null,
      top: rank(logits, this.labels, Math.min(topk, this.labels.length)),
      latency: { deploy: median(tDeploy), train: tTrain.length ? median(tTrain) : null, runs },
    };
  }

  /** Frees the sessions. */
  async dispose(): Promise<void> {
    await this.deploy.dispose();
    await this.train?.dispose();
  }
}
