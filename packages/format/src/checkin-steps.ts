/**
 * The steps of the check-in (checkin.ts runs them in order). Each function names the
 * section of docs/bundle-format.md (§) or the TUF client-workflow step (TUF §5.x) it
 * implements and refuses with a typed FormatError; the TUF role updates (§5.4–5.6) are in
 * tuf-client.ts.
 */
import { pathToFileURL, fileURLToPath } from 'node:url';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Updater } from 'tuf-js';
import { planAppBlobs } from './apps.js';
import { appBlobPath, bundleHasCommit, type BundleSource } from './bundle-source.js';
import { FormatError, messageOf, type FormatErrorCode } from './errors.js';
import {
  BUNDLE_DIRS,
  BUNDLE_MANIFEST_FIELD,
  CAPS,
  rootVersions as listRootVersions,
  TUF_FILES,
  rootFileName,
  tufFileCap,
  type BundleType,
} from './layout.js';
import { parseBoundedJson, readBoundedJson } from './json.js';
import {
  deltaOf,
  parseBundleManifest,
  verifyBundleManifest,
  type BundleManifestSigned,
  type ManifestVerification,
} from './manifest.js';
import {
  parseEnvelope,
  parseRoot,
  ROOT_CHAIN_FIELD,
  verifyRootRotation,
  verifySelfSignedRoot,
  verifyThreshold,
  type Envelope,
  type RoleName,
  type RootSigned,
} from './metadata.js';
import {
  compareTargets,
  parseTargets,
  requiredApps,
  targetMismatch,
  type TargetEntry,
} from './target.js';
import { isExpired, parseTufTime } from './time.js';
import { classifyTufError } from './tuf-errors.js';
import { BundleFetcher } from './tuf-fetcher.js';
import { assertNoStrandedTrust, trustedDir } from './trust-store.js';

export interface BundleMetadata {
  files: Map<string, Buffer>;
  rootVersions: number[];
}

/**
 * §TUF metadata and §Size caps: every `tuf/` file is read once, capped, into memory; the
 * later steps and tuf-js see exactly these bytes. At most `CAPS.rootChainLength` roots.
 */
export async function readBundleMetadata(source: BundleSource): Promise<BundleMetadata> {
  const files = await source.readTufFiles();
  const rootVersions = listRootVersions(files.keys());
  if (rootVersions.length > CAPS.rootChainLength) {
    throw new FormatError(
      'ROOT_CHAIN_BROKEN',
      `tuf/ holds ${rootVersions.length} roots, more than ${CAPS.rootChainLength}`,
    );
  }
  return { files, rootVersions };
}

function parseJsonFile(
  meta: BundleMetadata,
  name: string,
  missing: FormatErrorCode,
  invalid: FormatErrorCode,
): unknown {
  const buf = meta.files.get(name);
  if (buf === undefined) {
    throw new FormatError(
      missing,
      `TUF metadata not found: tuf/${name} is missing from the bundle`,
      { file: name },
    );
  }
  return parseBoundedJson(buf, `tuf/${name}`, {
    maxBytes: tufFileCap(name) ?? CAPS.root,
    code: invalid,
  });
}

function asBundleInvalid(err: unknown): never {
  if (err instanceof FormatError && err.code !== 'EXPIRED') {
    throw new FormatError('BUNDLE_INVALID', `The bundle metadata check failed: ${err.message}`, {
      cause: err,
      file: err.file,
    });
  }
  throw err;
}

/**
 * §The bundle manifest: `bundle-targets.json` parses, and the type it claims is the
 * device's. Refusing on the unauthenticated claim is safe: it can only refuse.
 */
export function checkManifestShape(
  meta: BundleMetadata,
  deviceType: BundleType | undefined,
): Envelope<BundleManifestSigned> {
  let env: Envelope<BundleManifestSigned>;
  try {
    env = parseBundleManifest(
      parseJsonFile(meta, TUF_FILES.manifest, 'TUF_MISSING', 'BUNDLE_INVALID'),
    );
  } catch (err) {
    if (err instanceof FormatError && err.code === 'TUF_MISSING') throw err;
    asBundleInvalid(err);
  }
  const claimed = env.signed[BUNDLE_MANIFEST_FIELD].type;
  if (deviceType !== undefined && claimed !== deviceType) {
    throw new FormatError(
      'TYPE_MISMATCH',
      `Cannot apply the update bundle to the device: the bundle type \`${claimed}\` differs from the device type \`${deviceType}\``,
    );
  }
  return env;
}

