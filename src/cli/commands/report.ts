/** `repghost report <output-dir>`: training curves as PNG and a self-contained HTML page. */
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('report')
    .description('render the curves of a training run (summary.csv) to PNG and a self-contained HTML page')
    .argument('<output-dir>', 'a `repghost train --output` directory')
    .action(async (dir: string) => {
      // Canvas and chart.js load only when a report is drawn, not at every CLI start.
      const { writeReport } = await import('../../train/report.js');
      const files = await writeReport(dir);
      process.stdout.write(`${files.join('\n')}\n`);
    });
}
