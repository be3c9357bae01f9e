import { stat } from 'node:fs/promises';
import {
  formatTufTime,
  systemClock,
  type Clock,
  type TargetCustom,
  type TargetFileInfo,
} from '@offline-ota/format';
import { importApp } from './app-store.js';
import { BundleError } from './errors.js';
import { DAY_MS, nextVersions, openFactory, TAG_RE, type Factory } from './factory.js';
import { exists, readJsonFile, writeFileAtomic } from './fsutil.js';
import { ostreeCommit } from './ostree.js';
import { readTargetsFile, signTargets, writeSigned } from './tuf-repo.js';

export const HARDWARE_ID_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;
export const TARGET_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,127}$/;

/** A Target in the factory catalog (`targets/<name>.json`): the unsigned entry. */
export interface CatalogEntry {
  name: string;
  target: TargetFileInfo & { custom: TargetCustom };
}

export interface PublishTargetOptions {
  /** Factory directory (or an opened factory). */
  factory: string | Factory;
  /** The rootfs tree to commit; or, with `reuseCommitOf`, none. */
  rootfsDir?: string;
  /**
   * An apps-only Target: reuse the OSTree commit of this published Target (same hardware
   * id) instead of committing a rootfs. A device running that commit installs it without
   * a reboot (aklite-offline exits 10, then `run` swaps the containers).
   */
  reuseCommitOf?: string;
  hardwareId: string;
  version: number;
  tags: string[];
  /** Compose project directories. */
  apps?: string[];
  clock?: Clock;
  subject?: string;
  /** Validity of the CI targets metadata written for each tag; default 365 days. */
  targetsExpiresInDays?: number;
}

export interface PublishTargetResult {
  name: string;
  commit: string;
  apps: Record<string, string>;
  /** The CI targets version written for each tag. */
  ciTargetsVersions: Record<string, number>;
  entry: CatalogEntry;
}

/** The commit of a new Target: the rootfs committed, or the one `reuseCommitOf` names. */
async function targetCommit(
  factory: Factory,
  o: PublishTargetOptions,
  name: string,
  now: Date,
): Promise<string> {
  if ((o.rootfsDir === undefined) === (o.reuseCommitOf === undefined))
    throw new BundleError(
      'INVALID_ARGUMENT',
      'give either a rootfs to commit (--rootfs) or a published Target whose commit to reuse (--reuse-commit)',
    );
  if (o.reuseCommitOf !== undefined) {
    const path = factory.paths.catalogEntry(o.reuseCommitOf);
    if (!TARGET_NAME_RE.test(o.reuseCommitOf) || !(await exists(path)))
      throw new BundleError(
        'INVALID_ARGUMENT',
        `--reuse-commit ${o.reuseCommitOf}: no such published Target in ${factory.dir}`,
      );
    const base = (await readJsonFile(path)) as CatalogEntry;
    if (!base.target.custom.hardwareIds.includes(o.hardwareId))
      throw new BundleError(
        'INVALID_ARGUMENT',
        `--reuse-commit ${o.reuseCommitOf}: that Target is for ${base.target.custom.hardwareIds.join(', ')}, not ${o.hardwareId}`,
      );
    return base.target.hashes.sha256;
  }
  const st = await stat(o.rootfsDir!).catch(() => undefined);
  if (!st?.isDirectory()) {
    throw new BundleError('INVALID_ARGUMENT', `rootfs ${o.rootfsDir} is not a directory`, {
      file: o.rootfsDir,
    });
  }
  return ostreeCommit({
    repo: factory.paths.ostreeRepo,
    branch: `${o.hardwareId}-${factory.config.osName}`,
    treeDir: o.rootfsDir!,
    timestamp: now,
    subject: o.subject ?? name,
  });
}

export async function resolveFactory(f: string | Factory): Promise<Factory> {
  return typeof f === 'string' ? openFactory(f) : f;
}

/**
 * Publishes a Target: commits the rootfs to the factory's OSTree repo, imports its apps,
 * adds it to the CI targets of each tag (signed with the online CI targets key, version
 * from the factory-wide counter) and records it in the catalog.
 */
