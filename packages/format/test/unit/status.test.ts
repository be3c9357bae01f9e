import { expect } from 'chai';
import {
  allStatuses,
  describe as describeStatus,
  isSuccess,
  StatusCode,
  type StatusName,
} from '../../src/status.js';

const SUCCESS = [0, 3, 5, 10, 16, 17, 18, 75, 100];
const entries = Object.entries(StatusCode) as [StatusName, number][];

describe('StatusCode', () => {
  it('gives every status a unique value', () => {
    const values = entries.map(([, v]) => v);
    expect(new Set(values).size).to.equal(values.length);
  });

  it('keeps the pinned numbers of the contract', () => {
    expect(StatusCode).to.include({
      Ok: 0,
      CheckinOkCached: 3,
      CheckinInvalidBundleMetadata: 15,
      CheckinUpdateNewVersion: 16,
      InstallAlreadyInstalled: 75,
      InstallNeedsReboot: 100,
      InstallDowngradeAttempt: 102,
    });
  });
});

describe('isSuccess', () => {
  for (const [name, value] of entries) {
    const success = SUCCESS.includes(value);
    it(`is ${String(success)} for ${value} (${name})`, () => {
      expect(isSuccess(value)).to.equal(success);
    });
  }

  describe('when the code is not in the table', () => {
    for (const value of [2, 7, 19, 101, -1, 1.5, NaN]) {
      it(`is false for ${value}`, () => {
        expect(isSuccess(value)).to.equal(false);
      });
    }
  });

  it('is true for exactly the success set', () => {
    expect(entries.filter(([, v]) => isSuccess(v)).map(([, v]) => v)).to.have.members(SUCCESS);
  });
});

describe('describe (status)', () => {
  for (const [name, value] of entries) {
    it(`names ${value} as ${name} and says what to do next`, () => {
      const text = describeStatus(value);
      expect(text).to.contain(`(${value} ${name})`);
      expect(text.split(`(${value} ${name}).`)[1]?.trim()).to.not.equal('');
    });
  }

  describe('when the code is not in the table', () => {
    it('says the status is unknown and gives the number', () => {
      expect(describeStatus(7)).to.equal('Unknown status 7');
    });
  });
});

describe('allStatuses', () => {
  it('lists every status once, ordered by value', () => {
    const values = allStatuses().map((s) => s.value);
    expect(values).to.deep.equal([...values].sort((a, b) => a - b));
    expect(values).to.have.members(entries.map(([, v]) => v));
  });
});
