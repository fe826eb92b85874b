/**
 * The one description of how RepGhostNet's layers connect: the forward pass of the
 * official `RepGhostNet.forward`, written once over an operations interface. Every
 * consumer implements the interface for its own value type and runs this walk:
 *
 * - the recorder (record.ts): values are shapes; it yields the leaf layers in PyTorch
 *   order (state-dict keys of both forms), FLOPs/params per stage and the BN-fold pairs;
 * - the ONNX emitter (onnx/emit.ts): values are graph value names; it appends nodes;
 * - the TF.js training graph (train/network.ts): values are tensors.
 *
 * Layer names and sizes come from the spec (model-spec.ts); this file only wires them.
 * Names of the parameter-free ops (`act1`, `fusion_add`, ...) are PyTorch's module
 * names where one exists; the ONNX graph uses them as node names.
 */
import type { BnLayer, ConvBn, ConvLayer, LinearChain, LinearLayer } from './layer-types.js';
import type { BottleneckSpec, ConvBnActSpec, GhostModuleSpec, ModelSpec, SeSpec } from './model-spec.js';

/**
 * `train`: the training-time modules (fusion branches and every BN present).
 * `deploy`: the official conversion (`repghost_model_convert`): each module's fusion
 * branch and the BN of `cheap_operation` folded into a biased `cheap_operation`;
 * every other BN kept. A module without a fusion branch (norep) is left unchanged,
 * exactly as the official `switch_to_deploy` leaves it.
 */
export type Form = 'train' | 'deploy';

/**
 * Named intermediate outputs, as the PyTorch goldens and timm name them. `conv_stem`:
 * the stem conv output before bn1 (timm's stride-2 tap); `act1`: after bn1 + ReLU;
 * `blocks.<i>`: each stage's output; `pre_logits`: [N, 1280] after global pool,
 * conv_head and ReLU.
 */
export type TapName = 'conv_stem' | 'act1' | `blocks.${number}` | 'pre_logits';

/**
 * What the walk asks of a backend. `V` is the backend's value (a shape, an ONNX value
 * name, a tensor). Values are NCHW in meaning; a backend may hold another layout.
 * Each call is one op of the network: a backend may fuse ops behind the interface (the
 * TF.js graph runs BN + add + ReLU as one kernel), but never needs to know the wiring.
 */
export interface NetworkOps<V> {
  /** A conv layer with its own weight (and bias when `layer.bias`). */
  conv(layer: ConvLayer, x: V): V;
  /** A BatchNorm layer (train mode: batch statistics; eval: running statistics). */
  bn(layer: BnLayer, x: V): V;
  relu(name: string, x: V): V;
  /** Elementwise a + b (same shapes). */
  add(name: string, a: V, b: V): V;
  /** Global average pooling: [N, C, H, W] -> [N, C, 1, 1]. */
  globalPool(name: string, x: V): V;
  /** The official `hard_sigmoid`: relu6(x + 3) / 6. */
  hardSigmoid(name: string, x: V): V;
  /** x * gate, gate [N, C, 1, 1] broadcast over H and W. */
  mul(name: string, x: V, gate: V): V;
  /** [N, C, 1, 1] -> [N, C]. */
  flatten(name: string, x: V): V;
  /** Dropout with drop rate `rate` (training only: the identity in inference graphs). */
  dropout(rate: number, x: V): V;
  /** The classifier: [N, in] -> [N, out]. */
  linear(layer: LinearLayer, x: V): V;
  /** Marks a named intermediate output; returns the value the walk continues with. */
  tap(name: TapName, x: V): V;
}

/** True when the module's cheap_operation and fusion branch are one biased conv in this form. */
export function cheapIsFused(g: GhostModuleSpec, form: Form): boolean {
  return form === 'deploy' && g.fusionBranch !== null;
}

/** False when no module has a fusion branch (norep): then both forms are the same network and keys. */
export function formsDiffer(spec: ModelSpec): boolean {
  return spec.stages.some((blocks) => blocks.some((b) => b.kind === 'bottleneck' && cheapIsFused(b.ghost1, 'deploy')));
}

