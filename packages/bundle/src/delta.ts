/**
 * Delta bundles on the host (`bundlectl create --from`, docs/bundle-format.md §Delta
 * bundles): which base Targets a delta names (`resolveBases`), which OSTree objects and app
 * blobs it carries (`planDelta`: what the new Target has and not every base has), and the
 * copy of those objects into the bundle's repo (`copyDeltaObjects`).
 *
 * The object sets come from format's walk of each commit's tree (`commitObjects`,
 * ostree-objects.ts): it reads only the commit, dirtree and dirmeta objects (each checked
 * against its checksum), the same walk the device uses to list a Target's objects.
 */
import { statSync } from 'node:fs';
import { copyFile, mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ostreeObjectPath,
  parseAppUri,
  parseTargetEntry,
  targetAppsForBundle,
  commitObjects,
  repoDirReader,
  type CommitObjects,
  type DeltaBase,
  type DeltaInfo,
  type TargetEntry,
} from '@offline-ota/format';
import { appBlobs } from './app-store.js';
import { BundleError } from './errors.js';
import { exists, wrapIo } from './fsutil.js';

/**
 * The base Targets of `--from`: each value is a Target name, or the version of a Target
 * for the same hardware id, in the same targets metadata as the new Target. A base is
 * another Target of the same hardware id (older or newer: it is what the devices run).
 */
export function resolveBases(
  targets: Readonly<Record<string, unknown>>,
  entry: TargetEntry,
  from: readonly string[],
  where: string,
): TargetEntry[] {
  const out = new Map<string, TargetEntry>();
  for (const value of from) {
    let base: TargetEntry | undefined;
    if (Object.hasOwn(targets, value)) {
      base = parseTargetEntry(value, targets[value]);
    } else if (/^[0-9]+$/.test(value)) {
      const found = Object.entries(targets)
        .map(([n, t]) => parseTargetEntry(n, t))
        .filter((t) => t.hardwareId === entry.hardwareId && t.version === Number(value));
      if (found.length > 1) {
        throw new BundleError(
          'INVALID_ARGUMENT',
          `--from ${value}: several Targets of ${where} have version ${value} for hardware id ${entry.hardwareId} (${found.map((t) => t.name).join(', ')}); name one`,
        );
      }
      base = found[0];
    }
    if (base === undefined) {
      throw new BundleError(
        'TARGET_NOT_FOUND',
        `--from ${value}: no Target of that name, nor of that version for hardware id ${entry.hardwareId}, in ${where}; a base must be a Target the devices were updated to`,
      );
    }
    if (base.name === entry.name) {
      throw new BundleError(
        'INVALID_ARGUMENT',
        `--from ${value} is ${entry.name} itself; a delta needs another Target as its base`,
      );
    }
    if (base.hardwareId !== entry.hardwareId) {
      throw new BundleError(
        'INVALID_ARGUMENT',
        `--from ${value}: ${base.name} is for hardware id ${base.hardwareId}, ${entry.name} for ${entry.hardwareId}; a device runs only Targets of its own hardware id`,
      );
    }
    out.set(base.name, base);
  }
  return [...out.values()];
}

/** One OSTree object of a delta: its repository-relative path and size in the factory. */
export interface DeltaObject {
  path: string;
  size: number;
}

export interface DeltaPlan {
  bases: DeltaBase[];
  /** The objects to copy, content first and the commit object last. */
  objects: DeltaObject[];
  /** App blob digests the bundle leaves out (every base has them). */
  omittedBlobs: Set<string>;
  omitted: DeltaInfo['omitted'];
  /** What the delta carries: objects, and their bytes in the factory. */
  carried: { objects: number; bytes: number };
}

/** The objects of a commit's tree, from format's walk of the factory's archive repo. */
async function treeObjects(factoryRepo: string, commit: string): Promise<CommitObjects> {
  return commitObjects(repoDirReader(factoryRepo), commit);
}

/**
 * Sizes of files, by synchronous `stat` calls in a loop: for the tens of thousands of
 * objects of a commit that is about ten times faster than as many promises (and their
 * garbage), and nothing else runs while a delta is planned.
 */
function sizesOf(paths: readonly string[]): number[] {
  return paths.map((p) => {
    try {
      return statSync(p).size;
    } catch (err) {
      throw wrapIo(err, `cannot read the factory's OSTree object ${p}`, p);
    }
  });
}

/** The app blobs (hex) of a Target as a bundle would carry them. */
async function targetBlobs(appStore: string, entry: TargetEntry): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const [app, uri] of Object.entries(targetAppsForBundle(entry))) {
    const { digest } = parseAppUri(uri, `app ${app} of ${entry.name}`);
    for (const b of await appBlobs(appStore, digest, `app ${app} of ${entry.name}`))
      out.set(b.hex, b.size);
  }
  return out;
}

