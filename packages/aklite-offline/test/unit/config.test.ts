import { expect } from 'chai';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AkliteError } from '../../src/lib/errors.js';
import { loadConfig, mergeConfig } from '../../src/lib/config.js';

describe('config', function () {
  let root: string;
  beforeEach(async function () {
    root = await mkdtemp(join(tmpdir(), 'aklite-config-'));
    await mkdir(join(root, 'usr/lib/sota/conf.d'), { recursive: true });
    await mkdir(join(root, 'var/sota'), { recursive: true });
    await mkdir(join(root, 'etc/sota/conf.d'), { recursive: true });
    await writeFile(
      join(root, 'usr/lib/sota/conf.d/40-hardware-id.toml'),
      '[provision]\nprimary_ecu_hardware_id = "board-a"\n',
    );
  });
  afterEach(async function () {
    await rm(root, { recursive: true, force: true });
  });

  describe('mergeConfig', function () {
    it('lets a later table override keys section by section', function () {
      const merged = mergeConfig([
        { pacman: { tags: 'a', type: 'ostree' } },
        { pacman: { tags: 'b' } },
      ]);
      expect(merged).to.deep.equal({ pacman: { tags: 'b', type: 'ostree' } });
    });
  });

  describe('a config file over its cap (1 MiB)', function () {
    it('is refused with CONFIG_INVALID naming the file, before it is read', async function () {
      const file = join(root, 'var/sota/sota.toml');
      await writeFile(file, '#'.repeat(1024 * 1024) + '\n');
      let caught: unknown;
      await loadConfig({ deviceRoot: root }).catch((e: unknown) => (caught = e));
      expect(caught).to.be.instanceOf(AkliteError);
      expect((caught as AkliteError).code).to.equal('CONFIG_INVALID');
      expect((caught as AkliteError).message).to.equal(
        `cannot read config file ${file}: 1048577 bytes is over the 1048576-byte cap`,
      );
    });
  });

  describe('with the default locations', function () {
    it('merges usr/lib/sota/conf.d, var/sota/sota.toml and etc/sota/conf.d in that order', async function () {
      await writeFile(
        join(root, 'var/sota/sota.toml'),
        '[pacman]\ntags = "main, devel"\nstorage_watermark = 50\n[provision]\ndevice_type = "prod"\n',
      );
      await writeFile(join(root, 'etc/sota/conf.d/90-local.toml'), '[pacman]\ntags = "devel"\n');
      const c = await loadConfig({ deviceRoot: root });
      expect(c.hardwareId).to.equal('board-a');
      expect(c.tags).to.deep.equal(['devel']);
      expect(c.storageWatermark).to.equal(50);
      expect(c.deviceType).to.equal('prod');
      expect(c.composeApps).to.equal(undefined);
      expect(c.packageManager).to.equal('ostree+compose_apps');
      expect(c.composeCommand).to.deep.equal(['docker', 'compose']);
      expect(c.appStore).to.equal(join(root, 'var/sota/reset-apps'));
      expect(c.files).to.have.length(3);
    });

    it('reads an empty compose_apps as "no apps" and splits lists on commas and spaces', async function () {
      await writeFile(
        join(root, 'var/sota/sota.toml'),
        '[pacman]\ncompose_apps = ""\ntags = "a,b c"\n',
      );
      const c = await loadConfig({ deviceRoot: root });
      expect(c.composeApps).to.deep.equal([]);
      expect(c.tags).to.deep.equal(['a', 'b', 'c']);
    });

    it('re-roots device paths under the device root', async function () {
      await writeFile(join(root, 'var/sota/sota.toml'), '[storage]\npath = "/data/sota"\n');
      const c = await loadConfig({ deviceRoot: root });
      expect(c.storageDir).to.equal(join(root, 'data/sota'));
      expect(c.composeAppsRoot).to.equal(join(root, 'data/sota/compose-apps'));
    });
  });

  describe('when a value is invalid', function () {
    const cases: [string, string][] = [
      ['a storage_watermark outside 20..95', '[pacman]\nstorage_watermark = 99\n'],
      ['an unknown device_type', '[provision]\ndevice_type = "staging"\n'],
      ['an unknown pacman type', '[pacman]\ntype = "docker"\n'],
      ['a file that is not TOML', '[pacman\n'],
    ];
    for (const [what, toml] of cases) {
      it(`refuses ${what} with CONFIG_INVALID naming the file`, async function () {
        await writeFile(join(root, 'var/sota/sota.toml'), toml);
        const err = await loadConfig({ deviceRoot: root }).catch((e: unknown) => e);
        expect(err).to.be.instanceOf(AkliteError);
        expect((err as AkliteError).code).to.equal('CONFIG_INVALID');
        expect((err as AkliteError).message).to.include('sota.toml');
      });
    }

    it('names the key, what it must be and the files read', async function () {
      for (const [toml, says] of [
        [
          '[pacman]\nstorage_watermark = 99\n',
          '[pacman] storage_watermark must be a whole percentage from 20 to 95',
        ],
        [
          '[pacman]\nprobation_seconds = "soon"\n',
          '[pacman] probation_seconds must be a whole number from 0 to 31536000',
        ],
        [
          '[pacman]\ncallback_program = "cb.sh"\n',
          '[pacman] callback_program must be an absolute path, got "cb.sh"',
        ],
        ['[pacman]\ntags = 3\n', '[pacman] tags must be a string, got 3'],
        ['pacman = 1\n', '[pacman] must be a table'],
        ['[pacman]\ngolden_commit = "abc"\n', '[pacman] golden_commit must be an OSTree commit'],
        ['[pacman]\nfinalize_at_boot = "yes"\n', '[pacman] finalize_at_boot must be true or false'],
      ] as const) {
        await writeFile(join(root, 'var/sota/sota.toml'), toml);
        const err = await loadConfig({ deviceRoot: root }).catch((e: unknown) => e);
        expect((err as AkliteError).code, toml).to.equal('CONFIG_INVALID');
        expect((err as AkliteError).message, toml).to.include(`config key ${says}`);
        expect((err as AkliteError).message, toml).to.include(join(root, 'var/sota/sota.toml'));
      }
    });

    it('reads whole numbers given as TOML strings, as the reference does', async function () {
      await writeFile(join(root, 'var/sota/sota.toml'), '[pacman]\nstorage_watermark = "50"\n');
      expect((await loadConfig({ deviceRoot: root })).storageWatermark).to.equal(50);
    });

    it('reads finalize_at_boot as a TOML boolean or the string "true"/"false"; off when unset', async function () {
      await writeFile(join(root, 'var/sota/sota.toml'), '');
      expect((await loadConfig({ deviceRoot: root })).finalizeAtBoot).to.equal(false);
      for (const [toml, on] of [
        ['finalize_at_boot = true', true],
        ['finalize_at_boot = "true"', true],
        ['finalize_at_boot = false', false],
      ] as const) {
        await writeFile(join(root, 'var/sota/sota.toml'), `[pacman]\n${toml}\n`);
        expect((await loadConfig({ deviceRoot: root })).finalizeAtBoot, toml).to.equal(on);
      }
    });

    it('refuses a missing --config path', async function () {
      const err = await loadConfig({
        deviceRoot: root,
        configPaths: [join(root, 'nope.toml')],
      }).catch((e: unknown) => e);
      expect((err as AkliteError).code).to.equal('CONFIG_INVALID');
    });
  });
});
