import { expect } from 'chai';
import { appendFile, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  composeSimStateFile,
  createDevice,
  readComposeSimState,
  runComposeSim,
  runningApps,
  type ComposeSimResult,
} from '../../src/index.js';
import { makeSimFactory, type SimFactory } from '../helpers/factory.js';
import { scratch } from '../helpers/device.js';

describe('compose-sim', function () {
  let work: Awaited<ReturnType<typeof scratch>>;
  let factory: SimFactory;
  let n = 0;
  let root: string;
  const project = (app: string) => join(root, 'var/sota/compose-apps', app);
  const store = () => join(root, 'var/sota/reset-apps');
  const compose = (app: string, ...args: string[]): Promise<ComposeSimResult> =>
    runComposeSim(['--project-directory', project(app), ...args], '/');

  before(async function () {
    work = await scratch('compose');
    factory = await makeSimFactory({
      dir: join(work.dir, 'f'),
      versions: [1],
      apps: ['shellhttpd', 'broken'],
      failingApps: ['broken'],
    });
  });
  after(async function () {
    await work.cleanup();
  });
  beforeEach(async function () {
    root = join(work.dir, `dev${++n}`);
    await createDevice({ root, factory: factory.dir, target: factory.targets[0].name });
  });

  describe('on a device created with a fail-start app', function () {
    it('started the complete app and recorded the marked one as failed', async function () {
      expect(await runningApps(root)).to.deep.equal(['shellhttpd']);
      const state = await readComposeSimState(root);
      expect(state.apps.broken.state).to.equal('failed');
    });
  });

  describe('up -d', function () {
    it('succeeds for a complete app and records it as running', async function () {
      await compose('shellhttpd', 'down');
      expect(await runningApps(root)).to.deep.equal([]);
      const r = await compose('shellhttpd', 'up', '-d');
      expect(r.exitCode).to.equal(0);
      expect(await runningApps(root)).to.deep.equal(['shellhttpd']);
      const saved = JSON.parse(await readFile(composeSimStateFile(root), 'utf8')) as {
        apps: Record<string, unknown>;
      };
      expect(saved.apps).to.have.property('shellhttpd');
    });

    it('fails when an image blob is missing from the app store', async function () {
      await compose('shellhttpd', 'down');
      const layer = factory.imageLayers[0];
      await rm(join(store(), 'blobs/sha256', layer));
      const r = await compose('shellhttpd', 'up', '-d');
      expect(r.exitCode).to.equal(1);
      expect(r.stderr).to.match(/^image \S+ is not complete in the app store/);
      expect(r.stderr).to.contain(`missing blob sha256:${layer}`);
      expect(await runningApps(root)).to.deep.equal([]);
    });

    it('fails when an image layer is corrupted', async function () {
      const layer = factory.imageLayers[0];
      const file = join(store(), 'blobs/sha256', layer);
      const bytes = await readFile(file);
      bytes[0] = bytes[0] ^ 0xff;
      await writeFile(file, bytes);
      const r = await compose('shellhttpd', 'up', '-d');
      expect(r.exitCode).to.equal(1);
      expect(r.stderr).to.contain(`blob sha256:${layer} does not match its digest`);
      expect(await runningApps(root)).to.deep.equal([]);
    });

    it('fails when an image layer has the wrong size', async function () {
      const layer = factory.imageLayers[0];
      await appendFile(join(store(), 'blobs/sha256', layer), 'extra');
      const r = await compose('shellhttpd', 'up', '-d');
      expect(r.exitCode).to.equal(1);
      expect(r.stderr).to.contain(`blob sha256:${layer} has the wrong size`);
    });

    it('fails when the image manifest is missing', async function () {
      const manifest = factory.imageManifests[0];
      await rm(join(store(), 'blobs/sha256', manifest));
      const r = await compose('shellhttpd', 'up', '-d');
      expect(r.exitCode).to.equal(1);
      expect(r.stderr).to.contain(`missing blob sha256:${manifest}`);
    });

    it('fails an app whose compose file carries the fail-start marker', async function () {
      const r = await compose('broken', 'up', '-d');
      expect(r.exitCode).to.equal(1);
      expect(r.stderr.trim()).to.equal('app broken failed to start (x-compose-sim.fail-start)');
    });

    it('fails when a service image is not pinned by digest', async function () {
      await writeFile(
        join(project('shellhttpd'), 'docker-compose.yml'),
        'services:\n  a:\n    image: nginx:latest\n',
      );
      const r = await compose('shellhttpd', 'up', '-d');
      expect(r.exitCode).to.equal(1);
      expect(r.stderr).to.contain('not pinned');
    });
  });

  describe('several up -d at once', function () {
    it('records every app', async function () {
      await compose('shellhttpd', 'down');
      const results = await Promise.all([
        compose('shellhttpd', 'up', '-d'),
        compose('broken', 'up', '-d'),
        compose('shellhttpd', 'up', '-d'),
      ]);
      expect(results.map((r) => r.exitCode)).to.deep.equal([0, 1, 0]);
      const state = await readComposeSimState(root);
      expect(Object.keys(state.apps).sort()).to.deep.equal(['broken', 'shellhttpd']);
    });
  });

  describe('ps --format json', function () {
    it('prints one JSON object per running service', async function () {
      const r = await compose('shellhttpd', 'ps', '--format', 'json');
      expect(r.exitCode).to.equal(0);
      const rows = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(rows).to.have.length(1);
      expect(rows[0]).to.include({
        Project: 'shellhttpd',
        Service: 'shellhttpd',
        State: 'running',
      });
    });

    it('prints nothing for an app that is not running', async function () {
      const r = await compose('broken', 'ps', '--format', 'json');
      expect(r).to.deep.include({ exitCode: 0, stdout: '' });
    });
  });

  describe('version', function () {
    it('answers like docker compose', async function () {
      const r = await runComposeSim(['version'], '/');
      expect(r.exitCode).to.equal(0);
      expect(r.stdout).to.match(/^Docker Compose version v2\./);
    });
  });

  describe('its arguments', function () {
    it('takes an option value after = or as the next argument', async function () {
      const a = await runComposeSim(['version', '--format=json'], '/');
      const b = await runComposeSim(['version', '--format', 'json'], '/');
      expect(a).to.deep.equal(b);
      expect(JSON.parse(a.stdout)).to.have.property('version');
      expect((await runComposeSim(['version', '--short'], '/')).stdout).to.match(/^2\./);
    });

    it('refuses an option the command does not take, or a global one after the command', async function () {
      for (const argv of [
        ['up', '-d', '--bogus'],
        ['--bogus', 'ps'],
        ['version', '-d'],
        ['ps', '-p', 'x'],
      ]) {
        const r = await runComposeSim(argv, '/');
        expect(r.exitCode, argv.join(' ')).to.equal(1);
        expect(r.stderr, argv.join(' ')).to.match(/^compose-sim: /);
      }
    });

    it('refuses a global option without its value', async function () {
      const r = await runComposeSim(['--project-directory'], '/');
      expect(r.exitCode).to.equal(1);
      expect(r.stderr).to.contain('--project-directory');
    });
  });

  describe('a project directory outside var/sota/compose-apps', function () {
    it('is refused', async function () {
      const r = await runComposeSim(['--project-directory', work.dir, 'up', '-d'], '/');
      expect(r.exitCode).to.equal(1);
      expect(r.stderr).to.contain('var/sota/compose-apps/<app>');
    });
  });
});
