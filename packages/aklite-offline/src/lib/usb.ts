/**
 * The USB trigger (issue 10 §3): `aklite-offline usb <device>`, which the udev rule and the
 * `aklite-offline-usb@.service` template unit (`systemd/` of this package) start when
 * removable media is inserted. Holding the device lock from start to end (one run at a
 * time, also against a technician's own commands), it
 *
 *   mount    runs `[usb] mount_command` (default: the kernel's read-only mount) on
 *            `[usb] mount_dir`, which must be empty and is a mount point afterwards;
 *   find     the one bundle at the stick's top level (`scanStick`, `pickBundle`): a
 *            directory holding `tuf/`, a `.zip` file, or the stick itself; what desktop
 *            systems leave on FAT/exFAT sticks (`isStray`) is ignored;
 *   check    the check-in of `check` (`checkLocked`): nothing on the device changes;
 *   install  only with `[usb] auto_install = true`, and only when check selects a Target
 *            (`installLocked`);
 *   unmount  runs `[usb] unmount_command` whatever happened, and removes the directories
 *            the mount step created.
 *
 * It never reboots: an install that needs one ends with 100, as `install` does. The stick
 * being pulled mid-install is a media read failure (50) of the staging step, which leaves
 * the device unchanged; the next run installs from the start.
 */
import { lstat, mkdir, readdir, rmdir, stat } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import {
  BUNDLE_DIRS,
  describe,
  ExecError,
  execCapture,
  StatusCode,
  tailLines,
  type StatusValue,
} from '@offline-ota/format';
import { openDevice, withLock, type Device, type DeviceOptions } from './device.js';
import { AkliteError, messageOf } from './errors.js';
import { cannotRun } from './exec.js';
import { installLocked, type InstallResult } from './install.js';
import { checkLocked, type CheckResult } from './query.js';

/** A mount or unmount command still running after this long is killed. */
export const USB_COMMAND_TIMEOUT_MS = 120_000;
/** How often a trigger that waits for the lock tries again. */
const LOCK_RETRY_MS = 1000;

/**
 * What desktop systems leave at the top of FAT/exFAT sticks (compared ignoring case, as
 * FAT does): macOS's Spotlight index, trash, file-system event log, Finder data and
 * temporary items; Windows's volume information and recycle bin. Besides these, every
 * macOS AppleDouble file (`._<name>`) and Linux desktops' `.Trash-<uid>` are ignored.
 */
export const STRAY_NAMES: readonly string[] = [
  '.Spotlight-V100',
  '.Trashes',
  '.fseventsd',
  '.TemporaryItems',
  '.DS_Store',
  '.apdisk',
  'System Volume Information',
  '$RECYCLE.BIN',
];
const STRAY_FOLDED = new Set(STRAY_NAMES.map((n) => n.toLowerCase()));

/** Whether a top-level name is one a desktop system left on the stick. */
export function isStray(name: string): boolean {
  return (
    name.startsWith('._') || /^\.Trash-[0-9]+$/.test(name) || STRAY_FOLDED.has(name.toLowerCase())
  );
}

/**
 * A single-file bundle's name: `.zip`, or `.zip.<ext>` for one wrapped for a device's
 * `[pacman] security_unpack` (e.g. `bundle.zip.gpg`); any case (FAT short names are upper).
 */
export const SINGLE_FILE_RE = /\.zip(\.[a-z0-9]{1,16})?$/i;

export interface FoundBundle {
  /** Its name at the stick's top level; `.` when the stick itself is the bundle. */
  name: string;
  path: string;
  kind: 'dir' | 'zip';
}

export interface StickContents {
  /** Every bundle at the top level, by name. */
  bundles: FoundBundle[];
  /** Names skipped as desktop leftovers (`isStray`), by name. */
  ignored: string[];
  /** Everything else at the top level that is not a bundle (symbolic links included), by name. */
  other: string[];
}

const isDir = async (path: string): Promise<boolean> =>
  (await lstat(path).catch(() => undefined))?.isDirectory() === true;

/**
 * Reads the top level of a mounted stick. A bundle is a directory holding `tuf/`, a file
 * named like {@link SINGLE_FILE_RE}, or the stick itself when `tuf/` is at its top.
 * Symbolic links are never followed (they count as `other`).
 */
export async function scanStick(dir: string): Promise<StickContents> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw new AkliteError(
      'DOWNLOAD_FAILED',
      `cannot read the stick mounted on ${dir}: ${messageOf(err)}; reseat it and try again`,
      { cause: err, file: dir },
    );
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const out: StickContents = { bundles: [], ignored: [], other: [] };
  const rootIsBundle = entries.some((e) => e.name === BUNDLE_DIRS.tuf && e.isDirectory());
  if (rootIsBundle) out.bundles.push({ name: '.', path: dir, kind: 'dir' });
  const parts = new Set<string>(Object.values(BUNDLE_DIRS));
  for (const e of entries) {
    const path = join(dir, e.name);
    if (isStray(e.name)) out.ignored.push(e.name);
    else if (rootIsBundle && parts.has(e.name)) continue;
    else if (e.isDirectory() && (await isDir(join(path, BUNDLE_DIRS.tuf))))
      out.bundles.push({ name: e.name, path, kind: 'dir' });
    else if (e.isFile() && SINGLE_FILE_RE.test(e.name))
      out.bundles.push({ name: e.name, path, kind: 'zip' });
    else out.other.push(e.name);
  }
  return out;
}

