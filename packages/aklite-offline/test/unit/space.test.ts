import { expect } from 'chai';
import { checkSpaceFor, writableBytes, type FsSpace } from '../../src/lib/space.js';

// 100 blocks of 1 KiB: 50 free, of which 5 are reserved for root (bavail 45).
const FS: FsSpace = { bsize: 1024, blocks: 100, bfree: 50, bavail: 45 };

describe('the pre-flight space check', function () {
  it('counts the root-reserved blocks as writable for root (uid 0)', function () {
    expect(writableBytes(FS, 0)).to.equal(50 * 1024);
  });

  it('counts only the blocks an unprivileged user may write for other users', function () {
    expect(writableBytes(FS, 1000)).to.equal(45 * 1024);
  });

  describe('when the update fits only with the reserved blocks', function () {
    // Root: 50 used + 46 required = 96 blocks of 100, within a 98% watermark; an
    // unprivileged user counts the 5 reserved as used: 55 + 46 = 101 blocks.
    const required = 46 * 1024;
    it('accepts it as root', function () {
      const v = checkSpaceFor(FS, required, 98, 0);
      expect(v.ok).to.equal(true);
      expect(v.percent).to.equal(96);
    });
    it('refuses it for another user', function () {
      expect(checkSpaceFor(FS, required, 98, 1000).ok).to.equal(false);
    });
  });

  it('keeps the watermark for root', function () {
    // 50 used + 30 required = 80% of the file system: above a 79% watermark, within 80%.
    expect(checkSpaceFor(FS, 30 * 1024, 79, 0).ok).to.equal(false);
    expect(checkSpaceFor(FS, 30 * 1024, 80, 0).ok).to.equal(true);
  });

  it('refuses on a file system that reports no blocks', function () {
    expect(checkSpaceFor({ bsize: 4096, blocks: 0, bfree: 0, bavail: 0 }, 0, 100, 0)).to.include({
      ok: false,
      percent: 100,
    });
  });
});
