import { expect } from 'chai';
import { CAPS, rootVersions, tufFileCap } from '../../src/layout.js';

describe('layout', () => {
  describe('rootVersions', () => {
    it('lists the versions of the N.root.json names in numeric order', () => {
      expect(
        rootVersions(['10.root.json', '2.root.json', '1.root.json', '9.root.json']),
      ).to.deep.equal([1, 2, 9, 10]);
    });

    it('ignores every other name, also near misses', () => {
      expect(
        rootVersions([
          'root.json',
          '0.root.json',
          '01.root.json',
          '1.root.json.tmp',
          '1.root.jsonx',
          'x1.root.json',
          '1234567.root.json',
          'timestamp.json',
          '3.root.json',
        ]),
      ).to.deep.equal([3]);
    });

    it('takes any iterable of names (the keys of a map of tuf files)', () => {
      const files = new Map([
        ['2.root.json', 1],
        ['1.root.json', 1],
      ]);
      expect(rootVersions(files.keys())).to.deep.equal([1, 2]);
    });
  });

  describe('tufFileCap', () => {
    it('gives each allow-listed tuf/ file its cap', () => {
      expect(tufFileCap('1.root.json')).to.equal(CAPS.root);
      expect(tufFileCap('123.root.json')).to.equal(CAPS.root);
      expect(tufFileCap('timestamp.json')).to.equal(CAPS.timestamp);
      expect(tufFileCap('snapshot.json')).to.equal(CAPS.snapshot);
      expect(tufFileCap('targets.json')).to.equal(CAPS.targets);
      expect(tufFileCap('bundle-targets.json')).to.equal(CAPS.manifest);
    });

    it('gives no cap to a name that is not read (the reader skips it)', () => {
      for (const name of ['root.json', 'notes.txt', 'Timestamp.json', '0.root.json', ''])
        expect(tufFileCap(name), name).to.equal(undefined);
    });
  });
});