const LISTED = 10;
const listed = (names: readonly string[]): string =>
  names.length === 0
    ? 'nothing'
    : names.slice(0, LISTED).join(', ') +
      (names.length > LISTED ? ` and ${names.length - LISTED} more` : '');

const described = (b: FoundBundle): string =>
  b.name === '.'
    ? 'the stick itself (tuf/ at its top level)'
    : `${b.name}${b.kind === 'dir' ? '/ (a bundle directory)' : ' (a single-file bundle)'}`;

/** The one bundle on the stick; NO_BUNDLE (14) or MANY_BUNDLES (1) naming what was found. */
export function pickBundle(contents: StickContents, device: string): FoundBundle {
  const [first, ...more] = contents.bundles;
  if (first === undefined) {
    throw new AkliteError(
      'NO_BUNDLE',
      `no bundle on the stick ${device}: expected, at its top level, a directory holding tuf/ ` +
        `(e.g. bundle/), a .zip file, or tuf/, ostree_repo/ and apps/ themselves; found ${listed(contents.other)}` +
        (contents.ignored.length > 0 ? ` (ignored: ${listed(contents.ignored)})` : ''),
    );
  }
  if (more.length > 0) {
    throw new AkliteError(
      'MANY_BUNDLES',
      `the stick ${device} holds ${contents.bundles.length} bundles: ` +
        `${contents.bundles.map(described).join('; ')}; nothing was done: ` +
        'leave exactly one bundle at its top level and insert it again',
    );
  }
  return first;
}

/** A command of the config with `{device}` and `{dir}` replaced in each argument. */
export function commandArgv(
  template: readonly string[],
  values: { device: string; dir: string },
): string[] {
  return template.map((arg) =>
    arg.replaceAll('{dir}', values.dir).replaceAll('{device}', values.device),
  );
}

/** Runs a mount or unmount command; a non-zero exit is `DOWNLOAD_FAILED` (the media). */
async function runMediaCommand(argv: readonly string[], what: string): Promise<void> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new AkliteError('CONFIG_INVALID', `[usb] ${what} is empty`);
  let r;
  try {
    r = await execCapture(cmd, args, { timeoutMs: USB_COMMAND_TIMEOUT_MS, processGroup: true });
  } catch (err) {
    if (err instanceof ExecError && (err.code === 'NOT_FOUND' || err.code === 'SPAWN_FAILED'))
      throw cannotRun(err);
    throw new AkliteError('DOWNLOAD_FAILED', `${argv.join(' ')}: ${messageOf(err)}`, {
      cause: err,
    });
  }
  if (r.code !== 0) {
    throw new AkliteError(
      'DOWNLOAD_FAILED',
      `${argv.join(' ')} ${r.code === null ? `was killed (${r.signal ?? 'signal'})` : `exited ${r.code}`}: ` +
        (tailLines(r.stderr, 3) || '(no output)'),
    );
  }
}

/** Whether `dir` is the root of a mounted file system (its device differs from its parent's). */
async function isMountPoint(dir: string): Promise<boolean> {
  const [here, parent] = await Promise.all([stat(dir), stat(dirname(dir))]);
  return here.dev !== parent.dev;
}

/** Removes `dir` and its parents up to `top` (the first directory mkdir created), if empty. */
async function removeCreated(dir: string, top: string | undefined): Promise<void> {
  if (top === undefined) return;
  const rel = relative(top, dir);
  if (rel.startsWith('..')) return;
  let d = dir;
  for (let i = rel === '' ? 0 : rel.split(sep).length; i >= 0; i--) {
    await rmdir(d).catch(() => undefined);
    d = dirname(d);
  }
}

interface Mounted {
  dir: string;
  /** Unmounts and removes what the mount step created; false when the unmount failed. */
  unmount(): Promise<boolean>;
}

