import type { ProgressEvent, ProgressFn } from '../progress.js';
import { formatBytes, formatDuration } from '@offline-ota/format';

export { formatBytes, formatDuration };

/** The one-line text of a byte-progress event: bytes, percentage, rate and ETA. */
export function progressLine(
  e: ProgressEvent & { bytes: { done: number; total?: number } },
  elapsedSeconds: number,
): string {
  const { done, total } = e.bytes;
  const rate = elapsedSeconds > 0 ? done / elapsedSeconds : 0;
  const parts = [e.message];
  if (total === undefined) {
    parts.push(formatBytes(done));
  } else {
    const pct = total > 0 ? Math.floor((done / total) * 100) : 100;
    parts.push(`${formatBytes(done)} / ${formatBytes(total)}`, `${pct}%`);
  }
  if (rate > 0) parts.push(`${formatBytes(Math.round(rate))}/s`);
  if (total !== undefined && rate > 0 && done < total)
    parts.push(`ETA ${formatDuration((total - done) / rate)}`);
  return parts.join('  ');
}

export interface ProgressPrinterOptions {
  /** Where the progress line is drawn (stderr). */
  stream: { isTTY?: boolean; columns?: number; write(s: string): unknown };
  /** Prints a step message line (the command's `log`). */
  log: (line: string) => void;
  /** Prints a warning line (the command's stderr). */
  warn: (line: string) => void;
  /** `--json`: nothing but the JSON result may be printed. */
  json: boolean;
  now?: () => number;
}

/**
 * The command side of the library's progress callback. Step messages become lines;
 * byte progress is drawn on one line with `\r` on stderr, only when stderr is a TTY and
 * `--json` is not given. `end()` clears a drawn line.
 */
export function progressPrinter(o: ProgressPrinterOptions): ProgressFn & { end(): void } {
  const now = o.now ?? Date.now;
  let drawn = false;
  let phase: string | undefined;
  let started = 0;
  const clear = (): void => {
    if (drawn) o.stream.write('\r\x1b[K');
    drawn = false;
  };
  const fn = (e: ProgressEvent): void => {
    if (o.json) return;
    if (e.bytes === undefined) {
      clear();
      if (e.step === 'warning') o.warn(`WARNING: ${e.message}`);
      else o.log(e.message);
      return;
    }
    if (o.stream.isTTY !== true) return;
    const key = `${e.step}\0${e.message}`;
    if (key !== phase) {
      phase = key;
      started = now();
    }
    let line = progressLine({ ...e, bytes: e.bytes }, (now() - started) / 1000);
    // A pseudo-terminal without a window size reports 0 columns.
    const cols = o.stream.columns;
    const width = cols !== undefined && cols > 0 ? cols : 80;
    if (line.length > width - 1) line = line.slice(0, width - 1);
    o.stream.write(`\r${line}\x1b[K`);
    drawn = true;
  };
  return Object.assign(fn, { end: clear });
}
