#!/bin/sh
# aklite-offline callback example: appends one line per update event to a log file.
#
#   [pacman]
#   callback_program = "/usr/local/bin/log-env.sh"
#
# aklite-offline runs it with no arguments and no shell, with the event in MESSAGE
# and, when known, CURRENT_TARGET (the current-target file), CURRENT_TARGET_NAME,
# INSTALL_TARGET_NAME and RESULT (OK, NEEDS_COMPLETION or "FAILED: <reason>").
# Its exit status is only logged; a callback that runs longer than
# [pacman] callback_timeout_seconds (default 30) is killed with its process group.
#
# Log file: $AKLITE_CALLBACK_LOG, default /var/log/aklite-callback.log. One line per event,
# tab-separated: the UTC time, then NAME=value for each contract variable that is set.
set -u
log="${AKLITE_CALLBACK_LOG:-/var/log/aklite-callback.log}"
line="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
for name in MESSAGE CURRENT_TARGET CURRENT_TARGET_NAME INSTALL_TARGET_NAME RESULT; do
  eval "isset=\${$name+x}"
  if [ -n "$isset" ]; then
    eval "value=\$$name"
    # Keep one event per line.
    value=$(printf '%s' "$value" | tr '\t\n' '  ')
    line="$line	$name=$value"
  fi
done
mkdir -p "$(dirname "$log")"
printf '%s\n' "$line" >>"$log"

# React to events here, e.g. stop a critical service before an install:
# case "$MESSAGE" in
#   install-pre) systemctl stop my-critical-service ;;
#   install-post) case "${RESULT:-}" in FAILED*) logger "update failed: $RESULT" ;; esac ;;
# esac
exit 0
