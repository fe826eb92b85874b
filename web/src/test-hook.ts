/**
 * What the page exposes on `window.__repghost` for automated checks (the e2e test reads
 * the logits and the model input from here instead of scraping the DOM). Not an API.
 */
import type { Classification, PageModel } from './page-model.js';

/** One classification as recorded for tests. */
export interface RecordedResult {
  seq: number;
  slot: string;
  image: string;
  model: string;
  form: string;
  backend: string;
  threads: number;
  logits: number[];
  logitsTrain: number[] | null;
  top: { label: string; index: number; probability: number }[];
  latency: Classification['latency'];
}

/** The hook object. */
export interface PageHook {
  ready: boolean;
  /** Queued page actions finished so far (success or error): tests wait on it. */
  tasks: number;
  active: string;
  backend: string | null;
  threads: number;
  webgpuUnavailable: string | null;
  results: RecordedResult[];
  errors: { what: string; message: string }[];
  /** The last model input [3, size, size], kept whole for preprocessing checks. */
  lastInput: Float32Array | null;
  /** The last published-weights download: model and whether the browser cache served it. */
  pretrained: { model: string; fromCache: boolean; bytes: number } | null;
  /** The deploy files made last (precision, size in bytes, latency in ms, max logit difference). */
  formats: { precision: string; bytes: number; latencyMs: number; maxDiff: number }[];
}

export const hook: PageHook = {
  ready: false,
  tasks: 0,
  active: 'fashion',
  backend: null,
  threads: 0,
  webgpuUnavailable: null,
  results: [],
  errors: [],
  lastInput: null,
  pretrained: null,
  formats: [],
};
(globalThis as { __repghost?: PageHook }).__repghost = hook;

/** Records a classification. */
export function recordResult(slot: string, model: PageModel, r: Classification, image: string): void {
  hook.lastInput = r.input;
  hook.results.push({
    seq: hook.results.length + 1,
    slot,
    image,
    model: model.loaded.spec.name,
    form: model.loaded.form,
    backend: model.web.backend,
    threads: model.web.threads,
    logits: Array.from(r.logits),
    logitsTrain: r.logitsTrain ? Array.from(r.logitsTrain) : null,
    top: r.top.map((p) => ({ ...p })),
    latency: r.latency,
  });
}

/** Records an error shown in the banner. */
export function recordError(what: string, message: string): void {
  hook.errors.push({ what, message });
}
