/**
 * Training augmentations on 8-bit RGB images with Pillow 9.4 / timm 0.6 semantics (pure
 * TypeScript, browser-safe): the ops of RandAugment and ColorJitter, RandomResizedCrop,
 * RandomErasing, and the composed train / eval pipelines.
 */
export * from './random.js';
export * from './lut.js';
export * from './enhance.js';
export * from './geometry.js';
export * from './random-resized-crop.js';
export * from './rand-augment.js';
export * from './color-jitter.js';
export * from './random-erasing.js';
export * from './transforms.js';
