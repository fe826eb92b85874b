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

/** Python's float floor division `a // b` (fmod-based, so 3 // 0.3 is 9 as in Python, not 10). */
export function pyFloorDiv(a: number, b: number): number {
  const mod = a % b;
  let div = (a - mod) / b;
  if (mod && b < 0 !== mod < 0) div -= 1;
  if (!div) return 0;
  const floor = Math.floor(div);
  return div - floor > 0.5 ? floor + 1 : floor;
}

/** Parameters of {@link stepLr}. */
export interface StepSchedule {
  lr: number;
  /** timm's decay_t (`--decay-epochs`, may be fractional). */
  decayEpochs: number;
  /** `--decay-rate`. */
  decayRate: number;
  warmupEpochs: number;
  warmupLr: number;
}

/**
 * timm's StepLRScheduler (0.6.x) stepped once per epoch:
 *   epoch e < W:  warmupLr + e * (lr - warmupLr) / W
 *   otherwise:    lr * decayRate ** (e // decayEpochs)
 * (the decay counts epochs from 0, warm-up included, as timm's does).
 */
export function stepLr(epoch: number, s: StepSchedule): number {
  if (epoch < s.warmupEpochs) return s.warmupLr + epoch * ((s.lr - s.warmupLr) / s.warmupEpochs);
  return s.lr * s.decayRate ** pyFloorDiv(epoch, s.decayEpochs);
}

/**
 * The LR schedules of `--sched`: timm's cosine and step, and `none` (no scheduler: --lr throughout, no warm-up, as
 * timm).
 */
export type ScheduleName = 'cosine' | 'step' | 'none';

/** Everything any schedule needs. */
export type Schedule = CosineSchedule & StepSchedule & { sched: ScheduleName };

/** The learning rate of epoch `epoch` under `s.sched`. */
export function scheduledLr(epoch: number, s: Schedule): number {
  if (s.sched === 'cosine') return cosineLr(epoch, s);
  if (s.sched === 'step') return stepLr(epoch, s);
  return s.lr;
}
