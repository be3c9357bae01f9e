import { canonicalBytes } from './canonical.js';
import { FormatError, messageOf } from './errors.js';
import {
  keyIdOf,
  parsePublicKey,
  signBytes,
  verifyBytes,
  type SigningKey,
  type TufPublicKey,
} from './keys.js';
import { parseTufTime } from './time.js';
import { BUNDLE_TYPES, type BundleType } from './layout.js';

/** TUF 1.0 metadata as stored on disk: `{signatures, signed}`. */
export interface Signature {
  keyid: string;
  sig: string;
}

export interface Envelope<T> {
  signatures: Signature[];
  signed: T;
}

export type RoleName = 'root' | 'targets' | 'snapshot' | 'timestamp';
export const TOP_LEVEL_ROLES: readonly RoleName[] = ['root', 'targets', 'snapshot', 'timestamp'];

export interface RoleKeys {
  keyids: string[];
  threshold: number;
}

export const SPEC_VERSION = '1.0.31';

/**
 * The field that binds a root to its chain. A factory's `ci` and `prod` chains share root
 * keys and versions, so without it a CI root (whose targets role is the online key) would
 * be a valid next root for a production device.
 */
export const ROOT_CHAIN_FIELD = 'x-offline-ota-chain';

export interface RootSigned {
  _type: 'root';
  [ROOT_CHAIN_FIELD]?: BundleType;
  spec_version: string;
  version: number;
  expires: string;
  consistent_snapshot: boolean;
  keys: Record<string, TufPublicKey>;
  roles: Record<RoleName, RoleKeys>;
}

export interface MetaFile {
  version: number;
  length?: number;
  hashes?: Record<string, string>;
}

export interface TimestampSigned {
  _type: 'timestamp';
  spec_version: string;
  version: number;
  expires: string;
  meta: { 'snapshot.json': MetaFile };
}

export interface SnapshotSigned {
  _type: 'snapshot';
  spec_version: string;
  version: number;
  expires: string;
  meta: { 'targets.json': MetaFile };
}

export interface TargetFileInfo {
  length: number;
  hashes: { sha256: string } & Record<string, string>;
  custom?: TargetCustom;
}

export interface TargetsSigned {
  _type: 'targets';
  spec_version: string;
  version: number;
  expires: string;
  targets: Record<string, TargetFileInfo>;
}

/** A compose app pinned by digest: `<registry-host>/<factory>/<app>@sha256:<hex>`. */
export interface ComposeAppRef {
  uri: string;
}

/** The `custom` object of a Target, as the device reads it (format doc §Targets). */
export interface TargetCustom {
  name?: string;
  version: string;
  hardwareIds: string[];
  tags: string[];
  targetFormat: 'OSTREE';
  docker_compose_apps?: Record<string, ComposeAppRef>;
  'fetched-apps'?: { uri: string | null; shortlist?: string };
  createdAt?: string;
  [key: string]: unknown;
}

/** Signs the canonical form of `signed` with each key, appending to existing signatures. */
export function signEnvelope<T>(
  signed: T,
  keys: readonly SigningKey[],
  existing: Signature[] = [],
): Envelope<T> {
  const bytes = canonicalBytes(signed);
  const signatures = [...existing];
  for (const key of keys) {
    if (signatures.some((s) => s.keyid === key.keyid)) {
      throw new FormatError('DUPLICATE_SIGNATURE', `already signed by key ${key.keyid}`);
    }
    signatures.push({ keyid: key.keyid, sig: signBytes(key, bytes) });
  }
  return { signatures, signed };
}

/** What a threshold check found. */
export interface ThresholdResult {
  /** Key ids whose signatures verified and count toward the threshold. */
  valid: string[];
  threshold: number;
}

export interface ThresholdOptions {
  /**
   * Strict mode (the bundle manifest): every signature must be by an allowed key and
   * verify, and no key may sign twice. Lenient mode (TUF roles): unknown or failing
   * signatures are ignored, as the TUF spec says.
   */
  strict: boolean;
  /** Name used in messages, e.g. "tuf/bundle-targets.json". */
  what: string;
}

/**
 * The canonical bytes signatures are verified over. Untrusted content that canonical JSON
 * cannot represent (a number that is not a safe integer, a string that is not printable
 * ASCII) cannot carry a valid signature: it is invalid metadata, refused with the file's
 * name (issue 14 §5), never a crash.
 */
function signedBytes(signed: unknown, what: string): Buffer {
  try {
    return canonicalBytes(signed);
  } catch (err) {
    throw new FormatError('INVALID_METADATA', `${what}: ${messageOf(err)}`, {
      cause: err,
      file: what,
    });
  }
}

