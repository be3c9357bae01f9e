import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { factoryPaths, MEDIA_TYPES } from '@offline-ota/format';

/**
 * A minimal hand-built factory (the layout of packages/format factory-layout.ts), enough
 * for device-sim: an archive OSTree repo with bootable commits, catalog entries, dummy
 * roots and an OCI app store. Not signed: device-sim never verifies TUF.
 */
export interface SimFactoryOptions {
  dir: string;
  hardwareId?: string;
  tag?: string;
  /** Target versions to publish, each its own commit. */
  versions?: number[];
  /** Apps carried by every Target. */
  apps?: Array<{ name: string; failStart?: boolean; images?: number }>;
}

export interface SimFactory {
  dir: string;
  hardwareId: string;
  targets: Array<{ name: string; version: number; commit: string }>;
  /** App name → app manifest hex. */
  apps: Record<string, string>;
  /** Every image manifest hex (for tamper tests). */
  imageManifests: string[];
  /** Every image layer hex (for tamper tests). */
  imageLayers: string[];
}

const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

async function putBlob(
  store: string,
  bytes: Uint8Array | string,
): Promise<{ hex: string; size: number }> {
  const buf = typeof bytes === 'string' ? Buffer.from(bytes) : Buffer.from(bytes);
  const hex = sha256(buf);
  await mkdir(join(store, 'blobs/sha256'), { recursive: true });
  await writeFile(join(store, 'blobs/sha256', hex), buf);
  return { hex, size: buf.length };
}

