/**
 * A download progress bar on stderr (Node): bytes, percentage, rate and ETA, drawn
 * with cli-progress only when stderr is a terminal, so logs, pipes and `--json`
 * output stay clean. Feed `onProgress` to resolvePretrained and call `stop()` after.
 */
import cliProgress from 'cli-progress';
import type { DownloadProgress } from './download.js';

/** A progress sink for resolvePretrained's `onProgress`. */
export interface ProgressReporter {
  onProgress: (p: DownloadProgress) => void;
  /** Finishes the bar (leaves the final line on screen). Safe to call when nothing was drawn. */
  stop(): void;
}

/** Options of {@link createProgressReporter}. */
export interface ProgressOptions {
  /** Text before the bar (e.g. the model name). */
  label: string;
  /** Where to draw (default process.stderr). */
  stream?: NodeJS.WriteStream;
  /** Force on/off; default: on when `stream` is a TTY. Pass false for --json / quiet modes. */
  enabled?: boolean;
}

/** Human byte count in binary units (what download tools show). */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

function formatEta(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '--:--';
  const m = Math.floor(s / 60);
  return m >= 60
    ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`
    : `${m}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
}

/**
 * Creates the reporter. The bar appears at the first chunk (a cache hit draws
 * nothing); the rate counts only bytes of this run, not a resumed prefix.
 */
export function createProgressReporter(opts: ProgressOptions): ProgressReporter {
  const stream = opts.stream ?? process.stderr;
  // The types say isTTY is boolean, but it is undefined on a pipe.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-conversion -- isTTY is undefined on a pipe
  const enabled = opts.enabled ?? !!stream.isTTY;
  if (!enabled) return { onProgress: () => undefined, stop: () => undefined };
  let bar: cliProgress.SingleBar | undefined;
  let started = 0;
  const payload = (p: DownloadProgress) => {
    const secs = Math.max(1e-3, (performance.now() - started) / 1000);
    const rate = (p.received - p.resumedFrom) / secs;
    const left = p.total !== undefined ? (p.total - p.received) / Math.max(rate, 1) : NaN;
    return {
      label: opts.label,
      done: formatBytes(p.received),
      size: p.total !== undefined ? formatBytes(p.total) : '?',
      rate: `${formatBytes(rate)}/s`,
      etaText: formatEta(left),
    };
  };
  return {
    onProgress(p) {
      if (!bar) {
        started = performance.now();
        bar = new cliProgress.SingleBar(
          {
            stream,
            format: '{label} [{bar}] {percentage}% | {done}/{size} | {rate} | ETA {etaText}',
            barsize: 30,
            hideCursor: true,
            clearOnComplete: false,
            fps: 8,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(p.total ?? 0, p.received, payload(p));
      }
      if (p.total !== undefined) bar.setTotal(p.total);
      bar.update(p.received, payload(p));
    },
    stop() {
      bar?.stop();
      bar = undefined;
    },
  };
}
