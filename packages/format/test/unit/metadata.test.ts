import { expect } from 'chai';
import { FormatError } from '../../src/errors.js';
import {
  generateSigningKey,
  verifyBytes,
  type SigningKey,
  type TufPublicKey,
} from '../../src/keys.js';
import { canonicalBytes } from '../../src/canonical.js';
import {
  parseRoot,
  signEnvelope,
  SPEC_VERSION,
  verifyRootRotation,
  verifySelfSignedRoot,
  verifyThreshold,
  type Envelope,
  type RoleKeys,
  type RoleName,
  type RootSigned,
} from '../../src/metadata.js';
import { expectFormatError } from './helpers.js';

interface RootOptions {
  version?: number;
  root: SigningKey[];
  rootThreshold?: number;
  targets?: SigningKey[];
  targetsThreshold?: number;
}

const online = { snapshot: generateSigningKey(), timestamp: generateSigningKey() };

/** A root document as a factory writes it: every role's keys listed under their key ids. */
function rootSigned(opts: RootOptions): RootSigned {
  const targets = opts.targets ?? [generateSigningKey()];
  const keys: Record<string, TufPublicKey> = {};
  for (const k of [...opts.root, ...targets, online.snapshot, online.timestamp]) {
    keys[k.keyid] = k.publicKey;
  }
  const role = (ks: SigningKey[], threshold = 1): RoleKeys => ({
    keyids: ks.map((k) => k.keyid),
    threshold,
  });
  const roles: Record<RoleName, RoleKeys> = {
    root: role(opts.root, opts.rootThreshold),
    targets: role(targets, opts.targetsThreshold),
    snapshot: role([online.snapshot]),
    timestamp: role([online.timestamp]),
  };
  return {
    _type: 'root',
    spec_version: SPEC_VERSION,
    version: opts.version ?? 1,
    expires: '2030-01-01T00:00:00Z',
    consistent_snapshot: false,
    keys,
    roles,
  };
}

/** The JSON a reader would find on the media. */
const onMedia = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

const manifest = { _type: 'bundle-targets', version: 1, expires: '2030-01-01T00:00:00Z' };

describe('signEnvelope', () => {
  const a = generateSigningKey();
  const b = generateSigningKey();

  describe('when given several keys', () => {
    it('adds one signature per key over the canonical bytes of signed', () => {
      const env = signEnvelope(manifest, [a, b]);
      expect(env.signed).to.equal(manifest);
      expect(env.signatures.map((s) => s.keyid)).to.deep.equal([a.keyid, b.keyid]);
      const bytes = canonicalBytes(manifest);
      expect(verifyBytes(a.publicKey, bytes, env.signatures[0].sig)).to.equal(true);
      expect(verifyBytes(b.publicKey, bytes, env.signatures[1].sig)).to.equal(true);
    });
  });

  describe('when signatures already exist', () => {
    it('appends after them and leaves the given array untouched', () => {
      const first = signEnvelope(manifest, [a]);
      const second = signEnvelope(manifest, [b], first.signatures);
      expect(second.signatures.map((s) => s.keyid)).to.deep.equal([a.keyid, b.keyid]);
      expect(first.signatures).to.have.length(1);
    });
  });

  describe('when a key has already signed', () => {
    it('refuses with DUPLICATE_SIGNATURE', () => {
      const first = signEnvelope(manifest, [a]);
      expectFormatError(() => signEnvelope(manifest, [a], first.signatures), 'DUPLICATE_SIGNATURE');
    });

    it('refuses the same key given twice with DUPLICATE_SIGNATURE', () => {
      expectFormatError(() => signEnvelope(manifest, [a, a]), 'DUPLICATE_SIGNATURE');
    });
  });
});

