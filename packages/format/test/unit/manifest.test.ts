import { expect } from 'chai';
import { FormatError } from '../../src/errors.js';
import { buildBundleManifest, deltaOf, parseBundleManifest } from '../../src/manifest.js';

const C1 = '1'.repeat(64);
const C2 = '2'.repeat(64);

/** A signed-part-only manifest with one delta Target (signatures are checked elsewhere). */
function deltaManifest(): Record<string, unknown> {
  return buildBundleManifest({
    type: 'ci',
    tag: 'main',
    targets: ['sim-lmp-2', 'arm-lmp-2'],
    expires: '2030-01-01T00:00:00Z',
    version: 3,
    deltas: {
      'sim-lmp-2': {
        bases: [{ name: 'sim-lmp-1', commit: C1 }],
        omitted: { objects: 10, blobs: 2, bytes: 1000 },
      },
    },
  }) as unknown as Record<string, unknown>;
}

const parse = (signed: unknown) => parseBundleManifest({ signatures: [], signed }, 'm');

type Info = Record<string, unknown> & { deltas: Record<string, Record<string, unknown>> };
const info = (m: Record<string, unknown>) => m['x-offline-bundle'] as Info;

/** Named mutations of the delta fields, each of which the parser must refuse. */
const TAMPER: [string, (m: Record<string, unknown>) => void][] = [
  ['deltas is not an object', (m) => (info(m).deltas = [] as unknown as Info['deltas'])],
  ['deltas is empty', (m) => (info(m).deltas = {})],
  [
    'a delta names a Target the bundle does not list',
    (m) => {
      info(m).deltas['other-lmp-9'] = info(m).deltas['sim-lmp-2'];
    },
  ],
  ['bases is empty', (m) => (info(m).deltas['sim-lmp-2'].bases = [])],
  [
    'a base commit is not a checksum',
    (m) => {
      info(m).deltas['sim-lmp-2'].bases = [{ name: 'sim-lmp-1', commit: 'abc' }];
    },
  ],
  [
    'a base names the Target itself',
    (m) => {
      info(m).deltas['sim-lmp-2'].bases = [{ name: 'sim-lmp-2', commit: C2 }];
    },
  ],
  [
    'a base is listed twice',
    (m) => {
      info(m).deltas['sim-lmp-2'].bases = [
        { name: 'sim-lmp-1', commit: C1 },
        { name: 'sim-lmp-1', commit: C1 },
      ];
    },
  ],
  [
    'a base has an unknown field',
    (m) => {
      info(m).deltas['sim-lmp-2'].bases = [{ name: 'sim-lmp-1', commit: C1, full: true }];
    },
  ],
  [
    'seventeen bases',
    (m) => {
      info(m).deltas['sim-lmp-2'].bases = Array.from({ length: 17 }, (_, i) => ({
        name: `sim-lmp-${i + 10}`,
        commit: C1,
      }));
    },
  ],
  ['omitted is missing', (m) => delete info(m).deltas['sim-lmp-2'].omitted],
  [
    'omitted bytes is negative',
    (m) => {
      info(m).deltas['sim-lmp-2'].omitted = { objects: 1, blobs: 0, bytes: -1 };
    },
  ],
  ['a delta has an unknown field', (m) => (info(m).deltas['sim-lmp-2'].complete = true)],
  ['the bundle info has an unknown field', (m) => (info(m).full = true)],
];

describe('bundle manifest', function () {
  describe('delta fields (bundle-format §Delta bundles)', function () {
    it('round-trips a delta Target and leaves the other Target full', function () {
      const env = parse(JSON.parse(JSON.stringify(deltaManifest())));
      expect(deltaOf(env.signed, 'sim-lmp-2')?.bases).to.deep.equal([
        { name: 'sim-lmp-1', commit: C1 },
      ]);
      expect(deltaOf(env.signed, 'arm-lmp-2')).to.equal(undefined);
    });

    it('has no deltas field at all when no Target is a delta', function () {
      const m = buildBundleManifest({
        type: 'ci',
        tag: 'main',
        targets: ['sim-lmp-2'],
        expires: '2030-01-01T00:00:00Z',
        version: 1,
      });
      expect(Object.keys(m['x-offline-bundle'])).to.deep.equal(['type', 'tag', 'targets']);
    });

    for (const [name, mutate] of TAMPER) {
      it(`refuses a manifest where ${name}`, function () {
        const m = JSON.parse(JSON.stringify(deltaManifest())) as Record<string, unknown>;
        mutate(m);
        expect(() => parse(m))
          .to.throw(FormatError)
          .with.property('code', 'INVALID_METADATA');
      });
    }
  });
});
