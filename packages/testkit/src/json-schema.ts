/**
 * The committed JSON Schemas of the CLIs' `--json` outputs (`docs/schemas/<cli>/<name>.schema.json`,
 * written by scripts/gen-docs.mjs) as ajv validators: the e2e tests check what the real
 * CLIs print against the files scripts are told to rely on, not against a copy in the test.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';

/** dist/src → packages/testkit → the repository root. */
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

const ajv = new Ajv({ allErrors: true, strict: true });
const compiled = new Map<string, ValidateFunction>();

/** The path of a committed schema. */
export const schemaFile = (cli: 'aklite-offline' | 'bundlectl', name: string): string =>
  join(REPO, 'docs', 'schemas', cli, `${name}.schema.json`);

/**
 * Parses `text` as JSON and validates it against the committed schema of `cli`'s output
 * `name`; throws with ajv's errors (and the text) when it does not conform.
 */
export function parseWithSchema<T = unknown>(
  cli: 'aklite-offline' | 'bundlectl',
  name: string,
  text: string,
): T {
  const file = schemaFile(cli, name);
  let validate = compiled.get(file);
  if (validate === undefined) {
    validate = ajv.compile(JSON.parse(readFileSync(file, 'utf8')) as object);
    compiled.set(file, validate);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`${cli} ${name} --json: not JSON (${(err as Error).message}):\n${text}`);
  }
  if (!validate(value))
    throw new Error(
      `${cli} ${name} --json does not conform to ${file}: ${ajv.errorsText(validate.errors)}\n${text}`,
    );
  return value as T;
}
