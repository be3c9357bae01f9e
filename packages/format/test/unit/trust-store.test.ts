import { expect } from 'chai';
import { lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FormatError } from '../../src/errors.js';
import {
  assertNoStrandedTrust,
  commitWorkCopy,
  openWorkCopy,
  recoverTrustStore,
  TRUST_SWAP_STEPS,
  trustedDir,
  type TrustSwapStep,
} from '../../src/trust-store.js';

/** A stored set whose four role files carry `version` (and the set's label, to tell sets apart). */
interface SetSpec {
  label: string;
  root: number;
  timestamp: number;
}

const ROLES = ['root', 'timestamp', 'snapshot', 'targets'] as const;

async function writeSet(dir: string, spec: SetSpec): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const role of ROLES) {
    const version = role === 'root' ? spec.root : spec.timestamp;
    await writeFile(
      join(dir, `${role}.json`),
      JSON.stringify({ signed: { _type: role, version, label: spec.label }, signatures: [] }),
    );
  }
}

/** The set in force for `ci`, read the way the check-in reads it; null when there is none. */
async function inForce(trustDir: string): Promise<Record<string, string> | null> {
  const dir = trustedDir(trustDir, 'ci');
  const out: Record<string, string> = {};
  for (const role of ROLES) {
    try {
      out[role] = await readFile(join(dir, `${role}.json`), 'utf8');
    } catch {
      return null;
    }
  }
  return out;
}

async function setOf(spec: SetSpec): Promise<Record<string, string>> {
  const tmp = await mkdtemp(join(tmpdir(), 'trust-set-'));
  await writeSet(tmp, spec);
  const out: Record<string, string> = {};
  for (const role of ROLES) out[role] = await readFile(join(tmp, `${role}.json`), 'utf8');
  await rm(tmp, { recursive: true, force: true });
  return out;
}

class PowerCut extends Error {}

const OLD: SetSpec = { label: 'old', root: 3, timestamp: 7 };
const NEW: SetSpec = { label: 'new', root: 4, timestamp: 8 };
const SHIPPED_ROOT = { signed: { _type: 'root', version: 1, label: 'shipped' } };

type Layout = 'link' | 'plain' | 'empty';

/** A trust store holding OLD in the given layout: the current one, the older plain one, or none. */
async function storeWith(layout: Layout): Promise<string> {
  const trustDir = await mkdtemp(join(tmpdir(), 'trust-store-'));
  if (layout === 'plain') {
    await writeSet(join(trustDir, 'ci'), OLD);
  } else if (layout === 'link') {
    await writeSet(join(trustDir, 'seed'), OLD);
    const work = await openWorkCopy(trustDir, 'ci', SHIPPED_ROOT);
    await rm(work, { recursive: true });
    await rename(join(trustDir, 'seed'), work);
    await commitWorkCopy(trustDir, 'ci', work);
  }
  return trustDir;
}

/** Runs a swap from OLD to NEW and cuts the power right after `step`. */
async function swapCutAt(trustDir: string, step: TrustSwapStep | undefined): Promise<boolean> {
  const work = await openWorkCopy(trustDir, 'ci', SHIPPED_ROOT);
  await writeSet(work, NEW);
  try {
    await commitWorkCopy(trustDir, 'ci', work, (s) => {
      if (s === step) throw new PowerCut(s);
    });
    return false;
  } catch (err) {
    if (err instanceof PowerCut) return true;
    throw err;
  }
}

/** What each cut must recover to: the old set up to the flip, the new one after. */
function expected(layout: Layout, step: TrustSwapStep): 'old' | 'new' | 'none' {
  const at = TRUST_SWAP_STEPS.indexOf(step);
  // Once the new set has its version name it is committed; without a valid `ci` the
  // newest complete version wins.
  if (layout === 'empty')
    return at >= TRUST_SWAP_STEPS.indexOf('trust-version-written') ? 'new' : 'none';
  if (layout === 'plain' && at >= TRUST_SWAP_STEPS.indexOf('trust-legacy-moved')) return 'new';
  return at >= TRUST_SWAP_STEPS.indexOf('trust-link-flipped') ? 'new' : 'old';
}

