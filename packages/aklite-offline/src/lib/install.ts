/**
 * `aklite-offline install` (reference §3.6–3.7): check-in, selection, then
 *
 *   stage     one ostree pull-local --untrusted of the objects the device lacks straight
 *             into the sysroot repo (pull.ts: journalled first; nothing references the
 *             commit yet; for a delta Target the base is in that repo already: delta.ts
 *             checked it first); app blobs copied and hashed into a scratch dir. Any
 *             failure removes what the pull added and the scratch: device unchanged.
 *   commit    blobs into the store, images into the engine, the pull journal dropped,
 *             then trusted TUF metadata, state `pending/deploying`, reboot sentinel,
 *             ostree admin deploy, fw_setenv upgrade_available=1 bootcount=0, state
 *             `pending/installed`.
 *
 * A power cut during commit is repaired by `recover` on the next start; one during the
 * pull by `cleanInterruptedPull` (pull.ts) at the next install.
 */
import { mkdir, readFile, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import {
  BUNDLE_DIRS,
  FormatError,
  OfflineOtaError,
  requiredApps,
  StatusCode,
  writeFileAtomic,
  type BundleSource,
  type BundleType,
  type TargetEntry,
  type TrustCommit,
  type ZipBundle,
} from '@offline-ota/format';
import {
  commitBlobs,
  loadTargetImages,
  missingApps,
  missingBlobs,
  stageBlobs,
  zipReadError,
  type StagedBlob,
} from './apps.js';
import { UpdateCallbacks } from './callbacks.js';
import { checkIn, selectTarget, skippedFailed } from './checkin.js';
import { mediaThenStore, type DeltaUse } from './delta.js';
import { assertNotDeferred } from './deferral.js';
import {
  deployCommit,
  loadState,
  makeBootedDefault,
  openDevice,
  recover,
  withLock,
  type Device,
  type DeviceOptions,
} from './device.js';
import { openMedia, recheckObjects, targetObjects, type TargetObjects } from './media.js';
import { AkliteError, isErrno, messageOf } from './errors.js';
import { removeTree } from './fsutil.js';
import { checkSpaceFor, isFull, isNoSpace, noSpaceError } from './space.js';
import { PullError, type ProgressPhase } from './ports.js';
import { beginPull, cleanInterruptedPull, type PullUndo } from './pull.js';
import { assertNotInProbation, settleProbation } from './probation.js';
import { isFailed, stateFile, writeState, type DeviceState } from './state.js';

export interface InstallOptions extends DeviceOptions {
  /** The bundle directory (`--src-dir`). */
  srcDir: string;
  /** Install this Target (by name) instead of the newest. */
  target?: string;
  /** Allow a downgrade. */
  force?: boolean;
}

export interface InstallResult {
  status:
    | typeof StatusCode.Ok
    | typeof StatusCode.InstallAppsNeedFinalization
    | typeof StatusCode.InstallNeedsRebootForBootFw
    | typeof StatusCode.InstallNeedsReboot;
  target: string;
  from: string | null;
  message: string;
}

export async function install(opts: InstallOptions): Promise<InstallResult> {
  const dev = await openDevice(opts);
  return withLock(dev, () => installLocked(watchCheckpoints(dev), opts));
}

/** Devices whose checkpoint port threw: see watchCheckpoints. */
const cutAtCheckpoint = new WeakSet<Device>();

/**
 * The device with its checkpoint port watched. A checkpoint port that throws stands for
 * the process dying there (the in-memory power-cut tests): nothing after it may run, not
 * even the undo of the commit phase, or the test would check a device no power cut leaves.
 */
function watchCheckpoints(dev: Device): Device {
  const watched: Device = {
    ...dev,
    ports: {
      ...dev.ports,
      checkpoint: (step) => {
        try {
          dev.ports.checkpoint(step);
        } catch (err) {
          cutAtCheckpoint.add(watched);
          throw err;
        }
      },
    },
  };
  return watched;
}

/** `install` for a caller that already holds the lock (the USB trigger, usb.ts). */
export async function installLocked(dev: Device, opts: InstallOptions): Promise<InstallResult> {
  const { state } = await loadState(dev);
  await recover(dev, state);
  // What a pull cut short by a power cut wrote (pull.ts); no record names it.
  await cleanInterruptedPull(dev);
  if (state.pending) {
    throw new AkliteError(
      'INSTALL_IN_PROGRESS',
      `Could not start a new update: the installation of ${state.pending.target.name} awaits its finalization; ` +
        (state.pending.kind === 'ostree'
          ? 'reboot the device and run `aklite-offline run`'
          : 'run `aklite-offline run`'),
    );
  }
  // Update control (docs/update-control.md): deferral refuses before anything is read or
  // written; probation once the Target is known (installing the one that runs is no change).
  await settleProbation(dev, state);
  assertNotDeferred(state, 'install');
  const cb = new UpdateCallbacks(dev, state);
  try {
    await cb.pre('check-for-update');
    const media = await openMedia(dev, opts.srcDir);
    try {
      return await installFrom(dev, state, cb, media, opts);
    } finally {
      // Closing what was read cannot undo what was installed: a stick pulled after its last
      // read (its close fails) does not turn a done install into a failure.
      await media.close().catch((err: unknown) => {
        dev.ports.progress(`Note: closing ${opts.srcDir} failed: ${messageOf(err)}`);
      });
    }
  } catch (err) {
    // The step in progress reports FAILED (nothing when no step is open).
    await cb.fail(err);
    throw err;
  }
}

async function installFrom(
  dev: Device,
  state: DeviceState,
  cb: UpdateCallbacks,
  media: BundleSource,
  opts: InstallOptions,
): Promise<InstallResult> {
  const ci = await checkIn(dev, state, media);
  let done = false;
  try {
    const sel = selectTarget(ci.result, state, opts.target, ci.refused);
    const cur = state.current;
    const from = cur?.name ?? null;
    // The automatic selection passes over Targets that failed here; say which, and how to retry.
    const passedOver =
      opts.target === undefined
        ? skippedFailed(ci.result, state, sel?.target ?? null)
            .map((f) => ` ${f.name} ${f.reason}; to try it again: install --target ${f.name}.`)
            .join('')
        : '';
    if (!sel) {
      await cb.post('OK');
      return {
        status: StatusCode.Ok,
        target: from ?? dev.booted.commit,
        from,
        message: `Nothing to install: every Target this bundle offers failed on this device, so it stays on ${from ?? dev.booted.commit}.${passedOver}`,
      };
    }
    const t = sel.target;
    await cb.post('OK', t.name);
    // An app of the current Target that the engine lost is restored (an apps-only install).
    const lost =
      cur && cur.name === t.name && !isFailed(state, t.name)
        ? await missingApps(dev.config, dev.ports.engine, cur)
        : [];
    if (lost.length > 0) dev.ports.progress(`Restoring app(s) ${lost.join(', ')} of ${t.name}`);
    if (cur && cur.name === t.name && !isFailed(state, t.name) && lost.length === 0) {
      return {
        status: StatusCode.Ok,
        target: t.name,
        from,
        message: `${t.name} is already installed and running; nothing to do.${passedOver}`,
      };
    }
    assertNotInProbation(dev, state);
    if (cur && t.version < cur.version && opts.force !== true) {
      throw new AkliteError(
        'DOWNGRADE',
        `Refused to downgrade from ${cur.name} (version ${cur.version}) to ${t.name} (version ${t.version}); ` +
          're-run the command with `--force` to force the downgrade',
      );
    }
    if ((await dev.ports.bootEnv.get('bootupgrade_available')) === '1') {
      return {
        status: StatusCode.InstallNeedsRebootForBootFw,
        target: t.name,
        from,
        message:
          'A boot firmware update is waiting for its confirming reboot (bootupgrade_available=1); nothing was installed. ' +
          'Reboot the device, then run the install again',
      };
    }
    if (isFailed(state, t.name))
      dev.ports.progress(
        `Note: ${t.name} failed before on this device; installing it again as requested`,
      );
    dev.ports.progress(sel.reason);
    const delta = ci.deltas.get(t.name);
    if (delta !== undefined)
      dev.ports.progress(
        `${t.name} is a delta: completing it from ${delta.base.name}, which this device holds`,
      );
    const status = await installTarget(dev, state, cb, t, media, ci.result.type, delta, () => {
      done = true;
      return ci.commit();
    });
    return {
      status,
      target: t.name,
      from,
      message:
        status === StatusCode.InstallNeedsReboot
          ? `Installed ${t.name}. Reboot the device and run \`aklite-offline run\` to apply the installation and start the updated apps`
          : `Installed the apps of ${t.name}. Run \`aklite-offline run\` to start the updated apps (no reboot needed)`,
    };
  } finally {
    if (!done) await ci.discard();
  }
}

/** Bytes in use on the file system holding `dir`, or undefined when it cannot be asked. */
async function usedBytes(dir: string): Promise<number | undefined> {
  const s = await statfs(dir).catch(() => undefined);
  return s === undefined ? undefined : (s.blocks - s.bfree) * s.bsize;
}

/** How often the growth of a repo's file system is sampled during an OSTree pull. */
const GROWTH_INTERVAL_MS = 500;

/**
 * Runs `work` (an OSTree pull: a child process that reports nothing) while reporting, as
 * its progress, how much the file system holding `dir` has grown since it started: one
 * statfs per sample instead of a walk of the repo. An estimate (other writers count too),
 * never decreasing and, when `total` is given, capped at it.
 */
async function withGrowthProgress<T>(
  dev: Device,
  dir: string,
  phase: ProgressPhase,
  total: number | undefined,
  work: () => Promise<T>,
): Promise<T> {
  const report = dev.ports.byteProgress;
  const used = async () => {
    const s = await statfs(dir);
    return (s.blocks - s.bfree) * s.bsize;
  };
  const base = await used().catch(() => undefined);
  if (base === undefined) return work();
  let done = 0;
  let running = true;
  const sample = async () => {
    const grown = Math.max(0, (await used()) - base);
    done = Math.max(done, total === undefined ? grown : Math.min(grown, total));
    if (running) report({ phase, done, total });
  };
  report({ phase, done, total });
  const timer = setInterval(() => void sample().catch(() => undefined), GROWTH_INTERVAL_MS);
  try {
    const result = await work();
    if (total === undefined) await sample().catch(() => undefined);
    else report({ phase, done: total, total });
    return result;
  } finally {
    running = false;
    clearInterval(timer);
  }
}

/**
 * Refuses (NO_SPACE, 60) when the sysroot filesystem would be used above the watermark
 * after writing `required` bytes (space.ts: root counts the reserved blocks as free).
 */
async function checkSpace(dev: Device, required: number): Promise<void> {
  const wm = dev.config.storageWatermark;
  const { ok, percent: pct } = checkSpaceFor(await statfs(dev.sysroot), required, wm);
  if (!ok) {
    throw new AkliteError(
      'NO_SPACE',
      `Not enough free space on ${dev.sysroot}: the update needs ${required} bytes, which would fill the filesystem to ${pct}%, ` +
        `above [pacman] storage_watermark = ${wm}%; free space on the device and try again`,
    );
  }
}

/** Bytes a file system grows by when `bytes` are written as files of `sizes` (whole blocks). */
function allocated(sizes: Iterable<number>, blockSize: number): number {
  let n = 0;
  for (const s of sizes) n += Math.ceil(s / blockSize) * blockSize;
  return n;
}

/** The sizes on the media of the objects `rels` of `objects`. */
function* objectSizes(objects: TargetObjects, rels: readonly string[]): Iterable<number> {
  for (const rel of rels) yield objects.sizes.get(rel) ?? 0;
}

/**
 * Writes the objects `rels` of a single-file bundle's `ostree_repo/` into `dir` (an archive
 * repo made here): only objects the commit's walk named, each checked for size and CRC on
 * the way; nothing else of the archive is read or written.
 */
async function extractTargetObjects(
  dev: Device,
  zip: ZipBundle,
  dir: string,
  rels: readonly string[],
): Promise<void> {
  await dev.ports.ostree.initRepo(dir, 'archive');
  try {
    await zip.extractPrefix(`${BUNDLE_DIRS.ostree}/`, dir, {
      only: new Set(rels.map((rel) => `${BUNDLE_DIRS.ostree}/${rel}`)),
      onProgress: (p) =>
        dev.ports.byteProgress({ phase: 'extract-repo', done: p.done, total: p.total }),
    });
  } catch (err) {
    if (isNoSpace(err)) throw err;
    throw zipReadError(err, 'the OSTree repo', zip.path);
  }
}

/**
 * The one verified pull: `ostree pull-local --untrusted` of the Target's commit from `src`
 * into the sysroot repo. OSTree re-hashes every object it imports; what the device's repo
 * already holds (for a delta, its base) is not fetched. The pull writes no ref.
 */
async function pullInto(
  dev: Device,
  t: TargetEntry,
  src: string,
  fromMedia: string,
  objects: TargetObjects,
  lackingAllocated: number,
): Promise<void> {
  const repo = dev.sysrootRepo;
  const usedBefore = await usedBytes(repo);
  try {
    await withGrowthProgress(dev, repo, 'pull-ostree', lackingAllocated, () =>
      dev.ports.ostree.pullLocal(repo, src, t.commit, true),
    );
  } catch (err) {
    if (!(err instanceof PullError)) throw err;
    // What the pull still needed: the objects counted, less what it wrote (at least a block).
    const grown = Math.max(0, ((await usedBytes(repo)) ?? 0) - (usedBefore ?? 0));
    const remaining = Math.max(4096, lackingAllocated - grown);
    throw await pullFailure(err, src, fromMedia, objects, repo, remaining);
  }
}

/**
 * The error for a failed pull of the Target from `src` into `dest`, decided without
 * reading ostree's messages (docs/architecture.md §Field failures): the objects the pull
 * read from `src` (those the device lacked) are read again (media.ts `recheckObjects`):
 * gone → 50, corrupt → 70; a destination file system left with less than the pull still
 * needed (or than `isFull`'s floor) → 60; otherwise the pull's own re-hash refused an
 * object whose bytes are readable and well-formed → 70.
 */
async function pullFailure(
  err: PullError,
  src: string,
  fromMedia: string,
  objects: TargetObjects,
  dest: string,
  remaining: number,
): Promise<AkliteError> {
  const check = await recheckObjects(src, objects, objects.lacking);
  if (check.verdict === 'unreadable') {
    return new AkliteError(
      'DOWNLOAD_FAILED',
      `${err.message}; reading it again failed (${check.detail}): the media went away or cannot be read; ` +
        `check the media (${fromMedia}) and try again`,
      { cause: err },
    );
  }
  // Full: less left than the pull still needed, or than the floor of a full file system
  // (the objects still needed can be few: a pull that fails on a full disk frees its own).
  if (check.verdict === 'readable' && ((await isFull(dest, remaining)) || (await isFull(dest))))
    return noSpaceError(dest, err, remaining);
  return new AkliteError(
    'VERIFICATION_FAILED',
    `${err.message}` +
      (check.detail === '' ? '' : ` (${check.detail})`) +
      '; the OSTree repo on the media is corrupted or tampered with: do not use this media',
    { cause: err },
  );
}

/**
 * What install changed of the device's records, to put back when a step of the commit
 * phase fails (a full disk while deploying): the bytes of `state.json` (or its absence),
 * the boot counter variables, whether a deployment was made, the trust store swap.
 */
interface Undo {
  stateBytes: Buffer | undefined;
  bootEnv: Record<string, string> | undefined;
  deployed: boolean;
  sentinel: boolean;
  trust: TrustCommit | undefined;
}

/**
 * Bytes held in `<storage>/.undo-reserve` while the records are written, and released
 * before an undo, so that undoing a deploy (which writes boot loader entries) has room on
 * a file system that filled meanwhile. Removed at the next install after a power cut.
 */
const UNDO_RESERVE = 4 * 1024 * 1024;
const reservePath = (dev: Device) => join(dev.config.storageDir, '.undo-reserve');

async function snapshotRecords(dev: Device): Promise<Undo> {
  const stateBytes = await readFile(stateFile(dev.config.storageDir)).catch((err: unknown) => {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  });
  return { stateBytes, bootEnv: undefined, deployed: false, sentinel: false, trust: undefined };
}

/** Puts the records back as `snapshotRecords` found them (reverse order of the writes). */
async function undoRecords(dev: Device, t: TargetEntry, u: Undo): Promise<void> {
  const { ports } = dev;
  if (u.deployed) await makeBootedDefault(dev, t.commit);
  if (u.bootEnv !== undefined) await ports.bootEnv.set(u.bootEnv);
  if (u.sentinel) await ports.sentinel.remove();
  const file = stateFile(dev.config.storageDir);
  if (u.stateBytes === undefined) await rm(file, { force: true });
  else await writeFileAtomic(file, u.stateBytes);
  await u.trust?.revert();
}

/** The U-Boot variables install sets, as they are now (unset ones as ''). */
async function bootCounters(dev: Device): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of ['upgrade_available', 'bootcount'])
    out[name] = (await dev.ports.bootEnv.get(name)) ?? '';
  return out;
}

