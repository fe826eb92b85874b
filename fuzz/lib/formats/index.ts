/** The registry of fuzzable formats. */
import { idxFormat } from './idx.js';
import { imageFormat } from './image.js';
import { pickleFormat } from './pickle.js';
import { pthFormat } from './pth.js';
import { safetensorsFormat } from './safetensors.js';
import type { FormatName, FormatTarget } from './types.js';

export const FORMATS: Record<FormatName, FormatTarget> = {
  pth: pthFormat,
  pickle: pickleFormat,
  safetensors: safetensorsFormat,
  idx: idxFormat,
  image: imageFormat,
};

export { FORMAT_NAMES, type FormatName } from './types.js';
