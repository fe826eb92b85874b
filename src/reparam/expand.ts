/**
 * Deploy form -> training form, the inverse the official repo's users ask for (issues #9,
 * #13): fine-tuning needs the training modules back. The split of a fused kernel into
 * its branches is not unique; this one keeps the eval-mode function exactly (up to
 * float32 rounding of the BN scale, ~1e-7 relative):
 * - `cheap_operation.0.weight` = the deploy kernel, `cheap_operation.1` a BN with unit
 *   scale (gamma = sqrt(1 + eps), var 1, mean 0) and the deploy bias as beta;
 * - BN fusion (`fusion_bn.0`): gamma 0, beta 0, mean 0, var 1, so the branch adds nothing
 *   in eval mode and starts learning from zero;
 * - identity fusion (repid ablation): the identity is part of the function, so it is
 *   subtracted from the kernel's centre tap;
 * - no fusion (norep ablation): deploy form is training form, nothing to set.
 * Other BNs are never folded by the official conversion and are copied as they are.
 */
import { stateDictKeys } from '../spec/layers.js';
import type { BnLayer, ConvLayer } from '../spec/layer-types.js';
import type { GhostModuleSpec, ModelSpec } from '../spec/model-spec.js';
import { cheapIsFused } from '../spec/walk.js';
import { toFloat64, type StateDict, type Tensor } from '../weights/tensor.js';

const f32 = (shape: number[], fill: (i: number) => number, n: number): Tensor<'F32'> => ({
  dtype: 'F32',
  shape,
  data: Float32Array.from({ length: n }, (_, i) => fill(i)),
});

function ghostModules(spec: ModelSpec): GhostModuleSpec[] {
  return spec.stages.flat().flatMap((b) => (b.kind === 'bottleneck' ? [b.ghost1, b.ghost2] : []));
}

/** A BN in eval mode as y = scale * x + beta: gamma chosen so that gamma / sqrt(var + eps) = scale with var 1. */
function setBn(out: Map<string, Tensor>, bn: BnLayer, scale: number, beta: (i: number) => number): void {
  const c = bn.channels;
  out.set(
    `${bn.name}.weight`,
    f32([c], () => scale * Math.sqrt(1 + bn.eps), c),
  );
  out.set(`${bn.name}.bias`, f32([c], beta, c));
  out.set(
    `${bn.name}.running_mean`,
    f32([c], () => 0, c),
  );
  out.set(
    `${bn.name}.running_var`,
    f32([c], () => 1, c),
  );
  out.set(`${bn.name}.num_batches_tracked`, { dtype: 'I64', shape: [], data: new BigInt64Array(1) });
}

/** A conv of zeros (and zero bias): a branch that adds nothing. */
function zeroConv(out: Map<string, Tensor>, conv: ConvLayer): void {
  const shape = [conv.outChannels, conv.inChannels / conv.groups, conv.kernel, conv.kernel];
  out.set(
    `${conv.name}.weight`,
    f32(
      shape,
      () => 0,
      shape.reduce((a, b) => a * b, 1),
    ),
  );
  if (conv.bias)
    out.set(
      `${conv.name}.bias`,
      f32([conv.outChannels], () => 0, conv.outChannels),
    );
}

/** The training-form tensors of one fused module, keyed by their full names. */
function expandGhostModule(deploy: StateDict, g: GhostModuleSpec, out: Map<string, Tensor>): void {
  const w = deploy.get(`${g.fusedCheap.name}.weight`);
  const b = deploy.get(`${g.fusedCheap.name}.bias`);
  if (!w || !b) throw new Error(`deploy-form state dict has no ${g.fusedCheap.name}.weight/bias`);
  const c = g.channels;
  const kernel = Float32Array.from(toFloat64(w));
  const kk = kernel.length / c;
  const branch = g.fusionBranch ?? [];
  if (branch.length === 0) {
    // Identity fusion: the branch stays in the function, so the kernel gives it back.
    const center = (kk - 1) / 2;
    for (let o = 0; o < c; o++) kernel[o * kk + center] = Math.fround(kernel[o * kk + center]! - 1);
  } else {
    // A branch of layers: make it add nothing (zero its conv, else its last BN); other BNs identity.
    const conv = branch.find((l): l is ConvLayer => l.kind === 'conv');
    if (conv) zeroConv(out, conv);
    branch.forEach((l, i) => {
      if (l.kind === 'bn') setBn(out, l, !conv && i === branch.length - 1 ? 0 : 1, () => 0);
    });
  }
  out.set(`${g.cheap.conv.name}.weight`, { dtype: 'F32', shape: [...w.shape], data: kernel });
  const bias = toFloat64(b);
  setBn(out, g.cheap.bn, 1, (i) => bias[i]!);
}

/**
 * Official deploy form -> training form for `spec`, with the same eval-mode function (see
 * the module comment). Keys come out in PyTorch order; unchanged tensors are shared.
 */
export function toTrain(spec: ModelSpec, deploy: StateDict): StateDict {
  const made = new Map<string, Tensor>();
  for (const g of ghostModules(spec)) if (cheapIsFused(g, 'deploy')) expandGhostModule(deploy, g, made);
  const out: StateDict = new Map();
  for (const [key] of stateDictKeys(spec, 'train')) {
    const t = made.get(key) ?? deploy.get(key);
    if (!t) throw new Error(`deploy-form state dict has no '${key}'`);
    out.set(key, t);
  }
  return out;
}
