import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import {
  blobDir,
  blobPath,
  BUNDLE_DIRS,
  buildBundleManifest,
  canonicalBytes,
  CAPS,
  checkBundle,
  FormatError,
  isExpired,
  parseBundleManifest,
  parseTargetEntry,
  planBundleExpiry,
  rootFileName,
  signEnvelope,
  SPEC_VERSION,
  systemClock,
  targetAppsForBundle,
  TUF_FILES,
  parseAppUri,
  type BundleManifestSigned,
  type BundleType,
  type CheckBundleResult,
  type Clock,
  type DeltaInfo,
  type Envelope,
  type SnapshotSigned,
  type TargetsSigned,
  type TimestampSigned,
} from '@offline-ota/format';
import { appBlobs, writeAppIndex } from './app-store.js';
import { copyDeltaObjects, planDelta, resolveBases, type DeltaPlan } from './delta.js';
import { WriteTransaction } from './bundle-tx.js';
import { BundleError, errorMessage } from './errors.js';
import { nextVersions, type Factory } from './factory.js';
import { copyFilesVerified, exists, readCapped, sha256Hex, type VerifiedCopy } from './fsutil.js';
import { showBundle, type ShowResult } from './inspect.js';
import { checkBundleMedia } from './media.js';
import { ostreeCommitSize, ostreeHasCommit, ostreeInitArchive, ostreePullLocal } from './ostree.js';
import { packBundle, type PackBundleResult } from './pack.js';
import { resolveFactory } from './publish.js';
import { readRootChain, readTargetsFile, type RootFile } from './tuf-repo.js';
import { readWave } from './waves.js';
import { ByteProgress, noProgress, type ProgressFn } from './progress.js';

export type { ProgressEvent, ProgressFn } from './progress.js';

export interface CreateBundleOptions {
  factory: string | Factory;
  target: string;
  dst: string;
  tag?: string;
  prod?: boolean;
  wave?: string;
  /** Requested validity (`--expires-in-days`), default 30. */
  expiresInDays?: number;
  noApps?: boolean;
  /** Only (re)write `tuf/` (e.g. to refresh an expiring bundle). */
  tufOnly?: boolean;
  allowMultipleTargets?: boolean;
  /**
   * `--from`: base Targets (names or versions). The bundle becomes a delta of `target`
   * (docs/bundle-format.md §Delta bundles): only what not every base has.
   */
  from?: readonly string[];
  /**
   * `zip`: write `dst` as one zip file (docs/bundle-format.md §Single-file bundles). The
   * directory bundle is built and verified in a staging directory next to `dst`, packed,
   * then removed. Only for CI bundles: production bundles are signed after creation.
   */
  archive?: 'zip';
  clock?: Clock;
  onProgress?: ProgressFn;
}

export interface CreateBundleResult {
  dst: string;
  type: BundleType;
  tag: string;
  wave?: string;
  target: string;
  /** Every Target the bundle manifest lists. */
  targets: string[];
  expires: string;
  versions: { targets: number; snapshot: number; timestamp: number; root: number };
  apps: Record<string, string>;
  /** The device verifier's result on the written bundle. */
  selfCheck: {
    available: string[];
    unavailable: { name: string; reason: string }[];
    signaturesPending: boolean;
  };
  /** With `from`: the bases, what the delta leaves out and what it carries. */
  delta?: DeltaInfo & { carried: DeltaPlan['carried'] };
  /** With `archive: 'zip'`: the zip written, and `show` of the bundle it holds. */
  archive?: PackBundleResult & { show: ShowResult };
}

interface Source {
  type: BundleType;
  tag: string;
  targets: { env: Envelope<TargetsSigned>; bytes: Buffer };
  kind: 'CI' | 'production' | 'Wave';
}

const KNOWN_ENTRIES: readonly string[] = [BUNDLE_DIRS.tuf, BUNDLE_DIRS.ostree, BUNDLE_DIRS.apps];