/**
 * What a delta of `entry` on `bases` carries: every object of the new commit's tree that
 * not every base's tree has, plus the commit object (and its detached metadata, if any);
 * every app blob (with `apps`) that not every base Target's apps have. An object every
 * base has is left out, so a device holding any one base can complete the Target.
 */
export async function planDelta(
  factoryRepo: string,
  appStore: string,
  entry: TargetEntry,
  bases: readonly TargetEntry[],
  apps: boolean,
): Promise<DeltaPlan> {
  const [mine, ...theirs] = await Promise.all([
    treeObjects(factoryRepo, entry.commit),
    ...bases.map((b) => treeObjects(factoryRepo, b.commit)),
  ]);
  const theirSets = theirs.map((t) => new Set([...t.content, ...t.metadata]));
  const commitRel = ostreeObjectPath(entry.commit, 'commit');
  const carriedPaths: string[] = [];
  const omittedPaths: string[] = [];
  // Content first, then directory metadata; the commit object is added last, below.
  for (const rel of [...mine.content, ...mine.metadata.filter((r) => r !== commitRel).reverse()]) {
    const everyBase = theirSets.every((t) => t.has(rel));
    (everyBase ? omittedPaths : carriedPaths).push(rel);
  }
  carriedPaths.push(commitRel);
  const meta = ostreeObjectPath(entry.commit, 'commitmeta');
  if (await exists(join(factoryRepo, meta))) carriedPaths.splice(-1, 0, meta);
  const carriedSizes = sizesOf(carriedPaths.map((p) => join(factoryRepo, p)));
  const omittedSizes = sizesOf(omittedPaths.map((p) => join(factoryRepo, p)));
  const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);

  const omittedBlobs = new Set<string>();
  let blobBytes = 0;
  if (apps) {
    const wanted = await targetBlobs(appStore, entry);
    const baseBlobs = await Promise.all(bases.map((b) => targetBlobs(appStore, b)));
    for (const [hex, size] of wanted) {
      if (baseBlobs.every((m) => m.has(hex))) {
        omittedBlobs.add(hex);
        blobBytes += size;
      }
    }
  }
  return {
    bases: bases.map((b) => ({ name: b.name, commit: b.commit })),
    objects: carriedPaths.map((path, i) => ({ path, size: carriedSizes[i] })),
    omittedBlobs,
    omitted: {
      objects: omittedPaths.length,
      blobs: omittedBlobs.size,
      bytes: sum(omittedSizes) + blobBytes,
    },
    carried: { objects: carriedPaths.length, bytes: sum(carriedSizes) },
  };
}

/** How many objects `copyDeltaObjects` copies at once. */
const COPY_AT_ONCE = 8;

/**
 * Copies the planned objects from the factory repo into the bundle's repo, each through a
 * temporary name and a rename, so an object is either whole or absent; the commit object
 * comes last (the others `COPY_AT_ONCE` at a time), so a bundle holds the commit only once everything it carries is there.
 * Objects already in the bundle (shared with another Target) are kept.
 */
export async function copyDeltaObjects(
  factoryRepo: string,
  bundleRepo: string,
  objects: readonly DeltaObject[],
  onBytes: (n: number) => void,
): Promise<number> {
  let copied = 0;
  const made = new Map<string, Promise<unknown>>();
  const copyOne = async (o: DeltaObject) => {
    const dst = join(bundleRepo, o.path);
    if (await exists(dst)) return;
    const dir = join(bundleRepo, o.path.slice(0, o.path.lastIndexOf('/')));
    let mk = made.get(dir);
    if (mk === undefined) {
      mk = mkdir(dir, { recursive: true });
      made.set(dir, mk);
    }
    const tmp = `${dst}.tmp`;
    try {
      await mk;
      await copyFile(join(factoryRepo, o.path), tmp);
      await rename(tmp, dst);
    } catch (err) {
      await rm(tmp, { force: true });
      throw wrapIo(err, `cannot copy the OSTree object ${o.path} into ${bundleRepo}`, dst);
    }
    copied++;
    onBytes(o.size);
  };
  // Every object but the last (the commit) COPY_AT_ONCE at a time; the commit after them.
  const body = objects.slice(0, -1);
  let next = 0;
  const worker = async () => {
    while (next < body.length) await copyOne(body[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(COPY_AT_ONCE, body.length) }, worker));
  if (objects.length > 0) await copyOne(objects[objects.length - 1]);
  return copied;
}
