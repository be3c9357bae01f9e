/**
 * Delta bundles on the device (docs/bundle-format.md §Delta bundles): before a delta
 * Target is offered or installed, the device proves from its own OSTree repo and app store
 * that it holds one of the Target's bases, complete (`findUsableBase`):
 *
 *   1. the base commit is one of the device's deployments (booted or rollback), so OSTree
 *      keeps all of its objects (a deployed commit is never pruned);
 *   2. the repo has the base commit complete: its commit object and no `.commitpartial`
 *      marker (`OstreePort.hasCommit`), so every pull of it finished;
 *   3. every object of the base tree is there: format's walk of the base commit over the
 *      device's repo (`commitObjects`, the walk the host plans the delta with) reads every
 *      dirtree and dirmeta object, checked against its checksum, and every content object
 *      it names must exist (`repoHasObject`). The objects the delta relies on are all in
 *      the base tree (the host leaves out only what every base has), so this covers them,
 *      without re-hashing content: the device's objects were verified when they arrived;
 *   4. every blob of the Target's apps is on the media or in the device's app store.
 *
 * A delta Target without such a base is not offered (`applyDeltaBases`); when no Target
 * is left, the device refuses with DELTA_BASE_MISSING (8, content missing), naming the
 * bases and what it runs, and asks for a full bundle. Nothing is written before that.
 */
import { lstat } from 'node:fs/promises';
import {
  commitObjects,
  repoDirReader,
  repoHasObject,
  appBlobPath,
  blobPath,
  deltaOf,
  FormatError,
  planAppBlobs,
  requiredApps,
  storeReader,
  type BundleSource,
  type CheckBundleResult,
  type DeltaBase,
  type DeltaInfo,
  type SmallBlobReader,
  type TargetEntry,
} from '@offline-ota/format';
import type { Device } from './device.js';
import { AkliteError, messageOf } from './errors.js';
import { forEachLimit } from './fsutil.js';
import type { DeviceState } from './state.js';

/** Object lookups in the device's repo kept in flight at once. */
const STAT_CONCURRENCY = 32;

/** A delta Target the device can install, and the base it completes it from. */
export interface DeltaUse {
  target: string;
  base: DeltaBase;
}

/** The check-in's Targets after the base check. */
export interface DeltaCheck {
  result: CheckBundleResult;
  /** The usable delta Targets, by name. */
  usable: Map<string, DeltaUse>;
  /** The delta Targets this device cannot install, by name: why. */
  refused: Map<string, string>;
}

/**
 * A reader of small blobs from the media, or, for a blob the media does not hold, from
 * the device's store (a delta leaves out what the device's base already has).
 */
export function mediaThenStore(media: BundleSource, store: string): SmallBlobReader {
  const fromMedia = media.blobReader();
  const fromStore = storeReader(store);
  return async (hex, cap) =>
    (await media.fileSize(appBlobPath(hex))) !== undefined
      ? fromMedia(hex, cap)
      : fromStore(hex, cap);
}

const short = (commit: string): string => commit.slice(0, 12);

/** What the device runs, for messages: the current Target, or the booted commit. */
function describeRunning(dev: Device, state: DeviceState): string {
  const cur = state.current;
  return cur !== null
    ? `${cur.name} (commit ${short(cur.commit)})`
    : `commit ${short(dev.booted.commit)} and no installed Target`;
}

/** Why `base` is not usable on this device, or null when it is (steps 1–3 above). */
async function baseProblem(
  dev: Device,
  deployed: ReadonlySet<string>,
  base: DeltaBase,
): Promise<string | null> {
  if (!deployed.has(base.commit)) return `${base.name} is not deployed on this device`;
  if (!(await dev.ports.ostree.hasCommit(dev.sysrootRepo, base.commit)))
    return `${base.name} (commit ${short(base.commit)}) is incomplete in ${dev.sysrootRepo}`;
  let tree;
  try {
    tree = await commitObjects(repoDirReader(dev.sysrootRepo), base.commit);
  } catch (err) {
    return `${base.name} is missing objects in ${dev.sysrootRepo}: ${messageOf(err)}`;
  }
  // Many lookups at once (one lstat or two each); the first object found missing stops it.
  let missing: string | undefined;
  await forEachLimit(tree.content, STAT_CONCURRENCY, async (rel) => {
    if (missing === undefined && !(await repoHasObject(dev.sysrootRepo, rel))) missing ??= rel;
  });
  if (missing !== undefined)
    return `${base.name} is missing objects in ${dev.sysrootRepo}: ${missing} is not there`;
  return null;
}

