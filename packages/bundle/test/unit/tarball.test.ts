import { expect } from 'chai';
import { buildTar, buildTarGz } from '../../src/tarball.js';

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

    it('refuses a path that climbs out with ..', () => {
      expect(() => buildTar([{ path: '../evil', data: Buffer.alloc(0) }])).to.throw(
        /invalid tar entry path/,
      );
    });
  });
});
