import { expect } from 'chai';
import { FormatError, type FormatErrorCode } from '../../src/errors.js';

/** Runs `fn` and returns what it threw; fails the test when it returns normally. */
export function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  expect.fail('expected the call to throw');
}

/** Asserts that `fn` throws a FormatError with `code` (and, when given, exactly `message`). */
export function expectFormatError(
  fn: () => unknown,
  code: FormatErrorCode,
  message?: string,
): FormatError {
  const err = thrownBy(fn);
  expect(err).to.be.instanceOf(FormatError);
  const formatError = err as FormatError;
  expect(formatError.code).to.equal(code);
  if (message !== undefined) expect(formatError.message).to.equal(message);
  return formatError;
}

/** A fixed clock for tests. */
export const at = (iso: string) => (): Date => new Date(iso);
