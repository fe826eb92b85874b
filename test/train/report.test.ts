/** `repghost report`: PNG curves and a self-contained HTML page from summary.csv. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeReport } from '../../src/train/report.js';
import { parseSummaryCsv, summaryCsv } from '../../src/train/summary.js';
import type { SummaryRow } from '../../src/train/checkpoint.js';

const dir = mkdtempSync(path.join(tmpdir(), 'repghost-report-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const rows: SummaryRow[] = [
  {
    epoch: 0,
    train_loss: 2.28,
    eval_loss: 2.2,
    eval_top1: 15.5,
    eval_top5: 60,
    eval_top1_ema: 10,
    lr: 1e-4,
    seconds: 130,
    images_per_s: 460,
  },
  {
    epoch: 1,
    train_loss: 1.02,
    eval_loss: 0.6,
    eval_top1: 82.7,
    eval_top5: 99,
    eval_top1_ema: 10,
    lr: 0.0983,
    seconds: 131,
    images_per_s: 457,
  },
  {
    epoch: 2,
    train_loss: 0.85,
    eval_loss: 0.5,
    eval_top1: 83.4,
    eval_top5: 99.5,
    eval_top1_ema: 58.3,
    lr: 0.0933,
    seconds: 129,
    images_per_s: 464,
  },
];

describe('training report', () => {
  it('round-trips summary.csv (empty cell for a missing EMA)', () => {
    const csv = summaryCsv([...rows, { ...rows[2]!, epoch: 3, eval_top1_ema: null }]);
    expect(csv.split('\n')[0]).toBe(
      'epoch,train_loss,eval_loss,eval_top1,eval_top5,eval_top1_ema,lr,seconds,images_per_s',
    );
    expect(parseSummaryCsv(csv)).toEqual([...rows, { ...rows[2]!, epoch: 3, eval_top1_ema: null }]);
  });

  it('writes loss/top-1/lr PNGs and an HTML page with them inlined', async () => {
    writeFileSync(path.join(dir, 'summary.csv'), summaryCsv(rows));
    const files = await writeReport(dir);
    expect(files.map((f) => path.basename(f))).toEqual(['loss.png', 'top1.png', 'lr.png', 'report.html']);
    for (const f of files.slice(0, 3)) expect([...readFileSync(f).subarray(0, 4)]).toEqual([0x89, 0x50, 0x4e, 0x47]);
    const html = readFileSync(files[3]!, 'utf8');
    expect(html.match(/src="data:image\/png;base64,/g)).toHaveLength(3);
    expect(html).toContain('<td>83.40</td>');
    expect(html).not.toMatch(/src="(?!data:)/);
  });

  it('explains a directory without summary.csv', async () => {
    await expect(writeReport(path.join(dir, 'nope'))).rejects.toThrow(/summary\.csv not found/);
  });
});
