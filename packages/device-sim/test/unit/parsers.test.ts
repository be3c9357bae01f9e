import { expect } from 'chai';
import { cmdlineFor, parseDeploymentPath, parseKeyValues, sotaToml } from '../../src/index.js';
import { parseLoaderEntry } from '../../src/ostree.js';
import { parsePrintenv } from '../../src/uboot-env.js';
import { preloadedApps } from '../../src/factory.js';

const C = 'a'.repeat(64);

describe('parsers', function () {
  describe('parseLoaderEntry', function () {
    it('reads the version and the ostree= argument of an OSTree entry', function () {
      const text = `title LmP (ostree:0)\nversion 2\noptions init=/x ostree=/ostree/boot.1/lmp/${C}/0 quiet\nlinux /ostree/k\n`;
      expect(parseLoaderEntry('f', text)).to.deep.equal({
        file: 'f',
        version: 2,
        ostreeArg: `/ostree/boot.1/lmp/${C}/0`,
      });
    });
    it('ignores an entry without ostree=', function () {
      expect(parseLoaderEntry('f', 'title other\nversion 1\noptions quiet\n')).to.equal(null);
    });
  });

  describe('parseDeploymentPath', function () {
    it('splits a deploy dir into os, commit and serial', function () {
      expect(parseDeploymentPath(`/ostree/deploy/lmp/deploy/${C}.3`)).to.deep.equal({
        os: 'lmp',
        commit: C,
        serial: 3,
      });
      expect(parseDeploymentPath(`/ostree/boot.1/lmp/${C}/0`)).to.equal(null);
    });
  });

  describe('cmdlineFor', function () {
    it('names the deployment the way contract 2 says', function () {
      expect(cmdlineFor(`/ostree/deploy/lmp/deploy/${C}.0`)).to.equal(
        `console=ttyS0 root=/dev/vda2 ostree=/ostree/deploy/lmp/deploy/${C}.0\n`,
      );
    });
  });

  describe('parsePrintenv', function () {
    it('splits name=value lines at the first =', function () {
      expect(parsePrintenv('bootcount=1\nbootargs=a=b c\n\n')).to.deep.equal({
        bootcount: '1',
        bootargs: 'a=b c',
      });
    });
  });

  describe('parseKeyValues', function () {
    it('strips quotes and skips junk lines', function () {
      expect(parseKeyValues('TARGET_NAME="x-1"\n# c\nCUSTOM_VERSION=1\n')).to.deep.equal({
        TARGET_NAME: 'x-1',
        CUSTOM_VERSION: '1',
      });
    });
  });

  describe('sotaToml', function () {
    it('omits device_type for type none and tags without a tag', function () {
      const text = sotaToml({ type: 'none' });
      expect(text).to.not.contain('[provision]');
      expect(text).to.not.contain('tags');
      expect(text).to.contain('rollback_mode = "uboot_masked"');
    });
  });

  describe('preloadedApps', function () {
    const custom = {
      version: '1',
      hardwareIds: ['h'],
      tags: ['main'],
      targetFormat: 'OSTREE' as const,
      docker_compose_apps: { a: { uri: 'u/a' }, b: { uri: 'u/b' } },
    };
    it('takes every app when fetched-apps is absent', function () {
      expect(preloadedApps(custom).map((a) => a.app)).to.deep.equal(['a', 'b']);
    });
    it('takes none when fetched-apps.uri is null, and the shortlist otherwise', function () {
      expect(preloadedApps({ ...custom, 'fetched-apps': { uri: null } })).to.deep.equal([]);
      expect(
        preloadedApps({ ...custom, 'fetched-apps': { uri: 'x', shortlist: 'b' } }).map(
          (a) => a.app,
        ),
      ).to.deep.equal(['b']);
    });
  });
});
