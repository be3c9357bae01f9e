/**
 * Issue 11 §1, "Valid TUF must be accepted": roots written by another TUF implementation's
 * conventions (built here with `@tufjs/models`, the object model tuf-js itself uses) carry
 * fields this device does not know at every level: the envelope, `signed`, each key object
 * (`keyid_hash_algorithms`, as python-tuf's older tooling writes) and each role object, and
 * whole roles beyond the four top-level ones. Such a root is valid when it is signed: the
 * device verifies signatures over the bytes as signed and computes key ids from the key
 * objects as written. Changing any of those fields after signing is refused. The cases are
 * generated (fast-check), not listed.
 */
import { Key, Metadata, Root, Signature } from '@tufjs/models';
import { expect } from 'chai';
import fc from 'fast-check';
import { FormatError } from '../../src/errors.js';
import {
  generateSigningKey,
  keyIdOf,
  signBytes,
  type SigningKey,
  type TufPublicKey,
} from '../../src/keys.js';
import {
  parseRoot,
  signEnvelope,
  verifyRootRotation,
  verifySelfSignedRoot,
  verifyThreshold,
  type Envelope,
  type RootSigned,
} from '../../src/metadata.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Extras = Record<string, Json>;

/** JSON values canonical JSON can hold: integers, printable ASCII, nested a little. */
const jsonValue: fc.Arbitrary<Json> = fc.letrec<{ v: Json }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -1e6, max: 1e6 }),
    fc.stringMatching(/^[ -~]{0,12}$/),
    fc.array(tie('v'), { maxLength: 3 }),
    fc.dictionary(fc.stringMatching(/^[a-z_]{1,6}$/), tie('v'), { maxKeys: 3 }),
  ),
})).v;

/** Unknown field names: never one a level already defines. */
const extras = (known: readonly string[]): fc.Arbitrary<Extras> =>
  fc.dictionary(
    fc.stringMatching(/^(x-|_)?[a-z][a-z_]{0,9}$/).filter((k) => !known.includes(k)),
    jsonValue,
    { maxKeys: 3 },
  );

const KEY_FIELDS = ['keytype', 'scheme', 'keyval'];
const ROLE_FIELDS = ['keyids', 'threshold'];
const SIGNED_FIELDS = [
  '_type',
  'spec_version',
  'version',
  'expires',
  'consistent_snapshot',
  'keys',
  'roles',
  'x-offline-ota-chain',
];
const ENVELOPE_FIELDS = ['signed', 'signatures'];

interface ForeignShape {
  key: Extras;
  role: Extras;
  signed: Extras;
  envelope: Extras;
  /** A role beyond root/targets/snapshot/timestamp, when set. */
  extraRole: boolean;
  /** Write `keyid_hash_algorithms` into every key object, as python-tuf did. */
  hashAlgorithms: boolean;
}

const shape: fc.Arbitrary<ForeignShape> = fc.record({
  key: extras(KEY_FIELDS),
  role: extras(ROLE_FIELDS),
  signed: extras(SIGNED_FIELDS),
  envelope: extras(ENVELOPE_FIELDS),
  extraRole: fc.boolean(),
  hashAlgorithms: fc.boolean(),
});

/** The tufjs Key of one of our signing keys, with the shape's unknown fields. */
function foreignKey(k: SigningKey, s: ForeignShape): Key {
  const unrecognizedFields: Extras = { ...s.key };
  if (s.hashAlgorithms) unrecognizedFields.keyid_hash_algorithms = ['sha256', 'sha512'];
  const json = { ...k.publicKey, ...unrecognizedFields };
  return new Key({
    keyID: keyIdOf(json),
    keyType: 'ed25519',
    scheme: 'ed25519',
    keyVal: { public: k.publicKey.keyval.public },
    unrecognizedFields,
  });
}

interface Built {
  doc: Record<string, unknown>;
  /** Key ids of the root keys as this root lists them. */
  rootKeyids: string[];
}

/**
 * A root built and signed with `@tufjs/models` (version, root keys, signers) and written
 * as a TUF tool writes it (`toJSON`, then JSON text).
 */
