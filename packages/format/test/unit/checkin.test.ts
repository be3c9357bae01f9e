import { expect } from 'chai';
import { createHash } from 'node:crypto';
import {
  cp,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  readlink,
  rename,
  rm,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalJson } from '../../src/canonical.js';
import { checkBundle, type CheckBundleOptions } from '../../src/checkin.js';
import { exitStatusFor } from '../../src/error-status.js';
import { FormatError } from '../../src/errors.js';
import { generateSigningKey, keyIdOf, type SigningKey, type TufPublicKey } from '../../src/keys.js';
import { buildBundleManifest } from '../../src/manifest.js';
import { signEnvelope, SPEC_VERSION, type Envelope, type RootSigned } from '../../src/metadata.js';
import { CAPS } from '../../src/layout.js';
import { StatusCode } from '../../src/status.js';
import { formatTufTime } from '../../src/time.js';
import { recoverTrustStore } from '../../src/trust-store.js';
import { zipBytes, type ZipItem } from './zip-writer.js';

// tuf-js reads the real clock, so the fixture's times are relative to it.
const NOW = new Date(Math.floor(Date.now() / 1000) * 1000);
const days = (n: number) => formatTufTime(new Date(NOW.getTime() + n * 86400_000));
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

interface Keys {
  root: SigningKey[];
  targets: SigningKey[];
  snapshot: SigningKey;
  timestamp: SigningKey;
}

function makeKeys(): Keys {
  return {
    root: [generateSigningKey()],
    targets: [generateSigningKey(), generateSigningKey(), generateSigningKey()],
    snapshot: generateSigningKey(),
    timestamp: generateSigningKey(),
  };
}

/**
 * A signing key whose key object carries `keyid_hash_algorithms`, as python-tuf's tooling
 * writes it; its key id is the sha256 of that object (issue 11 §1).
 */
function foreign(k: SigningKey): SigningKey {
  const publicKey = {
    ...k.publicKey,
    keyid_hash_algorithms: ['sha256', 'sha512'],
  } as TufPublicKey;
  return { ...k, publicKey, keyid: keyIdOf(publicKey) };
}

function foreignKeys(k: Keys): Keys {
  return {
    root: k.root.map(foreign),
    targets: k.targets.map(foreign),
    snapshot: foreign(k.snapshot),
    timestamp: foreign(k.timestamp),
  };
}

/** Unknown fields a root of another TUF implementation may carry in `signed` and its roles. */
let rootExtras: { signed: Record<string, unknown>; role: Record<string, unknown> } | undefined;

function rootSigned(
  k: Keys,
  version: number,
  targetsThreshold: number,
  expires = days(365),
): RootSigned {
  const all = [...k.root, ...k.targets, k.snapshot, k.timestamp];
  if (rootExtras !== undefined) {
    const role = rootExtras.role;
    const base = rootSignedPlain(k, version, targetsThreshold, expires, all);
    return {
      ...rootExtras.signed,
      ...base,
      roles: Object.fromEntries(
        Object.entries(base.roles).map(([name, r]) => [name, { ...role, ...r }]),
      ) as RootSigned['roles'],
    };
  }
  return rootSignedPlain(k, version, targetsThreshold, expires, all);
}

function rootSignedPlain(
  k: Keys,
  version: number,
  targetsThreshold: number,
  expires: string,
  all: SigningKey[],
): RootSigned {
  return {
    _type: 'root',
    'x-offline-ota-chain': 'ci',
    spec_version: SPEC_VERSION,
    version,
    expires,
    consistent_snapshot: false,
    keys: Object.fromEntries(all.map((x) => [x.keyid, x.publicKey])),
    roles: {
      root: { keyids: k.root.map((x) => x.keyid), threshold: 1 },
      targets: { keyids: k.targets.map((x) => x.keyid), threshold: targetsThreshold },
      snapshot: { keyids: [k.snapshot.keyid], threshold: 1 },
      timestamp: { keyids: [k.timestamp.keyid], threshold: 1 },
    },
  };
}

const COMMIT = 'ab'.repeat(32);

interface Fixture {
  dir: string;
  bundle: string;
  trust: string;
  shipped: string;
  keys: Keys;
  opts: CheckBundleOptions;
}

async function writeJson(path: string, value: unknown): Promise<Buffer> {
  const buf = Buffer.from(canonicalJson(value));
  await writeFile(path, buf);
  return buf;
}

