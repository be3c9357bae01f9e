/**
 * Progress reporting of the library. Long phases (OSTree pull, app copy, archive write)
 * report bytes done of a total through the same callback as step messages; the library
 * never prints, the command decides how (and whether) to draw it.
 */
export type ProgressStep =
  'resolve' | 'tuf' | 'ostree' | 'apps' | 'verify' | 'media' | 'pack' | 'done' | 'warning';

export interface ProgressEvent {
  step: ProgressStep;
  message: string;
  /**
   * Present on byte-progress events of a long phase: `done` bytes of `total`. `total` is
   * absent when it cannot be known beforehand (e.g. an OSTree commit without size metadata).
   * Events without `bytes` are step messages meant to be shown as lines.
   */
  bytes?: { done: number; total?: number };
}

export type ProgressFn = (event: ProgressEvent) => void;

export const noProgress: ProgressFn = () => undefined;

/**
 * Counts bytes of one phase and reports them at most every `intervalMs` (plus the first
 * and the last report), so that a callback is not called once per 64 KiB chunk.
 */
export class ByteProgress {
  private done = 0;
  private lastReport = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly report: ProgressFn,
    private readonly step: ProgressStep,
    private readonly message: string,
    private readonly total: number | undefined,
    private readonly intervalMs = 100,
    private readonly now: () => number = Date.now,
  ) {}

  get bytesDone(): number {
    return this.done;
  }

  /** Adds `n` bytes. */
  add(n: number): void {
    this.set(this.done + n);
  }

  /** Sets the bytes done (never moves backwards). */
  set(done: number): void {
    if (done < this.done) return;
    this.done = done;
    const t = this.now();
    if (t - this.lastReport >= this.intervalMs) {
      this.lastReport = t;
      this.emit();
    }
  }

  /** Reports the final count (always). */
  finish(): void {
    this.lastReport = this.now();
    this.emit();
  }

  private emit(): void {
    this.report({
      step: this.step,
      message: this.message,
      bytes: {
        done: this.total === undefined ? this.done : Math.min(this.done, this.total),
        ...(this.total === undefined ? {} : { total: this.total }),
      },
    });
  }
}
