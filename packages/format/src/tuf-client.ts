/**
 * The TUF client workflow (TUF specification 1.0, §5.4–5.6) for one offline update,
 * run on the bundle's in-memory `tuf/` bytes and the device's trusted copies. Each step
 * refuses with a typed FormatError, in the order the spec gives, and returns what it
 * verified (versions, key ids counted, digests). The root update (§5.3) is the chain
 * walk in checkin-steps.ts; tuf-js then repeats §5.3–5.6 on the same bytes as a second,
 * independent verifier (tuf-errors.ts).
 *
 * Like tuf-js, a trusted copy on the device counts for rollback protection when its
 * signatures verify under the newest root, whether or not it has expired, and a trusted
 * snapshot or targets that is still valid and current is used instead of the bundle's.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FormatError, messageOf, type FormatErrorCode } from './errors.js';
import { parseBoundedJson } from './json.js';
import { CAPS, TUF_FILES } from './layout.js';
import {
  parseEnvelope,
  verifyThreshold,
  type Envelope,
  type MetaFile,
  type RoleName,
  type RootSigned,
} from './metadata.js';
import { isExpired, parseTufTime } from './time.js';

/** What one role's update verified. */
export interface RoleRecord {
  version: number;
  /** Where the version in force comes from: the bundle, or the device's trusted copy. */
  source: 'bundle' | 'device';
  /** Key ids whose signatures counted toward the threshold (one per public key). */
  keyids: string[];
  threshold: number;
  /** sha256 of the file's bytes. */
  sha256: string;
  expires: string;
}

export interface TufUpdateRecord {
  timestamp: RoleRecord;
  snapshot: RoleRecord;
  targets: RoleRecord;
}

/** A role's verified document. */
interface Verified {
  signed: Record<string, unknown> & { version: number; expires: string };
  record: RoleRecord;
  /** The file it came from, for messages: `tuf/<name>` or `trusted <name>`. */
  what: string;
}

type RoleFile = 'timestamp' | 'snapshot' | 'targets';

/** The device's trusted copies of the non-root roles (absent ones undefined). */
export type TrustedCopies = Partial<Record<RoleFile, Buffer>>;

