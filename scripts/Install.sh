#!/usr/bin/env bash
# Start vswitchd in the background and wait until it answers.
#   sudo scripts/Install.sh [VSWITCHD OPTIONS...]
# Env: VSWITCH_SOCKET (control socket, default /run/vswitch/vswitchd.sock),
#      VSWITCH_DB (the configuration kept across restarts, default /var/lib/vswitch/db.json).
# Writes the daemon's pid to SOCKET.pid and its log beside the socket
# (/run/vswitch/vswitchd.log by default).
set -euo pipefail

ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
# shellcheck source=lib/daemon.sh
. "$ROOT/scripts/lib/daemon.sh"
RUNDIR=$(dirname "$SOCKET")
case "$SOCKET" in
  *.sock) LOG=${SOCKET%.sock}.log ;;
  *) LOG=$SOCKET.log ;;
esac
VSWCONFIG=("$ROOT/bin/vswconfig" --socket "$SOCKET")
DB=${VSWITCH_DB:-/var/lib/vswitch/db.json}

die() { echo "Install.sh: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must be run as root"
command -v node >/dev/null || die "node is not installed"
[ -f "$ROOT/dist/src/daemon/main.js" ] || die "not built: run npm run build (in $ROOT)"

if "${VSWCONFIG[@]}" show >/dev/null 2>&1; then
  die "vswitchd is already running on $SOCKET"
fi
if [ -f "$PIDFILE" ]; then
  oldpid=$(cat "$PIDFILE" 2>/dev/null || true)
  if [[ "$oldpid" =~ ^[0-9]+$ ]] && is_vswitchd "$oldpid"; then
    die "vswitchd is already running (pid $oldpid, $PIDFILE) but does not answer on $SOCKET"
  fi
  rm -f "$PIDFILE"
fi

mkdir -p "$RUNDIR"
# setsid: its own session, so the daemon outlives this shell and its terminal.
# In a non-interactive shell the child is no group leader, so setsid execs in
# place and $! is the daemon's pid (node replaces env and nohup too).
setsid nohup "$ROOT/bin/vswitchd" --socket "$SOCKET" --db "$DB" "$@" </dev/null >"$LOG" 2>&1 &
pid=$!
echo "$pid" >"$PIDFILE"

for _ in $(seq 1 50); do
  if ! alive "$pid"; then
    echo "Install.sh: vswitchd exited during start-up; last lines of $LOG:" >&2
    tail -n 20 "$LOG" >&2 || true
    rm -f "$PIDFILE"
    exit 1
  fi
  if "${VSWCONFIG[@]}" show >/dev/null 2>&1; then
    echo "vswitch is installed."
    exit 0
  fi
  sleep 0.2
done

echo "Install.sh: vswitchd did not answer on $SOCKET within 10 s; last lines of $LOG:" >&2
tail -n 20 "$LOG" >&2 || true
stop_daemon "$pid" Install.sh
rm -f "$PIDFILE"
exit 1
