/**
 * Params/FLOPs with the semantics of the official counter (`tools.cal_flops_params`,
 * thop's `profile_origin`): MACs of Conv and Linear layers only (a conv's bias adds one
 * per output element; BN, activations, pooling and the SE multiply count zero), and
 * the parameters of every leaf module.
 */
import { layers, type Form, type Layer } from '../spec/layers.js';
import type { ModelSpec } from '../spec/model-spec.js';

/** Counts for one form, at one input size. */
export interface Counts {
  /** Multiply-accumulates of Conv and Linear layers (what the paper calls FLOPs). */
  flops: number;
  /** Parameters of every leaf module (BN affine included). */
  params: number;
  /** Sum of numel over all parameters (equal to `params` for RepGhostNet). */
  total_params: number;
}

/** MACs of one layer, as thop's `count_convNd` / `count_linear` compute them (batch 1). */
export function layerMacs(l: Layer): number {
  if (l.kind === 'conv') {
    const perOutput = (l.inChannels / l.groups) * l.kernel * l.kernel + (l.bias ? 1 : 0);
    return l.outChannels * l.outH * l.outW * perOutput;
  }
  if (l.kind === 'linear') return l.outFeatures * l.inFeatures;
  return 0;
}

/** Trainable parameters of one layer. */
export function layerParams(l: Layer): number {
  switch (l.kind) {
    case 'conv': return l.outChannels * (l.inChannels / l.groups) * l.kernel * l.kernel + (l.bias ? l.outChannels : 0);
    case 'bn': return 2 * l.channels;
    case 'linear': return l.outFeatures * l.inFeatures + l.outFeatures;
  }
}

/** Counts of a whole model in one form at an input size (default 224x224, batch 1). */
export function countModel(spec: ModelSpec, form: Form, inputSize: [number, number] = [224, 224]): Counts {
  let flops = 0;
  let params = 0;
  for (const l of layers(spec, form, inputSize)) {
    flops += layerMacs(l);
    params += layerParams(l);
  }
  return { flops, params, total_params: params };
}

/** Per-stage breakdown row: `stem`, `blocks.0` ... `blocks.9`, `head`. */
export interface StageCounts { stage: string; flops: number; params: number; outChannels: number; outSize: [number, number] }

/** Counts grouped by stage, for the `info` table. */
export function countByStage(spec: ModelSpec, form: Form, inputSize: [number, number] = [224, 224]): StageCounts[] {
  const rows = new Map<string, StageCounts>();
  for (const l of layers(spec, form, inputSize)) {
    const m = /^blocks\.(\d+)\./.exec(l.name);
    const stage = m ? `blocks.${m[1]}` : l.name === 'conv_stem' || l.name === 'bn1' ? 'stem' : 'head';
    let row = rows.get(stage);
    if (!row) rows.set(stage, (row = { stage, flops: 0, params: 0, outChannels: 0, outSize: [0, 0] }));
    row.flops += layerMacs(l);
    row.params += layerParams(l);
    if (l.kind === 'conv' && !l.name.includes('.se.') && !l.name.includes('.shortcut.')) {
      row.outChannels = l.outChannels;
      row.outSize = [l.outH, l.outW];
    }
    if (l.kind === 'linear') row.outChannels = l.outFeatures;
  }
  return [...rows.values()];
}
