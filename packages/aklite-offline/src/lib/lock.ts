/**
 * One instance at a time: `<root>/var/lock/aklite.lock`, created with O_EXCL and holding
 * the owner's pid on its first line and the boot id of the boot it was taken in on its
 * second (the kernel's `/proc/sys/kernel/random/boot_id`, `bootId` of the device paths).
 * A lock is stale, and taken over, when it was taken in another boot (its pid may belong
 * to an unrelated process by now: issue 14 §6) or when its pid is no longer alive (a
 * SIGKILL). Without a readable boot id, the pid alone decides.
 */
import { open, readFile, rename, rm, mkdir, rmdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { AkliteError, isErrno, messageOf } from './errors.js';
import { pathExists } from './fsutil.js';

export interface Lock {
  release(): Promise<void>;
}

export interface LockOptions {
  /** The file holding the current boot id; none: the pid alone decides. */
  bootIdFile?: string;
}

async function readBootId(file: string | undefined): Promise<string | undefined> {
  if (file === undefined) return undefined;
  const text = await readFile(file, 'utf8').catch(() => '');
  const id = text.trim();
  return /^[0-9a-f-]{1,64}$/i.test(id) ? id : undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return !isErrno(err, 'ESRCH');
  }
}

async function tryCreate(file: string, bootId: string | undefined): Promise<boolean> {
  try {
    const fh = await open(file, 'wx', 0o644);
    try {
      await fh.writeFile(`${process.pid}\n${bootId ?? ''}\n`);
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

export async function acquireLock(file: string, opts: LockOptions = {}): Promise<Lock> {
  const bootId = await readBootId(opts.bootIdFile);
  const dir = dirname(file);
  const createdDir = !(await pathExists(dir));
  if (createdDir) await mkdir(dir, { recursive: true });
  for (let attempt = 0; attempt < 3; attempt++) {
    if (await tryCreate(file, bootId)) {
      return {
        async release() {
          const text = await readFile(file, 'utf8').catch(() => '');
          if (text.split('\n')[0] === String(process.pid)) await rm(file, { force: true });
          if (createdDir) await rmdir(dir).catch(() => undefined);
        },
      };
    }
    const [first = '', second = ''] = (await readFile(file, 'utf8').catch(() => '')).split('\n');
    const pid = Number(first.trim());
    const heldBoot = second.trim();
    const otherBoot = bootId !== undefined && heldBoot !== '' && heldBoot !== bootId;
    if (!otherBoot && Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
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
