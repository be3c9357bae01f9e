/**
 * One instance at a time: `<root>/var/lock/aklite.lock`, created with O_EXCL and holding
 * the owner's pid. A lock whose pid is no longer alive (a power cut or SIGKILL) is taken over.
 */
import { open, readFile, rename, rm, mkdir, rmdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { AkliteError, isErrno, messageOf } from './errors.js';
import { pathExists } from './fsutil.js';

export interface Lock {
  release(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return !isErrno(err, 'ESRCH');
  }
}

async function tryCreate(file: string): Promise<boolean> {
  try {
    const fh = await open(file, 'wx', 0o644);
    try {
      await fh.writeFile(`${process.pid}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    return true;
  } catch (err) {
    if (isErrno(err, 'EEXIST')) return false;
    throw new AkliteError('LOCKED', `cannot create the lock file ${file}: ${messageOf(err)}`, {
      cause: err,
      file,
    });
  }
}

export async function acquireLock(file: string): Promise<Lock> {
  const dir = dirname(file);
  const createdDir = !(await pathExists(dir));
  if (createdDir) await mkdir(dir, { recursive: true });
  for (let attempt = 0; attempt < 3; attempt++) {
    if (await tryCreate(file)) {
      return {
        async release() {
          const text = await readFile(file, 'utf8').catch(() => '');
          if (text.trim() === String(process.pid)) await rm(file, { force: true });
          if (createdDir) await rmdir(dir).catch(() => undefined);
        },
      };
    }
    const text = await readFile(file, 'utf8').catch(() => '');
    const pid = Number(text.trim());
    if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
      throw new AkliteError(
        'LOCKED',
        `Failed to obtain the aklite lock ${file}: another aklite-offline instance (pid ${pid}) is running; ` +
          'wait for it to finish and run the command again',
        { file },
      );
    }
    // Stale: move it aside atomically so two takers cannot both remove a fresh lock.
    const aside = `${file}.stale-${randomBytes(4).toString('hex')}`;
    await rename(file, aside).catch(() => undefined);
    await rm(aside, { force: true });
  }
  throw new AkliteError(
    'LOCKED',
    `Failed to obtain the aklite lock ${file}; remove it if no aklite-offline is running`,
    { file },
  );
}
