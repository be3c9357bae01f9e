import { expect } from 'chai';
import { ExecError, FormatError, IoError } from '@offline-ota/format';
import { AkliteError, type AkliteErrorCode } from '../../src/lib/errors.js';
import { exitStatusOf } from '../../src/lib/exit-status.js';
import { AppStartError, PullError } from '../../src/lib/ports.js';

describe('exitStatusOf', function () {
  const table: [AkliteErrorCode, number][] = [
    // Issue 11 §4: the device's own files have one code (were 1).
    ['CONFIG_INVALID', 44],
    ['LOCKED', 1],
    ['DEVICE_INVALID', 44],
    ['STATE_INVALID', 44],
    ['INVALID_ARGUMENT', 1],
    ['INSTALL_FAILED', 1],
    ['TARGET_NOT_FOUND', 20],
    ['DOWNGRADE', 102],
    ['INSTALL_IN_PROGRESS', 30],
    ['NO_PENDING', 40],
    ['DOWNLOAD_FAILED', 50],
    ['NO_SPACE', 60],
    ['VERIFICATION_FAILED', 70],
    ['DEFERRED', 41],
    ['IN_PROBATION', 42],
    ['CONTROL_MISMATCH', 43],
    ['ROLLBACK_TARGET_NOT_FOUND', 21],
    ['SECURITY_VIOLATION', 11],
    ['UNPACK_FAILED', 50],
    ['PULL_FAILED', 1],
    ['APP_START_FAILED', 1],
    ['NO_BUNDLE', 14],
    ['MANY_BUNDLES', 1],
  ];
  for (const [code, status] of table) {
    it(`maps ${code} to ${status}`, function () {
      expect(exitStatusOf(new AkliteError(code, 'x'))).to.equal(status);
    });
  }

  it('maps check-in failures through the format package', function () {
    expect(exitStatusOf(new FormatError('TAG_MISMATCH', 'x'))).to.equal(15);
    expect(exitStatusOf(new FormatError('TUF_EXPIRED', 'x'))).to.equal(12);
    expect(exitStatusOf(new FormatError('NO_TARGET_CONTENT', 'x'))).to.equal(8);
  });

  it('gives the classes that had no code one (a PullError or AppStartError that escapes is 1)', function () {
    const pull = new PullError('x');
    expect(pull).to.be.instanceOf(AkliteError);
    expect(pull.code).to.equal('PULL_FAILED');
    expect(pull.name).to.equal('PullError');
    const app = new AppStartError('shellhttpd', 'x');
    expect(app.code).to.equal('APP_START_FAILED');
    expect(exitStatusOf(pull)).to.equal(1);
    expect(exitStatusOf(app)).to.equal(1);
  });

  it("maps the I/O module's errors through their tables (issue 11 §2)", function () {
    expect(exitStatusOf(new IoError('IO_FAILED', 'x', { file: '/f' }))).to.equal(1);
    expect(exitStatusOf(new ExecError('TIMED_OUT', 'x', { command: ['ostree'] }))).to.equal(1);
    expect(exitStatusOf(new FormatError('TUF_ROLLBACK', 'x'))).to.equal(3);
  });

  it('maps anything else to 1', function () {
    expect(exitStatusOf(new Error('boom'))).to.equal(1);
    expect(exitStatusOf('boom')).to.equal(1);
  });
});
