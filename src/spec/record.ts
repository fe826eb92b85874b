/**
 * The recorder: runs the walk with shapes as values and writes down what every other
 * consumer needs to know about the structure, so nothing rebuilds it from names:
 * the leaf layers in PyTorch order (hence state-dict keys), each layer's stage and
 * output size (hence FLOPs per stage), which conv each BN folds into, and which op
 * produces each tap.
 */
import { convOut, type ModelSpec } from './model-spec.js';
import type { BnLayer, ConvLayer, Layer } from './layer-types.js';
import { walkNetwork, type Form, type NetworkOps, type TapName } from './walk.js';

/** A value's shape [C, H, W] (batch left out); H and W are null when walked without an input size. */
export interface Shape {
  c: number;
  h: number | null;
  w: number | null;
}

/** One leaf layer as the walk met it. */
export interface RecordedLayer {
  layer: Layer;
  /** `stem`, `blocks.<i>` or `head`: the stage the layer belongs to. */
  stage: string;
  /** Output shape of the layer. */
  out: Shape;
}

/** Everything the recorder learns from one walk. */
export interface Recording {
  /** Leaf layers in PyTorch registration order. */
  layers: RecordedLayer[];
  /**
   * BN name -> the conv it can fold into: the BN reads that conv's output and nothing
   * else does (a tap aside: see `tapSources`).
   */
  foldInto: Map<string, string>;
  /** Tap -> the name of the layer or op whose output it is. */
  tapSources: Map<TapName, string>;
  /** Output shape of each stage (`stem`, `blocks.<i>`, `head`), in network order. */
  stageOut: Map<string, Shape>;
}

interface Value extends Shape {
  /** Name of the layer or op that produced the value. */
  producer: string;
  /** Set when a conv produced it. */
  conv?: ConvLayer;
  /** How many ops read it. */
  uses: number;
}

/** Walks `spec` in `form` for an input of `inputSize` [H, W] (or of unknown size), recording the structure. */
export function record(spec: ModelSpec, form: Form, inputSize: [number, number] | null = null): Recording {
  const layers: RecordedLayer[] = [];
  const stageOut = new Map<string, Shape>();
  const tapSources = new Map<TapName, string>();
  const bnAfterConv: { bn: BnLayer; input: Value }[] = [];
  let unassigned: RecordedLayer[] = [];
  const spatial = (n: number | null, l: ConvLayer): number | null =>
    n === null ? null : convOut(n, l.kernel, l.stride, l.pad);
  const read = (...xs: Value[]): void => xs.forEach((x) => x.uses++);
  const value = (producer: string, s: Shape, conv?: ConvLayer): Value => ({
    c: s.c,
    h: s.h,
    w: s.w,
    producer,
    uses: 0,
    ...(conv ? { conv } : {}),
  });
  const leaf = (layer: Layer, out: Value): Value => {
    const r: RecordedLayer = { layer, stage: '', out: { c: out.c, h: out.h, w: out.w } };
    layers.push(r);
    unassigned.push(r);
    return out;
  };
  const endStage = (stage: string, out: Shape): void => {
    for (const r of unassigned) r.stage = stage;
    unassigned = [];
    stageOut.set(stage, { c: out.c, h: out.h, w: out.w });
  };
  const expectChannels = (name: string, x: Value, c: number): void => {
    if (x.c !== c) throw new Error(`internal: ${name} expects ${c} channels, gets ${x.c} from ${x.producer}`);
  };

  const ops: NetworkOps<Value> = {
    conv(l, x) {
      expectChannels(l.name, x, l.inChannels);
      read(x);
      return leaf(l, value(l.name, { c: l.outChannels, h: spatial(x.h, l), w: spatial(x.w, l) }, l));
    },
    bn(l, x) {
      expectChannels(l.name, x, l.channels);
      read(x);
      if (x.conv) bnAfterConv.push({ bn: l, input: x });
      return leaf(l, value(l.name, x));
    },
    relu: (name, x) => (read(x), value(name, x)),
    add(name, a, b) {
      if (a.c !== b.c || a.h !== b.h || a.w !== b.w) {
        const dims = (v: Value): string => `${v.c}x${v.h}x${v.w} (${v.producer})`;
        throw new Error(`internal: ${name} adds ${dims(a)} to ${dims(b)}`);
      }
      read(a, b);
      return value(name, a);
    },
    globalPool: (name, x) => (read(x), value(name, { c: x.c, h: 1, w: 1 })),
    hardSigmoid: (name, x) => (read(x), value(name, x)),
    mul(name, x, gate) {
      expectChannels(name, gate, x.c);
      read(x, gate);
      return value(name, x);
    },
    flatten: (name, x) => (read(x), value(name, x)),
    dropout: (_rate, x) => x,
    linear(l, x) {
      expectChannels(l.name, x, l.inFeatures);
      read(x);
      return leaf(l, value(l.name, { c: l.outFeatures, h: x.h, w: x.w }));
    },
    tap(name, x) {
      tapSources.set(name, x.producer);
      // Stages end at act1 (the stem) and at each blocks.<i>; pre_logits lies inside the head.
      if (name === 'act1') endStage('stem', x);
      else if (name.startsWith('blocks.')) endStage(name, x);
      return x;
    },
  };
  const [h, w] = inputSize ?? [null, null];
  const logits = walkNetwork(spec, form, ops, value('input', { c: 3, h, w }));
  endStage('head', logits);
  const foldInto = new Map<string, string>();
  for (const { bn, input } of bnAfterConv) if (input.uses === 1) foldInto.set(bn.name, input.conv!.name);
  return { layers, foldInto, tapSources, stageOut };
}
