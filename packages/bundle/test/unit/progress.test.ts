import { expect } from 'chai';
import { formatBytes, formatDuration, progressLine } from '@offline-ota/format';
import { progressPrinter } from '../../src/cli/progress.js';
import { ByteProgress, type ProgressEvent } from '../../src/progress.js';

describe('progress', () => {
  describe('ByteProgress', () => {
    it('reports at most once per interval, and always the final count', () => {
      let t = 0;
      const seen: ProgressEvent[] = [];
      const p = new ByteProgress(
        (e) => seen.push(e),
        'pack',
        'Writing',
        1000,
        100,
        () => t,
      );
      p.add(10); // first report
      p.add(10); // same instant: held back
      t = 150;
      p.add(10); // reported
      p.add(970);
      p.finish();
      expect(seen.map((e) => e.bytes)).to.deep.equal([
        { done: 10, total: 1000 },
        { done: 30, total: 1000 },
        { done: 1000, total: 1000 },
      ]);
    });

    it('leaves the total out when it is unknown and never moves backwards', () => {
      const seen: ProgressEvent[] = [];
      const p = new ByteProgress((e) => seen.push(e), 'ostree', 'Pulling', undefined, 0);
      p.set(50);
      p.set(20);
      p.finish();
      expect(seen.map((e) => e.bytes)).to.deep.equal([{ done: 50 }, { done: 50 }]);
    });
  });

  describe('the progress line', () => {
    it('shows bytes, percentage, rate and ETA', () => {
      const line = progressLine(
        { label: 'Writing b.zip', done: 1024 * 1024, total: 4 * 1024 * 1024 },
        2,
      );
      expect(line).to.equal('Writing b.zip  1.0 MiB / 4.0 MiB  25%  512.0 KiB/s  ETA 0:06');
    });

    // One drawer for both CLIs (format's ProgressDrawer): bundlectl's line now also shows the
    // time elapsed when the total is unknown, as aklite-offline's did.
    it('shows bytes, rate and time elapsed when the total is unknown', () => {
      expect(progressLine({ label: 'Pulling', done: 2048 }, 1)).to.equal(
        'Pulling  2.0 KiB  2.0 KiB/s  0:01',
      );
    });

    it('formats sizes and durations', () => {
      expect(formatBytes(999)).to.equal('999 B');
      expect(formatBytes(5 * 1024 ** 3)).to.equal('5.0 GiB');
      expect(formatDuration(75)).to.equal('1:15');
      expect(formatDuration(3725)).to.equal('1:02:05');
    });
  });

  describe('progressPrinter', () => {
    function setup(isTTY: boolean, json: boolean) {
      const drawn: string[] = [];
      const lines: string[] = [];
      const warnings: string[] = [];
      const printer = progressPrinter({
        stream: { isTTY, columns: 200, write: (s: string) => drawn.push(s) },
        log: (l) => lines.push(l),
        warn: (l) => warnings.push(l),
        json,
        now: () => 0,
      });
      return { printer, drawn, lines, warnings };
    }
    const bytes: ProgressEvent = {
      step: 'apps',
      message: 'Copying apps',
      bytes: { done: 1, total: 2 },
    };

    it('draws byte progress on one line with \\r on a TTY and clears it before a message', () => {
      const s = setup(true, false);
      s.printer(bytes);
      s.printer({ step: 'verify', message: 'Verifying' });
      expect(s.drawn[0]).to.equal('\rCopying apps  1 B / 2 B  50%\x1b[K');
      expect(s.drawn[1]).to.equal('\r\x1b[K');
      expect(s.lines).to.deep.equal(['Verifying']);
    });

    it('keeps the line whole when the terminal reports no width, and cuts it to a known width', () => {
      const drawn: string[] = [];
      const make = (columns: number) =>
        progressPrinter({
          stream: { isTTY: true, columns, write: (s: string) => drawn.push(s) },
          log: () => undefined,
          warn: () => undefined,
          json: false,
          now: () => 0,
        });
      make(0)(bytes);
      make(10)(bytes);
      expect(drawn).to.deep.equal(['\rCopying apps  1 B / 2 B  50%\x1b[K', '\rCopying a\x1b[K']);
    });

    it('stays silent about bytes when stderr is not a TTY', () => {
      const s = setup(false, false);
      s.printer(bytes);
      s.printer({ step: 'warning', message: 'big file' });
      s.printer.end();
      expect(s.drawn).to.deep.equal([]);
      expect(s.warnings).to.deep.equal(['WARNING: big file']);
    });

    it('prints nothing at all with --json', () => {
      const s = setup(true, true);
      s.printer(bytes);
      s.printer({ step: 'done', message: 'Done' });
      expect([...s.drawn, ...s.lines, ...s.warnings]).to.deep.equal([]);
    });
  });
});