/** A complete, valid two-root CI bundle (threshold 1) with one Target and no apps. */
async function makeFixture(
  opts: {
    targetsThreshold?: number;
    signers?: number;
    version?: number;
    keys?: Keys;
    rootKey2?: SigningKey;
  } = {},
): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'checkin-test-'));
  const bundle = join(dir, 'bundle');
  const tuf = join(bundle, 'tuf');
  const shipped = join(dir, 'shipped');
  await mkdir(tuf, { recursive: true });
  await mkdir(join(shipped, 'ci'), { recursive: true });
  const keys = opts.keys ?? makeKeys();
  const threshold = opts.targetsThreshold ?? 1;
  const root1 = signEnvelope(rootSigned(keys, 1, threshold), keys.root);
  await writeJson(join(shipped, 'ci', '1.root.json'), root1);
  await writeJson(join(tuf, '1.root.json'), root1);
  const newRootKey = opts.rootKey2 ?? generateSigningKey();
  const keys2 = { ...keys, root: [newRootKey] };
  const root2 = signEnvelope(rootSigned(keys2, 2, threshold), [...keys.root, newRootKey]);
  await writeJson(join(tuf, '2.root.json'), root2);
  const v = opts.version ?? 5;
  const targets = signEnvelope(
    {
      _type: 'targets',
      spec_version: SPEC_VERSION,
      version: v,
      expires: days(200),
      targets: {
        'sim-lmp-2': {
          length: 0,
          hashes: { sha256: COMMIT },
          custom: { version: '2', hardwareIds: ['sim'], tags: ['main'], targetFormat: 'OSTREE' },
        },
      },
    },
    keys.targets.slice(0, Math.max(threshold, 1)),
  );
  const tb = await writeJson(join(tuf, 'targets.json'), targets);
  const snapshot = signEnvelope(
    {
      _type: 'snapshot',
      spec_version: SPEC_VERSION,
      version: v,
      expires: days(30),
      meta: { 'targets.json': { version: v, length: tb.length, hashes: { sha256: sha(tb) } } },
    },
    [keys.snapshot],
  );
  const sb = await writeJson(join(tuf, 'snapshot.json'), snapshot);
  await writeJson(
    join(tuf, 'timestamp.json'),
    signEnvelope(
      {
        _type: 'timestamp',
        spec_version: SPEC_VERSION,
        version: v,
        expires: days(30),
        meta: { 'snapshot.json': { version: v, length: sb.length, hashes: { sha256: sha(sb) } } },
      },
      [keys.timestamp],
    ),
  );
  const manifest = buildBundleManifest({
    type: 'ci',
    tag: 'main',
    targets: ['sim-lmp-2'],
    expires: days(30),
    version: 1,
  });
  await writeJson(
    join(tuf, 'bundle-targets.json'),
    signEnvelope(manifest, keys.targets.slice(0, opts.signers ?? threshold)),
  );
  const objects = join(bundle, 'ostree_repo', 'objects', COMMIT.slice(0, 2));
  await mkdir(objects, { recursive: true });
  await writeFile(join(objects, `${COMMIT.slice(2)}.commit`), 'commit');
  const trust = join(dir, 'trust');
  return {
    dir,
    bundle,
    trust,
    shipped,
    keys,
    opts: {
      bundleDir: bundle,
      trustDir: trust,
      shippedRootsDir: shipped,
      deviceType: 'ci',
      hardwareId: 'sim',
      tags: ['main'],
      now: NOW,
      appsEnabled: true,
    },
  };
}

/** Packs a bundle directory into a zip (regular files only, top level = the bundle tree). */
async function packDir(dir: string, file: string): Promise<void> {
  const items: ZipItem[] = [];
  const walk = async (d: string, prefix: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const rel = prefix + e.name;
      if (e.isDirectory()) await walk(join(d, e.name), rel + '/');
      else items.push({ name: rel, data: await readFile(join(d, e.name)) });
    }
  };
  await walk(dir, '');
  await writeFile(file, zipBytes(items));
}

async function statusOf(opts: CheckBundleOptions): Promise<number> {
  try {
    const r = await checkBundle(opts);
    await r.discard();
    return 0;
  } catch (err) {
    if (!(err instanceof FormatError)) throw err;
    return exitStatusFor(err);
  }
}