/** Why the Target's apps cannot be completed (step 4), or null. */
async function appsProblem(
  dev: Device,
  t: TargetEntry,
  media: BundleSource,
): Promise<string | null> {
  if (dev.config.packageManager !== 'ostree+compose_apps') return null;
  const reader = mediaThenStore(media, dev.config.appStore);
  for (const [app, uri] of Object.entries(requiredApps(t, dev.config.composeApps))) {
    let blobs;
    try {
      blobs = await planAppBlobs(uri, reader);
    } catch (err) {
      if (err instanceof FormatError && err.code === 'NO_TARGET_CONTENT')
        return `app ${app}: ${err.message}, and the bundle does not carry it`;
      throw new AkliteError(
        'VERIFICATION_FAILED',
        `app ${app} (${uri}) is invalid: ${messageOf(err)}; do not use this media`,
        { cause: err },
      );
    }
    for (const b of blobs) {
      const onMedia = await media.fileSize(appBlobPath(b.digest));
      if (onMedia !== undefined) continue;
      const st = await lstat(blobPath(dev.config.appStore, b.digest)).catch(() => undefined);
      if (!st?.isFile() || (b.size !== undefined && st.size !== b.size))
        return `app ${app}: blob sha256:${b.digest} (${b.kind}) is neither in the bundle nor in ${dev.config.appStore}`;
    }
  }
  return null;
}

/**
 * The first base of `delta` this device holds complete, with the Target's apps completable,
 * or why there is none.
 */
export async function findUsableBase(
  dev: Device,
  t: TargetEntry,
  delta: DeltaInfo,
  media: BundleSource,
  deployed: ReadonlySet<string>,
): Promise<{ base: DeltaBase } | { problem: string }> {
  const problems: string[] = [];
  // The device already holds the Target's own commit, deployed and complete (it runs it,
  // or a power cut came after the commit was written): only the apps need completing.
  const own = { name: t.name, commit: t.commit };
  if ((await baseProblem(dev, deployed, own)) === null) {
    const apps = await appsProblem(dev, t, media);
    if (apps === null) return { base: own };
  }
  for (const base of delta.bases) {
    const p = await baseProblem(dev, deployed, base);
    if (p === null) {
      const apps = await appsProblem(dev, t, media);
      if (apps === null) return { base };
      problems.push(apps);
    } else {
      problems.push(p);
    }
  }
  return { problem: problems.join('; ') };
}

/** The message of a refused delta: the bases, what the device runs, and what to do. */
function refusal(t: TargetEntry, delta: DeltaInfo, running: string, why: string): string {
  const bases = delta.bases.map((b) => `${b.name} (commit ${short(b.commit)})`).join(' or ');
  return (
    `${t.name} in this bundle is a delta for devices running ${bases}; this device runs ${running} (${why}). ` +
    `Use a full bundle of ${t.name} (bundlectl create without --from)`
  );
}

/**
 * Checks every available delta Target of the check-in against the device (steps 1–4) and
 * leaves only those it can install; refused ones move to `unavailable`. Throws
 * DELTA_BASE_MISSING (8) when no Target is left. Reads only.
 */
export async function applyDeltaBases(
  dev: Device,
  state: DeviceState,
  result: CheckBundleResult,
  media: BundleSource,
): Promise<DeltaCheck> {
  const usable = new Map<string, DeltaUse>();
  const refused = new Map<string, string>();
  const deltas = result.available
    .map((t) => ({ t, d: deltaOf(result.manifest.signed, t.name) }))
    .filter((x): x is { t: TargetEntry; d: DeltaInfo } => x.d !== undefined);
  if (deltas.length === 0) return { result, usable, refused };

  const deployed = new Set((await dev.ports.ostree.deployments(dev.sysroot)).map((d) => d.commit));
  deployed.add(dev.booted.commit);
  const running = describeRunning(dev, state);
  for (const { t, d } of deltas) {
    const found = await findUsableBase(dev, t, d, media, deployed);
    if ('base' in found) usable.set(t.name, { target: t.name, base: found.base });
    else refused.set(t.name, refusal(t, d, running, found.problem));
  }
  const available = result.available.filter((t) => !refused.has(t.name));
  if (available.length === 0) {
    throw new AkliteError('DELTA_BASE_MISSING', [...refused.values()].join('\n'));
  }
  return {
    result: {
      ...result,
      available,
      unavailable: [
        ...result.unavailable,
        ...[...refused].map(([name, reason]) => ({ name, reason })),
      ],
    },
    usable,
    refused,
  };
}
