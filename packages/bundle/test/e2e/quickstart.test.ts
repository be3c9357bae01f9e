/**
 * README.md's Quick start, run as it is written (issue 11 §8): its `sh` blocks are taken
 * from the README itself, so the test cannot drift from the text. Each command (a line,
 * with its `\` continuations) runs in order in one bash, from the repository root as the
 * README says, where the network is unreachable; a trailing `# N` is the exit code the
 * README promises (default 0). `mktemp -d` makes the scratch directory inside this test's
 * own temporary directory (TMPDIR), so nothing is left behind and no offline key lands in
 * the repository tree.
 */
import { expect } from 'chai';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { offlineArgv } from '@offline-ota/testkit';
import { tempDir } from '../helpers.js';

/** dist-test/test/e2e → the repository root. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', '..');
const DEVICE_SIM = join(ROOT, 'packages', 'device-sim', 'bin', 'run.js');

/** Tears a simulated device down: its containers and engine store, then OSTree's immutable bits. */
async function destroy(device: string): Promise<void> {
  if (!existsSync(device)) return;
  try {
    execFileSync(process.execPath, [DEVICE_SIM, 'destroy', device], { stdio: 'ignore' });
  } catch {
    // already gone
  }
  const deploy = join(device, 'sysroot', 'ostree', 'deploy');
  for (const os of await readdir(deploy).catch(() => [] as string[]))
    for (const d of await readdir(join(deploy, os, 'deploy')).catch(() => [] as string[]))
      try {
        execFileSync('chattr', ['-i', join(deploy, os, 'deploy', d)], { stdio: 'ignore' });
      } catch {
        // not immutable
      }
}

interface Step {
  command: string;
  code: number;
}

/** The commands of the `sh` blocks of README.md's `## Quick start` section, in order. */
export function quickStartSteps(readme: string): Step[] {
  const start = readme.indexOf('\n## Quick start');
  if (start < 0) throw new Error('README.md has no "## Quick start" section');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const steps: Step[] = [];
  for (const block of section.matchAll(/```sh\n([\s\S]*?)```/g)) {
    const lines = block[1].replace(/\\\n\s*/g, '').split('\n');
    for (const line of lines) {
      const trimmed = line.trim();
      if (trimmed === '' || trimmed.startsWith('#')) continue;
      const m = /^(.*?)\s+#\s*(\d+)\s*$/.exec(trimmed);
      steps.push(m ? { command: m[1], code: Number(m[2]) } : { command: trimmed, code: 0 });
    }
  }
  return steps;
}

/** One bash script: each step, its exit code checked; the first mismatch stops it. */
function script(steps: readonly Step[]): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return steps
    .map(
      (s) =>
        `echo "+ "${q(s.command)} >&2\n${s.command}\nrc=$?\n` +
        `if [ "$rc" -ne ${s.code} ]; then echo "QUICKSTART: "${q(s.command)}" exited $rc, the README says ${s.code}" >&2; exit 1; fi`,
    )
    .join('\n');
}

describe("README.md's Quick start, verbatim (issue 11 §8)", function () {
  // Two Targets with sample app images, bundles, a device with real containers.
  this.timeout(600000);
  let dir: string;
  let cleanup: () => Promise<void>;

  before(async () => {
    ({ dir, cleanup } = await tempDir('bundlectl-quickstart-'));
  });
  after(async () => {
    for (const scratch of await readdir(dir).catch(() => [] as string[]))
      await destroy(join(dir, scratch, 'device'));
    await cleanup();
  });

  it('extracts the commands, with the exit codes the README gives', async () => {
    const steps = quickStartSteps(await readFile(join(ROOT, 'README.md'), 'utf8'));
    expect(steps[0].command).to.equal('export PATH="$PWD/bin:$PATH"');
    expect(steps.map((s) => s.code)).to.include.members([100]);
    expect(steps.some((s) => s.command.startsWith('aklite-offline run'))).to.equal(true);
    expect(steps.find((s) => s.command.startsWith('bundlectl targets publish'))?.command).to.match(
      /--tag main --app/,
    );
  });

  it('runs from a scratch directory with the CLIs on PATH: every command gives its code, the device ends on v2', async () => {
    const steps = quickStartSteps(await readFile(join(ROOT, 'README.md'), 'utf8'));
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
      execFile(
        ...offlineArgv('bash', ['-c', script(steps)]),
        {
          cwd: ROOT,
          env: { ...process.env, TMPDIR: dir, NO_COLOR: '1' },
          maxBuffer: 64 * 1024 * 1024,
        },
        (err, stdout, stderr) =>
          done({
            code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1,
            stdout,
            stderr,
          }),
      );
    });
    expect(r.code, `${r.stderr.slice(-4000)}`).to.equal(0);
    // The last command, `aklite-offline current`, names the Target the device runs.
    expect(r.stdout).to.match(/Target: sim-x86-lmp-2\n/);
    // Nothing was written into the repository: the scratch directory is under TMPDIR.
    for (const d of ['factory', 'offline-keys', 'usb', 'device'])
      expect(existsSync(join(ROOT, d)), d).to.equal(false);
    const scratch = await readdir(dir);
    expect(scratch).to.have.length(1);
    expect(await readdir(join(dir, scratch[0]))).to.include.members([
      'factory',
      'offline-keys',
      'bundle-2.zip',
    ]);
  });
});
