import { lstat, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import {
  BUNDLE_DIRS,
  canonicalBytes,
  CAPS,
  parseBoundedJson,
  checkBundle,
  describeRemaining,
  exitStatusFor,
  isExpired,
  manifestSignatureStatus,
  openBundleSource,
  parseBundleManifest,
  parseRoot,
  parseTargetEntry,
  rootVersions,
  rootFileName,
  signEnvelope,
  StatusCode,
  systemClock,
  TUF_FILES,
  type BundleManifestSigned,
  type BundleType,
  type Clock,
  type DeltaInfo,
  type Envelope,
  type RootSigned,
  type StatusValue,
} from '@offline-ota/format';
import { BundleError, errorMessage } from './errors.js';
import { exists, readCapped, writeFileAtomic } from './fsutil.js';
import { readKeyArchive } from './key-archive.js';
import { parseTargetsDoc } from './tuf-repo.js';

const tufPath = (bundle: string, name: string): string => join(bundle, BUNDLE_DIRS.tuf, name);

async function readJsonCapped(path: string, cap: number, what: string): Promise<unknown> {
  if (!(await exists(path))) {
    throw new BundleError('BUNDLE_INVALID', `${path} is missing; is ${what} an offline bundle?`, {
      file: path,
    });
  }
  const bytes = await readCapped(path, cap);
  try {
    return parseBoundedJson(bytes, path, { maxBytes: cap });
  } catch (err) {
    throw new BundleError('BUNDLE_INVALID', `${path} is not valid JSON: ${errorMessage(err)}`, {
      cause: err,
      file: path,
    });
  }
}

async function readManifest(bundle: string): Promise<Envelope<BundleManifestSigned>> {
  const path = tufPath(bundle, TUF_FILES.manifest);
  const json = await readJsonCapped(path, CAPS.manifest, bundle);
  try {
    return parseBundleManifest(json, path);
  } catch (err) {
    throw new BundleError('BUNDLE_INVALID', errorMessage(err), { cause: err, file: path });
  }
}

/** The newest `N.root.json` in the bundle (reference §2.5 step 3: the last one present). */
async function readNewestRoot(bundle: string): Promise<Envelope<RootSigned>> {
  const dir = join(bundle, BUNDLE_DIRS.tuf);
  const newest = rootVersions(await readdir(dir).catch(() => [] as string[])).at(-1);
  if (newest === undefined) {
    throw new BundleError(
      'BUNDLE_INVALID',
      `no N.root.json in ${dir}; recreate the bundle with bundlectl create`,
      {
        file: dir,
      },
    );
  }
  const path = join(dir, rootFileName(newest));
  try {
    return parseRoot(await readJsonCapped(path, CAPS.root, bundle), path);
  } catch (err) {
    if (err instanceof BundleError) throw err;
    throw new BundleError('BUNDLE_INVALID', errorMessage(err), { cause: err, file: path });
  }
}

export interface ShowTarget {
  name: string;
  /** Absent when tuf/targets.json does not describe the Target. */
  version?: number;
  commit?: string;
  hardwareId?: string;
  apps?: Record<string, string>;
  /**
   * A delta Target (docs/bundle-format.md §Delta bundles): the bases a device must run, and
   * what the bundle leaves out for it (`omitted.bytes`: the size saved).
   */
  delta?: DeltaInfo;
}

/** The stable `--json` shape of `bundlectl show` (docs/factory.md §show). */
export interface ShowResult {
  bundle: string;
  type: BundleType;
  tag: string;
  version: number;
  expires: string;
  expired: boolean;
  remaining: string;
  rootVersion: number;
  targets: ShowTarget[];
  /** True when some Target is a delta (`targets[].delta`). */
  delta: boolean;
  signatures: string[];
  allowedKeys: string[];
  threshold: number;
  missing: number;
  invalidSignatures: string[];
}

/** What `show` reads of a bundle's `tuf/`, from a directory or from a single-file bundle. */
interface TufView {
  manifest(): Promise<Envelope<BundleManifestSigned>>;
  newestRoot(): Promise<Envelope<RootSigned>>;
  /** `tuf/targets.json` parsed as JSON, or undefined when absent. */
  targets(): Promise<{ json: unknown; path: string } | undefined>;
}

function dirView(bundle: string): TufView {
  return {
    manifest: () => readManifest(bundle),
    newestRoot: () => readNewestRoot(bundle),
    targets: async () => {
      const path = tufPath(bundle, TUF_FILES.targets);
      if (!(await exists(path))) return undefined;
      return { json: await readJsonCapped(path, CAPS.targets, bundle), path };
    },
  };
}

/** A single-file bundle (zip): its allow-listed `tuf/` files, each capped, read once. */
async function zipView(file: string): Promise<TufView> {
  let files: Map<string, Buffer>;
  try {
    const source = await openBundleSource(file);
    try {
      files = await source.readTufFiles();
    } finally {
      await source.close();
    }
  } catch (err) {
    throw new BundleError('BUNDLE_INVALID', errorMessage(err), { cause: err, file });
  }
  const json = (name: string): unknown => {
    const bytes = files.get(name);
    if (bytes === undefined) {
      throw new BundleError(
        'BUNDLE_INVALID',
        `${file} holds no tuf/${name}; is it an offline bundle?`,
        { file },
      );
    }
    try {
      return parseBoundedJson(bytes, `tuf/${name}`, { maxBytes: bytes.length });
    } catch (err) {
      throw new BundleError(
        'BUNDLE_INVALID',
        `tuf/${name} in ${file} is not valid JSON: ${errorMessage(err)}`,
        { cause: err, file },
      );
    }
  };
  const inZip = (name: string): string => `${file}:tuf/${name}`;
  return {
    manifest: () => {
      try {
        return Promise.resolve(
          parseBundleManifest(json(TUF_FILES.manifest), inZip(TUF_FILES.manifest)),
        );
      } catch (err) {
        if (err instanceof BundleError) return Promise.reject(err);
        return Promise.reject(
          new BundleError('BUNDLE_INVALID', errorMessage(err), { cause: err, file }),
        );
      }
    },
    newestRoot: () => {
      const newest = rootVersions(files.keys()).at(-1);
      if (newest === undefined) {
        return Promise.reject(
          new BundleError(
            'BUNDLE_INVALID',
            `no N.root.json in ${file}; recreate the bundle with bundlectl create`,
            { file },
          ),
        );
      }
      const name = rootFileName(newest);
      try {
        return Promise.resolve(parseRoot(json(name), inZip(name)));
      } catch (err) {
        if (err instanceof BundleError) return Promise.reject(err);
        return Promise.reject(
          new BundleError('BUNDLE_INVALID', errorMessage(err), { cause: err, file }),
        );
      }
    },
    targets: () =>
      Promise.resolve(
        files.has(TUF_FILES.targets)
          ? { json: json(TUF_FILES.targets), path: inZip(TUF_FILES.targets) }
          : undefined,
      ),
  };
}

/** True when `path` is a regular file (a single-file bundle) rather than a directory. */
/**
 * The wrong paths a technician gives `show`, `verify`, `sign` and `pack`, each refused with
 * its fix (issue 11 §7): a path that does not exist (the stick is not mounted), the
 * bundle's own `tuf/`, or the directory that holds the bundle. A bundle passes unchanged.
 */
export async function assertBundlePath(bundle: string): Promise<void> {
  let st;
  try {
    st = await lstat(bundle);
  } catch {
    throw new BundleError(
      'INVALID_ARGUMENT',
      `${bundle} does not exist: is the media mounted? Give the bundle directory on it (the one that holds tuf/), or its .zip file`,
      { file: bundle },
    );
  }
  if (!st.isDirectory() || (await exists(join(bundle, BUNDLE_DIRS.tuf)))) return;
  if (basename(bundle) === BUNDLE_DIRS.tuf && (await exists(join(bundle, TUF_FILES.manifest))))
    throw new BundleError(
      'INVALID_ARGUMENT',
      `${bundle} is a bundle's tuf/ directory, not the bundle: give the directory that holds it (${dirname(bundle)})`,
      { file: bundle },
    );
  const inside: string[] = [];
  for (const e of (await readdir(bundle, { withFileTypes: true })).sort((a, b) =>
    a.name < b.name ? -1 : 1,
  )) {
    const p = join(bundle, e.name);
    if (e.isDirectory() && (await exists(tufPath(p, TUF_FILES.manifest)))) inside.push(p);
    else if (e.isFile() && e.name.endsWith('.zip')) inside.push(p);
  }
  if (inside.length > 0)
    throw new BundleError(
      'INVALID_ARGUMENT',
      `${bundle} is not a bundle (it has no tuf/), but it holds ${inside.length === 1 ? 'one' : inside.length}: ${inside.join(', ')}; give that path`,
      { file: bundle },
    );
}

export async function isBundleFile(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isFile();
  } catch {
    return false;
  }
}