describe('verifyThreshold', () => {
  const t1 = generateSigningKey();
  const t2 = generateSigningKey();
  const t3 = generateSigningKey();
  const outsider = generateSigningKey();
  const root = rootSigned({
    root: [generateSigningKey()],
    targets: [t1, t2, t3],
    targetsThreshold: 2,
  });
  const role = root.roles.targets;

  const strict = { strict: true, what: 'tuf/bundle-targets.json' };
  const lenient = { strict: false, what: 'targets.json' };
  const verify = (env: Envelope<unknown>, opts: typeof strict) =>
    verifyThreshold(env, root.keys, role, opts);

  /** Breaks the signature of the key at `index` while keeping it well-formed hex. */
  const badSig = (env: Envelope<unknown>, index: number): Envelope<unknown> => ({
    signed: env.signed,
    signatures: env.signatures.map((s, i) =>
      i === index ? { keyid: s.keyid, sig: (s.sig[0] === '0' ? '1' : '0') + s.sig.slice(1) } : s,
    ),
  });

  describe('when a threshold of role keys signed', () => {
    for (const opts of [strict, lenient]) {
      it(`returns the counted key ids (${opts.strict ? 'strict' : 'lenient'})`, () => {
        const result = verify(signEnvelope(manifest, [t1, t3]), opts);
        expect(result).to.deep.equal({ valid: [t1.keyid, t3.keyid], threshold: 2 });
      });
    }
  });

  describe('when fewer role keys signed than the threshold', () => {
    for (const opts of [strict, lenient]) {
      it(`refuses with THRESHOLD_NOT_MET (${opts.strict ? 'strict' : 'lenient'})`, () => {
        expectFormatError(() => verify(signEnvelope(manifest, [t1]), opts), 'THRESHOLD_NOT_MET');
      });
    }

    it('refuses an unsigned envelope with THRESHOLD_NOT_MET', () => {
      expectFormatError(
        () => verify({ signed: manifest, signatures: [] }, strict),
        'THRESHOLD_NOT_MET',
      );
    });
  });

  describe('when a key outside the role also signed', () => {
    const env = signEnvelope(manifest, [t1, outsider, t2]);

    it('refuses in strict mode with UNKNOWN_KEY', () => {
      expectFormatError(() => verify(env, strict), 'UNKNOWN_KEY');
    });

    it('skips it in lenient mode', () => {
      expect(verify(env, lenient).valid).to.deep.equal([t1.keyid, t2.keyid]);
    });

    it('refuses a key of another role of the same root in strict mode with UNKNOWN_KEY', () => {
      const withSnapshot = signEnvelope(manifest, [t1, t2, online.snapshot]);
      expectFormatError(() => verify(withSnapshot, strict), 'UNKNOWN_KEY');
    });
  });

  describe('when one signature does not verify', () => {
    const env = badSig(signEnvelope(manifest, [t1, t2, t3]), 1);

    it('refuses in strict mode with BAD_SIGNATURE', () => {
      expectFormatError(() => verify(env, strict), 'BAD_SIGNATURE');
    });

    it('skips it in lenient mode and counts the others', () => {
      expect(verify(env, lenient).valid).to.deep.equal([t1.keyid, t3.keyid]);
    });
  });

  describe('when signed changed after signing', () => {
    const env = { ...signEnvelope(manifest, [t1, t2]), signed: { ...manifest, version: 2 } };

    it('refuses in strict mode with BAD_SIGNATURE', () => {
      expectFormatError(() => verify(env, strict), 'BAD_SIGNATURE');
    });

    it('refuses in lenient mode with THRESHOLD_NOT_MET', () => {
      expectFormatError(() => verify(env, lenient), 'THRESHOLD_NOT_MET');
    });
  });

  describe('when one key signed twice', () => {
    const once = signEnvelope(manifest, [t1]);
    const twice: Envelope<unknown> = {
      signed: manifest,
      signatures: [once.signatures[0], once.signatures[0]],
    };

    it('refuses in strict mode with DUPLICATE_SIGNATURE', () => {
      expectFormatError(() => verify(twice, strict), 'DUPLICATE_SIGNATURE');
    });

    it('refuses in strict mode even when a threshold is otherwise met', () => {
      const env = signEnvelope(manifest, [t2], twice.signatures);
      expectFormatError(() => verify(env, strict), 'DUPLICATE_SIGNATURE');
    });

    it('counts it once in lenient mode, so a threshold of 2 is not met', () => {
      expectFormatError(() => verify(twice, lenient), 'THRESHOLD_NOT_MET');
    });
  });

  describe('when one public key is listed under two key ids', () => {
    // A reader that trusted key ids as written would count this key twice. parseRoot
    // refuses such a root; verifyThreshold recomputes the id and never counts it twice.
    const alias = 'f'.repeat(64);
    const keys = { ...root.keys, [alias]: t1.publicKey };
    const aliasRole = { keyids: [t1.keyid, alias], threshold: 2 };
    const signed = signEnvelope(manifest, [t1]);
    const env: Envelope<unknown> = {
      signed: manifest,
      signatures: [signed.signatures[0], { keyid: alias, sig: signed.signatures[0].sig }],
    };

    for (const opts of [strict, lenient]) {
      it(`does not reach a threshold of 2 (${opts.strict ? 'strict' : 'lenient'})`, () => {
        const err = expectFormatError(
          () => verifyThreshold(env, keys, aliasRole, opts),
          'INVALID_KEY',
        );
        expect(err.message).to.contain(alias);
      });
    }
  });
});