/**
 * Checks that `env` carries valid signatures from at least `role.threshold` distinct
 * keys of `role`, where the keys come from `keys` (a root's `keys`). Closes two gaps of
 * tuf-js: key ids are recomputed from the key objects as written, and one public key
 * listed under two ids counts once (`publicKeyIdentity`).
 */
export function verifyThreshold(
  env: Envelope<unknown>,
  keys: Record<string, TufPublicKey>,
  role: RoleKeys,
  opts: ThresholdOptions,
): ThresholdResult {
  const bytes = signedBytes(env.signed, opts.what);
  const seenKeyids = new Set<string>();
  const countedPublic = new Set<string>();
  const valid: string[] = [];
  for (const sig of env.signatures) {
    if (seenKeyids.has(sig.keyid)) {
      if (opts.strict) {
        throw new FormatError(
          'DUPLICATE_SIGNATURE',
          `${opts.what}: key ${sig.keyid} signed more than once`,
        );
      }
      continue;
    }
    seenKeyids.add(sig.keyid);
    const key = role.keyids.includes(sig.keyid) ? keys[sig.keyid] : undefined;
    if (key === undefined) {
      if (opts.strict) {
        throw new FormatError(
          'UNKNOWN_KEY',
          `${opts.what} is signed with an unknown key: ${sig.keyid}`,
        );
      }
      continue;
    }
    if (keyIdAsWritten(key, opts.what) !== sig.keyid) {
      throw new FormatError(
        'INVALID_KEY',
        `${opts.what}: key id ${sig.keyid} does not match its key object`,
      );
    }
    if (!verifyBytes(key, bytes, sig.sig)) {
      if (opts.strict) {
        throw new FormatError(
          'BAD_SIGNATURE',
          `${opts.what}: invalid signature by key ${sig.keyid}`,
        );
      }
      continue;
    }
    // One public key counts once, whatever key ids it is listed under.
    const identity = publicKeyIdentity(key);
    if (countedPublic.has(identity)) continue;
    countedPublic.add(identity);
    valid.push(sig.keyid);
  }
  if (valid.length < role.threshold) {
    throw new FormatError(
      'THRESHOLD_NOT_MET',
      `${opts.what}: ${valid.length} valid signature(s), ${role.threshold} required`,
    );
  }
  return { valid, threshold: role.threshold };
}

// ---------------------------------------------------------------------------------------
// Parsing untrusted metadata. Shapes are checked before anything reads a field.

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function fail(what: string, detail: string): never {
  throw new FormatError('INVALID_METADATA', `${what}: ${detail}`, { file: what });
}

/** Checks the `{signatures:[{keyid,sig}], signed:{…}}` envelope. */
export function parseEnvelope(value: unknown, what: string): Envelope<Record<string, unknown>> {
  if (!isObject(value)) fail(what, 'not a JSON object');
  if (!Array.isArray(value.signatures)) fail(what, '"signatures" must be an array');
  if (!isObject(value.signed)) fail(what, '"signed" must be an object');
  const signatures: Signature[] = value.signatures.map((s, i) => {
    if (!isObject(s) || typeof s.keyid !== 'string' || typeof s.sig !== 'string') {
      fail(what, `signature ${i} must have string "keyid" and "sig"`);
    }
    return { keyid: s.keyid, sig: s.sig };
  });
  return { signatures, signed: value.signed };
}

function checkCommon(signed: Record<string, unknown>, type: string, what: string): void {
  if (signed._type !== type)
    fail(what, `_type must be "${type}", got ${JSON.stringify(signed._type)}`);
  if (!Number.isSafeInteger(signed.version) || (signed.version as number) < 1) {
    fail(what, 'version must be a positive integer');
  }
  parseTufTime(signed.expires, `${what} expires`);
  if (typeof signed.spec_version !== 'string' || !/^1\.\d+(\.\d+)?$/.test(signed.spec_version)) {
    fail(what, 'spec_version must be 1.x');
  }
}

/**
 * The identity of a public key for counting toward a threshold: its type and public
 * bytes. Two key ids whose key objects differ only in other fields (for example
 * `keyid_hash_algorithms`, which some TUF tooling writes) name one key.
 */
export function publicKeyIdentity(key: TufPublicKey): string {
  return `${key.keytype}:${key.keyval.public}`;
}

/**
 * The key id of a key object as it came (TUF: sha256 of its canonical JSON), every field
 * included. Content canonical JSON cannot hold is invalid metadata naming the file.
 */
function keyIdAsWritten(key: unknown, what: string): string {
  try {
    return keyIdOf(key as TufPublicKey);
  } catch (err) {
    throw new FormatError('INVALID_METADATA', `${what}: ${messageOf(err)}`, {
      cause: err,
      file: what,
    });
  }
}

