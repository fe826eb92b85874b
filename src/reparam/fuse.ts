/**
 * Structural re-parameterization on state dicts, pure TypeScript (no engine).
 * Folding is done in float64 and rounded to float32 once, which lands within
 * ~5e-7 of PyTorch's float32 `repghost_model_convert`.
 */
import { layers, stateDictKeys, type ConvLayer, type BnLayer } from '../spec/layers.js';
import { BN_EPS, type GhostModuleSpec, type ModelSpec } from '../spec/model-spec.js';
import { toFloat64, type StateDict, type Tensor } from '../weights/tensor.js';

function get(sd: StateDict, key: string): Tensor {
  const t = sd.get(key);
  if (!t) throw new Error(`state dict has no '${key}'`);
  return t;
}

/** Per-channel scale gamma/sqrt(var+eps) and shift beta - mean*scale of a BN, in float64. */
export function bnScaleShift(sd: StateDict, bnName: string, eps = BN_EPS): { scale: Float64Array; shift: Float64Array } {
  const gamma = toFloat64(get(sd, `${bnName}.weight`));
  const beta = toFloat64(get(sd, `${bnName}.bias`));
  const mean = toFloat64(get(sd, `${bnName}.running_mean`));
  const variance = toFloat64(get(sd, `${bnName}.running_var`));
  const scale = new Float64Array(gamma.length);
  const shift = new Float64Array(gamma.length);
  for (let c = 0; c < gamma.length; c++) {
    scale[c] = gamma[c]! / Math.sqrt(variance[c]! + eps);
    shift[c] = beta[c]! - mean[c]! * scale[c]!;
  }
  return { scale, shift };
}

/**
 * The equivalent biased depthwise kernel of one RepGhost module in training form:
 * BN(cheap_operation.0(x)) + fusion(x), where fusion is BN(x), x, or absent.
 */
export function fuseGhostModule(sd: StateDict, g: GhostModuleSpec): { weight: Tensor<'F32'>; bias: Tensor<'F32'> } {
  const c = g.channels;
  const w = toFloat64(get(sd, `${g.name}.cheap_operation.0.weight`));
  const kk = w.length / c;
  const center = (kk - 1) / 2; // the 1x1 identity padded to 3x3 lands at the centre tap
  const { scale, shift } = bnScaleShift(sd, `${g.name}.cheap_operation.1`);
  const weight = new Float32Array(w.length);
  const bias = new Float32Array(c);
  const fusion = g.fusion === 'bn' ? bnScaleShift(sd, `${g.name}.fusion_bn.0`) : null;
  for (let o = 0; o < c; o++) {
    for (let i = 0; i < kk; i++) {
      let v = w[o * kk + i]! * scale[o]!;
      if (i === center && g.fusion !== 'none') v += fusion ? fusion.scale[o]! : 1;
      weight[o * kk + i] = v;
    }
    bias[o] = shift[o]! + (fusion ? fusion.shift[o]! : 0);
  }
  const k = Math.round(Math.sqrt(kk));
  return { weight: { dtype: 'F32', shape: [c, 1, k, k], data: weight }, bias: { dtype: 'F32', shape: [c], data: bias } };
}

function ghostModules(spec: ModelSpec): GhostModuleSpec[] {
  return spec.stages.flat().flatMap((b) => (b.kind === 'bottleneck' ? [b.ghost1, b.ghost2] : []));
}

/**
 * Training form -> the official deploy form (what `repghost_model_convert` saves):
 * every fusion branch and cheap_operation BN folded into a biased `cheap_operation`,
 * every other tensor copied (shared, not cloned). Keys come out in PyTorch order.
 */
export function toDeploy(spec: ModelSpec, train: StateDict): StateDict {
  const fused = new Map<string, Tensor>();
  for (const g of ghostModules(spec)) {
    if (g.fusion === 'none') continue; // the official conversion leaves norep modules as they are
    const { weight, bias } = fuseGhostModule(train, g);
    fused.set(`${g.name}.cheap_operation.weight`, weight);
    fused.set(`${g.name}.cheap_operation.bias`, bias);
  }
  const out: StateDict = new Map();
  for (const [key] of stateDictKeys(spec, 'deploy')) out.set(key, fused.get(key) ?? get(train, key));
  return out;
}

/** A conv with every following BN folded in: what an inference graph runs. */
export interface FoldedConv { layer: ConvLayer; weight: Tensor<'F32'>; bias: Tensor<'F32'> }

/**
 * Folds every remaining BN into the conv before it (an export-time optimization, not a
 * state-dict form): input in training or deploy form, output one biased conv per conv
 * layer of the deploy form, keyed by conv name. Pass the deploy form; use toDeploy first
 * for a training-form dict.
 */
export function foldAllBatchNorms(spec: ModelSpec, deploy: StateDict): Map<string, FoldedConv> {
  const walk = layers(spec, 'deploy');
  const out = new Map<string, FoldedConv>();
  walk.forEach((l, i) => {
    if (l.kind !== 'conv') return;
    const w = toFloat64(get(deploy, `${l.name}.weight`));
    const next = walk[i + 1];
    const bn = next?.kind === 'bn' ? (next as BnLayer) : null;
    const oc = l.outChannels;
    const per = w.length / oc;
    const weight = new Float32Array(w.length);
    const bias = new Float32Array(oc);
    const b0 = l.bias ? toFloat64(get(deploy, `${l.name}.bias`)) : null;
    const ss = bn ? bnScaleShift(deploy, bn.name, bn.eps) : null;
    for (let o = 0; o < oc; o++) {
      const s = ss ? ss.scale[o]! : 1;
      for (let j = 0; j < per; j++) weight[o * per + j] = w[o * per + j]! * s;
      bias[o] = (b0 ? b0[o]! : 0) * s + (ss ? ss.shift[o]! : 0);
    }
    out.set(l.name, {
      layer: { ...l, bias: true },
      weight: { dtype: 'F32', shape: [oc, l.inChannels / l.groups, l.kernel, l.kernel], data: weight },
      bias: { dtype: 'F32', shape: [oc], data: bias },
    });
  });
  return out;
}
