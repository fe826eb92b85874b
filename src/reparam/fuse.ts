/**
 * Structural re-parameterization on state dicts, pure TypeScript (no engine).
 * Folding is done in float64 and rounded to float32 once, which lands within
 * ~5e-7 of PyTorch's float32 `repghost_model_convert`.
 */
import { stateDictKeys } from '../spec/layers.js';
import { BN_EPS, type BnLayer, type ConvLayer, type LinearChain } from '../spec/layer-types.js';
import type { GhostModuleSpec, ModelSpec } from '../spec/model-spec.js';
import { record } from '../spec/record.js';
import { cheapIsFused } from '../spec/walk.js';
import { toFloat64, type StateDict, type Tensor } from '../weights/tensor.js';

function get(sd: StateDict, key: string): Tensor {
  const t = sd.get(key);
  if (!t) throw new Error(`state dict has no '${key}'`);
  return t;
}

/** Per-channel scale gamma/sqrt(var+eps) and shift beta - mean*scale of a BN, in float64. */
export function bnScaleShift(
  sd: StateDict,
  bnName: string,
  eps = BN_EPS,
): { scale: Float64Array; shift: Float64Array } {
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

/** A per-channel affine map as a depthwise kernel: weight [c, k*k] (row-major) and bias [c], float64. */
interface DepthwiseAffine {
  weight: Float64Array;
  bias: Float64Array;
}

/**
 * The biased depthwise k x k kernel equal to a chain of per-channel linear layers
 * (`LinearChain`: an optional depthwise conv first, then BNs; `[]` is the identity,
 * the centre tap). A smaller conv kernel is centred, as zero padding makes it equal.
 */
function chainKernel(sd: StateDict, chain: LinearChain, channels: number, k: number): DepthwiseAffine {
  const kk = k * k;
  const weight = new Float64Array(channels * kk);
  const bias = new Float64Array(channels);
  const centre = (kk - 1) / 2;
  chain.forEach((l, i) => {
    if (l.kind === 'conv') {
      if (i !== 0 || l.groups !== channels || l.stride !== 1 || l.kernel > k || l.kernel % 2 !== 1) {
        throw new Error(
          `internal: ${l.name} cannot be folded (only a first, stride-1, depthwise conv, odd kernel` + ` <= ${k})`,
        );
      }
      const w = toFloat64(get(sd, `${l.name}.weight`));
      const b = l.bias ? toFloat64(get(sd, `${l.name}.bias`)) : null;
      const off = (k - l.kernel) / 2;
      for (let o = 0; o < channels; o++) {
        for (let y = 0; y < l.kernel; y++) {
          const row = (y + off) * k + off;
          for (let x = 0; x < l.kernel; x++) weight[o * kk + row + x] = w[(o * l.kernel + y) * l.kernel + x]!;
        }
        bias[o] = b ? b[o]! : 0;
      }
      return;
    }
    if (i === 0) for (let o = 0; o < channels; o++) weight[o * kk + centre] = 1;
    const { scale, shift } = bnScaleShift(sd, l.name, l.eps);
    for (let o = 0; o < channels; o++) {
      for (let j = 0; j < kk; j++) weight[o * kk + j]! *= scale[o]!;
      bias[o] = bias[o]! * scale[o]! + shift[o]!;
    }
  });
  if (chain.length === 0) for (let o = 0; o < channels; o++) weight[o * kk + centre] = 1;
  return { weight, bias };
}

/**
 * The equivalent biased depthwise kernel of one RepGhost module in training form:
 * BN(cheap_operation.0(x)) + fusion(x), the fusion branch being whatever chain of
 * layers the spec gives it (BN(x), x, ...) or absent.
 */
export function fuseGhostModule(sd: StateDict, g: GhostModuleSpec): { weight: Tensor<'F32'>; bias: Tensor<'F32'> } {
  const c = g.channels;
  const k = g.fusedCheap.kernel;
  const sum = chainKernel(sd, [g.cheap.conv, g.cheap.bn], c, k);
  if (g.fusionBranch) {
    const f = chainKernel(sd, g.fusionBranch, c, k);
    for (let i = 0; i < sum.weight.length; i++) sum.weight[i]! += f.weight[i]!;
    for (let o = 0; o < c; o++) sum.bias[o]! += f.bias[o]!;
  }
  return {
    weight: { dtype: 'F32', shape: [c, 1, k, k], data: Float32Array.from(sum.weight) },
    bias: { dtype: 'F32', shape: [c], data: Float32Array.from(sum.bias) },
  };
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
    if (!cheapIsFused(g, 'deploy')) continue; // the official conversion leaves norep modules as they are
    const { weight, bias } = fuseGhostModule(train, g);
    fused.set(`${g.fusedCheap.name}.weight`, weight);
    fused.set(`${g.fusedCheap.name}.bias`, bias);
  }
  const out: StateDict = new Map();
  for (const [key] of stateDictKeys(spec, 'deploy')) out.set(key, fused.get(key) ?? get(train, key));
  return out;
}

/** A conv with every following BN folded in: what an inference graph runs. */
export interface FoldedConv {
  layer: ConvLayer;
  weight: Tensor<'F32'>;
  bias: Tensor<'F32'>;
}

/**
 * Folds every remaining BN into the conv it reads from (an export-time optimization,
 * not a state-dict form): one biased conv per conv layer of the deploy form, keyed by
 * conv name. Which BN folds into which conv is the recorder's `foldInto` (a BN whose
 * input is that conv's output and nothing else's). Pass the deploy form; use toDeploy
 * first for a training-form dict.
 */
export function foldAllBatchNorms(spec: ModelSpec, deploy: StateDict): Map<string, FoldedConv> {
  const rec = record(spec, 'deploy');
  const bnOf = new Map<string, BnLayer>();
  for (const { layer } of rec.layers) {
    const conv = layer.kind === 'bn' ? rec.foldInto.get(layer.name) : undefined;
    if (conv !== undefined && layer.kind === 'bn') bnOf.set(conv, layer);
  }
  const out = new Map<string, FoldedConv>();
  for (const { layer: l } of rec.layers) {
    if (l.kind !== 'conv') continue;
    const w = toFloat64(get(deploy, `${l.name}.weight`));
    const bn = bnOf.get(l.name);
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
  }
  return out;
}
