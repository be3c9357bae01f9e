import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { access, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { offlineArgv } from '@offline-ota/testkit';
import { tempDir } from '../helpers.js';
import { ok } from './cli.js';

/** dist-test/test/e2e → the repository root. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', '..');
/** The workspace aklite-offline, or the one-file device CLI that `AKLITE_CLI` names (scripts/test.sh). */
const AKLITE =
  process.env.AKLITE_CLI !== undefined && process.env.AKLITE_CLI !== ''
    ? resolve(ROOT, process.env.AKLITE_CLI)
    : join(ROOT, 'packages', 'aklite-offline', 'bin', 'run.js');
const DEVICE_SIM = join(ROOT, 'packages', 'device-sim', 'bin', 'run.js');

function run(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    // Network access must fail: the examples work offline.
    execFile(
      ...offlineArgv(cmd, args),
      {
        env: { ...process.env, ...env },
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) =>
        done({
          code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1,
          stdout,
          stderr,
        }),
    );
  });
}

describe('examples', function () {
  this.timeout(120000);
  let dir: string;
  let cleanup: () => Promise<void>;
  let factory: string;

  before(async function () {
    // Four sample app images (busybox layers) and two Targets: slow on a busy machine.
    this.timeout(300000);
    ({ dir, cleanup } = await tempDir('bundlectl-examples-'));
    const r = await run('bash', [
      join(ROOT, 'examples', 'sample-factory', 'make-factory.sh'),
      join(dir, 'work'),
    ]);
    if (r.code !== 0) throw new Error(`make-factory.sh exited ${r.code}\n${r.stdout}\n${r.stderr}`);
    factory = join(dir, 'work', 'factory');
  });
  after(async () => {
    for (const dev of (await readdir(dir)).filter((e) => e.startsWith('device-'))) {
      // Its containers and engine store first (they may still be writing), then the tree.
      await run(process.execPath, [DEVICE_SIM, 'destroy', join(dir, dev)]);
    }
    // OSTree marks deployment roots immutable; clear that before removing what is left.
    for (const dev of (await readdir(dir)).filter((e) => e.startsWith('device-'))) {
      const deploy = join(dir, dev, 'sysroot', 'ostree', 'deploy');
      for (const os of await readdir(deploy).catch(() => [] as string[])) {
        for (const d of await readdir(join(deploy, os, 'deploy')).catch(() => [] as string[]))
          await run('chattr', ['-i', join(deploy, os, 'deploy', d)]);
      }
    }
    await cleanup();
  });

  describe('sample-factory/make-factory.sh', () => {
    it('builds a factory with two Targets, each with two apps', async () => {
      const doc = JSON.parse(
        await readFile(join(factory, 'tuf', 'ci', 'tags', 'main', 'targets.json'), 'utf8'),
      ) as {
        signed: {
          targets: Record<string, { custom: { docker_compose_apps: Record<string, unknown> } }>;
        };
      };
      const targets = doc.signed.targets;
      expect(Object.keys(targets).sort()).to.deep.equal(['sim-x86-lmp-1', 'sim-x86-lmp-2']);
      for (const t of Object.values(targets))
        expect(Object.keys(t.custom.docker_compose_apps).sort()).to.deep.equal([
          'logger',
          'shellhttpd',
        ]);
      expect((await readdir(join(factory, 'targets'))).sort()).to.deep.equal([
        'sim-x86-lmp-1.json',
        'sim-x86-lmp-2.json',
      ]);
    });

    it('refuses a work directory that is not empty', async () => {
      const r = await run('bash', [
        join(ROOT, 'examples', 'sample-factory', 'make-factory.sh'),
        join(dir, 'work'),
      ]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.include('not empty');
    });
  });

  describe('technician/update.sh on a simulated device', () => {
    let n = 0;

    /** A new simulated device booted on `target`, and the environment update.sh needs. */
    async function device(target: string): Promise<{ root: string; env: Record<string, string> }> {
      const root = join(dir, `device-${++n}`);
      const r = await run(process.execPath, [
        DEVICE_SIM,
        'create',
        root,
        '--factory',
        factory,
        '--target',
        target,
        '--tag',
        'main',
      ]);
      if (r.code !== 0) throw new Error(`device-sim create exited ${r.code}\n${r.stderr}`);
      return {
        root,
        env: {
          AKLITE_DEVICE_ROOT: root,
          AKLITE_OFFLINE: `${process.execPath} ${AKLITE}`,
          REBOOT_CMD: `${process.execPath} ${DEVICE_SIM} reboot ${root}`,
          SIMULATED_REBOOT: '1',
          STATE_DIR: join(dir, `state-${n}`),
        },
      };
    }

    const update = (env: Record<string, string>, args: string[]) =>
      run('bash', [join(ROOT, 'examples', 'technician', 'update.sh'), ...args], env);

    before(async function () {
      try {
        await access(join(ROOT, 'packages', 'aklite-offline', 'dist'));
        await access(join(ROOT, 'packages', 'device-sim', 'dist'));
      } catch {
        this.skip(); // the device CLIs are not built (run the whole build)
      }
      for (const v of [1, 2]) {
        await ok([
          'create',
          `sim-x86-lmp-${v}`,
          join(dir, `bundle-${v}`),
          '--tag',
          'main',
          '--factory',
          factory,
        ]);
      }
    });

    it('installs, reboots, runs and exits 0 with the device on the new Target', async () => {
      const d = await device('sim-x86-lmp-1');
      const r = await update(d.env, ['--src-dir', join(dir, 'bundle-2')]);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stderr).to.include('rebooting (then: run)');
      const status = await run(process.execPath, [DEVICE_SIM, 'status', d.root, '--json']);
      expect(status.stdout).to.include('sim-x86-lmp-2');
      expect(await readdir(d.env.STATE_DIR)).to.deep.equal(['update.log']);
    });

    it('reads a single-file bundle with --src-file and exits 0 when there is nothing to do', async () => {
      const d = await device('sim-x86-lmp-1');
      const zip = join(dir, 'bundle-1.zip');
      await ok(['pack', join(dir, 'bundle-1'), zip]);
      const r = await update(d.env, ['--src-file', zip]);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stderr).to.include('nothing to install');
    });

    it('exits 0 when called again after a complete update, while the new system is on probation', async () => {
      const d = await device('sim-x86-lmp-1');
      expect((await update(d.env, ['--src-dir', join(dir, 'bundle-2')])).code).to.equal(0);
      const again = await update(d.env, ['--src-dir', join(dir, 'bundle-2')]);
      expect(again.code, again.stderr).to.equal(0);
      expect(again.stderr).to.include('nothing to install: sim-x86-lmp-2 is already installed');
    });

    it('reports a rollback as a rollback (99), never as a complete update', async () => {
      // aklite-offline as the device answers when the new apps fail: install 100, run 100
      // (rollback deployed), and after the reboot run 0 "Rollback complete".
      const stub = join(dir, 'aklite-rollback-stub.sh');
      const calls = join(dir, 'stub-calls');
      await writeFile(
        stub,
        [
          '#!/usr/bin/env bash',
          `echo "$1" >>${calls}`,
          'case "$1" in',
          '  install) echo "Installed sim-x86-lmp-2. Reboot the device and run aklite-offline run"; exit 100 ;;',
          `  run) if [ "$(grep -c run ${calls})" -eq 1 ]; then echo "The apps of sim-x86-lmp-2 failed to start; rolling back"; exit 100; fi`,
          '       echo "Rollback complete: the device runs sim-x86-lmp-1 again (sim-x86-lmp-2 failed)"; exit 0 ;;',
          'esac',
          'exit 1',
        ].join('\n') + '\n',
        { mode: 0o755 },
      );
      const r = await update(
        {
          AKLITE_OFFLINE: stub,
          REBOOT_CMD: 'true',
          SIMULATED_REBOOT: '1',
          STATE_DIR: join(dir, 'state-stub'),
        },
        ['--src-dir', join(dir, 'bundle-2')],
      );
      expect(r.code, r.stderr).to.equal(99);
      expect(r.stderr).to.include('the update failed and the device rolled back');
      expect(r.stderr).not.to.include('update complete');
      expect((await readFile(calls, 'utf8')).split('\n').filter(Boolean)).to.deep.equal([
        'install',
        'run',
        'run',
      ]);
    });

    it('stops with 102 and leaves no state behind when the bundle is older', async () => {
      const d = await device('sim-x86-lmp-2');
      const r = await update(d.env, ['--src-dir', join(dir, 'bundle-1')]);
      expect(r.code, r.stderr).to.equal(102);
      expect(r.stderr).to.include('--force');
      expect(await readdir(d.env.STATE_DIR)).to.deep.equal(['update.log']);
    });
  });
});