/**
 * `bundlectl show` (reference §2.6): what the bundle manifest says and who signed it. The
 * bundle is a directory or a single-file bundle (zip), read in place.
 */
export async function showBundle(bundle: string, clock: Clock = systemClock): Promise<ShowResult> {
  await assertBundlePath(bundle);
  const view = (await isBundleFile(bundle)) ? await zipView(bundle) : dirView(bundle);
  const manifest = await view.manifest();
  const root = await view.newestRoot();
  const info = manifest.signed['x-offline-bundle'];
  const status = manifestSignatureStatus(manifest, root.signed);
  let described: Record<string, ShowTarget> = {};
  const targetsFile = await view.targets().catch(() => undefined);
  if (targetsFile !== undefined) {
    try {
      const doc = parseTargetsDoc(targetsFile.json, targetsFile.path);
      described = Object.fromEntries(
        info.targets
          .filter((n) => doc.signed.targets[n] !== undefined)
          .map((n) => {
            const e = parseTargetEntry(n, doc.signed.targets[n]);
            return [
              n,
              {
                name: n,
                version: e.version,
                commit: e.commit,
                hardwareId: e.hardwareId,
                apps: e.apps,
              },
            ];
          }),
      );
    } catch {
      described = {};
    }
  }
  const now = clock();
  return {
    bundle,
    type: info.type,
    tag: info.tag,
    version: manifest.signed.version,
    expires: manifest.signed.expires,
    expired: isExpired(manifest.signed.expires, now),
    remaining: describeRemaining(manifest.signed.expires, now),
    rootVersion: root.signed.version,
    targets: info.targets.map((n) => {
      const t = described[n] ?? { name: n };
      const d = info.deltas?.[n];
      return d === undefined ? t : { ...t, delta: d };
    }),
    delta: info.deltas !== undefined,
    signatures: status.signatures,
    allowedKeys: status.allowed,
    threshold: status.threshold,
    missing: status.missing,
    invalidSignatures: status.invalid,
  };
}

