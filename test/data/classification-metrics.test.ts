/** The one top-1/top-5 metric of validate and the trainer, on tied logits (issue 15 item 4). */
import { describe, expect, it } from 'vitest';
import { ClassificationMetrics, targetPlace, topK } from '../../src/data/classification-metrics.js';
import { ClassificationMetrics as ApiMetrics } from '../../src/api/postprocess.js';
import { EvalAccumulator } from '../../src/train/evaluate.js';

describe('top-k with ties', () => {
  it('takes exactly k predictions, ties broken by lowest class index (a tie never counts all its classes)', () => {
    const flat = new Float32Array(10); // every class tied
    const m = new ClassificationMetrics();
    m.update(new Float32Array([...flat, ...flat, ...flat]), 10, [0, 4, 7]);
    // target 0 is the top-1 of a flat row; 4 is 5th (top-5 only); 7 is outside the top 5.
    expect(m.summary()).toMatchObject({ top1: 100 / 3, top5: 200 / 3, count: 3 });
    expect(m.summary().loss).toBeCloseTo(Math.log(10), 12);
    expect(topK(flat, 5)).toEqual([0, 1, 2, 3, 4]);
  });

  it('a tie straddling the 5th place: classes above count, the tied ones only while places remain', () => {
    const row = [9, 1, 5, 5, 5, 5, 5, 5, 0, 0];
    expect([0, 2, 3, 4, 5, 6, 7].map((t) => targetPlace(row, t))).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(topK(row, 5)).toEqual([0, 2, 3, 4, 5]);
    const m = new ClassificationMetrics();
    m.update(new Float32Array([...row, ...row]), 10, [5, 6]);
    expect(m.summary()).toMatchObject({ top1: 0, top5: 50 });
  });

  it('validate and the trainer report the same figures for the same logits', () => {
    const rows = 64;
    const classes = 12;
    // Coarse values: many ties, including at the top.
    const logits = Float32Array.from({ length: rows * classes }, (_, i) => ((i * 7919) % 13) / 4);
    const targets = Int32Array.from({ length: rows }, (_, r) => (r * 5) % classes);
    const api = new ApiMetrics();
    api.update(logits, classes, targets);
    const trainer = new EvalAccumulator();
    trainer.add(logits, classes, targets, rows);
    expect(trainer.result()).toEqual(api.summary());
    // The loss is log-sum-exp minus the target logit, computed once.
    let loss = 0;
    for (let r = 0; r < rows; r++) {
      const row = Array.from(logits.subarray(r * classes, (r + 1) * classes));
      loss += Math.log(row.reduce((s, v) => s + Math.exp(v), 0)) - row[targets[r]!]!;
    }
    expect(api.summary().loss).toBeCloseTo(loss / rows, 10);
    expect(() => api.update(logits.subarray(0, classes), classes, [classes])).toThrow(RangeError);
  });
});
