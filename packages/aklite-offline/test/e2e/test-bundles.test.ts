/**
 * The committed test bundles (test-bundles/ at the repository root, made by
 * test-bundles/generate.mjs): each one runs against a fresh simulated device made from
 * test-bundles/factory, and `aklite-offline install` must give the exit code that
 * test-bundles/manifest.json documents; the good ones then reboot and `run` to 0.
 * The committed files are never touched: tools get copies (ostree writes tmp/ into a repo
 * it reads).
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StatusCode } from '@offline-ota/format';
import {
  aklite,
  AKLITE,
  destroyDevices,
  hashTree,
  mustRun,
  reboot,
  REPO,
  simDevice,
  simStatus,
  treeDiff,
} from './helpers.js';

const TEST_BUNDLES = join(REPO, 'test-bundles');

/** The shape of test-bundles/manifest.json (written by generateTestBundles). */
interface Manifest {
  clock: string;
  factory: string;
  bundles: {
    name: string;
    source: 'dir' | 'file';
    description: string;
    target: string;
    device: { type: 'ci' | 'prod'; tag: string; hardwareId: string; target: string };
    install: { code: number; status: keyof typeof StatusCode };
    run?: { code: number; status: keyof typeof StatusCode };
  }[];
}

// Read when the file loads: mocha needs the rows to define the tests.
const manifest = JSON.parse(readFileSync(join(TEST_BUNDLES, 'manifest.json'), 'utf8')) as Manifest;

/** sha256 over every file's path and bytes under `dir`. */
async function digestTree(dir: string): Promise<string> {
  const h = createHash('sha256');
  const walk = async (d: string, rel: string): Promise<void> => {
    for (const e of (await readdir(d, { withFileTypes: true })).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    )) {
      const p = join(d, e.name);
      const r = `${rel}/${e.name}`;
      if (e.isDirectory()) await walk(p, r);
      else h.update(`${r}\0`).update(await readFile(p));
    }
  };
  await walk(dir, '');
  return h.digest('hex');
}

describe('the committed test bundles (test-bundles/)', function () {
  this.timeout(180000);
  let work: string;
  let factory: string;
  let committedDigest: string;

  before(async function () {
    committedDigest = await digestTree(TEST_BUNDLES);
    work = await mkdtemp(join(tmpdir(), 'aklite-test-bundles-'));
    factory = join(work, 'factory');
    await cp(join(TEST_BUNDLES, manifest.factory), factory, { recursive: true });
  });
  after(async function () {
    await destroyDevices();
    if (process.env.AKLITE_TEST_KEEP !== '1') await rm(work, { recursive: true, force: true });
  });

  /** A fresh device as the manifest describes it, made with the device-sim CLI. */
  async function newDevice(
    name: string,
    device: Manifest['bundles'][number]['device'],
  ): Promise<string> {
    const root = join(work, 'devices', name);
    await simDevice(root, { factory, target: device.target, type: device.type, tag: device.tag });
    return root;
  }

  for (const b of manifest.bundles) {
    const { device } = b;
    const outcome =
      b.run === undefined
        ? 'and leaves the device untouched'
        : `and, after a reboot, run exits ${b.run.code}`;
    describe(`when ${b.name} is installed on a fresh ${device.type} device (tag ${device.tag}, running ${device.target})`, function () {
      it(`exits ${b.install.code} (${b.install.status}) ${outcome}`, async function () {
        expect(StatusCode[b.install.status], 'manifest status name').to.equal(b.install.code);
        const root = await newDevice(b.name, device);
        const status = JSON.parse(
          (await mustRun(process.execPath, [AKLITE, 'status', '--json', '--device-root', root]))
            .stdout,
        ) as { hardware_id: string };
        expect(status.hardware_id, 'the device hardware id').to.equal(device.hardwareId);

        const copy = join(work, 'media', b.name);
        await mkdir(join(work, 'media'), { recursive: true });
        await cp(join(TEST_BUNDLES, b.name), copy, { recursive: true });
        const before = await hashTree(root);
        const r = await aklite(root, [
          'install',
          b.source === 'dir' ? '--src-dir' : '--src-file',
          copy,
        ]);
        expect(r.code, r.stdout + r.stderr).to.equal(b.install.code);

        if (b.run === undefined) {
          expect(treeDiff(before, await hashTree(root))).to.deep.equal([]);
          return;
        }
        expect(StatusCode[b.run.status], 'manifest status name').to.equal(b.run.code);
        await reboot(root);
        const run = await aklite(root, ['run']);
        expect(run.code, run.stdout + run.stderr).to.equal(b.run.code);
        const sim = await simStatus(root);
        expect(sim.apps.running).to.deep.equal(['shellhttpd']);
        expect(sim.currentTarget?.TARGET_NAME, 'current-target').to.equal(b.target);
      });
    });
  }

  describe('after every bundle ran', function () {
    it('leaves test-bundles/ byte for byte as it was', async function () {
      expect(await digestTree(TEST_BUNDLES)).to.equal(committedDigest);
    });
  });
});
