/**
 * The device's trusted TUF metadata on disk (`var/sota/tuf/<type>/`), swapped so that a
 * power cut at any instant leaves exactly the old or exactly the new complete version in
 * place, never neither (issue 14 §3; guarantee in docs/threat-model.md).
 *
 * Layout, for each bundle type (`ci`, `prod`):
 *
 *   <type>                 a symlink to the version in force (readers use `<type>/root.json`)
 *   .<type>.v-<hex>/       a complete, fsynced version (root, timestamp, snapshot, targets)
 *   .work-<type>-<hex>/    a check-in's working copy; never trusted, removed by recovery
 *
 * A swap (`commitWorkCopy`) fsyncs the working copy, renames it to a version directory,
 * points a fresh symlink at it and renames that symlink over `<type>` (one rename(2)), then
 * removes the previous version. `recoverTrustStore`, run at start-up under the device's
 * lock, finishes or undoes whatever a cut interrupted, migrates the older plain-directory
 * layout (and its `<type>.old-*` leftovers of the two-rename swap), and removes leaked
 * working copies. `assertNoStrandedTrust` refuses the shipped-root fallback while any
 * trusted version exists on the device but is not in place.
 */
import { randomBytes } from 'node:crypto';
import {
  copyFile,
  lstat,
  mkdir,
  readdir,
  readlink,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { FormatError } from './errors.js';
import { fsyncDir, fsyncTree } from './io/index.js';
import { readBoundedJson } from './json.js';
import { BUNDLE_TYPES, CAPS, tufFileCap, type BundleType } from './layout.js';

/** The points between the operations of a swap, for power-cut tests (checkpoint port). */
export const TRUST_SWAP_STEPS = [
  'trust-work-synced',
  'trust-version-written',
  'trust-legacy-moved',
  'trust-link-created',
  'trust-link-flipped',
  'trust-old-removed',
] as const;
export type TrustSwapStep = (typeof TRUST_SWAP_STEPS)[number];

export type TrustCheckpoint = (step: TrustSwapStep) => void;

const ROLE_FILES = ['root.json', 'timestamp.json', 'snapshot.json', 'targets.json'] as const;

const versionDirName = (type: BundleType) => `.${type}.v-${randomBytes(6).toString('hex')}`;
const linkTmpName = (type: BundleType) => `.${type}.link-${randomBytes(6).toString('hex')}`;
const isVersionDir = (type: BundleType, name: string) => name.startsWith(`.${type}.v-`);
const isLegacyOld = (type: BundleType, name: string) => name.startsWith(`${type}.old-`);
const isLinkTmp = (type: BundleType, name: string) => name.startsWith(`.${type}.link-`);
const isWorkDir = (name: string) => name.startsWith('.work-');

/** The path readers use for a type's trusted metadata (through the symlink). */
export function trustedDir(trustDir: string, type: BundleType): string {
  return join(trustDir, type);
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

/** The version numbers of a stored set, or undefined when it has no readable root. */
async function storedVersions(dir: string): Promise<number[] | undefined> {
  const out: number[] = [];
  for (const name of ROLE_FILES) {
    let version = -1;
    try {
      const json = (await readBoundedJson(join(dir, name), {
        maxBytes: tufFileCap(name) ?? CAPS.root,
      })) as {
        signed?: { version?: unknown };
      };
      const v = json.signed?.version;
      if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) version = v;
    } catch {
      // missing or unreadable: counted as -1 below
    }
    if (name === 'root.json' && version < 0) return undefined;
    out.push(version);
  }
  return out;
}

function compareVersions(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

type Current =
  { kind: 'link'; target: string } | { kind: 'legacy' } | { kind: 'none'; dangling: boolean };

/** What `<type>` is now: a symlink to a complete version, a plain directory, or nothing usable. */
async function currentOf(trustDir: string, type: BundleType): Promise<Current> {
  const path = trustedDir(trustDir, type);
  const st = await lstat(path).catch(() => undefined);
  if (st === undefined) return { kind: 'none', dangling: false };
  if (st.isSymbolicLink()) {
    const target = await readlink(path);
    const ok = !target.includes('/') && (await storedVersions(path)) !== undefined;
    return ok ? { kind: 'link', target } : { kind: 'none', dangling: true };
  }
  if (st.isDirectory() && (await storedVersions(path)) !== undefined) return { kind: 'legacy' };
  return { kind: 'none', dangling: true };
}

/**
 * A working copy for a check-in: a copy of the type's trusted files, or, on a device that
 * has none yet, `seedRoot` (the verified shipped root). tuf-js refreshes it in place.
 */
export async function openWorkCopy(
  trustDir: string,
  type: BundleType,
  seedRoot: unknown,
): Promise<string> {
  await mkdir(trustDir, { recursive: true });
  const work = join(trustDir, `.work-${type}-${randomBytes(6).toString('hex')}`);
  await mkdir(work);
  const current = trustedDir(trustDir, type);
  if ((await storedVersions(current)) !== undefined) {
    for (const e of await readdir(current, { withFileTypes: true })) {
      if (e.isFile()) await copyFile(join(current, e.name), join(work, e.name));
    }
  } else {
    await writeFile(join(work, 'root.json'), JSON.stringify(seedRoot));
  }
  return work;
}

export async function discardWorkCopy(work: string): Promise<void> {
  await rm(work, { recursive: true, force: true });
}

/**
 * Puts a verified working copy in force. At every instant a complete version is reachable:
 * `<type>` is flipped by renaming a new symlink over it, and until then the old version
 * stays where it is (a legacy plain directory first becomes a version directory; recovery
 * then takes the newest complete version).
 */
export async function commitWorkCopy(
  trustDir: string,
  type: BundleType,
  work: string,
  checkpoint: TrustCheckpoint = () => undefined,
  opts: { keepPrevious?: boolean } = {},
): Promise<TrustCommit> {
  await fsyncTree(work);
  checkpoint('trust-work-synced');

  const version = versionDirName(type);
  await rename(work, join(trustDir, version));
  await fsyncDir(trustDir);
  checkpoint('trust-version-written');

  const current = await currentOf(trustDir, type);
  let previous: string | undefined;
  if (current.kind === 'link') {
    previous = current.target;
  } else if (current.kind === 'legacy') {
    previous = versionDirName(type);
    await rename(trustedDir(trustDir, type), join(trustDir, previous));
    await fsyncDir(trustDir);
    checkpoint('trust-legacy-moved');
  } else if (current.dangling) {
    await rm(trustedDir(trustDir, type), { recursive: true, force: true });
  }

  const tmp = linkTmpName(type);
  await symlink(version, join(trustDir, tmp));
  checkpoint('trust-link-created');
  await rename(join(trustDir, tmp), trustedDir(trustDir, type));
  await fsyncDir(trustDir);
  checkpoint('trust-link-flipped');

  const dropPrevious = async () => {
    if (previous === undefined) return;
    await rm(join(trustDir, previous), { recursive: true, force: true });
    await fsyncDir(trustDir);
  };
  if (opts.keepPrevious !== true) await dropPrevious();
  checkpoint('trust-old-removed');
  let settled = opts.keepPrevious !== true;
  return {
    async finish() {
      if (settled) return;
      settled = true;
      await dropPrevious();
    },
    async revert() {
      if (settled) return;
      settled = true;
      if (previous !== undefined) {
        const back = linkTmpName(type);
        await symlink(previous, join(trustDir, back));
        await rename(join(trustDir, back), trustedDir(trustDir, type));
      } else {
        await rm(trustedDir(trustDir, type), { force: true });
      }
      await fsyncDir(trustDir);
      await rm(join(trustDir, version), { recursive: true, force: true });
      await fsyncDir(trustDir);
    },
  };
}

/**
 * A swap that kept the previous version (`keepPrevious`), so that a step after it that
 * fails (an install running out of space while it deploys) can put the previous version
 * back. A power cut meanwhile leaves the new version in force: recovery removes the kept
 * one like any superseded version.
 */
export interface TrustCommit {
  /** Removes the kept previous version: the new one stays. */
  finish(): Promise<void>;
  /** Puts the previous version (or, on a store that had none, no version) back in force. */
  revert(): Promise<void>;
}

/** The TrustCommit of a commit that changed nothing (a cached check-in). */
export const NOTHING_COMMITTED: TrustCommit = {
  finish: () => Promise.resolve(),
  revert: () => Promise.resolve(),
};

export interface TrustRecovery {
  /** Per type: the version now in force (`<type>` points at it), if any. */
  inForce: Partial<Record<BundleType, string>>;
  /** Names removed: leaked working copies, superseded versions, temporary links. */
  removed: string[];
  /** True when `<type>` had to be re-pointed or migrated from the plain-directory layout. */
  repaired: boolean;
}

/**
 * Brings the trust store to a clean state after any interruption. Call it holding the
 * device's lock (no check-in is running). Does nothing on a clean store, and creates
 * nothing when `trustDir` does not exist.
 *
 * For each type: a valid `<type>` symlink stays in force, and so does a plain `<type>`
 * directory of the older layout (migrated to a version directory and a link); otherwise
 * the newest complete version found anywhere (`.<type>.v-*`, legacy `<type>.old-*`) is. Versions are ordered by the root, timestamp, snapshot and targets
 * versions they hold, so a cut can never make the device trust an older set, and never
 * the shipped root while a stored one exists. Working copies (`.work-*`) were never
 * trusted and are removed.
 */
export async function recoverTrustStore(trustDir: string): Promise<TrustRecovery> {
  const out: TrustRecovery = { inForce: {}, removed: [], repaired: false };
  let names: string[];
  try {
    names = await readdir(trustDir);
  } catch {
    return out;
  }
  let changed = false;
  const remove = async (name: string) => {
    await rm(join(trustDir, name), { recursive: true, force: true });
    out.removed.push(name);
    changed = true;
  };
  for (const name of names.filter(isWorkDir)) await remove(name);

  for (const type of BUNDLE_TYPES) {
    const current = await currentOf(trustDir, type);
    let inForce: string | undefined;
    if (current.kind === 'link') {
      inForce = current.target;
    } else {
      // A plain directory of the older layout stays in force, like a valid link; without
      // either, the newest complete version found anywhere is put in force.
      let best: string | undefined = current.kind === 'legacy' ? type : undefined;
      if (best === undefined) {
        const candidates: { name: string; versions: number[] }[] = [];
        for (const name of names.filter((n) => isVersionDir(type, n) || isLegacyOld(type, n))) {
          const st = await lstat(join(trustDir, name)).catch(() => undefined);
          if (!st?.isDirectory()) continue;
          const versions = await storedVersions(join(trustDir, name));
          if (versions !== undefined) candidates.push({ name, versions });
        }
        candidates.sort((a, b) => compareVersions(b.versions, a.versions));
        best = candidates[0]?.name;
      }
      if (best !== undefined) {
        inForce = isVersionDir(type, best) ? best : versionDirName(type);
        if (inForce !== best) {
          await rename(join(trustDir, best), join(trustDir, inForce));
          await fsyncDir(trustDir);
        }
        if (current.kind === 'none' && current.dangling) {
          await rm(trustedDir(trustDir, type), { recursive: true, force: true });
        }
        const tmp = linkTmpName(type);
        await symlink(inForce, join(trustDir, tmp));
        await rename(join(trustDir, tmp), trustedDir(trustDir, type));
        await fsyncDir(trustDir);
        out.repaired = true;
        changed = true;
      } else if (current.kind === 'none' && current.dangling) {
        // Nothing trusted anywhere: a broken `<type>` holds no root, so the shipped one applies.
        await remove(type);
      }
    }
    if (inForce !== undefined) out.inForce[type] = inForce;
    const now = await readdir(trustDir);
    for (const name of now) {
      const stale =
        ((isVersionDir(type, name) || isLegacyOld(type, name)) && name !== inForce) ||
        isLinkTmp(type, name);
      if (stale) await remove(name);
    }
  }
  if (changed) await fsyncDir(trustDir);
  return out;
}

/**
 * Throws unless the shipped roots may be used: when `<type>` has no readable root but a
 * trusted version exists elsewhere in the store (an unrecovered cut), falling back to the
 * image's root would forget every newer root and the rollback protection of the stored
 * timestamp, snapshot and targets.
 */
export async function assertNoStrandedTrust(trustDir: string, type: BundleType): Promise<void> {
  let names: string[];
  try {
    names = await readdir(trustDir);
  } catch {
    return;
  }
  const stranded: string[] = [];
  for (const name of names) {
    if (!(name === type || isVersionDir(type, name) || isLegacyOld(type, name))) continue;
    const st = await stat(join(trustDir, name)).catch(() => undefined);
    if (st?.isDirectory() && (await storedVersions(join(trustDir, name))) !== undefined)
      stranded.push(name);
  }
  if (stranded.length > 0 || (await exists(trustedDir(trustDir, type)))) {
    throw new FormatError(
      'TRUST_STORE_INCONSISTENT',
      `the device's trusted ${type} metadata in ${trustDir} is not in place (found ${stranded.join(', ') || `a broken ${type}`}); ` +
        'refusing to fall back to the shipped root. Run the command again: it repairs the store at start-up',
      { file: trustDir },
    );
  }
}
