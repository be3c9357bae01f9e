import { expect } from 'chai';
import Check from '../../src/commands/check.js';

describe('check --help', function () {
  // Issue 14 §6: a corrupt tuf/ entry of a single-file bundle makes check exit 70.
  // Issue 10 §2: check gives the code install would give when it would refuse (30/41/42).
  for (const code of [0, 1, 4, 6, 8, 11, 12, 14, 15, 16, 30, 41, 42, 70]) {
    it(`lists exit code ${code}`, function () {
      expect(Check.description).to.match(new RegExp(`(^|[ /])${code}([ /,]|$)`));
    });
  }
});