async function installTarget(
  dev: Device,
  state: DeviceState,
  cb: UpdateCallbacks,
  t: TargetEntry,
  media: BundleSource,
  bundleType: BundleType,
  delta: DeltaUse | undefined,
  commitTuf: () => Promise<TrustCommit>,
): Promise<InstallResult['status']> {
  try {
    return await installTargetSteps(dev, state, cb, t, media, bundleType, delta, commitTuf);
  } catch (err) {
    const e = await noSpaceOr(dev, err);
    if (e instanceof FormatError && e.code === 'MEDIA_UNREADABLE')
      throw new AkliteError('DOWNLOAD_FAILED', e.message, { cause: e, file: e.file });
    throw e;
  }
}

/**
 * `err` as NO_SPACE (60) when it is one: a system code along its chain, or a device tool
 * (ostree init, deploy; the engine) that reports no system code, or a system error of
 * another code, that failed on a full file system, taken to have failed for want of space. Decided before anything is undone, since
 * an undo frees space.
 */
async function noSpaceOr(dev: Device, err: unknown): Promise<unknown> {
  if (err instanceof AkliteError && err.code === 'NO_SPACE') return err;
  // A system error without a code of ours on a full file system is taken to be caused by
  // it too: a recursive mkdir there fails with ENOENT, not ENOSPC.
  const toolFailed =
    (err instanceof AkliteError && (err.code === 'INSTALL_FAILED' || err.code === 'PULL_FAILED')) ||
    !(err instanceof OfflineOtaError);
  if (isNoSpace(err) || (toolFailed && (await isFull(dev.config.storageDir))))
    return noSpaceError(dev.config.storageDir, err);
  return err;
}

