/**
 * RepGhostNet as data: the single description of the network that ONNX emission,
 * the training graph, the counter and re-parameterization all read.
 * Module names are PyTorch's (`blocks.3.0.ghost1.primary_conv.0`), so state-dict
 * keys follow from the spec.
 */
import { makeDivisible } from './make-divisible.js';
import { FUSION_BRANCHES, resolveModelName, variantConfig, type FusionKind, type VariantConfig } from './variants.js';
import {
  convBn,
  convLayer,
  depthwise,
  type ConvBn,
  type ConvLayer,
  type LinearChain,
  type LinearLayer,
} from './layer-types.js';

/** One row of the official `cfgs`: kernel, expansion (hidden) channels, output channels, SE ratio, stride. */
export interface BlockConfig {
  k: number;
  exp: number;
  c: number;
  se: number;
  s: number;
}

/**
 * The official base configuration (`repghostnet()` in model/repghost.py), one inner
 * array per stage (`blocks.<stage>`); SE ratios are applied only when enabled.
 */
export const BASE_CFGS: readonly (readonly BlockConfig[])[] = [
  [{ k: 3, exp: 8, c: 16, se: 0, s: 1 }],
  [{ k: 3, exp: 24, c: 24, se: 0, s: 2 }],
  [{ k: 3, exp: 36, c: 24, se: 0, s: 1 }],
  [{ k: 5, exp: 36, c: 40, se: 0.25, s: 2 }],
  [{ k: 5, exp: 60, c: 40, se: 0.25, s: 1 }],
  [{ k: 3, exp: 120, c: 80, se: 0, s: 2 }],
  [
    { k: 3, exp: 100, c: 80, se: 0, s: 1 },
    { k: 3, exp: 120, c: 80, se: 0, s: 1 },
    { k: 3, exp: 120, c: 80, se: 0, s: 1 },
    { k: 3, exp: 240, c: 112, se: 0.25, s: 1 },
    { k: 3, exp: 336, c: 112, se: 0.25, s: 1 },
  ],
  [{ k: 5, exp: 336, c: 160, se: 0.25, s: 2 }],
  [
    { k: 5, exp: 480, c: 160, se: 0, s: 1 },
    { k: 5, exp: 480, c: 160, se: 0.25, s: 1 },
    { k: 5, exp: 480, c: 160, se: 0, s: 1 },
    { k: 5, exp: 480, c: 160, se: 0.25, s: 1 },
  ],
];

/** Kernel of every RepGhost module's depthwise `cheap_operation` (dw_size). */
export const CHEAP_KERNEL = 3;
/** Channels of `conv_head`, fixed in the official code. */
export const HEAD_CHANNELS = 1280;

/**
 * A RepGhost module (`ghost1` / `ghost2`): primary 1x1 conv + BN (+ReLU), a depthwise
 * 3x3 `cheap_operation` (+BN in training form) and the fusion branch, summed, then ReLU
 * if `relu`. In==out channels for the cheap op; `channels` is `oup` of the official code.
 */
export interface GhostModuleSpec {
  /** Module path, e.g. `blocks.1.0.ghost1`. */
  name: string;
  inChannels: number;
  channels: number;
  relu: boolean;
  fusion: FusionKind;
  /** `primary_conv.0` (1x1) and `primary_conv.1`. */
  primary: ConvBn;
  /** Training form: `cheap_operation.0` (depthwise 3x3) and `cheap_operation.1`. */
  cheap: ConvBn;
  /** Training form: the fusion branch's layers (`[]`: identity), or null when there is none. */
  fusionBranch: LinearChain | null;
  /** Deploy form with a fusion branch: the biased depthwise `cheap_operation` it all folds into. */
  fusedCheap: ConvLayer;
}

/** Squeeze-and-excitation: global pool, 1x1 reduce (+bias), ReLU, 1x1 expand (+bias), hard-sigmoid gate. */
export interface SeSpec {
  name: string;
  channels: number;
  reduced: number;
  reduce: ConvLayer;
  expand: ConvLayer;
}

