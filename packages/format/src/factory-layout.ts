import { join } from 'node:path';
import type { BundleType } from './layout.js';

/**
 * Where things live in a factory directory (docs/factory.md). The host package writes
 * it; device-sim reads it to provision a device booted on a published Target.
 *
 * ```
 * <factory>/factory.json                 { name, registryHost, osName, createdAt }
 * <factory>/keys/<role>.pub|.sec         online keys: timestamp, snapshot, ci-targets (0600)
 * <factory>/tuf/<ci|prod>/<N>.root.json  the two root chains
 * <factory>/tuf/ci/tags/<tag>/targets.json     CI targets per tag (online key)
 * <factory>/tuf/prod/tags/<tag>/targets.json   production targets per tag (offline keys)
 * <factory>/tuf/prod/waves/<wave>/targets.json wave targets (offline keys) + wave.json
 * <factory>/tuf/counters.json            factory-wide version counters per root type
 * <factory>/targets/<name>.json          catalog: every published Target (unsigned copy)
 * <factory>/ostree_repo/                 archive-mode OSTree repo
 * <factory>/apps/                        app store: apps/<app>/<hex>/…, blobs/sha256/<hex>
 * ```
 */
export const factoryPaths = (dir: string) => ({
  dir,
  config: join(dir, 'factory.json'),
  keysDir: join(dir, 'keys'),
  onlineKey: (role: 'timestamp' | 'snapshot' | 'ci-targets', ext: 'pub' | 'sec') =>
    join(dir, 'keys', `${role}.${ext}`),
  tufDir: (type: BundleType) => join(dir, 'tuf', type),
  root: (type: BundleType, version: number) => join(dir, 'tuf', type, `${version}.root.json`),
  tagTargets: (type: BundleType, tag: string) =>
    join(dir, 'tuf', type, 'tags', tag, 'targets.json'),
  waveDir: (wave: string) => join(dir, 'tuf', 'prod', 'waves', wave),
  waveTargets: (wave: string) => join(dir, 'tuf', 'prod', 'waves', wave, 'targets.json'),
  counters: join(dir, 'tuf', 'counters.json'),
  catalogDir: join(dir, 'targets'),
  catalogEntry: (name: string) => join(dir, 'targets', `${name}.json`),
  ostreeRepo: join(dir, 'ostree_repo'),
  appStore: join(dir, 'apps'),
});

export interface FactoryConfig {
  name: string;
  /** Registry host used in app URIs, e.g. `registry.local`. */
  registryHost: string;
  /** OSTree OS name used by devices, e.g. `lmp`. */
  osName: string;
  createdAt: string;
}
