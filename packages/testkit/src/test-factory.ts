/**
 * A ready test factory built by the production builder: `initFactory`, then
 * `publishTarget` for each version (library calls only, so it is fast).
 */
import { join } from 'node:path';
import {
  initFactory,
  makeSampleApp,
  makeSampleRootfs,
  publishTarget,
  type InitFactoryResult,
} from '@offline-ota/bundle';
import { systemClock, type Clock } from '@offline-ota/format';

export interface TestFactoryOptions {
  /** Working directory: the factory goes to `<dir>/factory`, sources to `<dir>/sources`. */
  dir: string;
  /** Where the offline key archives go; default `<dir>/offline-keys`. */
  offlineKeysDir?: string;
  name?: string;
  hardwareId?: string;
  tag?: string;
  versions?: number[];
  apps?: string[];
  /** App names whose service exits with status 3 instead of running (the failure tests' app). */
  failingApps?: string[];
  clock?: Clock;
  rootExpiresInDays?: number;
  prodTargetsKeys?: number;
  prodTargetsThreshold?: number;
}

export interface TestFactory {
  factoryDir: string;
  /** Target names, in the order of `versions`. */
  targets: string[];
  offlineKeys: { root: string; targets: string[] };
  hardwareId: string;
  tag: string;
  init: InitFactoryResult;
  /** Target name → OSTree commit. */
  commits: Record<string, string>;
}

/**
 * A ready factory: init, then publish each version (rootfs with `VERSION_ID=<N>`, and
 * apps whose image content changes with N). Library calls only, so it is fast.
 */
export async function createTestFactory(o: TestFactoryOptions): Promise<TestFactory> {
  const hardwareId = o.hardwareId ?? 'sim-x86';
  const tag = o.tag ?? 'main';
  const versions = o.versions ?? [1, 2];
  const appNames = o.apps ?? ['shellhttpd'];
  const clock = o.clock ?? systemClock;
  const factoryDir = join(o.dir, 'factory');
  const init = await initFactory({
    dir: factoryDir,
    name: o.name ?? 'acme',
    offlineKeysDir: o.offlineKeysDir ?? join(o.dir, 'offline-keys'),
    clock,
    ...(o.rootExpiresInDays === undefined ? {} : { rootExpiresInDays: o.rootExpiresInDays }),
    ...(o.prodTargetsKeys === undefined ? {} : { prodTargetsKeys: o.prodTargetsKeys }),
    ...(o.prodTargetsThreshold === undefined
      ? {}
      : { prodTargetsThreshold: o.prodTargetsThreshold }),
  });
  const targets: string[] = [];
  const commits: Record<string, string> = {};
  for (const v of versions) {
    const src = join(o.dir, 'sources', `v${v}`);
    const rootfs = await makeSampleRootfs(join(src, 'rootfs'), {
      version: v,
      osName: init.config.osName,
    });
    const apps: string[] = [];
    for (const app of appNames) {
      const made = await makeSampleApp(join(src, 'apps'), {
        name: app,
        images: [
          {
            name: app,
            files: {
              [`srv/${app}/index.html`]: `<p>${app} version ${v}</p>\n`,
              'etc/version': `${v}\n`,
            },
            service: {
              serves: String(v),
              ...(o.failingApps?.includes(app) === true ? { exitCode: 3 } : {}),
            },
          },
        ],
      });
      apps.push(made.projectDir);
    }
    const res = await publishTarget({
      factory: factoryDir,
      rootfsDir: rootfs,
      hardwareId,
      version: v,
      tags: [tag],
      apps,
      clock,
    });
    targets.push(res.name);
    commits[res.name] = res.commit;
  }
  return { factoryDir, targets, offlineKeys: init.offlineKeys, hardwareId, tag, init, commits };
}
