#!/usr/bin/env bash
# Build two hosts, A and B, as network namespaces joined by an underlay veth
# link that carries only WireGuard: each host runs wireguard-go (a userspace
# WireGuard on TUN) and a vswitchd whose VXLAN tunnel to the other host goes
# to the other's WireGuard address, so the VXLAN packets ride inside WireGuard.
# Two tenants (namespaces) on each host are ports of its switch.
#   sudo scripts/construct-encrypted-hosts.sh [VSWITCHD OPTIONS...]   (e.g. --datapath user)
# Prints what it built; exits 0 only if a tenant on A pings a tenant on B.
# Names, addresses and the state directory: scripts/lib/encrypted-hosts.sh.
# scripts/destruct-encrypted-hosts.sh removes all of it.
set -euo pipefail

ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
# shellcheck source=lib/encrypted-hosts.sh
. "$ROOT/scripts/lib/encrypted-hosts.sh"

die() { echo "construct-encrypted-hosts.sh: $*" >&2; exit 1; }
vswconfig() { local h=$1; shift; "$ROOT/bin/vswconfig" --socket "$(vsw_socket "$h")" "$@"; }

[ "$(id -u)" -eq 0 ] || die "must be run as root"
for cmd in ip wg wireguard-go ping; do
  command -v "$cmd" >/dev/null || die "$cmd is not installed (run scripts/setup.sh)"
done
[ -f "$ROOT/dist/src/daemon/main.js" ] || die "not built: run npm run build (in $ROOT)"
[ "${#P}" -le 6 ] || die "VSW_PREFIX '$P' is too long (at most 6 characters: interface names are limited to 15)"

# Check every name before creating anything.
[ ! -e "$STATE" ] || die "$STATE already exists (run destruct-encrypted-hosts.sh first)"
for ns in $(all_namespaces); do
  ! ns_exists "$ns" || die "network namespace $ns already exists (run destruct-encrypted-hosts.sh first)"
done
for h in "${HOSTS[@]}"; do
  [ ! -e "$WG_SOCKDIR/$(wg_if "$h").sock" ] || die "$WG_SOCKDIR/$(wg_if "$h").sock exists: a WireGuard interface $(wg_if "$h") runs already"
done

trap 'echo "construct-encrypted-hosts.sh: failed; run destruct-encrypted-hosts.sh to clean up" >&2' ERR

# Everything below is recorded in $STATE: destruct removes only what it names.
mkdir -p "$(dirname "$STATE")"
mkdir -m 0700 "$STATE"
mkdir -m 0700 "$STATE/keys"

# The hosts and the underlay link (IPv6 off: only WireGuard and ARP cross it).
for h in "${HOSTS[@]}"; do
  ip netns add "$(host_ns "$h")"
  ip -n "$(host_ns "$h")" link set lo up
done
ip link add "$UL_IF" netns "$(host_ns A)" type veth peer name "$UL_IF" netns "$(host_ns B)"
for h in "${HOSTS[@]}"; do
  ip netns exec "$(host_ns "$h")" sysctl -qw "net.ipv6.conf.$UL_IF.disable_ipv6=1"
  ip -n "$(host_ns "$h")" addr add "$(ul_ip "$h")/24" dev "$UL_IF"
  ip -n "$(host_ns "$h")" link set "$UL_IF" mtu "$UNDERLAY_MTU" up
done

# WireGuard: a key pair per host, wireguard-go inside the host's namespace (the
# TUN device and its UDP socket are made there), the other host as its one peer.
for h in "${HOSTS[@]}"; do
  (umask 077 && wg genkey >"$STATE/keys/$h.key")
  wg pubkey <"$STATE/keys/$h.key" >"$STATE/keys/$h.pub"
  # -f: in the foreground of its own session, so that $! is its pid.
  ip netns exec "$(host_ns "$h")" setsid wireguard-go -f "$(wg_if "$h")" </dev/null >"$STATE/$(wg_if "$h").log" 2>&1 &
  echo $! >"$(wg_pidfile "$h")"
done
for h in "${HOSTS[@]}"; do
  sock=$WG_SOCKDIR/$(wg_if "$h").sock
  for _ in $(seq 1 50); do [ -S "$sock" ] && break; sleep 0.1; done
  [ -S "$sock" ] || die "wireguard-go $(wg_if "$h") did not start: $(tail -n 3 "$STATE/$(wg_if "$h").log")"
done
for h in "${HOSTS[@]}"; do
  o=$(other "$h")
  wg set "$(wg_if "$h")" listen-port "$WG_PORT" private-key "$STATE/keys/$h.key" \
    peer "$(cat "$STATE/keys/$o.pub")" endpoint "$(ul_ip "$o"):$WG_PORT" allowed-ips "$(wg_ip "$o")/32"
  ip -n "$(host_ns "$h")" addr add "$(wg_ip "$h")/24" dev "$(wg_if "$h")"
  ip -n "$(host_ns "$h")" link set "$(wg_if "$h")" mtu "$WG_MTU" up
done

# A vswitchd in each host (Install.sh run inside the namespace), its VXLAN
# tunnel to the other host's WireGuard address, and the tenants as ports.
for h in "${HOSTS[@]}"; do
  ip netns exec "$(host_ns "$h")" env VSWITCH_SOCKET="$(vsw_socket "$h")" VSWITCH_DB="$STATE/HOST$h.db.json" \
    bash "$ROOT/scripts/Install.sh" "$@" >/dev/null
  vswconfig "$h" tunnel add "$VX_IF" vxlan vni "$VNI" remote "$(wg_ip "$(other "$h")")" local "$(wg_ip "$h")"
  for i in "${TENANTS[@]}"; do
    tns=$(tenant_ns "$h" "$i") port=$(tenant_port "$h" "$i")
    ip netns add "$tns"
    # The tenants' MTU is the tunnel's: the switch does not fragment, it drops
    # a frame too big for the tunnel; at this MTU TCP sizes its segments to fit.
    ip -n "$tns" link add eth0 mtu "$TENANT_MTU" type veth peer name "$port" mtu "$TENANT_MTU" netns "$(host_ns "$h")"
    ip -n "$tns" addr add "$(tenant_ip "$h" "$i")/24" dev eth0
    ip -n "$tns" link set lo up
    ip -n "$tns" link set eth0 up
    ip -n "$(host_ns "$h")" link set "$port" up
    vswconfig "$h" add "$port"
  done
done

trap - ERR
for h in "${HOSTS[@]}"; do
  echo "# host $h: namespace $(host_ns "$h"), vswitchd --socket $(vsw_socket "$h")"
  ip -n "$(host_ns "$h")" -br addr show
  wg show "$(wg_if "$h")"
  echo
  vswconfig "$h" tunnel show
  for i in "${TENANTS[@]}"; do
    echo "tenant $(tenant_ns "$h" "$i"): eth0 $(tenant_ip "$h" "$i")/24 mtu $TENANT_MTU, port $(tenant_port "$h" "$i") of host $h"
  done
  echo
done
echo "# MTU: underlay $UNDERLAY_MTU, WireGuard $WG_MTU (-60), tunnel and tenants $TENANT_MTU (-50)"

# The first packet also waits for WireGuard's handshake.
from=$(tenant_ns A 1) to=$(tenant_ip B 1)
for _ in 1 2 3 4 5; do
  if ip netns exec "$from" ping -c 1 -W 2 "$to" >/dev/null; then
    echo "# ping $from -> $to: answered"
    exit 0
  fi
done
echo "construct-encrypted-hosts.sh: a tenant on A ($from) does not reach one on B ($to)" >&2
exit 1
