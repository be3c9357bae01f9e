/**
 * Device configuration (reference §3.2): `*.toml` snippets merged in order, later files
 * overriding earlier keys section by section. Paths of device data given in the config
 * (e.g. `[storage] path = "/var/sota"`) are resolved under the device root; programs
 * (`docker_compose_bin`) are run as given.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
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
  /** `[pacman] docker_compose_bin`, split on spaces (e.g. `docker compose`). */
  composeCommand: string[];
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
}

export const DEFAULT_STORAGE_WATERMARK = 80;
export const DEFAULT_COMPOSE_COMMAND = 'docker compose';
export const DEFAULT_CALLBACK_TIMEOUT_SECONDS = 30;
export const DEFAULT_PROBATION_SECONDS = 1800;
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

export function interpretConfig(merged: Table, files: string[], deviceRoot: string): DeviceConfig {
  const paths = devicePaths(deviceRoot);
  const where = files.length > 0 ? files.join(', ') : '(no config file found)';
  const bad = (key: string, detail: string): never => {
    throw new AkliteError('CONFIG_INVALID', `config key ${key} ${detail} (read from ${where})`);
  };
  const section = (name: string): Table => {
    const s = merged[name];
    if (s === undefined) return {};
    if (!isTable(s)) return bad(`[${name}]`, 'must be a table');
    return s;
  };
  const str = (sec: Table, name: string, key: string): string | undefined => {
    const v = sec[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string')
      return bad(`[${name}] ${key}`, `must be a string, got ${JSON.stringify(v)}`);
    return v;
  };
  /** Device paths in the config are absolute on the device; re-root them under the device root. */
  const rooted = (p: string): string => join(deviceRoot, p);

  const provision = section('provision');
  const pacman = section('pacman');
  const storage = section('storage');
  const bootloader = section('bootloader');

  const hardwareId = str(provision, 'provision', 'primary_ecu_hardware_id');
  if (hardwareId === undefined || hardwareId.trim() === '') {
    throw new AkliteError(
      'CONFIG_INVALID',
      `[provision] primary_ecu_hardware_id is not set in ${where}; add it to a *.toml file such as ` +
        `${join(deviceRoot, 'usr/lib/sota/conf.d/40-hardware-id.toml')} or pass --config`,
    );
  }
  const typeRaw = str(provision, 'provision', 'device_type');
  let deviceType: BundleType | undefined;
  if (typeRaw !== undefined && typeRaw !== '') {
    if (!(BUNDLE_TYPES as readonly string[]).includes(typeRaw))
      bad('[provision] device_type', 'must be "ci" or "prod"');
    deviceType = typeRaw as BundleType;
  }
  const tags = splitList(str(pacman, 'pacman', 'tags') ?? '');
  const typeStr = str(pacman, 'pacman', 'type') ?? 'ostree+compose_apps';
  if (typeStr !== 'ostree+compose_apps' && typeStr !== 'ostree') {
    bad('[pacman] type', `must be "ostree+compose_apps" or "ostree", got "${typeStr}"`);
  }
  const composeAppsRaw = str(pacman, 'pacman', 'compose_apps');
  const composeApps = composeAppsRaw === undefined ? undefined : splitList(composeAppsRaw);

  let watermark = DEFAULT_STORAGE_WATERMARK;
  const wm = pacman.storage_watermark;
  if (wm !== undefined) {
    const n =
      typeof wm === 'string'
        ? Number(wm)
        : typeof wm === 'number' || typeof wm === 'bigint'
          ? Number(wm)
          : NaN;
    if (!Number.isInteger(n) || n < 20 || n > 95)
      bad('[pacman] storage_watermark', 'must be a whole percentage from 20 to 95');
    watermark = n;
  }
  const int = (key: string, min: number, max: number, dflt: number): number => {
    const v = pacman[key];
    if (v === undefined) return dflt;
    const n =
      typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint' ? Number(v) : NaN;
    if (!Number.isInteger(n) || n < min || n > max)
      bad(`[pacman] ${key}`, `must be a whole number from ${min} to ${max}`);
    return n;
  };
  const callbackTimeoutSeconds = int(
    'callback_timeout_seconds',
    1,
    3600,
    DEFAULT_CALLBACK_TIMEOUT_SECONDS,
  );
  const probationSeconds = int('probation_seconds', 0, 365 * 86400, DEFAULT_PROBATION_SECONDS);
  const callbackRaw = str(pacman, 'pacman', 'callback_program');
  if (callbackRaw !== undefined && callbackRaw !== '' && !callbackRaw.startsWith('/'))
    bad('[pacman] callback_program', `must be an absolute path, got "${callbackRaw}"`);
  const unpackRaw = str(pacman, 'pacman', 'security_unpack');
  if (unpackRaw !== undefined && unpackRaw !== '' && !unpackRaw.startsWith('/'))
    bad('[pacman] security_unpack', `must be an absolute path, got "${unpackRaw}"`);
  const goldenCommit = str(pacman, 'pacman', 'golden_commit');
  if (goldenCommit !== undefined && goldenCommit !== '' && !/^[0-9a-f]{64}$/.test(goldenCommit))
    bad('[pacman] golden_commit', 'must be an OSTree commit (64 hex digits)');
  const composeBin = str(pacman, 'pacman', 'docker_compose_bin') ?? DEFAULT_COMPOSE_COMMAND;
  const composeCommand = splitList(composeBin);
  if (composeCommand.length === 0) bad('[pacman] docker_compose_bin', 'must name a program');

  const storageRel = str(storage, 'storage', 'path') ?? '/var/sota';
  const storageDir = rooted(storageRel);
  const composeAppsRoot = rooted(
    str(pacman, 'pacman', 'compose_apps_root') ?? join(storageRel, 'compose-apps'),
  );
  const appStore = rooted(
    str(pacman, 'pacman', 'reset_apps_root') ?? join(storageRel, 'reset-apps'),
  );
  const sentinelDir = str(bootloader, 'bootloader', 'reboot_sentinel_dir');
  return {
    files,
    hardwareId,
    tags,
    deviceType,
    packageManager: typeStr as PackageManager,
    composeApps,
    storageWatermark: watermark,
    composeCommand,
    storageDir,
    composeAppsRoot,
    appStore,
    rebootSentinelDir: sentinelDir === undefined ? paths.rebootSentinelDir : rooted(sentinelDir),
    rebootSentinelName: str(bootloader, 'bootloader', 'reboot_sentinel_name') ?? 'need_reboot',
    callbackProgram: callbackRaw === undefined || callbackRaw === '' ? undefined : callbackRaw,
    callbackTimeoutSeconds,
    probationSeconds,
    goldenCommit: goldenCommit === undefined || goldenCommit === '' ? undefined : goldenCommit,
    securityUnpack: unpackRaw === undefined || unpackRaw === '' ? undefined : unpackRaw,
  };
}
