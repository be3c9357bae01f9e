/**
 * The container-engine port's contract, one suite run against both adapters for real:
 * podman with a store of its own (vfs) and the project's containers.conf, and docker
 * through a daemon this file starts and stops itself (Debian's dockerd and client,
 * Debian's docker-compose 1.29 as the compose command). Sample images are built once.
 */
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { makeSampleApp } from '@offline-ota/bundle';
import { CONTAINERS_CONF_FILE } from '@offline-ota/device-sim';
import {
  dockerEngine,
  EngineError,
  loadAppImages,
  pinnedImage,
  podmanEngine,
  readComposeProject,
  type AppImage,
  type ContainerEngine,
  type ServiceStatus,
} from '@offline-ota/format';
import {
  appImageOfLayout,
  DEBIAN_DOCKER,
  startTestDockerd,
  type TestDockerd,
} from '@offline-ota/testkit';
import { flipByte } from './helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Samples {
  work: string;
  /** Each sample image as a one-image "store" (its layout) and its AppImage. */
  good: { store: string; image: AppImage };
  bad: { store: string; image: AppImage };
}

async function buildSamples(): Promise<Samples> {
  const work = await mkdtemp(join(tmpdir(), 'engine-contract-'));
  const app = await makeSampleApp(join(work, 'src'), {
    name: 'contract',
    images: [
      { name: 'good', service: { serves: '7' } },
      { name: 'bad', service: { serves: '7', exitCode: 3 } },
    ],
  });
  const one = async (name: string) => {
    const store = join(app.projectDir, 'images', name);
    return { store, image: await appImageOfLayout(store, `registry.local/contract/${name}`) };
  };
  return { work, good: await one('good'), bad: await one('bad') };
}

/** Writes a compose project for the sample images and reads it with the port's model. */
async function project(dir: string, name: string, services: Record<string, string>) {
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, 'docker-compose.yml'),
    `services:\n${Object.values(services).join('')}`,
  );
  return readComposeProject(dir, name);
}

const service = (name: string, image: AppImage, extra = '') =>
  `  ${name}:\n    image: ${image.ref}\n    network_mode: none\n    pull_policy: never\n${extra}`;

async function waitFor(
  engine: ContainerEngine,
  app: string,
  done: (s: ServiceStatus[]) => boolean,
  ms = 30_000,
): Promise<ServiceStatus[]> {
  let last: ServiceStatus[] = [];
  for (const end = Date.now() + ms; Date.now() < end; await sleep(250)) {
    last = await engine.ps(app);
    if (done(last)) return last;
  }
  throw new Error(`timed out; last status ${JSON.stringify(last)}`);
}

