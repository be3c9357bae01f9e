#!/usr/bin/env bash
# The test command: set-up, lint (zero warnings), the boundary check, then every package's
# unit and end-to-end tests against the real ostree and fw_setenv. Ends with one summary line.
# aklite-offline's end-to-end tests run the one-file device CLI (pnpm build:device).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
PNPM="pnpm"; command -v pnpm >/dev/null 2>&1 || PNPM="$ROOT/.tools/node_modules/.bin/pnpm"

echo "== lint"
"$PNPM" exec eslint --max-warnings 0 .
"$PNPM" exec prettier --check . >/dev/null

# Package boundaries (.dependency-cruiser.mjs): no import cycle, no host-only import in
# device code, no @oclif/core outside the command modules.
echo "== boundaries"
"$PNPM" run --silent boundaries

# The device CLI as one file (pnpm build:device): the end-to-end tests run it, not the
# workspace build (AKLITE_CLI, read by packages/aklite-offline/test/e2e/helpers.ts and the
# examples test). The build fails when host-only code is in it.
echo "== device CLI (one file)"
node scripts/build-device.mjs
export AKLITE_CLI=packages/aklite-offline/dist-device/aklite-offline.mjs

# The workspace CLI, which the suite no longer runs, still starts and loads every command.
echo "== smoke: workspace aklite-offline"
node packages/aklite-offline/bin/run.js --version
for c in check install run status probation boot usb; do
  node packages/aklite-offline/bin/run.js "$c" --help >/dev/null
done
set +e
smoke="$(node packages/aklite-offline/bin/run.js status --device-root "$(mktemp -d)" 2>&1)"
rc=$?
set -e
if [ "$rc" -eq 0 ] || ! grep -q 'primary_ecu_hardware_id is not set' <<<"$smoke"; then
  echo "smoke: status on an empty device root should fail naming the missing config (got $rc): $smoke" >&2
  exit 1
fi

# Two lanes, so that both cores stay busy: aklite-offline's suite (the longest: end-to-end
# installs on two mocha workers) beside the other packages one after the other. Each
# package's output is kept and printed whole, in package order, once both lanes are done.
PKGS=(format bundle device-sim aklite-offline testkit)
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
run_pkg() {
  local pkg="$1" start=$SECONDS rc=0
  (cd "packages/$pkg" && "$PNPM" run --silent test) >"$logs/$pkg.log" 2>&1 || rc=$?
  echo "$rc" >"$logs/$pkg.rc"
  echo "== finished: @offline-ota/$pkg (exit $rc, $((SECONDS - start)) s)"
}
echo "== tests: ${PKGS[*]} (two lanes; each package's output follows when all are done)"
run_pkg aklite-offline &
lane1=$!
for pkg in format bundle device-sim testkit; do run_pkg "$pkg"; done
wait "$lane1" || true

passed=0; failed=0; status=0
for pkg in "${PKGS[@]}"; do
  echo "== tests: @offline-ota/$pkg"
  cat "$logs/$pkg.log"
  rc="$(cat "$logs/$pkg.rc")"
  p=$(grep -Eo '^ *[0-9]+ passing' "$logs/$pkg.log" | grep -Eo '[0-9]+' | tail -n1 || true)
  f=$(grep -Eo '^ *[0-9]+ failing' "$logs/$pkg.log" | grep -Eo '[0-9]+' | tail -n1 || true)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
  if [ "$rc" -ne 0 ]; then status=1; [ -z "$f" ] && failed=$((failed + 1)); fi
done
echo "tests: $passed passed, $failed failed"
exit "$status"
