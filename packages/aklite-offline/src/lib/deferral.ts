/**
 * Deferral (docs/update-control.md; Legato le_updateCtrl Defer/Allow): `defer` and
 * `allow --client ID`, counted per client and persisted in the state. While any client
 * defers, install, run and rollback are refused (41), except the bookkeeping after U-Boot
 * already fell back. This module changes the state in memory; `control.ts` runs it under
 * the lock and writes the state.
 */
import { AkliteError } from './errors.js';
import type { DeviceState } from './state.js';

export interface DeferringClient {
  client: string;
  count: number;
}

/** The clients that defer updates, with their counts, by name. */
export function deferringClients(state: DeviceState): DeferringClient[] {
  return Object.entries(state.deferrals ?? {})
    .filter(([, n]) => n > 0)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([client, count]) => ({ client, count }));
}

/** Throws DEFERRED (41) naming the deferring clients, when there are any. */
export function assertNotDeferred(state: DeviceState, what: string): void {
  const clients = deferringClients(state);
  if (clients.length === 0) return;
  const names = clients.map((c) => (c.count > 1 ? `${c.client} (${c.count}×)` : c.client));
  throw new AkliteError(
    'DEFERRED',
    `Refused to ${what}: updates are deferred by ${names.join(', ')}; ` +
      `nothing was changed. Run it again once every client has called \`aklite-offline allow --client <id>\``,
  );
}

const CLIENT_RE = /^[A-Za-z0-9][A-Za-z0-9._@:-]{0,63}$/;

/** Throws INVALID_ARGUMENT when `client` is not a valid client id. */
export function checkClient(client: string): void {
  if (!CLIENT_RE.test(client)) {
    throw new AkliteError(
      'INVALID_ARGUMENT',
      `--client "${client}" is not a valid client id: use 1 to 64 letters, digits and . _ @ : - (starting with a letter or digit)`,
    );
  }
}

export interface DeferralResult {
  client: string;
  /** This client's remaining count. */
  count: number;
  /** Every client that still defers. */
  deferredBy: DeferringClient[];
  message: string;
}

/** One more `defer` of `client` (le_updateCtrl_Defer), in `state`. */
export function addDeferral(state: DeviceState, client: string): DeferralResult {
  const d = { ...(state.deferrals ?? {}) };
  d[client] = (d[client] ?? 0) + 1;
  state.deferrals = d;
  const count = d[client];
  return {
    client,
    count,
    deferredBy: deferringClients(state),
    message:
      `Updates are deferred by ${client}` +
      (count > 1 ? ` (${count} defer calls to match with allow)` : '') +
      '; install, run and rollback are refused until every client allows them',
  };
}

/**
 * One `allow` of `client` (le_updateCtrl_Allow), in `state`; CONTROL_MISMATCH (43) when
 * the client does not defer.
 */
export function removeDeferral(state: DeviceState, client: string): DeferralResult {
  const d = { ...(state.deferrals ?? {}) };
  const n = d[client] ?? 0;
  if (n <= 0) {
    const others = deferringClients(state).map((c) => c.client);
    throw new AkliteError(
      'CONTROL_MISMATCH',
      `Client ${client} does not defer updates, so there is nothing to allow` +
        (others.length > 0 ? ` (deferring: ${others.join(', ')})` : ' (no client defers)') +
        '; call allow only after defer with the same --client',
    );
  }
  if (n === 1) delete d[client];
  else d[client] = n - 1;
  state.deferrals = d;
  const left = deferringClients(state);
  return {
    client,
    count: n - 1,
    deferredBy: left,
    message:
      left.length === 0
        ? 'Updates are allowed: no client defers them'
        : `${client} ${n - 1 > 0 ? `still defers (${n - 1} more allow needed)` : 'allows updates'}; ` +
          `still deferred by ${left.map((c) => c.client).join(', ')}`,
  };
}