/** Step 1 (reference §2.2.1): find the Target in CI, production or wave targets. */
async function resolveSource(factory: Factory, o: CreateBundleOptions): Promise<Source> {
  if (o.wave !== undefined) {
    if (o.tag !== undefined || o.prod === true) {
      throw new BundleError('INVALID_ARGUMENT', '--wave cannot be combined with --tag or --prod');
    }
    const wave = await readWave(factory, o.wave);
    const targets =
      wave?.state === 'active'
        ? await readTargetsFile(factory.paths.waveTargets(o.wave))
        : undefined;
    if (!wave || wave.state !== 'active' || !targets) {
      throw new BundleError(
        'WAVE_NOT_FOUND',
        `No active Wave with the specified name was found; wave: ${o.wave}`,
      );
    }
    if (targets.env.signed.targets[o.target] === undefined) {
      throw new BundleError(
        'TARGET_NOT_FOUND',
        `The specified Target is not found among Wave Targets; target: ${o.target}, wave: ${o.wave}`,
      );
    }
    return { type: 'prod', tag: wave.tag, targets, kind: 'Wave' };
  }
  if (o.tag === undefined)
    throw new BundleError('INVALID_ARGUMENT', 'Either `--tag` or `--wave` should be specified');
  if (o.prod === true) {
    const targets = await readTargetsFile(factory.paths.tagTargets('prod', o.tag));
    if (!targets) {
      throw new BundleError(
        'TAG_NOT_FOUND',
        `No production Targets were found for the specified tag \`${o.tag}\``,
      );
    }
    if (targets.env.signed.targets[o.target] === undefined) {
      throw new BundleError(
        'TARGET_NOT_FOUND',
        `No production Target with the given tag found; target: ${o.target}, tag: ${o.tag}`,
      );
    }
    return { type: 'prod', tag: o.tag, targets, kind: 'production' };
  }
  const targets = await readTargetsFile(factory.paths.tagTargets('ci', o.tag));
  if (!targets)
    throw new BundleError(
      'TAG_NOT_FOUND',
      `No CI Targets found for the specified tag \`${o.tag}\``,
    );
  if (targets.env.signed.targets[o.target] === undefined) {
    throw new BundleError(
      'TARGET_NOT_FOUND',
      `No CI Target with the given tag found; target: ${o.target}, tag: ${o.tag}`,
    );
  }
  return { type: 'ci', tag: o.tag, targets, kind: 'CI' };
}

/** The destination must be empty, or (with --allow-multiple-targets / --tuf-only) a bundle. */
async function checkDestination(
  o: CreateBundleOptions,
): Promise<Envelope<BundleManifestSigned> | undefined> {
  const entries = await readdir(o.dst).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw new BundleError('IO_FAILED', `cannot read destination ${o.dst}: ${err.message}`, {
      cause: err,
    });
  });
  const foreign = entries.filter((e) => !KNOWN_ENTRIES.includes(e));
  if (foreign.length > 0) {
    throw new BundleError(
      'DESTINATION_NOT_EMPTY',
      `Destination directory ${o.dst} is not empty and is not an offline bundle (found ${foreign.slice(0, 3).join(', ')}); choose an empty directory`,
      { file: o.dst },
    );
  }
  const hasData = entries.some((e) => e === BUNDLE_DIRS.ostree || e === BUNDLE_DIRS.apps);
  if (hasData && o.allowMultipleTargets !== true && o.tufOnly !== true) {
    throw new BundleError(
      'DESTINATION_NOT_EMPTY',
      `Destination directory already has update data (${o.dst}). Please specify an empty directory, or pass --allow-multiple-targets to add this Target to the bundle. Notice that multiple Targets in the same directory is only supported in LmP >= v92.`,
      { file: o.dst },
    );
  }
  const manifestPath = join(o.dst, BUNDLE_DIRS.tuf, TUF_FILES.manifest);
  if (!(await exists(manifestPath))) {
    if (
      entries.includes(BUNDLE_DIRS.tuf) &&
      o.allowMultipleTargets !== true &&
      o.tufOnly !== true
    ) {
      throw new BundleError(
        'DESTINATION_NOT_EMPTY',
        `Destination directory already has update data (${join(o.dst, BUNDLE_DIRS.tuf)}). Please specify an empty directory.`,
        { file: o.dst },
      );
    }
    return undefined;
  }
  try {
    return parseBundleManifest(
      JSON.parse((await readCapped(manifestPath, CAPS.manifest)).toString('utf8')),
      manifestPath,
    );
  } catch (err) {
    throw new BundleError(
      'BUNDLE_INVALID',
      `the existing ${manifestPath} cannot be read (${errorMessage(err)}); use an empty destination`,
      { cause: err, file: manifestPath },
    );
  }
}

