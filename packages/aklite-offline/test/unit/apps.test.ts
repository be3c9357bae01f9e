import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { AkliteError } from '../../src/lib/errors.js';
import { extractApp } from '../../src/lib/apps.js';

/** One ustar entry (regular file or symlink) by hand, so any path can be written. */
function tarEntry(name: string, data: Buffer, type: '0' | '2' = '0', link = ''): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100);
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(data.length.toString(8).padStart(11, '0') + '\0', 124);
  h.write('00000000000\0', 136);
  h.write('        ', 148);
  h.write(type, 156);
  h.write(link, 157, 100);
  h.write('ustar\0', 257);
  h.write('00', 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  const body = Buffer.alloc(Math.ceil(data.length / 512) * 512);
  data.copy(body);
  return Buffer.concat([h, body]);
}

const tgz = (entries: Buffer[]) => gzipSync(Buffer.concat([...entries, Buffer.alloc(1024)]));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A store holding one app whose compose bundle is `bundle`; returns its URI. */
async function storeWith(store: string, bundle: Buffer): Promise<string> {
  const blobs = join(store, 'blobs/sha256');
  await mkdir(blobs, { recursive: true });
  const put = async (b: Buffer) => {
    await writeFile(join(blobs, sha(b)), b);
    return { digest: `sha256:${sha(b)}`, size: b.length };
  };
  const list = await put(Buffer.from(JSON.stringify({ images: [] })));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      layers: [{ mediaType: 'application/octet-stream', ...(await put(bundle)) }, list],
    }),
  );
  await put(manifest);
  return `registry.local/acme/app@sha256:${sha(manifest)}`;
}

describe('extractApp', function () {
  let dir: string;
  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), 'aklite-apps-'));
  });
  afterEach(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  it('extracts the compose bundle into <compose-apps>/<app>', async function () {
    const uri = await storeWith(
      join(dir, 'store'),
      tgz([tarEntry('docker-compose.yml', Buffer.from('services: {}\n'))]),
    );
    const out = await extractApp(join(dir, 'store'), join(dir, 'compose'), 'app', uri);
    expect(await readFile(join(out, 'docker-compose.yml'), 'utf8')).to.equal('services: {}\n');
  });

  const escapes: [string, Buffer][] = [
    ['a ../ path', tarEntry('../evil', Buffer.from('x'))],
    ['an absolute path', tarEntry('/tmp/evil', Buffer.from('x'))],
    ['a symlink pointing outside', tarEntry('link', Buffer.alloc(0), '2', '../../etc')],
  ];
  for (const [what, entry] of escapes) {
    it(`refuses a bundle with ${what} and leaves no app directory`, async function () {
      const uri = await storeWith(
        join(dir, 'store'),
        tgz([tarEntry('docker-compose.yml', Buffer.from('services: {}\n')), entry]),
      );
      const err = await extractApp(join(dir, 'store'), join(dir, 'compose'), 'app', uri).catch(
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(AkliteError);
      expect((err as AkliteError).code).to.equal('VERIFICATION_FAILED');
      expect(await readdir(join(dir, 'compose'))).to.deep.equal([]);
      expect(await readdir(dir)).to.deep.equal(['compose', 'store']);
    });
  }
});