/** A RepGhost bottleneck `blocks.<stage>.<index>`. */
export interface BottleneckSpec {
  kind: 'bottleneck';
  name: string;
  stage: number;
  index: number;
  inChannels: number;
  midChannels: number;
  outChannels: number;
  /** Kernel of `conv_dw` (stride > 1 only) and of the shortcut's depthwise conv. */
  kernel: number;
  stride: number;
  ghost1: GhostModuleSpec;
  /** Stride > 1: depthwise `conv_dw` + `bn_dw` between the two modules. */
  downsample: ConvBn | null;
  ghost2: GhostModuleSpec;
  se: SeSpec | null;
  /**
   * `identity`: x + residual; `conv`: x + shortcut(residual) through dw conv+BN, 1x1 conv+BN;
   * `none`: no residual (the `wo` ablation where in == out and stride 1).
   */
  shortcut: 'identity' | 'conv' | 'none';
  /** The `conv` shortcut's layers in order (`shortcut.0` ... `shortcut.3`); empty otherwise. */
  shortcutPath: ConvBn[];
}

/** The last stage `blocks.9.0`: 1x1 ConvBnAct (`conv`, `bn1`, ReLU). */
export interface ConvBnActSpec {
  kind: 'convbnact';
  name: string;
  stage: number;
  inChannels: number;
  outChannels: number;
  layer: ConvBn;
}

export type StageBlock = BottleneckSpec | ConvBnActSpec;

/** The whole network. */
export interface ModelSpec {
  /** Canonical official name (`repghostnet_0_5x`). */
  name: string;
  variant: VariantConfig;
  numClasses: number;
  /** Dropout before the classifier (training only). */
  dropout: number;
  /** `conv_stem` 3x3 stride 2 + `bn1` + ReLU. */
  stemChannels: number;
  stem: ConvBn;
  /** `blocks.0` ... `blocks.9`; the last holds the ConvBnAct. */
  stages: StageBlock[][];
  /** `conv_head`: 1x1 conv with bias after global average pooling, then ReLU. */
  headIn: number;
  headChannels: number;
  head: ConvLayer;
  classifier: LinearLayer;
}

/** Options of `buildSpec`. */
export interface SpecOptions {
  /** Classifier outputs (default 1000). */
  numClasses?: number;
  /** Dropout before the classifier (default 0.2, as the official constructor). */
  dropout?: number;
  /** Override the width multiplier of the named variant. */
  width?: number;
}

/** `RepGhostModule(inp, oup, relu, reparam_*)`: its layers, named as PyTorch registers them. */
function ghost(name: string, inChannels: number, channels: number, relu: boolean, fusion: FusionKind): GhostModuleSpec {
  return {
    name,
    inChannels,
    channels,
    relu,
    fusion,
    primary: convBn(
      convLayer(`${name}.primary_conv.0`, inChannels, channels, 1, 1, 1, false),
      `${name}.primary_conv.1`,
    ),
    cheap: convBn(
      depthwise(`${name}.cheap_operation.0`, channels, CHEAP_KERNEL, 1, false),
      `${name}.cheap_operation.1`,
    ),
    fusionBranch: FUSION_BRANCHES[fusion](name, channels),
    fusedCheap: depthwise(`${name}.cheap_operation`, channels, CHEAP_KERNEL, 1, true),
  };
}

