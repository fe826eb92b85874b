/** timm's StepLRScheduler (per epoch, with warm-up), `--sched none`, and Python's float floor division. */
import { describe, expect, it } from 'vitest';
import { cosineLr, pyFloorDiv, scheduledLr, stepLr, type Schedule } from '../../src/train/lr-schedule.js';

describe('step LR schedule (timm StepLRScheduler, t_in_epochs)', () => {
  it('warms up linearly, then decays by decay_rate every decay_epochs counted from epoch 0', () => {
    const s = { lr: 0.1, decayEpochs: 3, decayRate: 0.5, warmupEpochs: 2, warmupLr: 0.01 };
    const lrs = Array.from({ length: 10 }, (_, e) => stepLr(e, s));
    // 0, 1: warm-up; 2: 0.1 * 0.5^(2 // 3) = 0.1; 3..5: 0.05; 6..8: 0.025; 9: 0.0125
    const expected = [0.01, 0.055, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125];
    lrs.forEach((lr, e) => expect(lr, `epoch ${e}`).toBeCloseTo(expected[e]!, 15));
  });

  it('takes fractional decay epochs as timm does (t // decay_t on floats)', () => {
    const s = { lr: 1, decayEpochs: 2.5, decayRate: 0.1, warmupEpochs: 0, warmupLr: 0 };
    expect([0, 2, 3, 5, 7].map((e) => stepLr(e, s))).toEqual([1, 1, 0.1, 1 * 0.1 ** 2, 1 * 0.1 ** 2]);
  });

  it('floor-divides floats like Python', () => {
    // Python: 3 // 0.3 == 10.0, 0.9 // 0.3 == 3.0, 7 // 2.5 == 2.0, 29 // 30 == 0
    expect([
      pyFloorDiv(3, 0.3),
      pyFloorDiv(0.9, 0.3),
      pyFloorDiv(7, 2.5),
      pyFloorDiv(29, 30),
      pyFloorDiv(30, 30),
    ]).toEqual([10, 3, 2, 0, 1]);
  });
});

describe('scheduledLr', () => {
  const base: Schedule = {
    sched: 'cosine',
    lr: 0.2,
    minLr: 0.001,
    epochs: 10,
    warmupEpochs: 1,
    warmupLr: 1e-4,
    decayEpochs: 4,
    decayRate: 0.1,
  };
  it('dispatches on --sched; none is the constant --lr with no warm-up, as timm without a scheduler', () => {
    for (let e = 0; e < 12; e++) {
      expect(scheduledLr(e, base)).toBe(cosineLr(e, base));
      expect(scheduledLr(e, { ...base, sched: 'step' })).toBe(stepLr(e, base));
      expect(scheduledLr(e, { ...base, sched: 'none' })).toBe(0.2);
    }
  });
});
