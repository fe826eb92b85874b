/**
 * Where the published RepGhostNet ImageNet weights live, and how they were evaluated.
 *
 * Two sources hold the same eight models:
 * - `hf`: timm's copies on the Hugging Face hub (`timm/repghostnet_050.in1k`, ...):
 *   safetensors with the official training-form keys, the EMA weights already selected.
 * - `official`: the RepGhost GitHub release assets (`repghostnet_0_5x_43M_66.95.pth.tar`,
 *   ...): whole timm training checkpoints whose published top-1 is `state_dict_ema`'s.
 *
 * Browser-safe: no `node:` imports; URLs are plain string concatenation.
 */
import { DEFAULT_PREPROCESS, type PreprocessConfig } from '../data/preprocess.js';
import { TIMM_ALIASES, resolveModelName } from '../spec/variants.js';
import { HubError } from './errors.js';
import type { VerifyTarget } from './verify.js';

/** Which copy of the weights to fetch. */
export type PretrainedSource = 'hf' | 'official';

/** Every source, default first. */
export const PRETRAINED_SOURCES: readonly PretrainedSource[] = ['hf', 'official'];

/** The Hugging Face hub; `REPGHOST_HF_ENDPOINT` / `hfEndpoint` replace it with a mirror. */
export const DEFAULT_HF_ENDPOINT = 'https://huggingface.co';

/** Host of the official release assets; `REPGHOST_OFFICIAL_ENDPOINT` / `officialEndpoint` replace it. */
export const DEFAULT_OFFICIAL_ENDPOINT = 'https://github.com';

/** Path of the official release (tag `RepGhost`) under the official endpoint. */
export const OFFICIAL_RELEASE_PATH = '/ChengpengChen/RepGhost/releases/download/RepGhost';

/**
 * The eval pipeline the published top-1 numbers were measured with: the official
 * validate script (timm's loader) with bilinear resize, crop_pct 0.875, ImageNet
 * mean/std. Both sources hold the same weights, so it applies to both.
 */
export const OFFICIAL_EVAL_PREPROCESS: Readonly<Required<PreprocessConfig>> = Object.freeze({
  ...DEFAULT_PREPROCESS,
  interpolation: 'bilinear',
});

/** The hub copy of one model. */
export interface HfWeights {
  /** Hub repository, e.g. `timm/repghostnet_050.in1k`. */
  repo: string;
  /** File fetched (safetensors: no pickle, EMA already selected). */
  file: string;
  /** The same weights as a PyTorch pickle (`pytorch_model.bin`); never fetched by default. */
  altFile: string;
  /** `{endpoint}/{repo}/resolve/main/{file}`. */
  url: string;
  /** Load the file with `ema: false`: the hub file is a plain state dict. */
  ema: false;
}

/** The official release asset of one model. */
export interface OfficialWeights {
  /** Asset name, e.g. `repghostnet_0_5x_43M_66.95.pth.tar`. */
  file: string;
  /** `{endpoint}/ChengpengChen/RepGhost/releases/download/RepGhost/{file}`. */
  url: string;
  /** Published ImageNet-1k top-1 (%), the number in the asset's name. */
  top1: number;
  /** Published multiply-adds, e.g. `43M`. */
  macs: string;
  /** Load with `ema: true`: the published accuracy is `state_dict_ema`'s. */
  ema: true;
}

/** One pretrained model: both sources plus the preprocessing its accuracy was measured with. */
export interface PretrainedEntry {
  /** Official model name (`repghostnet_0_5x`). */
  model: string;
  /** timm's name (`repghostnet_050`). */
  timmName: string;
  /** Classifier outputs of the published weights (ImageNet-1k). */
  numClasses: number;
  hf: HfWeights;
  official: OfficialWeights;
  /** Eval preprocessing that reproduces the published top-1 (see OFFICIAL_EVAL_PREPROCESS). */
  preprocess: Required<PreprocessConfig>;
}

/** Endpoint overrides (mirrors, test servers); trailing slashes are ignored. */
export interface Endpoints {
  hf?: string;
  official?: string;
}

/** [official name, timm name, asset MACs, published top-1] in release order. */
const TABLE: readonly [string, string, string, number][] = [
  ['repghostnet_0_5x', 'repghostnet_050', '43M', 66.95],
  ['repghostnet_0_58x', 'repghostnet_058', '60M', 68.94],
  ['repghostnet_0_8x', 'repghostnet_080', '96M', 72.24],
  ['repghostnet_1_0x', 'repghostnet_100', '142M', 74.22],
  ['repghostnet_1_11x', 'repghostnet_111', '170M', 75.07],
  ['repghostnet_1_3x', 'repghostnet_130', '231M', 76.37],
  ['repghostnet_1_5x', 'repghostnet_150', '301M', 77.45],
  ['repghostnet_2_0x', 'repghostnet_200', '516M', 78.81],
];

