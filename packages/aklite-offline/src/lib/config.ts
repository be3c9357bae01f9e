/**
 * Device configuration (reference §3.2): `*.toml` snippets merged in order, later files
 * overriding earlier keys section by section. Paths of device data given in the config
 * (e.g. `[storage] path = "/var/sota"`) are resolved under the device root; programs
 * (`docker_compose_bin`) are run as given. The keys read, their types and ranges are one
 * valibot schema (`ConfigFile`); an invalid value is refused with CONFIG_INVALID naming the
 * key and the files read.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import * as v from 'valibot';
import {
  BUNDLE_TYPES,
  devicePaths,
  IoError,
  readFileCapped,
  type BundleType,
} from '@offline-ota/format';
import { AkliteError, isErrno, messageOf } from './errors.js';

export type PackageManager = 'ostree+compose_apps' | 'ostree';

export interface DeviceConfig {
  /** Files read, in merge order. */
  files: string[];
  hardwareId: string;
  /** `[pacman] tags`; empty accepts any tag. */
  tags: string[];
  /** `[provision] device_type`; undefined when unset (the first bundle decides). */
  deviceType: BundleType | undefined;
  packageManager: PackageManager;
  /** `[pacman] compose_apps`; undefined means all of a Target's apps. */
  composeApps: string[] | undefined;
  /** `[pacman] storage_watermark`: percent of the sysroot filesystem that may be used after install. */
  storageWatermark: number;
  /** `[pacman] docker_compose_bin`, split on spaces (e.g. `docker compose`): docker's compose command. */
  composeCommand: string[];
  /** The container engine and how to reach it (`[pacman] container_engine` and friends). */
  engine: EngineConfig;
  /** `[pacman] app_start_timeout`: seconds the apps get to run (and be healthy) after `up`. */
  appStartTimeoutSeconds: number;
  /** Absolute paths on this machine (under the device root). */
  storageDir: string;
  composeAppsRoot: string;
  appStore: string;
  rebootSentinelDir: string;
  rebootSentinelName: string;
  /** `[pacman] callback_program`: an absolute path, run as given (like docker_compose_bin). */
  callbackProgram: string | undefined;
  /** `[pacman] callback_timeout_seconds`: a callback still running after this is killed. */
  callbackTimeoutSeconds: number;
  /** `[pacman] probation_seconds`: how long a new system must run before it is good; 0 = at once. */
  probationSeconds: number;
  /** `[pacman] golden_commit`: the OSTree commit of the golden system (the rollback floor). */
  goldenCommit: string | undefined;
  /**
   * `[pacman] security_unpack`: a program every single-file bundle is streamed through
   * before anything reads it (docs/security-unpack.md). Absolute path, run as given.
   */
  securityUnpack: string | undefined;
  /**
   * `[pacman] finalize_at_boot`: the boot service (`aklite-offline boot`) finalizes a pending
   * installation the way `run` does. Off by default: the technician runs `run`.
   */
  finalizeAtBoot: boolean;
  /** `[usb]`: the opt-in USB trigger (usb.ts). */
  usb: UsbConfig;
}

/** `[usb]`: how the USB trigger (`aklite-offline usb`, usb.ts) mounts a stick and what it does. */
export interface UsbConfig {
  /** `[usb] auto_install`: install what `check` selects; false: check and log only. */
  autoInstall: boolean;
  /** `[usb] mount_command`, split on spaces, `{device}` and `{dir}` replaced; run without a shell. */
  mountCommand: string[];
  /** `[usb] unmount_command`, split on spaces, `{dir}` replaced. */
  unmountCommand: string[];
  /** `[usb] mount_dir`, under the device root: where the stick is mounted while the trigger runs. */
  mountDir: string;
  /** `[usb] lock_wait_seconds`: how long the trigger waits while another instance holds the lock. */
  lockWaitSeconds: number;
}

/**
 * `[pacman] container_engine = "docker" | "podman"` with the keys of each
 * (docs/container-engines.md). Paths of podman's store and containers.conf are device paths,
 * resolved under the device root; programs are run as given.
 */
export type EngineConfig =
  | {
      kind: 'docker';
      /** `[pacman] docker_bin` */
      bin: string;
      /** `[pacman] docker_host`, e.g. `unix:///run/docker.sock`; undefined: the client's default. */
      host: string | undefined;
    }
  | {
      kind: 'podman';
      /** `[pacman] podman_bin` */
      bin: string;
      /** `[pacman] podman_storage_root` / `podman_run_root` / `podman_storage_driver`; undefined: the system's store. */
      store: { root: string; runRoot: string; driver: string } | undefined;
      /** `[pacman] containers_conf`, named by CONTAINERS_CONF for every podman call. */
      containersConf: string | undefined;
    };