export async function readTrustedCopies(dir: string): Promise<TrustedCopies> {
  const out: TrustedCopies = {};
  for (const role of ['timestamp', 'snapshot', 'targets'] as const) {
    out[role] = await readFile(join(dir, TUF_FILES[role])).catch(() => undefined);
  }
  return out;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function refuse(code: FormatErrorCode, what: string, text: string, cause?: unknown): never {
  const prefix: Partial<Record<FormatErrorCode, string>> = {
    TUF_SECURITY: 'TUF metadata in the bundle is not trusted',
    TUF_EXPIRED: 'TUF metadata expired',
    TUF_FAILURE: 'TUF metadata update failed',
    TUF_MISSING: 'TUF metadata not found in the bundle',
  };
  throw new FormatError(code, `${prefix[code] ?? code}: ${what}: ${text}`, {
    cause,
    file: what,
  });
}

/**
 * TUF §5.4.3, §5.5.5: the stick's metadata is older than what the device trusts. The
 * device keeps its own and uses nothing of the stick's (exit 3, docs/exit-codes.md); the
 * words say which role, which versions, and which file named the older one.
 */
function older(role: string, stick: number, device: number, what: string): never {
  throw new FormatError(
    'TUF_ROLLBACK',
    `this stick's metadata (${role} v${stick}, ${what}) is older than the device's (v${device}): the device keeps the metadata it trusts and uses nothing from this stick; bring a bundle created from the factory's current metadata`,
    { file: what },
  );
}

/**
 * Parses a role file within bounds (json.ts) and checks its shape: a malformed file is
 * untrusted (11).
 */
function parseRole(bytes: Buffer, role: RoleFile, what: string): Envelope<Verified['signed']> {
  try {
    const json = parseBoundedJson(bytes, what, { maxBytes: CAPS[role] });
    const env = parseEnvelope(json, what);
    const s = env.signed;
    if (s._type !== role) throw new Error(`_type is ${JSON.stringify(s._type)}, not "${role}"`);
    if (!Number.isSafeInteger(s.version) || (s.version as number) < 1)
      throw new Error('version must be a positive integer');
    parseTufTime(s.expires, `${what} expires`);
    // tuf-js refuses metadata with two entries for one key id; so does the spec's
    // reference implementation. Refused here first, with the file's name.
    const ids = env.signatures.map((x) => x.keyid);
    const twice = ids.find((id, i) => ids.indexOf(id) !== i);
    if (twice !== undefined) throw new Error(`key ${twice} has more than one signature entry`);
    return env as Envelope<Verified['signed']>;
  } catch (err) {
    refuse('TUF_SECURITY', what, messageOf(err), err);
  }
}

/** Signatures to the role's threshold under `root` (distinct keys; key ids recomputed). */
function checkSignatures(
  env: Envelope<unknown>,
  root: RootSigned,
  role: RoleName,
  what: string,
): { keyids: string[]; threshold: number } {
  try {
    const r = verifyThreshold(env, root.keys, root.roles[role], { strict: false, what });
    return { keyids: r.valid, threshold: r.threshold };
  } catch (err) {
    refuse('TUF_SECURITY', what, messageOf(err), err);
  }
}

/** A role file the bundle holds and the snapshot/timestamp meta describes (length, hashes). */
function checkAgainstMeta(bytes: Buffer, meta: MetaFile, what: string): void {
  if (meta.length !== undefined && bytes.length !== meta.length)
    refuse('TUF_SECURITY', what, `length ${bytes.length}, expected ${meta.length}`);
  for (const [alg, want] of Object.entries(meta.hashes ?? {})) {
    if (alg !== 'sha256') continue;
    if (sha256(bytes) !== want) refuse('TUF_SECURITY', what, `sha256 does not match ${want}`);
  }
}

function metaOf(signed: Record<string, unknown>, file: string, what: string): MetaFile {
  const meta = (signed.meta as Record<string, unknown> | undefined)?.[file];
  const m = meta as MetaFile | undefined;
  // Signed metadata that does not describe the next file is not to be used (11).
  if (m === undefined || typeof m !== 'object' || !Number.isSafeInteger(m.version))
    refuse('TUF_SECURITY', what, `its signed meta has no version of ${file}`);
  return m;
}

/** A trusted copy that still verifies under the newest root, else undefined. */
function trustedCopy(
  bytes: Buffer | undefined,
  role: RoleFile,
  root: RootSigned,
): Verified | undefined {
  if (bytes === undefined) return undefined;
  try {
    const what = `trusted ${TUF_FILES[role]}`;
    const env = parseRole(bytes, role, what);
    const sig = checkSignatures(env, root, role, what);
    return {
      signed: env.signed,
      what,
      record: {
        version: env.signed.version,
        source: 'device',
        ...sig,
        sha256: sha256(bytes),
        expires: env.signed.expires,
      },
    };
  } catch {
    return undefined;
  }
}

function fromBundle(
  files: ReadonlyMap<string, Buffer>,
  role: RoleFile,
  root: RootSigned,
  meta?: MetaFile,
): Verified {
  const name = TUF_FILES[role];
  const what = `tuf/${name}`;
  const bytes = files.get(name);
  if (bytes === undefined) refuse('TUF_MISSING', what, 'missing from the bundle');
  if (meta !== undefined) checkAgainstMeta(bytes, meta, what);
  const env = parseRole(bytes, role, what);
  const sig = checkSignatures(env, root, role, what);
  return {
    signed: env.signed,
    what,
    record: {
      version: env.signed.version,
      source: 'bundle',
      ...sig,
      sha256: sha256(bytes),
      expires: env.signed.expires,
    },
  };
}

function checkNotExpired(v: Verified, what: string, now: Date): void {
  if (isExpired(v.signed.expires, now))
    refuse('TUF_EXPIRED', what, `expired at ${v.signed.expires}`);
}

/**
 * §5.4 Update the timestamp role: 5.4.1 the bundle's copy (missing: 14), 5.4.2 its
 * signatures (11), 5.4.3 no rollback of the timestamp or the snapshot version it names
 * (an equal version keeps the trusted copy), 5.4.4 not expired (12). Also §5.3.10: the
 * final root is not expired.
 */
export function updateTimestamp(
  files: ReadonlyMap<string, Buffer>,
  trusted: TrustedCopies,
  root: RootSigned,
  now: Date,
): Verified {
  if (isExpired(root.expires, now))
    refuse('TUF_EXPIRED', `root.json v${root.version}`, `expired at ${root.expires}`);
  const old = trustedCopy(trusted.timestamp, 'timestamp', root);
  const fresh = fromBundle(files, 'timestamp', root);
  let inForce = fresh;
  if (old !== undefined) {
    const what = 'tuf/timestamp.json';
    if (fresh.signed.version < old.signed.version)
      older('timestamp', fresh.signed.version, old.signed.version, what);
    if (fresh.signed.version === old.signed.version) {
      inForce = old;
    } else {
      const was = metaOf(old.signed, TUF_FILES.snapshot, old.what).version;
      const now_ = metaOf(fresh.signed, TUF_FILES.snapshot, what).version;
      if (now_ < was) older('snapshot', now_, was, what);
    }
  }
  checkNotExpired(inForce, 'timestamp.json', now);
  return inForce;
}

/**
 * §5.5 Update the snapshot role: the trusted copy while it is current; else 5.5.1 the
 * bundle's (missing: 14), 5.5.2 its length and hash as the timestamp names them (11),
 * 5.5.3 its signatures (11), 5.5.5 no rollback of any file version it lists; then
 * 5.5.6 not expired (12) and 5.5.4 the version the timestamp names (4).
 */
export function updateSnapshot(
  files: ReadonlyMap<string, Buffer>,
  trusted: TrustedCopies,
  root: RootSigned,
  timestamp: Verified,
  now: Date,
): Verified {
  const meta = metaOf(timestamp.signed, TUF_FILES.snapshot, timestamp.what);
  const old = trustedCopy(trusted.snapshot, 'snapshot', root);
  if (
    old !== undefined &&
    !isExpired(old.signed.expires, now) &&
    old.signed.version === meta.version
  )
    return old;
  const fresh = fromBundle(files, 'snapshot', root, meta);
  const what = 'tuf/snapshot.json';
  if (old !== undefined) {
    const oldMeta = (old.signed.meta ?? {}) as Record<string, MetaFile>;
    const newMeta = (fresh.signed.meta ?? {}) as Record<string, MetaFile | undefined>;
    for (const [file, info] of Object.entries(oldMeta)) {
      const next = newMeta[file];
      if (next === undefined)
        refuse('TUF_SECURITY', what, `${file} is missing from the new snapshot`);
      if (next.version < info.version)
        older(file.replace(/\.json$/, ''), next.version, info.version, what);
    }
  }
  checkNotExpired(fresh, 'snapshot.json', now);
  if (fresh.signed.version !== meta.version)
    refuse(
      'TUF_FAILURE',
      what,
      `version ${fresh.signed.version} does not match the timestamp's ${meta.version}`,
    );
  return fresh;
}

/**
 * §5.6 Update the targets role: the trusted copy while it is current; else 5.6.1 the
 * bundle's (missing: 14), 5.6.2 its length and hash as the snapshot names them (11),
 * 5.6.3 its signatures (11), 5.6.4 the version the snapshot names (4), 5.6.5 not
 * expired (12).
 */
export function updateTargets(
  files: ReadonlyMap<string, Buffer>,
  trusted: TrustedCopies,
  root: RootSigned,
  snapshot: Verified,
  now: Date,
): Verified {
  const meta = metaOf(snapshot.signed, TUF_FILES.targets, snapshot.what);
  const current = (v: Verified) =>
    v.signed.version === meta.version && !isExpired(v.signed.expires, now);
  if (trusted.targets !== undefined) {
    try {
      checkAgainstMeta(trusted.targets, meta, 'trusted targets.json');
      const old = trustedCopy(trusted.targets, 'targets', root);
      if (old !== undefined && current(old)) return old;
    } catch {
      // not current: the bundle's copy is checked below
    }
  }
  const fresh = fromBundle(files, 'targets', root, meta);
  const what = 'tuf/targets.json';
  if (fresh.signed.version !== meta.version)
    refuse(
      'TUF_FAILURE',
      what,
      `version ${fresh.signed.version} does not match the snapshot's ${meta.version}`,
    );
  checkNotExpired(fresh, 'targets.json', now);
  return fresh;
}

/** §5.4–5.6 in order; returns the three roles in force and what each check verified. */
export function updateTufRoles(
  files: ReadonlyMap<string, Buffer>,
  trusted: TrustedCopies,
  root: RootSigned,
  now: Date,
): { record: TufUpdateRecord; targets: Record<string, unknown> } {
  const timestamp = updateTimestamp(files, trusted, root, now);
  const snapshot = updateSnapshot(files, trusted, root, timestamp, now);
  const targets = updateTargets(files, trusted, root, snapshot, now);
  return {
    record: { timestamp: timestamp.record, snapshot: snapshot.record, targets: targets.record },
    targets: targets.signed,
  };
}
