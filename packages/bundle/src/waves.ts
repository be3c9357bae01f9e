import { readdir } from 'node:fs/promises';
import { formatTufTime, systemClock, type Clock, type RootSigned } from '@offline-ota/format';
import { BundleError } from './errors.js';
import { DAY_MS, nextVersions, TAG_RE, type Factory } from './factory.js';
import { exists, readJsonFile, writeFileAtomic } from './fsutil.js';
import { collectSigningKeys } from './offline-keys.js';
import { readCatalogEntry, resolveFactory } from './publish.js';
import { readRootChain, readTargetsFile, signTargets, writeSigned } from './tuf-repo.js';
import { join } from 'node:path';

export const WAVE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** `tuf/prod/waves/<wave>/wave.json`. */
export interface WaveState {
  name: string;
  target: string;
  tag: string;
  state: 'active' | 'complete';
  createdAt: string;
  completedAt?: string;
  /** Version of the wave's targets.json. */
  targetsVersion: number;
}

const waveFile = (factory: Factory, wave: string): string =>
  join(factory.paths.waveDir(wave), 'wave.json');

export async function writeWaveState(factory: Factory, w: WaveState): Promise<void> {
  await writeFileAtomic(waveFile(factory, w.name), JSON.stringify(w, null, 2) + '\n');
}

export async function readWave(factory: Factory, wave: string): Promise<WaveState | undefined> {
  if (!WAVE_NAME_RE.test(wave))
    throw new BundleError('INVALID_ARGUMENT', `"${wave}" is not a valid wave name`);
  const p = waveFile(factory, wave);
  if (!(await exists(p))) return undefined;
  const w = (await readJsonFile(p, 64 * 1024)) as Partial<WaveState> | null;
  if (
    w?.name !== wave ||
    typeof w.target !== 'string' ||
    typeof w.tag !== 'string' ||
    (w.state !== 'active' && w.state !== 'complete')
  ) {
    throw new BundleError('FACTORY_INVALID', `${p} is not a valid wave record`, { file: p });
  }
  return w as WaveState;
}

export async function listWaves(factory: Factory): Promise<WaveState[]> {
  const names = await readdir(join(factory.paths.tufDir('prod'), 'waves')).catch(
    () => [] as string[],
  );
  const out: WaveState[] = [];
  for (const n of names.sort()) {
    if (!WAVE_NAME_RE.test(n)) continue;
    const w = await readWave(factory, n);
    if (w) out.push(w);
  }
  return out;
}

async function newestProdRoot(factory: Factory): Promise<RootSigned> {
  return (await readRootChain(factory.paths.tufDir('prod'))).at(-1)!.env.signed;
}

export interface WavesInitOptions {
  factory: string | Factory;
  wave: string;
  target: string;
  tag: string;
  /** Archives with production targets keys, together at least the threshold. */
  keys: string[];
  expiresInDays?: number;
  clock?: Clock;
}

export interface WaveResult {
  wave: WaveState;
  targetsFile: string;
  targetsVersion: number;
  signedBy: string[];
}

/**
 * Starts a wave: production targets (the tag's production Targets plus the wave's
 * Target) signed with offline production targets keys to the threshold of the newest
 * prod root, version from the prod counter.
 */
export async function wavesInit(o: WavesInitOptions): Promise<WaveResult> {
  const factory = await resolveFactory(o.factory);
  const clock = o.clock ?? systemClock;
  const days = o.expiresInDays ?? 365;
  if (!Number.isInteger(days) || days < 1 || days > 3650) {
    throw new BundleError('INVALID_ARGUMENT', `--expires-in-days must be 1 to 3650, got ${days}`);
  }
  if (!WAVE_NAME_RE.test(o.wave))
    throw new BundleError('INVALID_ARGUMENT', `"${o.wave}" is not a valid wave name`);
  if (!TAG_RE.test(o.tag))
    throw new BundleError('INVALID_ARGUMENT', `"${o.tag}" is not a valid tag`);
  if (await readWave(factory, o.wave)) {
    throw new BundleError('WAVE_STATE', `wave ${o.wave} already exists; choose another name`);
  }
  const entry = await readCatalogEntry(factory, o.target);
  if (!entry.target.custom.tags.includes(o.tag)) {
    throw new BundleError(
      'INVALID_ARGUMENT',
      `Target ${o.target} is not published for tag ${o.tag} (its tags: ${entry.target.custom.tags.join(', ')})`,
    );
  }
  const root = await newestProdRoot(factory);
  const keys = await collectSigningKeys(o.keys, root.roles.targets, `wave ${o.wave}`);
  const prodTag = await readTargetsFile(factory.paths.tagTargets('prod', o.tag));
  const targets = { ...(prodTag?.env.signed.targets ?? {}), [o.target]: entry.target };
  const now = clock();
  const expires = formatTufTime(new Date(now.getTime() + days * DAY_MS));
  const { targets: version } = await nextVersions(factory, 'prod', ['targets']);
  const file = factory.paths.waveTargets(o.wave);
  await writeSigned(file, signTargets(version, expires, targets, keys));
  const wave: WaveState = {
    name: o.wave,
    target: o.target,
    tag: o.tag,
    state: 'active',
    createdAt: formatTufTime(now),
    targetsVersion: version,
  };
  await writeWaveState(factory, wave);
  return { wave, targetsFile: file, targetsVersion: version, signedBy: keys.map((k) => k.keyid) };
}

export interface WavesCompleteOptions {
  factory: string | Factory;
  wave: string;
  keys: string[];
  expiresInDays?: number;
  clock?: Clock;
}

/**
 * Completes a wave: its Target joins `tuf/prod/tags/<tag>/targets.json`, re-signed with
 * offline keys (new version from the prod counter); the wave is no longer active.
 */
export async function wavesComplete(o: WavesCompleteOptions): Promise<WaveResult> {
  const factory = await resolveFactory(o.factory);
  const clock = o.clock ?? systemClock;
  const days = o.expiresInDays ?? 365;
  if (!Number.isInteger(days) || days < 1 || days > 3650) {
    throw new BundleError('INVALID_ARGUMENT', `--expires-in-days must be 1 to 3650, got ${days}`);
  }
  const wave = await readWave(factory, o.wave);
  if (!wave)
    throw new BundleError(
      'WAVE_NOT_FOUND',
      `No Wave with the specified name was found; wave: ${o.wave}`,
    );
  if (wave.state !== 'active') {
    throw new BundleError('WAVE_STATE', `wave ${o.wave} is already complete`);
  }
  const entry = await readCatalogEntry(factory, wave.target);
  const root = await newestProdRoot(factory);
  const keys = await collectSigningKeys(o.keys, root.roles.targets, `completing wave ${o.wave}`);
  const file = factory.paths.tagTargets('prod', wave.tag);
  const current = await readTargetsFile(file);
  const targets = { ...(current?.env.signed.targets ?? {}), [wave.target]: entry.target };
  const now = clock();
  const expires = formatTufTime(new Date(now.getTime() + days * DAY_MS));
  const { targets: version } = await nextVersions(factory, 'prod', ['targets']);
  await writeSigned(file, signTargets(version, expires, targets, keys));
  const done: WaveState = { ...wave, state: 'complete', completedAt: formatTufTime(now) };
  await writeWaveState(factory, done);
  return {
    wave: done,
    targetsFile: file,
    targetsVersion: version,
    signedBy: keys.map((k) => k.keyid),
  };
}
