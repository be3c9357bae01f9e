/**
 * Callbacks (`[pacman] callback_program`) through the built CLI: the event sequence of a
 * good and of a rolled-back update, recorded by examples/callbacks/log-env.sh, and
 * handlers that fail or hang.
 */
import { expect } from 'chai';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  aklite,
  cleanupAll,
  getFixtures,
  install,
  newDevice,
  reboot,
  REPO,
  runCmd,
  type Fixtures,
} from './helpers.js';

const EXAMPLE = join(REPO, 'examples/callbacks/log-env.sh');

/** The log of log-env.sh: one record per event, contract variables only. */
async function events(log: string): Promise<Record<string, string>[]> {
  let text = '';
  try {
    text = await readFile(log, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const rec: Record<string, string> = {};
      for (const f of l.split('\t').slice(1)) {
        const i = f.indexOf('=');
        rec[f.slice(0, i)] = f.slice(i + 1);
      }
      return rec;
    });
}

const brief = (e: Record<string, string>): string =>
  [e.MESSAGE, e.RESULT].filter((x) => x !== undefined).join(' ');

describe('callbacks', function () {
  let fx: Fixtures;
  before(async function () {
    fx = await getFixtures();
  });
  after(cleanupAll);

  async function deviceWithExample(): Promise<{ root: string; env: Record<string, string> }> {
    const root = await newDevice(fx, {
      toml: `[pacman]\ncallback_program = "${EXAMPLE}"\n`,
    });
    return { root, env: { AKLITE_CALLBACK_LOG: join(root, 'cb.log') } };
  }

  it('reports a good update in the reference order with the environment contract', async function () {
    const { root, env } = await deviceWithExample();
    // A command refused by update control runs no callbacks.
    expect((await aklite(root, ['defer', '--client', 'x'])).code).to.equal(0);
    expect((await install(root, fx.bundles.v2, [], { env })).code).to.equal(41);
    expect(await events(env.AKLITE_CALLBACK_LOG)).to.deep.equal([]);
    expect((await aklite(root, ['allow', '--client', 'x'])).code).to.equal(0);

    expect((await install(root, fx.bundles.v2, [], { env })).code).to.equal(100);
    await reboot(root);
    expect((await runCmd(root, { env })).code).to.equal(0);
    const ev = await events(env.AKLITE_CALLBACK_LOG);
    expect(ev.map(brief)).to.deep.equal([
      'check-for-update-pre',
      'check-for-update-post OK',
      'download-pre',
      'download-post OK',
      'install-pre',
      'install-post NEEDS_COMPLETION',
      'install-final-pre',
      'install-post OK',
    ]);
    expect(ev[0].INSTALL_TARGET_NAME).to.equal(undefined);
    for (const e of ev.slice(1)) expect(e.INSTALL_TARGET_NAME).to.equal(fx.t.v2);
    for (const e of ev) {
      expect(e.CURRENT_TARGET).to.equal(join(root, 'var/sota/current-target'));
      expect(e.CURRENT_TARGET_NAME).to.equal(e === ev.at(-1) ? fx.t.v2 : fx.t.v1);
    }
  });

  it('reports a rolled-back update: install-post FAILED after U-Boot fell back', async function () {
    const { root, env } = await deviceWithExample();
    expect((await install(root, fx.bundles.v2, [], { env })).code).to.equal(100);
    await reboot(root, true);
    expect((await runCmd(root, { env })).code).to.equal(99);
    const ev = await events(env.AKLITE_CALLBACK_LOG);
    expect(ev.map(brief).slice(0, 6)).to.deep.equal([
      'check-for-update-pre',
      'check-for-update-post OK',
      'download-pre',
      'download-post OK',
      'install-pre',
      'install-post NEEDS_COMPLETION',
    ]);
    expect(ev.slice(6).map((e) => e.MESSAGE)).to.deep.equal(['install-final-pre', 'install-post']);
    expect(ev[7].RESULT).to.match(/^FAILED: the device did not boot sim-x86-lmp-2/);
    expect(ev[7].CURRENT_TARGET_NAME).to.equal(fx.t.v1);
  });

  it('reports a check-in failure as check-for-update-post FAILED', async function () {
    const { root, env } = await deviceWithExample();
    const r = await install(root, fx.bundles.v2, ['--target', 'no-such-target'], { env });
    expect(r.code).to.equal(20);
    const ev = await events(env.AKLITE_CALLBACK_LOG);
    expect(ev.map((e) => e.MESSAGE)).to.deep.equal([
      'check-for-update-pre',
      'check-for-update-post',
    ]);
    expect(ev[1].RESULT).to.match(/^FAILED: /);
  });

  it('logs a failing callback and kills a hanging one with its process group; the update completes', async function () {
    const pidFile = join(fx.work, 'callbacks-bg.pid');
    const script = join(fx.work, 'bad-callback.sh');
    await writeFile(
      script,
      [
        '#!/bin/sh',
        'case "$MESSAGE" in',
        `  download-pre) sleep 300 & echo $! > "${pidFile}"; sleep 300 ;;`,
        '  *) echo "handler broke on $MESSAGE" >&2; exit 3 ;;',
        'esac',
        '',
      ].join('\n'),
    );
    await chmod(script, 0o755);
    const root = await newDevice(fx, {
      toml: `[pacman]\ncallback_program = "${script}"\ncallback_timeout_seconds = 2\n`,
    });
    const t0 = Date.now();
    const r = await install(root, fx.bundles.v2);
    expect(r.code, r.stderr).to.equal(100);
    expect(Date.now() - t0).to.be.below(60_000);
    expect(r.stderr).to.match(/\(download-pre\) still ran after 2 s .* killed/);
    expect(r.stderr).to.match(/\(install-pre\) exited 3: handler broke on install-pre/);
    // The background child of the hanging callback was killed too.
    const pid = Number((await readFile(pidFile, 'utf8')).trim());
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    expect(stat === '' || / Z /.test(stat), `process ${pid} is still running: ${stat}`).to.equal(
      true,
    );
    await reboot(root);
    expect((await runCmd(root)).code).to.equal(0);
  });
});
