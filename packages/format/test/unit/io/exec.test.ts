import { expect } from 'chai';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExecError } from '../../../src/io/errors.js';
import { execCapture, execChecked, tailLines } from '../../../src/io/exec.js';

async function thrown(p: Promise<unknown>): Promise<ExecError> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(ExecError);
    return err as ExecError;
  }
  expect.fail('expected a rejection');
}

/** Running (a zombie waiting for a reaper counts as gone). */
const alive = async (pid: number): Promise<boolean> => {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat !== undefined && !/^\S+ \(.*\) Z/.test(stat);
};

describe('io/exec', () => {
  describe('execCapture', () => {
    it('resolves with the exit code and both outputs, also for a non-zero exit', async () => {
      const r = await execCapture('sh', ['-c', 'echo out; echo err >&2; exit 3']);
      expect([r.code, r.signal, r.stdout, r.stderr]).to.deep.equal([3, null, 'out\n', 'err\n']);
      expect(r.command).to.deep.equal(['sh', '-c', 'echo out; echo err >&2; exit 3']);
    });

    it('keeps only the tail of stderr', async () => {
      const r = await execCapture('sh', ['-c', 'printf "%0100d" 0 >&2; echo END >&2'], {
        stderrTail: 10,
      });
      expect(r.stderr).to.equal('000000END\n');
    });

    it('rejects NOT_FOUND for a program that does not exist', async () => {
      const err = await thrown(execCapture('/nonexistent/tool', ['x']));
      expect(err.code).to.equal('NOT_FOUND');
      expect(err.command).to.deep.equal(['/nonexistent/tool', 'x']);
    });

    it('kills a program that writes more than maxStdout (OUTPUT_TOO_LARGE)', async () => {
      const err = await thrown(execCapture('sh', ['-c', 'yes'], { maxStdout: 64 * 1024 }));
      expect(err.code).to.equal('OUTPUT_TOO_LARGE');
      expect(err.stdout.length).to.be.at.most(64 * 1024);
    });

    it('kills the whole process group on timeout with processGroup', async function () {
      this.timeout(10000);
      const dir = await mkdtemp(join(tmpdir(), 'io-exec-test-'));
      try {
        const pidFile = join(dir, 'pid');
        const started = Date.now();
        const err = await thrown(
          execCapture('sh', ['-c', `sleep 30 & echo $! > ${pidFile}; wait`], {
            timeoutMs: 300,
            processGroup: true,
          }),
        );
        expect(err.code).to.equal('TIMED_OUT');
        expect(err.signal).to.equal('SIGKILL');
        expect(Date.now() - started).to.be.below(5000);
        const grandchild = Number((await readFile(pidFile, 'utf8')).trim());
        await new Promise((r) => setTimeout(r, 100));
        expect(await alive(grandchild), 'the background sleep was killed').to.equal(false);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  describe('execChecked', () => {
    it('rejects FAILED with the command, the exit code and the stderr tail in the message', async () => {
      const err = await thrown(
        execChecked('sh', ['-c', 'for i in 1 2 3 4 5 6 7; do echo line$i >&2; done; exit 4']),
      );
      expect([err.code, err.exitCode]).to.deep.equal(['FAILED', 4]);
      expect(err.message).to.contain('`sh -c').and.contain('exited 4');
      expect(err.message).to.contain('line3\nline4\nline5\nline6\nline7');
      expect(err.message).not.to.contain('line2');
    });

    it('resolves for exit 0', async () => {
      expect((await execChecked('true', [])).code).to.equal(0);
    });
  });

  describe('tailLines', () => {
    it('gives the last non-empty lines', () => {
      expect(tailLines('a\n\nb\nc\n\n', 2)).to.equal('b\nc');
      expect(tailLines('\n \n', 2)).to.equal('');
    });
  });
});
