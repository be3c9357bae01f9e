/**
 * Offline runs: a tool that claims to work offline is run where the network is
 * unreachable, so that any attempt to use it fails the test. `unshare -n` gives the
 * process a new network namespace whose only interface, loopback, is down: every
 * connection fails (ENETUNREACH), whatever proxy variables say. Node ignores
 * `http_proxy`, so setting it proves nothing.
 */

/** The argv that runs `cmd args…` without a network (`unshare -n`; `-rn` when not root). */
export function offlineArgv(cmd: string, args: readonly string[]): [string, string[]] {
  const root = process.getuid?.() === 0;
  return ['unshare', [root ? '-n' : '-rn', '--', cmd, ...args]];
}