describe('parseRoot', () => {
  const r1 = generateSigningKey();
  const r2 = generateSigningKey();
  const signedRoot = (opts: RootOptions) => {
    const signed = rootSigned(opts);
    return onMedia(signEnvelope(signed, opts.root)) as Envelope<Record<string, unknown>> & {
      signed: Record<string, unknown> & {
        keys: Record<string, unknown>;
        roles: Record<string, RoleKeys>;
      };
    };
  };

  describe('when the root is well formed', () => {
    it('returns it with every key and role', () => {
      const doc = signedRoot({ root: [r1, r2], rootThreshold: 2 });
      const parsed = parseRoot(doc, '1.root.json');
      expect(parsed.signed).to.deep.equal(doc.signed);
      expect(parsed.signatures).to.deep.equal(doc.signatures);
    });
  });

  describe('when a key id is not the sha256 of its key object', () => {
    it('refuses with INVALID_KEY', () => {
      const doc = signedRoot({ root: [r1] });
      const wrong = 'a'.repeat(64);
      doc.signed.keys[wrong] = doc.signed.keys[r1.keyid];
      delete doc.signed.keys[r1.keyid];
      doc.signed.roles.root.keyids = [wrong];
      expectFormatError(() => parseRoot(doc, '1.root.json'), 'INVALID_KEY');
    });

    it('refuses a public key listed a second time under another id with INVALID_KEY', () => {
      const doc = signedRoot({ root: [r1] });
      const alias = 'b'.repeat(64);
      doc.signed.keys[alias] = doc.signed.keys[r1.keyid];
      doc.signed.roles.root = { keyids: [r1.keyid, alias], threshold: 2 };
      expectFormatError(() => parseRoot(doc, '1.root.json'), 'INVALID_KEY');
    });
  });

  describe('when keys or roles hold a field added after signing (issue 14 §5, issue 11 §1)', () => {
    // Unknown fields are kept as written (issue 11 §1), so one added after signing is
    // refused by the key id or the signature it changes, never accepted unsigned.
    it('refuses an unknown field inside a key with INVALID_KEY (its key id changed)', () => {
      const doc = signedRoot({ root: [r1] });
      (doc.signed.keys[r1.keyid] as Record<string, unknown>)['x-extra'] = 'unsigned';
      expectFormatError(() => parseRoot(doc, '1.root.json'), 'INVALID_KEY');
    });

    it('keeps a role this device does not know, and refuses its signature with THRESHOLD_NOT_MET', () => {
      const doc = signedRoot({ root: [r1] });
      doc.signed.roles.mirror = { keyids: [r1.keyid], threshold: 1 };
      const parsed = parseRoot(doc, '1.root.json');
      expect(parsed.signed).to.deep.equal(doc.signed);
      expectFormatError(() => verifySelfSignedRoot(parsed, '1.root.json'), 'THRESHOLD_NOT_MET');
    });
  });

  describe('when a role threshold exceeds its distinct keys', () => {
    it('refuses with INVALID_METADATA', () => {
      const doc = signedRoot({ root: [r1, r2], rootThreshold: 3 });
      expectFormatError(() => parseRoot(doc, '1.root.json'), 'INVALID_METADATA');
    });
  });

  describe('when the root is otherwise malformed', () => {
    const table: [
      string,
      (s: Record<string, unknown> & { roles: Record<string, RoleKeys> }) => void,
      string,
    ][] = [
      ['threshold 0', (s) => (s.roles.root.threshold = 0), 'INVALID_METADATA'],
      ['a fractional threshold', (s) => (s.roles.targets.threshold = 1.5), 'INVALID_METADATA'],
      [
        'a role key id missing from keys',
        (s) => s.roles.targets.keyids.push('c'.repeat(64)),
        'INVALID_METADATA',
      ],
      [
        'a key id listed twice in a role',
        (s) => s.roles.root.keyids.push(r1.keyid),
        'INVALID_METADATA',
      ],
      ['a missing timestamp role', (s) => delete s.roles.timestamp, 'INVALID_METADATA'],
      ['_type targets', (s) => (s._type = 'targets'), 'INVALID_METADATA'],
      ['version 0', (s) => (s.version = 0), 'INVALID_METADATA'],
      ['spec_version 2.0', (s) => (s.spec_version = '2.0.0'), 'INVALID_METADATA'],
      [
        'consistent_snapshot as a string',
        (s) => (s.consistent_snapshot = 'false'),
        'INVALID_METADATA',
      ],
      [
        'expires with milliseconds',
        (s) => (s.expires = '2030-01-01T00:00:00.000Z'),
        'INVALID_TIME',
      ],
      [
        'an RSA key',
        (s) => ((s.keys as Record<string, unknown>)[r1.keyid] = { keytype: 'rsa' }),
        'INVALID_KEY',
      ],
    ];
    for (const [name, mutate, code] of table) {
      it(`refuses ${name} with ${code}`, () => {
        const doc = signedRoot({ root: [r1] });
        mutate(doc.signed);
        const err = expectFormatError(
          () => parseRoot(doc, '1.root.json'),
          code as FormatError['code'],
        );
        expect(err).to.be.instanceOf(FormatError);
      });
    }

    it('refuses an envelope without signatures with INVALID_METADATA', () => {
      expectFormatError(() => parseRoot({ signed: {} }, '1.root.json'), 'INVALID_METADATA');
    });
  });
});

