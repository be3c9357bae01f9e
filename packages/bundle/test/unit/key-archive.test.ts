import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { generateSigningKey } from '@offline-ota/format';
import { BundleError } from '../../src/errors.js';
import { readKeyArchive, writeKeyArchive } from '../../src/key-archive.js';
import { buildTarGz } from '../../src/tarball.js';
import { tempDir } from '../helpers.js';

describe('key archives', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => ({ dir, cleanup } = await tempDir()));
  afterEach(async () => cleanup());

  async function expectInvalid(path: string): Promise<BundleError> {
    try {
      await readKeyArchive(path);
    } catch (err) {
      expect(err).to.be.instanceOf(BundleError);
      expect((err as BundleError).code).to.equal('KEY_ARCHIVE_INVALID');
      expect((err as BundleError).message).to.contain(path);
      return err as BundleError;
    }
    throw new Error('expected readKeyArchive to fail');
  }

  it('round-trips the keys written by writeKeyArchive, with mode 0600', async () => {
    const keys = [generateSigningKey(), generateSigningKey()];
    const path = join(dir, 'root-keys.tgz');
    await writeKeyArchive(path, 'root', keys);
    expect((await stat(path)).mode & 0o777).to.equal(0o600);
    const archive = await readKeyArchive(path);
    expect(archive.keys.map((k) => k.keyid).sort()).to.deep.equal(keys.map((k) => k.keyid).sort());
    expect(archive.keys.every((k) => k.role === 'root' && k.signingKey !== undefined)).to.equal(
      true,
    );
  });

  describe('when the archive is damaged', () => {
    it('names the file when the bytes are not gzip', async () => {
      const path = join(dir, 'junk.tgz');
      await writeFile(path, 'not an archive');
      await expectInvalid(path);
    });

    it('names the file when the gzip stream is truncated', async () => {
      const path = join(dir, 'cut.tgz');
      const good = buildTarGz([{ path: 'tufrepo/keys/x.pub', data: Buffer.from('{}') }]);
      await writeFile(path, good.subarray(0, good.length - 20));
      await expectInvalid(path);
    });

    it('refuses an entry outside tufrepo/keys/', async () => {
      const path = join(dir, 'outside.tgz');
      await writeFile(path, buildTarGz([{ path: 'etc/passwd', data: Buffer.from('x') }]));
      const err = await expectInvalid(path);
      expect(err.message).to.contain('etc/');
    });

    it('refuses a key file that is not a key', async () => {
      const path = join(dir, 'bad-key.tgz');
      await writeFile(
        path,
        buildTarGz([{ path: 'tufrepo/keys/targets-1.sec', data: Buffer.from('{"keyval":{}}') }]),
      );
      await expectInvalid(path);
    });

    it('refuses an archive without keys', async () => {
      const path = join(dir, 'empty.tgz');
      await writeFile(path, buildTarGz([{ path: 'tufrepo/keys/README', data: Buffer.from('hi') }]));
      await expectInvalid(path);
    });
  });
});
