import { expect } from 'chai';
import fc from 'fast-check';
import {
  formatTufTime,
  isExpired,
  parseTufTime,
  systemClock,
  TUF_TIME_RE,
} from '../../src/time.js';
import { expectFormatError } from './helpers.js';

describe('formatTufTime', () => {
  describe('when the date has milliseconds', () => {
    it('truncates .999 to the second, never rounding up', () => {
      expect(formatTufTime(new Date('2025-12-31T23:59:59.999Z'))).to.equal('2025-12-31T23:59:59Z');
    });
  });

  describe('when the date is before 1970', () => {
    it('truncates toward the earlier second', () => {
      expect(formatTufTime(new Date('1969-12-31T23:59:59.500Z'))).to.equal('1969-12-31T23:59:59Z');
    });
  });

  describe('when the date is invalid', () => {
    it('refuses it with INVALID_TIME', () => {
      expectFormatError(() => formatTufTime(new Date(NaN)), 'INVALID_TIME');
    });
  });

  describe('when the year has more than four digits', () => {
    it('refuses it with INVALID_TIME', () => {
      expectFormatError(() => formatTufTime(new Date('+010000-01-01T00:00:00Z')), 'INVALID_TIME');
    });
  });

  describe('when the year is negative', () => {
    it('refuses it with INVALID_TIME', () => {
      expectFormatError(() => formatTufTime(new Date('-000001-01-01T00:00:00Z')), 'INVALID_TIME');
    });
  });
});

describe('parseTufTime', () => {
  describe('when given a valid TUF time', () => {
    const valid = [
      '2026-01-01T00:00:00Z',
      '2024-02-29T23:59:59Z',
      '2000-02-29T12:00:00Z',
      '1970-01-01T00:00:00Z',
      '9999-12-31T23:59:59Z',
    ];
    for (const value of valid) {
      it(`accepts ${value} as that instant`, () => {
        expect(parseTufTime(value).toISOString()).to.equal(value.replace('Z', '.000Z'));
      });
    }
  });

  describe('when given anything else', () => {
    const table: [string, unknown][] = [
      ['fractional seconds', '2026-01-01T00:00:00.5Z'],
      ['a missing Z', '2026-01-01T00:00:00'],
      ['an offset', '2026-01-01T00:00:00+01:00'],
      ['2023-02-29', '2023-02-29T00:00:00Z'],
      ['2100-02-29 (not a leap year)', '2100-02-29T00:00:00Z'],
      ['April 31st', '2026-04-31T00:00:00Z'],
      ['month 13', '2026-13-01T00:00:00Z'],
      ['24:00:00', '2026-01-01T24:00:00Z'],
      ['minute 60', '2026-01-01T00:60:00Z'],
      ['second 60', '2026-12-31T23:59:60Z'],
      ['a lowercase t', '2026-01-01t00:00:00Z'],
      ['surrounding whitespace', ' 2026-01-01T00:00:00Z'],
      ['a trailing newline', '2026-01-01T00:00:00Z\n'],
      ['a number', 0],
      ['null', null],
      ['an object', { expires: '2026-01-01T00:00:00Z' }],
    ];
    for (const [name, value] of table) {
      it(`refuses ${name} with INVALID_TIME`, () => {
        expectFormatError(() => parseTufTime(value), 'INVALID_TIME');
      });
    }

    it('names the field in the message', () => {
      const err = expectFormatError(
        () => parseTufTime('soon', 'targets.json expires'),
        'INVALID_TIME',
      );
      expect(err.message).to.contain('targets.json expires');
    });
  });

  describe('for any whole-second instant (property)', () => {
    it('round-trips through formatTufTime', () => {
      fc.assert(
        fc.property(fc.integer({ min: -30_610_224_000, max: 253_402_300_799 }), (s) => {
          const text = formatTufTime(new Date(s * 1000));
          expect(text).to.match(TUF_TIME_RE);
          expect(parseTufTime(text).getTime()).to.equal(s * 1000);
        }),
      );
    });
  });
});

describe('isExpired', () => {
  const expires = '2026-01-31T00:00:00Z';
  const table: [string, string, boolean][] = [
    ['one second before', '2026-01-30T23:59:59Z', false],
    ['one millisecond before', '2026-01-30T23:59:59.999Z', false],
    ['at the exact second', '2026-01-31T00:00:00Z', true],
    ['a millisecond after', '2026-01-31T00:00:00.001Z', true],
    ['a year after', '2027-01-31T00:00:00Z', true],
  ];
  for (const [name, now, expired] of table) {
    describe(`when now is ${name}`, () => {
      it(expired ? 'says expired' : 'says not expired', () => {
        expect(isExpired(expires, new Date(now))).to.equal(expired);
      });
    });
  }

  describe('when expires is malformed', () => {
    it('refuses it with INVALID_TIME rather than treating it as never expiring', () => {
      expectFormatError(() => isExpired('never', new Date()), 'INVALID_TIME');
    });
  });
});

describe('systemClock', () => {
  it('returns the current time', () => {
    const before = Date.now();
    const now = systemClock().getTime();
    expect(now).to.be.within(before, Date.now());
  });
});
