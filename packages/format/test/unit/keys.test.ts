import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { canonicalJson } from '../../src/canonical.js';
import {
  generateSigningKey,
  keyIdOf,
  parsePrivateKeyFile,
  parsePublicKey,
  privateKeyFile,
  publicKeyObject,
  signBytes,
  signingKeyFromSeed,
  verifyBytes,
} from '../../src/keys.js';
import { expectFormatError } from './helpers.js';

const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const utf8 = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));

/** RFC 8032 §7.1, test 1 (empty message). */
const RFC8032 = {
  seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
  public: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
  sig:
    'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555f' +
    'b8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
};

describe('keyIdOf', () => {
  describe('when given the ed25519 key of the TUF specification example', () => {
    it('gives the key id the specification lists', () => {
      // sha256 of {"keytype":"ed25519","keyval":{"public":"7237…542c"},"scheme":"ed25519"},
      // checked independently with sha256 over that exact text.
      const key = publicKeyObject(
        '72378e5bc588793e58f81c8533da64a2e8f1565c1fcc7f253496394ffc52542c',
      );
      expect(keyIdOf(key)).to.equal(
        '1bf1c6e3cdd3d3a8420b19199e27511999850f4b376c4547b2f32fba7e80fca3',
      );
    });
  });

  describe('when given any generated key', () => {
    it('is the sha256 of the canonical key object', () => {
      const { publicKey, keyid } = generateSigningKey();
      const text = `{"keytype":"ed25519","keyval":{"public":"${publicKey.keyval.public}"},"scheme":"ed25519"}`;
      expect(canonicalJson(publicKey)).to.equal(text);
      expect(keyIdOf(publicKey)).to.equal(createHash('sha256').update(text).digest('hex'));
      expect(keyid).to.equal(keyIdOf(publicKey));
    });
  });
});

describe('signingKeyFromSeed', () => {
  describe('when given the RFC 8032 test seed', () => {
    it('derives the RFC public key', () => {
      expect(signingKeyFromSeed(hex(RFC8032.seed)).publicKey.keyval.public).to.equal(
        RFC8032.public,
      );
    });

    it('signs the empty message with the RFC signature', () => {
      expect(signBytes(signingKeyFromSeed(hex(RFC8032.seed)), new Uint8Array())).to.equal(
        RFC8032.sig,
      );
    });
  });

  describe('when the seed is not 32 bytes', () => {
    for (const length of [0, 31, 33, 64]) {
      it(`refuses ${length} bytes with INVALID_KEY`, () => {
        expectFormatError(() => signingKeyFromSeed(new Uint8Array(length)), 'INVALID_KEY');
      });
    }
  });
});

describe('generateSigningKey', () => {
  it('gives a different key each time', () => {
    expect(generateSigningKey().keyid).to.not.equal(generateSigningKey().keyid);
  });
});

describe('signBytes and verifyBytes', () => {
  const key = generateSigningKey();
  const message = utf8('{"_type":"bundle-targets","version":1}');
  const sig = signBytes(key, message);

  describe('when the message and signature are untouched', () => {
    it('verifies', () => {
      expect(sig).to.match(/^[0-9a-f]{128}$/);
      expect(verifyBytes(key.publicKey, message, sig)).to.equal(true);
    });

    it('verifies the RFC 8032 vector with node:crypto', () => {
      expect(verifyBytes(publicKeyObject(RFC8032.public), new Uint8Array(), RFC8032.sig)).to.equal(
        true,
      );
    });
  });

  describe('when the signature does not match', () => {
    const flipped = (s: string, i: number) =>
      s.slice(0, i) + (s[i] === '0' ? '1' : '0') + s.slice(i + 1);
    const table: [string, () => boolean][] = [
      [
        'the message has one byte changed',
        () => verifyBytes(key.publicKey, utf8('{"_type":"bundle-targets","version":2}'), sig),
      ],
      [
        'the message has a byte appended',
        () => verifyBytes(key.publicKey, utf8('{"_type":"bundle-targets","version":1} '), sig),
      ],
      [
        'the signature has one hex digit changed',
        () => verifyBytes(key.publicKey, message, flipped(sig, 10)),
      ],
      [
        'the signature is by another key',
        () => verifyBytes(generateSigningKey().publicKey, message, sig),
      ],
      [
        'the signature is uppercase hex',
        () => verifyBytes(key.publicKey, message, sig.toUpperCase()),
      ],
      ['the signature is truncated', () => verifyBytes(key.publicKey, message, sig.slice(0, 126))],
      [
        'the signature is base64',
        () => verifyBytes(key.publicKey, message, Buffer.from(sig, 'hex').toString('base64')),
      ],
      ['the public key is not 32 bytes', () => verifyBytes(publicKeyObject('abcd'), message, sig)],
    ];
    for (const [name, check] of table) {
      it(`returns false when ${name}`, () => {
        expect(check()).to.equal(false);
      });
    }
  });
});

