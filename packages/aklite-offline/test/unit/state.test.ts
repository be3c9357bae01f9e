import { expect } from 'chai';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AkliteError } from '../../src/lib/errors.js';
import { initialTarget, readState, writeState, type DeviceState } from '../../src/lib/state.js';

const COMMIT = 'a'.repeat(64);

describe('state', function () {
  let dir: string;
  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), 'aklite-state-'));
    await mkdir(dir, { recursive: true });
  });
  afterEach(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  const valid = (): DeviceState => ({
    schema: 1,
    current: initialTarget(COMMIT, 'board-a'),
    pending: null,
    failed: [],
    deferrals: { ui: 1 },
    probation: null,
  });

  it('reads back what it wrote', async function () {
    await writeState(dir, valid());
    const { state, fresh } = await readState(dir, { commit: COMMIT }, 'board-a');
    expect(fresh).to.equal(false);
    expect(state).to.deep.equal(valid());
  });

  describe('when state.json is not valid', function () {
    const cases: [string, (s: Record<string, unknown>) => unknown, RegExp][] = [
      ['not an object', () => [], /is not an aklite-offline state file \(schema 1\)/],
      ['of another schema', (s) => ({ ...s, schema: 2 }), /is not an aklite-offline state file/],
      [
        'without failed',
        (s) => ({ ...s, failed: undefined }),
        /is not an aklite-offline state file/,
      ],
      [
        'of an unknown device type',
        (s) => ({ ...s, deviceType: 'x' }),
        /deviceType must be "ci" or "prod"/,
      ],
      [
        'with a current Target without a version',
        (s) => ({ ...s, current: { ...(s.current as object), version: '2' } }),
        /current\.version: .*number/,
      ],
      [
        'with a deferral count that is not a number',
        (s) => ({ ...s, deferrals: { ui: 'x' } }),
        /deferrals\.ui: /,
      ],
      [
        'with a pending install of an unknown kind',
        (s) => ({ ...s, pending: { kind: 'x' } }),
        /pending\./,
      ],
    ];
    for (const [what, mutate, says] of cases) {
      it(`refuses one ${what} with STATE_INVALID naming the file`, async function () {
        const json = mutate(valid() as unknown as Record<string, unknown>);
        await writeFile(join(dir, 'state.json'), JSON.stringify(json));
        const err = await readState(dir, { commit: COMMIT }, 'board-a').catch((e: unknown) => e);
        expect(err).to.be.instanceOf(AkliteError);
        expect((err as AkliteError).code).to.equal('STATE_INVALID');
        expect((err as AkliteError).message).to.include(join(dir, 'state.json'));
        expect((err as AkliteError).message).to.match(says);
      });
    }
  });
});