function buildRoot(
  s: ForeignShape,
  version: number,
  rootKeys: SigningKey[],
  signers: SigningKey[],
  online: SigningKey[],
): Built {
  const keys = Object.fromEntries(
    [...rootKeys, ...online].map((k) => {
      const key = foreignKey(k, s);
      return [key.keyID, key.toJSON()];
    }),
  );
  const idOf = (k: SigningKey) => foreignKey(k, s).keyID;
  // Roles go through the models' own parser (`Role` is not exported), which keeps the
  // unknown fields of each role as tuf-js does.
  const role = (ks: SigningKey[]) => ({ keyids: ks.map(idOf), threshold: 1, ...s.role });
  const roles: Record<string, Json> = {
    root: role(rootKeys),
    targets: role([online[0]]),
    snapshot: role([online[1]]),
    timestamp: role([online[2]]),
  };
  if (s.extraRole) roles['x-mirror'] = role([online[0]]);
  const signed = Root.fromJSON({
    ...s.signed,
    _type: 'root',
    spec_version: '1.0.31',
    version,
    expires: '2030-01-01T00:00:00Z',
    consistent_snapshot: false,
    keys,
    roles,
    'x-offline-ota-chain': 'ci',
  });
  const md = new Metadata(signed, {}, s.envelope);
  for (const k of signers) {
    md.sign((bytes) => new Signature({ keyID: idOf(k), sig: signBytes(k, bytes) }));
  }
  return {
    doc: JSON.parse(JSON.stringify(md.toJSON())) as Record<string, unknown>,
    rootKeyids: rootKeys.map(idOf),
  };
}

/** A root without unknown fields. */
const NONE: ForeignShape = {
  key: {},
  role: {},
  signed: {},
  envelope: {},
  extraRole: false,
  hashAlgorithms: false,
};

const online = [generateSigningKey(), generateSigningKey(), generateSigningKey()];
const r1 = generateSigningKey();
const r2 = generateSigningKey();

/** Every path under `signed` to a value an unknown field put there. */
function unknownPaths(doc: Record<string, unknown>, s: ForeignShape): (string | number)[][] {
  const signed = doc.signed as Record<string, Record<string, Record<string, unknown>>>;
  const out: (string | number)[][] = [];
  for (const k of Object.keys(s.signed)) out.push(['signed', k]);
  for (const id of Object.keys(signed.keys))
    for (const k of Object.keys(s.key)) out.push(['signed', 'keys', id, k]);
  for (const name of Object.keys(signed.roles))
    for (const k of Object.keys(s.role)) out.push(['signed', 'roles', name, k]);
  return out;
}

/** A different JSON value than `v` (a changed byte in what was signed). */
const changed = (v: unknown): Json => (v === 7 ? 8 : 7);

function setAt(doc: Record<string, unknown>, path: (string | number)[], value: Json): void {
  let node = doc as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) node = node[k] as Record<string | number, unknown>;
  node[path[path.length - 1]] = value;
}