export const DEFAULT_STORAGE_WATERMARK = 80;
export const DEFAULT_APP_START_TIMEOUT_SECONDS = 120;
export const DEFAULT_COMPOSE_COMMAND = 'docker compose';
export const DEFAULT_CALLBACK_TIMEOUT_SECONDS = 30;
export const DEFAULT_PROBATION_SECONDS = 1800;
export const DEFAULT_USB_MOUNT_COMMAND = 'mount -o ro,nodev,nosuid,noexec {device} {dir}';
export const DEFAULT_USB_UNMOUNT_COMMAND = 'umount {dir}';
export const DEFAULT_USB_MOUNT_DIR = '/run/aklite-offline/usb';
export const DEFAULT_USB_LOCK_WAIT_SECONDS = 60;
const MAX_CONFIG_BYTES = 1024 * 1024;

type Table = Record<string, unknown>;

const isTable = (v: unknown): v is Table =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/** Expands `--config` entries (files or directories of `*.toml`) into files, in order. */
async function expand(entries: readonly string[], explicit: boolean): Promise<string[]> {
  const files: string[] = [];
  for (const entry of entries) {
    let st;
    try {
      st = await stat(entry);
    } catch (err) {
      if (!explicit && isErrno(err, 'ENOENT')) continue;
      throw new AkliteError(
        'CONFIG_INVALID',
        `config path ${entry} does not exist; pass an existing *.toml file or directory with --config`,
        { cause: err, file: entry },
      );
    }
    if (st.isDirectory()) {
      const names = (await readdir(entry)).filter((n) => n.endsWith('.toml')).sort();
      files.push(...names.map((n) => join(entry, n)));
    } else {
      files.push(entry);
    }
  }
  return files;
}

async function readToml(file: string): Promise<Table> {
  let text: string;
  try {
    text = (await readFileCapped(file, MAX_CONFIG_BYTES)).toString('utf8');
  } catch (err) {
    const why =
      err instanceof IoError && err.code === 'TOO_LARGE'
        ? `${err.size} bytes is over the ${MAX_CONFIG_BYTES}-byte cap`
        : messageOf(err instanceof IoError && err.code === 'IO_FAILED' ? err.cause : err);
    throw new AkliteError('CONFIG_INVALID', `cannot read config file ${file}: ${why}`, {
      cause: err,
      file,
    });
  }
  try {
    return parseToml(text);
  } catch (err) {
    throw new AkliteError(
      'CONFIG_INVALID',
      `config file ${file} is not valid TOML: ${messageOf(err)}; fix or remove it`,
      {
        cause: err,
        file,
      },
    );
  }
}

/** Merges section by section: a later file's key replaces an earlier one. */
export function mergeConfig(tables: readonly Table[]): Table {
  const out: Table = {};
  for (const t of tables) {
    for (const [k, v] of Object.entries(t)) {
      const prev = out[k];
      out[k] = isTable(prev) && isTable(v) ? { ...prev, ...v } : v;
    }
  }
  return out;
}

const splitList = (s: string): string[] => s.split(/[,\s]+/).filter((x) => x !== '');
/** A command line of the config: words split on white space only (mount options hold commas). */
const splitWords = (s: string): string[] => s.split(/\s+/).filter((x) => x !== '');

export interface LoadConfigOptions {
  deviceRoot: string;
  /** `--config` entries; empty means the defaults under the device root. */
  configPaths?: readonly string[];
}

export async function loadConfig(opts: LoadConfigOptions): Promise<DeviceConfig> {
  const paths = devicePaths(opts.deviceRoot);
  const explicit = (opts.configPaths ?? []).length > 0;
  const files = await expand(explicit ? opts.configPaths! : paths.configDefaults, explicit);
  const tables: Table[] = [];
  for (const f of files) tables.push(await readToml(f));
  return interpretConfig(mergeConfig(tables), files, opts.deviceRoot);
}

/** A value in a message: strings quoted, anything TOML gives (bigint too) printable. */
const shown = (x: unknown): string =>
  typeof x === 'bigint' ? String(x) : (JSON.stringify(x) ?? String(x));

const str = v.string((i) => `must be a string, got ${shown(i.input)}`);

/** A TOML integer, or a string of one (as the reference reads it), within [min, max]. */
const wholeNumber = (
  min: number,
  max: number,
  message = `must be a whole number from ${min} to ${max}`,
) =>
  v.pipe(
    v.union([v.string(), v.number(), v.bigint()], message),
    v.transform(Number),
    v.integer(message),
    v.minValue(min, message),
    v.maxValue(max, message),
  );

