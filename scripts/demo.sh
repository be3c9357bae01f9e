#!/usr/bin/env bash
# The main job, end to end on this machine: a factory publishes two versions of a
# Target, a production bundle is created on "removable media" and signed 2 of 3 with
# offline keys, checked, and installed on a simulated device (real OSTree sysroot, real
# U-Boot environment) that reboots into the new version. Also shows a tampered stick
# being refused, and a delta bundle's size next to the full one. Work files go to $DEMO_DIR (default: a new temporary directory).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"

WORK="${DEMO_DIR:-$(mktemp -d -t offline-ota-demo-XXXXXX)}"
mkdir -p "$WORK"
bundlectl() { node "$ROOT/packages/bundle/bin/run.js" "$@"; }
aklite() { node "$ROOT/packages/aklite-offline/bin/run.js" "$@" --device-root "$WORK/device"; }
device_sim() { node "$ROOT/packages/device-sim/bin/run.js" "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
expect_exit() { # expect_exit CODE command...
  local want=$1; shift
  set +e; "$@"; local got=$?; set -e
  if [ "$got" -ne "$want" ]; then echo "demo: expected exit $want, got $got: $*" >&2; exit 1; fi
  echo "(exit $got as expected)"
}

step "Factory: keys, root v1, OSTree repo, app store (offline keys kept apart)"
bundlectl factory init "$WORK/factory" --name acme --offline-keys "$WORK/offline-keys"

step "Publish two versions of the Target (real ostree commit, compose app as OCI image)"
for v in 1 2; do
  bundlectl sample rootfs "$WORK/rootfs-$v" --version "$v"
  bundlectl sample app "$WORK/apps-$v" --name shellhttpd --content "hello from version $v"
  bundlectl targets publish --factory "$WORK/factory" --rootfs "$WORK/rootfs-$v" \
    --hardware-id sim-x86 --version "$v" --tag main --app "$WORK/apps-$v/shellhttpd"
done

step "Production: a wave for version 2, signed by two of three release managers"
bundlectl waves init wave-2 --factory "$WORK/factory" --target sim-x86-lmp-2 --tag main \
  --keys "$WORK/offline-keys/targets-key-1.tgz" --keys "$WORK/offline-keys/targets-key-2.tgz"

step "A simulated production device, booted on version 1"
device_sim create "$WORK/device" --factory "$WORK/factory" --target sim-x86-lmp-1 --type prod --tag main

step "Bundle on the stick (unsigned until release managers sign it)"
bundlectl create sim-x86-lmp-2 "$WORK/usb" --wave wave-2 --factory "$WORK/factory" --expires-in-days 30

step "A delta of version 2 for devices running version 1: only what version 1 lacks"
bundlectl create sim-x86-lmp-2 "$WORK/usb-delta" --tag main --from 1 --factory "$WORK/factory"
printf 'full bundle:  %s bytes\ndelta bundle: %s bytes\n' \
  "$(du -sb "$WORK/usb" | cut -f1)" "$(du -sb "$WORK/usb-delta" | cut -f1)"

step "Release manager 1 signs; the device would still refuse it (exit 15)"
bundlectl sign "$WORK/usb" --keys "$WORK/offline-keys/targets-key-1.tgz"
expect_exit 15 aklite check --src-dir "$WORK/usb"

step "Release manager 2 signs: threshold met"
bundlectl sign "$WORK/usb" --keys "$WORK/offline-keys/targets-key-2.tgz"
bundlectl show "$WORK/usb"

step "The factory tests the stick as a device would"
bundlectl verify "$WORK/usb" --root "$WORK/factory/tuf/prod/1.root.json" --type prod --tag main

step "A tampered copy of the stick is refused and the device is untouched"
cp -r "$WORK/usb" "$WORK/usb-tampered"
obj=$(find "$WORK/usb-tampered/ostree_repo/objects" -name '*.filez' | head -n 1)
printf '\x00' | dd of="$obj" bs=1 seek=40 conv=notrunc status=none
expect_exit 70 aklite install --src-dir "$WORK/usb-tampered"

step "Technician: check, install (exit 100: reboot needed)"
expect_exit 16 aklite check --src-dir "$WORK/usb"
expect_exit 100 aklite install --src-dir "$WORK/usb"

step "Reboot (U-Boot counts the boot of the new deployment)"
device_sim reboot "$WORK/device"

step "Technician: run (apps start, the new Target becomes current and starts its probation)"
expect_exit 0 aklite run

step "The new system proves itself: an operator marks it good (ends probation, U-Boot stops counting)"
aklite probation mark-good
aklite status
device_sim status "$WORK/device"

echo
echo "Demo complete. Work files: $WORK"
echo "(OSTree marks deployments immutable; to remove: chattr -i $WORK/device/sysroot/ostree/deploy/*/deploy/*.[0-9]* && rm -rf $WORK)"