/**
 * TUF §5.2 Load the trusted root: the device's stored one (trust-store.ts), else the
 * newest of the roots shipped with the image (walked from the first), never the shipped
 * ones while a stored root exists but is not in place. The root must belong to `type`'s
 * chain (§TUF metadata, Root: `x-offline-ota-chain`).
 */
export async function loadTrustedRoot(
  trustDir: string,
  shippedRootsDir: string | undefined,
  type: BundleType,
): Promise<Envelope<RootSigned>> {
  const root = await loadTrustedRootUnchecked(trustDir, shippedRootsDir, type);
  if (root.signed[ROOT_CHAIN_FIELD] !== type) {
    throw new FormatError(
      'ROOT_CHAIN_BROKEN',
      `the device's trusted ${type} root (v${root.signed.version}) is marked for the ${String(root.signed[ROOT_CHAIN_FIELD] ?? 'unmarked')} chain; refusing to verify a ${type} bundle with it`,
    );
  }
  return root;
}

async function loadTrustedRootUnchecked(
  trustDir: string,
  shippedRootsDir: string | undefined,
  type: BundleType,
): Promise<Envelope<RootSigned>> {
  const stored = join(trustedDir(trustDir, type), 'root.json');
  if (await pathExists(stored)) {
    return deviceRoot(stored, async () => {
      const r = parseRoot(await readRootJson(stored), stored);
      verifySelfSignedRoot(r, stored);
      return r;
    });
  }
  await assertNoStrandedTrust(trustDir, type);
  if (shippedRootsDir === undefined) {
    throw new FormatError('ROOT_NOT_FOUND', `no trusted root: ${stored} is missing`, {
      file: stored,
    });
  }
  const dir = join(shippedRootsDir, type);
  const versions = listRootVersions(await readdir(dir).catch(() => [] as string[]));
  if (versions.length === 0) {
    throw new FormatError(
      'DEVICE_ROOT_INVALID',
      `the device ships no trusted ${type} root: ${dir} holds no N.root.json; the device cannot judge any ${type} bundle`,
      { file: dir },
    );
  }
  const first = join(dir, rootFileName(versions[0]));
  let root = await deviceRoot(first, async () => {
    const r = parseRoot(await readRootJson(first), first);
    verifySelfSignedRoot(r, first);
    return r;
  });
  for (const v of versions.slice(1)) {
    const path = join(dir, rootFileName(v));
    const prev = root;
    root = await deviceRoot(path, async () => {
      const next = parseRoot(await readRootJson(path), path);
      verifyRootRotation(prev.signed, next, path);
      return next;
    });
  }
  return root;
}

/**
 * A root of the device itself (stored, or shipped in the image) that cannot be read,
 * parsed or verified is the device's fault, not the media's (issue 11 §4): one code,
 * DEVICE_ROOT_INVALID, naming the device file.
 */
async function deviceRoot<T>(file: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    throw new FormatError(
      'DEVICE_ROOT_INVALID',
      `the device's own TUF root ${file} is not valid (${messageOf(err)}); the media was not judged`,
      { cause: err, file },
    );
  }
}

/** A root of the device (stored or shipped), read and parsed within bounds. */
function readRootJson(path: string): Promise<unknown> {
  return readBoundedJson(path, { maxBytes: CAPS.root });
}

const pathExists = (path: string): Promise<boolean> =>
  lstat(path).then(
    () => true,
    () => false,
  );

/**
 * TUF §5.3 Update the root role (5.3.2–5.3.8, 5.3.9 repeated): `tuf/<v>.root.json` from
 * the trusted version + 1, each signed to threshold by the previous root and by itself;
 * a broken link, or a newer root left unreached, is a security error (11).
 */
