/**
 * `aklite-offline install` (reference §3.6–3.7): check-in, selection, then
 *
 *   stage     ostree pull-local --untrusted into a scratch repo; app blobs copied and
 *             hashed into a scratch dir. Any failure removes the scratch: device unchanged.
 *   commit    objects into the sysroot repo, blobs into the store, trusted TUF metadata,
 *             state `pending/deploying`, reboot sentinel, ostree admin deploy,
 *             fw_setenv upgrade_available=1 bootcount=0, state `pending/installed`.
 *
 * A power cut during commit is repaired by `recover` on the next start.
 */
import { lstat, mkdir, readdir, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import {
  BUNDLE_DIRS,
  requiredApps,
  StatusCode,
  type BundleSource,
  type BundleType,
  type TargetEntry,
  type ZipBundle,
} from '@offline-ota/format';
import { commitBlobs, missingBlobs, stageBlobs, zipReadError, type StagedBlob } from './apps.js';
import { UpdateCallbacks } from './callbacks.js';
import { checkIn, selectTarget, skippedFailed } from './checkin.js';
import { assertNotDeferred } from './deferral.js';
import {
  deployCommit,
  loadState,
  openDevice,
  recover,
  withLock,
  type Device,
  type DeviceOptions,
} from './device.js';
import { openMedia } from './media.js';
import { AkliteError, messageOf } from './errors.js';
import { removeTree } from './fsutil.js';
import { checkSpaceFor } from './space.js';
import { PullError, type ProgressPhase } from './ports.js';
import { assertNotInProbation, settleProbation } from './probation.js';
import { isFailed, writeState, type DeviceState } from './state.js';

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
  return withLock(dev, () => installLocked(dev, opts));
}