/** Mounts the stick with `[usb] mount_command` on an empty `[usb] mount_dir`. */
async function mountStick(dev: Device, device: string): Promise<Mounted> {
  const { mountDir: dir, mountCommand, unmountCommand } = dev.config.usb;
  const created = await mkdir(dir, { recursive: true });
  const leftover = await readdir(dir).catch(() => []);
  if (leftover.length > 0) {
    await removeCreated(dir, created);
    throw new AkliteError(
      'DEVICE_INVALID',
      `the mount directory ${dir} ([usb] mount_dir) is not empty (a stick still mounted there?); ` +
        'unmount or empty it and insert the stick again',
      { file: dir },
    );
  }
  const mount = commandArgv(mountCommand, { device, dir });
  dev.ports.progress(`Mounting ${device} on ${dir}: ${mount.join(' ')}`);
  try {
    await runMediaCommand(mount, 'mount_command');
    if (!(await isMountPoint(dir))) {
      throw new AkliteError(
        'DOWNLOAD_FAILED',
        `${mount.join(' ')} exited 0, but nothing is mounted on ${dir}; check [usb] mount_command`,
      );
    }
  } catch (err) {
    await removeCreated(dir, created);
    if (err instanceof AkliteError && err.code === 'DOWNLOAD_FAILED') {
      throw new AkliteError(
        'DOWNLOAD_FAILED',
        `cannot mount the stick ${device}: ${err.message}; reseat it or try another stick`,
        { cause: err },
      );
    }
    throw err;
  }
  return {
    dir,
    async unmount() {
      const argv = commandArgv(unmountCommand, { device, dir });
      try {
        await runMediaCommand(argv, 'unmount_command');
      } catch (err) {
        dev.ports.progress(`WARNING: could not unmount ${dir}: ${messageOf(err)}`);
        return false;
      }
      await removeCreated(dir, created);
      dev.ports.progress(`Unmounted ${device} from ${dir}; the stick may be removed`);
      return true;
    },
  };
}

export interface UsbOptions extends DeviceOptions {
  /** The stick's block device (`/dev/sda1`), an absolute path: `{device}` of the mount command. */
  device: string;
}

export interface UsbResult {
  /** check's status (0, 16) without an install, else install's. */
  status: StatusValue;
  device: string;
  bundle: { name: string; kind: 'dir' | 'zip' };
  /** Top-level names skipped as desktop leftovers. */
  ignored: string[];
  autoInstall: boolean;
  check: CheckResult;
  /** Null when nothing was installed (check only, or nothing to install). */
  install: InstallResult | null;
  /** False when the unmount command failed (a warning was printed). */
  unmounted: boolean;
  message: string;
}

/** `aklite-offline usb <device>`: mount, find, check, install (opt-in), unmount. */
export async function usb(opts: UsbOptions): Promise<UsbResult> {
  if (!opts.device.startsWith('/')) {
    throw new AkliteError(
      'INVALID_ARGUMENT',
      `the stick's device must be an absolute path such as /dev/sda1, got "${opts.device}"`,
    );
  }
  const dev = await openDevice(opts);
  return withLockWaiting(dev, async () => {
    const stick = await mountStick(dev, opts.device);
    let result: Omit<UsbResult, 'unmounted'>;
    try {
      result = await checkAndInstall(dev, opts.device, stick.dir);
    } catch (err) {
      await stick.unmount();
      throw err;
    }
    return { ...result, unmounted: await stick.unmount() };
  });
}

/**
 * `withLock`, waiting up to `[usb] lock_wait_seconds` while another instance holds the
 * lock: the triggers of two partitions of one stick, or of two sticks, run one after the
 * other instead of one failing. Still held after that: LOCKED (1), nothing mounted.
 */
async function withLockWaiting<T>(dev: Device, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + dev.config.usb.lockWaitSeconds * 1000;
  const run = { locked: false };
  for (let waited = false; ; waited = true) {
    try {
      return await withLock(dev, () => {
        run.locked = true;
        return fn();
      });
    } catch (err) {
      const busy = !run.locked && err instanceof AkliteError && err.code === 'LOCKED';
      if (!busy || Date.now() + LOCK_RETRY_MS > deadline) throw err;
      if (!waited)
        dev.ports.progress(
          `Waiting up to ${dev.config.usb.lockWaitSeconds} s for another aklite-offline to finish`,
        );
      await new Promise((res) => setTimeout(res, LOCK_RETRY_MS));
    }
  }
}

async function checkAndInstall(
  dev: Device,
  device: string,
  dir: string,
): Promise<Omit<UsbResult, 'unmounted'>> {
  const contents = await scanStick(dir);
  const bundle = pickBundle(contents, device);
  const { autoInstall } = dev.config.usb;
  dev.ports.progress(
    `Found ${described(bundle)} on ${device}` +
      (contents.ignored.length > 0 ? `; ignored ${listed(contents.ignored)}` : ''),
  );
  const checked = await checkLocked(dev, bundle.path);
  const base = {
    device,
    bundle: { name: bundle.name, kind: bundle.kind },
    ignored: contents.ignored,
    autoInstall,
    check: checked,
  };
  if (checked.status !== StatusCode.CheckinUpdateNewVersion) {
    return {
      ...base,
      status: checked.status,
      install: null,
      message: `Nothing installed: ${describe(checked.status)}`,
    };
  }
  if (!autoInstall) {
    return {
      ...base,
      status: checked.status,
      install: null,
      message:
        'Nothing installed: [usb] auto_install is off, so the USB trigger only checks; set it to ' +
        'true, or mount the stick and run `aklite-offline install` with the bundle on it',
    };
  }
  const installed = await installLocked(dev, {
    deviceRoot: dev.root,
    srcDir: bundle.path,
  });
  return { ...base, status: installed.status, install: installed, message: installed.message };
}