async function treeDigest(dir: string): Promise<string> {
  const h = createHash('sha256');
  const walk = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name);
      h.update(p);
      if (e.isDirectory()) await walk(p);
      else if (e.isSymbolicLink()) h.update(`link ${await readlink(p)}`);
      else h.update(await readFile(p));
    }
  };
  await walk(dir);
  return h.digest('hex');
}

async function mutateJson(path: string, fn: (j: Record<string, unknown>) => void): Promise<void> {
  const j = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  fn(j);
  await writeFile(path, JSON.stringify(j));
}

/** Role files below the root, each with the parent that signs its length and hashes. */
const ROLES = ['timestamp', 'snapshot', 'targets'] as const;
type Role = (typeof ROLES)[number];
const PARENT: Record<Role, Role | undefined> = {
  timestamp: undefined,
  snapshot: 'timestamp',
  targets: 'snapshot',
};
const SIGNER = (k: Keys, role: Role): SigningKey[] =>
  role === 'targets' ? k.targets.slice(0, 1) : [k[role]];

async function readDoc(f: Fixture, role: Role): Promise<Envelope<Record<string, unknown>>> {
  return JSON.parse(await readFile(join(f.bundle, 'tuf', `${role}.json`), 'utf8')) as Envelope<
    Record<string, unknown>
  >;
}

/**
 * Re-signs `role` after `edit` and every parent after it, so the change is signed by the
 * right keys: only the change itself is wrong.
 */
async function resign(
  f: Fixture,
  role: Role,
  edit: (signed: Record<string, unknown>) => void,
): Promise<void> {
  const doc = await readDoc(f, role);
  edit(doc.signed);
  const bytes = await writeJson(
    join(f.bundle, 'tuf', `${role}.json`),
    signEnvelope(doc.signed, SIGNER(f.keys, role)),
  );
  const parent = PARENT[role];
  if (parent === undefined) return;
  await resign(f, parent, (s) => {
    const meta = s.meta as Record<string, Record<string, unknown>>;
    meta[`${role}.json`] = {
      ...meta[`${role}.json`],
      length: bytes.length,
      hashes: { sha256: sha(bytes) },
    };
  });
}

