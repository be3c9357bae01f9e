import { expect } from 'chai';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StatusCode } from '@offline-ota/format';
import {
  aklite,
  BUNDLECTL,
  cleanupAll,
  flipByte,
  getFixtures,
  hashTree,
  mustRun,
  newDevice,
  reboot,
  REPO,
  runCmd,
  runProc,
  simStatus,
  treeDiff,
  type Fixtures,
} from './helpers.js';

const DECRYPT = join(REPO, 'examples/security-unpack/decrypt.sh');
const ENCRYPT = join(REPO, 'examples/security-unpack/encrypt.sh');

/** A GnuPG home with one unprotected key pair; returns its fingerprint. */
async function makeKeyring(dir: string, name: string): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const env = { GNUPGHOME: dir };
  await mustRun(
    'gpg',
    [
      '--batch',
      '--pinentry-mode',
      'loopback',
      '--passphrase',
      '',
      '--quick-gen-key',
      `${name} <${name}@example.invalid>`,
      'default',
      'default',
      'never',
    ],
    env,
  );
  const list = await mustRun('gpg', ['--batch', '--with-colons', '--list-keys'], env);
  const fpr = /^fpr:+([0-9A-F]+):/m.exec(list.stdout);
  expect(fpr, list.stdout).to.not.equal(null);
  return fpr![1];
}

describe('the security-unpack hook with the GnuPG example', function () {
  this.timeout(180000);
  let fx: Fixtures;
  let gpgDir: string;
  let deviceKeyring: string;
  let otherKeyring: string;
  let encrypted: string;
  let forOther: string;
  let zip: string;
  let toml: string;

  before(async () => {
    fx = await getFixtures();
    gpgDir = join(fx.work, 'gpg');
    deviceKeyring = join(gpgDir, 'device');
    otherKeyring = join(gpgDir, 'other');
    const deviceKey = await makeKeyring(deviceKeyring, 'device');
    const otherKey = await makeKeyring(otherKeyring, 'other');
    zip = join(fx.work, 'v2-for-unpack.zip');
    await mustRun(process.execPath, [BUNDLECTL, 'pack', fx.bundles.v2, zip]);
    encrypted = join(fx.work, 'v2.zip.gpg');
    await mustRun('bash', [ENCRYPT, zip, encrypted, deviceKey], { GNUPGHOME: deviceKeyring });
    forOther = join(fx.work, 'v2-other.zip.gpg');
    await mustRun('bash', [ENCRYPT, zip, forOther, otherKey], { GNUPGHOME: otherKeyring });
    toml = `[pacman]\nsecurity_unpack = "${DECRYPT}"\n`;
  });
  after(async () => {
    for (const home of [deviceKeyring, otherKeyring])
      await runProc('gpgconf', ['--kill', 'gpg-agent'], { GNUPGHOME: home });
    await cleanupAll();
  });

  const install = (root: string, file: string) =>
    aklite(root, ['install', '--src-file', file], { env: { GNUPGHOME: deviceKeyring } });

  describe('with the device’s key', () => {
    it('decrypts the bundle, installs it (100) and runs it (0)', async () => {
      const root = await newDevice(fx, { toml });
      const r = await install(root, encrypted);
      expect(r.code, r.stdout + r.stderr).to.equal(StatusCode.InstallNeedsReboot);
      await reboot(root);
      expect((await runCmd(root)).code).to.equal(StatusCode.Ok);
      expect((await simStatus(root)).booted.commit).to.equal(fx.commits[fx.t.v2]);
    });
  });

  describe('when the bundle was encrypted for another key', () => {
    it('reports a security violation (11) and leaves the device untouched', async () => {
      const root = await newDevice(fx, { toml });
      const before = await hashTree(root);
      const r = await install(root, forOther);
      expect(r.code, r.stdout + r.stderr).to.equal(StatusCode.CheckinSecurityError);
      expect(r.stderr).to.match(/security violation/);
      expect(treeDiff(before, await hashTree(root))).to.deep.equal([]);
    });
  });

  describe('when the ciphertext was tampered with', () => {
    it('reports a security violation (11) and leaves the device untouched', async () => {
      const bad = join(fx.work, 'v2-tampered.zip.gpg');
      await writeFile(bad, await readFile(encrypted));
      await flipByte(bad);
      const root = await newDevice(fx, { toml });
      const before = await hashTree(root);
      const r = await install(root, bad);
      expect(r.code, r.stdout + r.stderr).to.equal(StatusCode.CheckinSecurityError);
      expect(treeDiff(before, await hashTree(root))).to.deep.equal([]);
    });
  });

  describe('when the unpack program fails otherwise', () => {
    it('cancels the update with 50 and leaves the device untouched', async () => {
      const failing = join(fx.work, 'unpack-exit-3.sh');
      await writeFile(
        failing,
        '#!/bin/sh\ncat >/dev/null\necho "no space for the plain bundle" >&2\nexit 3\n',
        {
          mode: 0o755,
        },
      );
      const root = await newDevice(fx, { toml: `[pacman]\nsecurity_unpack = "${failing}"\n` });
      const before = await hashTree(root);
      const r = await install(root, encrypted);
      expect(r.code).to.equal(StatusCode.DownloadFailure);
      expect(r.stderr).to.match(/exit 3/);
      expect(treeDiff(before, await hashTree(root))).to.deep.equal([]);
    });
  });

  describe('when a bundle directory is given', () => {
    it('refuses it: every bundle must pass through the hook', async () => {
      const root = await newDevice(fx, { toml });
      const r = await aklite(root, ['install', '--src-dir', fx.bundles.v2]);
      expect(r.code).to.equal(StatusCode.UnknownError);
      expect(r.stderr).to.match(/--src-file/);
    });
  });
});
