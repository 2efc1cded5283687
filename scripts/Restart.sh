#!/usr/bin/env bash
# Restart (or, once the files are replaced, upgrade) an installed vswitchd:
# it hands the switch over to a new one started from the files on disk, with
# the same options and configuration (README, "Restart and upgrade"); the
# kernel datapath forwards throughout. The pid file gets the new pid; the new
# daemon logs to the same file.
#   sudo scripts/Restart.sh
# Env: VSWITCH_SOCKET (control socket, default /run/vswitch/vswitchd.sock).
set -euo pipefail

ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
# shellcheck source=lib/daemon.sh
. "$ROOT/scripts/lib/daemon.sh"

die() { echo "Restart.sh: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must be run as root"
[ -f "$ROOT/dist/src/daemon/main.js" ] || die "not built: run npm run build (in $ROOT)"

# vswconfig prints the new pid, or one line saying why there is none (the old daemon then stopped).
if ! pid=$("$ROOT/bin/vswconfig" --socket "$SOCKET" restart); then
  rm -f "$PIDFILE"
  die "vswitchd did not restart (see its log)"
fi
echo "$pid" >"$PIDFILE"
echo "vswitchd restarted (pid $pid)."
