/**
 * Params/FLOPs with the semantics of the official counter (`tools.cal_flops_params`,
 * thop's `profile_origin`): MACs of Conv and Linear layers only (a conv's bias adds one
 * per output element; BN, activations, pooling and the SE multiply count zero), and
 * the parameters of every leaf module. Layers, their stages and output sizes come from
 * the recorder's walk of the spec.
 */
import type { Layer } from '../spec/layer-types.js';
import type { ModelSpec } from '../spec/model-spec.js';
import { record, type RecordedLayer } from '../spec/record.js';
import type { Form } from '../spec/walk.js';

/** Counts for one form, at one input size. */
export interface Counts {
  /** Multiply-accumulates of Conv and Linear layers (what the paper calls FLOPs). */
  flops: number;
  /** Parameters of every leaf module (BN affine included). */
  params: number;
  /** Sum of numel over all parameters (equal to `params` for RepGhostNet). */
  total_params: number;
}

/** MACs of one recorded layer, as thop's `count_convNd` / `count_linear` compute them (batch 1). */
export function layerMacs({ layer: l, out }: RecordedLayer): number {
  if (l.kind === 'conv') {
    const perOutput = (l.inChannels / l.groups) * l.kernel * l.kernel + (l.bias ? 1 : 0);
    return l.outChannels * out.h! * out.w! * perOutput;
  }
  if (l.kind === 'linear') return l.outFeatures * l.inFeatures;
  return 0;
}

/** Trainable parameters of one layer. */
export function layerParams(l: Layer): number {
  switch (l.kind) {
    case 'conv':
      return l.outChannels * (l.inChannels / l.groups) * l.kernel * l.kernel + (l.bias ? l.outChannels : 0);
    case 'bn':
      return 2 * l.channels;
    case 'linear':
      return l.outFeatures * l.inFeatures + l.outFeatures;
  }
}

/** Counts of a whole model in one form at an input size (default 224x224, batch 1). */
export function countModel(spec: ModelSpec, form: Form, inputSize: [number, number] = [224, 224]): Counts {
  let flops = 0;
  let params = 0;
  for (const r of record(spec, form, inputSize).layers) {
    flops += layerMacs(r);
    params += layerParams(r.layer);
  }
  return { flops, params, total_params: params };
}

/** Per-stage breakdown row: `stem`, `blocks.0` ... `blocks.9`, `head`. */
export interface StageCounts {
  stage: string;
  flops: number;
  params: number;
  outChannels: number;
  outSize: [number, number];
}

/** Counts grouped by stage, for the `info` table; each row's output is the stage's output. */
export function countByStage(spec: ModelSpec, form: Form, inputSize: [number, number] = [224, 224]): StageCounts[] {
  const rec = record(spec, form, inputSize);
  const rows = new Map<string, StageCounts>();
  for (const [stage, out] of rec.stageOut) {
    rows.set(stage, { stage, flops: 0, params: 0, outChannels: out.c, outSize: [out.h!, out.w!] });
  }
  for (const r of rec.layers) {
    const row = rows.get(r.stage)!;
    row.flops += layerMacs(r);
    row.params += layerParams(r.layer);
  }
  return [...rows.values()];
}