export function walkRootChain(
  meta: BundleMetadata,
  trusted: Envelope<RootSigned>,
): Envelope<RootSigned>[] {
  const chain: Envelope<RootSigned>[] = [];
  let current = trusted;
  for (let v = trusted.signed.version + 1; meta.files.has(rootFileName(v)); v++) {
    const name = `tuf/${rootFileName(v)}`;
    let next: Envelope<RootSigned>;
    try {
      next = parseRoot(
        parseJsonFile(meta, rootFileName(v), 'ROOT_NOT_FOUND', 'ROOT_CHAIN_BROKEN'),
        name,
      );
      verifyRootRotation(current.signed, next, name);
    } catch (err) {
      if (err instanceof FormatError && err.code === 'ROOT_CHAIN_BROKEN') throw err;
      throw new FormatError(
        'ROOT_CHAIN_BROKEN',
        `root chain broken at ${name}: ${messageOf(err)}`,
        { cause: err, file: name },
      );
    }
    chain.push(next);
    current = next;
  }
  const newest = meta.rootVersions.at(-1) ?? 0;
  if (newest > current.signed.version) {
    throw new FormatError(
      'ROOT_CHAIN_BROKEN',
      `root chain broken: the bundle holds ${rootFileName(newest)} but tuf/${rootFileName(current.signed.version + 1)} is missing`,
    );
  }
  return chain;
}

export interface ManifestCheckOptions {
  now: Date;
  tags: readonly string[];
  allowUnsignedManifest?: boolean | undefined;
}

/**
 * §The bundle manifest: signed by the newest root's targets keys to their threshold (each
 * key once), not expired, and of a tag the device follows. Returns the key ids counted
 * (none when a host-side unsigned production manifest is accepted).
 */
export function checkManifest(
  env: Envelope<BundleManifestSigned>,
  root: RootSigned,
  opts: ManifestCheckOptions,
): ManifestVerification {
  let verified: ManifestVerification = { validKeyids: [], threshold: root.roles.targets.threshold };
  // A genuine bundle of another factory (or root chain) is signed, but by none of the keys
  // this device's root lists: not a signing slip (15) but metadata this device does not
  // trust at all (11, docs/technician-guide.md).
  const ids = env.signatures.map((s) => s.keyid);
  if (ids.length > 0 && ids.every((id) => !Object.hasOwn(root.keys, id))) {
    throw new FormatError(
      'FOREIGN_BUNDLE',
      `tuf/bundle-targets.json is signed only by keys this device's root v${root.version} does not know (${ids.join(', ')}): the bundle comes from another factory or another root chain`,
      { file: 'tuf/bundle-targets.json' },
    );
  }
  try {
    verified = verifyBundleManifest(env, root, { now: opts.now });
  } catch (err) {
    if (
      opts.allowUnsignedManifest === true &&
      err instanceof FormatError &&
      err.code === 'THRESHOLD_NOT_MET'
    ) {
      if (isExpired(env.signed.expires, opts.now)) {
        throw new FormatError(
          'EXPIRED',
          `The offline bundle metadata has expired: ${env.signed.expires}`,
        );
      }
    } else {
      asBundleInvalid(err);
    }
  }
  const tag = env.signed[BUNDLE_MANIFEST_FIELD].tag;
  if (opts.tags.length > 0 && !opts.tags.includes(tag)) {
    throw new FormatError(
      'TAG_MISMATCH',
      `Cannot apply the update bundle to the device: the bundle tag \`${tag}\` differs from the device tag(s) \`${opts.tags.join(',')}\``,
    );
  }
  return verified;
}

/**
 * TUF §5.3–5.6 again, by tuf-js, on the working copy and the same in-memory bytes (the
 * second verifier; it persists what it accepts into `workDir`). It is asked for exactly
 * the `rootRotations` roots the chain walk found.
 */