/** `RepGhostBottleneck(in, mid, out, k, s, se_ratio, shortcut, reparam_*)`. */
function bottleneck(
  name: string,
  stage: number,
  index: number,
  input: number,
  mid: number,
  out: number,
  row: BlockConfig,
  seRatio: number,
  variant: VariantConfig,
): BottleneckSpec {
  const sameShape = input === out && row.s === 1;
  const shortcut = sameShape ? (variant.shortcut ? 'identity' : 'none') : 'conv';
  const reduced = makeDivisible(mid * seRatio, 4);
  return {
    kind: 'bottleneck',
    name,
    stage,
    index,
    inChannels: input,
    midChannels: mid,
    outChannels: out,
    kernel: row.k,
    stride: row.s,
    ghost1: ghost(`${name}.ghost1`, input, mid, true, variant.fusion),
    downsample: row.s > 1 ? convBn(depthwise(`${name}.conv_dw`, mid, row.k, row.s, false), `${name}.bn_dw`) : null,
    ghost2: ghost(`${name}.ghost2`, mid, out, false, variant.fusion),
    se:
      seRatio > 0
        ? {
            name: `${name}.se`,
            channels: mid,
            reduced,
            reduce: convLayer(`${name}.se.conv_reduce`, mid, reduced, 1, 1, 1, true),
            expand: convLayer(`${name}.se.conv_expand`, reduced, mid, 1, 1, 1, true),
          }
        : null,
    shortcut,
    shortcutPath:
      shortcut === 'conv'
        ? [
            convBn(depthwise(`${name}.shortcut.0`, input, row.k, row.s, false), `${name}.shortcut.1`),
            convBn(convLayer(`${name}.shortcut.2`, input, out, 1, 1, 1, false), `${name}.shortcut.3`),
          ]
        : [],
  };
}

/**
 * Builds the spec of a model by name (official name, timm alias, or `repghostnet_<w>x`),
 * following the official constructor step by step so channel counts match exactly.
 */
export function buildSpec(modelName: string, options: SpecOptions = {}): ModelSpec {
  const name = resolveModelName(modelName);
  const variant = variantConfig(name);
  if (options.width !== undefined) variant.width = options.width;
  const numClasses = options.numClasses ?? 1000;
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new Error(`numClasses must be a positive integer, got ${numClasses}`);
  }
  const width = variant.width;
  const stemChannels = makeDivisible(16 * width, 4);
  let input = stemChannels;
  const stages: StageBlock[][] = [];
  let lastExp = 0;
  BASE_CFGS.forEach((cfg, stage) => {
    const blocks: StageBlock[] = [];
    cfg.forEach((row, index) => {
      const out = makeDivisible(row.c * width, 4);
      const mid = makeDivisible(row.exp * width, 4);
      const seRatio = variant.enableSe ? row.se : 0;
      blocks.push(bottleneck(`blocks.${stage}.${index}`, stage, index, input, mid, out, row, seRatio, variant));
      input = out;
      lastExp = row.exp;
    });
    stages.push(blocks);
  });
  // The official code reuses the loop variable `exp_size` of the last block here.
  const finalChannels = makeDivisible(lastExp * width * 2, 4);
  const last = `blocks.${stages.length}.0`;
  stages.push([
    {
      kind: 'convbnact',
      name: last,
      stage: stages.length,
      inChannels: input,
      outChannels: finalChannels,
      layer: convBn(convLayer(`${last}.conv`, input, finalChannels, 1, 1, 1, false), `${last}.bn1`),
    },
  ]);
  return {
    name,
    variant,
    numClasses,
    dropout: options.dropout ?? 0.2,
    stemChannels,
    stem: convBn(convLayer('conv_stem', 3, stemChannels, 3, 2, 1, false), 'bn1'),
    stages,
    headIn: finalChannels,
    headChannels: HEAD_CHANNELS,
    head: convLayer('conv_head', finalChannels, HEAD_CHANNELS, 1, 1, 1, true),
    classifier: { kind: 'linear', name: 'classifier', inFeatures: HEAD_CHANNELS, outFeatures: numClasses },
  };
}

/** Output spatial size of a conv (PyTorch formula, dilation 1). */
export function convOut(size: number, kernel: number, stride: number, pad: number): number {
  return Math.floor((size + 2 * pad - kernel) / stride) + 1;
}

/** Total stride after each stage `blocks.i` (2 after the stem; x2 per stride-2 block). */
export function stageStrides(spec: ModelSpec): number[] {
  let s = 2;
  return spec.stages.map((blocks) => {
    for (const b of blocks) if (b.kind === 'bottleneck') s *= b.stride;
    return s;
  });
}
