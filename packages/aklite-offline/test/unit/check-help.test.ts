import { expect } from 'chai';
import { allStatuses } from '@offline-ota/format';
import Check from '../../src/commands/check.js';
import Install from '../../src/commands/install.js';
import List from '../../src/commands/list.js';
import Rollback from '../../src/commands/rollback.js';
import Run from '../../src/commands/run.js';

describe('check --help', function () {
  // Issue 14 §6: a corrupt tuf/ entry of a single-file bundle makes check exit 70.
  // Issue 10 §2: check gives the code install would give when it would refuse (30/41/42).
  for (const code of [0, 1, 4, 6, 8, 11, 12, 14, 15, 16, 30, 41, 42, 70]) {
    it(`lists exit code ${code}`, function () {
      expect(Check.description).to.match(new RegExp(`(^|[ /])${code}([ /,]|$)`));
    });
  }
});

describe('--help exit codes (issue 11 §5)', function () {
  const commands = { check: Check, install: Install, run: Run, rollback: Rollback, list: List };
  const table = new Map(allStatuses().map((s) => [s.value as number, s]));
  for (const [name, cmd] of Object.entries(commands)) {
    it(`${name}: every listed code is rendered from the status table, none reserved`, function () {
      const m = /Exit codes:\n((?: {2}\d+ .*(?:\n|$))+)/.exec(cmd.description ?? '');
      expect(m, `${name} --help lists its exit codes`).to.not.equal(null);
      const items = m![1]
        .trimEnd()
        .split('\n')
        .map((l) => l.trim());
      expect(items.length).to.be.greaterThan(2);
      for (const item of items) {
        const code = Number(/^(\d+) /.exec(item)?.[1]);
        const info = table.get(code);
        expect(info, item).to.not.equal(undefined);
        expect(item).to.equal(`${code} ${info!.description}`);
        expect(info!.reserved, `${name} lists reserved ${code}`).to.equal(undefined);
      }
    });
  }
});