/** A TOML boolean, or the string "true" or "false" (as the reference writes its flags). */
const onOff = v.pipe(
  v.union(
    [v.boolean(), v.picklist(['true', 'false'])],
    (i) => `must be true or false, got ${shown(i.input)}`,
  ),
  v.transform((b) => b === true || b === 'true'),
);

/** A program run as given: empty (unset) or an absolute path. */
const program = v.pipe(
  str,
  v.check(
    (p) => p === '' || p.startsWith('/'),
    (i) => `must be an absolute path, got "${String(i.input)}"`,
  ),
);

/** A command line run without a shell: a program and the placeholders it must use. */
const commandLine = (placeholders: readonly string[]) =>
  v.pipe(
    str,
    v.check((c) => splitWords(c).length > 0, 'must name a program'),
    v.check(
      (c) => placeholders.every((p) => c.includes(p)),
      `must use ${placeholders.join(' and ')}`,
    ),
  );

/** A section: absent is empty; keys this client does not read are kept and ignored. */
const section = <E extends v.ObjectEntries>(entries: E) =>
  v.looseObject(entries, 'must be a table');

/** The keys aklite-offline reads from the merged `*.toml` files (reference §3.2). */
const Sections = {
  provision: section({
    primary_ecu_hardware_id: v.optional(str),
    device_type: v.optional(
      v.pipe(
        str,
        v.check(
          (t) => t === '' || (BUNDLE_TYPES as readonly string[]).includes(t),
          'must be "ci" or "prod"',
        ),
      ),
    ),
  }),
  pacman: section({
    tags: v.optional(str),
    type: v.optional(
      v.pipe(
        str,
        v.picklist(
          ['ostree+compose_apps', 'ostree'],
          (i) => `must be "ostree+compose_apps" or "ostree", got ${shown(i.input)}`,
        ),
      ),
    ),
    compose_apps: v.optional(str),
    storage_watermark: v.optional(wholeNumber(20, 95, 'must be a whole percentage from 20 to 95')),
    callback_timeout_seconds: v.optional(wholeNumber(1, 3600)),
    probation_seconds: v.optional(wholeNumber(0, 365 * 86400)),
    callback_program: v.optional(program),
    security_unpack: v.optional(program),
    golden_commit: v.optional(
      v.pipe(
        str,
        v.check(
          (c) => c === '' || /^[0-9a-f]{64}$/.test(c),
          'must be an OSTree commit (64 hex digits)',
        ),
      ),
    ),
    docker_compose_bin: v.optional(
      v.pipe(
        str,
        v.check((b) => splitList(b).length > 0, 'must name a program'),
      ),
    ),
    finalize_at_boot: v.optional(onOff),
    compose_apps_root: v.optional(str),
    container_engine: v.optional(
      v.pipe(
        str,
        v.picklist(
          ['docker', 'podman'],
          (i) => `must be "docker" or "podman", got ${shown(i.input)}`,
        ),
      ),
    ),
    app_start_timeout: v.optional(wholeNumber(1, 3600)),
    docker_bin: v.optional(v.pipe(str, v.minLength(1, 'must name a program'))),
    docker_host: v.optional(str),
    podman_bin: v.optional(v.pipe(str, v.minLength(1, 'must name a program'))),
    podman_storage_root: v.optional(str),
    podman_run_root: v.optional(str),
    podman_storage_driver: v.optional(str),
    containers_conf: v.optional(str),
    reset_apps_root: v.optional(str),
  }),
  storage: section({ path: v.optional(str) }),
  usb: section({
    auto_install: v.optional(onOff),
    mount_command: v.optional(commandLine(['{device}', '{dir}'])),
    unmount_command: v.optional(commandLine(['{dir}'])),
    lock_wait_seconds: v.optional(wholeNumber(0, 86400)),
    mount_dir: v.optional(
      v.pipe(
        str,
        v.check(
          (p) => p.startsWith('/') && p.replaceAll('/', '') !== '' && !p.split('/').includes('..'),
          (i) => `must be an absolute directory other than / (no ..), got ${shown(i.input)}`,
        ),
      ),
    ),
  }),
  bootloader: section({
    reboot_sentinel_dir: v.optional(str),
    reboot_sentinel_name: v.optional(str),
  }),
};

const ConfigFile = v.looseObject({
  provision: v.optional(Sections.provision, {}),
  pacman: v.optional(Sections.pacman, {}),
  storage: v.optional(Sections.storage, {}),
  usb: v.optional(Sections.usb, {}),
  bootloader: v.optional(Sections.bootloader, {}),
});

/** `[section] key` of an issue, as a config file names it. */
function keyOf(issue: v.BaseIssue<unknown>): string {
  const keys = (issue.path ?? []).map((p) => String(p.key));
  return keys.length === 0
    ? '(top level)'
    : `[${keys[0]}]${keys.length > 1 ? ` ${keys.slice(1).join('.')}` : ''}`;
}

