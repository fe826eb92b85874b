/**
 * The parametric leaf modules of the network (PyTorch's `Conv2d`, `BatchNorm2d`,
 * `Linear`) as plain data, and their state-dict entries. The spec (model-spec.ts) is
 * built from these; every consumer reads a layer's name and sizes from here.
 */
import type { DType } from '../weights/tensor.js';

/** A 2D conv with PyTorch's symmetric padding (`kernel // 2`), square kernel and stride. */
export interface ConvLayer {
  kind: 'conv';
  /** PyTorch module name, e.g. `blocks.1.0.ghost1.primary_conv.0`. */
  name: string;
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride: number;
  pad: number;
  groups: number;
  bias: boolean;
}
/** An eval/train BatchNorm2d over `channels`. */
export interface BnLayer {
  kind: 'bn';
  name: string;
  channels: number;
  eps: number;
}
/** The classifier. */
export interface LinearLayer {
  kind: 'linear';
  name: string;
  inFeatures: number;
  outFeatures: number;
}
export type Layer = ConvLayer | BnLayer | LinearLayer;

/** A conv followed directly by its BatchNorm (PyTorch's `nn.Sequential(conv, bn)` pattern). */
export interface ConvBn {
  conv: ConvLayer;
  bn: BnLayer;
}

/**
 * A chain of per-channel linear layers applied in order: at most one depthwise conv,
 * first, then BatchNorms. `[]` is the identity. Re-parameterization folds any such
 * chain into one biased depthwise kernel (reparam/fuse.ts).
 */
export type LinearChain = readonly (ConvLayer | BnLayer)[];

/** BatchNorm epsilon of every BN in the model (PyTorch default). */
export const BN_EPS = 1e-5;

/** A conv layer description; padding is PyTorch's `kernel // 2` as everywhere in the official code. */
export function convLayer(
  name: string,
  inChannels: number,
  outChannels: number,
  kernel: number,
  stride: number,
  groups: number,
  bias: boolean,
): ConvLayer {
  return { kind: 'conv', name, inChannels, outChannels, kernel, stride, pad: Math.floor(kernel / 2), groups, bias };
}

/** A BatchNorm2d layer description. */
export function bnLayer(name: string, channels: number): BnLayer {
  return { kind: 'bn', name, channels, eps: BN_EPS };
}

/** A depthwise conv of `channels` (groups == channels). */
export function depthwise(name: string, channels: number, kernel: number, stride: number, bias: boolean): ConvLayer {
  return convLayer(name, channels, channels, kernel, stride, channels, bias);
}

/** A bias-free conv (`<prefix>.0`, or `conv`) followed by its BN. */
export function convBn(conv: ConvLayer, bnName: string): ConvBn {
  return { conv, bn: bnLayer(bnName, conv.outChannels) };
}

/** One state-dict entry: key, shape, dtype, as PyTorch lists them. */
export type KeySpec = [key: string, shape: number[], dtype: DType];

/** State-dict entries of one layer, in PyTorch order. */
export function layerKeys(l: Layer): KeySpec[] {
  switch (l.kind) {
    case 'conv': {
      const shape = [l.outChannels, l.inChannels / l.groups, l.kernel, l.kernel];
      const keys: KeySpec[] = [[`${l.name}.weight`, shape, 'F32']];
      if (l.bias) keys.push([`${l.name}.bias`, [l.outChannels], 'F32']);
      return keys;
    }
    case 'bn':
      return [
        [`${l.name}.weight`, [l.channels], 'F32'],
        [`${l.name}.bias`, [l.channels], 'F32'],
        [`${l.name}.running_mean`, [l.channels], 'F32'],
        [`${l.name}.running_var`, [l.channels], 'F32'],
        [`${l.name}.num_batches_tracked`, [], 'I64'],
      ];
    case 'linear':
      return [
        [`${l.name}.weight`, [l.outFeatures, l.inFeatures], 'F32'],
        [`${l.name}.bias`, [l.outFeatures], 'F32'],
      ];
  }
}
