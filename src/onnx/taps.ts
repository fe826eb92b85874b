/**
 * Named intermediate outputs ("taps") of the network, as the PyTorch goldens and timm
 * name them, derived from the spec (so every width and ablation gets the right
 * channels and strides).
 */
import { stageStrides, type ModelSpec } from '../spec/model-spec.js';
import type { TapName } from '../spec/walk.js';

/** Tap names are the walk's (spec/walk.ts), where each tap sits in the network. */
export type { TapName } from '../spec/walk.js';

/** One tap: its name, total stride w.r.t. the input (0 for pre_logits: pooled) and channels. */
export interface TapInfo {
  name: TapName;
  stride: number;
  channels: number;
}

/** Every tap of a model in network order. */
export function allTaps(spec: ModelSpec): TapInfo[] {
  const strides = stageStrides(spec);
  return [
    { name: 'conv_stem', stride: 2, channels: spec.stemChannels },
    { name: 'act1', stride: 2, channels: spec.stemChannels },
    ...spec.stages.map((blocks, i): TapInfo => ({
      name: `blocks.${i}`,
      stride: strides[i]!,
      channels: blocks.at(-1)!.outChannels,
    })),
    { name: 'pre_logits', stride: 0, channels: spec.headChannels },
  ];
}

/**
 * timm's `features_only` taps: `conv_stem`, then the first stage at each new stride
 * (the downsampling stage): conv_stem, blocks.1, blocks.3, blocks.5, blocks.7 at strides
 * 2, 4, 8, 16, 32 for every RepGhostNet.
 */
export function timmFeatureTaps(spec: ModelSpec): TapName[] {
  const out: TapName[] = ['conv_stem'];
  let prev = 2;
  stageStrides(spec).forEach((s, i) => {
    if (s > prev) out.push(`blocks.${i}`);
    prev = s;
  });
  return out;
}

/**
 * The last stage at each stride (the most processed map of each resolution, what an
 * FPN-style neck usually wants): blocks.0, blocks.2, blocks.4, blocks.6, blocks.9 at
 * strides 2, 4, 8, 16, 32.
 */
export function lastPerStrideTaps(spec: ModelSpec): TapName[] {
  const strides = stageStrides(spec);
  return strides.flatMap((s, i): TapName[] => (strides[i + 1] === s ? [] : [`blocks.${i}`]));
}

/** Validates tap names against a spec; throws naming the valid ones. */
export function checkTaps(spec: ModelSpec, names: readonly string[]): TapName[] {
  const valid = new Set<string>(allTaps(spec).map((t) => t.name));
  for (const n of names) {
    if (!valid.has(n)) throw new Error(`unknown feature tap '${n}'; valid taps: ${[...valid].join(', ')}`);
  }
  return names as TapName[];
}
