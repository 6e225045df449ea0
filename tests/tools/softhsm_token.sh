#!/usr/bin/env bash
# A SoftHSM2 token for the tests, in DIR (its own SOFTHSM2_CONF, never the system's):
#   softhsm_token.sh DIR LABEL  -> DIR/softhsm2.conf, DIR/tokens/, DIR/pin (owner-only, PIN 1234)
# Prints the module path. The caller exports SOFTHSM2_CONF=DIR/softhsm2.conf and removes DIR.
set -euo pipefail
dir=$1 label=$2
module=""
for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so; do
  [ -e "$m" ] && module=$m && break
done
[ -n "$module" ] || { echo "softhsm_token.sh: SoftHSM2 is not installed (.ci/deps installs softhsm2)" >&2; exit 1; }
mkdir -p "$dir/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$dir" > "$dir/softhsm2.conf"
SOFTHSM2_CONF="$dir/softhsm2.conf" softhsm2-util --init-token --free --label "$label" --pin 1234 --so-pin 12345678 >/dev/null
( umask 077 && printf '1234\n' > "$dir/pin" )
echo "$module"
