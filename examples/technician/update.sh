#!/usr/bin/env bash
# The field technician's offline update, automated: install from a bundle, reboot when the
# device asks for it, then finish with `aklite-offline run`. Every decision is taken on an
# exit code of aklite-offline (docs/exit-codes.md); anything unexpected is logged and the
# script stops, leaving the device as aklite-offline left it.
#
#   update.sh --src-dir /media/usb/bundle [--force]     first call, with the stick plugged in
#   update.sh --src-file /media/usb/bundle.zip [--force]   the same with a single-file bundle
#   update.sh                                           after a reboot (e.g. from a boot-time unit)
#
# A reboot ends the script; the next call (after the reboot) picks up where it stopped, from
# a small state file. Environment:
#   AKLITE_OFFLINE    how to run aklite-offline (default: aklite-offline)
#   REBOOT_CMD        how to reboot (default: systemctl reboot)
#   SIMULATED_REBOOT  1 when REBOOT_CMD returns with the device rebooted (a simulated device):
#                     the script then goes on by itself
#   STATE_DIR         where the state and the log live (default: /var/lib/offline-update)
#   MAX_REBOOTS       reboots one update may take before the script gives up (default: 3)
# Exit status: 0 when the update is complete or nothing was to be done (calling it again
# after a complete update, also during the new system's probation, exits 0); 99 when the
# update failed and the device rolled back to the previous Target (a rollback is never
# reported as a complete update); otherwise the aklite-offline code that stopped it (1 for
# this script's own errors).
set -uo pipefail

src_dir=""
src_opt="--src-dir"
force=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --src-dir) src_dir="${2:-}"; shift 2 ;;
    --src-dir=*) src_dir="${1#--src-dir=}"; shift ;;
    --src-file) src_dir="${2:-}"; src_opt="--src-file"; shift 2 ;;
    --src-file=*) src_dir="${1#--src-file=}"; src_opt="--src-file"; shift ;;
    --force) force=(--force); shift ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "update.sh: unknown argument $1 (see --help)" >&2; exit 1 ;;
  esac
done

read -r -a aklite <<<"${AKLITE_OFFLINE:-aklite-offline}"
read -r -a reboot_cmd <<<"${REBOOT_CMD:-systemctl reboot}"
state_dir="${STATE_DIR:-/var/lib/offline-update}"
state_file="$state_dir/state"
log_file="$state_dir/update.log"
max_reboots="${MAX_REBOOTS:-3}"
mkdir -p "$state_dir" || { echo "update.sh: cannot create $state_dir" >&2; exit 1; }

log() { printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" | tee -a "$log_file" >&2; }

# What a failing code means for the technician (docs/technician-guide.md has the full table).
advice() {
  case "$1" in
    4) echo "the bundle's TUF metadata could not be applied: make a new bundle" ;;
    6) echo "no Target in the bundle is for this device (hardware id or tag): get the right bundle" ;;
    8) echo "the bundle lacks the Target's content: copy the whole bundle to the stick again" ;;
    11) echo "security error, the bundle is not trusted: do not use this stick, report it" ;;
    12) echo "the bundle has expired (or the device clock is wrong): get a fresh bundle, check the clock" ;;
    14) echo "metadata missing from the stick: copy the whole bundle again" ;;
    15) echo "bundle signatures, type or tag do not fit this device: get a bundle signed for it" ;;
    20) echo "the named Target is not in the bundle: run aklite-offline check" ;;
    50) echo "reading the stick failed: reseat or replace the stick, try again" ;;
    60) echo "not enough free space on the device" ;;
    70) echo "content failed verification (corrupt or tampered): do not use this stick" ;;
    41) echo "updates are deferred by a client on the device: install again when it allows them" ;;
    42) echo "the running system is still in its probation period: install again after it ends (aklite-offline probation status)" ;;
    *) echo "see docs/exit-codes.md" ;;
  esac
}

phase="install"
reboots=0
# The Target being installed, and 1 once its apps failed and a rollback is under way.
target=""
rolling_back=0
if [[ -f "$state_file" ]]; then
  # shellcheck disable=SC1090
  source "$state_file"
  log "resuming after a reboot: phase $phase, reboot $reboots of at most $max_reboots"
