import { expect } from 'chai';
import fc from 'fast-check';
import {
  bundleExpiry,
  checkRequestedExpiry,
  describeRemaining,
  planBundleExpiry,
  requestedExpiry,
} from '../../src/expiry.js';
import { formatTufTime, isExpired, parseTufTime, TUF_TIME_RE } from '../../src/time.js';
import { at, expectFormatError } from './helpers.js';

const DAY_MS = 86_400_000;

/** Instants with millisecond precision, far enough from year 9999 to add 3650 days. */
const instant = fc
  .integer({ min: Date.UTC(1000, 0, 1), max: Date.UTC(9980, 0, 1) })
  .map((ms) => new Date(ms));
const validDays = fc.integer({ min: 1, max: 3650 });
/** TUF timestamps over a wide range. */
const tufTime = fc
  .integer({ min: Date.UTC(1970, 0, 1) / 1000, max: Date.UTC(2200, 0, 1) / 1000 })
  .map((s) => formatTufTime(new Date(s * 1000)));
/** TUF timestamps a few seconds apart, so that equal instants come up often. */
const nearTufTime = fc
  .integer({ min: -3, max: 3 })
  .map((s) => formatTufTime(new Date(Date.UTC(2026, 0, 1) + s * 1000)));

const ms = (tuf: string) => parseTufTime(tuf).getTime();

/** Malformed or non-string expiries, each refused by the strict parser. */
const MALFORMED: [string, unknown][] = [
  ['fractional seconds', '2026-01-01T00:00:00.5Z'],
  ['milliseconds', '2026-01-01T00:00:00.000Z'],
  ['a missing Z', '2026-01-01T00:00:00'],
  ['an offset instead of Z', '2026-01-01T00:00:00+00:00'],
  ['a day that does not exist (2023-02-29)', '2023-02-29T00:00:00Z'],
  ['hour 24 (24:00:00)', '2026-01-01T24:00:00Z'],
  ['a leap second (23:59:60)', '2026-12-31T23:59:60Z'],
  ['a lowercase t', '2026-01-01t00:00:00Z'],
  ['a lowercase z', '2026-01-01T00:00:00z'],
  ['a space instead of T', '2026-01-01 00:00:00Z'],
  ['a date only', '2026-01-01'],
  ['an empty string', ''],
  ['a number', 1767225600],
  ['null', null],
  ['undefined', undefined],
  ['a Date object', new Date('2026-01-01T00:00:00Z')],
];

