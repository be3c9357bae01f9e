import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { openZipBundle } from '@offline-ota/format';
import { tempDir } from '../helpers.js';

const run = promisify(execFile);

/** Files in the synthetic bundle: about the entry count of a 1 GiB bundle (~32,000). */
const FILES = 30000;
/** Peak RSS allowed to the process that packs it (archiver's pack took ~360 MB). */
const MAX_RSS_MB = 150;

/** Packs `src` into `dst` in a fresh node process and reports that process's peak RSS. */
const CHILD = `
const [packJs, src, dst] = process.argv.slice(1);
const { packBundle } = await import(packJs);
const res = await packBundle({ src, dst });
process.stdout.write(JSON.stringify({ entries: res.entries, maxRssKiB: process.resourceUsage().maxRSS }));
`;

describe('packBundle memory', function () {
  this.timeout(120000);
  let dir: string;
  let cleanup: () => Promise<void>;

  before(async () => {
    ({ dir, cleanup } = await tempDir('bundlectl-pack-memory-'));
  });
  after(async () => cleanup());

  it(`stays under ${MAX_RSS_MB} MB of peak RSS for ${FILES} small files`, async () => {
    const src = join(dir, 'bundle');
    await mkdir(join(src, 'tuf'), { recursive: true });
    await writeFile(join(src, 'tuf', 'bundle-targets.json'), '{"signed":{}}');
    const objects = join(src, 'ostree_repo', 'objects');
    for (let d = 0; d < 256; d++) {
      await mkdir(join(objects, d.toString(16).padStart(2, '0')), { recursive: true });
    }
    // OSTree-like objects: 90% stored .filez, 10% deflated metadata.
    let batch: Promise<void>[] = [];
    for (let i = 0; i < FILES; i++) {
      const hex = createHash('sha256').update(String(i)).digest('hex');
      const meta = i % 10 === 0;
      const data = meta ? Buffer.from(`dirtree ${i} `.repeat(40)) : randomBytes(512);
      const name = `${hex.slice(2)}${meta ? '.dirtree' : '.filez'}`;
      batch.push(writeFile(join(objects, hex.slice(0, 2), name), data));
      if (batch.length === 64) {
        await Promise.all(batch);
        batch = [];
      }
    }
    await Promise.all(batch);

    const dst = join(dir, 'bundle.zip');
    const packJs = new URL('../../src/pack.js', import.meta.url).href;
    const { stdout } = await run(process.execPath, [
      '--input-type=module',
      '-e',
      CHILD,
      packJs,
      src,
      dst,
    ]);
    const { entries, maxRssKiB } = JSON.parse(stdout) as { entries: number; maxRssKiB: number };
    expect(entries).to.equal(FILES + 256 + 4);
    const bundle = await openZipBundle(dst);
    try {
      expect(bundle.entries()).to.have.length(FILES + 1);
    } finally {
      await bundle.close();
    }
    expect(maxRssKiB / 1024, 'peak RSS of the packing process in MB').to.be.below(MAX_RSS_MB);
  });
});
