import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DEFAULT_OS_NAME,
  rootFileName,
  rootVersions,
  SHA256_HEX_RE,
  factoryPaths,
  type BundleType,
  type TargetCustom,
  type TargetFileInfo,
} from '@offline-ota/format';
import { DeviceSimError, isErrno, messageOf } from './errors.js';

/** A published Target as read from the factory catalog (`targets/<name>.json`). */
export interface CatalogTarget {
  name: string;
  commit: string;
  target: TargetFileInfo & { custom: TargetCustom };
  hardwareId: string;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

async function readJson(file: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) {
      throw new DeviceSimError('FACTORY_INVALID', `${what} ${file} does not exist`, {
        cause: err,
        file,
      });
    }
    throw err;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new DeviceSimError(
      'FACTORY_INVALID',
      `${what} ${file} is not valid JSON: ${messageOf(err)}`,
      {
        cause: err,
        file,
      },
    );
  }
}

/** The factory's OSTree OS name (`factory.json` `osName`, default `lmp`). */
export async function factoryOsName(factory: string): Promise<string> {
  const file = factoryPaths(factory).config;
  const config = await readJson(file, 'factory config');
  if (!isObject(config))
    throw new DeviceSimError('FACTORY_INVALID', `${file} is not a JSON object`, { file });
  const os = config.osName ?? DEFAULT_OS_NAME;
  if (typeof os !== 'string' || !/^[A-Za-z0-9_-]+$/.test(os)) {
    throw new DeviceSimError(
      'FACTORY_INVALID',
      `${file}: "osName" must be a simple name like "lmp"`,
      { file },
    );
  }
  return os;
}

/** Reads and checks `targets/<name>.json`. */
export async function readCatalogTarget(factory: string, name: string): Promise<CatalogTarget> {
  const file = factoryPaths(factory).catalogEntry(name);
  let entry: unknown;
  try {
    entry = await readJson(file, `catalog entry of Target ${name}`);
  } catch (err) {
    if (err instanceof DeviceSimError && isErrno(err.cause, 'ENOENT')) {
      let known: string[] = [];
      try {
        known = (await readdir(factoryPaths(factory).catalogDir))
          .filter((n) => n.endsWith('.json'))
          .map((n) => n.slice(0, -5));
      } catch {
        // no catalog at all
      }
      throw new DeviceSimError(
        'FACTORY_INVALID',
        `Target ${name} is not in the factory catalog: ${file} does not exist` +
          (known.length > 0
            ? ` (published Targets: ${known.sort().join(', ')})`
            : ' (the factory has published no Target)'),
        { cause: err, file },
      );
    }
    throw err;
  }
  const bad = (detail: string): never => {
    throw new DeviceSimError('FACTORY_INVALID', `${file}: ${detail}`, { file });
  };
  if (!isObject(entry) || !isObject(entry.target)) return bad('expected {"name", "target": {...}}');
  const target = entry.target;
  const hashes = target.hashes;
  if (
    !isObject(hashes) ||
    typeof hashes.sha256 !== 'string' ||
    !SHA256_HEX_RE.test(hashes.sha256)
  ) {
    return bad('target.hashes.sha256 must be the 64-hex OSTree commit');
  }
  const custom = target.custom;
  if (
    !isObject(custom) ||
    !Array.isArray(custom.hardwareIds) ||
    typeof custom.hardwareIds[0] !== 'string'
  ) {
    return bad('target.custom.hardwareIds must hold the hardware id');
  }
  return {
    name: typeof entry.name === 'string' ? entry.name : name,
    commit: hashes.sha256,
    target: target as unknown as CatalogTarget['target'],
    hardwareId: custom.hardwareIds[0],
  };
}

/** The root files `N.root.json` of one chain, in version order (may be empty). */
export async function factoryRootFiles(factory: string, type: BundleType): Promise<string[]> {
  const dir = factoryPaths(factory).tufDir(type);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  }
  return rootVersions(names).map((v) => join(dir, rootFileName(v)));
}

/**
 * The apps a device built from this Target carries (`custom.fetched-apps`, format doc
 * §Targets): absent → every app; uri null/empty → none; shortlist "a,b" → those.
 */
export function preloadedApps(custom: TargetCustom): Array<{ app: string; uri: string }> {
  const all = Object.entries(custom.docker_compose_apps ?? {}).map(([app, ref]) => ({
    app,
    uri: ref.uri,
  }));
  const fetched = custom['fetched-apps'];
  if (fetched === undefined) return all;
  if (fetched.uri === null || fetched.uri === '') return [];
  if (fetched.shortlist === undefined || fetched.shortlist === '') return all;
  const short = new Set(fetched.shortlist.split(',').map((s) => s.trim()));
  return all.filter((a) => short.has(a.app));
}
