/**
 * The parametric leaf modules of a spec in PyTorch registration order, for either
 * state-dict form, and the state-dict keys that follow from them: both read off the
 * one walk (walk.ts) by the recorder (record.ts).
 */
import type { ModelSpec } from './model-spec.js';
import { layerKeys, type KeySpec, type Layer } from './layer-types.js';
import { record } from './record.js';
import type { Form } from './walk.js';

export type { ConvLayer, BnLayer, LinearLayer, Layer, KeySpec } from './layer-types.js';
export { layerKeys } from './layer-types.js';
export { cheapIsFused, type Form } from './walk.js';

/** The leaf layers (convs, BNs, the classifier) of a spec in a form, in PyTorch order. */
export function layers(spec: ModelSpec, form: Form): Layer[] {
  return record(spec, form).layers.map((r) => r.layer);
}

/** The full state-dict key list (key, shape, dtype) of a spec in a form, in PyTorch order. */
export function stateDictKeys(spec: ModelSpec, form: Form): KeySpec[] {
  return layers(spec, form).flatMap(layerKeys);
}
