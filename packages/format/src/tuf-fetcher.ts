/**
 * The fetcher tuf-js reads the bundle's `tuf/` through: the bytes `readBundleMetadata`
 * read once into memory, never the media again (docs/bundle-format.md §TUF metadata, §Size caps). A
 * missing or oversized file is refused with a FormatError, which the fetcher also keeps
 * (`failure`): tuf-js re-throws fetch errors of snapshot and targets as its own generic
 * error without a `cause`, so `classifyTufError` takes the original from here.
 *
 * tuf-js asks for exactly the roots the chain walk found (`maxRootRotations`), so the
 * fetcher never has to answer "404" with tuf-js's own (unexported) error class.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Fetcher } from 'tuf-js';
import { FormatError } from './errors.js';

export class BundleFetcher implements Fetcher {
  /** The refusal this fetcher last threw, if any. */
  failure: FormatError | undefined;
  /** The file tuf-js asked for last (`tuf/<name>`): the one a later tuf-js refusal is about. */
  lastFile: string | undefined;

  /**
   * @param base the directory whose file URLs tuf-js asks for (`<bundle>/tuf`)
   * @param files the bundle's `tuf/` files by name
   */
  constructor(
    private readonly base: string,
    private readonly files: ReadonlyMap<string, Buffer>,
  ) {}

  private lookup(url: string, maxLength: number): Buffer {
    const path = fileURLToPath(url);
    const name = path.startsWith(this.base + '/') ? path.slice(this.base.length + 1) : undefined;
    const buf = name === undefined || name.includes('/') ? undefined : this.files.get(name);
    this.lastFile = `tuf/${name ?? path}`;
    if (buf === undefined) {
      this.failure = new FormatError(
        'TUF_MISSING',
        `TUF metadata not found in the bundle: tuf/${name ?? path} is missing`,
        { file: `tuf/${name ?? path}` },
      );
      throw this.failure;
    }
    if (buf.length > maxLength) {
      this.failure = new FormatError(
        'FILE_TOO_LARGE',
        `tuf/${name} is longer than ${maxLength} bytes`,
        { file: `tuf/${name}` },
      );
      throw this.failure;
    }
    return buf;
  }

  downloadBytes(url: string, maxLength: number): Promise<Buffer> {
    // A throw in the executor rejects the promise with the fetcher's FormatError.
    return new Promise((resolve) => resolve(this.lookup(url, maxLength)));
  }

  async downloadFile<T>(
    url: string,
    maxLength: number,
    handler: (file: string) => Promise<T>,
  ): Promise<T> {
    const buf = this.lookup(url, maxLength);
    const tmp = join(await mkdtemp(join(tmpdir(), 'offline-ota-fetch-')), 'file');
    await writeFile(tmp, buf);
    try {
      return await handler(tmp);
    } finally {
      await rm(dirname(tmp), { recursive: true, force: true });
    }
  }
}