export async function refreshWithTufJs(
  meta: BundleMetadata,
  bundleDir: string,
  workDir: string,
  rootRotations: number,
): Promise<void> {
  const tufDir = join(bundleDir, BUNDLE_DIRS.tuf);
  const fetcher = new BundleFetcher(fileURLToPath(pathToFileURL(tufDir)), meta.files);
  try {
    // The constructor already reads and verifies the trusted root: inside the try.
    const updater = new Updater({
      metadataDir: workDir,
      metadataBaseUrl: pathToFileURL(tufDir).href,
      fetcher,
      config: {
        rootMaxLength: CAPS.root,
        timestampMaxLength: CAPS.timestamp,
        snapshotMaxLength: CAPS.snapshot,
        targetsMaxLength: CAPS.targets,
        maxRootRotations: rootRotations,
      },
    });
    await updater.refresh();
  } catch (err) {
    throw classifyTufError(err, fetcher);
  }
}

export interface TrustedSet {
  root: RootSigned;
  targets: TargetEntry[];
}

/**
 * The set that will be (or, for a cached check-in, is) in force, read back from disk and
 * checked as a whole: every role signed to its threshold under the stored root with
 * distinct keys, `expires` exactly `YYYY-MM-DDTHH:MM:SSZ` and not past, targets parse
 * (sha256 each), and the root is at least `minRootVersion` (the bundle's whole chain was
 * consumed).
 */
export async function checkStoredSet(
  dir: string,
  now: Date,
  minRootVersion: number,
): Promise<TrustedSet> {
  const read = async (name: string): Promise<unknown> => {
    try {
      return await readBoundedJson(join(dir, name), {
        maxBytes: tufFileCap(name) ?? CAPS.root,
        what: name,
      });
    } catch (err) {
      throw new FormatError('TUF_MISSING', `trusted metadata ${name} is missing or unreadable`, {
        cause: err,
      });
    }
  };
  const root = parseRoot(await read('root.json'), 'root.json');
  if (root.signed.version < minRootVersion) {
    throw new FormatError(
      'ROOT_CHAIN_BROKEN',
      `the bundle's root chain was not consumed: trusted root is v${root.signed.version}, bundle has v${minRootVersion}`,
    );
  }
  const check = (role: RoleName, value: unknown): Record<string, unknown> => {
    const env = parseEnvelope(value, `${role}.json`);
    if (env.signed._type !== role)
      throw new FormatError('TUF_SECURITY', `${role}.json has _type ${String(env.signed._type)}`);
    try {
      parseTufTime(env.signed.expires, `${role}.json expires`);
      verifyThreshold(env, root.signed.keys, root.signed.roles[role], {
        strict: false,
        what: `${role}.json`,
      });
    } catch (err) {
      throw new FormatError('TUF_SECURITY', `TUF metadata is not trusted: ${messageOf(err)}`, {
        cause: err,
      });
    }
    if (isExpired(env.signed.expires as string, now)) {
      throw new FormatError(
        'TUF_EXPIRED',
        `TUF metadata expired: ${role}.json expired at ${String(env.signed.expires)}`,
      );
    }
    return env.signed;
  };
  if (isExpired(root.signed.expires, now)) {
    throw new FormatError(
      'TUF_EXPIRED',
      `TUF metadata expired: root.json v${root.signed.version} expired at ${root.signed.expires}`,
    );
  }
  check('timestamp', await read(TUF_FILES.timestamp));
  check('snapshot', await read(TUF_FILES.snapshot));
  const targetsSigned = check('targets', await read(TUF_FILES.targets));
  let targets: TargetEntry[];
  try {
    targets = parseTargets(targetsSigned.targets);
  } catch (err) {
    throw new FormatError('TUF_SECURITY', `targets.json: ${messageOf(err)}`, { cause: err });
  }
  return { root: root.signed, targets };
}

export interface DeviceFacts {
  hardwareId: string;
  tags: readonly string[];
}

/**
 * §Targets: the trusted Targets the manifest lists (none: 6), and of those the ones for
 * this device's hardware id and tags (none: 6), by ascending version.
 */