export interface SignBundleResult {
  keyid: string;
  signatures: number;
  threshold: number;
  missing: number;
}

/**
 * `bundlectl sign` (reference §2.5): adds one signature by the archive's key that is a
 * targets key of the newest root, rewriting bundle-targets.json canonically and atomically.
 */
export async function signBundle(
  bundle: string,
  keysArchive: string,
  clock: Clock = systemClock,
): Promise<SignBundleResult> {
  await assertBundlePath(bundle);
  if (await isBundleFile(bundle)) {
    throw new BundleError(
      'INVALID_ARGUMENT',
      `${bundle} is a single-file bundle, which cannot be signed in place: sign the directory bundle, then bundlectl pack it`,
      { file: bundle },
    );
  }
  const manifest = await readManifest(bundle);
  assertSignable(bundle, manifest, clock());
  const root = await readNewestRoot(bundle);
  const allowed = root.signed.roles.targets.keyids;
  const archive = await readKeyArchive(keysArchive);
  const matching = archive.keys.filter(
    (k) => k.signingKey !== undefined && allowed.includes(k.keyid),
  );
  if (matching.length === 0) {
    throw new BundleError(
      'KEY_NOT_FOUND',
      `Error reading current TUF targets private key from specified file:\n No private key found for key IDs: [${allowed.join(' ')}]. ${keysArchive} holds ${archive.keys.map((k) => k.keyid).join(', ')}`,
      { file: keysArchive },
    );
  }
  if (matching.length > 1) {
    throw new BundleError(
      'KEY_AMBIGUOUS',
      `Found more than one active private key in ${keysArchive} (${matching.map((k) => k.keyid).join(', ')}); give an archive with exactly one targets key`,
      { file: keysArchive },
    );
  }
  const key = matching[0].signingKey!;
  if (manifest.signatures.some((s) => s.keyid === key.keyid)) {
    throw new BundleError(
      'ALREADY_SIGNED',
      `the bundle is already signed by the provided key: ${key.keyid}`,
    );
  }
  const env = signEnvelope(manifest.signed, [key], manifest.signatures);
  await writeFileAtomic(tufPath(bundle, TUF_FILES.manifest), canonicalBytes(env));
  const status = manifestSignatureStatus(env, root.signed);
  return {
    keyid: key.keyid,
    signatures: env.signatures.length,
    threshold: status.threshold,
    missing: status.missing,
  };
}