describe('checkBundle', function () {
  this.timeout(20000);
  let fx: Fixture;
  afterEach(async () => {
    if (fx) await rm(fx.dir, { recursive: true, force: true });
  });

  describe('when the bundle is valid', () => {
    it('returns the available Target and the newest root, and commits the refreshed metadata', async () => {
      fx = await makeFixture();
      const r = await checkBundle(fx.opts);
      expect(r.type).to.equal('ci');
      expect(r.rootVersion).to.equal(2);
      expect(r.available.map((t) => t.name)).to.deep.equal(['sim-lmp-2']);
      await r.commit();
      const stored = JSON.parse(await readFile(join(fx.trust, 'ci', 'root.json'), 'utf8')) as {
        signed: RootSigned;
      };
      expect(stored.signed.version).to.equal(2);
      // `ci` is a link to the one version directory in force; no working copy is left.
      const names = (await readdir(fx.trust)).sort();
      expect(names).to.have.length(2);
      expect(names[0]).to.match(/^\.ci\.v-[0-9a-f]{12}$/);
      expect(names[1]).to.equal('ci');
      expect(await readlink(join(fx.trust, 'ci'))).to.equal(names[0]);
    });

    it('refuses to fall back to the shipped root while a stored root is not in place', async () => {
      fx = await makeFixture();
      await (await checkBundle(fx.opts)).commit();
      // What a cut between the two renames of earlier releases left: no `ci`, a `ci.old-*`.
      const version = await readlink(join(fx.trust, 'ci'));
      await rm(join(fx.trust, 'ci'));
      await rename(join(fx.trust, version), join(fx.trust, 'ci.old-1a2b3c4d'));
      const err = await checkBundle(fx.opts).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(FormatError);
      expect((err as FormatError).code).to.equal('TRUST_STORE_INCONSISTENT');
      await recoverTrustStore(fx.trust);
      const r = await checkBundle(fx.opts);
      expect(r.rootVersion).to.equal(2);
      await r.discard();
    });

    it('leaves the trusted metadata untouched when discarded', async () => {
      fx = await makeFixture();
      const r = await checkBundle(fx.opts);
      await r.discard();
      expect(await readdir(fx.trust)).to.deep.equal([]);
    });

    it('reads a single-file (zip) bundle in place with the same result', async () => {
      fx = await makeFixture();
      const file = join(fx.dir, 'bundle.zip');
      await packDir(fx.bundle, file);
      const r = await checkBundle({ ...fx.opts, bundleDir: file });
      expect(r.available.map((t) => t.name)).to.deep.equal(['sim-lmp-2']);
      await r.discard();
    });

    it('accepts roots, keys and roles with the fields of another TUF implementation (tuf-js agrees)', async () => {
      rootExtras = {
        signed: { 'x-tool': 'python-tuf 0.x', _comment: ['written', 'elsewhere'] },
        role: { name: 'r', 'x-paths': ['a'] },
      };
      try {
        fx = await makeFixture({
          keys: foreignKeys(makeKeys()),
          rootKey2: foreign(generateSigningKey()),
        });
      } finally {
        rootExtras = undefined;
      }
      const r = await checkBundle(fx.opts);
      expect(r.rootVersion).to.equal(2);
      expect(r.available.map((t) => t.name)).to.deep.equal(['sim-lmp-2']);
      expect(r.verified.tuf.timestamp.keyids).to.deep.equal([fx.keys.timestamp.keyid]);
      await r.commit();
      const stored = JSON.parse(await readFile(join(fx.trust, 'ci', 'root.json'), 'utf8')) as {
        signed: Record<string, unknown>;
      };
      expect(stored.signed['x-tool']).to.equal('python-tuf 0.x');
    });

    it('accepts any tag on a device without tags and any type on an untyped device', async () => {
      fx = await makeFixture();
      expect(await statusOf({ ...fx.opts, tags: [], deviceType: undefined })).to.equal(0);
    });
  });

  describe('when the bundle metadata is tampered with', () => {
    const table: {
      name: string;
      expected: number;
      mutate: (f: Fixture) => Promise<void>;
      opts?: Partial<CheckBundleOptions>;
    }[] = [
      {
        name: 'an extra field in the manifest breaks its signature',
        expected: StatusCode.CheckinInvalidBundleMetadata,
        mutate: (f) =>
          mutateJson(
            join(f.bundle, 'tuf/bundle-targets.json'),
            (j) => ((j.signed as Record<string, unknown>).foo = 1),
          ),
      },
      {
        name: 'an extra signature by an unknown key',
        expected: StatusCode.CheckinInvalidBundleMetadata,
        mutate: (f) =>
          mutateJson(join(f.bundle, 'tuf/bundle-targets.json'), (j) =>
            (j.signatures as unknown[]).push({
              keyid: generateSigningKey().keyid,
              sig: '00'.repeat(64),
            }),
          ),
      },
      {
        name: 'the same signature twice',
        expected: StatusCode.CheckinInvalidBundleMetadata,
        mutate: (f) =>
          mutateJson(join(f.bundle, 'tuf/bundle-targets.json'), (j) => {
            const s = j.signatures as unknown[];
            s.push(s[0]);
          }),
      },
      {
        name: 'a genuine bundle of another factory (its own keys, only root v1)',
        expected: StatusCode.CheckinSecurityError,
        mutate: async (f) => {
          const other = await makeFixture();
          try {
            await rm(join(f.bundle, 'tuf'), { recursive: true });
            await cp(join(other.bundle, 'tuf'), join(f.bundle, 'tuf'), { recursive: true });
            await rm(join(f.bundle, 'tuf/2.root.json'));
          } finally {
            await rm(other.dir, { recursive: true, force: true });
          }
        },
      },
      {
        name: 'a device of the other type',
        expected: StatusCode.CheckinInvalidBundleMetadata,
        mutate: () => Promise.resolve(),
        opts: { deviceType: 'prod' },
      },
      {
        name: 'a device following another tag',
        expected: StatusCode.CheckinInvalidBundleMetadata,
        mutate: () => Promise.resolve(),
        opts: { tags: ['stable'] },
      },
      {
        name: 'a device of another hardware id',
        expected: StatusCode.CheckinNoMatchingTargets,
        mutate: () => Promise.resolve(),
        opts: { hardwareId: 'other' },
      },
      {
        name: 'a root signed by the wrong key',
        expected: StatusCode.CheckinSecurityError,
        mutate: (f) =>
          mutateJson(
            join(f.bundle, 'tuf/2.root.json'),
            (j) => ((j.signed as Record<string, unknown>).expires = days(100)),
          ),
      },
      {
        name: 'a gap in the root chain',
        expected: StatusCode.CheckinSecurityError,
        mutate: async (f) => {
          await writeFile(
            join(f.bundle, 'tuf/4.root.json'),
            await readFile(join(f.bundle, 'tuf/2.root.json')),
          );
        },
      },
      {
        name: 'a flipped byte in targets.json',
        expected: StatusCode.CheckinSecurityError,
        mutate: async (f) => {
          const p = join(f.bundle, 'tuf/targets.json');
          const s = await readFile(p, 'utf8');
          await writeFile(p, s.replace('"length":0', '"length":1'));
        },
      },
      {
        name: 'a missing timestamp.json',
        expected: StatusCode.CheckinMetadataNotFound,
        mutate: (f) => rm(join(f.bundle, 'tuf/timestamp.json')),
      },
      {
        name: 'a missing bundle-targets.json',
        expected: StatusCode.CheckinMetadataNotFound,
        mutate: (f) => rm(join(f.bundle, 'tuf/bundle-targets.json')),
      },
      {
        name: 'a missing OSTree commit',
        expected: StatusCode.CheckinNoTargetContent,
        mutate: (f) => rm(join(f.bundle, 'ostree_repo'), { recursive: true }),
      },
      {
        name: 'a clock past the bundle expiry',
        expected: StatusCode.CheckinExpiredMetadata,
        mutate: () => Promise.resolve(),
        opts: { now: new Date(NOW.getTime() + 31 * 86400_000) },
      },
    ];
    for (const row of table) {
      it(`refuses ${row.name} with ${row.expected} and keeps the trusted metadata`, async () => {
        fx = await makeFixture();
        await row.mutate(fx);
        const before = await treeDigest(fx.trust);
        expect(await statusOf({ ...fx.opts, ...row.opts })).to.equal(row.expected);
        expect(await treeDigest(fx.trust)).to.equal(before);
      });

      it(`refuses ${row.name} in a zip bundle with ${row.expected}`, async () => {
        fx = await makeFixture();
        await row.mutate(fx);
        const file = join(fx.dir, 'bundle.zip');
        await packDir(fx.bundle, file);
        expect(await statusOf({ ...fx.opts, ...row.opts, bundleDir: file })).to.equal(row.expected);
      });
    }
  });

  describe('when a production bundle is signed below its threshold', () => {
    it('exits 15, and passes once the threshold is met', async () => {
      fx = await makeFixture({ targetsThreshold: 2, signers: 1 });
      expect(await statusOf(fx.opts)).to.equal(StatusCode.CheckinInvalidBundleMetadata);
      await rm(fx.dir, { recursive: true, force: true });
      fx = await makeFixture({ targetsThreshold: 2, signers: 2 });
      expect(await statusOf(fx.opts)).to.equal(0);
    });

    it('is accepted by the host self-check that allows an unsigned manifest', async () => {
      fx = await makeFixture({ targetsThreshold: 2, signers: 0 });
      expect(await statusOf({ ...fx.opts, allowUnsignedManifest: true })).to.equal(0);
    });
  });

  describe('what it records', () => {
    it('names the roots, key ids counted, versions, digests and content it verified', async () => {
      fx = await makeFixture();
      const r = await checkBundle(fx.opts);
      const v = r.verified;
      expect(v.root).to.deep.equal({ trusted: 1, newest: 2 });
      expect(v.manifest.keyids).to.deep.equal([fx.keys.targets[0].keyid]);
      expect(v.manifest.threshold).to.equal(1);
      const file = async (n: string) => sha(await readFile(join(fx.bundle, 'tuf', n)));
      expect(v.tuf.timestamp).to.deep.include({
        version: 5,
        source: 'bundle',
        keyids: [fx.keys.timestamp.keyid],
        threshold: 1,
        sha256: await file('timestamp.json'),
      });
      expect(v.tuf.snapshot.sha256).to.equal(await file('snapshot.json'));
      expect(v.tuf.targets).to.deep.include({ version: 5, sha256: await file('targets.json') });
      expect(v.content).to.deep.equal([{ name: 'sim-lmp-2', commit: COMMIT, blobs: [] }]);
      await r.discard();
    });
  });

  describe('when the device has seen newer metadata (issue 11 §3)', () => {
    /**
     * Device trusts (timestamp, snapshot, targets) at v5; on the stick `role` is v4 and the
     * roles that name it are v6, each re-signed by its own key: only the version is older.
     */
    for (const role of ROLES) {
      it(`refuses a stick whose ${role} is older with 3, naming the versions, trust unchanged`, async () => {
        fx = await makeFixture({ version: 5 });
        await (await checkBundle(fx.opts)).commit();
        const before = await treeDigest(fx.trust);
        await resign(fx, role, (s) => {
          s.version = 4;
        });
        for (let p = PARENT[role]; p !== undefined; p = PARENT[p])
          await resign(fx, p, (s) => {
            s.version = 6;
            const meta = s.meta as Record<string, Record<string, unknown>>;
            const child = Object.keys(meta)[0];
            meta[child].version = child === `${role}.json` ? 4 : 6;
          });
        const err = await checkBundle(fx.opts).catch((e: unknown) => e);
        expect(err).to.be.instanceOf(FormatError);
        const e = err as FormatError;
        expect(e.code, e.message).to.equal('TUF_ROLLBACK');
        expect(exitStatusFor(e)).to.equal(StatusCode.CheckinOkCached);
        expect(e.message).to.match(
          new RegExp(
            `this stick's metadata \\(${role} v4, tuf/\\w+\\.json\\) is older than the device's \\(v5\\)`,
          ),
        );
        expect(await treeDigest(fx.trust)).to.equal(before);
      });
    }

    it('refuses a whole older bundle (every role older) with 3, trust unchanged', async () => {
      const keys = makeKeys();
      const rootKey2 = generateSigningKey();
      const newer = await makeFixture({ version: 9, keys, rootKey2 });
      fx = await makeFixture({ version: 5, keys, rootKey2 });
      try {
        await (await checkBundle(newer.opts)).commit();
        const before = await treeDigest(newer.trust);
        const err = await checkBundle({ ...fx.opts, trustDir: newer.trust }).catch(
          (e: unknown) => e,
        );
        expect((err as FormatError).code).to.equal('TUF_ROLLBACK');
        expect((err as FormatError).message).to.contain(
          "this stick's metadata (timestamp v5, tuf/timestamp.json) is older than the device's (v9)",
        );
        expect(await treeDigest(newer.trust)).to.equal(before);
      } finally {
        await rm(newer.dir, { recursive: true, force: true });
      }
    });
  });
});

