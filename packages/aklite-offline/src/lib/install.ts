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
import { lstat, mkdir, readdir, rm, statfs } from 'node:fs/promises';
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
import { UpdateCallbacks, updateCallbacks } from './callbacks.js';
import { checkIn, selectTarget } from './checkin.js';
import { assertNotDeferred, assertNotInProbation, settleProbation } from './control.js';
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
import { PullError } from './ports.js';
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
  return withLock(dev, () =>
    installLocked(dev, opts).catch(async (err: unknown) => {
      await updateCallbacks(dev).fail(err);
      throw err;
    }),
  );
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
  // Update control (docs/update-control.md): refused before anything is read or written.
  await settleProbation(dev, state);
  assertNotDeferred(state, 'install');
  assertNotInProbation(dev, state);
  await new UpdateCallbacks(dev, state).pre('check-for-update');
  const media = await openMedia(dev, opts.srcDir);
  try {
    return await installFrom(dev, state, media, opts);
  } finally {
    await media.close();
  }
}

async function installFrom(
  dev: Device,
  state: DeviceState,
  media: BundleSource,
  opts: InstallOptions,
): Promise<InstallResult> {
  const ci = await checkIn(dev, state, media);
  let done = false;
  try {
    const sel = selectTarget(ci.result, state.current, opts.target);
    const t = sel.target;
    await updateCallbacks(dev).post('OK', t.name);
    const cur = state.current;
    const from = cur?.name ?? null;
    if (cur && cur.name === t.name && !isFailed(state, t.name)) {
      return {
        status: StatusCode.Ok,
        target: t.name,
        from,
        message: `${t.name} is already installed and running; nothing to do`,
      };
    }
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
    const status = await installTarget(dev, state, t, media, ci.result.type, () => {
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

async function extractMediaRepo(zip: ZipBundle, dir: string): Promise<void> {
  try {
    await zip.extractPrefix(`${BUNDLE_DIRS.ostree}/`, dir);
  } catch (err) {
    throw zipReadError(err, 'the OSTree repo', zip.path);
  }
}

/** Bytes of the bundle's OSTree objects (an estimate of what the pull writes). */
async function ostreeObjectsSize(media: BundleSource): Promise<number> {
  if (media.zip !== undefined) {
    return media.zip
      .entries()
      .filter((e) => e.name.startsWith(`${BUNDLE_DIRS.ostree}/objects/`))
      .reduce((n, e) => n + e.size, 0);
  }
  const objects = join(media.path, BUNDLE_DIRS.ostree, 'objects');
  let total = 0;
  let dirs: string[] = [];
  try {
    dirs = await readdir(objects);
  } catch {
    return 0;
  }
  for (const d of dirs) {
    if (!/^[0-9a-f]{2}$/.test(d)) continue;
    for (const f of await readdir(join(objects, d)).catch(() => [] as string[])) {
      const st = await lstat(join(objects, d, f)).catch(() => undefined);
      if (st?.isFile()) total += st.size;
    }
  }
  return total;
}

/**
 * Refuses (NO_SPACE, 60) when the sysroot filesystem would be used above the watermark
 * after writing `required` bytes.
 */
async function checkSpace(dev: Device, required: number): Promise<void> {
  const fs = await statfs(dev.sysroot);
  const total = fs.blocks * fs.bsize;
  const free = fs.bavail * fs.bsize;
  const usedAfter = total - free + required;
  const wm = dev.config.storageWatermark;
  if (total <= 0 || usedAfter * 100 > wm * total) {
    const pct = total > 0 ? Math.ceil((usedAfter * 100) / total) : 100;
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
  await rm(staging, { recursive: true, force: true });

  const needOstree =
    kind === 'ostree' && !(await ports.ostree.hasCommit(dev.sysrootRepo, t.commit));
  const blobs = await missingBlobs(media, config.appStore, uris);
  const required =
    (needOstree ? 2 * (await ostreeObjectsSize(media)) : 0) +
    blobs.reduce((n, b) => n + (b.size ?? 0), 0);
  await checkSpace(dev, required);
  ports.checkpoint('space-checked');

  // Stage: nothing outside the scratch directory changes.
  await updateCallbacks(dev).pre('download');
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
        await extractMediaRepo(media.zip, mediaRepo);
      }
      await mkdir(stagingRepo, { recursive: true });
      await ports.ostree.initRepo(stagingRepo, 'archive');
      try {
        await ports.ostree.pullLocal(stagingRepo, mediaRepo, t.commit, true);
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
    staged = await stageBlobs(media, join(staging, 'blobs'), blobs);
    ports.checkpoint('apps-staged');
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  }

  await updateCallbacks(dev).post('OK');
  await updateCallbacks(dev).pre('install');
  // Commit.
  try {
    if (needOstree) await ports.ostree.pullLocal(dev.sysrootRepo, stagingRepo, t.commit, false);
    ports.checkpoint('ostree-pulled');
    await commitBlobs(config.appStore, staged);
    ports.checkpoint('apps-copied');
  } catch (err) {
    if (err instanceof AkliteError) throw err;
    throw new AkliteError(
      'INSTALL_FAILED',
      `writing the update into the device failed: ${messageOf(err)}`,
      { cause: err },
    );
  } finally {
    await rm(staging, { recursive: true, force: true });
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
    await updateCallbacks(dev).post('NEEDS_COMPLETION');
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
  await updateCallbacks(dev).post('NEEDS_COMPLETION');
  return StatusCode.InstallNeedsReboot;
}
