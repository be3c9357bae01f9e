/**
 * The command side of the library's progress callback (`ProgressFn`): step messages become
 * lines and warnings `WARNING:` lines, all on stderr; byte progress is drawn by format's
 * `ProgressDrawer` (the drawer aklite-offline uses too) on one line, only on a TTY and
 * never with `--json`. stdout holds nothing but the command's result.
 */
import { ProgressDrawer, type ProgressStream } from '@offline-ota/format';
import type { ProgressEvent, ProgressFn } from '../progress.js';

export interface ProgressPrinterOptions {
  /** Where the progress line is drawn (stderr). */
  stream: ProgressStream;
  /** Prints a step message line (the command's stderr). */
  log: (line: string) => void;
  /** Prints a warning line (the command's stderr). */
  warn: (line: string) => void;
  /** `--json`: nothing but the JSON result may be printed. */
  json: boolean;
  now?: () => number;
}

/** The progress callback of a command; `end()` clears a drawn line. */
export function progressPrinter(o: ProgressPrinterOptions): ProgressFn & { end(): void } {
  const drawer = new ProgressDrawer({
    stream: o.stream,
    enabled: !o.json,
    ...(o.now === undefined ? {} : { now: o.now }),
  });
  const fn = (e: ProgressEvent): void => {
    if (o.json) return;
    if (e.bytes === undefined) {
      drawer.clear();
      if (e.step === 'warning') o.warn(`WARNING: ${e.message}`);
      else o.log(e.message);
      return;
    }
    drawer.update({ label: e.message, done: e.bytes.done, total: e.bytes.total });
  };
  return Object.assign(fn, { end: () => drawer.clear() });
}
