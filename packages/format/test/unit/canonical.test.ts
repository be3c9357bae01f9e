import { expect } from 'chai';
import { canonicalBytes, canonicalJson } from '../../src/canonical.js';
import { thrownBy } from './helpers.js';

describe('canonicalJson', () => {
  describe('when given nested objects', () => {
    it('sorts keys at every level and writes no whitespace', () => {
      expect(canonicalJson({ b: [1, { d: 1, c: 2 }], a: null, C: true })).to.equal(
        '{"C":true,"a":null,"b":[1,{"c":2,"d":1}]}',
      );
    });

    it('gives the same text whatever the insertion order', () => {
      expect(canonicalJson({ x: 1, y: { q: 'a', p: 'b' } })).to.equal(
        canonicalJson({ y: { p: 'b', q: 'a' }, x: 1 }),
      );
    });

    it('keeps the order of array elements', () => {
      expect(canonicalJson(['b', 'a', 3, 1])).to.equal('["b","a",3,1]');
    });
  });

  describe('when given a TUF key object', () => {
    it('writes keytype, keyval, scheme in that order', () => {
      expect(
        canonicalJson({ scheme: 'ed25519', keyval: { public: 'ab' }, keytype: 'ed25519' }),
      ).to.equal('{"keytype":"ed25519","keyval":{"public":"ab"},"scheme":"ed25519"}');
    });
  });

  describe('when strings hold quotes or backslashes', () => {
    it('escapes exactly those characters', () => {
      expect(canonicalJson({ a: 'x"y\\z' })).to.equal('{"a":"x\\"y\\\\z"}');
    });
  });

  describe('when given integers', () => {
    it('writes safe integers, negative ones and zero', () => {
      expect(canonicalJson([0, -1, 42, Number.MAX_SAFE_INTEGER])).to.equal(
        '[0,-1,42,9007199254740991]',
      );
    });
  });

  describe('when given a value canonical JSON cannot carry portably', () => {
    const table: [string, unknown][] = [
      ['a float', { a: 1.5 }],
      ['NaN', { a: NaN }],
      ['Infinity', [Infinity]],
      ['an integer beyond 2^53', { a: 2 ** 53 }],
      ['a non-ASCII string value', { a: 'café' }],
      ['a non-ASCII key', { é: 1 }],
      ['an emoji deep inside an array', { a: [{ b: ['ok', '\u{1F600}'] }] }],
      ['an undefined property', { a: undefined }],
    ];
    for (const [name, value] of table) {
      it(`refuses ${name} with a TypeError`, () => {
        expect(thrownBy(() => canonicalJson(value))).to.be.instanceOf(TypeError);
        expect(thrownBy(() => canonicalBytes(value))).to.be.instanceOf(TypeError);
      });
    }

    it('names the path of the offending value', () => {
      const err = thrownBy(() => canonicalJson({ outer: { list: [1, 2.5] } })) as Error;
      expect(err.message).to.contain('$.outer.list[1]');
    });
  });
});

describe('canonicalBytes', () => {
  it('gives the UTF-8 bytes of canonicalJson', () => {
    const value = { z: [1, 2], a: { c: 'x', b: null } };
    expect(canonicalBytes(value).equals(Buffer.from(canonicalJson(value), 'utf8'))).to.equal(true);
  });
});
