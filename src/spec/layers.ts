/**
 * The parametric leaf modules of a spec in PyTorch registration order, for either
 * state-dict form. State-dict keys, the params/FLOPs counter and re-parameterization
 * are all derived from this one walk.
 */
import { BN_EPS, CHEAP_KERNEL, convOut, type BottleneckSpec, type GhostModuleSpec, type ModelSpec } from './model-spec.js';
import type { DType } from '../weights/tensor.js';

/**
 * `train`: the training-time modules (fusion branches and every BN present).
 * `deploy`: the official conversion (`repghost_model_convert`): each module's fusion
 * branch and the BN of `cheap_operation` folded into a biased `cheap_operation`;
 * every other BN kept. A module without a fusion branch (norep) is left unchanged,
 * exactly as the official `switch_to_deploy` leaves it.
 */
export type Form = 'train' | 'deploy';

export interface ConvLayer {
  kind: 'conv';
  name: string;
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride: number;
  pad: number;
  groups: number;
  bias: boolean;
  /** Output spatial size at the input size the walk was made for. */
  outH: number;
  outW: number;
}
export interface BnLayer { kind: 'bn'; name: string; channels: number; eps: number }
export interface LinearLayer { kind: 'linear'; name: string; inFeatures: number; outFeatures: number }
export type Layer = ConvLayer | BnLayer | LinearLayer;

/** One state-dict entry: key, shape, dtype, as PyTorch lists them. */
export type KeySpec = [key: string, shape: number[], dtype: DType];

/** True when the module's cheap_operation is one biased conv in this form. */
export function cheapIsFused(g: GhostModuleSpec, form: Form): boolean {
  return form === 'deploy' && g.fusion !== 'none';
}

/** Walks the spec, returning leaf layers in PyTorch order for an input of `inputSize` (H, W). */
export function layers(spec: ModelSpec, form: Form, inputSize: [number, number] = [224, 224]): Layer[] {
  const out: Layer[] = [];
  let [h, w] = inputSize;
  const conv = (name: string, inC: number, outC: number, k: number, s: number, groups: number, bias: boolean): void => {
    const pad = Math.floor(k / 2);
    h = convOut(h, k, s, pad);
    w = convOut(w, k, s, pad);
    out.push({ kind: 'conv', name, inChannels: inC, outChannels: outC, kernel: k, stride: s, pad, groups, bias, outH: h, outW: w });
  };
  const bn = (name: string, c: number): void => { out.push({ kind: 'bn', name, channels: c, eps: BN_EPS }); };
  const ghostModule = (g: GhostModuleSpec): void => {
    conv(`${g.name}.primary_conv.0`, g.inChannels, g.channels, 1, 1, 1, false);
    bn(`${g.name}.primary_conv.1`, g.channels);
    if (cheapIsFused(g, form)) {
      conv(`${g.name}.cheap_operation`, g.channels, g.channels, CHEAP_KERNEL, 1, g.channels, true);
      return;
    }
    if (g.fusion === 'bn') bn(`${g.name}.fusion_bn.0`, g.channels);
    conv(`${g.name}.cheap_operation.0`, g.channels, g.channels, CHEAP_KERNEL, 1, g.channels, false);
    bn(`${g.name}.cheap_operation.1`, g.channels);
  };
  const bottleneck = (b: BottleneckSpec): void => {
    const [inH, inW] = [h, w];
    ghostModule(b.ghost1);
    if (b.stride > 1) {
      conv(`${b.name}.conv_dw`, b.midChannels, b.midChannels, b.kernel, b.stride, b.midChannels, false);
      bn(`${b.name}.bn_dw`, b.midChannels);
    }
    if (b.se) {
      const [sh, sw] = [h, w];
      h = w = 1;
      conv(`${b.se.name}.conv_reduce`, b.se.channels, b.se.reduced, 1, 1, 1, true);
      conv(`${b.se.name}.conv_expand`, b.se.reduced, b.se.channels, 1, 1, 1, true);
      [h, w] = [sh, sw];
    }
    ghostModule(b.ghost2);
    if (b.shortcut === 'conv') {
      const [outH, outW] = [h, w];
      [h, w] = [inH, inW];
      conv(`${b.name}.shortcut.0`, b.inChannels, b.inChannels, b.kernel, b.stride, b.inChannels, false);
      bn(`${b.name}.shortcut.1`, b.inChannels);
      conv(`${b.name}.shortcut.2`, b.inChannels, b.outChannels, 1, 1, 1, false);
      bn(`${b.name}.shortcut.3`, b.outChannels);
      if (h !== outH || w !== outW) throw new Error(`internal: shortcut of ${b.name} gives ${h}x${w}, main path ${outH}x${outW}`);
    }
  };

  conv('conv_stem', 3, spec.stemChannels, 3, 2, 1, false);
  bn('bn1', spec.stemChannels);
  for (const stage of spec.stages) {
    for (const b of stage) {
      if (b.kind === 'bottleneck') bottleneck(b);
      else {
        conv(`${b.name}.conv`, b.inChannels, b.outChannels, 1, 1, 1, false);
        bn(`${b.name}.bn1`, b.outChannels);
      }
    }
  }
  h = w = 1; // global average pooling
  conv('conv_head', spec.headIn, spec.headChannels, 1, 1, 1, true);
  out.push({ kind: 'linear', name: 'classifier', inFeatures: spec.headChannels, outFeatures: spec.numClasses });
  return out;
}

/** State-dict entries of one layer, in PyTorch order. */
export function layerKeys(l: Layer): KeySpec[] {
  switch (l.kind) {
    case 'conv': {
      const keys: KeySpec[] = [[`${l.name}.weight`, [l.outChannels, l.inChannels / l.groups, l.kernel, l.kernel], 'F32']];
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
      return [[`${l.name}.weight`, [l.outFeatures, l.inFeatures], 'F32'], [`${l.name}.bias`, [l.outFeatures], 'F32']];
  }
}

/** The full state-dict key list (key, shape, dtype) of a spec in a form, in PyTorch order. */
export function stateDictKeys(spec: ModelSpec, form: Form): KeySpec[] {
  return layers(spec, form).flatMap(layerKeys);
}

/** Names of the trainable parameters (everything but BN running statistics and counters). */
export function isParameterKey(key: string): boolean {
  return !/\.(running_mean|running_var|num_batches_tracked)$/.test(key);
}