describe('requestedExpiry', () => {
  describe('when now is a whole second', () => {
    const now = new Date('2025-01-01T00:00:00Z');
    const table: [number, string][] = [
      [1, '2025-01-02T00:00:00Z'],
      [365, '2026-01-01T00:00:00Z'],
      [366, '2026-01-02T00:00:00Z'],
      [3650, '2034-12-30T00:00:00Z'],
    ];
    for (const [days, expected] of table) {
      it(`adds ${days} day(s) of 86400 s, giving ${expected}`, () => {
        expect(requestedExpiry(now, days)).to.equal(expected);
      });
    }
  });

  describe('when now has milliseconds', () => {
    it('truncates .999 to the whole second and never rounds up', () => {
      expect(requestedExpiry(new Date('2025-06-01T10:20:30.999Z'), 1)).to.equal(
        '2025-06-02T10:20:30Z',
      );
    });

    it('truncates .001 to the whole second', () => {
      expect(requestedExpiry(new Date('2025-06-01T10:20:30.001Z'), 30)).to.equal(
        '2025-07-01T10:20:30Z',
      );
    });

    it('truncates the last millisecond of a year without moving into the next year', () => {
      expect(requestedExpiry(new Date('2025-12-30T23:59:59.999Z'), 1)).to.equal(
        '2025-12-31T23:59:59Z',
      );
    });
  });

  describe('when the span crosses a leap day or a year boundary', () => {
    const table: [string, number, string][] = [
      ['2024-02-29T12:00:00Z', 365, '2025-02-28T12:00:00Z'],
      ['2023-02-28T08:00:00Z', 1, '2023-03-01T08:00:00Z'],
      ['2024-02-28T08:00:00Z', 1, '2024-02-29T08:00:00Z'],
      ['2024-02-29T08:00:00Z', 1, '2024-03-01T08:00:00Z'],
      ['2100-02-28T00:00:00Z', 1, '2100-03-01T00:00:00Z'],
      ['2000-02-28T00:00:00Z', 1, '2000-02-29T00:00:00Z'],
      ['2025-12-31T23:59:59Z', 1, '2026-01-01T23:59:59Z'],
      ['2024-01-01T00:00:00Z', 366, '2025-01-01T00:00:00Z'],
      ['2024-01-01T00:00:00Z', 365, '2024-12-31T00:00:00Z'],
    ];
    for (const [now, days, expected] of table) {
      it(`gives ${expected} for ${now} + ${days} day(s)`, () => {
        expect(requestedExpiry(new Date(now), days)).to.equal(expected);
      });
    }
  });

  describe('when days is not a whole number from 1 to 3650', () => {
    const table: [string, unknown, string][] = [
      ['0', 0, '0'],
      ['a negative number', -1, '-1'],
      ['a non-integer', 1.5, '1.5'],
      ['NaN', NaN, 'NaN'],
      ['Infinity', Infinity, 'Infinity'],
      ['-Infinity', -Infinity, '-Infinity'],
      ['3651', 3651, '3651'],
      ['a numeric string', '30', '"30"'],
      ['undefined', undefined, 'nothing'],
      ['null', null, 'object'],
    ];
    for (const [name, days, shown] of table) {
      it(`refuses ${name} with INVALID_ARGUMENT and says what is allowed`, () => {
        expectFormatError(
          () => requestedExpiry(new Date('2025-01-01T00:00:00Z'), days as number),
          'INVALID_ARGUMENT',
          `--expires-in-days must be a whole number from 1 to 3650, got ${shown}`,
        );
      });
    }

    it('refuses every non-integer and every integer out of range (property)', () => {
      const badDays = fc.oneof(
        fc.double().filter((d) => !Number.isInteger(d)),
        fc.integer({ max: 0 }),
        fc.integer({ min: 3651 }),
      );
      fc.assert(
        fc.property(instant, badDays, (now, days) => {
          expectFormatError(() => requestedExpiry(now, days), 'INVALID_ARGUMENT');
        }),
      );
    });
  });

  describe('when now is not a valid date', () => {
    it('refuses it with INVALID_TIME', () => {
      expectFormatError(() => requestedExpiry(new Date(NaN), 30), 'INVALID_TIME');
    });
  });

  describe('when the result would be past year 9999', () => {
    it('refuses it with INVALID_TIME', () => {
      expectFormatError(() => requestedExpiry(new Date('9999-12-31T00:00:00Z'), 1), 'INVALID_TIME');
    });
  });

  describe('for any instant and any allowed number of days (property)', () => {
    it('lies in (days × 86400 − 1, days × 86400] seconds after now', () => {
      fc.assert(
        fc.property(instant, validDays, (now, days) => {
          const diff = ms(requestedExpiry(now, days)) - now.getTime();
          expect(diff).to.be.greaterThan(days * DAY_MS - 1000);
          expect(diff).to.be.at.most(days * DAY_MS);
        }),
      );
    });

    it('is a valid TUF time that round-trips through parseTufTime', () => {
      fc.assert(
        fc.property(instant, validDays, (now, days) => {
          const requested = requestedExpiry(now, days);
          expect(requested).to.match(TUF_TIME_RE);
          expect(formatTufTime(parseTufTime(requested))).to.equal(requested);
        }),
      );
    });

    it('grows strictly with days', () => {
      fc.assert(
        fc.property(instant, validDays, validDays, (now, a, b) => {
          fc.pre(a !== b);
          const [lo, hi] = a < b ? [a, b] : [b, a];
          expect(ms(requestedExpiry(now, lo))).to.be.lessThan(ms(requestedExpiry(now, hi)));
        }),
      );
    });

    it('never decreases as now advances', () => {
      fc.assert(
        fc.property(
          instant,
          fc.integer({ min: 0, max: 10 * DAY_MS }),
          validDays,
          (now, step, days) => {
            const later = new Date(now.getTime() + step);
            expect(ms(requestedExpiry(now, days))).to.be.at.most(ms(requestedExpiry(later, days)));
          },
        ),
      );
    });
  });
});