describe('verifyRootRotation', () => {
  const old1 = generateSigningKey();
  const old2 = generateSigningKey();
  const new1 = generateSigningKey();
  const new2 = generateSigningKey();
  const trusted = rootSigned({ version: 1, root: [old1, old2], rootThreshold: 2 });
  const next = (version: number, signers: SigningKey[]) =>
    signEnvelope(rootSigned({ version, root: [new1, new2], rootThreshold: 2 }), signers);

  describe('when version 2 is signed by a threshold of the old and of the new root keys', () => {
    it('accepts it', () => {
      expect(() =>
        verifyRootRotation(trusted, next(2, [old1, old2, new1, new2]), '2.root.json'),
      ).not.to.throw();
    });
  });

  describe('when the version is not exactly trusted + 1', () => {
    for (const version of [1, 3]) {
      it(`refuses version ${version} with ROOT_CHAIN_BROKEN`, () => {
        expectFormatError(
          () =>
            verifyRootRotation(
              trusted,
              next(version, [old1, old2, new1, new2]),
              `${version}.root.json`,
            ),
          'ROOT_CHAIN_BROKEN',
        );
      });
    }
  });

  describe('when the next root belongs to the other chain', () => {
    it('refuses it with ROOT_CHAIN_BROKEN although every signature is valid', () => {
      const ciTrusted = { ...trusted, 'x-offline-ota-chain': 'ci' as const };
      const prodNext = signEnvelope(
        {
          ...rootSigned({ version: 2, root: [new1, new2], rootThreshold: 2 }),
          'x-offline-ota-chain': 'prod' as const,
        },
        [old1, old2, new1, new2],
      );
      expectFormatError(
        () => verifyRootRotation(ciTrusted, prodNext, '2.root.json'),
        'ROOT_CHAIN_BROKEN',
      );
      const ciNext = signEnvelope(
        {
          ...rootSigned({ version: 2, root: [new1, new2], rootThreshold: 2 }),
          'x-offline-ota-chain': 'ci' as const,
        },
        [old1, old2, new1, new2],
      );
      expect(() => verifyRootRotation(ciTrusted, ciNext, '2.root.json')).not.to.throw();
    });
  });

  describe('when the old root keys did not sign to their threshold', () => {
    it('refuses with ROOT_CHAIN_BROKEN caused by THRESHOLD_NOT_MET', () => {
      const err = expectFormatError(
        () => verifyRootRotation(trusted, next(2, [old1, new1, new2]), '2.root.json'),
        'ROOT_CHAIN_BROKEN',
      );
      expect((err.cause as FormatError).code).to.equal('THRESHOLD_NOT_MET');
      expect(err.file).to.equal('2.root.json');
    });
  });

  describe('when the new root keys did not sign to their threshold', () => {
    it('refuses with ROOT_CHAIN_BROKEN', () => {
      expectFormatError(
        () => verifyRootRotation(trusted, next(2, [old1, old2, new2]), '2.root.json'),
        'ROOT_CHAIN_BROKEN',
      );
    });
  });

  describe('when the root keys did not change', () => {
    it('accepts one set of signatures that meets both thresholds', () => {
      const same = signEnvelope(rootSigned({ version: 2, root: [old1, old2], rootThreshold: 2 }), [
        old1,
        old2,
      ]);
      expect(() => verifyRootRotation(trusted, same, '2.root.json')).not.to.throw();
    });
  });
});

