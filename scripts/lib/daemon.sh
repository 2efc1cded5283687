# Shared by Install.sh and Uninstall.sh: where the daemon's socket and pid file
# are, and how to tell whether it runs and to stop it (or another daemon:
# destruct-encrypted-hosts.sh stops wireguard-go with it). Sourced, not run.
# Env: VSWITCH_SOCKET (control socket, default /run/vswitch/vswitchd.sock).

SOCKET=${VSWITCH_SOCKET:-/run/vswitch/vswitchd.sock}
PIDFILE=$SOCKET.pid

alive() { # pid: running and not a zombie
  local state
  [ -r "/proc/$1/stat" ] || return 1
  state=$(sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

is_vswitchd() { # pid: a live vswitchd
  alive "$1" && grep -qa vswitchd "/proc/$1/cmdline" 2>/dev/null
}

stop_daemon() { # pid who [name]: SIGTERM (vswitchd detaches every port), 10 s, then SIGKILL
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 1 50); do
    alive "$1" || return 0
    sleep 0.2
  done
  echo "$2: ${3:-vswitchd} (pid $1) did not stop within 10 s; killing it" >&2
  kill -KILL "$1" 2>/dev/null || true
  for _ in $(seq 1 25); do alive "$1" || break; sleep 0.2; done
}