function contract(
  label: string,
  make: (work: string) => Promise<{ engine: ContainerEngine; teardown: () => Promise<void> }>,
) {
  describe(`the ${label} adapter of the container-engine port`, function () {
    let s: Samples;
    let engine: ContainerEngine;
    let teardown: () => Promise<void>;
    let work: string;
    before(async function () {
      s = await buildSamples();
      work = s.work;
      ({ engine, teardown } = await make(join(work, 'engine')));
    });
    after(async function () {
      await engine?.removeAll().catch(() => undefined);
      await teardown?.();
      await rm(work, { recursive: true, force: true });
    });

    it('refuses a tampered layer before the engine sees it, leaving its images as they were', async function () {
      const store = join(work, 'tampered');
      await mkdir(join(store, 'blobs/sha256'), { recursive: true });
      const img = s.good.image;
      for (const b of [img.manifest, img.config, ...img.layers])
        await copyFile(
          join(s.good.store, 'blobs/sha256', b.hex),
          join(store, 'blobs/sha256', b.hex),
        );
      await flipByte(join(store, 'blobs/sha256', img.layers[0].hex));
      const err = await loadAppImages(
        engine,
        store,
        'contract',
        [img],
        join(work, 'scratch'),
      ).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(EngineError);
      expect((err as EngineError).code).to.equal('IMAGE_INVALID');
      expect(await engine.hasImage(pinnedImage(img, 'contract'))).to.equal(false);
      expect(await engine.pruneImages([])).to.deep.equal([]);
    });

    it('loads images from verified layouts, and loading again finds them present', async function () {
      const images = [s.good.image, s.bad.image];
      const first = await loadAppImages(
        engine,
        s.good.store,
        'contract',
        [s.good.image],
        join(work, 'scratch'),
      );
      await loadAppImages(engine, s.bad.store, 'contract', [s.bad.image], join(work, 'scratch'));
      expect(first.loaded.map((i) => i.ref)).to.deep.equal([s.good.image.ref]);
      for (const i of images)
        expect(await engine.hasImage(pinnedImage(i, 'contract'))).to.equal(true);
      const again = await loadAppImages(
        engine,
        s.good.store,
        'contract',
        [s.good.image],
        join(work, 'scratch'),
      );
      expect(again.loaded).to.deep.equal([]);
      expect(again.present.map((i) => i.ref)).to.deep.equal([s.good.image.ref]);
    });

    it('starts a project whose service runs, and reads its log', async function () {
      const p = await project(join(work, 'apps/web'), 'web', {
        svc: service('svc', s.good.image, '    restart: always\n'),
      });
      await engine.up(p);
      const [st] = await waitFor(engine, 'web', (l) => l.length === 1 && l[0].state === 'running');
      expect(st).to.include({
        app: 'web',
        service: 'svc',
        state: 'running',
        restartPolicy: 'always',
        health: 'none',
      });
      let log = '';
      for (let i = 0; i < 40 && !log.includes('serving'); i++, await sleep(100))
        log = await engine.logs(st.container, 5);
      expect(log).to.equal('good serving version 7');
    });

    it('reports a service that exits with its exit code and its last log lines', async function () {
      const p = await project(join(work, 'apps/broken'), 'broken', {
        svc: service('svc', s.bad.image, '    restart: "no"\n'),
      });
      await engine.up(p);
      const [st] = await waitFor(engine, 'broken', (l) => l[0]?.state === 'exited');
      expect(st.exitCode).to.equal(3);
      expect(await engine.logs(st.container, 5)).to.match(
        /bad serving version 7\nbad: cannot start/,
      );
    });

    it('reports health: healthy where the check passes, unhealthy where it fails', async function () {
      const hc = (test: string) =>
        `    healthcheck:\n      test: ["CMD", "/bin/busybox", "${test}"]\n      interval: 1s\n      retries: 1\n`;
      const p = await project(join(work, 'apps/hc'), 'hc', {
        ok: service('ok', s.good.image, hc('true')),
        sick: service('sick', s.good.image, hc('false')),
      });
      await engine.up(p);
      const l = await waitFor(
        engine,
        'hc',
        (x) => x.length === 2 && x.every((c) => c.health === 'healthy' || c.health === 'unhealthy'),
      );
      expect(l.map((c) => [c.service, c.health])).to.deep.equal([
        ['ok', 'healthy'],
        ['sick', 'unhealthy'],
      ]);
    });

    it('stops all containers and starts the chosen ones again, as a reboot does', async function () {
      await engine.stopAll();
      const stopped = await engine.ps('web');
      expect(stopped[0].state).to.equal('exited');
      await engine.start([stopped[0].container]);
      await waitFor(engine, 'web', (l) => l[0]?.state === 'running');
    });

    it('removes a project, and prunes the images nothing keeps', async function () {
      for (const app of ['web', 'broken', 'hc']) await engine.down(app);
      expect(await engine.ps()).to.deep.equal([]);
      const removed = await engine.pruneImages([pinnedImage(s.good.image, 'contract')]);
      expect(removed).to.have.length(1);
      expect(await engine.hasImage(pinnedImage(s.good.image, 'contract'))).to.equal(true);
      expect(await engine.hasImage(pinnedImage(s.bad.image, 'contract'))).to.equal(false);
    });
  });
}

contract('podman', (dir) =>
  Promise.resolve({
    engine: podmanEngine({
      store: { root: join(dir, 'storage'), runRoot: join(dir, 'run') },
      containersConf: CONTAINERS_CONF_FILE,
      stopTimeoutSeconds: 5,
    }),
    teardown: () => Promise.resolve(),
  }),
);

contract('docker', async (dir) => {
  let d: TestDockerd | undefined = await startTestDockerd(join(dir, 'dockerd'));
  return {
    engine: dockerEngine({
      bin: DEBIAN_DOCKER,
      host: d.host,
      composeCommand: ['docker-compose'],
      stopTimeoutSeconds: 5,
    }),
    teardown: async () => {
      await d?.stop();
      d = undefined;
    },
  };
});