describe('checkBundle on signed metadata one verifier alone would miss (issue 11 §2)', function () {
  this.timeout(20000);
  let fx: Fixture;
  afterEach(async () => {
    if (fx) await rm(fx.dir, { recursive: true, force: true });
  });

  interface Case {
    name: string;
    role: Role;
    mutate: (f: Fixture) => Promise<void>;
  }
  // Generated: every mutation on every role file it applies to.
  const cases: Case[] = [];
  for (const role of ROLES) {
    if (PARENT[role] !== undefined) {
      cases.push({
        name: `a ${role}.json longer than the length its parent signed`,
        role,
        mutate: async (f) => {
          const p = join(f.bundle, 'tuf', `${role}.json`);
          await writeFile(p, Buffer.concat([await readFile(p), Buffer.from('\n  ')]));
        },
      });
      cases.push({
        name: `a ${role}.json whose parent signed no length and no hashes, longer than the cap`,
        role,
        mutate: async (f) => {
          await resign(f, PARENT[role]!, (s) => {
            const meta = s.meta as Record<string, Record<string, unknown>>;
            meta[`${role}.json`] = { version: meta[`${role}.json`].version };
          });
          const p = join(f.bundle, 'tuf', `${role}.json`);
          const doc = await readDoc(f, role);
          await writeFile(p, JSON.stringify(doc) + ' '.repeat(CAPS[role]));
        },
      });
    }
    cases.push({
      name: `duplicate signature entries in ${role}.json`,
      role,
      mutate: async (f) => {
        const doc = await readDoc(f, role);
        doc.signatures.push(doc.signatures[0]);
        const bytes = await writeJson(join(f.bundle, 'tuf', `${role}.json`), doc);
        const parent = PARENT[role];
        if (parent !== undefined)
          await resign(f, parent, (s) => {
            const meta = s.meta as Record<string, Record<string, unknown>>;
            meta[`${role}.json`] = {
              ...meta[`${role}.json`],
              length: bytes.length,
              hashes: { sha256: sha(bytes) },
            };
          });
      },
    });
    for (const [what, value] of [
      ['a float', 1.5],
      ['a non-ASCII string', 'Grüße'],
      ['an integer past 2^53', 2 ** 53 + 2],
    ] as const) {
      cases.push({
        name: `${what} inside the signed part of ${role}.json`,
        role,
        mutate: async (f) => {
          const p = join(f.bundle, 'tuf', `${role}.json`);
          const doc = await readDoc(f, role);
          doc.signed['x-extra'] = value;
          await writeFile(p, JSON.stringify(doc));
        },
      });
    }
  }
  for (const [role, child] of [
    ['timestamp', 'snapshot'],
    ['snapshot', 'targets'],
  ] as const) {
    cases.push({
      name: `a ${role}.json whose meta lacks ${child}.json (signed)`,
      role,
      mutate: (f) =>
        resign(f, role, (s) => {
          s.meta = { 'other.json': { version: 1 } };
        }),
    });
  }

  for (const c of cases) {
    it(`refuses ${c.name} with 11 naming tuf/${c.role}.json, trust unchanged`, async () => {
      fx = await makeFixture();
      await c.mutate(fx);
      const before = await treeDigest(fx.trust);
      const err = await checkBundle(fx.opts).then(
        async (r) => {
          await r.discard();
          return undefined;
        },
        (e: unknown) => e,
      );
      expect(err, 'refused').to.be.instanceOf(FormatError);
      const e = err as FormatError;
      expect(exitStatusFor(e), `${e.code}: ${e.message}`).to.equal(StatusCode.CheckinSecurityError);
      expect(e.file, e.message).to.match(new RegExp(`(^|/)tuf/${c.role}\\.json$`));
      expect(e.message).to.contain(`tuf/${c.role}.json`);
      expect(await treeDigest(fx.trust)).to.equal(before);
    });
  }
});

