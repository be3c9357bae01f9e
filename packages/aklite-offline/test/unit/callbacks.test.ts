import { expect } from 'chai';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { callbackEnv, failed } from '../../src/lib/callbacks.js';
import { interpretConfig } from '../../src/lib/config.js';
import type { Device } from '../../src/lib/device.js';
import { callbackRunner } from '../../src/lib/ports.js';
import type { DeviceState } from '../../src/lib/state.js';

describe('callbacks', function () {
  describe('config', function () {
    const base = { provision: { primary_ecu_hardware_id: 'hw' } };
    it('defaults to no callback, a 30 s timeout, 1800 s probation and no golden system', function () {
      const c = interpretConfig(base, [], '/dev-root');
      expect(c.callbackProgram).to.equal(undefined);
      expect(c.callbackTimeoutSeconds).to.equal(30);
      expect(c.probationSeconds).to.equal(1800);
      expect(c.goldenCommit).to.equal(undefined);
    });
    it('refuses a relative callback_program and a timeout out of range', function () {
      const bad = (pacman: Record<string, unknown>) => () =>
        interpretConfig({ ...base, pacman }, [], '/r');
      expect(bad({ callback_program: 'cb.sh' })).to.throw(/callback_program must be an absolute/);
      expect(bad({ callback_timeout_seconds: 0 })).to.throw(/callback_timeout_seconds/);
      expect(bad({ probation_seconds: -1 })).to.throw(/probation_seconds/);
      expect(bad({ golden_commit: 'abc' })).to.throw(/golden_commit/);
    });
  });

  describe('callbackEnv', function () {
    const dev = { config: { storageDir: '/r/var/sota' } } as unknown as Device;
    const state = { current: { name: 'cur-1' } } as unknown as DeviceState;
    it('sets the contract variables and replaces inherited ones of the same names', function () {
      const env = callbackEnv(
        dev,
        state,
        'install-post',
        { installTarget: 'new-2', result: failed('apps\nfailed') },
        { PATH: '/bin', RESULT: 'stale', INSTALL_TARGET_NAME: 'stale' },
      );
      expect(env).to.deep.equal({
        PATH: '/bin',
        MESSAGE: 'install-post',
        CURRENT_TARGET: '/r/var/sota/current-target',
        CURRENT_TARGET_NAME: 'cur-1',
        INSTALL_TARGET_NAME: 'new-2',
        RESULT: 'FAILED: apps failed',
      });
    });
    it('leaves out what is not known', function () {
      const env = callbackEnv(
        dev,
        { current: null } as unknown as DeviceState,
        'download-pre',
        {},
        {},
      );
      expect(Object.keys(env).sort()).to.deep.equal(['CURRENT_TARGET', 'MESSAGE']);
    });
  });

  describe('callbackRunner', function () {
    let dir: string;
    before(async function () {
      dir = await mkdtemp(join(tmpdir(), 'aklite-cb-'));
    });
    after(async function () {
      await rm(dir, { recursive: true, force: true });
    });
    const script = async (name: string, body: string): Promise<string> => {
      const f = join(dir, name);
      await writeFile(f, `#!/bin/sh\n${body}\n`);
      await chmod(f, 0o755);
      return f;
    };
    it('runs without a shell: arguments-free, environment as given', async function () {
      const f = await script('env.sh', 'echo "$# $MESSAGE"');
      const r = await callbackRunner.run(f, { MESSAGE: 'a b;$(x)' }, 5000);
      expect(r).to.deep.include({ code: 0, timedOut: false });
      expect(r.output.trim()).to.equal('0 a b;$(x)');
    });
    it('reports the exit status and kills a hanging program at the timeout', async function () {
      expect((await callbackRunner.run(await script('f.sh', 'exit 7'), {}, 5000)).code).to.equal(7);
      const t0 = Date.now();
      const r = await callbackRunner.run(await script('h.sh', 'sleep 60'), {}, 300);
      expect(r.timedOut).to.equal(true);
      expect(r.signal).to.equal('SIGKILL');
      expect(Date.now() - t0).to.be.below(5000);
    });
    it('reports a program that cannot be started without throwing', async function () {
      const r = await callbackRunner.run(join(dir, 'missing'), {}, 1000);
      expect(r.code).to.equal(null);
      expect(r.output).to.match(/ENOENT/);
    });
  });
});
