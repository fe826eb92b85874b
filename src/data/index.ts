/**
 * Browser-safe data layer: PIL/torchvision-exact preprocessing on RGB pixel arrays.
 * Decoding files is Node-only and lives in `src/node/decode.ts` (not re-exported here,
 * so bundlers never pull in sharp).
 */
export * from './preprocess.js';
