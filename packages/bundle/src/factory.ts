import { mkdir, readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  blobDir,
  factoryPaths,
  formatTufTime,
  generateSigningKey,
  keyIdOf,
  parsePrivateKeyFile,
  privateKeyFile,
  signEnvelope,
  systemClock,
  type BundleType,
  type Clock,
  type FactoryConfig,
  type SigningKey,
} from '@offline-ota/format';
import { BundleError, errorMessage } from './errors.js';
import { exists, isEmptyDir, readJsonFile, writeFileAtomic } from './fsutil.js';
import { writeKeyArchive } from './key-archive.js';
import { ostreeInitArchive } from './ostree.js';
import { buildRootSigned, writeSigned } from './tuf-repo.js';

export const DAY_MS = 24 * 60 * 60 * 1000;

/** A factory name is used in app URIs: `<host>/<factory>/<app>@sha256:…`. */
export const FACTORY_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;
export const REGISTRY_HOST_RE = /^[a-z0-9.-]+(?::[0-9]+)?$/;
export const TAG_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export type OnlineRole = 'timestamp' | 'snapshot' | 'ci-targets';
const ONLINE_ROLES: readonly OnlineRole[] = ['timestamp', 'snapshot', 'ci-targets'];

/** An opened factory: its paths, configuration and online keys. */
export interface Factory {
  dir: string;
  paths: ReturnType<typeof factoryPaths>;
  config: FactoryConfig;
  onlineKeys: Record<OnlineRole, SigningKey>;
}

export interface InitFactoryOptions {
  dir: string;
  name: string;
  registryHost?: string;
  osName?: string;
  /** Where the offline key archives are written; never inside the factory. */
  offlineKeysDir: string;
  rootKeys?: number;
  rootThreshold?: number;
  prodTargetsKeys?: number;
  prodTargetsThreshold?: number;
  rootExpiresInDays?: number;
  clock?: Clock;
  /**
   * Where the keys come from, by label (`timestamp`, `snapshot`, `ci-targets`, `root-<i>`,
   * `prod-targets-<i>`, i from 1); default: fresh random keys. Only for reproducible test
   * factories (test-bundles/): a real factory never takes keys from fixed seeds.
   */
  keySource?: (label: string) => SigningKey;
}

export interface InitFactoryResult {
  factoryDir: string;
  config: FactoryConfig;
  rootKeyIds: string[];
  ciTargetsKeyId: string;
  prodTargetsKeyIds: string[];
  offlineKeys: { root: string; targets: string[] };
}

function checkCount(what: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new BundleError(
      'INVALID_ARGUMENT',
      `${what} must be a whole number from ${min} to ${max}, got ${value}`,
    );
  }
}

function isInside(child: string, parent: string): boolean {
  const c = resolve(child);
  const p = resolve(parent);
  return c === p || c.startsWith(p + '/');
}

/**
 * Creates a factory: online keys, root v1 of the `ci` and `prod` chains (same root keys),
 * counters, an empty catalog and app store, an archive-mode OSTree repo. The offline
 * keys (root, production targets) go to `offlineKeysDir` as key archives, never into the
 * factory.
 */
