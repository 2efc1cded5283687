#!/usr/bin/env bash
# Stop the vswitchd started by Install.sh: SIGTERM (it detaches every port and
# removes its socket), wait up to 10 s, then SIGKILL. The configuration file
# (Install.sh's --db) stays: the next Install.sh starts the same switch.
# Then `vswitchd --cleanup` removes any tc filter a vswitchd that is gone left
# (--attach tc after a crash whose watchdog died too): vswitchd's own only.
# Env: VSWITCH_SOCKET (control socket, default /run/vswitch/vswitchd.sock).
set -euo pipefail

ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
# shellcheck source=lib/daemon.sh
. "$ROOT/scripts/lib/daemon.sh"

die() { echo "Uninstall.sh: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must be run as root"
[ -f "$PIDFILE" ] || die "vswitchd is not running (no pid file at $PIDFILE)"
pid=$(cat "$PIDFILE")
[[ "$pid" =~ ^[0-9]+$ ]] || die "$PIDFILE does not hold a pid"

if is_vswitchd "$pid"; then
  stop_daemon "$pid" Uninstall.sh
else
  echo "Uninstall.sh: vswitchd (pid $pid) was not running; removing the stale pid file" >&2
fi
rm -f "$PIDFILE"
# After SIGKILL (or a crash) the socket file is left behind.
[ -S "$SOCKET" ] && rm -f "$SOCKET"
# One line per filter removed; none is the usual case.
"$ROOT/bin/vswitchd" --cleanup || echo "Uninstall.sh: vswitchd --cleanup failed; see above" >&2
echo "vswitch is uninstalled."
