/**
 * The systemd units and udev rules shipped in `packages/aklite-offline/systemd/`.
 *
 * Every unit file there (whoever adds it) passes `systemd-analyze verify` without a single
 * warning. The units run the CLI where a device has it, `/usr/bin/aklite-offline`, and
 * verify refuses an `Exec*=` program that does not exist, so each unit is verified as a
 * copy in which that one path is this checkout's CLI (`bin/run.js`); nothing else changes,
 * and any other program a unit names must exist here. systemd 252 has no `udevadm verify`,
 * so the rules get a structural check: known keys and operators, quoted values, every
 * GOTO with its LABEL, and every unit they start shipped here.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { allStatuses } from '@offline-ota/format';

const HERE = dirname(fileURLToPath(import.meta.url));
/** dist-test/test/unit → the package. */
const PKG = resolve(HERE, '../../..');
const SYSTEMD = join(PKG, 'systemd');
const CLI = join(PKG, 'bin/run.js');
/** Where a device has the CLI (docs/device-integration.md). */
const DEVICE_CLI = '/usr/bin/aklite-offline';
const UNIT_RE = /\.(service|timer|socket|path|target|mount|automount|slice)$/;

interface Verified {
  code: number;
  output: string;
}

/** `systemd-analyze verify` of unit files, as copies that run this checkout's CLI. */
async function verifyUnits(files: Record<string, string>): Promise<Verified> {
  const dir = await mkdtemp(join(tmpdir(), 'aklite-units-'));
  try {
    const paths: string[] = [];
    for (const [name, text] of Object.entries(files)) {
      const path = join(dir, name);
      // Only the program of Exec*= lines (after systemd's prefixes -@:+!|) is replaced.
      await writeFile(
        path,
        text.replace(
          /^(Exec[A-Za-z]*=[-@:+!|]*)\/usr\/bin\/aklite-offline(?=\s|$)/gm,
          (_, head: string) => `${head}${CLI}`,
        ),
      );
      paths.push(path);
    }
    return await new Promise((res) => {
      execFile('systemd-analyze', ['verify', ...paths], (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        res({ code, output: (stdout + stderr).trim() });
      });
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function shipped(re: RegExp): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(SYSTEMD)).sort())
    if (re.test(name)) out[name] = await readFile(join(SYSTEMD, name), 'utf8');
  return out;
}

/** `Key=value` settings of a unit file (the last one wins, as in systemd). */
function settings(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) out.set(m[1], m[2]);
  }
  return out;
}

describe('the shipped systemd units (systemd/)', function () {
  this.timeout(60000);
  let units: Record<string, string>;
  before(async () => {
    units = await shipped(UNIT_RE);
  });

  it('include the USB trigger template', function () {
    expect(Object.keys(units)).to.include('aklite-offline-usb@.service');
  });

  it('each pass systemd-analyze verify with no warning (ExecStart= on the built CLI)', async function () {
    for (const [name, text] of Object.entries(units)) {
      expect(text, `${name} runs the CLI where a device has it`).to.not.include(CLI);
      const r = await verifyUnits({ [name]: text });
      expect(r, name).to.deep.equal({ code: 0, output: '' });
    }
    // All together too: units that name each other (a timer and its service) resolve.
    expect(await verifyUnits(units)).to.deep.equal({ code: 0, output: '' });
  });

  it('are checked by a verify that catches a mistake (an unknown key, a missing program)', async function () {
    const unit = units['aklite-offline-usb@.service'];
    const typo = await verifyUnits({
      'typo@.service': unit.replace('TimeoutStartSec=', 'TimeoutStrtSec='),
    });
    expect(typo.output).to.match(/Unknown key 'TimeoutStrtSec'/);
    const missing = await verifyUnits({
      'missing@.service': unit.replace(DEVICE_CLI, '/usr/bin/no-such-aklite'),
    });
    expect(missing.code).to.not.equal(0);
    expect(missing.output).to.match(/no-such-aklite/);
  });

  describe('aklite-offline-usb@.service', function () {
    it('runs `aklite-offline usb` on the instance’s block device', function () {
      const s = settings(units['aklite-offline-usb@.service']);
      expect(s.get('ExecStart')).to.equal(`${DEVICE_CLI} usb /dev/%I`);
      expect(s.get('Type')).to.equal('oneshot');
    });

    it('counts exactly the success outcomes of the status table as success', function () {
      const s = settings(units['aklite-offline-usb@.service']);
      const success = allStatuses()
        .filter((st) => st.success && st.value !== 0)
        .map((st) => st.value)
        .sort((a, b) => a - b);
      expect((s.get('SuccessExitStatus') ?? '').split(/\s+/).map(Number)).to.deep.equal(success);
    });
  });
});

describe('the shipped udev rules (systemd/*.rules)', function () {
  const KEYS =
    /^(ACTION|SUBSYSTEM|SUBSYSTEMS|KERNEL|KERNELS|DEVPATH|DRIVER|DRIVERS|ENV\{[A-Za-z0-9_]+\}|ATTR\{[A-Za-z0-9_/]+\}|ATTRS\{[A-Za-z0-9_/]+\}|TAG|TAGS|GOTO|LABEL|RUN\{[a-z]+\}|SYMLINK|OPTIONS|PROGRAM|RESULT|IMPORT\{[a-z]+\})$/;
  const PAIR = /^([A-Z]+(?:\{[^}]*\})?)\s*(==|!=|\+=|-=|:=|=)\s*"([^"]*)"$/;
  let rules: Record<string, string>;
  before(async () => {
    rules = await shipped(/\.rules$/);
  });

  it('include the USB trigger', function () {
    expect(Object.keys(rules)).to.include('90-aklite-offline-usb.rules');
  });

  it('are well formed, and start only units shipped here', async function () {
    const units = await shipped(UNIT_RE);
    for (const [name, text] of Object.entries(rules)) {
      const gotos: string[] = [];
      const labels: string[] = [];
      for (const [i, raw] of text.split('\n').entries()) {
        const line = raw.trim();
        if (line === '' || line.startsWith('#')) continue;
        for (const part of line.split(/,\s*(?=[A-Z])/)) {
          const m = PAIR.exec(part.trim());
          expect(m, `${name}:${i + 1}: ${part}`).to.not.equal(null);
          const [, key, op, value] = m!;
          expect(key, `${name}:${i + 1}: key ${key}`).to.match(KEYS);
          if (key === 'GOTO') gotos.push(value);
          if (key === 'LABEL') labels.push(value);
          if (key === 'ENV{SYSTEMD_WANTS}') {
            expect(op).to.equal('+=');
            const template = value.replace(/@[^.]*\./, '@.');
            expect(units, `${name}: ${value} is shipped`).to.have.property(template);
          }
        }
      }
      for (const g of gotos) expect(labels, `${name}: GOTO="${g}"`).to.include(g);
    }
  });
});
