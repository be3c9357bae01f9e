/**
 * The one-file device CLI (`pnpm build:device`, issue 10 §1): the artifact the e2e suite
 * runs when `AKLITE_CLI` names it (scripts/test.sh does) carries no host-only code, and the
 * check that says so finds host-only modules when they are there.
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect } from 'chai';
import { AKLITE, mustRun, REPO } from './helpers.js';

interface ArtifactCheck {
  bundledModules: (text: string) => string[];
  hostOnlyFindings: (text: string) => string[];
}

const loadCheck = async (): Promise<ArtifactCheck> =>
  (await import(
    pathToFileURL(join(REPO, 'scripts/device-artifact-check.mjs')).href
  )) as ArtifactCheck;

describe('the one-file device CLI', function () {
  it('the host-only check names modules of bundle, the test kit, fast-glob and a zip writer', async function () {
    const { hostOnlyFindings } = await loadCheck();
    const device = [
      '// packages/format/dist/src/zip-source.js',
      '// node_modules/.pnpm/tar@7.5.23/node_modules/tar/dist/esm/index.js',
      '// packages/aklite-offline/dist/src/lib/run.js',
      // the engine port reads compose files on the device
      '// node_modules/.pnpm/yaml@2.9.1/node_modules/yaml/dist/index.js',
    ];
    expect(hostOnlyFindings(device.join('\nvar x = 1;\n'))).to.deep.equal([]);
    const host = [
      '// packages/bundle/dist/src/zip-writer.js',
      '// node_modules/.pnpm/fast-glob@3.3.3/node_modules/fast-glob/out/index.js',
      '// packages/testkit/dist/src/test-factory.js',
    ];
    const found = hostOnlyFindings([...device, ...host].join('\nvar x = 1;\n'));
    expect(found.map((f) => f.split(':')[0])).to.deep.equal(host.map((h) => h.slice(3)));
  });

  describe('when AKLITE_CLI names it', function () {
    before(function () {
      if (!AKLITE.endsWith('.mjs')) this.skip(); // the e2e suite runs the workspace CLI
    });

    it('is one file of bundled modules with no host-only code', async function () {
      expect(existsSync(AKLITE), AKLITE).to.equal(true);
      const { bundledModules, hostOnlyFindings } = await loadCheck();
      const text = await readFile(AKLITE, 'utf8');
      expect(bundledModules(text).length).to.be.greaterThan(50);
      expect(hostOnlyFindings(text)).to.deep.equal([]);
    });

    it('runs with nothing but node beside it (no node_modules) and prints its version', async function () {
      const pkg = JSON.parse(
        await readFile(join(REPO, 'packages/aklite-offline/package.json'), 'utf8'),
      ) as {
        version: string;
      };
      // A copy in an empty directory: nothing to resolve a package from.
      const dir = await mkdtemp(join(tmpdir(), 'aklite-one-file-'));
      try {
        const copy = join(dir, 'aklite-offline.mjs');
        await copyFile(AKLITE, copy);
        const r = await mustRun(process.execPath, [copy, '--version']);
        expect(r.stdout).to.include(`aklite-offline/${pkg.version}`);
        const help = await mustRun(process.execPath, [copy, '--help']);
        for (const c of ['check', 'install', 'run', 'status', 'probation'])
          expect(help.stdout).to.match(new RegExp(`^  ${c} `, 'm'));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});
