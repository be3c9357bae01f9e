#!/usr/bin/env bash
# Prepares a fresh Debian machine that has only Node.js and npm: the Debian tools the
# toolkit drives (ostree, fw_setenv/fw_printenv, faketime), pnpm, the locked
# dependencies and the build. Safe to run again; it skips what is already there.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { printf '[setup] %s\n' "$*" >&2; }

# Node.js 20.17+ (tuf-js needs ^20.17.0 || >=22.9.0).
node -e '
const [maj, min] = process.versions.node.split(".").map(Number);
if (!((maj === 20 && min >= 17) || (maj === 22 && min >= 9) || maj > 22)) {
  console.error(`Node.js ${process.versions.node} is too old: install Node.js 20.17 or newer.`);
  process.exit(1);
}'

# Debian packages: command -> package.
declare -A NEED=([ostree]=ostree [fw_setenv]=libubootenv-tool [fw_printenv]=libubootenv-tool [faketime]=faketime [gpg]=gnupg [unzip]=unzip)
missing=()
# The USB trigger's tests: FAT images (mkfs.vfat), mounted through FUSE (fusefat), and
# systemd-analyze to verify the shipped units.
NEED+=([mkfs.vfat]=dosfstools [fusefat]=fusefat [systemd-analyze]=systemd)
for cmd in "${!NEED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEED[$cmd]}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  if [ "$(id -u)" -eq 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    say "missing Debian packages. Install them with:"
    say "  sudo apt-get install -y ${missing[*]}"
    exit 1
  fi
fi

# pnpm: use the one on PATH, else a pinned copy installed into .tools/ (no root needed).
PNPM_VERSION="$(node -p 'require("./package.json").packageManager.split("@")[1]')"
if command -v pnpm >/dev/null 2>&1; then
  PNPM=(pnpm)
else
  if [ ! -x "$ROOT/.tools/node_modules/.bin/pnpm" ]; then
    say "installing pnpm $PNPM_VERSION into .tools/"
    npm install --silent --no-audit --no-fund --prefix "$ROOT/.tools" "pnpm@$PNPM_VERSION" >/dev/null
  fi
  PNPM=("$ROOT/.tools/node_modules/.bin/pnpm")
fi

say "installing dependencies (pnpm install --frozen-lockfile)"
"${PNPM[@]}" install --frozen-lockfile --reporter=silent
say "building (tsc -b)"
"${PNPM[@]}" exec tsc -b
