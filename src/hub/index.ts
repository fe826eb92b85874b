/**
 * Pretrained weights, Node entry point: the registry, the caching resolver and its
 * progress bar. Browser code imports `./browser.js` and `./registry.js` instead.
 */
export * from './registry.js';
export { HubError, type HubErrorCode } from './errors.js';
export {
  resolvePretrained,
  locatePretrained,
  pretrainedCachePath,
  type ResolveOptions,
  type ResolvedPretrained,
  type DownloadProgress,
  type PretrainedLocation,
} from './download.js';
export { defaultCacheDir, cachePathForUrl } from './cache.js';
export { createProgressReporter, type ProgressReporter, type ProgressOptions } from './progress.js';
