/**
 * Issue 14 §5, "Any JSON, refused cleanly": mutations of the real signed metadata of the
 * committed test bundle `good-ci` (its `tuf/` files, and the root the device ships) are fed
 * to the check-in in-process. The only outcomes allowed are acceptance of unchanged signed
 * content, or a typed refusal: a FormatError that names the file and whose code maps to a
 * check-in status (never 1, the status of an unexpected crash).
 */
import { canonicalize } from '@tufjs/canonical-json';
import { expect } from 'chai';
import fc from 'fast-check';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkBundle, type CheckBundleOptions } from '../../src/checkin.js';
import { exitStatusFor } from '../../src/error-status.js';
import { FormatError } from '../../src/errors.js';
import { StatusCode } from '../../src/status.js';

const TEST_BUNDLES = fileURLToPath(new URL('../../../../../test-bundles/', import.meta.url));
const FILES = [
  'timestamp.json',
  'snapshot.json',
  'targets.json',
  'bundle-targets.json',
  '1.root.json',
] as const;
type FileName = (typeof FILES)[number];

type Path = (string | number)[];

/** Every path to a value in `v`, the document itself first. */
function pathsOf(v: unknown, at: Path = [], out: Path[] = []): Path[] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => pathsOf(x, [...at, i], out));
  else if (v !== null && typeof v === 'object')
    for (const [k, x] of Object.entries(v)) pathsOf(x, [...at, k], out);
  return out;
}

/** `doc` with the value at `path` replaced (or, for `undefined`, removed). */
function setAt(doc: unknown, path: Path, value: unknown): unknown {
  if (path.length === 0) return value;
  const copy = structuredClone(doc) as Record<string | number, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  const last = path[path.length - 1];
  if (value === undefined) {
    if (Array.isArray(node)) node.splice(last as number, 1);
    else delete node[last];
  } else node[last] = value;
  return copy;
}

const PLACEHOLDER = '\u0001placeholder\u0001';

/** `doc` serialized with the value at `path` replaced by raw JSON text. */
function withRawText(doc: unknown, path: Path, raw: string): string {
  return JSON.stringify(setAt(doc, path, PLACEHOLDER)).replace(JSON.stringify(PLACEHOLDER), raw);
}

type Mutation =
  | { kind: 'replace'; at: number; value: unknown }
  | { kind: 'raw'; at: number; text: string }
  | { kind: 'nest'; at: number; depth: number; open: string }
  | { kind: 'delete'; at: number }
  | { kind: 'addKey'; at: number; key: string; value: unknown }
  | { kind: 'truncate'; at: number };

const hostileNumber = fc.oneof(
  fc.constantFrom(2 ** 53, 2 ** 53 + 2, -(2 ** 53), 1e21, 1e300, 0.5, -1.5, 1.25e-7),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
);
const hostileString = fc.oneof(
  fc.constantFrom('é', '\u0000', '\u007f', '\ud800', '日本', 'a\nb', ''),
  fc.string({ unit: 'binary', maxLength: 8 }),
);
const hostileValue = fc.oneof(
  hostileNumber,
  hostileString,
  fc.constantFrom(null, true, false, [], {}, [1.5], { a: 2 ** 60 }, ['ü']),
);

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), value: hostileValue }),
  fc.record({
    kind: fc.constant('raw' as const),
    at: fc.nat(),
    text: fc.constantFrom('1e400', '-1e400', '9007199254740993', '1.0', '5E0', '-0', '"\\ud800"'),
  }),
  fc.record({
    kind: fc.constant('nest' as const),
    at: fc.nat(),
    depth: fc.integer({ min: 50, max: 200_000 }),
    open: fc.constantFrom('[', '{"a":'),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('addKey' as const),
    at: fc.nat(),
    key: hostileString,
    value: hostileValue,
  }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);