export function interpretConfig(merged: Table, files: string[], deviceRoot: string): DeviceConfig {
  const paths = devicePaths(deviceRoot);
  const where = files.length > 0 ? files.join(', ') : '(no config file found)';
  const parsed = v.safeParse(ConfigFile, merged);
  if (!parsed.success) {
    const issue = parsed.issues[0];
    throw new AkliteError(
      'CONFIG_INVALID',
      `config key ${keyOf(issue)} ${issue.message} (read from ${where})`,
    );
  }
  const { provision, pacman, storage, usb, bootloader } = parsed.output;
  /** Device paths in the config are absolute on the device; re-root them under the device root. */
  const rooted = (p: string): string => join(deviceRoot, p);
  const orUndefined = (s: string | undefined): string | undefined => (s === '' ? undefined : s);

  const hardwareId = provision.primary_ecu_hardware_id;
  if (hardwareId === undefined || hardwareId.trim() === '') {
    throw new AkliteError(
      'CONFIG_INVALID',
      `[provision] primary_ecu_hardware_id is not set in ${where}; add it to a *.toml file such as ` +
        `${join(deviceRoot, 'usr/lib/sota/conf.d/40-hardware-id.toml')} or pass --config`,
    );
  }
  const storageRel = storage.path ?? '/var/sota';
  let engine: EngineConfig;
  if ((pacman.container_engine ?? 'docker') === 'podman') {
    const root = orUndefined(pacman.podman_storage_root);
    const runRoot = orUndefined(pacman.podman_run_root);
    if ((root === undefined) !== (runRoot === undefined))
      throw new AkliteError(
        'CONFIG_INVALID',
        `[pacman] podman_storage_root and podman_run_root go together: set both or neither (read from ${where})`,
      );
    const conf = orUndefined(pacman.containers_conf);
    engine = {
      kind: 'podman',
      bin: pacman.podman_bin ?? 'podman',
      store:
        root === undefined || runRoot === undefined
          ? undefined
          : {
              root: rooted(root),
              runRoot: rooted(runRoot),
              driver: orUndefined(pacman.podman_storage_driver) ?? 'overlay',
            },
      containersConf: conf === undefined ? undefined : rooted(conf),
    };
  } else {
    engine = {
      kind: 'docker',
      bin: pacman.docker_bin ?? 'docker',
      host: orUndefined(pacman.docker_host),
    };
  }
  return {
    files,
    hardwareId,
    tags: splitList(pacman.tags ?? ''),
    deviceType: orUndefined(provision.device_type) as BundleType | undefined,
    packageManager: pacman.type ?? 'ostree+compose_apps',
    composeApps: pacman.compose_apps === undefined ? undefined : splitList(pacman.compose_apps),
    storageWatermark: pacman.storage_watermark ?? DEFAULT_STORAGE_WATERMARK,
    composeCommand: splitList(pacman.docker_compose_bin ?? DEFAULT_COMPOSE_COMMAND),
    engine,
    appStartTimeoutSeconds: pacman.app_start_timeout ?? DEFAULT_APP_START_TIMEOUT_SECONDS,
    storageDir: rooted(storageRel),
    composeAppsRoot: rooted(pacman.compose_apps_root ?? join(storageRel, 'compose-apps')),
    appStore: rooted(pacman.reset_apps_root ?? join(storageRel, 'reset-apps')),
    rebootSentinelDir:
      bootloader.reboot_sentinel_dir === undefined
        ? paths.rebootSentinelDir
        : rooted(bootloader.reboot_sentinel_dir),
    rebootSentinelName: bootloader.reboot_sentinel_name ?? 'need_reboot',
    callbackProgram: orUndefined(pacman.callback_program),
    callbackTimeoutSeconds: pacman.callback_timeout_seconds ?? DEFAULT_CALLBACK_TIMEOUT_SECONDS,
    probationSeconds: pacman.probation_seconds ?? DEFAULT_PROBATION_SECONDS,
    goldenCommit: orUndefined(pacman.golden_commit),
    securityUnpack: orUndefined(pacman.security_unpack),
    finalizeAtBoot: pacman.finalize_at_boot ?? false,
    usb: {
      autoInstall: usb.auto_install ?? false,
      mountCommand: splitWords(usb.mount_command ?? DEFAULT_USB_MOUNT_COMMAND),
      unmountCommand: splitWords(usb.unmount_command ?? DEFAULT_USB_UNMOUNT_COMMAND),
      mountDir: rooted(usb.mount_dir ?? DEFAULT_USB_MOUNT_DIR),
      lockWaitSeconds: usb.lock_wait_seconds ?? DEFAULT_USB_LOCK_WAIT_SECONDS,
    },
  };
}