/** Official names of the models with published weights, in release order. */
export function pretrainedModels(): string[] {
  return TABLE.map((r) => r[0]);
}

/** One line listing the models with weights, for error messages. */
export function pretrainedModelList(): string {
  return `${pretrainedModels().join(', ')} (or timm's names ${TABLE.map((r) => r[1]).join(', ')})`;
}

/**
 * Validates and normalizes an endpoint: an http(s) URL, kept with its path (mirrors
 * may live under a prefix), without trailing slashes. `what` names the setting.
 */
export function normalizeEndpoint(endpoint: string, what: string): string {
  let u: URL;
  try {
    u = new URL(endpoint.trim());
  } catch {
    throw new HubError('bad-endpoint', `${what} must be an http(s) URL, got '${endpoint}'`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new HubError('bad-endpoint', `${what} must be an http(s) URL, got '${endpoint}'`);
  }
  return `${u.origin}${u.pathname}`.replace(/\/+$/, '');
}

/**
 * The registry entry for a model (official or timm name, `.in1k` tag allowed).
 * Throws HubError('unknown-model') listing the models with weights — before anything
 * touches the network — for unknown names, ablations and custom widths.
 */
export function pretrainedEntry(model: string, endpoints: Endpoints = {}): PretrainedEntry {
  let canon: string;
  try {
    canon = resolveModelName(model);
  } catch {
    throw new HubError(
      'unknown-model',
      `unknown model '${model}'; models with pretrained weights: ${pretrainedModelList()}`,
    );
  }
  const row = TABLE.find((r) => r[0] === canon);
  if (!row) {
    throw new HubError(
      'unknown-model',
      `no pretrained weights are published for '${model}' (only the main-line models have them); models with ` +
        `pretrained weights: ${pretrainedModelList()}`,
    );
  }
  const [name, timmName, macs, top1] = row;
  const hfBase = normalizeEndpoint(endpoints.hf ?? DEFAULT_HF_ENDPOINT, 'the Hugging Face endpoint');
  const offBase = normalizeEndpoint(endpoints.official ?? DEFAULT_OFFICIAL_ENDPOINT, 'the official endpoint');
  const repo = `timm/${timmName}.in1k`;
  const file = `${name}_${macs}_${top1.toFixed(2)}.pth.tar`;
  return {
    model: name,
    timmName,
    numClasses: 1000,
    hf: {
      repo,
      file: 'model.safetensors',
      altFile: 'pytorch_model.bin',
      url: `${hfBase}/${repo}/resolve/main/model.safetensors`,
      ema: false,
    },
    official: { file, url: `${offBase}${OFFICIAL_RELEASE_PATH}/${file}`, top1, macs, ema: true },
    preprocess: {
      ...OFFICIAL_EVAL_PREPROCESS,
      mean: [...OFFICIAL_EVAL_PREPROCESS.mean],
      std: [...OFFICIAL_EVAL_PREPROCESS.std],
    },
  };
}

/** One source's copy of a model's weights: where it is, and what a file from there must be. */
export interface SourceWeights {
  entry: PretrainedEntry;
  source: PretrainedSource;
  url: string;
  ema: boolean;
  /** What the downloaded file is verified against. */
  target: VerifyTarget;
}

/**
 * The location rule both caches (Node's files and the browser's Cache API) follow: the
 * entry, the source's URL, whether its weights are the EMA ones, the verification target.
 */
export function sourceWeights(model: string, source: string, endpoints: Endpoints = {}): SourceWeights {
  const parsed = parseSource(source);
  const entry = pretrainedEntry(model, endpoints);
  const w = parsed === 'hf' ? entry.hf : entry.official;
  const fileName = new URL(w.url).pathname.split('/').pop() || 'weights';
  return {
    entry,
    source: parsed,
    url: w.url,
    ema: w.ema,
    target: { model: entry.model, ema: w.ema, fileName, url: w.url, numClasses: entry.numClasses },
  };
}

/** Parses a source name (CLI flag, option); throws HubError('bad-source') naming the valid ones. */
export function parseSource(source: string): PretrainedSource {
  const s = source.trim().toLowerCase();
  if (s === 'hf' || s === 'official') return s;
  throw new HubError('bad-source', `unknown source '${source}'; use one of: ${PRETRAINED_SOURCES.join(', ')}`);
}

// The timm names the table uses must be the ones spec/variants.ts knows, or
// resolveModelName would reject them; checked once at import so a typo fails loudly.
for (const [name, timmName] of TABLE) {
  if (TIMM_ALIASES[timmName] !== name) throw new Error(`hub registry: ${timmName} is not timm's name for ${name}`);
}
