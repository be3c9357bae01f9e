/**
 * Delta bundles end to end (docs/bundle-format.md §Delta bundles): `bundlectl create
 * --from` on the host, the device's base check and install with the real `ostree`. One
 * factory (v1, v2, v3 for one hardware id, v1 and v2 for a second) and its bundles are
 * built once for the file; each test gets a fresh simulated device.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeSampleRootfs, openFactory, publishTarget } from '@offline-ota/bundle';
import { createTestFactory, type TestFactory } from '@offline-ota/testkit';
import { commitObjects, repoDirReader } from '@offline-ota/format';
import { expect } from 'chai';
import {
  aklite,
  BUNDLECTL,
  copyBundle,
  cutPowerAt,
  destroyDevices,
  findFiles,
  type Fixtures,
  flipByte,
  hashTree,
  install,
  mustRun,
  readState,
  reboot,
  runCmd,
  runProc,
  simDevice,
  simStatus,
  treeDiff,
} from './helpers.js';

interface DeltaFixtures {
  work: string;
  factory: TestFactory;
  /** Target names: v1–v3 of the first hardware id, b1–b2 of the second. */
  t: { v1: string; v2: string; v3: string; b1: string; b2: string };
  commits: Record<string, string>;
  bundles: {
    /** v2 --from v1, a directory. */
    delta: string;
    /** The same, as a zip. */
    deltaZip: string;
    /** v2 full, for the size comparison. */
    full: string;
    /** v2 --from v1 and b2 --from b1 on one stick. */
    multi: string;
  };
}

const SECOND_HW = 'sim-arm';

async function bundlectl(args: string[]): Promise<string> {
  return (await mustRun(process.execPath, [BUNDLECTL, ...args])).stdout;
}

async function build(): Promise<DeltaFixtures> {
  const work = await mkdtemp(join(tmpdir(), 'aklite-delta-'));
  const factory = await createTestFactory({ dir: work, versions: [1, 2, 3] });
  const [v1, v2, v3] = factory.targets as [string, string, string];
  const commits = { ...factory.commits };
  // The second hardware id: the same apps as v1/v2, its own rootfs.
  const f = await openFactory(factory.factoryDir);
  const second: string[] = [];
  for (const v of [1, 2]) {
    const rootfs = await makeSampleRootfs(join(work, 'sources', `b${v}`, 'rootfs'), {
      version: v,
      osName: f.config.osName,
      extraFiles: { 'usr/etc/board': `${SECOND_HW}\n` },
    });
    const res = await publishTarget({
      factory: f,
      rootfsDir: rootfs,
      hardwareId: SECOND_HW,
      version: v,
      tags: [factory.tag],
      apps: [join(work, 'sources', `v${v}`, 'apps', 'shellhttpd')],
    });
    second.push(res.name);
    commits[res.name] = res.commit;
  }
  const [b1, b2] = second as [string, string];
  const dir = join(work, 'bundles');
  await mkdir(dir, { recursive: true });
  const common = ['--tag', factory.tag, '--factory', factory.factoryDir];
  const bundles = {
    delta: join(dir, 'delta'),
    deltaZip: join(dir, 'delta.zip'),
    full: join(dir, 'full'),
    multi: join(dir, 'multi'),
  };
  await bundlectl(['create', v2, bundles.delta, ...common, '--from', v1]);
  await bundlectl(['create', v2, bundles.deltaZip, ...common, '--from', '1', '--archive', 'zip']);
  await bundlectl(['create', v2, bundles.full, ...common]);
  await bundlectl(['create', v2, bundles.multi, ...common, '--from', v1]);
  await bundlectl([
    'create',
    b2,
    bundles.multi,
    ...common,
    '--from',
    b1,
    '--allow-multiple-targets',
  ]);
  return { work, factory, t: { v1, v2, v3, b1, b2 }, commits, bundles };
}

let counter = 0;

async function newDevice(fx: DeltaFixtures, target: string): Promise<string> {
  return simDevice(join(fx.work, 'devices', `d${++counter}`), {
    factory: fx.factory.factoryDir,
    target,
    tag: fx.factory.tag,
  });
}

