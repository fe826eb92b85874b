/**
 * Where each PyTorch parameter lives in the tfjs graph. Checkpoints stay in PyTorch
 * layout (conv [out, in/groups, kh, kw], linear [out, in]); the graph holds NHWC-friendly
 * layouts, converted once at load and save:
 * - `conv`: a kxk conv with groups 1 -> tf.conv2d filter [kh, kw, in, out];
 * - `depthwise`: groups == channels -> tf.depthwiseConv2d filter [kh, kw, C, 1];
 * - `matrix`: a 1x1 conv or a Linear -> a matMul weight [in, out];
 * - `vector`: biases and BN affine parameters, unchanged.
 */
import { layers, type Layer } from '../spec/layers.js';
import type { ModelSpec } from '../spec/model-spec.js';

export type ParamKind = 'conv' | 'depthwise' | 'matrix' | 'vector';

/** One trainable parameter: its PyTorch key and shape and its tfjs layout. */
export interface ParamLayout {
  key: string;
  kind: ParamKind;
  torchShape: number[];
  tfShape: number[];
  /** tf axis i is torch axis perm[i] (of torchShape with 1x1 spatial dims dropped for `matrix`). */
  perm: number[];
  /** Gets weight decay under timm's rule (ndim > 1 and not a bias). */
  decay: boolean;
}

function convLayout(key: string, l: Extract<Layer, { kind: 'conv' }>): ParamLayout {
  const torchShape = [l.outChannels, l.inChannels / l.groups, l.kernel, l.kernel];
  if (l.groups === 1 && l.kernel === 1) {
    return { key, kind: 'matrix', torchShape, tfShape: [l.inChannels, l.outChannels], perm: [1, 0], decay: true };
  }
  if (l.groups === 1) {
    return {
      key,
      kind: 'conv',
      torchShape,
      tfShape: [l.kernel, l.kernel, l.inChannels, l.outChannels],
      perm: [2, 3, 1, 0],
      decay: true,
    };
  }
  if (l.groups === l.inChannels && l.groups === l.outChannels) {
    return {
      key,
      kind: 'depthwise',
      torchShape,
      tfShape: [l.kernel, l.kernel, l.outChannels, 1],
      perm: [2, 3, 0, 1],
      decay: true,
    };
  }
  throw new Error(`${l.name}: grouped conv with ${l.groups} groups is not supported by the training graph`);
}

function vector(key: string, n: number): ParamLayout {
  return { key, kind: 'vector', torchShape: [n], tfShape: [n], perm: [0], decay: false };
}

/** Trainable parameters of a spec (training form) in PyTorch `named_parameters()` order. */
export function paramLayouts(spec: ModelSpec): ParamLayout[] {
  const out: ParamLayout[] = [];
  for (const l of layers(spec, 'train')) {
    if (l.kind === 'conv') {
      out.push(convLayout(`${l.name}.weight`, l));
      if (l.bias) out.push(vector(`${l.name}.bias`, l.outChannels));
    } else if (l.kind === 'bn') {
      out.push(vector(`${l.name}.weight`, l.channels), vector(`${l.name}.bias`, l.channels));
    } else {
      out.push({
        key: `${l.name}.weight`,
        kind: 'matrix',
        torchShape: [l.outFeatures, l.inFeatures],
        tfShape: [l.inFeatures, l.outFeatures],
        perm: [1, 0],
        decay: true,
      });
      out.push(vector(`${l.name}.bias`, l.outFeatures));
    }
  }
  return out;
}

/** Permutes a row-major array of `shape`: output axis i is input axis perm[i]. */
export function permute(data: Float32Array, shape: readonly number[], perm: readonly number[]): Float32Array {
  const rank = shape.length;
  const outShape = perm.map((p) => shape[p]!);
  const inStrides = new Array<number>(rank);
  let s = 1;
  for (let i = rank - 1; i >= 0; i--) {
    inStrides[i] = s;
    s *= shape[i]!;
  }
  const strides = perm.map((p) => inStrides[p]!);
  const out = new Float32Array(data.length);
  const idx = new Array<number>(rank).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let i = 0; i < rank; i++) src += idx[i]! * strides[i]!;
    out[o] = data[src]!;
    for (let i = rank - 1; i >= 0; i--) {
      if (++idx[i]! < outShape[i]!) break;
      idx[i] = 0;
    }
  }
  return out;
}

function squeezedTorchShape(p: ParamLayout): number[] {
  // A 1x1 conv's [out, in, 1, 1] is handled as the matrix [out, in].
  return p.kind === 'matrix' ? p.torchShape.slice(0, 2) : p.torchShape;
}

/** PyTorch-layout values of a parameter -> its tfjs layout. */
export function torchToTf(p: ParamLayout, data: Float32Array): Float32Array {
  if (p.kind === 'vector') return data.slice();
  return permute(data, squeezedTorchShape(p), p.perm);
}

/** tfjs-layout values of a parameter -> PyTorch layout. */
export function tfToTorch(p: ParamLayout, data: Float32Array): Float32Array {
  if (p.kind === 'vector') return data.slice();
  const inverse = new Array<number>(p.perm.length);
  p.perm.forEach((axis, i) => {
    inverse[axis] = i;
  });
  const tfShape = p.perm.map((axis) => squeezedTorchShape(p)[axis]!);
  return permute(data, tfShape, inverse);
}
