# The names, addresses and files of the two hosts construct-encrypted-hosts.sh
# builds, shared with destruct-encrypted-hosts.sh so both agree. Sourced, not run.
# Env (all optional):
#   VSW_PREFIX       prepended to every namespace, WireGuard interface and the state
#                    directory (at most 6 characters), so that runs do not collide
#   ENC_UNDERLAY     the underlay link's /24 (default 192.168.200): host A .1, B .2
#   ENC_WG_NET       the WireGuard interfaces' /24 (default 10.200.0): A .1, B .2
#   ENC_TENANT_NET   the tenants' /24 (default 10.201.0): A's .11 .12, B's .21 .22
#   ENC_WG_PORT      WireGuard's UDP port on the underlay (default 51820)
#   ENC_VNI          the VXLAN tunnel's VNI (default 4200)
#   ENC_DIR          keys, vswitchd sockets, logs and pid files
#                    (default /run/vswitch/<prefix>encrypted-hosts)

P=${VSW_PREFIX:-}
UNDERLAY=${ENC_UNDERLAY:-192.168.200}
WG_NET=${ENC_WG_NET:-10.200.0}
TENANT_NET=${ENC_TENANT_NET:-10.201.0}
WG_PORT=${ENC_WG_PORT:-51820}
VNI=${ENC_VNI:-4200}
STATE=${ENC_DIR:-/run/vswitch/${P}encrypted-hosts}
# wireguard-go's control socket is /var/run/wireguard/NAME.sock in every
# namespace: each host's WireGuard interface needs a name of its own.
WG_SOCKDIR=/var/run/wireguard

# MTU: the underlay is 1500. WireGuard over IPv4 adds 60 bytes (IPv4 20, UDP 8,
# its header 16, its auth tag 16), VXLAN 50 (Ethernet 14, IPv4 20, UDP 8, VXLAN 8).
UNDERLAY_MTU=1500
WG_MTU=$((UNDERLAY_MTU - 60))
TENANT_MTU=$((WG_MTU - 50))

HOSTS=(A B)
UL_IF=ul0      # the underlay veth, inside each host (its own namespace)
VX_IF=vx0      # the tunnel, inside each host
TENANTS=(1 2)  # per host

host_ns() { echo "${P}HOST$1"; }
wg_if() { echo "${P}wg$1"; }
host_n() { [ "$1" = A ] && echo 1 || echo 2; }
other() { [ "$1" = A ] && echo B || echo A; }
ul_ip() { echo "$UNDERLAY.$(host_n "$1")"; }
wg_ip() { echo "$WG_NET.$(host_n "$1")"; }
tenant_ns() { echo "${P}T$1$2"; }                      # host, i
tenant_port() { echo "t$(echo "$1" | tr AB ab)$2"; }   # inside the host
tenant_ip() { echo "$TENANT_NET.$(host_n "$1")$2"; }
vsw_socket() { echo "$STATE/HOST$1.sock"; }
wg_pidfile() { echo "$STATE/$(wg_if "$1").pid"; }

ns_exists() { ip netns list | awk '{print $1}' | grep -qxF -- "$1"; }
# Every namespace the set-up makes, tenants first (they hang off the hosts).
all_namespaces() {
  local h i
  for h in "${HOSTS[@]}"; do for i in "${TENANTS[@]}"; do tenant_ns "$h" "$i"; done; done
  for h in "${HOSTS[@]}"; do host_ns "$h"; done
}