export async function publishTarget(o: PublishTargetOptions): Promise<PublishTargetResult> {
  const factory = await resolveFactory(o.factory);
  const clock = o.clock ?? systemClock;
  if (!HARDWARE_ID_RE.test(o.hardwareId)) {
    throw new BundleError(
      'INVALID_ARGUMENT',
      `hardware id "${o.hardwareId}" must be lowercase letters, digits, "_" or "-"`,
    );
  }
  if (!Number.isSafeInteger(o.version) || o.version < 1) {
    throw new BundleError(
      'INVALID_ARGUMENT',
      `version must be a positive whole number, got ${o.version}`,
    );
  }
  if (o.tags.length === 0)
    throw new BundleError('INVALID_ARGUMENT', 'a Target needs at least one tag (--tag)');
  for (const t of o.tags) {
    if (!TAG_RE.test(t))
      throw new BundleError(
        'INVALID_ARGUMENT',
        `tag "${t}" must be letters, digits, ".", "_" or "-"`,
      );
  }
  const tags = [...new Set(o.tags)];
  const days = o.targetsExpiresInDays ?? 365;
  if (!Number.isInteger(days) || days < 1 || days > 3650) {
    throw new BundleError('INVALID_ARGUMENT', `targets expiry must be 1 to 3650 days, got ${days}`);
  }
  const branch = `${o.hardwareId}-${factory.config.osName}`;
  const name = `${branch}-${o.version}`;
  const entryPath = factory.paths.catalogEntry(name);
  if (await exists(entryPath)) {
    throw new BundleError(
      'TARGET_EXISTS',
      `Target ${name} is already published (${entryPath}); publish a new version instead`,
      { file: entryPath },
    );
  }
  const now = clock();
  const commit = await targetCommit(factory, o, name, now);
  const apps: Record<string, string> = {};
  for (const dir of o.apps ?? []) {
    const app = await importApp({
      projectDir: dir,
      store: factory.paths.appStore,
      registryHost: factory.config.registryHost,
      factoryName: factory.config.name,
    });
    if (apps[app.name] !== undefined) {
      throw new BundleError('APP_INVALID', `two app projects are named ${app.name}`);
    }
    apps[app.name] = app.uri;
  }
  const custom: TargetCustom = {
    name: branch,
    version: String(o.version),
    hardwareIds: [o.hardwareId],
    tags,
    targetFormat: 'OSTREE',
    docker_compose_apps: Object.fromEntries(Object.entries(apps).map(([k, uri]) => [k, { uri }])),
    createdAt: formatTufTime(now),
  };
  const entry: CatalogEntry = { name, target: { length: 0, hashes: { sha256: commit }, custom } };
  const expires = formatTufTime(new Date(now.getTime() + days * DAY_MS));
  const ciTargetsVersions: Record<string, number> = {};
  for (const tag of tags) {
    const path = factory.paths.tagTargets('ci', tag);
    const current = await readTargetsFile(path);
    const targets = { ...(current?.env.signed.targets ?? {}), [name]: entry.target };
    const { targets: version } = await nextVersions(factory, 'ci', ['targets']);
    await writeSigned(
      path,
      signTargets(version, expires, targets, [factory.onlineKeys['ci-targets']]),
    );
    ciTargetsVersions[tag] = version;
  }
  await writeFileAtomic(entryPath, JSON.stringify(entry, null, 2) + '\n');
  return { name, commit, apps, ciTargetsVersions, entry };
}

/** Reads a Target from the catalog. */
export async function readCatalogEntry(factory: Factory, name: string): Promise<CatalogEntry> {
  if (!TARGET_NAME_RE.test(name)) {
    throw new BundleError('INVALID_ARGUMENT', `"${name}" is not a valid Target name`);
  }
  const path = factory.paths.catalogEntry(name);
  if (!(await exists(path))) {
    throw new BundleError(
      'TARGET_NOT_FOUND',
      `Target ${name} is not in the factory catalog (${path})`,
      { file: path },
    );
  }
  const raw = (await readJsonFile(path, 1024 * 1024)) as Partial<CatalogEntry> | null;
  if (
    raw?.name !== name ||
    typeof raw.target?.hashes?.sha256 !== 'string' ||
    typeof raw.target.custom !== 'object'
  ) {
    throw new BundleError('FACTORY_INVALID', `${path} is not a catalog entry for ${name}`, {
      file: path,
    });
  }
  return raw as CatalogEntry;
}
