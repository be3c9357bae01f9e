import { expect } from 'chai';
import {
  formatBytes,
  formatDuration,
  progressLine as drawnLine,
  ProgressDrawer,
  type ProgressStream,
} from '@offline-ota/format';
import type { ByteProgress } from '../../src/lib/ports.js';
import { phaseProgress } from '../../src/progress.js';

/** The line format's drawer draws for a library progress report (aklite's phase labels). */
const progressLine = (p: ByteProgress, elapsedSeconds: number): string =>
  drawnLine(phaseProgress(p), elapsedSeconds);

const MiB = 1024 * 1024;

/** A stderr stand-in that records what is written. */
function fakeStream(isTTY: boolean, columns?: number): ProgressStream & { out: string[] } {
  const out: string[] = [];
  return { isTTY, columns, out, write: (s: string) => out.push(s) };
}

function drawerWith(stream: ProgressStream, enabled = true) {
  let t = 0;
  const shared = new ProgressDrawer({ stream, enabled, now: () => t });
  const drawer = {
    update: (p: ByteProgress) => shared.update(phaseProgress(p)),
    clear: () => shared.clear(),
  };
  return { drawer, at: (ms: number) => (t = ms) };
}

const copy = (done: number, total?: number): ByteProgress => ({
  phase: 'copy-apps',
  done,
  total,
});

describe('progress', () => {
  describe('progressLine', () => {
    it('shows bytes of the total, percentage, rate and ETA', () => {
      expect(progressLine(copy(50 * MiB, 200 * MiB), 5)).to.equal(
        'Copying app blobs  50.0 MiB / 200.0 MiB  25%  10.0 MiB/s  ETA 0:15',
      );
    });

    it('shows bytes, rate and time elapsed when the total is unknown', () => {
      expect(progressLine({ phase: 'write-ostree', done: 30 * MiB, total: undefined }, 3)).to.equal(
        'Writing OSTree objects  30.0 MiB  10.0 MiB/s  0:03',
      );
    });

    it('shows no rate before time has passed and no ETA once done', () => {
      expect(progressLine(copy(0, 10), 0)).to.equal('Copying app blobs  0 B / 10 B  0%');
      expect(progressLine(copy(10, 10), 2)).to.equal('Copying app blobs  10 B / 10 B  100%  5 B/s');
    });

    it('formats bytes and durations', () => {
      expect(formatBytes(1536)).to.equal('1.5 KiB');
      expect(formatBytes(3 * 1024 * MiB)).to.equal('3.0 GiB');
      expect(formatDuration(75)).to.equal('1:15');
      expect(formatDuration(3725)).to.equal('1:02:05');
    });
  });

  describe('ProgressDrawer', () => {
    describe('when stderr is a TTY', () => {
      it('draws one line with \\r, redrawn in place', () => {
        const s = fakeStream(true, 120);
        const { drawer, at } = drawerWith(s);
        drawer.update(copy(0, 100));
        at(1000);
        drawer.update(copy(50, 100));
        expect(s.out).to.have.length(2);
        for (const w of s.out) {
          expect(w.startsWith('\r') && w.endsWith('\x1b[K') && !w.includes('\n')).to.equal(true);
        }
        expect(s.out[1]).to.contain('50 B / 100 B  50%  50 B/s  ETA 0:01');
      });

      it('redraws at most every 100 ms, but always at the end of a phase and for a new phase', () => {
        const s = fakeStream(true, 120);
        const { drawer, at } = drawerWith(s);
        drawer.update(copy(1, 100));
        for (let i = 2; i < 50; i++) {
          at(i);
          drawer.update(copy(i, 100));
        }
        expect(s.out).to.have.length(1);
        at(60);
        drawer.update(copy(100, 100));
        expect(s.out).to.have.length(2);
        at(61);
        drawer.update({ phase: 'pull-ostree', done: 0, total: 10 });
        expect(s.out).to.have.length(3);
        expect(s.out[2]).to.contain('Pulling OSTree objects');
        at(200);
        drawer.update({ phase: 'pull-ostree', done: 5, total: 10 });
        expect(s.out).to.have.length(4);
      });

      it('cuts the line to the terminal width, and to 80 columns when it reports 0', () => {
        for (const [cols, width] of [
          [30, 29],
          [0, 79],
        ] as const) {
          const s = fakeStream(true, cols);
          const { drawer } = drawerWith(s);
          drawer.update({ phase: 'extract-repo', done: 123_456_789, total: 987_654_321 });
          const line = s.out[0].slice(1, -'\x1b[K'.length);
          expect(line.length).to.be.at.most(width);
        }
      });

      it('erases a drawn line on clear, and only then', () => {
        const s = fakeStream(true, 80);
        const { drawer } = drawerWith(s);
        drawer.clear();
        expect(s.out).to.deep.equal([]);
        drawer.update(copy(1, 2));
        drawer.clear();
        drawer.clear();
        expect(s.out.slice(1)).to.deep.equal(['\r\x1b[K']);
      });
    });

    it('draws nothing when stderr is not a TTY', () => {
      const s = fakeStream(false, 80);
      const { drawer } = drawerWith(s);
      drawer.update(copy(1, 2));
      drawer.update(copy(2, 2));
      drawer.clear();
      expect(s.out).to.deep.equal([]);
    });

    it('draws nothing with --json (disabled), even on a TTY', () => {
      const s = fakeStream(true, 80);
      const { drawer } = drawerWith(s, false);
      drawer.update(copy(2, 2));
      drawer.clear();
      expect(s.out).to.deep.equal([]);
    });
  });
});
