import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { destroyDevice } from '../../src/index.js';

/**
 * A scratch directory per test file. `cleanup` destroys every device directly inside it
 * (clearing OSTree's immutable bits), then removes the rest.
 */
export async function scratch(
  prefix: string,
): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `device-sim-${prefix}-`));
  const cleanup = async (): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) await destroyDevice(join(dir, entry.name));
    }
    await rm(dir, { recursive: true, force: true });
  };
  return { dir, cleanup };
}

/** Simulates an install the way aklite-offline does it: pull-local + deploy + fw_setenv. */
export function simulateInstall(
  root: string,
  factoryDir: string,
  commit: string,
  os = 'lmp',
): void {
  const sysroot = join(root, 'sysroot');
  execFileSync(
    'ostree',
    [`--repo=${sysroot}/ostree/repo`, 'pull-local', join(factoryDir, 'ostree_repo'), commit],
    { stdio: 'pipe' },
  );
  execFileSync('ostree', ['admin', `--sysroot=${sysroot}`, 'deploy', `--os=${os}`, commit], {
    stdio: 'pipe',
  });
  execFileSync(
    'fw_setenv',
    ['-c', join(root, 'etc/fw_env.config'), 'upgrade_available', '1', 'bootcount', '0'],
    {
      stdio: 'pipe',
    },
  );
}

export function fwPrintenv(root: string): Record<string, string> {
  const out = execFileSync('fw_printenv', ['-c', join(root, 'etc/fw_env.config')], {
    encoding: 'utf8',
  });
  return Object.fromEntries(
    out
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

/** The error a promise rejects with; fails the test when it resolves. */
export async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection, but the promise resolved');
}

export function fwSetenv(root: string, ...pairs: string[]): void {
  execFileSync('fw_setenv', ['-c', join(root, 'etc/fw_env.config'), ...pairs], { stdio: 'pipe' });
}
