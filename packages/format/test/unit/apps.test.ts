import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { FormatError } from '../../src/errors.js';
import { CAPS, MEDIA_TYPES } from '../../src/layout.js';
import { planAppBlobs, walkAppTree, type SmallBlobReader } from '../../src/apps.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** An in-memory store behind the walker's reader port. */
class MemoryStore {
  readonly blobs = new Map<string, Buffer>();
  readonly reads: string[] = [];

  put(v: unknown): { hex: string; desc: { mediaType?: string; digest: string; size: number } } {
    const bytes = Buffer.isBuffer(v) ? v : Buffer.from(JSON.stringify(v));
    const hex = sha(bytes);
    this.blobs.set(hex, bytes);
    return { hex, desc: { digest: `sha256:${hex}`, size: bytes.length } };
  }

  reader: SmallBlobReader = (hex, cap) => {
    this.reads.push(hex);
    const b = this.blobs.get(hex);
    if (b === undefined) return Promise.reject(new Error(`no blob ${hex}`));
    if (b.length > cap) return Promise.reject(new FormatError('FILE_TOO_LARGE', 'over cap'));
    return Promise.resolve(b);
  };
}

/** An app of two images that share a layer; layers are never read, only pinned. */
function sampleApp(s: MemoryStore, patch: (m: Record<string, unknown>) => void = () => undefined) {
  const layer = (n: string) => ({ digest: `sha256:${sha(Buffer.from(n))}`, size: n.length });
  const config = s.put({ architecture: 'amd64' });
  const web = s.put({ config: config.desc, layers: [layer('base'), layer('web')] });
  const db = s.put({ config: config.desc, layers: [layer('base'), layer('db')] });
  const list = s.put({
    images: [
      { ref: 'h/f/web@sha256:' + web.hex, digest: `sha256:${web.hex}` },
      { digest: `sha256:${db.hex}` },
    ],
  });
  const compose = s.put(Buffer.from('compose tar.gz'));
  const empty = s.put({});
  const manifest: Record<string, unknown> = {
    config: empty.desc,
    layers: [
      { ...compose.desc, mediaType: MEDIA_TYPES.composeBundle },
      { ...list.desc, mediaType: MEDIA_TYPES.appImages },
    ],
  };
  patch(manifest);
  const m = s.put(manifest);
  return { m, web, db, list, compose, empty, config, layer };
}

async function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  return expect.fail('expected a rejection');
}

async function expectContentInvalid(p: Promise<unknown>): Promise<void> {
  const err = await rejectionOf(p);
  expect(err).to.be.instanceOf(FormatError);
  expect((err as FormatError).code, String(err)).to.equal('CONTENT_INVALID');
}

