#!/usr/bin/env bash
# Remove what construct-encrypted-hosts.sh built: both vswitchd (Uninstall.sh),
# both wireguard-go and their control sockets, the tenants' and hosts'
# namespaces, and the state directory with the keys. Only what construct made
# is touched: without its state directory there is nothing to remove. Safe to
# run again, and after a construct that failed halfway.
# Env: as construct-encrypted-hosts.sh (scripts/lib/encrypted-hosts.sh).
set -euo pipefail

ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
# shellcheck source=lib/encrypted-hosts.sh
. "$ROOT/scripts/lib/encrypted-hosts.sh"
# shellcheck source=lib/daemon.sh
. "$ROOT/scripts/lib/daemon.sh"

[ "$(id -u)" -eq 0 ] || { echo "destruct-encrypted-hosts.sh: must be run as root" >&2; exit 1; }
[ -d "$STATE" ] || exit 0

# Processes first: a process inside a namespace keeps it (and its interfaces)
# alive after `ip netns del`.
for h in "${HOSTS[@]}"; do
  if [ -f "$(vsw_socket "$h").pid" ]; then
    VSWITCH_SOCKET=$(vsw_socket "$h") bash "$ROOT/scripts/Uninstall.sh" >/dev/null || true
  fi
  pidfile=$(wg_pidfile "$h")
  if [ -f "$pidfile" ]; then
    pid=$(cat "$pidfile")
    if [[ "$pid" =~ ^[0-9]+$ ]] && alive "$pid" && grep -qa wireguard-go "/proc/$pid/cmdline"; then
      stop_daemon "$pid" destruct-encrypted-hosts.sh wireguard-go
    fi
  fi
  # wireguard-go removes its socket when it stops, but not when killed.
  rm -f "$WG_SOCKDIR/$(wg_if "$h").sock"
done

for ns in $(all_namespaces); do
  if ns_exists "$ns"; then ip netns del "$ns" || true; fi
done
rm -rf "$STATE"
