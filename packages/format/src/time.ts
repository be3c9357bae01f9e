import { FormatError } from './errors.js';

/** The only timestamp form the bundle uses: `YYYY-MM-DDTHH:MM:SSZ`, UTC, no fraction. */
export const TUF_TIME_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/;

/** A source of the current time. Every expiry decision takes `now` from one of these. */
export type Clock = () => Date;
export const systemClock: Clock = () => new Date();

/** Formats an instant as a TUF timestamp, truncating (never rounding) to the second. */
export function formatTufTime(date: Date): string {
  const ms = date.getTime();
  if (!Number.isFinite(ms)) throw new FormatError('INVALID_TIME', 'invalid date');
  const truncated = new Date(Math.floor(ms / 1000) * 1000);
  const iso = truncated.toISOString();
  if (!iso.endsWith('.000Z') || iso.length !== 24) {
    throw new FormatError('INVALID_TIME', `date out of range for a TUF timestamp: ${iso}`);
  }
  return iso.slice(0, 19) + 'Z';
}

/**
 * Parses a TUF timestamp strictly: exactly `YYYY-MM-DDTHH:MM:SSZ` and a real calendar
 * instant (no 2023-02-29, no 24:00:00). Anything else is refused, because an
 * unparsable expiry would otherwise never expire.
 */
export function parseTufTime(value: unknown, what = 'expires'): Date {
  if (typeof value !== 'string') {
    throw new FormatError(
      'INVALID_TIME',
      `${what} must be a string of the form YYYY-MM-DDTHH:MM:SSZ`,
    );
  }
  const m = TUF_TIME_RE.exec(value);
  if (!m) {
    throw new FormatError(
      'INVALID_TIME',
      `${what} "${value}" is not of the form YYYY-MM-DDTHH:MM:SSZ (UTC, whole seconds)`,
    );
  }
  const date = new Date(value);
  if (!Number.isFinite(date.getTime()) || formatTufTime(date) !== value) {
    throw new FormatError('INVALID_TIME', `${what} "${value}" is not a valid calendar time`);
  }
  return date;
}

/** True when `expires` is at or before `now`: a role expires at the exact second it names. */
export function isExpired(expires: string, now: Date): boolean {
  return parseTufTime(expires).getTime() <= now.getTime();
}
