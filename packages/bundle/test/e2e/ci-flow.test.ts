import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { StatusCode } from '@offline-ota/format';
import { parseWithSchema } from '@offline-ota/testkit';
import { tempDir } from '../helpers.js';
import { bundlectl, loadTufJs, ok } from './cli.js';

const execFileP = promisify(execFile);

/** The documented `show --json` shape (docs/factory.md). */
function expectShowShape(v: Record<string, unknown>): void {
  const types: Record<string, string> = {
    bundle: 'string',
    type: 'string',
    tag: 'string',
    version: 'number',
    expires: 'string',
    expired: 'boolean',
    // Whether some Target is a delta (docs/bundle-format.md §Delta bundles); false here.
    delta: 'boolean',
    remaining: 'string',
    rootVersion: 'number',
    threshold: 'number',
    missing: 'number',
  };
  for (const [k, t] of Object.entries(types)) expect(typeof v[k], k).to.equal(t);
  for (const k of ['targets', 'signatures', 'allowedKeys', 'invalidSignatures'])
    expect(v[k], k).to.be.an('array');
  expect(Object.keys(v).sort()).to.deep.equal(
    [...Object.keys(types), 'targets', 'signatures', 'allowedKeys', 'invalidSignatures'].sort(),
  );
  for (const t of v.targets as Record<string, unknown>[]) {
    expect(t).to.have.keys(['name', 'version', 'commit', 'hardwareId', 'apps']);
  }
}

