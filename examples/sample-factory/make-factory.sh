#!/usr/bin/env bash
# Builds a sample factory from scratch, with no network: keys, root metadata, an OSTree
# repo holding two versions of a sample rootfs, and two compose apps (each with an OCI
# image layout built locally), published as two Targets for one hardware id and tag.
#
#   examples/sample-factory/make-factory.sh [WORKDIR]      (default: ./sample-factory)
#
# Environment: BUNDLECTL (how to run bundlectl; default: the built CLI of this checkout),
# HARDWARE_ID (default sim-x86), TAG (default main), FACTORY_NAME (default acme).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
work="${1:-./sample-factory}"
hardware_id="${HARDWARE_ID:-sim-x86}"
tag="${TAG:-main}"
name="${FACTORY_NAME:-acme}"

if [[ -n "${BUNDLECTL:-}" ]]; then
  read -r -a bundlectl <<<"$BUNDLECTL"
else
  bundlectl=(node "$repo/packages/bundle/bin/run.js")
  if [[ ! -d "$repo/packages/bundle/dist" ]]; then
    echo "make-factory: bundlectl is not built; run: bash scripts/setup.sh" >&2
    exit 1
  fi
fi

if [[ -e "$work" && -n "$(ls -A "$work" 2>/dev/null)" ]]; then
  echo "make-factory: $work is not empty; give a new or empty directory" >&2
  exit 1
fi
mkdir -p "$work"
work="$(cd "$work" && pwd)"
factory="$work/factory"
keys="$work/offline-keys"
inputs="$work/inputs"

step() { printf '\n== %s\n' "$*"; }

step "Factory $name in $factory (offline keys in $keys)"
"${bundlectl[@]}" factory init "$factory" --name "$name" --offline-keys "$keys"

for version in 1 2; do
  step "Inputs of version $version: a rootfs tree and two compose apps"
  "${bundlectl[@]}" sample rootfs "$inputs/rootfs-$version" --version "$version"
  "${bundlectl[@]}" sample app "$inputs/apps-$version" --name shellhttpd \
    --serves "$version"
  "${bundlectl[@]}" sample app "$inputs/apps-$version" --name logger \
    --serves "$version"

  step "Publishing version $version for hardware id $hardware_id, tag $tag"
  "${bundlectl[@]}" targets publish --factory "$factory" \
    --rootfs "$inputs/rootfs-$version" --hardware-id "$hardware_id" \
    --version "$version" --tag "$tag" \
    --app "$inputs/apps-$version/shellhttpd" --app "$inputs/apps-$version/logger"
done

target="$hardware_id-lmp-2"
cat <<NEXT

Done: factory $factory with Targets $hardware_id-lmp-1 and $target (tag $tag).

Next steps:
  # a CI bundle of the newest Target, as a directory or as one zip file
  bundlectl create $target /media/usb/bundle --tag $tag --factory $factory
  bundlectl create $target /media/usb/bundle.zip --tag $tag --archive zip --factory $factory
  # check it as a device that ships the factory's first CI root would
  bundlectl verify /media/usb/bundle --root $factory/tuf/ci/1.root.json
  # a production bundle: a wave signed offline, then the bundle signed 2 of 3
  bundlectl waves init wave-1 --factory $factory --target $target --tag $tag \\
    --keys $keys/targets-key-1.tgz --keys $keys/targets-key-2.tgz
  bundlectl create $target ./prod-bundle --wave wave-1 --factory $factory
  bundlectl sign ./prod-bundle --keys $keys/targets-key-1.tgz
  bundlectl sign ./prod-bundle --keys $keys/targets-key-2.tgz
  bundlectl pack ./prod-bundle /media/usb/prod-bundle.zip
  # a simulated device on version 1, to try the technician's script on
  device-sim create ./device --factory $factory --target $hardware_id-lmp-1 --tag $tag
NEXT
