/**
 * The explicit command map (src/cli/commands.ts) is how both the workspace CLI and the
 * one-file device CLI find their commands: a command module missing from it would exist in
 * the source and be unreachable from both.
 */
import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { COMMANDS } from '../../src/cli/commands.js';

const COMMANDS_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../src/commands');

describe('the command map', function () {
  it('lists every module of src/commands under its file name, with that module’s class', async function () {
    const files = (await readdir(COMMANDS_DIR)).filter((f) => f.endsWith('.js')).sort();
    expect(Object.keys(COMMANDS).sort()).to.deep.equal(files.map((f) => f.replace(/\.js$/, '')));
    for (const f of files) {
      const mod = (await import(join(COMMANDS_DIR, f))) as { default: unknown };
      expect(COMMANDS[f.replace(/\.js$/, '') as keyof typeof COMMANDS], f).to.equal(mod.default);
    }
  });
});