/**
 * What `sign` refuses before it adds a signature (issue 11 §7: the host never blesses what
 * a device would refuse): a CI bundle, signed with the factory's online key when it was
 * created, and an expired bundle, which a device refuses with 12.
 */
function assertSignable(bundle: string, manifest: Envelope<BundleManifestSigned>, now: Date): void {
  const info = manifest.signed['x-offline-bundle'];
  const file = tufPath(bundle, TUF_FILES.manifest);
  if (info.type === 'ci')
    throw new BundleError(
      'ALREADY_SIGNED',
      `${bundle} is a CI bundle: bundlectl create signed it with the factory's online CI targets key, and it takes no offline signature. Only production bundles (bundlectl create --wave or --prod) are signed with release managers' keys`,
      { file },
    );
  if (isExpired(manifest.signed.expires, now))
    throw new BundleError(
      'EXPIRED',
      `${bundle} expired at ${manifest.signed.expires}: a device refuses it (12), so it is not signed. Refresh it first: bundlectl create ${info.targets[0] ?? '<target>'} ${bundle} --tuf-only --wave <wave> --factory <factory> (when the wave's targets have expired too: bundlectl waves init --expires-in-days), then sign it again`,
      { file },
    );
}

/**
 * What `pack` refuses (issue 11 §7): a production bundle signed below its threshold, which
 * a device refuses with 15, unless `allowUnsigned` (to sign the directory later and pack
 * it again).
 */
export async function assertPackable(bundle: string, allowUnsigned: boolean): Promise<void> {
  const shown = await showBundle(bundle);
  if (shown.type !== 'prod' || shown.missing === 0 || allowUnsigned) return;
  throw new BundleError(
    'INVALID_ARGUMENT',
    `${bundle} is a production bundle with ${shown.signatures.length - shown.invalidSignatures.length} of ${shown.threshold} signatures: a device refuses it (15). Sign it first (bundlectl sign ${bundle} --keys <targets-key.tgz>, ${shown.missing} more), or pack it unsigned with --allow-unsigned`,
    { file: tufPath(bundle, TUF_FILES.manifest) },
  );
}

/**
 * When `verify` fails and the trusted root given is not the bundle's own root of that
 * version (a root of the other chain, or of another factory): the fix, in words.
 */
async function otherChainHint(
  bundle: string,
  root: Envelope<RootSigned>,
  rootFile: string,
  type: BundleType | undefined,
): Promise<string> {
  if (await isBundleFile(bundle)) return '';
  const own = tufPath(bundle, rootFileName(root.signed.version));
  let same: boolean;
  try {
    const json = parseBoundedJson(await readCapped(own, CAPS.root), own, { maxBytes: CAPS.root });
    same = canonicalBytes(parseRoot(json, own).signed).equals(canonicalBytes(root.signed));
  } catch {
    return '';
  }
  if (same) return '';
  const chain = type ?? 'ci';
  return `. ${rootFile} is not this bundle's root ${root.signed.version} (${own}): it is a root of another chain (the ${chain === 'ci' ? 'prod' : 'ci'} chain, or another factory). Give the root that ${chain} devices ship: the factory's tuf/${chain}/1.root.json`;
}

