import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FormatError } from '../../src/errors.js';
import { JSON_MAX_DEPTH, jsonDepth, parseBoundedJson, readBoundedJson } from '../../src/json.js';
import { expectFormatError } from './helpers.js';

const nested = (n: number) => '['.repeat(n) + ']'.repeat(n);

describe('parseBoundedJson', () => {
  it('parses JSON within its bounds', () => {
    expect(
      parseBoundedJson(Buffer.from('{"a":[1,"]}["]}'), 'f.json', { maxBytes: 64 }),
    ).to.deep.equal({ a: [1, ']}['] });
  });

  it(`accepts ${JSON_MAX_DEPTH} levels and refuses one more, naming the file`, () => {
    expect(parseBoundedJson(nested(JSON_MAX_DEPTH), 'f.json', { maxBytes: 1000 })).to.be.an(
      'array',
    );
    const err = expectFormatError(
      () => parseBoundedJson(nested(JSON_MAX_DEPTH + 1), 'tuf/f.json', { maxBytes: 1000 }),
      'INVALID_METADATA',
    );
    expect(err.file).to.equal('tuf/f.json');
    expect(err.message).to.include('tuf/f.json');
  });

  it('refuses a million levels with a FormatError, not a RangeError', () => {
    const text = nested(1_000_000);
    expectFormatError(
      () => parseBoundedJson(text, 'f.json', { maxBytes: 4_000_000 }),
      'INVALID_METADATA',
    );
  });

  it('does not count brackets inside strings, escaped quotes included', () => {
    expect(jsonDepth('["\\"[[[[", {"a": "{{{"}]', 10)).to.equal(2);
  });

  it('refuses more bytes than the cap', () => {
    expectFormatError(
      () => parseBoundedJson('[1, 2]', 'f.json', { maxBytes: 5 }),
      'INVALID_METADATA',
    );
  });

  it('refuses bytes that are not UTF-8, and text that is not JSON, with the code asked for', () => {
    expectFormatError(
      () =>
        parseBoundedJson(Buffer.from([0x22, 0xff, 0x22]), 'f.json', {
          maxBytes: 9,
          code: 'BUNDLE_INVALID',
        }),
      'BUNDLE_INVALID',
    );
    expectFormatError(
      () => parseBoundedJson('{"a":', 'f.json', { maxBytes: 9, code: 'TUF_SECURITY' }),
      'TUF_SECURITY',
    );
  });
});

describe('readBoundedJson', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bounded-json-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a file within the cap', async () => {
    await writeFile(join(dir, 'a.json'), '{"v":1}');
    expect(await readBoundedJson(join(dir, 'a.json'), { maxBytes: 7 })).to.deep.equal({ v: 1 });
  });

  it('refuses a file over the cap', async () => {
    await writeFile(join(dir, 'b.json'), '{"v":12}');
    const err = await readBoundedJson(join(dir, 'b.json'), { maxBytes: 7 }).catch(
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(FormatError);
    expect((err as FormatError).code).to.equal('INVALID_METADATA');
  });

  it('refuses a missing file with IO_ERROR naming it', async () => {
    const err = await readBoundedJson(join(dir, 'none.json'), { maxBytes: 7 }).catch(
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(FormatError);
    expect((err as FormatError).code).to.equal('IO_ERROR');
    expect((err as FormatError).file).to.equal(join(dir, 'none.json'));
  });
});
