#!/usr/bin/env bash
# Remove the test network built by construct-tap-bridge.sh. Ports are deleted
# from the switch first (errors ignored if the daemon is gone), then the veth
# pairs and namespaces (ones already gone are skipped).
# Env: VSW_PREFIX, VSWITCH_SOCKET (as construct-tap-bridge.sh).
set -euo pipefail

ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
P=${VSW_PREFIX:-}
VSWCONFIG=("$ROOT/bin/vswconfig")

[ "$(id -u)" -eq 0 ] || { echo "destruct-tap-bridge.sh: must be run as root" >&2; exit 1; }

for i in 1 2 3 4; do
  port=${P}veth$i-vsw
  "${VSWCONFIG[@]}" delete "$port" >/dev/null 2>&1 || true
done
for i in 1 2 3 4; do
  ns=${P}NS$i port=${P}veth$i-vsw
  # Deleting one end of a veth pair deletes both.
  if ip link show dev "$port" >/dev/null 2>&1; then ip link del "$port" || true; fi
  if ip netns list | awk '{print $1}' | grep -qxF -- "$ns"; then ip netns del "$ns" || true; fi
done