async function installLocked(dev: Device, opts: InstallOptions): Promise<InstallResult> {
  const { state } = await loadState(dev);
  await recover(dev, state);
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
      await media.close();
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
    const sel = selectTarget(ci.result, state, opts.target);
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
    if (cur && cur.name === t.name && !isFailed(state, t.name)) {
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
    const status = await installTarget(dev, state, cb, t, media, ci.result.type, () => {
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

async function extractMediaRepo(dev: Device, zip: ZipBundle, dir: string): Promise<void> {
  try {
    await zip.extractPrefix(`${BUNDLE_DIRS.ostree}/`, dir, {
      onProgress: (p) =>
        dev.ports.byteProgress({ phase: 'extract-repo', done: p.done, total: p.total }),
    });
  } catch (err) {
    throw zipReadError(err, 'the OSTree repo', zip.path);
  }
}

interface ObjectsSize {
  /** Bytes of the bundle's OSTree objects (an estimate of what a pull writes). */
  bytes: number;
  /** The same, each object rounded up to whole blocks of `blockSize` (what a file system grows by). */
  allocated: number;
}

/** The size of the bundle's OSTree objects. */
async function ostreeObjectsSize(media: BundleSource, blockSize: number): Promise<ObjectsSize> {
  const size: ObjectsSize = { bytes: 0, allocated: 0 };
  const add = (n: number) => {
    size.bytes += n;
    size.allocated += Math.ceil(n / blockSize) * blockSize;
  };
  if (media.zip !== undefined) {
    const prefix = `${BUNDLE_DIRS.ostree}/objects/`;
    for (const e of media.zip.entries()) if (e.name.startsWith(prefix)) add(e.size);
    return size;
  }
  const objects = join(media.path, BUNDLE_DIRS.ostree, 'objects');
  let dirs: string[] = [];
  try {
    dirs = await readdir(objects);
  } catch {
    return size;
  }
  for (const d of dirs) {
    if (!/^[0-9a-f]{2}$/.test(d)) continue;
    for (const f of await readdir(join(objects, d)).catch(() => [] as string[])) {
      const st = await lstat(join(objects, d, f)).catch(() => undefined);
      if (st?.isFile()) add(st.size);
    }
  }
  return size;
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

async function installTarget(
  dev: Device,
  state: DeviceState,
  cb: UpdateCallbacks,
  t: TargetEntry,
  media: BundleSource,
  bundleType: BundleType,
  commitTuf: () => Promise<void>,
): Promise<InstallResult['status']> {
  const { ports, config } = dev;
  const kind: 'ostree' | 'apps' = t.commit === dev.booted.commit ? 'apps' : 'ostree';
  let mediaRepo = join(media.path, BUNDLE_DIRS.ostree);
  const uris =
    config.packageManager === 'ostree+compose_apps'
      ? Object.values(requiredApps(t, config.composeApps))
      : [];
  const staging = join(config.storageDir, '.staging');
  await removeTree(staging);

  const needOstree =
    kind === 'ostree' && !(await ports.ostree.hasCommit(dev.sysrootRepo, t.commit));
  const blobs = await missingBlobs(media, config.appStore, uris);
  const blockSize = await statfs(config.storageDir).then(
    (s) => s.bsize,
    () => 4096,
  );
  const objects = needOstree
    ? await ostreeObjectsSize(media, blockSize)
    : { bytes: 0, allocated: 0 };
  const required = 2 * objects.bytes + blobs.reduce((n, b) => n + (b.size ?? 0), 0);
  await checkSpace(dev, required);
  ports.checkpoint('space-checked');

  // Stage: nothing outside the scratch directory changes.
  await cb.pre('download');
  let staged: StagedBlob[];
  const stagingRepo = join(staging, 'repo');
  try {
    if (needOstree) {
      ports.progress(
        `Pulling OSTree commit ${t.commit} from ${media.zip !== undefined ? media.path : mediaRepo} (every object re-hashed)`,
      );
      if (media.zip !== undefined) {
        // A single-file bundle: its repo is extracted into the scratch area (entries
        // checked for size and CRC), then pulled from there with every object re-hashed.
        mediaRepo = join(staging, 'media-repo');
        await mkdir(mediaRepo, { recursive: true });
        await extractMediaRepo(dev, media.zip, mediaRepo);
      }
      await mkdir(stagingRepo, { recursive: true });
      await ports.ostree.initRepo(stagingRepo, 'archive');
      try {
        await withGrowthProgress(dev, stagingRepo, 'pull-ostree', objects.allocated, () =>
          ports.ostree.pullLocal(stagingRepo, mediaRepo, t.commit, true),
        );
      } catch (err) {
        if (err instanceof PullError) {
          throw new AkliteError(
            err.kind === 'corrupt' ? 'VERIFICATION_FAILED' : 'DOWNLOAD_FAILED',
            err.kind === 'corrupt'
              ? `${err.message}; the OSTree repo on the media is corrupted or tampered with: do not use this media`
              : `${err.message}; check the media (${mediaRepo}) and try again`,
            { cause: err },
          );
        }
        throw err;
      }
      ports.checkpoint('ostree-staged');
    }
    ports.progress(`Copying ${blobs.length} app blob(s) into ${config.appStore}`);
    staged = await stageBlobs(media, join(staging, 'blobs'), blobs, (done, total) =>
      ports.byteProgress({ phase: 'copy-apps', done, total }),
    );
    ports.checkpoint('apps-staged');
  } catch (err) {
    await removeTree(staging);
    throw err;
  }

  await cb.post('OK');
  await cb.pre('install');
  // Commit.
  try {
    if (needOstree) {
      ports.progress(`Writing the OSTree objects into ${dev.sysrootRepo}`);
      await withGrowthProgress(dev, dev.sysrootRepo, 'write-ostree', undefined, () =>
        ports.ostree.pullLocal(dev.sysrootRepo, stagingRepo, t.commit, false),
      );
    }
    ports.checkpoint('ostree-pulled');
    await commitBlobs(config.appStore, staged);
    ports.checkpoint('apps-copied');
  } catch (err) {
    if (err instanceof AkliteError && !(err instanceof PullError)) throw err;
    throw new AkliteError(
      'INSTALL_FAILED',
      `writing the update into the device failed: ${messageOf(err)}`,
      { cause: err },
    );
  } finally {
    await removeTree(staging);
  }
  await commitTuf();
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
  await ports.sentinel.create();
  ports.progress(`Deploying ${t.commit} (os ${dev.booted.os})`);
  await deployCommit(dev, t.commit);
  ports.checkpoint('deployed');
  await ports.bootEnv.set({ upgrade_available: 1, bootcount: 0 });
  ports.checkpoint('bootenv-set');
  state.pending.phase = 'installed';
  await writeState(config.storageDir, state);
  ports.checkpoint('installed');
  await cb.post('NEEDS_COMPLETION');
  return StatusCode.InstallNeedsReboot;
}
