/**
 * The device's check of a bundle (reference §3.4), shared by `aklite-offline` and by
 * `bundlectl verify`/`create`. A pipeline of named steps; each failure is a FormatError
 * whose code `exitStatusFor` maps to the documented exit status.
 *
 *   1. readBundleMetadata      every tuf/ file read once into memory, capped
 *   2. checkManifestShape      bundle-targets.json parses; claimed type matches the device
 *   3. walkRootChain           N.root.json from the device's newest trusted root
 *   4. checkManifest           signatures to the targets threshold, expiry, tag
 *   5. refreshTuf              tuf-js Updater on a working copy of the trusted metadata
 *   6. closeTufGaps            distinct keys, strict expiry, whole root chain consumed
 *   7. filterTargets           manifest ∩ TUF, hardware id, tags
 *   8. checkContent            OSTree commit and required apps present on the media
 */
import { randomBytes } from 'node:crypto';
import {
  cp,
  lstat,
  mkdir,
  mkdtemp,
  open,
  readdir,
  readFile,
  rename,
  rm,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Updater, type Fetcher } from 'tuf-js';
import { DownloadHTTPError } from 'tuf-js/dist/error.js';
import { planAppBlobs } from './apps.js';
import {
  appBlobPath,
  openBundleSource,
  bundleHasCommit,
  type BundleSource,
} from './bundle-source.js';
import { FormatError, messageOf, type FormatErrorCode } from './errors.js';
import {
  BUNDLE_DIRS,
  BUNDLE_MANIFEST_FIELD,
  CAPS,
  ROOT_FILE_RE,
  TUF_FILES,
  rootFileName,
  type BundleType,
} from './layout.js';
import {
  parseBundleManifest,
  verifyBundleManifest,
  type BundleManifestSigned,
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
import { StatusCode, type StatusValue } from './status.js';
import {
  compareTargets,
  parseTargets,
  requiredApps,
  targetMismatch,
  type TargetEntry,
} from './target.js';
import { isExpired, parseTufTime } from './time.js';

export interface CheckBundleOptions {
  /** A bundle directory or a single-file bundle (zip), read in place. */
  bundleDir: string;
  /** An already opened source for `bundleDir` (the caller keeps and closes it). */
  source?: BundleSource;
  /** Trusted metadata: `<trustDir>/<type>/root.json` etc. (tuf-js metadataDir layout). */
  trustDir: string;
  /** Roots shipped with the image (`<dir>/<type>/<N>.root.json`), used when trustDir has none. */
  shippedRootsDir?: string;
  /** The device's type; undefined for a device that takes the type of its first bundle. */
  deviceType: BundleType | undefined;
  hardwareId: string;
  /** Device tags; empty accepts any tag. */
  tags: readonly string[];
  now: Date;
  /** Whether the device runs compose apps (`[pacman] type`). */
  appsEnabled: boolean;
  /** `[pacman] compose_apps`; undefined means all of a Target's apps. */
  composeApps?: readonly string[] | undefined;
  /** Host only (`bundlectl create` of a production bundle): accept a manifest below threshold. */
  allowUnsignedManifest?: boolean;
}

export interface CheckBundleResult {
  type: BundleType;
  tag: string;
  manifest: Envelope<BundleManifestSigned>;
  /** Newest root version after the chain walk. */
  rootVersion: number;
  /** True when the bundle's TUF metadata was older than the device's and the stored copy was used. */
  cached: boolean;
  /** Every trusted Target listed by the manifest and fitting the device (before the content check). */
  matching: TargetEntry[];
  /** Matching Targets whose content is on the media, by ascending version. */
  available: TargetEntry[];
  /** Per matching Target without content: why. */
  unavailable: { name: string; reason: string }[];
  /** Replace the device's trusted metadata with the refreshed copy (atomic rename). */
  commit(): Promise<void>;
  /** Remove the working copy without changing the trusted metadata. */
  discard(): Promise<void>;
}

// ---------------------------------------------------------------------------------------
// 1. readBundleMetadata

export interface BundleMetadata {
  files: Map<string, Buffer>;
  rootVersions: number[];
}

/** Reads `tuf/` once from any source; later steps and tuf-js see exactly these bytes. */
export async function readBundleMetadata(source: BundleSource): Promise<BundleMetadata> {
  const files = await source.readTufFiles();
  const rootVersions = [...files.keys()]
    .map((n) => ROOT_FILE_RE.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
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
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw new FormatError(invalid, `tuf/${name} is not valid JSON: ${messageOf(err)}`, {
      cause: err,
      file: name,
    });
  }
}

// ---------------------------------------------------------------------------------------
// 2. checkManifestShape

function asBundleInvalid(err: unknown): never {
  if (err instanceof FormatError && err.code !== 'EXPIRED') {
    throw new FormatError('BUNDLE_INVALID', `The bundle metadata check failed: ${err.message}`, {
      cause: err,
      file: err.file,
    });
  }
  throw err;
}

function checkManifestShape(
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
  // Refusing on the unauthenticated claim is safe: it can only refuse, never accept.
  if (deviceType !== undefined && claimed !== deviceType) {
    throw new FormatError(
      'TYPE_MISMATCH',
      `Cannot apply the update bundle to the device: the bundle type \`${claimed}\` differs from the device type \`${deviceType}\``,
    );
  }
  return env;
}

// ---------------------------------------------------------------------------------------
// 3. walkRootChain

async function loadTrustedRoot(
  opts: CheckBundleOptions,
  type: BundleType,
): Promise<Envelope<RootSigned>> {
  const root = await loadTrustedRootUnchecked(opts, type);
  if (root.signed[ROOT_CHAIN_FIELD] !== type) {
    throw new FormatError(
      'ROOT_CHAIN_BROKEN',
      `the device's trusted ${type} root (v${root.signed.version}) is marked for the ${String(root.signed[ROOT_CHAIN_FIELD] ?? 'unmarked')} chain; refusing to verify a ${type} bundle with it`,
    );
  }
  return root;
}

async function loadTrustedRootUnchecked(
  opts: CheckBundleOptions,
  type: BundleType,
): Promise<Envelope<RootSigned>> {
  const stored = join(opts.trustDir, type, 'root.json');
  const buf = await readFile(stored).catch(() => undefined);
  if (buf !== undefined) {
    return parseRoot(JSON.parse(buf.toString('utf8')), stored);
  }
  if (opts.shippedRootsDir === undefined) {
    throw new FormatError('ROOT_NOT_FOUND', `no trusted root: ${stored} is missing`, {
      file: stored,
    });
  }
  const dir = join(opts.shippedRootsDir, type);
  const versions = (await readdir(dir).catch(() => [] as string[]))
    .map((n) => ROOT_FILE_RE.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
  if (versions.length === 0) {
    throw new FormatError(
      'ROOT_NOT_FOUND',
      `no trusted ${type} root: ${dir} holds no N.root.json`,
      { file: dir },
    );
  }
  // The shipped roots are part of the image; still, walk them so the newest is checked.
  let root = parseRoot(
    JSON.parse(await readFile(join(dir, rootFileName(versions[0])), 'utf8')),
    join(dir, rootFileName(versions[0])),
  );
  verifySelfSignedRoot(root, join(dir, rootFileName(versions[0])));
  for (const v of versions.slice(1)) {
    const path = join(dir, rootFileName(v));
    const next = parseRoot(JSON.parse(await readFile(path, 'utf8')), path);
    verifyRootRotation(root.signed, next, path);
    root = next;
  }
  return root;
}

/** Walks `tuf/<v>.root.json` from the trusted version + 1; a broken link is a security error. */
function walkRootChain(
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

// ---------------------------------------------------------------------------------------
// 4. checkManifest

function checkManifest(
  env: Envelope<BundleManifestSigned>,
  root: RootSigned,
  opts: CheckBundleOptions,
): void {
  try {
    verifyBundleManifest(env, root, { now: opts.now });
  } catch (err) {
    if (
      opts.allowUnsignedManifest &&
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
}

// ---------------------------------------------------------------------------------------
// 5. refreshTuf

class BundleFetcher implements Fetcher {
  constructor(
    private readonly base: string,
    private readonly files: Map<string, Buffer>,
  ) {}

  private lookup(url: string, maxLength: number): Buffer {
    const path = fileURLToPath(url);
    const name = path.startsWith(this.base + '/') ? path.slice(this.base.length + 1) : undefined;
    const buf = name === undefined || name.includes('/') ? undefined : this.files.get(name);
    if (buf === undefined) throw new NotInBundle(`not in bundle: tuf/${name ?? path}`);
    if (buf.length > maxLength)
      throw new FormatError('FILE_TOO_LARGE', `tuf/${name} is longer than ${maxLength} bytes`);
    return buf;
  }

  downloadBytes(url: string, maxLength: number): Promise<Buffer> {
    return Promise.resolve(this.lookup(url, maxLength));
  }

  async downloadFile<T>(
    url: string,
    maxLength: number,
    handler: (file: string) => Promise<T>,
  ): Promise<T> {
    const buf = this.lookup(url, maxLength);
    const tmp = join(await mkdtemp(join(tmpdir(), 'offline-ota-fetch-')), 'file');
    await writeFile(tmp, buf);
    try {
      return await handler(tmp);
    } finally {
      await rm(dirname(tmp), { recursive: true, force: true });
    }
  }
}

/** A 404 as tuf-js expects it: its own DownloadHTTPError with status 404 ends the root loop. */
class NotInBundle extends DownloadHTTPError {
  constructor(message: string) {
    super(message, 404);
    this.name = 'DownloadHTTPError';
  }
}

function classifyTufError(err: unknown): FormatError {
  const name = err instanceof Error ? err.constructor.name : '';
  const msg = messageOf(err);
  const wrap = (code: FormatErrorCode, text: string) => new FormatError(code, text, { cause: err });
  if (err instanceof FormatError) return err;
  if (err instanceof NotInBundle || /not in bundle/.test(msg)) {
    return wrap('TUF_MISSING', `TUF metadata not found in the bundle: ${msg}`);
  }
  if (name === 'ExpiredMetadataError' || /is expired/.test(msg))
    return wrap('TUF_EXPIRED', `TUF metadata expired: ${msg}`);
  // A version that disagrees with its parent's meta is a broken bundle, not an attack on
  // signatures: the reference reports it as a generic check-in failure (4). tuf-js throws
  // these as BadVersionError too, so this test comes before the rollback one.
  if (/version doesn't match|does not match snapshot version/i.test(msg)) {
    return wrap('TUF_FAILURE', `TUF metadata update failed: ${msg}`);
  }
  if (name === 'BadVersionError' || /less than current version/.test(msg)) {
    return wrap(
      'TUF_ROLLBACK',
      `TUF metadata provided in the offline bundle is older than the device's: ${msg}`,
    );
  }
  if (
    name === 'UnsignedMetadataError' ||
    name === 'LengthOrHashMismatchError' ||
    name === 'DownloadLengthMismatchError' ||
    name === 'ValueError' ||
    name === 'TypeError' ||
    /signed by|Expected hash|Expected length|Max length|doesn't match|does not match|expected '/.test(
      msg,
    )
  ) {
    return wrap('TUF_SECURITY', `TUF metadata in the bundle is not trusted: ${msg}`);
  }
  return wrap('TUF_FAILURE', `TUF metadata update failed: ${msg}`);
}

async function prepareWorkDir(
  opts: CheckBundleOptions,
  type: BundleType,
  trusted: Envelope<RootSigned>,
): Promise<string> {
  await mkdir(opts.trustDir, { recursive: true });
  const work = join(opts.trustDir, `.work-${type}-${randomBytes(6).toString('hex')}`);
  const stored = join(opts.trustDir, type);
  const hasStored = await lstat(join(stored, 'root.json')).then(
    () => true,
    () => false,
  );
  if (hasStored) {
    await cp(stored, work, { recursive: true });
  } else {
    await mkdir(work, { recursive: true });
    await writeFile(join(work, 'root.json'), JSON.stringify(trusted));
  }
  return work;
}

async function refreshTuf(
  meta: BundleMetadata,
  opts: CheckBundleOptions,
  workDir: string,
): Promise<void> {
  const tufDir = join(opts.bundleDir, BUNDLE_DIRS.tuf);
  const updater = new Updater({
    metadataDir: workDir,
    metadataBaseUrl: pathToFileURL(tufDir).href,
    fetcher: new BundleFetcher(fileURLToPath(pathToFileURL(tufDir)), meta.files),
    config: {
      rootMaxLength: CAPS.root,
      timestampMaxLength: CAPS.timestamp,
      snapshotMaxLength: CAPS.snapshot,
      targetsMaxLength: CAPS.targets,
      maxRootRotations: CAPS.rootChainLength,
    },
  });
  try {
    await updater.refresh();
  } catch (err) {
    throw classifyTufError(err);
  }
}

// ---------------------------------------------------------------------------------------
// 6. closeTufGaps (tuf-notes §1.7): distinct keys per threshold, strict `expires`,
// whole chain consumed. Also applied to stored metadata when falling back to it.

interface TrustedSet {
  root: RootSigned;
  targets: TargetEntry[];
}

async function loadVerifiedSet(
  dir: string,
  now: Date,
  minRootVersion: number,
): Promise<TrustedSet> {
  const read = async (name: string): Promise<unknown> => {
    try {
      return JSON.parse(await readFile(join(dir, name), 'utf8'));
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
  check('timestamp', await read('timestamp.json'));
  check('snapshot', await read('snapshot.json'));
  const targetsSigned = check('targets', await read('targets.json'));
  let targets: TargetEntry[];
  try {
    targets = parseTargets(targetsSigned.targets);
  } catch (err) {
    throw new FormatError('TUF_SECURITY', `targets.json: ${messageOf(err)}`, { cause: err });
  }
  return { root: root.signed, targets };
}

// ---------------------------------------------------------------------------------------
// 7. filterTargets and 8. checkContent

async function contentProblem(
  entry: TargetEntry,
  opts: CheckBundleOptions,
  source: BundleSource,
): Promise<string | null> {
  if (!(await bundleHasCommit(source, entry.commit)))
    return `OSTree commit ${entry.commit} is not in ostree_repo`;
  if (!opts.appsEnabled) return null;
  const reader = source.blobReader();
  for (const [app, uri] of Object.entries(requiredApps(entry, opts.composeApps))) {
    try {
      const blobs = await planAppBlobs(uri, reader);
      for (const b of blobs) {
        const size = await source.fileSize(appBlobPath(b.digest));
        if (size === undefined) return `app ${app}: blob sha256:${b.digest} (${b.kind}) is missing`;
        if (b.size !== undefined && size !== b.size)
          return `app ${app}: blob sha256:${b.digest} has the wrong size`;
      }
    } catch (err) {
      return `app ${app}: ${messageOf(err)}`;
    }
  }
  return null;
}

// ---------------------------------------------------------------------------------------

export async function checkBundle(opts: CheckBundleOptions): Promise<CheckBundleResult> {
  const source = opts.source ?? (await openBundleSource(opts.bundleDir));
  try {
    return await checkBundleFrom(source, opts);
  } finally {
    if (opts.source === undefined) await source.close();
  }
}

async function checkBundleFrom(
  source: BundleSource,
  opts: CheckBundleOptions,
): Promise<CheckBundleResult> {
  const meta = await readBundleMetadata(source);
  const manifest = checkManifestShape(meta, opts.deviceType);
  const info = manifest.signed[BUNDLE_MANIFEST_FIELD];
  const type = info.type;

  const trusted = await loadTrustedRoot(opts, type);
  const chain = walkRootChain(meta, trusted);
  const newestRoot = chain.at(-1) ?? trusted;
  checkManifest(manifest, newestRoot.signed, opts);

  const workDir = await prepareWorkDir(opts, type, trusted);
  const discard = () => rm(workDir, { recursive: true, force: true });
  try {
    let cached = false;
    let set: TrustedSet;
    try {
      await refreshTuf(meta, opts, workDir);
      set = await loadVerifiedSet(workDir, opts.now, meta.rootVersions.at(-1) ?? 0);
    } catch (err) {
      const fe = err instanceof FormatError ? err : classifyTufError(err);
      if (fe.code !== 'TUF_ROLLBACK') throw fe;
      // An older bundle than what the device has seen: fall back to the stored metadata
      // when it is still valid (reference §3.4 step 3).
      await discard();
      const stored = join(opts.trustDir, type);
      try {
        set = await loadVerifiedSet(stored, opts.now, 0);
      } catch (err2) {
        throw new FormatError(
          'TUF_SECURITY',
          `${fe.message}; the device's stored metadata cannot be used either: ${messageOf(err2)}`,
          { cause: err2 },
        );
      }
      cached = true;
    }

    const listed = set.targets.filter((t) => info.targets.includes(t.name));
    if (listed.length === 0) {
      throw new FormatError(
        'NO_MATCHING_TARGETS',
        'None of the bundle targets are listed among the TUF targets allowed for the device',
      );
    }
    const matching = listed
      .filter((t) => targetMismatch(t, { hardwareId: opts.hardwareId, tags: opts.tags }) === null)
      .sort(compareTargets);
    if (matching.length === 0) {
      const why = listed.map(
        (t) => `${t.name}: ${targetMismatch(t, { hardwareId: opts.hardwareId, tags: opts.tags })}`,
      );
      throw new FormatError(
        'NO_MATCHING_TARGETS',
        `Couldn't find Targets matching the device's hardware ID; check a tag or a hardware ID of the device and the bundle's tag (${why.join('; ')})`,
      );
    }
    const available: TargetEntry[] = [];
    const unavailable: { name: string; reason: string }[] = [];
    for (const t of matching) {
      const problem = await contentProblem(t, opts, source);
      if (problem === null) available.push(t);
      else unavailable.push({ name: t.name, reason: problem });
    }
    if (available.length === 0) {
      throw new FormatError(
        'NO_TARGET_CONTENT',
        `No update content found in ${join(opts.bundleDir, BUNDLE_DIRS.ostree)} and ${join(opts.bundleDir, BUNDLE_DIRS.apps)}: ${unavailable.map((u) => `${u.name}: ${u.reason}`).join('; ')}`,
      );
    }
    const stored = join(opts.trustDir, type);
    return {
      type,
      tag: info.tag,
      manifest,
      rootVersion: newestRoot.signed.version,
      cached,
      matching,
      available,
      unavailable,
      commit: async () => {
        if (cached) return;
        await swapDir(workDir, stored);
      },
      discard,
    };
  } catch (err) {
    await discard();
    throw err;
  }
}

/** Replaces `target` with `source` by renames, so a power cut leaves one of the two. */
async function swapDir(source: string, target: string): Promise<void> {
  const old = `${target}.old-${randomBytes(4).toString('hex')}`;
  const hadOld = await lstat(target).then(
    () => true,
    () => false,
  );
  await fsyncTree(source);
  if (hadOld) await rename(target, old);
  await rename(source, target);
  await fsyncDir(dirname(target));
  if (hadOld) await rm(old, { recursive: true, force: true });
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function fsyncTree(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    const fh = await open(join(dir, name), 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
  await fsyncDir(dir);
}

/** The exit status a check-in failure maps to (reference §3.4, issue table). One place. */
export function exitStatusFor(err: unknown): StatusValue {
  if (!(err instanceof FormatError)) return StatusCode.UnknownError;
  switch (err.code) {
    case 'ROOT_CHAIN_BROKEN':
    case 'TUF_SECURITY':
    case 'TUF_ROLLBACK':
    case 'INVALID_KEY':
    case 'INVALID_TIME':
    case 'INVALID_METADATA':
    case 'PATH_ESCAPE':
    case 'FILE_TOO_LARGE':
      return StatusCode.CheckinSecurityError;
    case 'EXPIRED':
    case 'TUF_EXPIRED':
      return StatusCode.CheckinExpiredMetadata;
    case 'ROOT_NOT_FOUND':
    case 'TUF_MISSING':
    case 'FILE_MISSING':
      return StatusCode.CheckinMetadataNotFound;
    case 'BUNDLE_INVALID':
    case 'TYPE_MISMATCH':
    case 'TAG_MISMATCH':
    case 'UNKNOWN_KEY':
    case 'BAD_SIGNATURE':
    case 'DUPLICATE_SIGNATURE':
    case 'THRESHOLD_NOT_MET':
      return StatusCode.CheckinInvalidBundleMetadata;
    case 'TUF_FAILURE':
      return StatusCode.CheckinFailure;
    case 'NO_MATCHING_TARGETS':
      return StatusCode.CheckinNoMatchingTargets;
    case 'NO_TARGET_CONTENT':
      return StatusCode.CheckinNoTargetContent;
    case 'CONTENT_INVALID':
      return StatusCode.VerificationFailed;
    default:
      return StatusCode.UnknownError;
  }
}