function mutate(original: string, m: Mutation): string {
  const doc = JSON.parse(original) as unknown;
  const paths = pathsOf(doc);
  const path = paths[m.at % paths.length];
  switch (m.kind) {
    case 'replace':
      return JSON.stringify(setAt(doc, path, m.value));
    case 'raw':
      return withRawText(doc, path, m.text);
    case 'nest': {
      const close = m.open === '[' ? ']' : '}';
      return withRawText(doc, path, m.open.repeat(m.depth) + '1' + close.repeat(m.depth));
    }
    case 'delete': {
      // Deleting the document itself leaves an empty file (JSON.stringify gives undefined).
      const text: string | undefined = JSON.stringify(setAt(doc, path, undefined));
      return text ?? '';
    }
    case 'addKey': {
      const valueAt = (p: Path): unknown =>
        p.reduce<unknown>((n, k) => (n as Record<string | number, unknown>)[k], doc);
      const objects = paths.filter((p) => {
        const v = valueAt(p);
        return v !== null && typeof v === 'object' && !Array.isArray(v);
      });
      return JSON.stringify(setAt(doc, [...objects[m.at % objects.length], m.key], m.value));
    }
    case 'truncate':
      return original.slice(0, m.at % original.length);
  }
}

/** The canonical bytes of a document's `signed`, or undefined when it has none. */
function signedForm(text: string): string | undefined {
  try {
    const signed = (JSON.parse(text) as { signed?: unknown }).signed;
    return Buffer.from(canonicalize(signed as never)).toString('utf8');
  } catch {
    return undefined;
  }
}

describe('the check-in, fed mutated metadata', function () {
  this.timeout(600_000);
  let dir: string;
  let bundle: string;
  let shipped: string;
  let trust: string;
  const originals = new Map<FileName, string>();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'checkin-fuzz-'));
    bundle = join(dir, 'bundle');
    shipped = join(dir, 'roots');
    trust = join(dir, 'trust');
    await cp(join(TEST_BUNDLES, 'good-ci'), bundle, { recursive: true });
    await mkdir(join(shipped, 'ci'), { recursive: true });
    for (const f of FILES) originals.set(f, await readFile(join(bundle, 'tuf', f), 'utf8'));
    // The device ships the root the bundle carries.
    expect(await readFile(join(TEST_BUNDLES, 'roots', 'ci', '1.root.json'), 'utf8')).to.equal(
      originals.get('1.root.json'),
    );
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const options = (): CheckBundleOptions => ({
    bundleDir: bundle,
    trustDir: trust,
    shippedRootsDir: shipped,
    deviceType: 'ci',
    hardwareId: 'sim-x86',
    tags: ['main'],
    now: new Date(),
    appsEnabled: true,
  });

  async function install(files: ReadonlyMap<FileName, string>): Promise<void> {
    await rm(trust, { recursive: true, force: true });
    for (const f of FILES) await writeFile(join(bundle, 'tuf', f), files.get(f) as string);
    await writeFile(join(shipped, 'ci', '1.root.json'), files.get('1.root.json') as string);
  }

  it('accepts the unmutated bundle (the property below starts from a valid one)', async () => {
    await install(originals);
    const r = await checkBundle(options());
    expect(r.available.map((t) => t.name)).to.deep.equal(['sim-x86-lmp-2']);
    await r.discard();
  });

  it('accepts only unchanged signed content and refuses everything else with a typed, named error', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...FILES), mutation, async (file, m) => {
        const original = originals.get(file) as string;
        const text = mutate(original, m);
        const files = new Map(originals);
        files.set(file, text);
        await install(files);
        let result;
        try {
          result = await checkBundle(options());
        } catch (err) {
          expect(err, String((err as Error).stack)).to.be.instanceOf(FormatError);
          const e = err as FormatError;
          expect(exitStatusFor(e), `${e.code}: ${e.message}`).to.not.equal(StatusCode.UnknownError);
          expect(`${e.file ?? ''} ${e.message}`, e.message).to.include(
            file === '1.root.json' ? 'root' : file,
          );
          return;
        }
        await result.discard();
        expect(signedForm(text), `accepted a changed ${file}`).to.equal(signedForm(original));
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 300) },
    );
  });
});
