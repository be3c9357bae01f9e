/**
 * The one parser for JSON that comes from media or from device state (issue 14 §5; the
 * guarantee is in docs/threat-model.md). `parseBoundedJson` refuses, with a typed
 * FormatError that names the file, before anything recurses:
 *
 * - more bytes than the caller's cap (the caps by file name are in layout.ts);
 * - bytes that are not UTF-8;
 * - nesting deeper than `JSON_MAX_DEPTH` (scanned over the text first: `JSON.parse`,
 *   canonical JSON and every walker after it recurse once per level);
 * - text that is not JSON.
 *
 * What the value must look like is then the caller's schema check (metadata.ts,
 * manifest.ts, …); signed content that canonical JSON cannot represent is refused where
 * signatures are verified (`verifyThreshold`).
 */
import { FormatError, messageOf, type FormatErrorCode } from './errors.js';
import { IoError } from './io/errors.js';
import { readFileCapped } from './io/fs.js';

/**
 * The deepest nesting accepted. The deepest document of the format, a Target's app URI
 * (`signed.targets.<name>.custom.docker_compose_apps.<app>.uri`), is 6 levels deep.
 */
export const JSON_MAX_DEPTH = 64;

export interface BoundedJsonOptions {
  /** Most bytes accepted (a cap from layout.ts `CAPS`). */
  maxBytes: number;
  /** Most nesting levels accepted; `JSON_MAX_DEPTH` by default. */
  maxDepth?: number;
  /** The code of the refusal; INVALID_METADATA by default. */
  code?: FormatErrorCode;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The nesting depth of JSON text, counted over `[` and `{` outside strings; stops and
 * returns the depth as soon as it passes `max`.
 */
export function jsonDepth(text: string, max: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > max) return deepest;
      }
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return deepest;
}

/**
 * Parses untrusted JSON within bounds. `what` names the file in the refusal (for
 * example `tuf/timestamp.json` or a device path).
 */
export function parseBoundedJson(
  bytes: Uint8Array | string,
  what: string,
  opts: BoundedJsonOptions,
): unknown {
  const code = opts.code ?? 'INVALID_METADATA';
  const maxDepth = opts.maxDepth ?? JSON_MAX_DEPTH;
  function refuse(detail: string, cause?: unknown): never {
    throw new FormatError(code, `${what}: ${detail}`, { cause, file: what });
  }
  const size = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength;
  if (size > opts.maxBytes) refuse(`${size} bytes, more than the ${opts.maxBytes} allowed`);
  let text: string;
  if (typeof bytes === 'string') {
    text = bytes;
  } else {
    try {
      text = utf8.decode(bytes);
    } catch (err) {
      refuse('not valid UTF-8', err);
    }
  }
  if (jsonDepth(text, maxDepth) > maxDepth) {
    refuse(`nested more than ${maxDepth} levels deep`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    refuse(`not valid JSON: ${messageOf(err)}`, err);
  }
}

/**
 * Reads (io `readFileCapped`) and parses a JSON file of device state or media within
 * bounds (see `parseBoundedJson`); the file is not read at all when it is larger than
 * `maxBytes`, which is refused with the caller's code. A file that cannot be read is
 * refused with IO_ERROR (its `cause` keeps the IoError and its errno).
 */
export async function readBoundedJson(
  path: string,
  opts: BoundedJsonOptions & { what?: string },
): Promise<unknown> {
  const what = opts.what ?? path;
  let bytes: Buffer;
  try {
    bytes = await readFileCapped(path, opts.maxBytes);
  } catch (err) {
    const tooLarge = err instanceof IoError && err.code === 'TOO_LARGE';
    throw new FormatError(
      tooLarge ? (opts.code ?? 'INVALID_METADATA') : 'IO_ERROR',
      `${what}: ${messageOf(err)}`,
      { cause: err, file: what },
    );
  }
  return parseBoundedJson(bytes, what, opts);
}