describe('checkRequestedExpiry', () => {
  const requested = '2026-02-01T12:00:00Z';

  describe('when root and targets expire at the requested instant', () => {
    it('accepts the equal instants', () => {
      expect(() =>
        checkRequestedExpiry({ rootExpires: requested, targetsExpires: requested, requested }),
      ).not.to.throw();
    });
  });

  describe('when root and targets expire after the requested instant', () => {
    it('accepts them', () => {
      expect(() =>
        checkRequestedExpiry({
          rootExpires: '2027-01-01T00:00:00Z',
          targetsExpires: '2026-02-01T12:00:01Z',
          requested,
        }),
      ).not.to.throw();
    });
  });

  describe('when root expires one second before the requested instant', () => {
    it('refuses with EXPIRY_TOO_SOON and the exact root message', () => {
      expectFormatError(
        () =>
          checkRequestedExpiry({
            rootExpires: '2026-02-01T11:59:59Z',
            targetsExpires: '2027-01-01T00:00:00Z',
            requested,
          }),
        'EXPIRY_TOO_SOON',
        'Root metadata expire (2026-02-01T11:59:59Z) before the specified expiration time (2026-02-01T12:00:00Z)',
      );
    });
  });

  describe('when targets expire one second before the requested instant', () => {
    it('refuses with EXPIRY_TOO_SOON and the exact targets message', () => {
      expectFormatError(
        () =>
          checkRequestedExpiry({
            rootExpires: '2027-01-01T00:00:00Z',
            targetsExpires: '2026-02-01T11:59:59Z',
            requested,
          }),
        'EXPIRY_TOO_SOON',
        'Targets metadata expire (2026-02-01T11:59:59Z) before the specified expiration time (2026-02-01T12:00:00Z)',
      );
    });
  });

  describe('when both root and targets expire too soon', () => {
    it('reports root first', () => {
      expectFormatError(
        () =>
          checkRequestedExpiry({
            rootExpires: '2024-07-06T07:56:57Z',
            targetsExpires: '2025-01-28T16:38:23Z',
            requested: '2025-02-11T09:17:39Z',
          }),
        'EXPIRY_TOO_SOON',
        'Root metadata expire (2024-07-06T07:56:57Z) before the specified expiration time (2025-02-11T09:17:39Z)',
      );
    });
  });

  describe('when an input is malformed', () => {
    for (const field of ['rootExpires', 'targetsExpires', 'requested'] as const) {
      for (const [name, value] of MALFORMED) {
        it(`refuses ${field} with ${name} as INVALID_TIME`, () => {
          const input = {
            rootExpires: '2027-01-01T00:00:00Z',
            targetsExpires: '2027-01-01T00:00:00Z',
            requested,
            [field]: value as string,
          };
          expectFormatError(() => checkRequestedExpiry(input), 'INVALID_TIME');
        });
      }
    }

    it('refuses a malformed requested time even when root already expires too soon', () => {
      expectFormatError(
        () =>
          checkRequestedExpiry({
            rootExpires: '2020-01-01T00:00:00Z',
            targetsExpires: '2027-01-01T00:00:00Z',
            requested: '2026-02-01T12:00:00.000Z',
          }),
        'INVALID_TIME',
      );
    });
  });

  describe('for any root, targets and requested times (property)', () => {
    it('accepts exactly when both root and targets are at or after requested', () => {
      const time = fc.oneof(nearTufTime, tufTime);
      fc.assert(
        fc.property(time, time, time, (rootExpires, targetsExpires, req) => {
          const ok = ms(rootExpires) >= ms(req) && ms(targetsExpires) >= ms(req);
          const run = () => checkRequestedExpiry({ rootExpires, targetsExpires, requested: req });
          if (ok) {
            expect(run).not.to.throw();
          } else {
            const which = ms(rootExpires) < ms(req) ? 'Root' : 'Targets';
            const err = expectFormatError(run, 'EXPIRY_TOO_SOON');
            expect(err.message.startsWith(`${which} metadata expire (`)).to.equal(true);
          }
        }),
      );
    });
  });
});

