// The test files, longest first: in parallel mode each of mocha's two workers takes the next
// file as it frees up, so a long file started last would leave one worker idle while the
// other finishes it. The order comes from the suite's own timings (the power cuts, install
// and the tamper table are the longest); files not named here follow, then the unit tests.
'use strict';
const { readdirSync } = require('node:fs');
const { join } = require('node:path');

const E2E = 'dist-test/test/e2e';
const LONGEST_FIRST = [
  'power-cut-install',
  'power-cut-run',
  'install',
  'tamper',
  'codes',
  'trust-store',
  'run',
  'update-control',
  'test-bundles',
  'boot',
  'delta',
  'cli',
];
let e2e = [];
try {
  e2e = readdirSync(join(__dirname, E2E)).filter((f) => f.endsWith('.test.js'));
} catch {
  // not built yet: mocha then reports that no test files were found
}
const rank = (f) => {
  const i = LONGEST_FIRST.indexOf(f.replace(/\.test\.js$/, ''));
  return i === -1 ? LONGEST_FIRST.length : i;
};
e2e.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));

module.exports = {
  spec: [...e2e.map((f) => `${E2E}/${f}`), 'dist-test/test/unit/**/*.test.js'],
};
