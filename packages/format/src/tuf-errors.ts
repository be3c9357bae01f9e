/**
 * The one adapter between tuf-js's errors and ours. The check-in runs its own TUF
 * client-workflow steps (tuf-client.ts) before tuf-js, so every refusal the spec
 * describes already has its typed FormatError when tuf-js starts; tuf-js is the second,
 * independent verifier. What it still refuses is classified here by class only, never by
 * message text:
 *
 * - our own FormatError (thrown by the in-memory fetcher or passed through) stays as is;
 * - a refusal the fetcher recorded (tuf-js re-throws it without `cause`) is that refusal;
 * - otherwise the class of the error, looked up in `TUF_JS_ERRORS` along its prototype
 *   chain: an expiry is `TUF_EXPIRED` (12), a failed write of the device's working copy
 *   `IO_ERROR`, and every other class (tuf-js's `RuntimeError`, which wraps whatever went
 *   wrong while loading snapshot or targets, its version and signature errors, the models'
 *   `ValueError`, a raw `TypeError` from malformed metadata, …) `TUF_SECURITY` (11): bytes
 *   our verifier accepted and tuf-js refused are not to be trusted. The refusal names the
 *   file tuf-js was reading (the fetcher's `lastFile`).
 *
 * tuf-js exports none of its error classes and nothing here deep-imports its `dist/`, so
 * the table is keyed by class name; a unit test pins it to the classes of the tuf-js
 * version installed.
 */
import { ValueError } from '@tufjs/models';
import { FormatError, messageOf, type FormatErrorCode } from './errors.js';
import type { BundleFetcher } from './tuf-fetcher.js';

/** The error classes tuf-js 5 and @tufjs/models throw, and the JavaScript ones they let through. */
export type TufJsErrorClass =
  | 'ValueError'
  | 'RuntimeError'
  | 'PersistError'
  | 'RepositoryError'
  | 'BadVersionError'
  | 'EqualVersionError'
  | 'ExpiredMetadataError'
  | 'DownloadError'
  | 'DownloadLengthMismatchError'
  | 'DownloadHTTPError'
  | 'UnsignedMetadataError'
  | 'LengthOrHashMismatchError'
  | 'CryptoError'
  | 'UnsupportedAlgorithmError'
  | 'TypeError'
  | 'ReferenceError'
  | 'RangeError'
  | 'SyntaxError'
  | 'Error';

/** One exhaustive table: the code of each class tuf-js can throw. */
export const TUF_JS_ERRORS: Readonly<Record<TufJsErrorClass, FormatErrorCode>> = {
  ExpiredMetadataError: 'TUF_EXPIRED',
  PersistError: 'IO_ERROR',
  ValueError: 'TUF_SECURITY',
  RuntimeError: 'TUF_SECURITY',
  RepositoryError: 'TUF_SECURITY',
  BadVersionError: 'TUF_SECURITY',
  EqualVersionError: 'TUF_SECURITY',
  DownloadError: 'TUF_SECURITY',
  DownloadLengthMismatchError: 'TUF_SECURITY',
  DownloadHTTPError: 'TUF_SECURITY',
  UnsignedMetadataError: 'TUF_SECURITY',
  LengthOrHashMismatchError: 'TUF_SECURITY',
  CryptoError: 'TUF_SECURITY',
  UnsupportedAlgorithmError: 'TUF_SECURITY',
  TypeError: 'TUF_SECURITY',
  ReferenceError: 'TUF_SECURITY',
  RangeError: 'TUF_SECURITY',
  SyntaxError: 'TUF_SECURITY',
  Error: 'TUF_SECURITY',
};

const isTufJsClass = (name: string): name is TufJsErrorClass => Object.hasOwn(TUF_JS_ERRORS, name);

/** The nearest class of `err` (walking its prototype chain) that the table names. */
export function tufJsErrorClass(err: unknown): TufJsErrorClass {
  if (err instanceof ValueError) return 'ValueError';
  for (
    let proto =
      typeof err === 'object' && err !== null ? (Object.getPrototypeOf(err) as unknown) : null;
    proto !== null && proto !== Object.prototype;
    proto = Object.getPrototypeOf(proto) as unknown
  ) {
    const name = (proto as { constructor?: { name?: unknown } }).constructor?.name;
    if (typeof name === 'string' && isTufJsClass(name)) return name;
  }
  return 'Error';
}

const PREFIX: Partial<Record<FormatErrorCode, string>> = {
  TUF_SECURITY: 'is not trusted (refused by the TUF client)',
  TUF_EXPIRED: 'has expired (refused by the TUF client)',
  IO_ERROR: 'could not be stored in the device trust store',
};

export function classifyTufError(err: unknown, fetcher?: BundleFetcher): FormatError {
  if (err instanceof FormatError) return err;
  if (fetcher?.failure !== undefined) return fetcher.failure;
  const code = TUF_JS_ERRORS[tufJsErrorClass(err)];
  const file = fetcher?.lastFile;
  const what = file ?? 'TUF metadata in the bundle';
  return new FormatError(code, `${what} ${PREFIX[code] ?? code}: ${messageOf(err)}`, {
    cause: err,
    file,
  });
}