describe('bundleExpiry', () => {
  describe('when given several role expiries', () => {
    it('returns the earliest', () => {
      expect(
        bundleExpiry([
          '2027-01-01T00:00:00Z',
          '2026-02-01T12:00:00Z',
          '2026-02-01T12:00:01Z',
          '2030-01-01T00:00:00Z',
        ]),
      ).to.equal('2026-02-01T12:00:00Z');
    });

    it('returns that instant when several roles share it', () => {
      expect(bundleExpiry(['2026-02-01T12:00:00Z', '2026-02-01T12:00:00Z'])).to.equal(
        '2026-02-01T12:00:00Z',
      );
    });

    it('compares instants, not strings, across year lengths', () => {
      expect(
        bundleExpiry(['9999-12-31T23:59:59Z', '2026-01-01T00:00:00Z', '0999-12-31T23:59:59Z']),
      ).to.equal('0999-12-31T23:59:59Z');
    });
  });

  describe('when given one expiry', () => {
    it('returns it', () => {
      expect(bundleExpiry(['2026-02-01T12:00:00Z'])).to.equal('2026-02-01T12:00:00Z');
    });
  });

  describe('when given no expiry', () => {
    it('refuses with INVALID_ARGUMENT', () => {
      expectFormatError(() => bundleExpiry([]), 'INVALID_ARGUMENT');
    });
  });

  describe('when an expiry is malformed', () => {
    for (const [name, value] of MALFORMED) {
      it(`refuses ${name} as INVALID_TIME, wherever it is in the list`, () => {
        const good = '2026-02-01T12:00:00Z';
        expectFormatError(() => bundleExpiry([value as string, good]), 'INVALID_TIME');
        expectFormatError(() => bundleExpiry([good, value as string]), 'INVALID_TIME');
      });
    }
  });

  describe('for any non-empty list (property)', () => {
    it('is one of the inputs and at or before every input', () => {
      fc.assert(
        fc.property(
          fc.array(fc.oneof(tufTime, nearTufTime), { minLength: 1, maxLength: 8 }),
          (list) => {
            const min = bundleExpiry(list);
            expect(list).to.include(min);
            for (const e of list) expect(ms(min)).to.be.at.most(ms(e));
          },
        ),
      );
    });

    it('does not depend on the order of the inputs', () => {
      fc.assert(
        fc.property(fc.array(tufTime, { minLength: 1, maxLength: 8 }), (list) => {
          expect(bundleExpiry([...list].reverse())).to.equal(bundleExpiry(list));
        }),
      );
    });
  });
});

describe('planBundleExpiry', () => {
  const clock = at('2026-01-01T09:30:15.750Z');

  describe('when root and targets outlive the requested expiry', () => {
    it('gives timestamp, snapshot and the bundle the requested expiry', () => {
      expect(
        planBundleExpiry({
          clock,
          days: 30,
          rootExpires: '2027-01-01T00:00:00Z',
          targetsExpires: '2026-06-01T00:00:00Z',
        }),
      ).to.deep.equal({
        requested: '2026-01-31T09:30:15Z',
        timestamp: '2026-01-31T09:30:15Z',
        snapshot: '2026-01-31T09:30:15Z',
        bundle: '2026-01-31T09:30:15Z',
      });
    });

    it('reads the clock exactly once', () => {
      let calls = 0;
      planBundleExpiry({
        clock: () => {
          calls++;
          return new Date('2026-01-01T00:00:00Z');
        },
        days: 1,
        rootExpires: '2027-01-01T00:00:00Z',
        targetsExpires: '2027-01-01T00:00:00Z',
      });
      expect(calls).to.equal(1);
    });
  });

  describe('when root expires exactly at the requested expiry', () => {
    it('accepts it and the bundle expires at that instant', () => {
      const plan = planBundleExpiry({
        clock,
        days: 1,
        rootExpires: '2026-01-02T09:30:15Z',
        targetsExpires: '2026-01-02T09:30:15Z',
      });
      expect(plan.bundle).to.equal('2026-01-02T09:30:15Z');
    });
  });

  describe('when root expires one second before the requested expiry', () => {
    it('refuses with the exact root message', () => {
      expectFormatError(
        () =>
          planBundleExpiry({
            clock,
            days: 1,
            rootExpires: '2026-01-02T09:30:14Z',
            targetsExpires: '2027-01-01T00:00:00Z',
          }),
        'EXPIRY_TOO_SOON',
        'Root metadata expire (2026-01-02T09:30:14Z) before the specified expiration time (2026-01-02T09:30:15Z)',
      );
    });
  });

  describe('when targets expire one second before the requested expiry', () => {
    it('refuses with the exact targets message', () => {
      expectFormatError(
        () =>
          planBundleExpiry({
            clock,
            days: 1,
            rootExpires: '2027-01-01T00:00:00Z',
            targetsExpires: '2026-01-02T09:30:14Z',
          }),
        'EXPIRY_TOO_SOON',
        'Targets metadata expire (2026-01-02T09:30:14Z) before the specified expiration time (2026-01-02T09:30:15Z)',
      );
    });
  });

  describe('when days is out of range', () => {
    it('refuses with INVALID_ARGUMENT before looking at the metadata', () => {
      expectFormatError(
        () => planBundleExpiry({ clock, days: 0, rootExpires: 'bad', targetsExpires: 'bad' }),
        'INVALID_ARGUMENT',
      );
    });
  });

  describe('for any clock, days, root and targets (property)', () => {
    it('either refuses with EXPIRY_TOO_SOON or gives every role and the bundle the requested expiry', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2030, 0, 1) }),
          validDays,
          fc.integer({ min: 0, max: 4000 * 86_400 }),
          fc.integer({ min: 0, max: 4000 * 86_400 }),
          (nowMs, days, rootOffset, targetsOffset) => {
            const now = new Date(nowMs);
            const base = Math.floor(nowMs / 1000) * 1000;
            const rootExpires = formatTufTime(new Date(base + rootOffset * 1000));
            const targetsExpires = formatTufTime(new Date(base + targetsOffset * 1000));
            const requested = requestedExpiry(now, days);
            const run = () =>
              planBundleExpiry({ clock: () => now, days, rootExpires, targetsExpires });
            if (ms(rootExpires) >= ms(requested) && ms(targetsExpires) >= ms(requested)) {
              expect(run()).to.deep.equal({
                requested,
                timestamp: requested,
                snapshot: requested,
                bundle: requested,
              });
            } else {
              expectFormatError(run, 'EXPIRY_TOO_SOON');
            }
          },
        ),
      );
    });
  });
});