interface TufFiles {
  files: Map<string, Buffer>;
  manifest: Envelope<BundleManifestSigned>;
  expires: string;
  versions: CreateBundleResult['versions'];
}

/** Step 2 (reference §2.2.2, format doc §TUF metadata): the bundle's tuf/ files, in memory. */
async function buildTuf(
  factory: Factory,
  source: Source,
  chain: RootFile[],
  targetNames: string[],
  deltas: Record<string, DeltaInfo>,
  o: CreateBundleOptions,
): Promise<TufFiles> {
  const newest = chain.at(-1)!.env.signed;
  const clock = o.clock ?? systemClock;
  const now = clock();
  if (isExpired(newest.expires, now)) {
    throw new BundleError(
      'EXPIRED',
      `Root metadata expired at ${newest.expires} (${factory.paths.root(source.type, newest.version)}); rotate the root first: bundlectl keys rotate-root`,
    );
  }
  if (isExpired(source.targets.env.signed.expires, now)) {
    throw new BundleError(
      'EXPIRED',
      `Targets metadata of ${source.kind === 'Wave' ? `wave ${o.wave ?? ''}` : `tag ${source.tag}`} expired at ${source.targets.env.signed.expires}; ${source.kind === 'Wave' ? `start a new wave for the Target with a longer validity: bundlectl waves init <new-wave> --target <target> --tag <tag> --expires-in-days <days> --keys <targets-key.tgz> ...` : `publish a Target for tag ${source.tag} (bundlectl targets publish signs the tag's CI targets again)`}`,
    );
  }
  const plan = planBundleExpiry({
    clock: () => now,
    days: o.expiresInDays ?? 30,
    rootExpires: newest.expires,
    targetsExpires: source.targets.env.signed.expires,
  });
  const v = await nextVersions(factory, source.type, ['snapshot', 'timestamp']);
  const targetsBytes = source.targets.bytes;
  const snapshot: SnapshotSigned = {
    _type: 'snapshot',
    spec_version: SPEC_VERSION,
    version: v.snapshot,
    expires: plan.snapshot,
    meta: {
      'targets.json': {
        version: source.targets.env.signed.version,
        length: targetsBytes.length,
        hashes: { sha256: sha256Hex(targetsBytes) },
      },
    },
  };
  const snapshotBytes = canonicalBytes(signEnvelope(snapshot, [factory.onlineKeys.snapshot]));
  const timestamp: TimestampSigned = {
    _type: 'timestamp',
    spec_version: SPEC_VERSION,
    version: v.timestamp,
    expires: plan.timestamp,
    meta: {
      'snapshot.json': {
        version: v.snapshot,
        length: snapshotBytes.length,
        hashes: { sha256: sha256Hex(snapshotBytes) },
      },
    },
  };
  const timestampBytes = canonicalBytes(signEnvelope(timestamp, [factory.onlineKeys.timestamp]));
  const signed = buildBundleManifest({
    type: source.type,
    tag: source.tag,
    targets: targetNames,
    expires: plan.bundle,
    version: v.timestamp,
    deltas,
  });
  // CI bundles are signed with the online CI targets key; production bundles are signed
  // one release manager at a time with `bundlectl sign`.
  const manifest: Envelope<BundleManifestSigned> =
    source.type === 'ci'
      ? signEnvelope(signed, [factory.onlineKeys['ci-targets']])
      : { signatures: [], signed };
  const files = new Map<string, Buffer>();
  for (const r of chain) files.set(rootFileName(r.version), r.bytes);
  files.set(TUF_FILES.targets, targetsBytes);
  files.set(TUF_FILES.snapshot, snapshotBytes);
  files.set(TUF_FILES.timestamp, timestampBytes);
  files.set(TUF_FILES.manifest, canonicalBytes(manifest));
  return {
    files,
    manifest,
    expires: plan.bundle,
    versions: {
      targets: source.targets.env.signed.version,
      snapshot: v.snapshot,
      timestamp: v.timestamp,
      root: newest.version,
    },
  };
}

interface AppCopyPlan {
  /** The blobs to copy, each once, with where they go. */
  copies: VerifiedCopy[];
  /** Their bytes. */
  bytes: number;
  /** Per app: its digest and how many of `copies` are its blobs. */
  apps: { app: string; uri: string; digest: string; blobs: number }[];
}

/**
 * The app blobs a bundle still lacks (reference §2.2.3): each blob of each app, unless a
 * delta leaves it out or the destination store has it already (another Target's), once.
 */
async function planAppCopies(
  factory: Factory,
  dstStore: string,
  apps: Record<string, string>,
  omitted: ReadonlySet<string>,
): Promise<AppCopyPlan> {
  const plan: AppCopyPlan = { copies: [], bytes: 0, apps: [] };
  const planned = new Set<string>();
  for (const [app, uri] of Object.entries(apps)) {
    const { digest } = parseAppUri(uri, `app ${app}`);
    let blobs = 0;
    for (const b of await appBlobs(factory.paths.appStore, digest, `app ${app}`)) {
      if (omitted.has(b.hex) || planned.has(b.hex)) continue;
      const dst = blobPath(dstStore, b.hex);
      if (await exists(dst)) continue;
      planned.add(b.hex);
      plan.copies.push({
        src: blobPath(factory.paths.appStore, b.hex),
        dst,
        sha256: b.hex,
        size: b.size,
      });
      plan.bytes += b.size;
      blobs++;
    }
    plan.apps.push({ app, uri, digest, blobs });
  }
  return plan;
}

/**
 * Copies the planned blobs from the factory store, verifying every digest while copying
 * (`copyFilesVerified`: one batch of syncs, then the renames, then one directory sync),
 * then writes each app's browsing index.
 */
async function copyApps(
  dstStore: string,
  plan: AppCopyPlan,
  tx: WriteTransaction,
  bytes: ByteProgress,
  omitted: ReadonlySet<string>,
  progress: ProgressFn,
): Promise<void> {
  if (plan.copies.length > 0) await tx.mkdirs(blobDir(dstStore));
  for (const c of plan.copies) tx.noteCreated(c.dst);
  await copyFilesVerified(plan.copies, { onBytes: (n) => bytes.add(n) });
  for (const { app, uri, digest, blobs } of plan.apps) {
    // The browsing index of an app a delta leaves out entirely is left out with it.
    const indexDir = join(dstStore, 'apps', app, digest);
    if (!omitted.has(digest) && !(await exists(indexDir))) {
      await tx.mkdirs(indexDir);
      await writeAppIndex(
        dstStore,
        app,
        digest,
        uri,
        await readCapped(blobPath(dstStore, digest), CAPS.appManifest),
      );
    }
    progress({ step: 'apps', message: `App ${app}: ${uri} (${blobs} blob(s) copied)` });
  }
}

/** Every file and directory under an OSTree repo (to undo a pull into an existing bundle). */
async function listRepoTree(repo: string): Promise<Set<string>> {
  const out = new Set<string>();
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const p = join(dir, e.name);
      out.add(p);
      if (e.isDirectory()) await walk(p);
    }
  };
  await walk(repo);
  return out;
}

