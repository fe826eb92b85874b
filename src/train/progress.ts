/**
 * Training progress output: a cli-progress bar with loss, images/s and ETA when
 * stderr is a terminal; plain log lines (every `every` steps) otherwise.
 */
import cliProgress from 'cli-progress';
import type { SummaryRow } from './checkpoint.js';
import type { StepProgress, TrainHooks } from './trainer.js';

/** Hooks that render progress to stderr. */
export function progressHooks(
  options: { tty?: boolean; every?: number; write?: (s: string) => void } = {},
): TrainHooks & { stop(): void } {
  const write = options.write ?? ((s: string) => process.stderr.write(s));
  // isTTY is undefined on a pipe (the types say boolean), so the conversion is needed:
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-conversion
  const tty = options.tty ?? Boolean(process.stderr.isTTY);
  const every = options.every ?? 50;
  let bar: cliProgress.SingleBar | null = null;
  const stop = (): void => {
    bar?.stop();
    bar = null;
  };
  return {
    log: (line) => {
      if (bar) {
        stop();
      }
      write(`${line}\n`);
    },
    onEpochStart: (epoch, steps) => {
      if (!tty) return;
      bar = new cliProgress.SingleBar(
        {
          format: `epoch ${epoch} [{bar}] {value}/{total} | loss {loss} | {ips} img/s | ETA {eta_formatted}`,
          stream: process.stderr,
          hideCursor: true,
          clearOnComplete: true,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(steps, 0, { loss: '-', ips: '-' });
    },
    onStep: (p: StepProgress) => {
      if (bar) {
        bar.update(p.step + 1, { loss: p.loss.toFixed(4), ips: p.imagesPerSecond.toFixed(1) });
        return;
      }
      if ((p.step + 1) % every === 0 || p.step + 1 === p.steps) {
        const eta = ((p.steps - p.step - 1) * p.batchSize) / Math.max(p.imagesPerSecond, 1e-9);
        write(
          `epoch ${p.epoch}/${p.epochs} step ${p.step + 1}/${p.steps} loss ${p.loss.toFixed(4)} lr ` +
            `${p.lr.toPrecision(4)} ` +
            `${p.imagesPerSecond.toFixed(1)} img/s ETA ${formatSeconds(eta)}\n`,
        );
      }
    },
    onEpochEnd: (_row: SummaryRow) => {
      stop();
    },
    stop,
  };
}

function formatSeconds(s: number): string {
  const m = Math.floor(s / 60);
  return m > 0
    ? `${m}m${Math.round(s % 60)
        .toString()
        .padStart(2, '0')}s`
    : `${Math.round(s)}s`;
}
