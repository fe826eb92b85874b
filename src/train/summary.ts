/** summary.csv as timm's update_summary writes it: one header, one row per epoch. */
import type { SummaryRow } from './checkpoint.js';

/** Column order of summary.csv. */
export const SUMMARY_COLUMNS: (keyof SummaryRow)[] = [
  'epoch',
  'train_loss',
  'eval_loss',
  'eval_top1',
  'eval_top5',
  'eval_top1_ema',
  'lr',
  'seconds',
  'images_per_s',
];

/** The whole CSV text for a history (empty cell where there is no EMA). */
export function summaryCsv(rows: SummaryRow[]): string {
  const lines = [SUMMARY_COLUMNS.join(',')];
  for (const r of rows) lines.push(SUMMARY_COLUMNS.map((c) => (r[c] === null ? '' : String(r[c]))).join(','));
  return `${lines.join('\n')}\n`;
}

/** Parses summary.csv back into rows (for reports). */
export function parseSummaryCsv(text: string): SummaryRow[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length === 0) return [];
  const header = lines[0]!.split(',');
  for (const c of ['epoch', 'train_loss', 'eval_top1']) {
    if (!header.includes(c)) throw new Error(`summary.csv has no '${c}' column`);
  }
  return lines.slice(1).map((line) => {
    const cells = line.split(',');
    const row: Record<string, number | null> = {};
    header.forEach((h, i) => {
      const cell = cells[i] ?? '';
      row[h] = cell === '' ? null : Number(cell);
    });
    return row as unknown as SummaryRow;
  });
}
