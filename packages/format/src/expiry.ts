import { FormatError } from './errors.js';
import { formatTufTime, parseTufTime, type Clock } from './time.js';

/**
 * Expiry arithmetic of a bundle (reference §2.4, docs/bundle-format.md §The bundle
 * manifest). Pure: the current time comes from an injected clock, nothing is read or
 * written.
 */

/** The smallest and largest `--expires-in-days` accepted. */
export const MIN_EXPIRES_IN_DAYS = 1;
export const MAX_EXPIRES_IN_DAYS = 3650;

const SECOND_MS = 1000;
const MINUTE_S = 60;
const HOUR_S = 60 * MINUTE_S;
const DAY_S = 24 * HOUR_S;

/**
 * The expiry a bundle asks for: `now + days × 86400 s`, truncated to the whole second
 * (never rounded up), as a TUF timestamp. Days must be a whole number from 1 to 3650.
 */
export function requestedExpiry(now: Date, days: number): string {
  if (
    typeof days !== 'number' ||
    !Number.isInteger(days) ||
    days < MIN_EXPIRES_IN_DAYS ||
    days > MAX_EXPIRES_IN_DAYS
  ) {
    throw new FormatError(
      'INVALID_ARGUMENT',
      `--expires-in-days must be a whole number from ${MIN_EXPIRES_IN_DAYS} to ${MAX_EXPIRES_IN_DAYS}, got ${showValue(days)}`,
    );
  }
  const nowMs = validTime(now, 'now');
  const truncated = Math.floor(nowMs / SECOND_MS) * SECOND_MS;
  return formatTufTime(new Date(truncated + days * DAY_S * SECOND_MS));
}

export interface RequestedExpiryCheck {
  /** `expires` of the newest root in the bundle. */
  rootExpires: string;
  /** `expires` of the bundle's targets.json. */
  targetsExpires: string;
  /** The expiry the bundle asks for (from `requestedExpiry`). */
  requested: string;
}

/**
 * Refuses a requested expiry that outlives root or targets (reference §2.4: the backend
 * answers 400 with these exact messages). Root is checked first; an equal instant is
 * allowed. All three times are parsed strictly.
 */
export function checkRequestedExpiry({
  rootExpires,
  targetsExpires,
  requested,
}: RequestedExpiryCheck): void {
  const root = parseTufTime(rootExpires, 'root expires');
  const targets = parseTufTime(targetsExpires, 'targets expires');
  const wanted = parseTufTime(requested, 'requested expiry');
  if (root.getTime() < wanted.getTime()) {
    throw new FormatError(
      'EXPIRY_TOO_SOON',
      `Root metadata expire (${rootExpires}) before the specified expiration time (${requested})`,
    );
  }
  if (targets.getTime() < wanted.getTime()) {
    throw new FormatError(
      'EXPIRY_TOO_SOON',
      `Targets metadata expire (${targetsExpires}) before the specified expiration time (${requested})`,
    );
  }
}

/**
 * The bundle's expiry: the earliest of the given role expiries (format doc §The bundle
 * manifest: the minimum over every role in the bundle). Returns one of the inputs.
 */
export function bundleExpiry(expires: readonly string[]): string {
  if (expires.length === 0) {
    throw new FormatError(
      'INVALID_ARGUMENT',
      'bundle expiry needs at least one role expiry to take the minimum of',
    );
  }
  let earliest = expires[0];
  let earliestMs = parseTufTime(earliest, 'expires[0]').getTime();
  for (let i = 1; i < expires.length; i++) {
    const candidate = expires[i];
    const ms = parseTufTime(candidate, `expires[${i}]`).getTime();
    if (ms < earliestMs) {
      earliest = candidate;
      earliestMs = ms;
    }
  }
  return earliest;
}

export interface BundleExpiryOptions {
  clock: Clock;
  /** `--expires-in-days`: a whole number from 1 to 3650. */
  days: number;
  rootExpires: string;
  targetsExpires: string;
}

/** The expiries a builder writes into a bundle. */
export interface BundleExpiryPlan {
  /** `now + days`, truncated to the second. */
  requested: string;
  /** Expiry of the re-signed timestamp.json (equals `requested`). */
  timestamp: string;
  /** Expiry of the re-signed snapshot.json (equals `requested`). */
  snapshot: string;
  /** `bundle-targets.signed.expires`: the minimum over root, targets, timestamp, snapshot. */
  bundle: string;
}

/**
 * Reference §2.4 for a builder: compute `requested = now + days`, refuse when root or
 * targets expire sooner, give timestamp and snapshot `requested`, and give the bundle
 * the minimum over its roles (which then equals `requested`).
 */
export function planBundleExpiry({
  clock,
  days,
  rootExpires,
  targetsExpires,
}: BundleExpiryOptions): BundleExpiryPlan {
  const requested = requestedExpiry(clock(), days);
  checkRequestedExpiry({ rootExpires, targetsExpires, requested });
  const timestamp = requested;
  const snapshot = requested;
  const bundle = bundleExpiry([rootExpires, targetsExpires, timestamp, snapshot]);
  return { requested, timestamp, snapshot, bundle };
}

/**
 * A short human phrase for `show`: "expires in 29 days 23 h", "expired 2 days ago".
 * Like `isExpired`, a role is expired at the exact second it names. Spans are truncated
 * to the unit shown, so the remaining time is never overstated.
 */
export function describeRemaining(expires: string, now: Date): string {
  const expiresMs = parseTufTime(expires).getTime();
  const diffMs = expiresMs - validTime(now, 'now');
  if (diffMs > 0) {
    if (diffMs < SECOND_MS) return 'expires in less than 1 s';
    return `expires in ${span(Math.floor(diffMs / SECOND_MS))}`;
  }
  const agoS = Math.floor(-diffMs / SECOND_MS);
  if (agoS === 0) return 'expired just now';
  return `expired ${span(agoS)} ago`;
}

/** "2 days 5 h", "1 day", "3 h 12 min", "4 min 2 s", "9 s": the two largest units. */
function span(totalSeconds: number): string {
  const days = Math.floor(totalSeconds / DAY_S);
  const hours = Math.floor((totalSeconds % DAY_S) / HOUR_S);
  const minutes = Math.floor((totalSeconds % HOUR_S) / MINUTE_S);
  const seconds = totalSeconds % MINUTE_S;
  if (days > 0) return join(`${days} ${days === 1 ? 'day' : 'days'}`, hours, 'h');
  if (hours > 0) return join(`${hours} h`, minutes, 'min');
  if (minutes > 0) return join(`${minutes} min`, seconds, 's');
  return `${seconds} s`;
}

function join(major: string, minor: number, unit: string): string {
  return minor === 0 ? major : `${major} ${minor} ${unit}`;
}

function validTime(date: Date, what: string): number {
  const ms = date instanceof Date ? date.getTime() : NaN;
  if (!Number.isFinite(ms)) throw new FormatError('INVALID_TIME', `${what} is not a valid date`);
  return ms;
}

function showValue(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === undefined) return 'nothing';
  return typeof value;
}
