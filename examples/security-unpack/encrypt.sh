#!/usr/bin/env bash
# Host side of the security-unpack pair: encrypt (and sign) a single-file bundle for the
# devices' GnuPG key, so the stick carries only ciphertext.
#
#   encrypt.sh <bundle.zip> <out.zip.gpg> <device-key-id> [<signing-key-id>]
#
# GNUPGHOME selects the keyring holding the devices' public key (and the signing key).
set -euo pipefail
if [ "$#" -lt 3 ]; then
  echo "usage: $0 <bundle.zip> <out.zip.gpg> <device-key-id> [<signing-key-id>]" >&2
  exit 2
fi
in=$1 out=$2 recipient=$3 signer=${4:-}
args=(--batch --yes --trust-model always --recipient "$recipient" --output "$out.tmp")
if [ -n "$signer" ]; then
  args+=(--local-user "$signer" --sign)
fi
gpg "${args[@]}" --encrypt "$in"
mv -f "$out.tmp" "$out"
echo "encrypted $in for $recipient -> $out"