/**
 * Parses and shape-checks a root document. The document is kept exactly as it came:
 * fields this device does not know (in the root, its keys, its roles, or whole roles
 * beyond the four top-level ones) stay, because signatures are verified over the bytes as
 * signed, and every key id is recomputed from its key object as written. The rule "one
 * public key counts once" is checked here for each role's threshold and again when
 * signatures are counted (`verifyThreshold`).
 */
export function parseRoot(value: unknown, what: string): Envelope<RootSigned> {
  const env = parseEnvelope(value, what);
  const s = env.signed;
  checkCommon(s, 'root', what);
  if (typeof s.consistent_snapshot !== 'boolean')
    fail(what, 'consistent_snapshot must be a boolean');
  if (!isObject(s.keys)) fail(what, '"keys" must be an object');
  const keys: Record<string, TufPublicKey> = {};
  for (const [keyid, k] of Object.entries(s.keys)) {
    parsePublicKey(k, `${what} key ${keyid}`);
    if (keyIdAsWritten(k, what) !== keyid) {
      throw new FormatError(
        'INVALID_KEY',
        `${what}: key id ${keyid} is not the sha256 of its key object`,
        { file: what },
      );
    }
    keys[keyid] = k as TufPublicKey;
  }
  if (!isObject(s.roles)) fail(what, '"roles" must be an object');
  for (const name of TOP_LEVEL_ROLES) {
    const r = s.roles[name];
    if (
      !isObject(r) ||
      !Array.isArray(r.keyids) ||
      !Number.isSafeInteger(r.threshold) ||
      (r.threshold as number) < 1
    ) {
      fail(what, `role "${name}" needs "keyids" and a threshold >= 1`);
    }
    const keyids = r.keyids as unknown[];
    if (keyids.some((k) => typeof k !== 'string' || keys[k] === undefined)) {
      fail(what, `role "${name}" lists a key id that is not in "keys"`);
    }
    if (new Set(keyids).size !== keyids.length) fail(what, `role "${name}" lists a key id twice`);
    const distinct = new Set((keyids as string[]).map((k) => publicKeyIdentity(keys[k])));
    if (distinct.size < (r.threshold as number)) {
      fail(
        what,
        `role "${name}" has threshold ${String(r.threshold)} but only ${distinct.size} distinct public key(s) (one public key under several key ids counts once)`,
      );
    }
  }
  const chain = s[ROOT_CHAIN_FIELD];
  if (chain !== undefined && !BUNDLE_TYPES.includes(chain as BundleType)) {
    fail(what, `${ROOT_CHAIN_FIELD} must be "ci" or "prod"`);
  }
  // Exactly what was signed: signatures are verified over these bytes.
  return { signatures: env.signatures, signed: s as unknown as RootSigned };
}

/**
 * Verifies a new root against the trusted one (TUF spec 5.3.4–5.3.5): version exactly
 * trusted+1, signed by a threshold of the trusted root's root keys and of its own.
 */
export function verifyRootRotation(
  trusted: RootSigned,
  next: Envelope<RootSigned>,
  what: string,
): void {
  if (next.signed.version !== trusted.version + 1) {
    throw new FormatError(
      'ROOT_CHAIN_BROKEN',
      `${what}: expected root version ${trusted.version + 1}, found ${next.signed.version}`,
      { file: what },
    );
  }
  if (next.signed[ROOT_CHAIN_FIELD] !== trusted[ROOT_CHAIN_FIELD]) {
    throw new FormatError(
      'ROOT_CHAIN_BROKEN',
      `${what}: belongs to the ${String(next.signed[ROOT_CHAIN_FIELD] ?? 'unmarked')} root chain, not the ${String(trusted[ROOT_CHAIN_FIELD] ?? 'unmarked')} chain the device trusts`,
      { file: what },
    );
  }
  try {
    verifyThreshold(next, trusted.keys, trusted.roles.root, {
      strict: false,
      what: `${what} (old root keys)`,
    });
    verifyThreshold(next, next.signed.keys, next.signed.roles.root, {
      strict: false,
      what: `${what} (new root keys)`,
    });
  } catch (err) {
    if (err instanceof FormatError) {
      throw new FormatError('ROOT_CHAIN_BROKEN', err.message, { cause: err, file: what });
    }
    throw err;
  }
}

/** Checks that a root is signed by a threshold of its own root keys. */
export function verifySelfSignedRoot(root: Envelope<RootSigned>, what: string): void {
  verifyThreshold(root, root.signed.keys, root.signed.roles.root, { strict: false, what });
}
