#!/usr/bin/env bash
# Device side of the security-unpack pair: aklite-offline runs this program with the
# single-file bundle on stdin and reads the plain bundle from stdout
# (`[pacman] security_unpack = "/usr/lib/sota/security-unpack/decrypt.sh"`).
#
# Contract (docs/security-unpack.md):
#   exit 0  stdout is the plain bundle
#   exit 1  security violation: wrong key, tampered or unsigned ciphertext
#   other   any other failure (the update is cancelled as well)
#
# The device's secret key lives in $GNUPGHOME, by default <device root>/etc/sota/gnupg
# (aklite-offline passes the device root in AKLITE_DEVICE_ROOT). With
# SECURITY_UNPACK_REQUIRE_SIGNER=<fingerprint> the ciphertext must also carry a good
# signature by that key.
set -uo pipefail
export GNUPGHOME="${GNUPGHOME:-${AKLITE_DEVICE_ROOT:-/}/etc/sota/gnupg}"
status=$(mktemp)
trap 'rm -f "$status"' EXIT

gpg --batch --quiet --no-tty --status-file "$status" --decrypt
rc=$?
if [ "$rc" -ne 0 ]; then
  echo "security-unpack: gpg could not decrypt the bundle (exit $rc): wrong key or tampered ciphertext" >&2
  exit 1
fi
if ! grep -q '^\[GNUPG:\] DECRYPTION_OKAY' "$status" || grep -q '^\[GNUPG:\] DECRYPTION_FAILED' "$status"; then
  echo "security-unpack: the bundle was not decrypted with integrity protection" >&2
  exit 1
fi
if [ -n "${SECURITY_UNPACK_REQUIRE_SIGNER:-}" ]; then
  if ! grep -q "^\[GNUPG:\] VALIDSIG ${SECURITY_UNPACK_REQUIRE_SIGNER}" "$status"; then
    echo "security-unpack: no good signature by ${SECURITY_UNPACK_REQUIRE_SIGNER}" >&2
    exit 1
  fi
fi
exit 0
