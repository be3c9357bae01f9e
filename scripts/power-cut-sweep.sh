#!/usr/bin/env bash
# The power-cut sweep (issue 14 §3): SIGKILL `aklite-offline install` (from a bundle
# directory and from a single-file bundle) and `run` at every checkpoint the testkit's
# `aklite-stop-at` exposes, reboot the simulated device, assert the exact deployment it
# boots, and complete the update with the documented commands. Slower than the main
# suite, which keeps the named checkpoints (test/e2e/power-cut-install.test.ts, power-cut-run.test.ts); run it as a
# separate job. Needs root, ostree, fw_setenv (like the e2e tests) and a build (tsc -b).
#
#   bash scripts/power-cut-sweep.sh            prints one line per point and the totals
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
node_modules/.bin/mocha --timeout 900000 \
  'packages/aklite-offline/dist-test/test/sweep/**/*.test.js' 2>&1 | tee "$log" || status=$?
points=$(grep -c '^SWEEP ' "$log" || true)
failures=$(grep -c '^SWEEP .* FAIL$' "$log" || true)
echo "power-cut sweep: ${points} points, ${failures} failures"
exit "$status"
