#!/usr/bin/env bash
# Build the article's test network: namespaces NS1..NS4, each with vethN
# (192.168.100.10N/24) whose peer vethN-vsw stays in the root namespace and
# becomes a port of the switch.
# Env: VSW_PREFIX (prepended to every namespace and interface name),
#      VSWITCH_SOCKET (control socket, honoured by vswconfig).
set -euo pipefail

ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
P=${VSW_PREFIX:-}
VSWCONFIG=("$ROOT/bin/vswconfig")

die() { echo "construct-tap-bridge.sh: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must be run as root"
command -v ip >/dev/null || die "ip (iproute2) is not installed"
[ "${#P}" -le 6 ] || die "VSW_PREFIX '$P' is too long (at most 6 characters: interface names are limited to 15)"

# Check every name before creating anything.
for i in 1 2 3 4; do
  ns=${P}NS$i host=${P}veth$i port=${P}veth$i-vsw
  if ip netns list | awk '{print $1}' | grep -qxF -- "$ns"; then
    die "network namespace $ns already exists (run destruct-tap-bridge.sh first)"
  fi
  for ifname in "$host" "$port"; do
    if ip link show dev "$ifname" >/dev/null 2>&1; then
      die "interface $ifname already exists (run destruct-tap-bridge.sh first)"
    fi
  done
done

trap 'echo "construct-tap-bridge.sh: failed; run destruct-tap-bridge.sh to clean up" >&2' ERR

for i in 1 2 3 4; do
  ns=${P}NS$i host=${P}veth$i port=${P}veth$i-vsw
  ip netns add "$ns"
  ip link add "$port" type veth peer name "$host"
  ip link set "$host" netns "$ns"
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "192.168.100.10$i/24" dev "$host"
  ip -n "$ns" link set "$host" up
  ip link set "$port" up
  "${VSWCONFIG[@]}" add "$port"
done

for i in 1 2 3 4; do
  ip -n "${P}NS$i" -br addr show "${P}veth$i"
done
