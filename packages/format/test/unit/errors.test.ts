import { expect } from 'chai';
import { ValueError } from '@tufjs/models';
import { exitStatusFor, FORMAT_STATUS } from '../../src/error-status.js';
import {
  errnoOf,
  FormatError,
  isErrno,
  messageOf,
  OfflineOtaError,
  type FormatErrorCode,
} from '../../src/errors.js';
import { classifyTufError } from '../../src/tuf-errors.js';
import { BundleFetcher } from '../../src/tuf-fetcher.js';

describe('errors', function () {
  describe('the shared base class', function () {
    it('carries a code, a cause and a file, and is named after its subclass', function () {
      const cause = new Error('inner');
      const e = new FormatError('TUF_SECURITY', 'outer', { cause, file: 'tuf/x.json' });
      expect(e).to.be.instanceOf(OfflineOtaError);
      expect(e).to.be.instanceOf(Error);
      expect(e.code).to.equal('TUF_SECURITY');
      expect(e.cause).to.equal(cause);
      expect(e.file).to.equal('tuf/x.json');
      expect(e.name).to.equal('FormatError');
      expect(new FormatError('IO_ERROR', 'x')).to.not.have.property('cause');
    });

    it('reads Node.js system errors by their code, never their message', function () {
      const err = Object.assign(new Error('no such file'), { code: 'ENOENT' });
      expect(errnoOf(err)).to.equal('ENOENT');
      expect(isErrno(err, 'ENOENT')).to.equal(true);
      expect(isErrno(new Error('ENOENT'), 'ENOENT')).to.equal(false);
      expect(errnoOf('ENOENT')).to.equal(undefined);
      expect(messageOf(err)).to.equal('no such file');
      expect(messageOf(42)).to.equal('42');
    });
  });

  describe('the exit status table', function () {
    // The statuses the check-in has always given (docs/bundle-format.md, the e2e tamper tables).
    const pinned: Record<FormatErrorCode, number> = {
      ROOT_CHAIN_BROKEN: 11,
      TUF_SECURITY: 11,
      // Issue 11 §3: an older stick is refused with the reference's "using cached metadata".
      TUF_ROLLBACK: 3,
      INVALID_KEY: 11,
      INVALID_TIME: 11,
      INVALID_METADATA: 11,
      PATH_ESCAPE: 11,
      FILE_TOO_LARGE: 11,
      EXPIRED: 12,
      TUF_EXPIRED: 12,
      ROOT_NOT_FOUND: 14,
      TUF_MISSING: 14,
      FILE_MISSING: 14,
      BUNDLE_INVALID: 15,
      TYPE_MISMATCH: 15,
      TAG_MISMATCH: 15,
      UNKNOWN_KEY: 15,
      BAD_SIGNATURE: 15,
      DUPLICATE_SIGNATURE: 15,
      THRESHOLD_NOT_MET: 15,
      TUF_FAILURE: 4,
      NO_MATCHING_TARGETS: 6,
      NO_TARGET_CONTENT: 8,
      CONTENT_INVALID: 70,
      // Issue 11 §4: the device's own root, not the media.
      DEVICE_ROOT_INVALID: 44,
      // Issue 11 §5: another factory's bundle is 11, as the technician guide says.
      FOREIGN_BUNDLE: 11,
      INVALID_JSON: 1,
      EXPIRY_TOO_SOON: 1,
      INVALID_ARGUMENT: 1,
      IO_ERROR: 1,
      TRUST_STORE_INCONSISTENT: 1,
      MEDIA_UNREADABLE: 50,
      NO_SPACE: 60,
    };
    for (const [code, status] of Object.entries(pinned)) {
      it(`maps ${code} to ${status}`, function () {
        expect(exitStatusFor(new FormatError(code as FormatErrorCode, 'x'))).to.equal(status);
      });
    }

    it('has an entry for exactly the codes above', function () {
      expect(Object.keys(FORMAT_STATUS).sort()).to.deep.equal(Object.keys(pinned).sort());
    });

    it('maps anything that is not a FormatError to 1', function () {
      expect(exitStatusFor(new Error('TUF_SECURITY'))).to.equal(1);
    });
  });

  describe('the tuf-js error adapter', function () {
    it('keeps our own errors', function () {
      const e = new FormatError('TUF_EXPIRED', 'x');
      expect(classifyTufError(e)).to.equal(e);
    });

    it("takes the fetcher's refusal that tuf-js re-threw without a cause", async function () {
      const fetcher = new BundleFetcher('/b/tuf', new Map([['big.json', Buffer.alloc(10)]]));
      const missing = await fetcher
        .downloadBytes('file:///b/tuf/snapshot.json', 100)
        .catch((e: unknown) => e);
      expect(missing).to.be.instanceOf(FormatError);
      const wrapped = new Error(`Unable to load snapshot metadata error ${String(missing)}`);
      expect(classifyTufError(wrapped, fetcher)).to.equal(missing);
      expect(classifyTufError(wrapped, fetcher).code).to.equal('TUF_MISSING');
      await fetcher.downloadBytes('file:///b/tuf/big.json', 5).catch(() => undefined);
      expect(classifyTufError(wrapped, fetcher).code).to.equal('FILE_TOO_LARGE');
    });

    it('classifies by class, not by message', function () {
      expect(classifyTufError(new ValueError('anything')).code).to.equal('TUF_SECURITY');
      // A message that the old regexes would have called a rollback or a signature failure:
      // its class (a plain Error) decides, and whatever tuf-js refuses after our verifier
      // accepted it is untrusted metadata (issue 11 §2; was TUF_FAILURE, 4).
      expect(classifyTufError(new Error('is less than current version')).code).to.equal(
        'TUF_SECURITY',
      );
      expect(classifyTufError(new Error('signed by 0/1 keys')).code).to.equal('TUF_SECURITY');
    });
  });
});
