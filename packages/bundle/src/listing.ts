/**
 * What a factory holds, for `bundlectl targets list` and `waves list`: the published
 * Targets of the catalog (`targets/<name>.json`) with the tags whose CI and production
 * targets carry each one, and the production waves with their state. Pure reads.
 */
import { readdir } from 'node:fs/promises';
import { openFactory, type Factory } from './factory.js';
import { readCatalogEntry, TARGET_NAME_RE } from './publish.js';
import { readTargetsFile } from './tuf-repo.js';
import { listWaves, type WaveState } from './waves.js';

export interface TargetListEntry {
  name: string;
  version: number;
  hardwareIds: string[];
  /** The tags the Target was published for. */
  tags: string[];
  commit: string;
  /** App name → pinned URI. */
  apps: Record<string, string>;
  /** The tags whose CI targets (signed online) carry it. */
  ci: string[];
  /** The tags whose production targets (signed offline) carry it. */
  prod: string[];
}

export interface ListTargetsOptions {
  factory: string;
  /** Only Targets published for this tag. */
  tag?: string;
}

/** The catalog's Targets by version, then name. */
export async function listTargets(o: ListTargetsOptions): Promise<TargetListEntry[]> {
  const factory = await openFactory(o.factory);
  const names = (await readdir(factory.paths.catalogDir).catch(() => [] as string[]))
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .filter((n) => TARGET_NAME_RE.test(n));
  const signedIn = tagTargetsReader(factory);
  const out: TargetListEntry[] = [];
  for (const name of names) {
    const { target } = await readCatalogEntry(factory, name);
    const c = target.custom;
    const tags = c.tags ?? [];
    if (o.tag !== undefined && !tags.includes(o.tag)) continue;
    const ci: string[] = [];
    const prod: string[] = [];
    for (const tag of tags) {
      if ((await signedIn('ci', tag)).has(name)) ci.push(tag);
      if ((await signedIn('prod', tag)).has(name)) prod.push(tag);
    }
    out.push({
      name,
      version: Number(c.version),
      hardwareIds: c.hardwareIds ?? [],
      tags,
      commit: target.hashes.sha256,
      apps: Object.fromEntries(
        Object.entries(c.docker_compose_apps ?? {}).map(([app, v]) => [app, v.uri]),
      ),
      ci,
      prod,
    });
  }
  return out.sort((a, b) => a.version - b.version || (a.name < b.name ? -1 : 1));
}

/** The Target names in a tag's CI or production targets, each file read once. */
function tagTargetsReader(factory: Factory) {
  const cache = new Map<string, Set<string>>();
  return async (type: 'ci' | 'prod', tag: string): Promise<Set<string>> => {
    const key = `${type}/${tag}`;
    let names = cache.get(key);
    if (names === undefined) {
      const file = await readTargetsFile(factory.paths.tagTargets(type, tag));
      names = new Set(Object.keys(file?.env.signed.targets ?? {}));
      cache.set(key, names);
    }
    return names;
  };
}

/** `waves list`: every wave of the factory, by name. */
export async function listFactoryWaves(o: { factory: string }): Promise<WaveState[]> {
  return listWaves(await openFactory(o.factory));
}