async function installTargetSteps(
  dev: Device,
  state: DeviceState,
  cb: UpdateCallbacks,
  t: TargetEntry,
  media: BundleSource,
  bundleType: BundleType,
  delta: DeltaUse | undefined,
  commitTuf: () => Promise<TrustCommit>,
): Promise<InstallResult['status']> {
  const { ports, config } = dev;
  const kind: 'ostree' | 'apps' = t.commit === dev.booted.commit ? 'apps' : 'ostree';
  const mediaRepo = join(media.path, BUNDLE_DIRS.ostree);
  const uris =
    config.packageManager === 'ostree+compose_apps'
      ? Object.values(requiredApps(t, config.composeApps))
      : [];
  const staging = join(config.storageDir, '.staging');
  await removeTree(staging);
  await rm(reservePath(dev), { force: true });

  const needOstree =
    kind === 'ostree' && !(await ports.ostree.hasCommit(dev.sysrootRepo, t.commit));
  // A delta's app blobs that the bundle leaves out are in the device's store (delta.ts).
  const blobs = await missingBlobs(
    media,
    config.appStore,
    uris,
    delta === undefined ? undefined : mediaThenStore(media, config.appStore),
  );
  const blockSize = await statfs(config.storageDir).then(
    (s) => s.bsize,
    () => 4096,
  );
  // Exactly the Target's objects (its commit walked on the media, every metadata object
  // checked against its checksum), and of them those the device's repo lacks: nothing else
  // of the media is counted or copied.
  const objects = needOstree
    ? await targetObjects(media, t.commit, dev.sysrootRepo, delta !== undefined)
    : undefined;
  const lackingAllocated =
    objects === undefined ? 0 : allocated(objectSizes(objects, objects.lacking), blockSize);
  // What is written: each object the device lacks once into its repo, and, for a
  // single-file bundle, once more into the scratch copy the pull reads (both exist at once
  // until the pull ends); the app blobs the store lacks.
  const required =
    (media.zip !== undefined ? 2 : 1) * lackingAllocated +
    allocated(
      blobs.map((b) => b.size ?? 0),
      blockSize,
    );
  await checkSpace(dev, required);
  ports.checkpoint('space-checked');

  // Stage: the objects go into the sysroot repo, which no record or ref names yet; the
  // blobs into a scratch dir. Any failure removes what this install added.
  await cb.pre('download');
  let staged: StagedBlob[];
  let pull: PullUndo | undefined;
  // A failure before the records: what the install added goes (a cut stands for the
  // process dying: the next start cleans up), and the error is classified first.
  const undoContent = async (err: unknown): Promise<never> => {
    if (cutAtCheckpoint.has(dev)) throw err;
    const e = await noSpaceOr(dev, err);
    await removeTree(staging);
    await pull?.undo();
    throw e;
  };
  try {
    // The scratch dir first, on its own: on a full file system this is ENOSPC (a recursive
    // mkdir of a path below it would say ENOENT).
    await mkdir(staging);
    if (objects !== undefined) {
      ports.progress(
        `Pulling OSTree commit ${t.commit} from ${media.zip !== undefined ? media.path : mediaRepo} into ${dev.sysrootRepo} (every object re-hashed)`,
      );
      // A single-file bundle: the objects the device lacks are extracted into the scratch
      // area (entries checked for size and CRC), and pulled from there.
      const src = media.zip === undefined ? mediaRepo : join(staging, 'media-repo');
      if (media.zip !== undefined) {
        await mkdir(src, { recursive: true });
        await extractTargetObjects(dev, media.zip, src, objects.lacking);
      }
      pull = await beginPull(dev, t.commit, objects.lacking);
      await pullInto(dev, t, src, media.path, objects, lackingAllocated);
      if (media.zip !== undefined) await removeTree(src);
    }
    ports.checkpoint('ostree-staged');
    ports.progress(`Copying ${blobs.length} app blob(s) into ${config.appStore}`);
    staged = await stageBlobs(media, join(staging, 'blobs'), blobs, (done, total) =>
      ports.byteProgress({ phase: 'copy-apps', done, total }),
    );
    ports.checkpoint('apps-staged');
  } catch (err) {
    return undoContent(err);
  }

  await cb.post('OK');
  await cb.pre('install');
  // Commit, first the content: the blobs into the store. No record says anything of the
  // update yet, so a failure here leaves the device as it was (the pull is undone; blobs
  // are content-addressed and harmless).
  try {
    ports.checkpoint('ostree-pulled');
    await commitBlobs(config.appStore, staged);
    ports.checkpoint('apps-copied');
  } catch (err) {
    return undoContent(
      isNoSpace(err) || err instanceof AkliteError
        ? err
        : new AkliteError(
            'INSTALL_FAILED',
            `writing the update into the device failed: ${messageOf(err)}`,
            { cause: err },
          ),
    );
  } finally {
    await removeTree(staging);
  }

  // The images go into the container engine now (content, like the objects and blobs above),
  // so that `run` only starts containers.
  try {
    await loadTargetImages(config, ports, t);
  } catch (err) {
    return undoContent(err);
  }
  // The objects are the device's to keep from here: the records that name them follow.
  await pull?.finish();

  // Then the records: trusted metadata, state, deployment, boot counters. A failure of any
  // step puts back what the earlier ones wrote, so the device is left as it was; a power
  // cut is repaired by `recover` and the trust store's recovery on the next start.
  const undo = await snapshotRecords(dev);
  // Room for undoing: released before the undo, whatever filled the file system meanwhile.
  const reserve = reservePath(dev);
  await writeFileAtomic(reserve, Buffer.alloc(UNDO_RESERVE));
  try {
    const status = await commitRecords(dev, state, cb, t, kind, bundleType, commitTuf, undo);
    await rm(reserve, { force: true });
    await undo.trust?.finish();
    return status;
  } catch (err) {
    if (cutAtCheckpoint.has(dev)) throw err;
    const full = isNoSpace(err) || (await isFull(dev.sysroot));
    await rm(reserve, { force: true }).catch(() => undefined);
    try {
      await undoRecords(dev, t, undo);
    } catch (undoErr) {
      throw new AkliteError(
        'INSTALL_FAILED',
        `${messageOf(err)}; undoing the partial installation also failed: ${messageOf(undoErr)}. ` +
          'Run the install again: the next start completes or undoes it',
        { cause: err },
      );
    }
    if (full) throw await noSpaceError(dev.sysroot, err);
    throw err;
  }
}

