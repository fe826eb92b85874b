/**
 * timm's CosineLRScheduler (0.6.x) stepped once per epoch, with linear warm-up from
 * `warmupLr` and no warm-up prefix (the cosine keeps counting from epoch 0):
 *   epoch e < W:  warmupLr + e * (lr - warmupLr) / W
 *   otherwise:    minLr + 0.5 * (lr - minLr) * (1 + cos(pi * e / E))
 * and minLr past the end of the single cycle (e >= E).
 */

/** Parameters of {@link cosineLr}. */
export interface CosineSchedule {
  lr: number;
  minLr: number;
  /** Total epochs E (timm's t_initial). */
  epochs: number;
  warmupEpochs: number;
  warmupLr: number;
}

/** The learning rate of epoch `epoch` (0-based). */
export function cosineLr(epoch: number, s: CosineSchedule): number {
  if (epoch < s.warmupEpochs) return s.warmupLr + epoch * ((s.lr - s.warmupLr) / s.warmupEpochs);
  if (epoch >= s.epochs) return s.minLr;
  return s.minLr + 0.5 * (s.lr - s.minLr) * (1 + Math.cos((Math.PI * epoch) / s.epochs));
}
