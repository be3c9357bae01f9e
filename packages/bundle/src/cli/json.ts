/**
 * The `--json` output of the bundlectl commands whose result is more than the library's:
 * `create` and `sign` add `show` of the bundle written. Keys are camelCase, as in every
 * bundlectl result (docs/factory.md); aklite-offline's device output is snake_case, as
 * in the reference client (docs/architecture.md, "The command layer").
 */
import type { CreateBundleResult } from '../create.js';
import type { ShowResult, SignBundleResult } from '../inspect.js';
import type { PackBundleResult } from '../pack.js';

export type CreateJson = Omit<CreateBundleResult, 'archive'> & {
  /** With `--archive zip`: the zip written (its `show` is the top-level one). */
  archive?: PackBundleResult;
  show: ShowResult;
};

export function createJson(res: CreateBundleResult, shown: ShowResult): CreateJson {
  if (res.archive === undefined) return { ...res, show: shown };
  const file: Partial<CreateBundleResult['archive']> = { ...res.archive };
  delete file.show;
  return { ...res, archive: file as PackBundleResult, show: shown };
}

export type SignJson = SignBundleResult & { show: ShowResult };

export const signJson = (res: SignBundleResult, shown: ShowResult): SignJson => ({
  ...res,
  show: shown,
});
