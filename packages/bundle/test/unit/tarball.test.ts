import { expect } from 'chai';
import { Parser, type ReadEntry } from 'tar';
import { buildTar, buildTarGz } from '../../src/tarball.js';

/** Every entry's header fields, as tar reads them back. */
function headers(archive: Buffer): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const parser = new Parser({
    onReadEntry: (e: ReadEntry) => {
      out.push({
        path: e.path,
        type: e.type,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        mtime: e.mtime?.getTime(),
        uname: e.uname ?? '',
        size: e.size,
      });
      e.resume();
    },
  });
  parser.end(archive);
  return out;
}

describe('tarball', () => {
  describe('buildTarGz', () => {
    it('gives the same bytes for the same entries in any order', () => {
      const a = buildTarGz([
        { path: 'b/x.txt', data: Buffer.from('x') },
        { path: 'a.txt', data: Buffer.from('a') },
      ]);
      const b = buildTarGz([
        { path: 'a.txt', data: Buffer.from('a') },
        { path: 'b/x.txt', data: Buffer.from('x') },
      ]);
      expect(a.equals(b)).to.equal(true);
    });
  });

  describe('buildTar', () => {
    it('pads every entry to 512-byte blocks and ends with two zero blocks', () => {
      const tar = buildTar([{ path: 'f', data: Buffer.from('hello') }]);
      expect(tar.length % 512).to.equal(0);
      expect(tar.length).to.equal(512 + 512 + 1024);
    });

    it('lists parent directories, sorted, with owner 0:0, mtime 0 and no user names', () => {
      const tar = buildTar([
        { path: 'b/x.txt', data: Buffer.from('x') },
        { path: 'a', data: Buffer.from('aa'), mode: 0o600 },
      ]);
      const base = { uid: 0, gid: 0, mtime: 0, uname: '' };
      expect(headers(tar)).to.deep.equal([
        { ...base, path: 'a', type: 'File', mode: 0o600, size: 2 },
        { ...base, path: 'b/', type: 'Directory', mode: 0o755, size: 0 },
        { ...base, path: 'b/x.txt', type: 'File', mode: 0o644, size: 1 },
      ]);
    });

    it('refuses a path that climbs out with ..', () => {
      expect(() => buildTar([{ path: '../evil', data: Buffer.alloc(0) }])).to.throw(
        /invalid tar entry path/,
      );
    });
  });
});
