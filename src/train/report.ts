/**
 * Training report: curves of summary.csv drawn with chart.js on @napi-rs/canvas
 * (loss, top-1 raw/EMA, learning rate) as PNG files, and report.html with the PNGs
 * inlined as data URIs plus the per-epoch table, so the page stands alone.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createCanvas } from '@napi-rs/canvas';
import { Chart, registerables, type ChartConfiguration } from 'chart.js';
import type { SummaryRow } from './checkpoint.js';
import { parseSummaryCsv } from './summary.js';
import { writeFileAtomic } from '../node/atomic-write.js';
import { sameFile } from '../node/output-guard.js';
import { readInputFile } from '../node/read-input.js';

Chart.register(...registerables);

const WIDTH = 800;
const HEIGHT = 420;
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e'];

/** One line of a chart; `color` overrides the palette (by position otherwise). */
export interface Series {
  label: string;
  values: (number | null)[];
  color?: string;
  dashed?: boolean;
}

/** Renders one line chart (x = epoch) to PNG bytes. */
export function lineChartPng(
  title: string,
  epochs: number[],
  series: Series[],
  yLabel: string,
  logY = false,
): Uint8Array {
  const canvas = createCanvas(WIDTH, HEIGHT);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, WIDTH, HEIGHT);
  const config: ChartConfiguration<'line'> = {
    type: 'line',
    data: {
      labels: epochs.map(String),
      datasets: series.map((s, i) => {
        const color = s.color ?? COLORS[i % COLORS.length];
        return {
          label: s.label,
          data: s.values,
          borderColor: color,
          backgroundColor: color,
          borderWidth: 2,
          pointRadius: 3,
          spanGaps: true,
          borderDash: s.dashed ? [6, 4] : [],
        };
      }),
    },
    options: {
      responsive: false,
      animation: false,
      devicePixelRatio: 1,
      plugins: {
        title: { display: true, text: title },
        legend: { display: true, labels: { filter: (item) => item.text !== '' } },
      },
      scales: {
        x: { title: { display: true, text: 'epoch' } },
        y: { type: logY ? 'logarithmic' : 'linear', title: { display: true, text: yLabel } },
      },
    },
  };
  // chart.js drives any CanvasRenderingContext2D-like context; @napi-rs/canvas provides one.
  const chart = new Chart(ctx as unknown as CanvasRenderingContext2D, config);
  const png = canvas.toBuffer('image/png');
  chart.destroy();
  return new Uint8Array(png);
}

/** The three report charts of a history. */
export function reportCharts(rows: SummaryRow[]): { name: string; title: string; png: Uint8Array }[] {
  const epochs = rows.map((r) => r.epoch);
  const hasEma = rows.some((r) => r.eval_top1_ema !== null);
  return [
    {
      name: 'loss.png',
      title: 'Loss',
      png: lineChartPng(
        'Loss',
        epochs,
        [
          { label: 'train (label-smoothed)', values: rows.map((r) => r.train_loss) },
          { label: 'eval (cross-entropy)', values: rows.map((r) => r.eval_loss) },
        ],
        'loss',
      ),
    },
    {
      name: 'top1.png',
      title: 'Top-1 accuracy',
      png: lineChartPng(
        'Top-1 accuracy (%)',
        epochs,
        [
          { label: 'raw', values: rows.map((r) => r.eval_top1) },
          ...(hasEma ? [{ label: 'EMA', values: rows.map((r) => r.eval_top1_ema) }] : []),
        ],
        'top-1 %',
      ),
    },
    {
      name: 'lr.png',
      title: 'Learning rate',
      png: lineChartPng('Learning rate', epochs, [{ label: 'lr', values: rows.map((r) => r.lr) }], 'lr', true),
    },
  ];
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

/** A self-contained HTML page: charts as data URIs and the epoch table. */
export function reportHtml(title: string, rows: SummaryRow[], charts: { title: string; png: Uint8Array }[]): string {
  const fmt = (v: number | null, digits: number) => (v === null ? '' : v.toFixed(digits));
  const table = rows
    .map(
      (r) =>
        `<tr><td>${r.epoch}</td><td>${fmt(r.train_loss, 4)}</td><td>${fmt(r.eval_loss, 4)}</td>` +
        `<td>${fmt(r.eval_top1, 2)}</td><td>${fmt(r.eval_top5, 2)}</td><td>${fmt(r.eval_top1_ema, 2)}</td>` +
        `<td>${r.lr.toPrecision(4)}</td><td>${fmt(r.seconds, 1)}</td><td>${fmt(r.images_per_s, 1)}</td></tr>`,
    )
    .join('\n');
  const imgs = charts
    .map(
      (c) =>
        `<figure><img alt="${escapeHtml(c.title)}" ` +
        `src="data:image/png;base64,${Buffer.from(c.png).toString('base64')}"></figure>`,
    )
    .join('\n');
  const header =
    '<tr><th>epoch</th><th>train loss</th><th>eval loss</th><th>top-1</th><th>top-5</th>' +
    '<th>top-1 EMA</th><th>lr</th><th>s</th><th>img/s</th></tr>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:sans-serif;margin:2em;max-width:900px}img{max-width:100%}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}</style></head>
<body><h1>${escapeHtml(title)}</h1>
${imgs}
<table>${header}
${table}
</table></body></html>
`;
}

/**
 * Reads `<dir>/summary.csv`, writes loss.png, top1.png, lr.png and report.html there; returns the paths.
 * Every file goes through the atomic writer (a new file renamed over the name): a link
 * planted at `report.html` or `loss.png` is replaced, never followed to its target.
 */
export async function writeReport(dir: string): Promise<string[]> {
  const csv = path.join(dir, 'summary.csv');
  if (!existsSync(csv)) throw new Error(`${csv} not found: is ${dir} a training output directory?`);
  const rows = parseSummaryCsv(
    new TextDecoder().decode(await readInputFile(csv, 'training summary', { maxBytes: 64 * 2 ** 20 })),
  );
  if (rows.length === 0) throw new Error(`${csv} has no epochs yet`);
  const charts = reportCharts(rows);
  const html = path.join(dir, 'report.html');
  const outputs = [...charts.map((c) => path.join(dir, c.name)), html];
  const clobbered = outputs.find((o) => sameFile(o, csv));
  if (clobbered) throw new Error(`${clobbered} is the training summary itself (a link?): refusing to overwrite it`);
  for (const [i, c] of charts.entries()) await writeFileAtomic(outputs[i]!, c.png);
  await writeFileAtomic(
    html,
    new TextEncoder().encode(reportHtml(`Training report: ${path.basename(path.resolve(dir))}`, rows, charts)),
  );
  return outputs;
}