export async function makeSimFactory(opts: SimFactoryOptions): Promise<SimFactory> {
  const hardwareId = opts.hardwareId ?? 'intel-corei7-64';
  const tag = opts.tag ?? 'main';
  const versions = opts.versions ?? [1, 2];
  const fp = factoryPaths(opts.dir);
  await mkdir(fp.dir, { recursive: true });
  await writeFile(
    fp.config,
    JSON.stringify({
      name: 'acme',
      registryHost: 'registry.local',
      osName: 'lmp',
      createdAt: '2026-11-21T10:00:00Z',
    }),
  );
  for (const [type, n] of [
    ['ci', 2],
    ['prod', 2],
  ] as const) {
    await mkdir(fp.tufDir(type), { recursive: true });
    for (let v = 1; v <= n; v++) {
      await writeFile(
        fp.root(type, v),
        JSON.stringify({ signatures: [], signed: { _type: 'root', version: v, type } }),
      );
    }
  }

  // Apps: compose bundle + image list + images, all content-addressed.
  const store = fp.appStore;
  const apps: Record<string, string> = {};
  const imageManifests: string[] = [];
  const imageLayers: string[] = [];
  const work = await mkdtemp(join(tmpdir(), 'simfactory-'));
  try {
    for (const app of opts.apps ?? []) {
      const images: Array<{ ref: string; digest: string; service: string }> = [];
      for (let i = 0; i < (app.images ?? 1); i++) {
        const layer = await putBlob(store, `layer of ${app.name} image ${i} ${'x'.repeat(100)}`);
        const config = await putBlob(
          store,
          JSON.stringify({ architecture: 'amd64', os: 'linux', app: app.name, i }),
        );
        const manifest = await putBlob(
          store,
          JSON.stringify({
            schemaVersion: 2,
            mediaType: MEDIA_TYPES.ociManifest,
            config: {
              mediaType: MEDIA_TYPES.ociConfig,
              digest: `sha256:${config.hex}`,
              size: config.size,
            },
            layers: [
              {
                mediaType: MEDIA_TYPES.ociLayerGzip,
                digest: `sha256:${layer.hex}`,
                size: layer.size,
              },
            ],
          }),
        );
        imageManifests.push(manifest.hex);
        imageLayers.push(layer.hex);
        images.push({
          ref: `registry.local/acme/${app.name}-img${i}@sha256:${manifest.hex}`,
          digest: `sha256:${manifest.hex}`,
          service: `svc${i}`,
        });
      }
      const projDir = join(work, app.name);
      await mkdir(projDir, { recursive: true });
      const services = images
        .map((im) => `  ${im.service}:\n    image: ${im.ref}\n    restart: always\n`)
        .join('');
      const marker = app.failStart ? 'x-compose-sim:\n  fail-start: true\n' : '';
      await writeFile(join(projDir, 'docker-compose.yml'), `${marker}services:\n${services}`);
      const tgz = join(work, `${app.name}.tgz`);
      execFileSync('tar', ['-czf', tgz, '-C', projDir, 'docker-compose.yml']);
      const { readFile } = await import('node:fs/promises');
      const bundle = await putBlob(store, await readFile(tgz));
      const list = await putBlob(
        store,
        JSON.stringify({ images: images.map(({ ref, digest }) => ({ ref, digest })) }),
      );
      const appManifestJson = JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociManifest,
        artifactType: MEDIA_TYPES.composeApp,
        config: { mediaType: MEDIA_TYPES.ociEmpty, digest: `sha256:${sha256('{}')}`, size: 2 },
        layers: [
          {
            mediaType: MEDIA_TYPES.composeBundle,
            digest: `sha256:${bundle.hex}`,
            size: bundle.size,
          },
          { mediaType: MEDIA_TYPES.appImages, digest: `sha256:${list.hex}`, size: list.size },
        ],
      });
      const appManifest = await putBlob(store, appManifestJson);
      apps[app.name] = appManifest.hex;
      await mkdir(join(store, 'apps', app.name, appManifest.hex), { recursive: true });
      await writeFile(
        join(store, 'apps', app.name, appManifest.hex, 'uri'),
        `registry.local/acme/${app.name}@sha256:${appManifest.hex}`,
      );
      await writeFile(
        join(store, 'apps', app.name, appManifest.hex, 'manifest.json'),
        appManifestJson,
      );
    }

    // OSTree: one bootable commit per version.
    execFileSync('ostree', ['init', `--repo=${fp.ostreeRepo}`, '--mode=archive']);
    const tree = join(work, 'rootfs');
    await mkdir(join(tree, 'usr/lib/modules/6.1.0-sim'), { recursive: true });
    await mkdir(join(tree, 'usr/etc'), { recursive: true });
    await writeFile(join(tree, 'usr/lib/modules/6.1.0-sim/vmlinuz'), 'not really a kernel\n');
    await mkdir(fp.catalogDir, { recursive: true });
    const targets: SimFactory['targets'] = [];
    for (const version of versions) {
      await writeFile(
        join(tree, 'usr/etc/os-release'),
        `ID=lmp\nPRETTY_NAME="Linux-microPlatform sim ${version}"\nVERSION_ID=${version}\n`,
      );
      const commit = execFileSync(
        'ostree',
        [
          `--repo=${fp.ostreeRepo}`,
          'commit',
          `--branch=${hardwareId}`,
          `--tree=dir=${tree}`,
          `--subject=v${version}`,
        ],
        { encoding: 'utf8' },
      ).trim();
      const name = `${hardwareId}-lmp-${version}`;
      const custom = {
        name: `${hardwareId}-lmp`,
        version: String(version),
        hardwareIds: [hardwareId],
        tags: [tag],
        targetFormat: 'OSTREE',
        docker_compose_apps: Object.fromEntries(
          Object.entries(apps).map(([app, hex]) => [
            app,
            { uri: `registry.local/acme/${app}@sha256:${hex}` },
          ]),
        ),
        createdAt: '2026-11-21T10:00:00Z',
      };
      await writeFile(
        fp.catalogEntry(name),
        JSON.stringify({ name, target: { length: 0, hashes: { sha256: commit }, custom } }),
      );
      targets.push({ name, version, commit });
    }
    return { dir: fp.dir, hardwareId, targets, apps, imageManifests, imageLayers };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
