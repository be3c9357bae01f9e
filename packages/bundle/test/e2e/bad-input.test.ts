import { expect } from 'chai';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createTestFactory, parseWithSchema, type TestFactory } from '@offline-ota/testkit';
import { fixedClock, hashTree, tempDir } from '../helpers.js';
import { bundlectl, ok, unwrap } from './cli.js';

describe('bundlectl with bad input', function () {
  this.timeout(120000);
  let dir: string;
  let cleanup: () => Promise<void>;
  let tf: TestFactory;
  let signed: string;
  let ci: string;
  let zip: string;

  before(async () => {
    ({ dir, cleanup } = await tempDir('bundlectl-e2e-bad-'));
    tf = await createTestFactory({ dir, versions: [1] });
    await writeFile(join(dir, 'damaged.tgz'), Buffer.from('1f8b0800000000000003ffff', 'hex'));
    await writeFile(join(dir, 'plain.txt'), 'not a key');
    await mkdir(join(dir, 'occupied'));
    await writeFile(join(dir, 'occupied', 'notes.txt'), 'keep me');
    signed = join(dir, 'prod');
    const init = await ok([
      'waves',
      'init',
      'w',
      '--json',
      '--factory',
      tf.factoryDir,
      '--target',
      tf.targets[0],
      '--tag',
      'main',
      '-k',
      tf.offlineKeys.targets[0],
      '-k',
      tf.offlineKeys.targets[1],
    ]);
    parseWithSchema('bundlectl', 'waves-init', init.stdout);
    const complete = await ok([
      'waves',
      'complete',
      'w',
      '--json',
      '--factory',
      tf.factoryDir,
      '-k',
      tf.offlineKeys.targets[0],
      '-k',
      tf.offlineKeys.targets[1],
    ]);
    parseWithSchema('bundlectl', 'waves-complete', complete.stdout);
    await ok([
      'create',
      tf.targets[0],
      signed,
      '--tag',
      'main',
      '--prod',
      '--factory',
      tf.factoryDir,
    ]);
    ci = join(dir, 'ci');
    await ok(['create', tf.targets[0], ci, '--tag', 'main', '--factory', tf.factoryDir]);
    zip = join(dir, 'prod.zip');
    await ok(['pack', signed, zip, '--allow-unsigned']);
  });
  after(async () => cleanup());

  const cases: { name: string; args: () => string[]; message: RegExp; faketime?: string }[] = [
    // Issue 11 §7: what a device would refuse, and the wrong paths, each with its fix.
    {
      name: 'an under-signed production bundle to pack',
      args: () => ['pack', signed, join(dir, 'unsigned.zip')],
      message:
        /is a production bundle with 0 of 2 signatures: a device refuses it \(15\)\. Sign it first \(bundlectl sign .* or pack it unsigned with --allow-unsigned/,
    },
    {
      name: 'a CI bundle to sign',
      args: () => ['sign', ci, '--keys', tf.offlineKeys.targets[0]],
      message:
        /is a CI bundle: bundlectl create signed it with the factory's online CI targets key/,
    },
    {
      name: 'an expired production bundle to sign',
      args: () => ['sign', signed, '--keys', tf.offlineKeys.targets[0]],
      message:
        /expired at \S+: a device refuses it \(12\), so it is not signed\. Refresh it first: bundlectl create \S+ \S+ --tuf-only --wave/,
      faketime: '+800d',
    },
    {
      name: 'a single-file bundle to sign',
      args: () => ['sign', zip, '--keys', tf.offlineKeys.targets[0]],
      message:
        /is a single-file bundle, which cannot be signed in place: sign the directory bundle, then bundlectl pack it/,
    },
    ...(['show', 'verify', 'sign'] as const).flatMap((cmd) => {
      const extra = () =>
        cmd === 'verify'
          ? ['--root', join(tf.factoryDir, 'tuf', 'prod', '1.root.json')]
          : cmd === 'sign'
            ? ['--keys', tf.offlineKeys.targets[0]]
            : [];
      return [
        {
          name: `a stick path that does not exist to ${cmd}`,
          args: () => [cmd, join(dir, 'media', 'usb'), ...extra()],
          message: /media[/]usb does not exist: is the media mounted\?/,
        },
        {
          name: `a bundle's tuf/ to ${cmd}`,
          args: () => [cmd, join(signed, 'tuf'), ...extra()],
          message:
            /is a bundle's tuf\/ directory, not the bundle: give the directory that holds it/,
        },
        {
          name: `the directory holding the bundles to ${cmd}`,
          args: () => [cmd, dir, ...extra()],
          message:
            /is not a bundle \(it has no tuf\/\), but it holds 3: .*ci, .*prod, .*prod\.zip; give that path/,
        },
      ];
    }),
    {
      name: 'a root of the other chain to verify with',
      args: () => ['verify', ci, '--root', join(tf.factoryDir, 'tuf', 'prod', '1.root.json')],
      message:
        /is not this bundle's root 1 \(.*\): it is a root of another chain .* Give the root that ci devices ship: the factory's tuf\/ci\/1\.root\.json/,
    },
    {
      name: 'a missing Target',
      args: () => [
        'create',
        'sim-x86-lmp-9',
        join(dir, 'b1'),
        '--tag',
        'main',
        '--factory',
        tf.factoryDir,
      ],
      message: /No CI Target with the given tag found; target: sim-x86-lmp-9, tag: main/,
    },
    {
      name: 'a wrong tag',
      args: () => [
        'create',
        tf.targets[0],
        join(dir, 'b2'),
        '--tag',
        'beta',
        '--factory',
        tf.factoryDir,
      ],
      message: /No CI Targets found for the specified tag `beta`/,
    },
    {
      name: 'a tag without production Targets',
      args: () => [
        'create',
        tf.targets[0],
        join(dir, 'b3'),
        '--tag',
        'beta',
        '--prod',
        '--factory',
        tf.factoryDir,
      ],
      message: /No production Targets were found for the specified tag `beta`/,
    },
    {
      name: 'an unknown wave',
      args: () => [
        'create',
        tf.targets[0],
        join(dir, 'b4'),
        '--wave',
        'nope',
        '--factory',
        tf.factoryDir,
      ],
      message: /No active Wave with the specified name was found; wave: nope/,
    },
    {
      name: 'neither --tag nor --wave',
      args: () => ['create', tf.targets[0], join(dir, 'b5'), '--factory', tf.factoryDir],
      message: /Either `--tag` or `--wave` should be specified/,
    },
    {
      name: 'an expiry beyond the root',
      args: () => [
        'create',
        tf.targets[0],
        join(dir, 'b6'),
        '--tag',
        'main',
        '-e',
        '400',
        '--factory',
        tf.factoryDir,
      ],
      message: /Root metadata expire \(\S+\) before the specified expiration time \(\S+\)/,
    },
    {
      name: 'an expired root (clock moved past it)',
      args: () => [
        'create',
        tf.targets[0],
        join(dir, 'b7'),
        '--tag',
        'main',
        '--factory',
        tf.factoryDir,
      ],
      message: /Root metadata expired at \S+ .*bundlectl keys rotate-root/,
    },
    {
      name: 'a destination holding other files',
      args: () => [
        'create',
        tf.targets[0],
        join(dir, 'occupied'),
        '--tag',
        'main',
        '--factory',
        tf.factoryDir,
      ],
      message: /is not empty and is not an offline bundle/,
    },
    {
      name: 'a destination that already has update data',
      args: () => [
        'create',
        tf.targets[0],
        signed,
        '--tag',
        'main',
        '--prod',
        '--factory',
        tf.factoryDir,
      ],
      message: /Destination directory already has update data/,
    },
    {
      name: 'a damaged key archive',
      args: () => ['sign', signed, '--keys', join(dir, 'damaged.tgz')],
      message: /damaged\.tgz is not a valid key archive/,
    },
    {
      name: 'a file that is not a key archive',
      args: () => ['sign', signed, '--keys', join(dir, 'plain.txt')],
      message: /plain\.txt is not a valid key archive \(not gzip data\)/,
    },
    {
      name: 'an archive without a targets key of the bundle',
      args: () => ['sign', signed, '--keys', tf.offlineKeys.root],
      message: /No private key found for key IDs: \[/,
    },
    {
      name: 'a non-empty factory directory',
      args: () => [
        'factory',
        'init',
        tf.factoryDir,
        '--name',
        'x',
        '--offline-keys',
        join(dir, 'k2'),
      ],
      message: /is not empty; a factory is created in a new or empty directory/,
    },
    {
      name: 'a republished Target',
      args: () => [
        'targets',
        'publish',
        '--factory',
        tf.factoryDir,
        '--rootfs',
        join(dir, 'sources', 'v1', 'rootfs'),
        '--hardware-id',
        'sim-x86',
        '--version',
        '1',
        '--tag',
        'main',
      ],
      message: /Target sim-x86-lmp-1 is already published/,
    },
  ];

  for (const c of cases) {
    describe(`when given ${c.name}`, () => {
      it('explains the problem, exits non-zero and leaves every existing file untouched', async () => {
        const before = await hashTree(dir);
        const faketime = c.faketime ?? (c.name.startsWith('an expired root') ? '+400d' : undefined);
        const r = await bundlectl(c.args(), faketime === undefined ? {} : { faketime });
        expect(r.code).to.not.equal(0);
        expect(unwrap(r.stderr)).to.match(c.message);
        expect(await hashTree(dir)).to.equal(before);
      });
    });
  }

  it('rejects an unknown flag through oclif', async () => {
    const r = await bundlectl([
      'create',
      'x',
      'y',
      '--tag',
      'main',
      '--bogus',
      '--factory',
      tf.factoryDir,
    ]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain('--bogus');
  });

  it('a root with a short expiry refuses a bundle that outlives it', async () => {
    const short = await tempDir('bundlectl-e2e-short-');
    try {
      const f = await createTestFactory({
        dir: short.dir,
        versions: [1],
        rootExpiresInDays: 5,
        clock: fixedClock(new Date().toISOString().slice(0, 19) + 'Z'),
      });
      const r = await bundlectl([
        'create',
        f.targets[0],
        join(short.dir, 'b'),
        '--tag',
        'main',
        '--factory',
        f.factoryDir,
      ]);
      expect(r.code).to.equal(1);
      expect(unwrap(r.stderr)).to.match(
        /Root metadata expire \(\S+\) before the specified expiration time/,
      );
    } finally {
      await short.cleanup();
    }
  });

  // Issue 11 §6 changed this on purpose: under --json a failure is also one JSON object
  // on stdout (the committed error schema), as in aklite-offline.
  it('under --json, a failure is one {code, name, message, hint} object on stdout, the error on stderr, exit 1', async () => {
    const r = await bundlectl(['sign', signed, '--keys', join(dir, 'plain.txt'), '--json']);
    expect(r.code).to.equal(1);
    const e = parseWithSchema<{ code: number; name: string; message: string; error?: string }>(
      'bundlectl',
      'error',
      r.stdout,
    );
    expect(e).to.include({ code: 1, name: 'UnknownError', error: 'KEY_ARCHIVE_INVALID' });
    expect(r.stderr).to.match(/Error: /);
    // The same message on stderr (oclif wraps it: compared without whitespace).
    const bare = (t: string) => t.replace(/[\s›]/g, '');
    expect(bare(r.stderr)).to.contain(bare(e.message));
  });

  it('under --json, a usage error is the JSON object with 2', async () => {
    const r = await bundlectl(['sign', signed, '--json']);
    expect(r.code).to.equal(2);
    expect(parseWithSchema('bundlectl', 'error', r.stdout)).to.include({
      code: 2,
      name: 'InvalidCommandLine',
    });
  });
});