export async function initFactory(o: InitFactoryOptions): Promise<InitFactoryResult> {
  const clock = o.clock ?? systemClock;
  const registryHost = o.registryHost ?? 'registry.local';
  const osName = o.osName ?? 'lmp';
  const rootKeysN = o.rootKeys ?? 1;
  const rootThreshold = o.rootThreshold ?? 1;
  const prodN = o.prodTargetsKeys ?? 3;
  const prodThreshold = o.prodTargetsThreshold ?? 2;
  const days = o.rootExpiresInDays ?? 365;
  if (!FACTORY_NAME_RE.test(o.name)) {
    throw new BundleError(
      'INVALID_ARGUMENT',
      `factory name "${o.name}" is not valid: use lowercase letters, digits, ".", "_" and "-" (it becomes part of app URIs)`,
    );
  }
  if (!REGISTRY_HOST_RE.test(registryHost)) {
    throw new BundleError(
      'INVALID_ARGUMENT',
      `registry host "${registryHost}" is not a valid host name`,
    );
  }
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(osName)) {
    throw new BundleError('INVALID_ARGUMENT', `OS name "${osName}" is not valid`);
  }
  checkCount('the number of root keys', rootKeysN, 1, 16);
  checkCount('the root threshold', rootThreshold, 1, rootKeysN);
  checkCount('the number of production targets keys', prodN, 1, 16);
  checkCount('the production targets threshold', prodThreshold, 1, prodN);
  checkCount('the root expiry in days', days, 1, 3650);
  if (isInside(o.offlineKeysDir, o.dir)) {
    throw new BundleError(
      'INVALID_ARGUMENT',
      `the offline keys directory ${o.offlineKeysDir} is inside the factory ${o.dir}; offline keys must be kept apart from the factory`,
    );
  }
  if (!(await isEmptyDir(o.dir))) {
    throw new BundleError(
      'FACTORY_NOT_EMPTY',
      `${o.dir} is not empty; a factory is created in a new or empty directory`,
      { file: o.dir },
    );
  }
  const rootArchive = join(o.offlineKeysDir, 'root-keys.tgz');
  const targetsArchives = Array.from({ length: prodN }, (_, i) =>
    join(o.offlineKeysDir, `targets-key-${i + 1}.tgz`),
  );
  for (const p of [rootArchive, ...targetsArchives]) {
    if (await exists(p)) {
      throw new BundleError(
        'INVALID_ARGUMENT',
        `${p} already exists; refusing to overwrite offline keys. Choose another --offline-keys directory`,
        { file: p },
      );
    }
  }

  const existedBefore = await exists(o.dir);
  const written: string[] = [];
  try {
    const paths = factoryPaths(o.dir);
    await mkdir(o.dir, { recursive: true });
    const now = clock();
    const config: FactoryConfig = {
      name: o.name,
      registryHost,
      osName,
      createdAt: formatTufTime(now),
    };
    await writeFileAtomic(paths.config, JSON.stringify(config, null, 2) + '\n');

    const newKey = o.keySource ?? (() => generateSigningKey());
    const online = {
      timestamp: newKey('timestamp'),
      snapshot: newKey('snapshot'),
      'ci-targets': newKey('ci-targets'),
    } satisfies Record<OnlineRole, SigningKey>;
    for (const role of ONLINE_ROLES) {
      const k = online[role];
      await writeFileAtomic(
        paths.onlineKey(role, 'pub'),
        JSON.stringify(k.publicKey, null, 2) + '\n',
      );
      await writeFileAtomic(
        paths.onlineKey(role, 'sec'),
        JSON.stringify(privateKeyFile(k), null, 2) + '\n',
        {
          mode: 0o600,
        },
      );
    }
    const rootKeys = Array.from({ length: rootKeysN }, (_, i) => newKey(`root-${i + 1}`));
    const prodKeys = Array.from({ length: prodN }, (_, i) => newKey(`prod-targets-${i + 1}`));
    const expires = formatTufTime(new Date(now.getTime() + days * DAY_MS));
    const common = {
      rootKeys: rootKeys.map((k) => k.publicKey),
      rootThreshold,
      snapshotKey: online.snapshot.publicKey,
      timestampKey: online.timestamp.publicKey,
    };
    const ci = buildRootSigned(
      1,
      expires,
      { ...common, targetsKeys: [online['ci-targets'].publicKey], targetsThreshold: 1 },
      keyIdOf,
      'ci',
    );
    const prod = buildRootSigned(
      1,
      expires,
      { ...common, targetsKeys: prodKeys.map((k) => k.publicKey), targetsThreshold: prodThreshold },
      keyIdOf,
      'prod',
    );
    await writeSigned(paths.root('ci', 1), signEnvelope(ci, rootKeys));
    await writeSigned(paths.root('prod', 1), signEnvelope(prod, rootKeys));
    await writeCounters(paths.counters, emptyCounters());
    await mkdir(paths.catalogDir, { recursive: true });
    await mkdir(blobDir(paths.appStore), { recursive: true });
    await mkdir(join(paths.appStore, 'apps'), { recursive: true });
    await ostreeInitArchive(paths.ostreeRepo);

    await mkdir(o.offlineKeysDir, { recursive: true });
    await writeKeyArchive(rootArchive, 'root', rootKeys);
    written.push(rootArchive);
    for (let i = 0; i < prodN; i++) {
      await writeKeyArchive(targetsArchives[i], 'targets', [prodKeys[i]]);
      written.push(targetsArchives[i]);
    }
    return {
      factoryDir: o.dir,
      config,
      rootKeyIds: rootKeys.map((k) => k.keyid),
      ciTargetsKeyId: online['ci-targets'].keyid,
      prodTargetsKeyIds: prodKeys.map((k) => k.keyid),
      offlineKeys: { root: rootArchive, targets: targetsArchives },
    };
  } catch (err) {
    // Leave nothing half-made: the directory was empty (or absent) when we started.
    for (const p of written) await rm(p, { force: true }).catch(() => undefined);
    if (existedBefore) {
      for (const name of await readdir(o.dir).catch(() => [] as string[])) {
        await rm(join(o.dir, name), { recursive: true, force: true }).catch(() => undefined);
      }
    } else {
      await rm(o.dir, { recursive: true, force: true }).catch(() => undefined);
    }
    throw err;
  }
}