fi

save_state() {
  printf 'phase=%s\nreboots=%s\nsrc_dir=%q\nsrc_opt=%q\ntarget=%q\nrolling_back=%s\n' \
    "$1" "$reboots" "$src_dir" "$src_opt" "$target" "$rolling_back" >"$state_file"
}

finish() {
  rm -f "$state_file"
  log "finished with exit status $1"
  exit "$1"
}

# Reboots into phase $1. On a real device the script ends here and is called again after
# the reboot; on a simulated one (SIMULATED_REBOOT=1) it carries on.
reboot_into() {
  if (( reboots >= max_reboots )); then
    log "giving up: this update already took $reboots reboots; service the device"
    finish 1
  fi
  reboots=$((reboots + 1))
  save_state "$1"
  log "rebooting (then: $1)"
  if ! "${reboot_cmd[@]}"; then
    log "the reboot command failed: ${reboot_cmd[*]}"
    finish 1
  fi
  [[ "${SIMULATED_REBOOT:-0}" == 1 ]] || exit 0
  phase="$1"
}

while :; do
  case "$phase" in
    install)
      if [[ -z "$src_dir" ]]; then
        echo "update.sh: give the bundle: update.sh --src-dir /media/usb/bundle (or --src-file bundle.zip)" >&2
        exit 1
      fi
      log "installing from $src_dir"
      out="$("${aklite[@]}" install "$src_opt" "$src_dir" "${force[@]}")"
      code=$?
      printf '%s\n' "$out"
      target="$(sed -n 's/^Installed \(the apps of \)\{0,1\}\([^ ]*\)\. .*/\2/p' <<<"$out" | head -n1)"
      case "$code" in
        0) log "nothing to install: $(head -n1 <<<"$out")"; finish 0 ;;
        10) log "apps updated; starting them"; phase=run ;;
        100) log "update installed; a reboot finishes it"; reboot_into run ;;
        90) log "a boot firmware update waits for its reboot; rebooting, then installing again"
            reboot_into install ;;
        102) log "refused: the bundle's Target is older than the running one; to downgrade on purpose, call again with --force"
             finish 102 ;;
        30) log "an earlier installation is still pending: reboot the device, then run: aklite-offline run"
            finish 30 ;;
        *) log "install failed (exit $code): $(advice "$code")"; finish "$code" ;;
      esac
      ;;
    run)
      log "finishing the update"
      out="$("${aklite[@]}" run)"
      code=$?
      printf '%s\n' "$out"
      # `run` completes a rollback with 0 too: that is the end of a failed update.
      if [[ "$code" == 0 ]] && { [[ "$rolling_back" == 1 ]] || grep -q '^Rollback complete' <<<"$out"; }; then
        log "the update failed and the device rolled back: $(head -n1 <<<"$out")"
        finish 99
      fi
      case "$code" in
        0) log "update complete"; finish 0 ;;
        5) log "update complete; new boot firmware asks for a reboot when convenient"; finish 0 ;;
        100) log "the updated apps failed to start; a reboot completes the rollback"
             rolling_back=1
             reboot_into run ;;
        99) log "the device did not boot the update and rolled back to the previous version"
            finish 99 ;;
        40)
          # After a reboot, the boot service may have finalized it already
          # ([pacman] finalize_at_boot = true): read what the device runs.
          if (( reboots > 0 )) && [[ -n "$target" ]]; then
            st="$("${aklite[@]}" status)"
            if grep -q "^Applied Target: $target " <<<"$st"; then
              log "update complete (finalized by the boot service)"; finish 0
            elif grep -q "^Failed Target: $target:" <<<"$st"; then
              log "the update failed and the device rolled back (finalized by the boot service)"; finish 99
            fi
          fi
          log "nothing pending to run (was install run?)"; finish 40 ;;
        120) log "the apps failed and there is nothing to roll back to: service the device"
             finish 120 ;;
        *) log "run failed (exit $code): $(advice "$code")"; finish "$code" ;;
      esac
      ;;
    *) log "unknown phase $phase in $state_file"; finish 1 ;;
  esac
done
