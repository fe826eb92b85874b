/** Model specification: the architecture as data. */
export * from './variants.js';
export * from './make-divisible.js';
export * from './model-spec.js';
export * from './layers.js';