describe('checkBundle on a device whose own root is broken (issue 11 §4)', function () {
  this.timeout(20000);
  let fx: Fixture;
  afterEach(async () => {
    if (fx) await rm(fx.dir, { recursive: true, force: true });
  });

  // Generated: every breakage, in the root the image ships and in the stored one.
  const breakages: [string, (text: string) => string][] = [
    ['unsigned', (t) => JSON.stringify({ ...(JSON.parse(t) as object), signatures: [] })],
    ['truncated', (t) => t.slice(0, 100)],
    ['not JSON', () => 'this is not JSON'],
    ['empty', () => ''],
    ['signed over other content', (t) => t.replace('"version":', '"x":1,"version":')],
    [
      'holding a float in signed',
      (t) => t.replace('"consistent_snapshot":false', '"consistent_snapshot":false,"f":1.5'),
    ],
  ];
  const where: [string, (f: Fixture) => Promise<string>][] = [
    ['shipped', (f) => Promise.resolve(join(f.shipped, 'ci', '1.root.json'))],
    [
      'stored',
      async (f) => {
        await (await checkBundle(f.opts)).commit();
        return join(f.trust, 'ci', 'root.json');
      },
    ],
  ];
  for (const [place, locate] of where) {
    for (const [name, breakIt] of breakages) {
      it(`refuses with 44 naming the ${place} root when it is ${name}, the stick not judged`, async () => {
        fx = await makeFixture();
        const file = await locate(fx);
        await writeFile(file, breakIt(await readFile(file, 'utf8')));
        const before = await treeDigest(fx.dir);
        const err = await checkBundle(fx.opts).catch((e: unknown) => e);
        expect(err).to.be.instanceOf(FormatError);
        const e = err as FormatError;
        expect(e.code, e.message).to.equal('DEVICE_ROOT_INVALID');
        expect(exitStatusFor(e)).to.equal(StatusCode.DeviceFilesInvalid);
        expect(e.file).to.equal(file);
        expect(e.message).to.contain(file);
        expect(await treeDigest(fx.dir)).to.equal(before);
      });
    }
  }

  it('refuses with 44 when the image ships no root of the type', async () => {
    fx = await makeFixture();
    await rm(join(fx.shipped, 'ci', '1.root.json'));
    const err = (await checkBundle(fx.opts).catch((e: unknown) => e)) as FormatError;
    expect(err.code).to.equal('DEVICE_ROOT_INVALID');
    expect(err.message).to.contain(join(fx.shipped, 'ci'));
  });
});
