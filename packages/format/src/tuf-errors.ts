/**
 * The one adapter between tuf-js's errors and ours. The check-in runs its own TUF
 * client-workflow steps (tuf-client.ts) before tuf-js, so every refusal the spec
 * describes already has its typed FormatError when tuf-js starts; tuf-js is the second,
 * independent verifier. What it still refuses is classified here by class only:
 *
 * - our own FormatError (thrown by the in-memory fetcher or passed through) stays as is;
 * - a refusal the fetcher recorded (tuf-js re-throws it without `cause`) is that refusal;
 * - `ValueError`, the one error class @tufjs/models exports (malformed metadata), is a
 *   security error (11);
 * - anything else is a failed metadata update (4).
 *
 * tuf-js does not export its other error classes and nothing here deep-imports its
 * `dist/`; no message is ever matched.
 */
import { ValueError } from '@tufjs/models';
import { FormatError, messageOf } from './errors.js';
import type { BundleFetcher } from './tuf-fetcher.js';

export function classifyTufError(err: unknown, fetcher?: BundleFetcher): FormatError {
  if (err instanceof FormatError) return err;
  if (fetcher?.failure !== undefined) return fetcher.failure;
  if (err instanceof ValueError) {
    return new FormatError(
      'TUF_SECURITY',
      `TUF metadata in the bundle is not trusted: ${messageOf(err)}`,
      {
        cause: err,
      },
    );
  }
  return new FormatError('TUF_FAILURE', `TUF metadata update failed: ${messageOf(err)}`, {
    cause: err,
  });
}