describe('describeRemaining', () => {
  const expires = '2026-01-31T00:00:00Z';
  const table: [string, string][] = [
    ['2026-01-01T01:00:00Z', 'expires in 29 days 23 h'],
    ['2026-01-30T00:00:00Z', 'expires in 1 day'],
    ['2026-01-29T00:00:00Z', 'expires in 2 days'],
    ['2026-01-29T00:00:00.001Z', 'expires in 1 day 23 h'],
    ['2026-01-30T20:48:00Z', 'expires in 3 h 12 min'],
    ['2026-01-30T23:55:58Z', 'expires in 4 min 2 s'],
    ['2026-01-30T23:59:51Z', 'expires in 9 s'],
    ['2026-01-30T23:59:59.500Z', 'expires in less than 1 s'],
    ['2026-01-31T00:00:00Z', 'expired just now'],
    ['2026-01-31T00:00:00.999Z', 'expired just now'],
    ['2026-01-31T00:00:01Z', 'expired 1 s ago'],
    ['2026-02-02T00:00:00Z', 'expired 2 days ago'],
    ['2026-02-02T05:00:00Z', 'expired 2 days 5 h ago'],
  ];
  for (const [now, phrase] of table) {
    describe(`when now is ${now}`, () => {
      it(`says "${phrase}"`, () => {
        expect(describeRemaining(expires, new Date(now))).to.equal(phrase);
      });
    });
  }

  describe('when expires is malformed', () => {
    for (const [name, value] of MALFORMED) {
      it(`refuses ${name} as INVALID_TIME`, () => {
        expectFormatError(
          () => describeRemaining(value as string, new Date('2026-01-01T00:00:00Z')),
          'INVALID_TIME',
        );
      });
    }
  });

  describe('when now is not a valid date', () => {
    it('refuses it with INVALID_TIME', () => {
      expectFormatError(() => describeRemaining(expires, new Date(NaN)), 'INVALID_TIME');
    });
  });

  describe('for any expiry and now (property)', () => {
    it('says "expired" exactly when isExpired would', () => {
      fc.assert(
        fc.property(tufTime, instant, (e, now) => {
          const phrase = describeRemaining(e, now);
          expect(phrase.startsWith('expired')).to.equal(isExpired(e, now));
        }),
      );
    });
  });
});