describe('parsePublicKey', () => {
  const pub = generateSigningKey().publicKey.keyval.public;

  describe('when given a valid key object with extra fields', () => {
    it('returns only keytype, scheme and keyval.public', () => {
      expect(
        parsePublicKey(
          { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: pub, extra: 1 }, x: 2 },
          'root.json',
        ),
      ).to.deep.equal(publicKeyObject(pub));
    });
  });

  describe('when the key object is not an ed25519 key', () => {
    const table: [string, unknown][] = [
      ['null', null],
      ['a string', pub],
      ['keytype rsa', { keytype: 'rsa', scheme: 'ed25519', keyval: { public: pub } }],
      ['keytype ED25519', { keytype: 'ED25519', scheme: 'ed25519', keyval: { public: pub } }],
      ['no scheme', { keytype: 'ed25519', keyval: { public: pub } }],
      ['keyval null', { keytype: 'ed25519', scheme: 'ed25519', keyval: null }],
      [
        'uppercase hex',
        { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: pub.toUpperCase() } },
      ],
      ['31 bytes', { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: pub.slice(2) } }],
    ];
    for (const [name, value] of table) {
      it(`refuses ${name} with INVALID_KEY`, () => {
        expectFormatError(() => parsePublicKey(value, 'root.json'), 'INVALID_KEY');
      });
    }
  });
});

describe('parsePrivateKeyFile', () => {
  const key = generateSigningKey();

  describe('when given a file written by privateKeyFile', () => {
    it('gives back the same key', () => {
      const parsed = parsePrivateKeyFile(
        JSON.parse(JSON.stringify(privateKeyFile(key))),
        'targets.sec',
      );
      expect(parsed.keyid).to.equal(key.keyid);
      expect(Buffer.from(parsed.seed).equals(Buffer.from(key.seed))).to.equal(true);
    });
  });

  describe('when the public key in the file belongs to another seed', () => {
    it('refuses it with INVALID_KEY and names the file', () => {
      const file = privateKeyFile(key);
      file.keyval.public = generateSigningKey().publicKey.keyval.public;
      const err = expectFormatError(() => parsePrivateKeyFile(file, 'targets.sec'), 'INVALID_KEY');
      expect(err.message).to.contain('targets.sec');
    });

    it('never puts the seed in the message', () => {
      const file = privateKeyFile(key);
      file.keyval.public = generateSigningKey().publicKey.keyval.public;
      const err = expectFormatError(() => parsePrivateKeyFile(file, 'targets.sec'), 'INVALID_KEY');
      expect(err.message).to.not.contain(file.keyval.private);
    });
  });

  describe('when the private key is not 64 hex digits', () => {
    const table: [string, unknown][] = [
      ['null', null],
      ['no keyval', { keytype: 'ed25519' }],
      ['a short seed', { keyval: { private: 'ab' } }],
      ['a 64-byte key', { keyval: { private: 'ab'.repeat(64) } }],
      ['uppercase hex', { keyval: { private: 'AB'.repeat(32) } }],
    ];
    for (const [name, value] of table) {
      it(`refuses ${name} with INVALID_KEY`, () => {
        expectFormatError(() => parsePrivateKeyFile(value, 'targets.sec'), 'INVALID_KEY');
      });
    }
  });
});
