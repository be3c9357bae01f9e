import { readFile } from 'node:fs/promises';
import { createTestFactory } from '@offline-ota/testkit';
import { APP_URI_RE, factoryPaths, type TargetCustom } from '@offline-ota/format';
import { appContent } from '../../src/app-store.js';

/**
 * A factory built by the production builder (`createTestFactory` of @offline-ota/testkit),
 * with what the device-sim tests need to know about it read back from its catalog and
 * app store.
 */
export interface SimFactoryOptions {
  /** Working directory; the factory goes to `<dir>/factory`. */
  dir: string;
  versions?: number[];
  apps?: string[];
  failingApps?: string[];
}

export interface SimFactory {
  dir: string;
  hardwareId: string;
  targets: Array<{ name: string; version: number; commit: string }>;
  /** App name → app manifest hex, in the first Target. */
  apps: Record<string, string>;
  /** Image manifest hex of every image of the first Target's apps. */
  imageManifests: string[];
  /** Image layer hex of every image of the first Target's apps. */
  imageLayers: string[];
}

export async function makeSimFactory(opts: SimFactoryOptions): Promise<SimFactory> {
  const versions = opts.versions ?? [1, 2];
  const tf = await createTestFactory({
    dir: opts.dir,
    versions,
    apps: opts.apps ?? ['shellhttpd'],
    failingApps: opts.failingApps ?? [],
  });
  const fp = factoryPaths(tf.factoryDir);
  const targets = tf.targets.map((name, i) => ({
    name,
    version: versions[i],
    commit: tf.commits[name],
  }));
  const entry = JSON.parse(await readFile(fp.catalogEntry(targets[0].name), 'utf8')) as {
    target: { custom: TargetCustom };
  };
  const apps: Record<string, string> = {};
  const imageManifests: string[] = [];
  const imageLayers: string[] = [];
  for (const [app, ref] of Object.entries(entry.target.custom.docker_compose_apps ?? {})) {
    const hex = APP_URI_RE.exec(ref.uri)![4];
    apps[app] = hex;
    const content = await appContent(fp.appStore, app, hex);
    for (const image of content.images) {
      imageManifests.push(image.manifestHex);
      imageLayers.push(...image.layers);
    }
  }
  return {
    dir: tf.factoryDir,
    hardwareId: tf.hardwareId,
    targets,
    apps,
    imageManifests,
    imageLayers,
  };
}
