/** Rendering a fuzz report as the Markdown table committed in fuzz/README.md. */
import type { FuzzReport } from './runner.js';

/** The results table: one row per format. */
export function markdownTable(r: FuzzReport): string {
  const head =
    '| format | cases | clean errors | accepted | crashes | hangs | memory violations | peak RSS (MiB) | peak ' +
    'heap (MiB) | max arrayBuffers growth / case (MiB) | growth / bound | slowest case (ms) | seconds |';
  const sep = '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|';
  const rows = r.formats.map(
    (f) =>
      `| ${f.format} | ${f.cases} | ${f.cleanErrors} | ${f.accepted} | ${f.crashes} | ${f.hangs} | ` +
      `${f.memoryViolations} | ${f.peak.rssMiB.toFixed(0)} | ${f.peak.heapUsedMiB.toFixed(0)} | ` +
      `${f.peak.caseArrayBuffersGrowthMiB.toFixed(1)} | ${f.peak.worstGrowthToBound.toFixed(2)} | ` +
      `${f.slowestCaseMs} | ${f.seconds} |`,
  );
  const quick = r.quick ? ', quick seeds only' : '';
  const settings =
    `seed ${r.seed}, up to ${r.casesPerFormat} cases or ${r.secondsPerFormat} s per format, ` +
    `${r.jobs} worker processes, hang = ${r.hangMs} ms CPU, Node ${r.node}, ${r.date.slice(0, 10)}${quick}`;
  return [head, sep, ...rows, '', `_${settings}_`].join('\n');
}

/** Findings as a short list (empty string when there are none). */
export function findingsList(r: FuzzReport): string {
  const lines: string[] = [];
  for (const f of r.formats) {
    for (const x of f.findings) {
      lines.push(
        `- ${f.format} ${x.kind} #${x.index}${x.seed ? ` (${x.seed}: ${x.notes?.join('; ')})` : ''}: ` +
          `${x.message}${x.file ? ` -> ${x.file}` : ''}`,
      );
    }
  }
  return lines.join('\n');
}
