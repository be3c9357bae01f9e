import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { tempDir } from '../helpers.js';

const execFileP = promisify(execFile);
/** dist-test/test/unit → the repository root. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', '..');

/** The `## bundlectl …` section of cli.md. */
function bundlectlSection(md: string): string {
  const start = md.indexOf('\n## bundlectl');
  const end = md.indexOf('\n## ', start + 1);
  return md.slice(start, end < 0 ? undefined : end);
}

describe('scripts/gen-docs.mjs', function () {
  this.timeout(60000);
  let out: string;
  let cleanup: () => Promise<void>;

  before(async () => {
    ({ dir: out, cleanup } = await tempDir('bundlectl-gen-docs-'));
    await execFileP(process.execPath, [join(ROOT, 'scripts', 'gen-docs.mjs'), '--out', out]);
  });
  after(async () => cleanup());

  it('writes the committed docs/exit-codes.md (the docs cannot drift from the status table)', async () => {
    const generated = await readFile(join(out, 'exit-codes.md'), 'utf8');
    const committed = await readFile(join(ROOT, 'docs', 'exit-codes.md'), 'utf8');
    expect(committed, 'run `node scripts/gen-docs.mjs` and commit docs/').to.equal(generated);
  });

  it('writes the committed bundlectl section of docs/cli.md', async () => {
    const generated = await readFile(join(out, 'cli.md'), 'utf8');
    const committed = await readFile(join(ROOT, 'docs', 'cli.md'), 'utf8');
    expect(
      bundlectlSection(committed),
      'run `node scripts/gen-docs.mjs` and commit docs/',
    ).to.equal(bundlectlSection(generated));
  });

  it('writes the committed docs/cli.md as a whole (aklite-offline and device-sim too)', async () => {
    const generated = await readFile(join(out, 'cli.md'), 'utf8');
    const committed = await readFile(join(ROOT, 'docs', 'cli.md'), 'utf8');
    expect(committed, 'run `node scripts/gen-docs.mjs` and commit docs/').to.equal(generated);
  });

  it('writes the committed JSON Schemas of every --json output (docs/schemas/), and no stale one', async () => {
    const list = async (dir: string) =>
      (await readdir(dir, { recursive: true })).filter((f) => f.endsWith('.json')).sort();
    const generated = await list(join(out, 'schemas'));
    expect(generated).to.include.members([
      'aklite-offline/check.schema.json',
      'aklite-offline/error.schema.json',
      'bundlectl/error.schema.json',
      'bundlectl/targets-list.schema.json',
    ]);
    expect(
      await list(join(ROOT, 'docs', 'schemas')),
      'stale or missing schema files',
    ).to.deep.equal(generated);
    for (const f of generated)
      expect(await readFile(join(ROOT, 'docs', 'schemas', f), 'utf8'), f).to.equal(
        await readFile(join(out, 'schemas', f), 'utf8'),
      );
  });

  it('documents every bundlectl command with its usage, flags and examples', async () => {
    const md = await readFile(join(out, 'cli.md'), 'utf8');
    const commandsDir = join(ROOT, 'packages', 'bundle', 'dist', 'src', 'commands');
    const ids: string[] = [];
    for (const e of await readdir(commandsDir, { withFileTypes: true, recursive: true })) {
      if (!e.isFile() || !e.name.endsWith('.js')) continue;
      const rel = join(e.parentPath, e.name).slice(commandsDir.length + 1, -3);
      ids.push(rel.split('/').join(' '));
    }
    expect(ids).to.include.members(['create', 'pack', 'factory init']);
    for (const id of ids) {
      const section = md.split(`### bundlectl ${id}\n`)[1]?.split('\n### ')[0];
      expect(section, id).to.be.a('string');
      expect(section, id).to.include('USAGE');
      expect(section, id).to.include('EXAMPLES');
    }
  });

  it('covers the three CLIs and every status code', async () => {
    const cli = await readFile(join(out, 'cli.md'), 'utf8');
    for (const bin of ['bundlectl', 'aklite-offline', 'device-sim'])
      expect(cli).to.include(`\n## ${bin} `);
    const codes = await readFile(join(out, 'exit-codes.md'), 'utf8');
    for (const code of [0, 10, 100, 102, 120]) expect(codes).to.include(`\n| ${code} | `);
  });
});
