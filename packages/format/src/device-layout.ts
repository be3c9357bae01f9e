import { join } from 'node:path';
import type { BundleType } from './layout.js';

/**
 * Every device path, relative to one device root (`/` on a real device, a directory for
 * device-sim). Shared by `aklite-offline` and `device-sim` so both agree.
 */
export const devicePaths = (root: string) => ({
  root,
  /** Default config locations, in merge order (later wins). */
  configDefaults: [
    join(root, 'usr/lib/sota/conf.d'),
    join(root, 'var/sota/sota.toml'),
    join(root, 'etc/sota/conf.d'),
  ],
  shippedTufDir: (type: BundleType) => join(root, 'usr/lib/sota/tuf', type),
  sysroot: join(root, 'sysroot'),
  procCmdline: join(root, 'proc/cmdline'),
  /** The kernel's id of the current boot; a reboot changes it (device-sim writes its own). */
  bootId: join(root, 'proc/sys/kernel/random/boot_id'),
  runDir: join(root, 'run'),
  rebootSentinelDir: join(root, 'run/aktualizr-session'),
  rebootSentinel: join(root, 'run/aktualizr-session/need_reboot'),
  fwEnvConfig: join(root, 'etc/fw_env.config'),
  ubootEnvFile: join(root, 'boot/uboot.env'),
  storage: join(root, 'var/sota'),
  /** Trusted TUF metadata per root type (tuf-js metadataDir layout: root.json, …). */
  tufDir: (type: BundleType) => join(root, 'var/sota/tuf', type),
  stateFile: join(root, 'var/sota/state.json'),
  currentTarget: join(root, 'var/sota/current-target'),
  appStore: join(root, 'var/sota/reset-apps'),
  composeAppsRoot: join(root, 'var/sota/compose-apps'),
  lockFile: join(root, 'var/lock/aklite.lock'),
});

/** The OSTree OS name of simulated devices and of factories by default. */
export const DEFAULT_OS_NAME = 'lmp';
