/**
 * The command map of aklite-offline: every command id and its class, listed explicitly
 * (oclif's `explicit` command discovery, `oclif.commands` in package.json). The workspace
 * CLI and the one-file device CLI (`cli/device-entry.ts`, `pnpm build:device`) both load
 * their commands from here, so a bundle that has no `commands/` directory to scan runs the
 * same commands. A new command is added here as well as in `commands/`.
 */
import Allow from '../commands/allow.js';
import Boot from '../commands/boot.js';
import Check from '../commands/check.js';
import Current from '../commands/current.js';
import Defer from '../commands/defer.js';
import Install from '../commands/install.js';
import List from '../commands/list.js';
import Probation from '../commands/probation.js';
import Rollback from '../commands/rollback.js';
import Run from '../commands/run.js';
import Status from '../commands/status.js';
import Usb from '../commands/usb.js';

export const COMMANDS = {
  allow: Allow,
  boot: Boot,
  check: Check,
  current: Current,
  defer: Defer,
  install: Install,
  list: List,
  probation: Probation,
  rollback: Rollback,
  run: Run,
  status: Status,
  usb: Usb,
};
