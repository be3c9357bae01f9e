import { FormatError } from './errors.js';
import {
  BUNDLE_MANIFEST_FIELD,
  BUNDLE_MANIFEST_TYPE,
  BUNDLE_TYPES,
  type BundleType,
} from './layout.js';
import {
  parseEnvelope,
  SPEC_VERSION,
  verifyThreshold,
  type Envelope,
  type RootSigned,
} from './metadata.js';
import { isExpired, parseTufTime } from './time.js';

/** The signed part of `tuf/bundle-targets.json` (docs/bundle-format.md §The bundle manifest). */
export interface BundleManifestSigned {
  _type: typeof BUNDLE_MANIFEST_TYPE;
  spec_version: string;
  version: number;
  expires: string;
  [BUNDLE_MANIFEST_FIELD]: BundleInfo;
}

export interface BundleInfo {
  type: BundleType;
  tag: string;
  targets: string[];
  /**
   * Delta Targets (docs/bundle-format.md §Delta bundles): the content of each Target named
   * here is completed from a base the device already holds. A Target not named here is
   * full: the bundle carries all of it. Absent when no Target is a delta.
   */
  deltas?: Record<string, DeltaInfo>;
}

/** One base a delta Target can be installed on. */
export interface DeltaBase {
  /** The base Target's name (in the signed targets of the same tag or wave). */
  name: string;
  /** The base Target's OSTree commit. */
  commit: string;
}

