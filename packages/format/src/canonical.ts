import { canonicalize } from '@tufjs/canonical-json';

/**
 * Canonical JSON (OLPC style, the form TUF signs): keys sorted, no insignificant
 * whitespace, integers only. The same implementation tuf-js verifies with, so a
 * signature made over these bytes verifies on the device.
 */
export function canonicalJson(value: unknown): string {
  assertCanonicalSafe(value, '$');
  return Buffer.from(canonicalize(value as never)).toString('utf8');
}

export function canonicalBytes(value: unknown): Buffer {
  assertCanonicalSafe(value, '$');
  return Buffer.from(canonicalize(value as never));
}

/** Floats and non-ASCII strings are not portable across canonical JSON implementations. */
function assertCanonicalSafe(value: unknown, path: string): void {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) {
      throw new TypeError(`${path}: canonical JSON holds integers only, got ${value}`);
    }
    return;
  }
  if (typeof value === 'string') {
    if (!/^[\x20-\x7e]*$/.test(value)) {
      throw new TypeError(`${path}: canonical JSON strings must be printable ASCII`);
    }
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => assertCanonicalSafe(v, `${path}[${i}]`));
    return;
  }
  if (value === null || typeof value === 'boolean') return;
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      throw new TypeError(
        `${path}: only plain objects can be signed, got ${value.constructor?.name ?? 'object'}`,
      );
    }
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined) throw new TypeError(`${path}.${k}: undefined is not JSON`);
      assertCanonicalSafe(k, `${path} key`);
      assertCanonicalSafe(v, `${path}.${k}`);
    }
    return;
  }
  throw new TypeError(`${path}: ${typeof value} is not JSON`);
}