/** Opens a factory directory, reading its configuration and online keys. */
export async function openFactory(dir: string): Promise<Factory> {
  const paths = factoryPaths(dir);
  if (!(await exists(paths.config))) {
    throw new BundleError(
      'FACTORY_INVALID',
      `${dir} is not a factory (no factory.json); create one with bundlectl factory init`,
      { file: paths.config },
    );
  }
  const raw = (await readJsonFile(paths.config, 64 * 1024)) as Partial<FactoryConfig> | null;
  if (
    raw === null ||
    typeof raw !== 'object' ||
    typeof raw.name !== 'string' ||
    typeof raw.registryHost !== 'string' ||
    typeof raw.osName !== 'string'
  ) {
    throw new BundleError('FACTORY_INVALID', `${paths.config} lacks name, registryHost or osName`, {
      file: paths.config,
    });
  }
  const config: FactoryConfig = {
    name: raw.name,
    registryHost: raw.registryHost,
    osName: raw.osName,
    createdAt: typeof raw.createdAt === 'string' ? raw.createdAt : '',
  };
  const onlineKeys = {} as Record<OnlineRole, SigningKey>;
  for (const role of ONLINE_ROLES) {
    const p = paths.onlineKey(role, 'sec');
    try {
      onlineKeys[role] = parsePrivateKeyFile(await readJsonFile(p, 16 * 1024), p);
    } catch (err) {
      throw new BundleError(
        'FACTORY_INVALID',
        `cannot read the online ${role} key ${p}: ${errorMessage(err)}`,
        {
          cause: err,
          file: p,
        },
      );
    }
  }
  return { dir, paths, config, onlineKeys };
}

// ---------------------------------------------------------------------------------------
// Version counters (format doc: versions of timestamp, snapshot and targets increase
// across every bundle a factory ever issues, per root type).

export interface RoleCounters {
  targets: number;
  snapshot: number;
  timestamp: number;
}
export type Counters = Record<BundleType, RoleCounters>;

export function emptyCounters(): Counters {
  return {
    ci: { targets: 0, snapshot: 0, timestamp: 0 },
    prod: { targets: 0, snapshot: 0, timestamp: 0 },
  };
}

async function writeCounters(path: string, c: Counters): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(c, null, 2) + '\n');
}

export async function readCounters(factory: Factory): Promise<Counters> {
  const raw = (await readJsonFile(factory.paths.counters, 64 * 1024)) as Partial<Counters> | null;
  const out = emptyCounters();
  for (const type of ['ci', 'prod'] as const) {
    for (const role of ['targets', 'snapshot', 'timestamp'] as const) {
      const v = raw?.[type]?.[role];
      if (!Number.isSafeInteger(v) || (v as number) < 0) {
        throw new BundleError(
          'FACTORY_INVALID',
          `${factory.paths.counters}: ${type}.${role} must be a whole number`,
          {
            file: factory.paths.counters,
          },
        );
      }
      out[type][role] = v as number;
    }
  }
  return out;
}

/**
 * Takes the next version for each named role of a root type, persisting the counters
 * atomically before returning, so a version is never handed out twice.
 */
export async function nextVersions<R extends keyof RoleCounters>(
  factory: Factory,
  type: BundleType,
  roles: readonly R[],
): Promise<Record<R, number>> {
  const c = await readCounters(factory);
  const out = {} as Record<R, number>;
  for (const r of roles) {
    c[type][r] += 1;
    out[r] = c[type][r];
  }
  await writeCounters(factory.paths.counters, c);
  return out;
}