describe('bundlectl CI flow (built CLI, real ostree)', function () {
  this.timeout(120000);
  let dir: string;
  let cleanup: () => Promise<void>;
  let factory: string;

  before(async () => {
    ({ dir, cleanup } = await tempDir('bundlectl-e2e-ci-'));
    factory = join(dir, 'factory');
    const init = await ok([
      'factory',
      'init',
      factory,
      '--name',
      'acme',
      '--offline-keys',
      join(dir, 'keys'),
      '--json',
    ]);
    expect(
      parseWithSchema<{ factoryDir: string }>('bundlectl', 'factory-init', init.stdout).factoryDir,
    ).to.equal(factory);
    for (const v of [1, 2]) {
      await ok(['sample', 'rootfs', join(dir, `rootfs${v}`), '--version', String(v)]);
      await ok([
        'sample',
        'app',
        join(dir, `apps${v}`),
        '--name',
        'shellhttpd',
        '--serves',
        String(v),
      ]);
      const pub = await ok([
        'targets',
        'publish',
        '--json',
        '--factory',
        factory,
        '--rootfs',
        join(dir, `rootfs${v}`),
        '--hardware-id',
        'sim-x86',
        '--version',
        String(v),
        '--tag',
        'main',
        '--app',
        join(dir, `apps${v}`, 'shellhttpd'),
      ]);
      expect(
        parseWithSchema<{ name: string }>('bundlectl', 'targets-publish', pub.stdout).name,
      ).to.equal(`sim-x86-lmp-${v}`);
    }
  });
  after(async () => cleanup());

  describe('create --tag main', () => {
    let bundle: string;
    before(() => {
      bundle = join(dir, 'bundle');
    });

    it('exits 0, reports progress and finishes with show', async () => {
      const r = await ok([
        'create',
        'sim-x86-lmp-2',
        bundle,
        '--tag',
        'main',
        '--factory',
        factory,
      ]);
      // Step lines go to stderr; stdout holds only the result.
      expect(r.stderr).to.contain('Getting CI Target details; target: sim-x86-lmp-2, tag: main');
      expect(r.stderr).to.contain('Successfully created offline update content');
      expect(r.stdout).to.not.contain('Getting CI Target details');
      expect(r.stdout).to.match(/^Bundle Targets info:\n\tType:\t\tci\n\tTag:\t\tmain\n/);
      expect(r.stdout).to.not.contain('Missing:');
    });

    it('holds an OSTree repo that ostree fsck accepts', async () => {
      const { stdout } = await execFileP('ostree', [
        'fsck',
        `--repo=${join(bundle, 'ostree_repo')}`,
      ]);
      expect(stdout).to.contain('no errors found');
    });

    it('holds only the allowed tree', async () => {
      expect((await stat(join(bundle, 'tuf', '1.root.json'))).isFile()).to.equal(true);
      const { readdir } = await import('node:fs/promises');
      expect((await readdir(bundle)).sort()).to.deep.equal(['apps', 'ostree_repo', 'tuf']);
      expect((await readdir(join(bundle, 'tuf'))).sort()).to.deep.equal([
        '1.root.json',
        'bundle-targets.json',
        'snapshot.json',
        'targets.json',
        'timestamp.json',
      ]);
    });

    it('shows a stable --json shape', async () => {
      const r = await ok(['show', bundle, '--json']);
      const v = JSON.parse(r.stdout) as Record<string, unknown>;
      expectShowShape(v);
      expect(v.type).to.equal('ci');
      expect(v.missing).to.equal(0);
      expect(
        (v.targets as { name: string; version: number }[]).map((t) => [t.name, t.version]),
      ).to.deep.equal([['sim-x86-lmp-2', 2]]);
    });

    it('verifies as a device would (exit 0)', async () => {
      const r = await bundlectl([
        'verify',
        bundle,
        '--root',
        join(factory, 'tuf', 'ci', '1.root.json'),
      ]);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.contain('sim-x86-lmp-2');
    });

    it('refreshes with the tuf-js Updater from the factory 1.root.json', async () => {
      const { Updater } = loadTufJs();
      const metadataDir = join(dir, 'tufjs-trust');
      await mkdir(metadataDir, { recursive: true });
      await writeFile(
        join(metadataDir, 'root.json'),
        await readFile(join(factory, 'tuf', 'ci', '1.root.json')),
      );
      const tufDir = join(bundle, 'tuf');
      // tuf-js is asked for exactly the roots after 1 that the bundle holds, so no "404"
      // (tuf-js's own, unexported error class) is needed to end its root loop.
      const roots = (await readdir(tufDir)).filter((n) => /^[0-9]+\.root\.json$/.test(n));
      const read = (url: string): Promise<Buffer> =>
        readFile(join(tufDir, new URL(url).pathname.split('/').pop()!));
      const fetcher = {
        downloadBytes: (url: string) => read(url),
        downloadFile: async <T>(
          url: string,
          _max: number,
          handler: (f: string) => Promise<T>,
        ): Promise<T> => {
          const tmp = join(dir, `dl-${Date.now()}`);
          await writeFile(tmp, await read(url));
          return handler(tmp);
        },
      };
      const updater = new Updater({
        metadataDir,
        metadataBaseUrl: pathToFileURL(tufDir).href,
        targetBaseUrl: pathToFileURL(join(dir, 'no-targets')).href,
        fetcher,
        config: { maxRootRotations: roots.length - 1 },
      });
      await updater.refresh();
      expect(await updater.getTargetInfo('sim-x86-lmp-2')).to.not.equal(undefined);
    });

    describe('when the device differs from the bundle', () => {
      it('exits 15 for another tag', async () => {
        const r = await bundlectl([
          'verify',
          bundle,
          '--root',
          join(factory, 'tuf', 'ci', '1.root.json'),
          '--tag',
          'beta',
        ]);
        expect(r.code).to.equal(StatusCode.CheckinInvalidBundleMetadata);
      });

      it('exits 6 for another hardware id', async () => {
        const r = await bundlectl([
          'verify',
          bundle,
          '--root',
          join(factory, 'tuf', 'ci', '1.root.json'),
          '--hardware-id',
          'other-board',
        ]);
        expect(r.code).to.equal(StatusCode.CheckinNoMatchingTargets);
      });

      it('exits 12 when the device clock is past the bundle expiry', async () => {
        const r = await bundlectl([
          'verify',
          bundle,
          '--root',
          join(factory, 'tuf', 'ci', '1.root.json'),
          '--at',
          '2099-01-01T00:00:00Z',
        ]);
        expect(r.code).to.equal(StatusCode.CheckinExpiredMetadata);
      });
    });

    it('adds a second Target with --allow-multiple-targets', async () => {
      await ok([
        'create',
        'sim-x86-lmp-1',
        bundle,
        '--tag',
        'main',
        '--factory',
        factory,
        '--allow-multiple-targets',
      ]);
      const v = JSON.parse((await ok(['show', bundle, '--json'])).stdout) as {
        targets: { name: string }[];
      };
      expect(v.targets.map((t) => t.name)).to.deep.equal(['sim-x86-lmp-1', 'sim-x86-lmp-2']);
      const r = await bundlectl([
        'verify',
        bundle,
        '--root',
        join(factory, 'tuf', 'ci', '1.root.json'),
        '--json',
      ]);
      expect(r.code).to.equal(0);
      expect(
        parseWithSchema<{ available: string[] }>('bundlectl', 'verify', r.stdout).available,
      ).to.deep.equal(['sim-x86-lmp-1', 'sim-x86-lmp-2']);
    });

    it('refreshes only tuf/ with --tuf-only, raising every version', async () => {
      const before = JSON.parse(await readFile(join(bundle, 'tuf', 'timestamp.json'), 'utf8')) as {
        signed: { version: number };
      };
      const r = await ok([
        'create',
        'sim-x86-lmp-2',
        bundle,
        '--tag',
        'main',
        '--factory',
        factory,
        '--tuf-only',
        '-e',
        '10',
      ]);
      expect(r.stderr).to.contain('Getting CI Target details');
      expect(r.stderr).to.not.contain('Pulling OSTree commit');
      const after = JSON.parse(await readFile(join(bundle, 'tuf', 'timestamp.json'), 'utf8')) as {
        signed: { version: number };
      };
      expect(after.signed.version).to.be.greaterThan(before.signed.version);
    });
  });

  it('prints help with a description and examples for every command', async () => {
    for (const cmd of [
      ['create'],
      ['sign'],
      ['show'],
      ['verify'],
      ['factory', 'init'],
      ['keys', 'rotate-root'],
      ['waves', 'init'],
    ]) {
      const r = await ok([...cmd, '--help']);
      expect(r.stdout, cmd.join(' ')).to.contain('EXAMPLES');
      expect(r.stdout, cmd.join(' ')).to.contain('DESCRIPTION');
    }
  });
});
