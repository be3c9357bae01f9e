import { expect } from 'chai';
import { StatusCode } from '@offline-ota/format';
import { parseWithSchema } from '@offline-ota/testkit';
import type {
  CheckJson,
  DeferralJson,
  ErrorJson,
  ListJson,
  ProbationJson,
  StatusJson,
} from '../../src/cli/json.js';
import {
  aklite,
  cleanupAll,
  getFixtures,
  hashTree,
  install,
  newDevice,
  treeDiff,
  reboot,
  runCmd,
  type Fixtures,
} from './helpers.js';

type Json = Record<string, unknown>;

/** Parses a --json output and validates it against its committed JSON Schema (ajv). */
const parsed = <T = Json>(name: string, text: string): T =>
  parseWithSchema<T>('aklite-offline', name, text);

describe('the aklite-offline CLI', function () {
  let fx: Fixtures;
  before(async function () {
    fx = await getFixtures();
  });
  after(cleanupAll);

  describe('--help', function () {
    for (const cmd of [
      'check',
      'install',
      'run',
      'status',
      'list',
      'current',
      'defer',
      'allow',
      'probation',
      'rollback',
    ]) {
      it(`documents ${cmd} with examples and exits 0`, async function () {
        const r = await aklite('/nonexistent', [cmd, '--help']);
        expect(r.code).to.equal(0);
        expect(r.stdout).to.match(/EXAMPLES/);
        expect(r.stdout).to.match(/--device-root/);
      });
    }
  });

  describe('when the media is not named, or named twice', function () {
    it('exits 2 (invalid command line) and changes nothing', async function () {
      const root = await newDevice(fx);
      const before = await hashTree(root);
      for (const args of [
        ['install'],
        ['check'],
        ['install', '--src-dir', fx.bundles.v2, '--src-file', `${fx.bundles.v2}.zip`],
      ]) {
        const r = await aklite(root, args);
        expect(r.code, args.join(' ')).to.equal(StatusCode.InvalidCommandLine);
        expect(r.stderr).to.match(/--src-dir/);
      }
      expect(treeDiff(before, await hashTree(root))).to.deep.equal([]);
    });
  });

  describe('check --json', function () {
    it('exits 16 and marks the newer Target selected when an update is available', async function () {
      const root = await newDevice(fx);
      const r = await aklite(root, ['check', '--src-dir', fx.bundles.v2, '--json']);
      expect(r.code, r.stderr).to.equal(16);
      const targets = parsed<CheckJson>('check', r.stdout);
      expect(targets).to.have.length(1);
      expect(targets[0]).to.deep.include({
        name: fx.t.v2,
        version: 2,
        newer: true,
        selected: true,
      });
      expect(targets[0].apps).to.deep.equal([
        { name: 'shellhttpd', uri: targets[0].apps[0].uri, on: true },
      ]);
    });

    it('exits 0 and marks the Target current when the device runs it', async function () {
      const root = await newDevice(fx, { target: fx.t.v2 });
      const r = await aklite(root, ['check', '--src-dir', fx.bundles.v2, '--json']);
      expect(r.code, r.stderr).to.equal(0);
      const targets = parsed<CheckJson>('check', r.stdout);
      expect(targets[0]).to.deep.include({ name: fx.t.v2, current: true });
      expect(targets[0].selected).to.equal(undefined);
    });

    it('marks apps outside [pacman] compose_apps as off', async function () {
      const root = await newDevice(fx, { toml: '[pacman]\ncompose_apps = ""\n' });
      const r = await aklite(root, ['check', '--src-dir', fx.bundles.v2, '--json']);
      const targets = parsed<CheckJson>('check', r.stdout);
      expect(targets[0].apps.map((a) => a.on)).to.deep.equal([false]);
    });
  });

  describe('status --json and list --json', function () {
    it('report the applied and pending Targets through install, reboot and run', async function () {
      const root = await newDevice(fx);
      const s0 = await aklite(root, ['status', '--json']);
      expect(s0.code, s0.stderr).to.equal(0);
      const st0 = parsed<StatusJson>('status', s0.stdout);
      expect(st0.device_type).to.equal('ci');
      expect(st0.pending_target).to.equal(null);
      expect(st0.applied_target?.name).to.equal(fx.t.v1);

      expect((await install(root, fx.bundles.v2)).code).to.equal(100);
      const st1 = parsed<StatusJson>('status', (await aklite(root, ['status', '--json'])).stdout);
      expect(st1.pending_target).to.deep.include({
        name: fx.t.v2,
        kind: 'ostree',
        rollback: false,
        needs_reboot: true,
      });
      expect(st1.bootloader).to.deep.include({ upgrade_available: '1' });

      const list = parsed<ListJson>('list', (await aklite(root, ['list', '--json'])).stdout);
      expect(list.find((t) => t.name === fx.t.v2)).to.deep.include({ pending: true });
      expect(list.find((t) => t.name === fx.t.v1)).to.deep.include({ current: true });

      await reboot(root);
      expect((await runCmd(root)).code).to.equal(0);
      const st2 = parsed<StatusJson>('status', (await aklite(root, ['status', '--json'])).stdout);
      expect(st2.pending_target).to.equal(null);
      expect(st2.applied_target?.name).to.equal(fx.t.v2);
      expect(st2.ostree_hash).to.equal(fx.commits[fx.t.v2]);
      const text = await aklite(root, ['status']);
      expect(text.stdout).to.match(new RegExp(`Applied Target: ${fx.t.v2}`));
    });
  });

  describe('defer --json, allow --json and probation --json', function () {
    it('print snake_case keys, as status --json does', async function () {
      const root = await newDevice(fx);
      const d = await aklite(root, ['defer', '--client', 'ui', '--json']);
      expect(d.code, d.stderr).to.equal(0);
      const deferred = parsed<DeferralJson>('deferral', d.stdout);
      expect(deferred).to.deep.include({
        client: 'ui',
        count: 1,
        deferred_by: [{ client: 'ui', count: 1 }],
      });
      expect(d.stderr, 'no progress under --json').to.equal('');
      const a = await aklite(root, ['allow', '--client', 'ui', '--json']);
      expect(a.code, a.stderr).to.equal(0);
      expect(parsed<DeferralJson>('deferral', a.stdout)).to.deep.include({
        client: 'ui',
        count: 0,
        deferred_by: [],
      });
      const p = await aklite(root, ['probation', 'status', '--json']);
      expect(p.code, p.stderr).to.equal(0);
      expect(parsed<ProbationJson>('probation', p.stdout).probation.state).to.equal('good');
    });
  });

  describe('a failure under --json (issue 11 §6: one JSON object on stdout)', function () {
    it('prints {code, name, message, hint} on stdout, the error on stderr, and exits with its code', async function () {
      const root = await newDevice(fx);
      const r = await aklite(root, ['allow', '--client', 'nobody', '--json']);
      expect(r.code).to.equal(StatusCode.UpdateControlMismatch);
      const out = parsed<ErrorJson>('error', r.stdout);
      expect(out).to.include({
        code: 43,
        name: 'UpdateControlMismatch',
        error: 'CONTROL_MISMATCH',
      });
      expect(out.message).to.match(/^Client nobody does not defer updates/);
      expect(r.stderr).to.match(/^ERROR: Client nobody does not defer updates/);
    });

    it('reports a usage error with exit 2, on stderr and as the JSON object', async function () {
      const root = await newDevice(fx);
      const r = await aklite(root, ['check', '--json']);
      expect(r.code).to.equal(StatusCode.InvalidCommandLine);
      const out = parsed<ErrorJson>('error', r.stdout);
      expect(out).to.include({ code: 2, name: 'InvalidCommandLine' });
      expect(out.message).to.match(/--src-dir/);
      expect(r.stderr).to.match(/--src-dir/);
    });
  });
});