/** Object files of a repo, by name (`<2 hex><62 hex>.<type>`). */
async function objectNames(repo: string): Promise<Set<string>> {
  const out = new Set<string>();
  const objects = join(repo, 'objects');
  for (const d of await readdir(objects))
    for (const f of await readdir(join(objects, d))) out.add(d + f);
  return out;
}

async function expectUntouched(root: string, before: Map<string, string>): Promise<void> {
  expect(treeDiff(before, await hashTree(root))).to.deep.equal([]);
}

/** install → 100, reboot, run → 0, and the device boots `commit` with its app running. */
async function expectInstalled(root: string, bundle: string, commit: string): Promise<void> {
  const r = await install(root, bundle);
  expect(r.code, r.stderr).to.equal(100);
  await reboot(root);
  const run = await runCmd(root);
  expect(run.code, run.stderr).to.equal(0);
  const st = await simStatus(root);
  expect(st.booted.commit).to.equal(commit);
  expect(st.apps.running).to.deep.equal(['shellhttpd']);
}

describe('delta bundles', function () {
  let fx: DeltaFixtures;
  before(async function () {
    fx = await build();
  });
  after(async function () {
    await destroyDevices();
    if (fx !== undefined && process.env.AKLITE_TEST_KEEP !== '1')
      await rm(fx.work, { recursive: true, force: true });
  });

  describe('bundlectl create --from', function () {
    it('carries only what the base lacks, says so in show --json, and passes verify', async function () {
      const delta = await objectNames(join(fx.bundles.delta, 'ostree_repo'));
      const full = await objectNames(join(fx.bundles.full, 'ostree_repo'));
      // The kernel, which v1 and v2 share, is left out; everything carried is v2's.
      expect(delta.size).to.be.greaterThan(0);
      expect(delta.size).to.be.lessThan(full.size);
      for (const o of delta) expect(full.has(o), o).to.equal(true);
      expect([...delta].filter((o) => o.endsWith('.commit'))).to.deep.equal([
        `${fx.commits[fx.t.v2]}.commit`,
      ]);
      const blobs = await readdir(join(fx.bundles.delta, 'apps/blobs/sha256'));
      const fullBlobs = await readdir(join(fx.bundles.full, 'apps/blobs/sha256'));
      expect(blobs.length).to.be.lessThan(fullBlobs.length);

      const shown = JSON.parse(await bundlectl(['show', fx.bundles.delta, '--json'])) as {
        delta: boolean;
        targets: {
          name: string;
          delta?: { bases: { name: string }[]; omitted: { bytes: number } };
        }[];
      };
      expect(shown.delta).to.equal(true);
      expect(shown.targets[0].delta?.bases.map((b) => b.name)).to.deep.equal([fx.t.v1]);
      expect(shown.targets[0].delta?.omitted.bytes).to.be.greaterThan(0);
      const fullShown = JSON.parse(await bundlectl(['show', fx.bundles.full, '--json'])) as {
        delta: boolean;
      };
      expect(fullShown.delta).to.equal(false);

      const verified = JSON.parse(
        (
          await runProc(process.execPath, [
            BUNDLECTL,
            'verify',
            fx.bundles.deltaZip,
            '--root',
            join(fx.factory.factoryDir, 'tuf/ci/1.root.json'),
            '--json',
          ])
        ).stdout,
      ) as { ok: boolean; deltas: Record<string, { bases: { name: string }[] }> };
      expect(verified.ok).to.equal(true);
      expect(verified.deltas[fx.t.v2]?.bases.map((b) => b.name)).to.deep.equal([fx.t.v1]);
    });
  });

  describe('install of a delta on a device running its base', function () {
    it('exits 100, boots the new commit after the reboot, and run exits 0', async function () {
      const root = await newDevice(fx, fx.t.v1);
      await expectInstalled(root, fx.bundles.delta, fx.commits[fx.t.v2]);
      expect((await readState(root))?.current?.name).to.equal(fx.t.v2);
      // The new commit is whole in the device's repo.
      execFileSync('ostree', ['fsck', `--repo=${join(root, 'sysroot/ostree/repo')}`]);
    });
  });

  describe('when the device does not run a base of the delta', function () {
    it('exits 8 naming the base and what the device runs, and leaves the device untouched', async function () {
      const root = await newDevice(fx, fx.t.v3);
      const before = await hashTree(root);
      for (const cmd of ['check', 'install']) {
        const r = await aklite(root, [cmd, '--src-dir', fx.bundles.delta]);
        expect(r.code, r.stderr).to.equal(8);
        expect(r.stderr)
          .to.include(fx.t.v1)
          .and.include(fx.t.v3)
          .and.match(/full bundle/);
      }
      await expectUntouched(root, before);
    });
  });

  describe('when the device runs the base but its repo lacks one of its objects', function () {
    it('exits 8 and leaves the device untouched', async function () {
      const root = await newDevice(fx, fx.t.v1);
      const repo = join(root, 'sysroot/ostree/repo');
      // An object of v1 that v2 keeps, so the delta leaves it out and relies on it.
      const carried = await objectNames(join(fx.bundles.delta, 'ostree_repo'));
      const v2Files = (
        await commitObjects(
          repoDirReader(join(fx.factory.factoryDir, 'ostree_repo')),
          fx.commits[fx.t.v2],
        )
      ).content.map((rel) =>
        rel
          .slice('objects/'.length)
          .replace('/', '')
          .replace(/\.filez$/, ''),
      );
      const reliedOn = [...v2Files].filter((sum) => !carried.has(`${sum}.filez`));
      expect(reliedOn.length).to.be.greaterThan(0);
      const victim = join(repo, 'objects', reliedOn[0].slice(0, 2), `${reliedOn[0].slice(2)}.file`);
      await rm(victim);
      const before = await hashTree(root);
      const r = await install(root, fx.bundles.delta);
      expect(r.code, r.stderr).to.equal(8);
      expect(r.stderr).to.match(/missing objects/);
      await expectUntouched(root, before);
    });
  });

  describe('when an object of the delta is tampered with', function () {
    it('exits 70 and leaves the device untouched', async function () {
      const root = await newDevice(fx, fx.t.v1);
      const bundle = await copyBundle({ work: fx.work } as Fixtures, fx.bundles.delta);
      const [victim] = await findFiles(join(bundle, 'ostree_repo/objects'), /\.filez$/);
      await flipByte(victim);
      const before = await hashTree(root);
      const r = await install(root, bundle);
      expect(r.code, r.stderr).to.equal(70);
      await expectUntouched(root, before);
    });
  });

  describe('one stick for two hardware ids, each Target a delta of its own base', function () {
    it('installs the right Target on each device type', async function () {
      const a = await newDevice(fx, fx.t.v1);
      const b = await newDevice(fx, fx.t.b1);
      // Both Targets share the app blobs (the same apps), stored once on the stick.
      const shown = JSON.parse(await bundlectl(['show', fx.bundles.multi, '--json'])) as {
        targets: { name: string; delta?: { bases: { name: string }[] } }[];
      };
      expect(shown.targets.map((t) => [t.name, t.delta?.bases.map((x) => x.name)])).to.deep.equal(
        [
          [fx.t.b2, [fx.t.b1]],
          [fx.t.v2, [fx.t.v1]],
        ].sort(),
      );
      expect((await readdir(join(fx.bundles.multi, 'apps/blobs/sha256'))).sort()).to.deep.equal(
        (await readdir(join(fx.bundles.delta, 'apps/blobs/sha256'))).sort(),
      );
      // The reboot and run that follow are those of any install (tested above).
      for (const [root, target] of [
        [a, fx.t.v2],
        [b, fx.t.b2],
      ] as const) {
        const r = await install(root, fx.bundles.multi);
        expect(r.code, r.stderr).to.equal(100);
        expect((await readState(root))?.pending?.target.name).to.equal(target);
        expect((await simStatus(root)).deployments[0]?.commit).to.equal(fx.commits[target]);
      }
    });
  });

  describe('a power cut while the delta is written into the device', function () {
    it('boots the old system, and a re-run of the install completes (zip bundle)', async function () {
      const root = await newDevice(fx, fx.t.v1);
      await cutPowerAt(root, ['install', '--src-dir', fx.bundles.deltaZip], 'ostree-pulled');
      await reboot(root);
      expect((await simStatus(root)).booted.commit).to.equal(fx.commits[fx.t.v1]);
      await expectInstalled(root, fx.bundles.deltaZip, fx.commits[fx.t.v2]);
    });
  });
});