export interface VerifyBundleOptions {
  bundle: string;
  /** A trusted root the device ships (any version of the bundle's chain). */
  rootFile: string;
  hardwareId?: string;
  tag?: string;
  type?: BundleType;
  /** Device time; default now. */
  at?: Date;
  appsEnabled?: boolean;
}

export interface VerifyBundleResult {
  status: StatusValue;
  ok: boolean;
  message: string;
  type?: BundleType;
  tag?: string;
  rootVersion?: number;
  available: string[];
  unavailable: { name: string; reason: string }[];
  /** The delta Targets among `available`, with their bases (§Delta bundles). */
  deltas: Record<string, DeltaInfo>;
}

/**
 * `bundlectl verify`: the device's check-in verifier (format `checkBundle`) run on the
 * host against a given trusted root. Never throws for a verification failure: the
 * result carries the device's exit status.
 */
export async function verifyBundle(o: VerifyBundleOptions): Promise<VerifyBundleResult> {
  let rootJson: unknown;
  try {
    rootJson = parseBoundedJson(await readCapped(o.rootFile, CAPS.root), o.rootFile, {
      maxBytes: CAPS.root,
    });
  } catch (err) {
    throw new BundleError(
      'INVALID_ARGUMENT',
      `cannot read the trusted root ${o.rootFile}: ${errorMessage(err)}`,
      {
        cause: err,
        file: o.rootFile,
      },
    );
  }
  let root: Envelope<RootSigned>;
  try {
    root = parseRoot(rootJson, o.rootFile);
  } catch (err) {
    throw new BundleError(
      'INVALID_ARGUMENT',
      `${o.rootFile} is not a root metadata file: ${errorMessage(err)}`,
      {
        cause: err,
        file: o.rootFile,
      },
    );
  }
  await assertBundlePath(o.bundle);
  // Defaults that make the device accept what the bundle is for; each one can be pinned.
  let type = o.type;
  let hardwareId = o.hardwareId;
  try {
    const shown = await showBundle(o.bundle);
    type ??= shown.type;
    hardwareId ??= shown.targets.find((t) => t.hardwareId !== undefined)?.hardwareId;
  } catch {
    // The verifier below reports an unreadable bundle with the device's status code.
  }
  const tmp = await mkdtemp(join(tmpdir(), 'bundlectl-verify-'));
  try {
    const shippedType = type ?? 'ci';
    await mkdir(join(tmp, 'shipped', shippedType), { recursive: true });
    await writeFile(
      join(tmp, 'shipped', shippedType, rootFileName(root.signed.version)),
      JSON.stringify(rootJson),
    );
    const res = await checkBundle({
      bundleDir: o.bundle,
      trustDir: join(tmp, 'trust'),
      shippedRootsDir: join(tmp, 'shipped'),
      deviceType: type,
      hardwareId: hardwareId ?? '',
      tags: o.tag === undefined ? [] : [o.tag],
      now: o.at ?? new Date(),
      appsEnabled: o.appsEnabled ?? true,
    });
    await res.discard();
    const allDeltas = res.manifest.signed['x-offline-bundle'].deltas ?? {};
    const deltas = Object.fromEntries(
      res.available
        .filter((t) => allDeltas[t.name] !== undefined)
        .map((t) => [t.name, allDeltas[t.name]]),
    );
    const deltaNote = Object.entries(deltas)
      .map(
        ([n, d]) =>
          `; ${n} is a delta: a device installs it only if it runs ${d.bases.map((b) => b.name).join(' or ')}, complete`,
      )
      .join('');
    return {
      status: StatusCode.Ok,
      ok: true,
      message: `The bundle passes the device's checks: ${res.available.map((t) => t.name).join(', ')}${deltaNote}`,
      deltas,
      type: res.type,
      tag: res.tag,
      rootVersion: res.rootVersion,
      available: res.available.map((t) => t.name),
      unavailable: res.unavailable,
    };
  } catch (err) {
    return {
      status: exitStatusFor(err),
      ok: false,
      message: errorMessage(err) + (await otherChainHint(o.bundle, root, o.rootFile, type)),
      ...(type === undefined ? {} : { type }),
      available: [],
      unavailable: [],
      deltas: {},
    };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