describe('trust store', function () {
  let oldSet: Record<string, string>;
  let newSet: Record<string, string>;
  const made: string[] = [];
  before(async function () {
    oldSet = await setOf(OLD);
    newSet = await setOf(NEW);
  });
  after(async function () {
    for (const d of made) await rm(d, { recursive: true, force: true });
  });
  const store = async (layout: Layout) => {
    const d = await storeWith(layout);
    made.push(d);
    return d;
  };

  for (const layout of ['link', 'plain', 'empty'] as const) {
    describe(`a swap from the ${layout === 'empty' ? 'empty store' : `${layout} layout`}`, function () {
      for (const step of TRUST_SWAP_STEPS) {
        // The plain layout is the only one with a step that moves it.
        if (step === 'trust-legacy-moved' && layout !== 'plain') continue;
        const outcome = {
          old: 'exactly the old set',
          new: 'exactly the new set',
          none: 'no set (nothing was trusted before)',
        }[expected(layout, step)];
        it(`cut after ${step}: recovery leaves ${outcome} and no leftovers`, async function () {
          const trustDir = await store(layout);
          expect(await swapCutAt(trustDir, step), 'the cut happened').to.equal(true);
          await recoverTrustStore(trustDir);
          const want = expected(layout, step);
          const got = await inForce(trustDir);
          if (want === 'none') {
            expect(got).to.equal(null);
            await assertNoStrandedTrust(trustDir, 'ci');
          } else {
            expect(got).to.deep.equal(want === 'old' ? oldSet : newSet);
            expect((await lstat(join(trustDir, 'ci'))).isSymbolicLink()).to.equal(true);
          }
          const names = await readdir(trustDir);
          expect(names.filter((n) => n.startsWith('.work-') || n.includes('.old-'))).to.deep.equal(
            [],
          );
          expect(names.filter((n) => n.startsWith('.ci.v-'))).to.have.length(
            want === 'none' ? 0 : 1,
          );
          // A second recovery changes nothing.
          const again = await recoverTrustStore(trustDir);
          expect(again.removed).to.deep.equal([]);
          expect(again.repaired).to.equal(false);
        });
      }

      it('without a cut puts the new set in force and keeps only it', async function () {
        const trustDir = await store(layout);
        expect(await swapCutAt(trustDir, undefined)).to.equal(false);
        expect(await inForce(trustDir)).to.deep.equal(newSet);
        const names = (await readdir(trustDir)).sort();
        expect(names).to.have.length(2);
        expect(names[0]).to.match(/^\.ci\.v-[0-9a-f]{12}$/);
        expect(names[1]).to.equal('ci');
      });
    });
  }

  describe('recovery of the two-rename swap of earlier releases', function () {
    it('puts the old set back when a cut left ci.old-* and .work-ci-* but no ci', async function () {
      const trustDir = await store('empty');
      await writeSet(join(trustDir, 'ci.old-1a2b3c4d'), OLD);
      await writeSet(join(trustDir, '.work-ci-0011223344aa'), NEW);
      await writeSet(join(trustDir, '.work-ci-5566778899bb'), {
        label: 'x',
        root: 9,
        timestamp: 9,
      });
      await recoverTrustStore(trustDir);
      expect(await inForce(trustDir)).to.deep.equal(oldSet);
      const names = await readdir(trustDir);
      expect(names.filter((n) => n !== 'ci' && !n.startsWith('.ci.v-'))).to.deep.equal([]);
    });

    it('takes the newest of several ci.old-* by their metadata versions', async function () {
      const trustDir = await store('empty');
      await writeSet(join(trustDir, 'ci.old-00000001'), { label: 'older', root: 2, timestamp: 5 });
      await writeSet(join(trustDir, 'ci.old-00000002'), OLD);
      await writeSet(join(trustDir, 'ci.old-00000003'), {
        label: 'same root',
        root: 3,
        timestamp: 6,
      });
      await recoverTrustStore(trustDir);
      expect(await inForce(trustDir)).to.deep.equal(oldSet);
    });

    it('keeps a plain ci directory in force, migrates it to a link and removes the leftovers', async function () {
      const trustDir = await store('plain');
      await writeSet(join(trustDir, 'ci.old-deadbeef'), { label: 'older', root: 2, timestamp: 5 });
      await mkdir(join(trustDir, '.work-ci-abcdefabcdef'));
      await mkdir(join(trustDir, '.work-prod-abcdefabcdef'));
      const r = await recoverTrustStore(trustDir);
      expect(r.repaired).to.equal(true);
      expect(await inForce(trustDir)).to.deep.equal(oldSet);
      expect((await lstat(join(trustDir, 'ci'))).isSymbolicLink()).to.equal(true);
      expect((await readdir(trustDir)).filter((n) => !n.startsWith('.ci.v-'))).to.deep.equal([
        'ci',
      ]);
    });

    it('leaves a clean store and a missing directory untouched', async function () {
      const trustDir = await store('link');
      const before = (await readdir(trustDir)).sort();
      const r = await recoverTrustStore(trustDir);
      expect(r).to.deep.include({ removed: [], repaired: false });
      expect((await readdir(trustDir)).sort()).to.deep.equal(before);
      const missing = join(trustDir, 'nothing-here');
      await recoverTrustStore(missing);
      expect(await lstat(missing).catch(() => null)).to.equal(null);
    });
  });

  describe('the shipped-root fallback', function () {
    it('is refused while a stored set exists but is not in place', async function () {
      const trustDir = await store('empty');
      await writeSet(join(trustDir, 'ci.old-1a2b3c4d'), OLD);
      const err = await assertNoStrandedTrust(trustDir, 'ci').catch((e: unknown) => e);
      expect(err).to.be.instanceOf(FormatError);
      expect((err as FormatError).code).to.equal('TRUST_STORE_INCONSISTENT');
    });

    it('is allowed when nothing was ever trusted (leaked working copies are not trusted)', async function () {
      const trustDir = await store('empty');
      await writeSet(join(trustDir, '.work-ci-0011223344aa'), NEW);
      await assertNoStrandedTrust(trustDir, 'ci');
    });
  });
});