export function selectMatchingTargets(
  trusted: readonly TargetEntry[],
  listedNames: readonly string[],
  device: DeviceFacts,
): TargetEntry[] {
  const listed = trusted.filter((t) => listedNames.includes(t.name));
  if (listed.length === 0) {
    throw new FormatError(
      'NO_MATCHING_TARGETS',
      'None of the bundle targets are listed among the TUF targets allowed for the device',
    );
  }
  const matching = listed.filter((t) => targetMismatch(t, device) === null).sort(compareTargets);
  if (matching.length === 0) {
    const why = listed.map((t) => `${t.name}: ${targetMismatch(t, device)}`);
    throw new FormatError(
      'NO_MATCHING_TARGETS',
      `Couldn't find Targets matching the device's hardware ID; check a tag or a hardware ID of the device and the bundle's tag (${why.join('; ')})`,
    );
  }
  return matching;
}

export interface ContentOptions {
  appsEnabled: boolean;
  composeApps?: readonly string[] | undefined;
}

/** What the content check found for one Target. */
export interface ContentRecord {
  name: string;
  /** The OSTree commit (sha256) present in `ostree_repo/`. */
  commit: string;
  /** The app blob digests (sha256) present with their listed size. */
  blobs: string[];
  /**
   * A delta Target (§Delta bundles): the media holds its commit object and what no base
   * has; the device completes it from one of these bases, which it checks itself.
   */
  deltaBases?: string[];
}

/** §OSTree repository and §Apps: why a Target's content is not on the media, or null. */
async function contentProblem(
  entry: TargetEntry,
  opts: ContentOptions,
  source: BundleSource,
  blobs: string[],
  delta: boolean,
): Promise<string | null> {
  if (!(await bundleHasCommit(source, entry.commit)))
    return `OSTree commit ${entry.commit} is not in ostree_repo`;
  // §Delta bundles: the app blobs every base has are left out; the device finds them in
  // its own store (aklite-offline's base check), so only the commit object is checked here.
  if (!opts.appsEnabled || delta) return null;
  const reader = source.blobReader();
  for (const [app, uri] of Object.entries(requiredApps(entry, opts.composeApps))) {
    try {
      for (const b of await planAppBlobs(uri, reader)) {
        const size = await source.fileSize(appBlobPath(b.digest));
        if (size === undefined) return `app ${app}: blob sha256:${b.digest} (${b.kind}) is missing`;
        if (b.size !== undefined && size !== b.size)
          return `app ${app}: blob sha256:${b.digest} has the wrong size`;
        blobs.push(b.digest);
      }
    } catch (err) {
      return `app ${app}: ${messageOf(err)}`;
    }
  }
  return null;
}

export interface ContentCheck {
  available: TargetEntry[];
  unavailable: { name: string; reason: string }[];
  records: ContentRecord[];
}

/**
 * §OSTree repository and §Apps: which matching Targets have their commit and required
 * app blobs on the media (none: 8). Digests are checked when the content is read.
 */
export async function checkContent(
  matching: readonly TargetEntry[],
  opts: ContentOptions,
  source: BundleSource,
  bundleDir: string,
  manifest?: BundleManifestSigned,
): Promise<ContentCheck> {
  const out: ContentCheck = { available: [], unavailable: [], records: [] };
  for (const t of matching) {
    const blobs: string[] = [];
    const delta = manifest === undefined ? undefined : deltaOf(manifest, t.name);
    const problem = await contentProblem(t, opts, source, blobs, delta !== undefined);
    if (problem === null) {
      out.available.push(t);
      out.records.push({
        name: t.name,
        commit: t.commit,
        blobs,
        ...(delta === undefined ? {} : { deltaBases: delta.bases.map((b) => b.name) }),
      });
    } else {
      out.unavailable.push({ name: t.name, reason: problem });
    }
  }
  if (out.available.length === 0) {
    throw new FormatError(
      'NO_TARGET_CONTENT',
      `No update content found in ${join(bundleDir, BUNDLE_DIRS.ostree)} and ${join(bundleDir, BUNDLE_DIRS.apps)}: ${out.unavailable.map((u) => `${u.name}: ${u.reason}`).join('; ')}`,
    );
  }
  return out;
}
