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
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;

export function buildBundleManifest(opts: {
  type: BundleType;
  tag: string;
  targets: readonly string[];
  expires: string;
  version: number;
}): BundleManifestSigned {
  const targets = [...new Set(opts.targets)].sort();
  const signed: BundleManifestSigned = {
    _type: BUNDLE_MANIFEST_TYPE,
    spec_version: SPEC_VERSION,
    version: opts.version,
    expires: opts.expires,
    [BUNDLE_MANIFEST_FIELD]: { type: opts.type, tag: opts.tag, targets },
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
  return s as unknown as BundleManifestSigned;
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