describe('walkAppTree', () => {
  it('walks manifest, compose bundle, image list, image manifests, configs and layers in order', async () => {
    const s = new MemoryStore();
    const a = sampleApp(s);
    const tree = await walkAppTree(a.m.hex, s.reader, 'app web');
    expect(tree.blobs.map((b) => [b.kind, b.digest])).to.deep.equal([
      ['app-manifest', a.m.hex],
      ['other', a.empty.hex],
      ['compose-bundle', a.compose.hex],
      ['image-list', a.list.hex],
      ['image-manifest', a.web.hex],
      ['config', a.config.hex],
      ['layer', a.layer('base').digest.slice(7)],
      ['layer', a.layer('web').digest.slice(7)],
      ['image-manifest', a.db.hex],
      ['layer', a.layer('db').digest.slice(7)],
    ]);
    expect(tree.blobs.every((b) => Number.isSafeInteger(b.size))).to.equal(true);
    expect(tree.composeBundle).to.deep.equal({ hex: a.compose.hex, size: a.compose.desc.size });
    expect(tree.images.map((i) => i.ref)).to.deep.equal([`h/f/web@sha256:${a.web.hex}`, undefined]);
    expect(tree.images[1].layers.map((l) => l.hex)).to.deep.equal([
      a.layer('base').digest.slice(7),
      a.layer('db').digest.slice(7),
    ]);
    // Only the JSON blobs are read; layers and the compose bundle are pinned, not read.
    expect(s.reads).to.deep.equal([a.m.hex, a.list.hex, a.web.hex, a.db.hex]);
  });

  it('is what planAppBlobs gives for the app URI', async () => {
    const s = new MemoryStore();
    const a = sampleApp(s);
    const tree = await walkAppTree(a.m.hex, s.reader, 'app web');
    expect(await planAppBlobs(`h/f/web@sha256:${a.m.hex}`, s.reader)).to.deep.equal(tree.blobs);
  });

  it('passes what the reader throws through unchanged', async () => {
    const s = new MemoryStore();
    const a = sampleApp(s);
    s.blobs.delete(a.db.hex);
    const err = await rejectionOf(walkAppTree(a.m.hex, s.reader, 'app web'));
    expect(err).to.be.instanceOf(Error).and.not.to.be.instanceOf(FormatError);
    expect((err as Error).message).to.equal(`no blob ${a.db.hex}`);
  });

  it('reads the app manifest within its cap', async () => {
    const s = new MemoryStore();
    const big = s.put({ layers: [], pad: 'x'.repeat(CAPS.appManifest) });
    const err = await rejectionOf(walkAppTree(big.hex, s.reader, 'app web'));
    expect((err as FormatError).code).to.equal('FILE_TOO_LARGE');
  });

  describe('refuses with CONTENT_INVALID', () => {
    const cases: [string, (m: Record<string, unknown>) => void][] = [
      ['a manifest with one layer', (m) => (m.layers as unknown[]).splice(1)],
      [
        'a descriptor without a size',
        (m) => ((m.layers as Record<string, unknown>[])[0].size = undefined),
      ],
      [
        'a descriptor with a digest that is not sha256',
        (m) => ((m.layers as Record<string, unknown>[])[0].digest = 'md5:abc'),
      ],
      [
        'a compose bundle above its cap',
        (m) => ((m.layers as Record<string, unknown>[])[0].size = CAPS.composeBundle + 1),
      ],
      [
        'layers[1] of another media type',
        (m) => ((m.layers as Record<string, unknown>[])[1].mediaType = MEDIA_TYPES.ociConfig),
      ],
      [
        'an image list shorter than its descriptor says',
        (m) => ((m.layers as { size: number }[])[1].size += 5),
      ],
    ];
    for (const [title, patch] of cases) {
      it(title, async () => {
        const s = new MemoryStore();
        const a = sampleApp(s, patch);
        await expectContentInvalid(walkAppTree(a.m.hex, s.reader, 'app web'));
      });
    }

    it('a blob pinned with two sizes', async () => {
      const s = new MemoryStore();
      const layer = { digest: `sha256:${sha(Buffer.from('l'))}` };
      const config = s.put({});
      const im = s.put({
        config: config.desc,
        layers: [
          { ...layer, size: 1 },
          { ...layer, size: 2 },
        ],
      });
      const list = s.put({ images: [{ digest: `sha256:${im.hex}` }] });
      const m = s.put({ layers: [s.put(Buffer.from('c')).desc, list.desc] });
      await expectContentInvalid(walkAppTree(m.hex, s.reader, 'app web'));
    });

    it('a layer above the 16 GiB cap', async () => {
      const s = new MemoryStore();
      const im = s.put({
        config: s.put({}).desc,
        layers: [{ digest: `sha256:${'a'.repeat(64)}`, size: CAPS.layer + 1 }],
      });
      const list = s.put({ images: [{ digest: `sha256:${im.hex}` }] });
      const m = s.put({ layers: [s.put(Buffer.from('c')).desc, list.desc] });
      await expectContentInvalid(walkAppTree(m.hex, s.reader, 'app web'));
    });

    it('an image list without an images array', async () => {
      const s = new MemoryStore();
      const list = s.put({ imgs: [] });
      const m = s.put({ layers: [s.put(Buffer.from('c')).desc, list.desc] });
      await expectContentInvalid(walkAppTree(m.hex, s.reader, 'app web'));
    });
  });
});