/** What a delta Target relies on, and what it leaves out. */
export interface DeltaInfo {
  /** A device holding any one of these, complete, can install the Target. */
  bases: DeltaBase[];
  /** What the bundle leaves out because every base has it (for `show`: the size saved). */
  omitted: { objects: number; blobs: number; bytes: number };
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;
const CHECKSUM_RE = /^[0-9a-f]{64}$/;
/** At most this many bases per delta Target. */
export const MAX_DELTA_BASES = 16;

export function buildBundleManifest(opts: {
  type: BundleType;
  tag: string;
  targets: readonly string[];
  expires: string;
  version: number;
  deltas?: Readonly<Record<string, DeltaInfo>>;
}): BundleManifestSigned {
  const targets = [...new Set(opts.targets)].sort();
  const info: BundleInfo = { type: opts.type, tag: opts.tag, targets };
  const deltaNames = Object.keys(opts.deltas ?? {}).sort();
  if (deltaNames.length > 0) {
    info.deltas = Object.fromEntries(
      deltaNames.map((n) => {
        const d = opts.deltas![n];
        const bases = [...d.bases]
          .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
          .map((b) => ({ name: b.name, commit: b.commit }));
        const { objects, blobs, bytes } = d.omitted;
        return [n, { bases, omitted: { objects, blobs, bytes } }];
      }),
    );
  }
  const signed: BundleManifestSigned = {
    _type: BUNDLE_MANIFEST_TYPE,
    spec_version: SPEC_VERSION,
    version: opts.version,
    expires: opts.expires,
    [BUNDLE_MANIFEST_FIELD]: info,
  };
  checkManifestSigned(signed as unknown as Record<string, unknown>, 'bundle manifest');
  return signed;
}

function checkManifestSigned(s: Record<string, unknown>, what: string): BundleManifestSigned {
  const bad = (detail: string): never => {
    throw new FormatError('INVALID_METADATA', `${what}: ${detail}`, { file: what });
  };
  if (s._type !== BUNDLE_MANIFEST_TYPE) bad(`_type must be "${BUNDLE_MANIFEST_TYPE}"`);
  if (typeof s.spec_version !== 'string') bad('spec_version must be a string');
  if (!Number.isSafeInteger(s.version) || (s.version as number) < 1)
    bad('version must be a positive integer');
  parseTufTime(s.expires, `${what} expires`);
  const info = s[BUNDLE_MANIFEST_FIELD] as Record<string, unknown> | undefined;
  if (info === null || typeof info !== 'object')
    bad(`"${BUNDLE_MANIFEST_FIELD}" must be an object`);
  const i = info as Record<string, unknown>;
  if (!BUNDLE_TYPES.includes(i.type as BundleType)) bad('type must be "ci" or "prod"');
  if (typeof i.tag !== 'string' || !NAME_RE.test(i.tag)) bad('tag must be a non-empty name');
  if (!Array.isArray(i.targets) || i.targets.length === 0)
    bad('targets must list at least one Target');
  for (const t of i.targets as unknown[]) {
    if (typeof t !== 'string' || !NAME_RE.test(t)) bad(`invalid Target name ${JSON.stringify(t)}`);
  }
  if (new Set(i.targets as string[]).size !== (i.targets as string[]).length)
    bad('targets lists a name twice');
  const known = new Set(['type', 'tag', 'targets', 'deltas']);
  for (const k of Object.keys(i)) if (!known.has(k)) bad(`unknown field "${k}"`);
  if (i.deltas !== undefined) checkDeltas(i.deltas, i.targets as string[], bad);
  return s as unknown as BundleManifestSigned;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/** §Delta bundles: `deltas` names listed Targets only, each with 1–16 bases; nothing else. */
function checkDeltas(v: unknown, targets: readonly string[], bad: (d: string) => never): void {
  if (!isPlainObject(v)) bad('deltas must be an object');
  const deltas = v;
  const names = Object.keys(deltas);
  if (names.length === 0) bad('deltas must name at least one Target (or be absent)');
  if (names.length > targets.length) bad('deltas names more Targets than the bundle lists');
  for (const name of names) {
    const where = `deltas.${name}`;
    if (!targets.includes(name)) bad(`${where}: the bundle does not list Target ${name}`);
    const d = deltas[name];
    if (!isPlainObject(d)) bad(`${where} must be an object`);
    const e = d;
    for (const k of Object.keys(e))
      if (k !== 'bases' && k !== 'omitted') bad(`${where}: unknown field "${k}"`);
    if (!Array.isArray(e.bases) || e.bases.length === 0 || e.bases.length > MAX_DELTA_BASES)
      bad(`${where}.bases must list 1 to ${MAX_DELTA_BASES} base Targets`);
    const seen = new Set<string>();
    for (const b of e.bases as unknown[]) {
      if (!isPlainObject(b) || Object.keys(b).length !== 2)
        bad(`${where}.bases: each base is {"name", "commit"}`);
      const base = b;
      if (typeof base.name !== 'string' || !NAME_RE.test(base.name))
        bad(`${where}.bases: invalid Target name ${JSON.stringify(base.name)}`);
      if (typeof base.commit !== 'string' || !CHECKSUM_RE.test(base.commit))
        bad(`${where}.bases: the commit of ${String(base.name)} is not 64 lowercase hex digits`);
      if (base.name === name) bad(`${where}: a Target cannot be its own base`);
      if (seen.has(base.name)) bad(`${where}.bases lists ${String(base.name)} twice`);
      seen.add(base.name);
    }
    const o = e.omitted;
    if (!isPlainObject(o) || Object.keys(o).length !== 3)
      bad(`${where}.omitted must be {"objects", "blobs", "bytes"}`);
    for (const k of ['objects', 'blobs', 'bytes']) {
      const n = o[k];
      if (!Number.isSafeInteger(n) || (n as number) < 0)
        bad(`${where}.omitted.${k} must be a non-negative integer`);
    }
  }
}

/** The delta record of a Target in a bundle manifest, or undefined when the Target is full. */
export function deltaOf(signed: BundleManifestSigned, target: string): DeltaInfo | undefined {
  const deltas = signed[BUNDLE_MANIFEST_FIELD].deltas;
  return deltas !== undefined && Object.hasOwn(deltas, target) ? deltas[target] : undefined;
}

/** Parses an untrusted `bundle-targets.json` (shape only; signatures are checked separately). */
export function parseBundleManifest(
  json: unknown,
  what = 'tuf/bundle-targets.json',
): Envelope<BundleManifestSigned> {
  const env = parseEnvelope(json, what);
  return { signatures: env.signatures, signed: checkManifestSigned(env.signed, what) };
}

export interface ManifestVerification {
  validKeyids: string[];
  threshold: number;
}

/**
 * The bundle manifest check (reference §3.4 step 2c–2f): every signature by a targets
 * key of `root` and valid, no key twice, at least the targets threshold, not expired.
 * Signature errors are checked before expiry, as on the device.
 */
export function verifyBundleManifest(
  env: Envelope<BundleManifestSigned>,
  root: RootSigned,
  opts: { now: Date; what?: string },
): ManifestVerification {
  const what = opts.what ?? 'tuf/bundle-targets.json';
  const result = verifyThreshold(env, root.keys, root.roles.targets, { strict: true, what });
  if (isExpired(env.signed.expires, opts.now)) {
    throw new FormatError(
      'EXPIRED',
      `The offline bundle metadata has expired: ${env.signed.expires}`,
      {
        file: what,
      },
    );
  }
  return { validKeyids: result.valid, threshold: result.threshold };
}

export interface SignatureStatus {
  signatures: string[];
  allowed: string[];
  threshold: number;
  /** How many more valid signatures are needed (0 when the threshold is met). */
  missing: number;
  /** Signatures that do not count: unknown key, invalid, or duplicate. */
  invalid: string[];
}

/** Non-throwing signature summary for `show` and `sign`: counts only signatures that verify. */
export function manifestSignatureStatus(
  env: Envelope<BundleManifestSigned>,
  root: RootSigned,
): SignatureStatus {
  const allowed = [...root.roles.targets.keyids];
  const threshold = root.roles.targets.threshold;
  const signatures = env.signatures.map((s) => s.keyid);
  let valid: string[] = [];
  try {
    valid = verifyThreshold(
      env,
      root.keys,
      { keyids: allowed, threshold: 1 },
      { strict: false, what: 'manifest' },
    ).valid;
  } catch {
    valid = [];
  }
  return {
    signatures,
    allowed,
    threshold,
    missing: Math.max(0, threshold - valid.length),
    invalid: signatures.filter((k) => !valid.includes(k)),
  };
}
