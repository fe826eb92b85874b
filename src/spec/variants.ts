/**
 * The RepGhostNet family as the official code defines it (model/repghost.py):
 * one base configuration scaled by a width multiplier, plus the paper's ablations.
 */

import { bnLayer, type LinearChain } from './layer-types.js';

/** What the fusion branch of each RepGhost module holds in training form. */
export type FusionKind = 'bn' | 'identity' | 'none';

/**
 * The layers of each fusion kind's branch, for a module `module` (`blocks.1.0.ghost1`)
 * of `channels` channels, in PyTorch registration order; `null`: no branch. The
 * official module registers them as `fusion_conv.<i>` and `fusion_bn.<i>` (ModuleLists).
 * Everything else (the walk, keys, counts, the fold into `cheap_operation`, ONNX,
 * training) follows from these layers, so a new kind is one row here.
 */
export const FUSION_BRANCHES: Record<FusionKind, (module: string, channels: number) => LinearChain | null> = {
  bn: (module, channels) => [bnLayer(`${module}.fusion_bn.0`, channels)],
  identity: () => [],
  none: () => null,
};

/** Constructor switches of the official `repghostnet(...)` factory. */
export interface VariantConfig {
  /** Width multiplier applied to every channel count (then made divisible by 4). */
  width: number;
  /** `reparam_bn` / `reparam_identity` / `reparam=False`, folded into one choice. */
  fusion: FusionKind;
  /** `shortcut=False` drops the identity shortcut where in == out and stride 1. */
  shortcut: boolean;
  /** Squeeze-and-excitation in the blocks the base config marks (always on in the zoo). */
  enableSe: boolean;
}

/** The official model names, in the order the official README lists them. */
export const OFFICIAL_VARIANTS: Record<string, VariantConfig> = {
  repghostnet_0_5x: { width: 0.5, fusion: 'bn', shortcut: true, enableSe: true },
  repghostnet_0_58x: { width: 0.58, fusion: 'bn', shortcut: true, enableSe: true },
  repghostnet_0_8x: { width: 0.8, fusion: 'bn', shortcut: true, enableSe: true },
  repghostnet_1_0x: { width: 1.0, fusion: 'bn', shortcut: true, enableSe: true },
  repghostnet_1_11x: { width: 1.11, fusion: 'bn', shortcut: true, enableSe: true },
  repghostnet_1_3x: { width: 1.3, fusion: 'bn', shortcut: true, enableSe: true },
  repghostnet_1_5x: { width: 1.5, fusion: 'bn', shortcut: true, enableSe: true },
  repghostnet_2_0x: { width: 2.0, fusion: 'bn', shortcut: true, enableSe: true },
  repghostnet_repid_0_5x: { width: 0.5, fusion: 'identity', shortcut: true, enableSe: true },
  repghostnet_norep_0_5x: { width: 0.5, fusion: 'none', shortcut: true, enableSe: true },
  repghostnet_wo_0_5x: { width: 0.5, fusion: 'bn', shortcut: false, enableSe: true },
};

/**
 * True for the paper's ablations (any switch off the main line: another fusion kind than
 * BN, no shortcut, no SE). When a file's keys fit a main-line model and its ablations
 * alike (0.5x and wo_0_5x share every key), the loader takes the main-line model.
 */
export function isAblation(name: string): boolean {
  const v = variantConfig(name);
  return v.fusion !== 'bn' || !v.shortcut || !v.enableSe;
}

/** timm's names for the same models (timm/models/repghost.py), mapped to the official ones. */
export const TIMM_ALIASES: Record<string, string> = {
  repghostnet_050: 'repghostnet_0_5x',
  repghostnet_058: 'repghostnet_0_58x',
  repghostnet_080: 'repghostnet_0_8x',
  repghostnet_100: 'repghostnet_1_0x',
  repghostnet_111: 'repghostnet_1_11x',
  repghostnet_130: 'repghostnet_1_3x',
  repghostnet_150: 'repghostnet_1_5x',
  repghostnet_200: 'repghostnet_2_0x',
};

/** Raised for a model name that is not a RepGhostNet; the message lists the valid ones. */
export class UnknownModelError extends Error {
  override name = 'UnknownModelError';
}

/** Every name `resolveModelName` accepts. */
export function modelNames(): string[] {
  return [...Object.keys(OFFICIAL_VARIANTS), ...Object.keys(TIMM_ALIASES)];
}

/**
 * Canonical (official) name for a model name or timm alias. Also accepts a timm
 * pretrained tag (`repghostnet_050.in1k`), a module prefix (`repghost.repghostnet_0_5x`,
 * as the official checkpoints' `arch` reads) and `repghostnet_<w>x` for any width.
 * Throws with the list of valid names otherwise.
 */
export function resolveModelName(name: string): string {
  // Accept a module prefix (the official checkpoint's arch is `repghost.repghostnet_0_5x`)
  // and a timm pretrained tag (`repghostnet_050.in1k`): keep the segment naming the model.
  const parts = name.trim().toLowerCase().split('.');
  const base = parts.find((p) => p.startsWith('repghostnet')) ?? parts[0]!;
  if (base in OFFICIAL_VARIANTS) return base;
  const alias = TIMM_ALIASES[base];
  if (alias) return alias;
  if (/^repghostnet_\d+(_\d+)?x$/.test(base)) return base;
  throw new UnknownModelError(
    `unknown model '${name}'; valid models: ${modelNames().join(', ')} (or repghostnet_<a>_<b>x for another width)`,
  );
}

/** Variant switches for a (resolved or alias) model name, including custom widths. */
export function variantConfig(name: string): VariantConfig {
  const canon = resolveModelName(name);
  const known = OFFICIAL_VARIANTS[canon];
  if (known) return { ...known };
  const m = /^repghostnet_(\d+)(?:_(\d+))?x$/.exec(canon)!;
  const width = Number(`${m[1]}.${m[2] ?? '0'}`);
  if (!(width > 0) || width > 8) throw new Error(`width ${width} of '${name}' is out of range (0, 8]`);
  return { width, fusion: 'bn', shortcut: true, enableSe: true };
}
