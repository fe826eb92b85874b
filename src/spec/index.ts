/** Model specification: the architecture as data, and the one walk over it. */
export * from './variants.js';
export * from './make-divisible.js';
export * from './layer-types.js';
export * from './model-spec.js';
export * from './walk.js';
export * from './record.js';
export { layers, stateDictKeys } from './layers.js';
