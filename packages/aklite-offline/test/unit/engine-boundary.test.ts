/**
 * Every container-engine call goes through format's engine port (docs/architecture.md
 * §Container engine): no source file outside `format/src/engine/`, and no script, names
 * docker, podman or skopeo as a program to run. (Starting a test daemon, `dockerd`, is not
 * an engine call.)
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { expect } from 'chai';
import { REPO } from './fake-device.js';

const ENGINE_TOOLS = /\b(docker|docker-compose|podman|podman-compose|skopeo)\b/;
/** A program named to a child-process call (`spawn('podman', …)`, `execCapture("skopeo"`…). */
const SPAWNED =
  /\b(spawn|spawnSync|execFile|execFileSync|exec|execSync|execCapture|execChecked|execTool|run|mustRun|runProc)\(\s*['"`]([^'"`]+)['"`]/g;
/** A shell script line whose first word is an engine tool. */
const SHELL_CALL = /^\s*(sudo\s+)?(docker|docker-compose|podman|podman-compose|skopeo)\s/m;

async function files(dir: string, ext: RegExp): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await files(p, ext)));
    else if (ext.test(e.name)) out.push(p);
  }
  return out;
}

describe('the container-engine boundary', function () {
  it('no module outside format/src/engine spawns docker, podman or skopeo', async function () {
    const offenders: string[] = [];
    for (const pkg of await readdir(join(REPO, 'packages'))) {
      for (const sub of ['src', 'test']) {
        const dir = join(REPO, 'packages', pkg, sub);
        const list = await files(dir, /\.ts$/).catch(() => []);
        for (const f of list) {
          const rel = relative(REPO, f);
          // The port itself, and this test (whose comments show what it looks for).
          if (
            rel.startsWith('packages/format/src/engine/') ||
            rel.endsWith('engine-boundary.test.ts')
          )
            continue;
          const text = await readFile(f, 'utf8');
          for (const m of text.matchAll(SPAWNED))
            if (ENGINE_TOOLS.test(m[2])) offenders.push(`${rel}: ${m[0]}`);
        }
      }
    }
    expect(offenders).to.deep.equal([]);
  });

  it('no script runs them directly either', async function () {
    const offenders: string[] = [];
    for (const f of await files(join(REPO, 'scripts'), /\.sh$/)) {
      const text = (await readFile(f, 'utf8'))
        .split('\n')
        .filter((l) => !l.trimStart().startsWith('#'))
        .join('\n');
      if (SHELL_CALL.test(text)) offenders.push(relative(REPO, f));
    }
    expect(offenders).to.deep.equal([]);
  });
});