describe('roots written by another TUF implementation (issue 11 §1)', () => {
  describe('when every level carries fields this device does not know', () => {
    it('parses them as written, verifies their signatures and their rotation', () => {
      fc.assert(
        fc.property(shape, (s) => {
          const v1 = buildRoot(s, 1, [r1], [r1], online);
          const parsed = parseRoot(v1.doc, '1.root.json');
          // Nothing dropped, nothing rebuilt: the signed object is the one written.
          expect(parsed.signed).to.deep.equal(v1.doc.signed);
          verifySelfSignedRoot(parsed, '1.root.json');
          const v2 = buildRoot(s, 2, [r2], [r1, r2], online);
          verifyRootRotation(parsed.signed, parseRoot(v2.doc, '2.root.json'), '2.root.json');
        }),
        { numRuns: 60 },
      );
    });
  });

  describe('when an unknown field is changed after signing', () => {
    it('is refused: the signature or the key id no longer matches', () => {
      const withUnknowns = shape.filter(
        (s) =>
          Object.keys(s.signed).length + Object.keys(s.key).length + Object.keys(s.role).length > 0,
      );
      fc.assert(
        fc.property(withUnknowns, fc.nat(), (s, pick) => {
          const { doc } = buildRoot(s, 1, [r1], [r1], online);
          const paths = unknownPaths(doc, s);
          const path = paths[pick % paths.length];
          let node: unknown = doc;
          for (const k of path) node = (node as Record<string | number, unknown>)[k];
          setAt(doc, path, changed(node));
          let err: unknown;
          try {
            verifySelfSignedRoot(parseRoot(doc, '1.root.json'), '1.root.json');
          } catch (e) {
            err = e;
          }
          expect(err, `changed ${path.join('.')}`).to.be.instanceOf(FormatError);
          expect((err as FormatError).code).to.be.oneOf(['INVALID_KEY', 'THRESHOLD_NOT_MET']);
        }),
        { numRuns: 60 },
      );
    });
  });

  describe('when one public key is listed under two key ids', () => {
    // Two key objects of one public key, one with `keyid_hash_algorithms`: both ids are
    // valid sha256s of their objects, and the key is still one key.
    const plain = NONE;
    const withAlgs = { ...plain, hashAlgorithms: true };
    const asWritten = foreignKey(r1, withAlgs);
    const aliasId = asWritten.keyID;

    function aliased(threshold: number): Envelope<RootSigned> {
      const { doc } = buildRoot(plain, 1, [r1], [r1], online);
      const signed = doc.signed as RootSigned;
      signed.keys[aliasId] = asWritten.toJSON() as unknown as TufPublicKey;
      signed.roles.root = { keyids: [r1.keyid, aliasId], threshold };
      return signEnvelope(signed, [r1]);
    }

    it('refuses a root whose threshold needs that key twice, naming the rule', () => {
      let err: unknown;
      try {
        parseRoot(aliased(2), '1.root.json');
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(FormatError);
      expect((err as FormatError).code).to.equal('INVALID_METADATA');
      expect((err as FormatError).message).to.contain('counts once');
    });

    it('counts its signatures under both ids once', () => {
      const env = aliased(1);
      const parsed = parseRoot(env, '1.root.json');
      const sig = env.signatures[0].sig;
      const both = { ...parsed, signatures: [...env.signatures, { keyid: aliasId, sig }] };
      // The ids differ, the signature bytes are the same, and the key counts once.
      const r = verifyThreshold(
        both,
        parsed.signed.keys,
        { ...parsed.signed.roles.root, threshold: 1 },
        {
          strict: false,
          what: '1.root.json',
        },
      );
      expect(r.valid).to.deep.equal([r1.keyid]);
      let err: unknown;
      try {
        verifyThreshold(
          both,
          parsed.signed.keys,
          { keyids: [r1.keyid, aliasId], threshold: 2 },
          {
            strict: false,
            what: '1.root.json',
          },
        );
      } catch (e) {
        err = e;
      }
      expect((err as FormatError).code).to.equal('THRESHOLD_NOT_MET');
    });
  });

  describe('when a key object holds content canonical JSON cannot hold', () => {
    for (const [name, value] of [
      ['a float', 1.5],
      ['a non-ASCII string', 'é'],
    ] as const) {
      it(`refuses ${name} with INVALID_METADATA naming the file, not a TypeError`, () => {
        const { doc } = buildRoot(NONE, 1, [r1], [r1], online);
        const signed = doc.signed as RootSigned;
        (signed.keys[r1.keyid] as unknown as Record<string, unknown>).x = value;
        let err: unknown;
        try {
          parseRoot(doc, 'usr/lib/sota/tuf/ci/1.root.json');
        } catch (e) {
          err = e;
        }
        expect(err).to.be.instanceOf(FormatError);
        expect((err as FormatError).code).to.equal('INVALID_METADATA');
        expect((err as FormatError).file).to.equal('usr/lib/sota/tuf/ci/1.root.json');
      });
    }
  });
});