describe('verifySelfSignedRoot', () => {
  const r1 = generateSigningKey();
  const r2 = generateSigningKey();
  const signed = rootSigned({ root: [r1, r2], rootThreshold: 2 });

  describe('when a threshold of its own root keys signed', () => {
    it('accepts it', () => {
      expect(() =>
        verifySelfSignedRoot(signEnvelope(signed, [r1, r2]), '1.root.json'),
      ).not.to.throw();
    });
  });

  describe('when fewer than the threshold signed', () => {
    it('refuses with THRESHOLD_NOT_MET', () => {
      expectFormatError(
        () => verifySelfSignedRoot(signEnvelope(signed, [r1]), '1.root.json'),
        'THRESHOLD_NOT_MET',
      );
    });
  });
});

describe('verifyThreshold on signed content canonical JSON cannot hold (issue 14 §5)', () => {
  const k = generateSigningKey();
  const keys = { [k.keyid]: k.publicKey };
  const role = { keyids: [k.keyid], threshold: 1 };
  for (const [name, value] of [
    ['an integer past 2^53', 2 ** 53],
    ['a float', 1.5],
    ['a non-ASCII string', 'é'],
  ] as const) {
    it(`refuses ${name} with INVALID_METADATA naming the file, not a TypeError`, () => {
      const env = { signatures: [], signed: { x: value } };
      const err = expectFormatError(
        () => verifyThreshold(env, keys, role, { strict: false, what: 'tuf/timestamp.json' }),
        'INVALID_METADATA',
      );
      expect(err.file).to.equal('tuf/timestamp.json');
    });
  }
});
