import { expect } from 'chai';
import { normalizeArgv } from '../../src/base.js';

describe("normalizeArgv: aktualizr-lite's spellings of --json (issue 11 §6)", function () {
  const rest = ['--src-dir', '/mnt/usb/b'];
  // Generated: every spelling, at the start, the middle and the end of the arguments.
  const spellings: [string[], boolean][] = [
    [['--json'], true],
    [['--json', '1'], true],
    [['--json', 'true'], true],
    [['--json=1'], true],
    [['--json=true'], true],
    [['--json', '0'], false],
    [['--json', 'false'], false],
    [['--json=0'], false],
    [['--json=false'], false],
  ];
  for (const [spelling, on] of spellings) {
    for (const at of [0, 1, 2]) {
      it(`reads ${spelling.join(' ')} at position ${at} as ${on ? '--json' : 'no JSON'}`, function () {
        const argv = [...rest.slice(0, at), ...spelling, ...rest.slice(at)];
        const want = on ? [...rest.slice(0, at), '--json', ...rest.slice(at)] : rest;
        expect(normalizeArgv(argv)).to.deep.equal(want);
      });
    }
  }

  it('leaves a following argument that is not a switch value alone', function () {
    expect(normalizeArgv(['--json', '--src-dir', 'x'])).to.deep.equal(['--json', '--src-dir', 'x']);
  });

  it('leaves everything after -- alone', function () {
    expect(normalizeArgv(['--', '--json', '1'])).to.deep.equal(['--', '--json', '1']);
  });
});
