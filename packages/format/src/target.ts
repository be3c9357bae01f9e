import { FormatError } from './errors.js';
import { APP_URI_RE, SHA256_HEX_RE } from './layout.js';
import type { TargetCustom, TargetFileInfo } from './metadata.js';

/** A Target as the device and the host read it, after shape checks. */
export interface TargetEntry {
  name: string;
  /** The OSTree commit checksum (`hashes.sha256`). */
  commit: string;
  /** `custom.version` as an integer, for ordering. */
  version: number;
  hardwareId: string;
  tags: string[];
  apps: Record<string, string>;
  info: TargetFileInfo;
}

export interface AppUri {
  host: string;
  factory: string;
  app: string;
  /** sha256 hex of the app manifest. */
  digest: string;
}

export function parseAppUri(uri: unknown, where = 'app uri'): AppUri {
  const m = typeof uri === 'string' ? APP_URI_RE.exec(uri) : null;
  if (!m) {
    throw new FormatError(
      'INVALID_METADATA',
      `${where}: ${JSON.stringify(uri)} is not of the form <host>/<factory>/<app>@sha256:<64 hex>`,
    );
  }
  return { host: m[1], factory: m[2], app: m[3], digest: m[4] };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Parses one `targets.<name>` entry from untrusted (or merely shape-unchecked) JSON. */
export function parseTargetEntry(name: string, json: unknown): TargetEntry {
  const where = `Target ${name}`;
  const bad = (detail: string): never => {
    throw new FormatError('INVALID_METADATA', `${where}: ${detail}`);
  };
  if (!isObject(json)) bad('not an object');
  const t = json as Record<string, unknown>;
  if (!Number.isSafeInteger(t.length) || (t.length as number) < 0)
    bad('length must be a non-negative integer');
  if (!isObject(t.hashes)) bad('hashes must be an object');
  const commit = (t.hashes as Record<string, unknown>).sha256;
  if (typeof commit !== 'string' || !SHA256_HEX_RE.test(commit))
    bad('hashes.sha256 (the OSTree commit) is required');
  if (!isObject(t.custom)) bad('custom must be an object');
  const c = t.custom as Record<string, unknown>;
  if (c.targetFormat !== 'OSTREE')
    bad(`targetFormat must be "OSTREE", got ${JSON.stringify(c.targetFormat)}`);
  if (typeof c.version !== 'string' || !/^(0|[1-9][0-9]{0,14})$/.test(c.version)) {
    bad('custom.version must be a decimal integer string');
  }
  if (
    !Array.isArray(c.hardwareIds) ||
    c.hardwareIds.length !== 1 ||
    typeof c.hardwareIds[0] !== 'string'
  ) {
    bad('custom.hardwareIds must hold exactly one hardware id');
  }
  const tags = c.tags === undefined ? [] : c.tags;
  if (!Array.isArray(tags) || tags.some((x) => typeof x !== 'string'))
    bad('custom.tags must be a list of strings');
  const apps: Record<string, string> = {};
  if (c.docker_compose_apps !== undefined) {
    if (!isObject(c.docker_compose_apps)) bad('custom.docker_compose_apps must be an object');
    for (const [app, ref] of Object.entries(c.docker_compose_apps as Record<string, unknown>)) {
      if (!isObject(ref)) bad(`app ${app} must be an object with "uri"`);
      const uri = (ref as Record<string, unknown>).uri;
      const parsed = parseAppUri(uri, `${where} app ${app}`);
      if (parsed.app !== app) bad(`app ${app} has a URI for app ${parsed.app}`);
      apps[app] = uri as string;
    }
  }
  return {
    name,
    commit: commit as string,
    version: Number(c.version),
    hardwareId: (c.hardwareIds as string[])[0],
    tags: tags as string[],
    apps,
    info: json as TargetFileInfo,
  };
}

/** Reads every entry of a targets document's `targets` map. */
export function parseTargets(targets: unknown): TargetEntry[] {
  if (!isObject(targets)) throw new FormatError('INVALID_METADATA', 'targets must be an object');
  return Object.entries(targets).map(([name, info]) => parseTargetEntry(name, info));
}

export type AppMode = { kind: 'all' } | { kind: 'none' } | { kind: 'shortlist'; apps: string[] };

/** Which of a Target's apps an offline bundle carries (reference §4.3, `fetched-apps`). */
export function offlineAppMode(custom: TargetCustom | Record<string, unknown>): AppMode {
  const fetched = (custom as Record<string, unknown>)['fetched-apps'];
  if (!isObject(fetched)) return { kind: 'all' };
  const uri = fetched.uri;
  if (typeof uri !== 'string' || uri === '') return { kind: 'none' };
  const shortlist = fetched.shortlist;
  if (typeof shortlist !== 'string' || shortlist.trim() === '') return { kind: 'all' };
  const apps = shortlist.split(/[,\s]+/).filter((a) => a !== '');
  return { kind: 'shortlist', apps };
}

/** The apps (name → URI) a bundle must carry for this Target. */
export function targetAppsForBundle(entry: TargetEntry): Record<string, string> {
  const mode = offlineAppMode(entry.info.custom ?? {});
  if (mode.kind === 'all') return { ...entry.apps };
  if (mode.kind === 'none') return {};
  return Object.fromEntries(
    Object.entries(entry.apps).filter(([name]) => mode.apps.includes(name)),
  );
}

/**
 * The apps a device must find in the bundle for this Target: the device's `compose_apps`
 * (all of the Target's apps when unset), restricted to what the bundle carries.
 */
export function requiredApps(
  entry: TargetEntry,
  composeApps: readonly string[] | undefined,
): Record<string, string> {
  const carried = targetAppsForBundle(entry);
  const wanted = composeApps === undefined ? Object.keys(entry.apps) : composeApps;
  return Object.fromEntries(Object.entries(carried).filter(([name]) => wanted.includes(name)));
}

/** Why a Target does not fit a device, or null when it does (reference §3.4 step 5). */
export function targetMismatch(
  entry: TargetEntry,
  device: { hardwareId: string; tags: readonly string[] },
): string | null {
  if (entry.hardwareId !== device.hardwareId) {
    return `hardware id ${entry.hardwareId} differs from the device's ${device.hardwareId}`;
  }
  if (device.tags.length > 0 && !entry.tags.some((t) => device.tags.includes(t))) {
    return `tags ${entry.tags.join(',') || '(none)'} do not include the device's ${device.tags.join(',')}`;
  }
  return null;
}

export function compareTargets(a: TargetEntry, b: TargetEntry): number {
  return a.version - b.version || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}
