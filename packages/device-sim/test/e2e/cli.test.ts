import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseToml } from 'smol-toml';
import { type DeviceStatus, type RebootResult } from '../../src/index.js';
import { makeSimFactory, type SimFactory } from '../helpers/factory.js';
import { scratch, simulateInstall } from '../helpers/device.js';

const pkgDir = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const cli = (...args: string[]) =>
  spawnSync(process.execPath, [join(pkgDir, 'bin/run.js'), ...args], { encoding: 'utf8' });
/** oclif wraps error messages and prefixes lines with "›"; compare the words only. */
const words = (text: string): string => text.replace(/›/g, ' ').replace(/\s+/g, ' ');

describe('the device-sim CLI', function () {
  let work: Awaited<ReturnType<typeof scratch>>;
  let factory: SimFactory;
  let root: string;

  before(async function () {
    work = await scratch('cli');
    factory = await makeSimFactory({
      dir: join(work.dir, 'f'),
      apps: ['shellhttpd'],
    });
    root = join(work.dir, 'dev');
  });
  after(async function () {
    await work.cleanup();
  });

  it('creates a device with create, and status --json reports it booted on the Target', async function () {
    const r = cli(
      'create',
      root,
      '--factory',
      factory.dir,
      '--target',
      factory.targets[0].name,
      '--type',
      'prod',
      '--tag',
      'main',
    );
    expect(r.stderr + r.stdout).to.contain('created');
    expect(r.status).to.equal(0);
    const s = cli('status', root, '--json');
    expect(s.status).to.equal(0);
    const status = JSON.parse(s.stdout) as DeviceStatus;
    expect(status.booted.commit).to.equal(factory.targets[0].commit);
    expect(status.apps.running).to.deep.equal(['shellhttpd']);
    expect(status.env).to.deep.equal({
      bootcount: 0,
      bootlimit: 3,
      upgrade_available: 0,
      bootupgrade_available: 0,
      rollback: 0,
    });
    const sota = parseToml(await readFile(join(root, 'var/sota/sota.toml'), 'utf8')) as {
      provision: { device_type: string };
    };
    expect(sota.provision.device_type).to.equal('prod');
  });

  it('reboots into an installed commit, then a failing boot of a later install rolls back', function () {
    simulateInstall(root, factory.dir, factory.targets[1].commit);
    const r = cli('reboot', root, '--json');
    expect(r.status, r.stderr).to.equal(0);
    const boot = JSON.parse(r.stdout) as RebootResult;
    expect(boot.booted.commit).to.equal(factory.targets[1].commit);
    expect(boot.env.bootcount).to.equal(1);

    const f = cli('reboot', root, '--fail-boot');
    expect(f.status, f.stderr).to.equal(0);
    const status = JSON.parse(cli('status', root, '--json').stdout) as DeviceStatus;
    // bootcount was 1 already: attempts 2 and 3 fail, the 4th passes the limit.
    expect(status.env).to.include({ bootcount: 4, rollback: 1 });
    expect(status.booted.commit).to.equal(factory.targets[0].commit);
  });

  it('exits 1 with the reason when --fail-boot is asked with no upgrade pending', function () {
    spawnSync('fw_setenv', ['-c', join(root, 'etc/fw_env.config'), 'upgrade_available', '0']);
    const r = cli('reboot', root, '--fail-boot');
    expect(r.status).to.equal(1);
    expect(words(r.stderr)).to.contain('no upgrade is pending so U-Boot does not count boots');
  });

  it('create --golden pins the deployment and records golden_commit; the pin survives later deploys', async function () {
    const g = join(work.dir, 'golden');
    const golden = factory.targets[0].commit;
    const r = cli(
      'create',
      g,
      '--factory',
      factory.dir,
      '--target',
      factory.targets[0].name,
      '--golden',
    );
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.contain(`golden system: ${golden} (pinned)`);
    const sota = parseToml(await readFile(join(g, 'var/sota/sota.toml'), 'utf8')) as {
      pacman: { golden_commit?: string };
    };
    expect(sota.pacman.golden_commit).to.equal(golden);
    let status = JSON.parse(cli('status', g, '--json').stdout) as DeviceStatus;
    expect(status.deployments.map((d) => [d.commit, d.pinned])).to.deep.equal([[golden, true]]);
    // Two more deploys: OSTree's cleanup keeps the new one, the previous default and the pinned one.
    simulateInstall(g, factory.dir, factory.targets[1].commit);
    simulateInstall(g, factory.dir, factory.targets[1].commit);
    status = JSON.parse(cli('status', g, '--json').stdout) as DeviceStatus;
    expect(status.deployments.filter((d) => d.pinned).map((d) => d.commit)).to.deep.equal([golden]);
    expect(status.deployments).to.have.length(3);
  });

  it('exits 1 when create is given a directory that is not empty', function () {
    const r = cli('create', root, '--factory', factory.dir, '--target', factory.targets[0].name);
    expect(r.status).to.equal(1);
    expect(words(r.stderr)).to.contain('is not empty');
  });

  it('reboot stops the containers and starts those with a restart policy again', function () {
    const before = JSON.parse(cli('status', root, '--json').stdout) as DeviceStatus;
    expect(before.containers.map((c) => [c.container, c.state])).to.deep.equal([
      ['shellhttpd_shellhttpd_1', 'running'],
    ]);
    const r = cli('reboot', root);
    expect(r.status, r.stderr).to.equal(0);
    const after = JSON.parse(cli('status', root, '--json').stdout) as DeviceStatus;
    expect(after.containers.map((c) => [c.container, c.state])).to.deep.equal([
      ['shellhttpd_shellhttpd_1', 'running'],
    ]);
    expect(after.containers[0].startedAt).to.not.equal(before.containers[0].startedAt);
  });

  it('destroys a device with every container and its engine store', async function () {
    const { destroyDevice } = await import('../../src/index.js');
    const running = async () => {
      const out: string[] = [];
      for (const pid of await readdir('/proc')) {
        if (!/^[0-9]+$/.test(pid)) continue;
        const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
        if (cmd.includes(root)) out.push(cmd.replace(/\0/g, ' '));
      }
      return out;
    };
    expect(await running()).to.not.deep.equal([]); // the container's monitor runs now
    await destroyDevice(root);
    expect(await running()).to.deep.equal([]);
    expect(await readdir(root).catch((e: NodeJS.ErrnoException) => e.code)).to.equal('ENOENT');
  });
});
