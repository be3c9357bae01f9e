/**
 * The one progress line of both CLIs (bundlectl on the host, aklite-offline on the device):
 * a long phase's bytes drawn with `\r` on stderr (bytes, percentage, rate, ETA), only when
 * stderr is a TTY and the command prints no JSON. It lives here, next to `formatBytes`,
 * because the device imports `format` and nothing host-only. Library code never draws; it
 * reports progress through a callback, and the command feeds this drawer.
 */
import { formatBytes, formatDuration } from './units.js';

/** Bytes done in one phase; `total` is absent when it cannot be known beforehand. */
export interface PhaseProgress {
  /** What the phase is called on the line; a new label starts a new phase. */
  label: string;
  done: number;
  total?: number | undefined;
}

/**
 * The text of one progress line: label, bytes (of the total when known, with a percentage),
 * the rate since the phase started, and the ETA (or, with no total, the time elapsed).
 */
export function progressLine(p: PhaseProgress, elapsedSeconds: number): string {
  const parts = [p.label];
  const rate = elapsedSeconds > 0 ? p.done / elapsedSeconds : 0;
  if (p.total === undefined) {
    parts.push(formatBytes(p.done));
  } else {
    const pct = p.total > 0 ? Math.min(100, Math.floor((p.done / p.total) * 100)) : 100;
    parts.push(`${formatBytes(p.done)} / ${formatBytes(p.total)}`, `${pct}%`);
  }
  if (rate > 0) parts.push(`${formatBytes(Math.round(rate))}/s`);
  if (p.total !== undefined && rate > 0 && p.done < p.total) {
    parts.push(`ETA ${formatDuration((p.total - p.done) / rate)}`);
  } else if (p.total === undefined) {
    parts.push(formatDuration(elapsedSeconds));
  }
  return parts.join('  ');
}

/** The stream the line is drawn on (process.stderr, or a fake in tests). */
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(s: string): unknown;
}

export interface ProgressDrawerOptions {
  stream: ProgressStream;
  /** False for `--json` and quiet commands: nothing is ever drawn. */
  enabled: boolean;
  now?: () => number;
  /** Least time between two redraws of the same phase (default 100 ms). */
  minIntervalMs?: number;
}

/**
 * Draws byte progress on one line. Redraws at most every `minIntervalMs` (a library may
 * report every chunk), and always when a phase starts or reaches its total. A line never
 * wraps: it is cut to the terminal's width (80 columns when the terminal reports none).
 * `clear()` erases a drawn line: call it before printing anything else.
 */
export class ProgressDrawer {
  private readonly now: () => number;
  private readonly minInterval: number;
  private readonly active: boolean;
  private label: string | undefined;
  private started = 0;
  private lastDraw = 0;
  private drawn = false;

  constructor(private readonly o: ProgressDrawerOptions) {
    this.now = o.now ?? Date.now;
    this.minInterval = o.minIntervalMs ?? 100;
    this.active = o.enabled && o.stream.isTTY === true;
  }

  update(p: PhaseProgress): void {
    if (!this.active) return;
    const t = this.now();
    if (p.label !== this.label) {
      this.label = p.label;
      this.started = t;
    } else if (
      t - this.lastDraw < this.minInterval &&
      (p.total === undefined || p.done < p.total)
    ) {
      return;
    }
    this.lastDraw = t;
    let line = progressLine(p, (t - this.started) / 1000);
    // A pseudo-terminal without a window size reports 0 columns.
    const cols = this.o.stream.columns;
    const width = cols !== undefined && cols > 0 ? cols : 80;
    if (line.length > width - 1) line = line.slice(0, width - 1);
    this.o.stream.write(`\r${line}\x1b[K`);
    this.drawn = true;
  }

  clear(): void {
    if (this.drawn) this.o.stream.write('\r\x1b[K');
    this.drawn = false;
  }
}
