#!/usr/bin/env bash
# Stop the vswitchd started by Install.sh: SIGTERM (it detaches every port and
# removes its socket), wait up to 10 s, then SIGKILL.
# Env: VSWITCH_SOCKET (control socket, default /run/vswitch/vswitchd.sock).
set -euo pipefail

SOCKET=${VSWITCH_SOCKET:-/run/vswitch/vswitchd.sock}
PIDFILE=$SOCKET.pid

die() { echo "Uninstall.sh: $*" >&2; exit 1; }

alive() { # pid: running and not a zombie
  local state
  [ -r "/proc/$1/stat" ] || return 1
  state=$(sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

[ "$(id -u)" -eq 0 ] || die "must be run as root"
[ -f "$PIDFILE" ] || die "vswitchd is not running (no pid file at $PIDFILE)"
pid=$(cat "$PIDFILE")
[[ "$pid" =~ ^[0-9]+$ ]] || die "$PIDFILE does not hold a pid"

if alive "$pid" && grep -qa vswitchd "/proc/$pid/cmdline" 2>/dev/null; then
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    alive "$pid" || break
    sleep 0.2
  done
  if alive "$pid"; then
    echo "Uninstall.sh: vswitchd (pid $pid) did not stop within 10 s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 1 25); do alive "$pid" || break; sleep 0.2; done
  fi
else
  echo "Uninstall.sh: vswitchd (pid $pid) was not running; removing the stale pid file" >&2
fi
rm -f "$PIDFILE"
# After SIGKILL (or a crash) the socket file is left behind.
[ -S "$SOCKET" ] && rm -f "$SOCKET"
echo "vswitch is uninstalled."