async function commitRecords(
  dev: Device,
  state: DeviceState,
  cb: UpdateCallbacks,
  t: TargetEntry,
  kind: 'ostree' | 'apps',
  bundleType: BundleType,
  commitTuf: () => Promise<TrustCommit>,
  undo: Undo,
): Promise<InstallResult['status']> {
  const { ports, config } = dev;
  undo.trust = await commitTuf();
  // An unset device takes the type of its first installed bundle and keeps it.
  if (config.deviceType === undefined && state.deviceType === undefined)
    state.deviceType = bundleType;
  ports.checkpoint('tuf-committed');

  const startedAt = ports.clock().toISOString();
  if (kind === 'apps') {
    state.pending = { target: t, kind, phase: 'installed', rollback: false, startedAt };
    await writeState(config.storageDir, state);
    ports.checkpoint('state-pending');
    await cb.post('NEEDS_COMPLETION');
    return StatusCode.InstallAppsNeedFinalization;
  }
  state.pending = { target: t, kind, phase: 'deploying', rollback: false, startedAt };
  await writeState(config.storageDir, state);
  ports.checkpoint('state-deploying');
  undo.sentinel = true;
  await ports.sentinel.create();
  ports.progress(`Deploying ${t.commit} (os ${dev.booted.os})`);
  undo.deployed = true;
  await deployCommit(dev, t.commit);
  ports.checkpoint('deployed');
  undo.bootEnv = await bootCounters(dev);
  await ports.bootEnv.set({ upgrade_available: 1, bootcount: 0 });
  ports.checkpoint('bootenv-set');
  state.pending.phase = 'installed';
  await writeState(config.storageDir, state);
  ports.checkpoint('installed');
  await cb.post('NEEDS_COMPLETION');
  return StatusCode.InstallNeedsReboot;
}