/**
 * Registers the undo of whatever a pull or copy adds to `repo`: every file and directory
 * that was not there before it started (objects, their fan-out directories, OSTree's
 * working files), deepest first.
 */
async function undoRepoAdditions(repo: string, tx: WriteTransaction): Promise<void> {
  const before = await listRepoTree(repo);
  tx.onRollback(async () => {
    const added = [...(await listRepoTree(repo))].filter((p) => !before.has(p));
    added.sort((a, b) => b.length - a.length);
    for (const p of added) await rm(p, { recursive: true, force: true });
  });
}

/** Runs the device's verifier on the written bundle, trusting the factory's 1.root.json. */
async function selfCheck(
  factory: Factory,
  type: BundleType,
  dst: string,
  hardwareId: string,
  tag: string,
  o: CreateBundleOptions,
): Promise<CheckBundleResult> {
  const tmp = await mkdtemp(join(tmpdir(), 'bundlectl-selfcheck-'));
  try {
    await mkdir(join(tmp, 'shipped', type), { recursive: true });
    await writeFile(
      join(tmp, 'shipped', type, rootFileName(1)),
      await readCapped(factory.paths.root(type, 1), CAPS.root),
    );
    const res = await checkBundle({
      bundleDir: dst,
      trustDir: join(tmp, 'trust'),
      shippedRootsDir: join(tmp, 'shipped'),
      deviceType: type,
      hardwareId,
      tags: [tag],
      now: (o.clock ?? systemClock)(),
      appsEnabled: o.noApps !== true,
      allowUnsignedManifest: type === 'prod',
    });
    await res.discard();
    return res;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * `bundlectl create` (reference §2.2): an offline bundle of one Target (or one more
 * Target with `allowMultipleTargets`) in `dst`. Every file is written atomically; on
 * failure what this run created is removed and files it replaced are restored.
 */
export async function createBundle(o: CreateBundleOptions): Promise<CreateBundleResult> {
  if (o.archive === 'zip') return createZipBundle(o);
  return createDirBundle(o, { mediaCheck: true });
}

/**
 * The directory bundle of `createBundle`. `mediaCheck: false` leaves the FAT-safety walk
 * to the caller: `createZipBundle` packs the tree next, and `pack` walks it (with the same
 * rules) anyway, so the tree is walked once.
 */
async function createDirBundle(
  o: CreateBundleOptions,
  internal: { mediaCheck: boolean },
): Promise<CreateBundleResult> {
  const progress: ProgressFn = o.onProgress ?? noProgress;
  const factory = await resolveFactory(o.factory);
  const tagDesc = o.wave !== undefined ? `wave: ${o.wave}` : `tag: ${o.tag ?? '?'}`;
  progress({
    step: 'resolve',
    message: `Getting ${o.wave !== undefined ? 'Wave' : o.prod === true ? 'production' : 'CI'} Target details; target: ${o.target}, ${tagDesc}`,
  });
  const source = await resolveSource(factory, o);
  const entry = parseTargetEntry(o.target, source.targets.env.signed.targets[o.target]);
  const existing = await checkDestination(o);
  const from = o.from ?? [];
  if (from.length > 0 && o.tufOnly === true) {
    throw new BundleError(
      'INVALID_ARGUMENT',
      '--from cannot be combined with --tuf-only: a delta is made when its content is written (the bases of an existing bundle are kept by --tuf-only)',
    );
  }

  let targetNames = [o.target];
  if (existing) {
    const info = existing.signed['x-offline-bundle'];
    if (info.type !== source.type || info.tag !== source.tag) {
      throw new BundleError(
        'BUNDLE_INVALID',
        `the bundle in ${o.dst} is a ${info.type} bundle for tag ${info.tag}; this Target is ${source.type} for tag ${source.tag}. Use another destination`,
      );
    }
    const missing = info.targets.filter((t) => source.targets.env.signed.targets[t] === undefined);
    if (missing.length > 0) {
      throw new BundleError(
        'TARGET_NOT_FOUND',
        `the bundle in ${o.dst} holds ${missing.join(', ')}, which ${missing.length === 1 ? 'is' : 'are'} not in the ${source.kind} targets of ${source.kind === 'Wave' ? `wave ${o.wave}` : `tag ${source.tag}`}; both Targets must be in the same targets metadata. Use another destination`,
      );
    }
    targetNames = [...new Set([...info.targets, o.target])].sort();
  }
  // §Delta bundles: the deltas of an existing bundle stay; this Target is a delta only
  // with --from (without, it is written whole), except that --tuf-only changes no content.
  const deltas: Record<string, DeltaInfo> = {
    ...(existing?.signed['x-offline-bundle'].deltas ?? {}),
  };
  const deltaCommits = new Set(
    Object.entries(deltas)
      .filter(([n]) => n !== o.target)
      .map(([n]) => source.targets.env.signed.targets[n])
      .filter((t) => t !== undefined)
      .map((t) => t.hashes.sha256),
  );
  let plan: DeltaPlan | undefined;
  if (from.length > 0) {
    const bases = resolveBases(
      source.targets.env.signed.targets,
      entry,
      from,
      `the ${source.kind} targets of ${source.kind === 'Wave' ? `wave ${o.wave ?? ''}` : `tag ${source.tag}`}`,
    );
    for (const b of bases) {
      if (!(await ostreeHasCommit(factory.paths.ostreeRepo, b.commit))) {
        throw new BundleError(
          'FACTORY_INVALID',
          `the factory's OSTree repo (${factory.paths.ostreeRepo}) does not hold ${b.commit}, the commit of base ${b.name}; publish that Target again or choose another base`,
        );
      }
    }
    if (!(await ostreeHasCommit(factory.paths.ostreeRepo, entry.commit))) {
      throw new BundleError(
        'FACTORY_INVALID',
        `ERROR: ostree repo does not contain target's hash ${entry.commit} (${factory.paths.ostreeRepo}); publish the Target again`,
      );
    }
    progress({
      step: 'ostree',
      message: `Computing the delta of ${o.target} from ${bases.map((b) => b.name).join(', ')}`,
    });
    plan = await planDelta(
      factory.paths.ostreeRepo,
      factory.paths.appStore,
      entry,
      bases,
      o.noApps !== true,
    );
    deltas[o.target] = { bases: plan.bases, omitted: plan.omitted };
  } else if (o.tufOnly !== true) {
    delete deltas[o.target];
  }
  const chain = await readRootChain(factory.paths.tufDir(source.type));
  progress({
    step: 'tuf',
    message: `Refreshing and downloading TUF metadata for Target ${o.target} to ${join(o.dst, BUNDLE_DIRS.tuf)}...`,
  });
  const tuf = await buildTuf(factory, source, chain, targetNames, deltas, o);

  const tx = new WriteTransaction();
  const apps = o.noApps === true || o.tufOnly === true ? {} : targetAppsForBundle(entry);
  try {
    await tx.mkdirs(o.dst);
    if (o.tufOnly !== true) {
      const repo = join(o.dst, BUNDLE_DIRS.ostree);
      if (!(await ostreeHasCommit(factory.paths.ostreeRepo, entry.commit))) {
        throw new BundleError(
          'FACTORY_INVALID',
          `ERROR: ostree repo does not contain target's hash ${entry.commit} (${factory.paths.ostreeRepo}); publish the Target again`,
        );
      }
      // The app copy (node: read, hash, write) and the OSTree pull (an `ostree` process)
      // run side by side, each on its own core. Each is undone on failure: the blobs are
      // tracked one by one, the objects by a listing taken before the pull, so a failure
      // of either leaves an existing bundle exactly as it was.
      const store = join(o.dst, BUNDLE_DIRS.apps);
      const omittedBlobs = plan?.omittedBlobs ?? new Set<string>();
      const copyAppsPhase = async () => {
        if (Object.keys(apps).length === 0 && o.noApps !== true) {
          progress({
            step: 'apps',
            message: 'No apps found to fetch; the bundle will only update rootfs/ostree',
          });
        }
        const appPlan = await planAppCopies(factory, store, apps, omittedBlobs);
        const appBytes = new ByteProgress(progress, 'apps', 'Copying apps', appPlan.bytes);
        await copyApps(store, appPlan, tx, appBytes, omittedBlobs, progress);
        if (Object.keys(apps).length > 0) appBytes.finish();
      };
      const ostreePhase = async () => {
        if (!(await exists(repo))) {
          progress({ step: 'ostree', message: `Creating OSTree repo ${repo}` });
          tx.noteCreated(repo);
          await ostreeInitArchive(repo);
        }
        if (plan !== undefined) {
          await undoRepoAdditions(repo, tx);
          const copying = new ByteProgress(
            progress,
            'ostree',
            `Copying the ${plan.carried.objects} OSTree objects of the delta`,
            plan.carried.bytes,
          );
          await copyDeltaObjects(factory.paths.ostreeRepo, repo, plan.objects, (n) =>
            copying.add(n),
          );
          copying.finish();
        } else if (
          !(await ostreeHasCommit(repo, entry.commit)) ||
          // The commit is there as another Target's delta: a full Target needs all of it.
          deltaCommits.has(entry.commit)
        ) {
          progress({ step: 'ostree', message: `Pulling OSTree commit ${entry.commit}` });
          await undoRepoAdditions(repo, tx);
          const total = await ostreeCommitSize(factory.paths.ostreeRepo, entry.commit);
          const pulled = new ByteProgress(
            progress,
            'ostree',
            `Pulling OSTree commit ${entry.commit.slice(0, 12)}`,
            total,
          );
          await ostreePullLocal(repo, factory.paths.ostreeRepo, entry.commit, {
            onBytes: (done) => pulled.set(done),
          });
          if (total !== undefined) pulled.set(total);
          pulled.finish();
        }
      };
      // Both run to their end before a failure is raised, so the rollback finds them done.
      const settled = await Promise.allSettled([copyAppsPhase(), ostreePhase()]);
      for (const r of settled) if (r.status === 'rejected') throw r.reason;
    }
    // tuf/ last: a bundle whose metadata is written is complete.
    for (const [name, bytes] of tuf.files)
      await tx.writeFile(join(o.dst, BUNDLE_DIRS.tuf, name), bytes);

    // Removable media (docs/bundle-format.md §Tree): the tree must survive FAT and exFAT.
    if (internal.mediaCheck) {
      progress({ step: 'media', message: 'Checking that the bundle survives FAT32 and exFAT' });
      await checkBundleMedia(o.dst);
    }

    progress({ step: 'verify', message: 'Verifying the bundle as a device would' });
    let check: CheckBundleResult | undefined;
    try {
      check = await selfCheck(factory, source.type, o.dst, entry.hardwareId, source.tag, o);
    } catch (err) {
      const tolerated =
        o.tufOnly === true && err instanceof FormatError && err.code === 'NO_TARGET_CONTENT';
      if (!tolerated) {
        throw new BundleError(
          'VERIFY_FAILED',
          `the bundle written to ${o.dst} fails the device's verification: ${errorMessage(err)}`,
          { cause: err },
        );
      }
      progress({
        step: 'warning',
        message: `The bundle has no update content yet: ${errorMessage(err)}`,
      });
    }
    await tx.commit();
    progress({ step: 'done', message: 'Successfully created offline update content' });
    return {
      dst: o.dst,
      type: source.type,
      tag: source.tag,
      ...(o.wave === undefined ? {} : { wave: o.wave }),
      target: o.target,
      targets: targetNames,
      expires: tuf.expires,
      versions: tuf.versions,
      apps,
      ...(plan === undefined
        ? {}
        : { delta: { bases: plan.bases, omitted: plan.omitted, carried: plan.carried } }),
      selfCheck: {
        available: check?.available.map((t) => t.name) ?? [],
        unavailable: check?.unavailable ?? [],
        signaturesPending: source.type === 'prod',
      },
    };
  } catch (err) {
    await tx.rollback();
    throw err;
  }
}

/**
 * `create --archive zip`: builds and verifies the directory bundle in a staging directory
 * next to `dst` (same file system, so the space check is honest), packs it into `dst`,
 * then removes the staging directory, whatever happens.
 */
async function createZipBundle(o: CreateBundleOptions): Promise<CreateBundleResult> {
  if (o.tufOnly === true || o.allowMultipleTargets === true) {
    throw new BundleError(
      'INVALID_ARGUMENT',
      '--archive zip writes a new file; it cannot be combined with --tuf-only or --allow-multiple-targets (use a directory bundle, then bundlectl pack)',
    );
  }
  if (o.prod === true || o.wave !== undefined) {
    throw new BundleError(
      'INVALID_ARGUMENT',
      'production and wave bundles are signed after creation, and a zip cannot be signed: create a directory bundle, sign it to the threshold with bundlectl sign, then bundlectl pack <dir> <file.zip>',
    );
  }
  if (await exists(o.dst)) {
    throw new BundleError(
      'DESTINATION_NOT_EMPTY',
      `${o.dst} already exists; choose a new file name or remove it first`,
      { file: o.dst },
    );
  }
  const staging = join(
    dirname(o.dst),
    `.${basename(o.dst)}.staging-${randomBytes(6).toString('hex')}`,
  );
  try {
    const dirOptions: CreateBundleOptions = { ...o, dst: staging };
    delete dirOptions.archive;
    // pack refuses a tree that would not survive FAT, by the same walk (planPack).
    const res = await createDirBundle(dirOptions, { mediaCheck: false });
    const shown = await showBundle(staging, o.clock ?? systemClock);
    const packed = await packBundle({
      src: staging,
      dst: o.dst,
      ...(o.onProgress === undefined ? {} : { onProgress: o.onProgress }),
    });
    return { ...res, dst: o.dst, archive: { ...packed, show: { ...shown, bundle: o.dst } } };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
