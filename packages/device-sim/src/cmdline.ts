import { randomUUID } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { devicePaths } from '@offline-ota/format';
import { DeviceSimError, isErrno } from './errors.js';
import { writeFileAtomic } from './fsutil.js';

/** The kernel command line of a simulated boot (contract 2 in README.md). */
export const cmdlineFor = (deployment: string): string =>
  `console=ttyS0 root=/dev/vda2 ostree=${deployment}\n`;

export async function writeCmdline(root: string, deployment: string): Promise<void> {
  await writeFileAtomic(devicePaths(root).procCmdline, cmdlineFor(deployment));
}

/**
 * A fresh boot id, as the kernel makes one per boot (`/proc/sys/kernel/random/boot_id`):
 * what tells the device CLI's lock that the boot which took it is over.
 */
export async function writeBootId(root: string): Promise<void> {
  const file = devicePaths(root).bootId;
  await mkdir(dirname(file), { recursive: true });
  await writeFileAtomic(file, `${randomUUID()}\n`);
}

/** The `ostree=` argument of `<root>/proc/cmdline`. */
export async function readOstreeArg(root: string): Promise<string> {
  const file = devicePaths(root).procCmdline;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) {
      throw new DeviceSimError(
        'DEVICE_INVALID',
        `${file} does not exist: ${root} is not a booted device-sim device`,
        {
          cause: err,
          file,
        },
      );
    }
    throw err;
  }
  const arg = text
    .trim()
    .split(/\s+/)
    .find((a) => a.startsWith('ostree='));
  if (arg === undefined) {
    throw new DeviceSimError(
      'DEVICE_INVALID',
      `${file} has no ostree= argument; reboot the device with device-sim reboot`,
      {
        file,
      },
    );
  }
  return arg.slice('ostree='.length);
}