function convBn<V>(o: NetworkOps<V>, cb: ConvBn, x: V): V {
  return o.bn(cb.bn, o.conv(cb.conv, x));
}

function chain<V>(o: NetworkOps<V>, layers: LinearChain, x: V): V {
  for (const l of layers) x = l.kind === 'conv' ? o.conv(l, x) : o.bn(l, x);
  return x;
}

/** RepGhostModule.forward: relu?(cheap(x1) + fusion(x1)), x1 = primary_conv(x). */
function ghostModule<V>(o: NetworkOps<V>, m: GhostModuleSpec, form: Form, x: V): V {
  let x1 = convBn(o, m.primary, x);
  if (m.relu) x1 = o.relu(`${m.name}.primary_conv.2`, x1);
  let y: V;
  if (cheapIsFused(m, form)) {
    y = o.conv(m.fusedCheap, x1);
  } else if (m.fusionBranch) {
    // The official module registers the fusion branch before cheap_operation: walking it
    // first keeps the layers (and so the state-dict keys) in PyTorch's order.
    const fusion = chain(o, m.fusionBranch, x1);
    y = o.add(`${m.name}.fusion_add`, convBn(o, m.cheap, x1), fusion);
  } else {
    y = convBn(o, m.cheap, x1);
  }
  return m.relu ? o.relu(`${m.name}.relu`, y) : y;
}

/** SqueezeExcite.forward: x * hard_sigmoid(expand(relu(reduce(avgpool(x))))). */
function squeezeExcite<V>(o: NetworkOps<V>, se: SeSpec, x: V): V {
  const pooled = o.globalPool(`${se.name}.avg_pool`, x);
  const reduced = o.relu(`${se.name}.act1`, o.conv(se.reduce, pooled));
  const gate = o.hardSigmoid(`${se.name}.gate`, o.conv(se.expand, reduced));
  return o.mul(`${se.name}.mul`, x, gate);
}

/** RepGhostBottleneck.forward. */
function bottleneck<V>(o: NetworkOps<V>, b: BottleneckSpec, form: Form, x: V): V {
  let y = ghostModule(o, b.ghost1, form, x);
  if (b.downsample) y = convBn(o, b.downsample, y);
  if (b.se) y = squeezeExcite(o, b.se, y);
  y = ghostModule(o, b.ghost2, form, y);
  if (b.shortcut === 'none') return y;
  let residual = x;
  for (const cb of b.shortcutPath) residual = convBn(o, cb, residual);
  return o.add(`${b.name}.add`, y, residual);
}

/** ConvBnAct (`blocks.9.0`): relu(bn1(conv(x))). */
function convBnAct<V>(o: NetworkOps<V>, b: ConvBnActSpec, x: V): V {
  return o.relu(`${b.name}.act1`, convBn(o, b.layer, x));
}

/**
 * RepGhostNet.forward of `spec` in `form` on `input` ([N, 3, H, W]), through `ops`;
 * returns the logits value ([N, numClasses]).
 */
export function walkNetwork<V>(spec: ModelSpec, form: Form, ops: NetworkOps<V>, input: V): V {
  let x = ops.tap('conv_stem', ops.conv(spec.stem.conv, input));
  x = ops.tap('act1', ops.relu('act1', ops.bn(spec.stem.bn, x)));
  spec.stages.forEach((stage, i) => {
    for (const b of stage) x = b.kind === 'bottleneck' ? bottleneck(ops, b, form, x) : convBnAct(ops, b, x);
    x = ops.tap(`blocks.${i}`, x);
  });
  x = ops.globalPool('global_pool', x);
  x = ops.relu('act2', ops.conv(spec.head, x));
  x = ops.tap('pre_logits', ops.flatten('flatten', x));
  return ops.linear(spec.classifier, ops.dropout(spec.dropout, x));
}
