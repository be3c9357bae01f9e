/**
 * Issue 11 §2: tuf-js's errors are classified by class, never by message text, through
 * one exhaustive table. The table is pinned here to the error classes of the tuf-js and
 * @tufjs/models versions installed (the only place that reads their `dist/`): a class
 * added or renamed by an update fails this test instead of falling through to a default.
 */
import { expect } from 'chai';
import { createRequire } from 'node:module';
import { exitStatusFor } from '../../src/error-status.js';
import { FormatError } from '../../src/errors.js';
import { StatusCode } from '../../src/status.js';
import { BundleFetcher } from '../../src/tuf-fetcher.js';
import { classifyTufError, TUF_JS_ERRORS, tufJsErrorClass } from '../../src/tuf-errors.js';

const require = createRequire(import.meta.url);
type ErrorClass = new (message: string, ...rest: unknown[]) => Error;

/** Every exported error class of a CommonJS `dist/error.js`. */
function classesOf(pkg: string): [string, ErrorClass][] {
  const main = require.resolve(pkg);
  const mod = require(main.replace(/index\.js$/, 'error.js')) as Record<string, unknown>;
  return Object.entries(mod).filter(
    (e): e is [string, ErrorClass] =>
      typeof e[1] === 'function' && (e[1] as { prototype?: unknown }).prototype instanceof Error,
  );
}

const CLASSES = [...classesOf('tuf-js'), ...classesOf('@tufjs/models')];

function fetcherAt(file: string): BundleFetcher {
  const f = new BundleFetcher('/media/bundle/tuf', new Map([[file, Buffer.from('{}')]]));
  void f.downloadBytes(`file:///media/bundle/tuf/${file}`, 10);
  return f;
}

describe('classifyTufError (issue 11 §2)', () => {
  it('knows every error class tuf-js and @tufjs/models export', () => {
    expect(CLASSES.length).to.be.greaterThan(10);
    for (const [name, C] of CLASSES) {
      expect(Object.keys(TUF_JS_ERRORS), name).to.include(name);
      expect(tufJsErrorClass(new C('x', 1)), name).to.equal(name);
    }
  });

  for (const [name, C] of CLASSES) {
    const want =
      name === 'ExpiredMetadataError'
        ? StatusCode.CheckinExpiredMetadata
        : name === 'PersistError'
          ? StatusCode.UnknownError
          : StatusCode.CheckinSecurityError;
    it(`maps ${name} to ${want}, naming the file tuf-js was reading`, () => {
      const err = classifyTufError(new C('refused', 1), fetcherAt('snapshot.json'));
      expect(err).to.be.instanceOf(FormatError);
      expect(exitStatusFor(err)).to.equal(want);
      expect(err.file).to.equal('tuf/snapshot.json');
      expect(err.message).to.contain('tuf/snapshot.json');
    });
  }

  for (const C of [TypeError, ReferenceError, RangeError, SyntaxError, Error]) {
    it(`maps a raw ${C.name} (malformed metadata reaching tuf-js) to 11`, () => {
      const err = classifyTufError(
        new C("Cannot read properties of undefined (reading 'version')"),
        fetcherAt('targets.json'),
      );
      expect(exitStatusFor(err)).to.equal(StatusCode.CheckinSecurityError);
      expect(err.file).to.equal('tuf/targets.json');
    });
  }

  it('maps a thrown non-Error to 11', () => {
    expect(exitStatusFor(classifyTufError('boom'))).to.equal(StatusCode.CheckinSecurityError);
  });

  it("keeps the fetcher's own refusal (tuf-js re-throws it without a cause)", async () => {
    const f = new BundleFetcher('/media/bundle/tuf', new Map());
    await f.downloadBytes('file:///media/bundle/tuf/snapshot.json', 10).catch(() => undefined);
    const err = classifyTufError(new Error('Unable to load snapshot metadata'), f);
    expect(err.code).to.equal('TUF_MISSING');
  });
});