describe('trust store: a swap that keeps the previous version (install commit phase)', function () {
  const made: string[] = [];
  after(async function () {
    for (const d of made) await rm(d, { recursive: true, force: true });
  });

  for (const layout of ['link', 'empty'] as const) {
    it(`revert() puts the ${layout === 'link' ? 'previous set' : 'empty store'} back exactly; finish() keeps the new one`, async function () {
      const oldSet = await setOf(OLD);
      const newSet = await setOf(NEW);
      const trustDir = await storeWith(layout);
      made.push(trustDir);
      const names = async () => (await readdir(trustDir)).sort();
      const beforeNames = await names();
      const beforeLink = layout === 'link' ? await readlinkOf(trustDir) : undefined;

      let work = await openWorkCopy(trustDir, 'ci', SHIPPED_ROOT);
      await writeSet(work, NEW);
      let c = await commitWorkCopy(trustDir, 'ci', work, undefined, { keepPrevious: true });
      expect(await inForce(trustDir)).to.deep.equal(newSet);
      await c.revert();
      expect(await inForce(trustDir)).to.deep.equal(layout === 'link' ? oldSet : null);
      expect(await names()).to.deep.equal(beforeNames);
      if (beforeLink !== undefined) expect(await readlinkOf(trustDir)).to.equal(beforeLink);

      work = await openWorkCopy(trustDir, 'ci', SHIPPED_ROOT);
      await writeSet(work, NEW);
      c = await commitWorkCopy(trustDir, 'ci', work, undefined, { keepPrevious: true });
      // A power cut now: recovery keeps the new set in force and drops the kept one.
      if (layout === 'link') expect((await names()).length).to.equal(beforeNames.length + 1);
      await c.finish();
      await c.revert(); // settled: does nothing
      expect(await inForce(trustDir)).to.deep.equal(newSet);
      expect((await names()).filter((n) => n.startsWith('.ci.v-'))).to.have.length(1);
    });
  }
});

async function readlinkOf(trustDir: string): Promise<string> {
  const { readlink } = await import('node:fs/promises');
  return readlink(trustedDir(trustDir, 'ci'));
}
