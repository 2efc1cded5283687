#!/usr/bin/env bash
# The article's walkthrough (its section 3) as one command:
# start the switch, build NS1–NS4, show the ports, ping every ordered pair of
# hosts (12 pings), print the learned FDB, tear everything down.
# Exits 0 only if every ping was answered. Run as root after scripts/setup.sh.
#   walkthrough.sh [--vlans] [VSWITCHD OPTIONS...]   (e.g. --datapath user)
# --vlans: the two-VLAN version: NS1 and NS3 in VLAN 10, NS2 and NS4 in VLAN
# 20 (access ports), each port's mode shown; exits 0 only if the 4 pings
# inside a VLAN are answered and the 8 across VLANs are not.
# VSW_PREFIX and VSWITCH_SOCKET change the names and the socket (for tests).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
P="${VSW_PREFIX:-}"
vswconfig() { "$root/bin/vswconfig" "$@"; }
vlans=0
if [ "${1:-}" = --vlans ]; then
  vlans=1
  shift
fi
vlan_of() { # host number: its VLAN in the two-VLAN walkthrough
  if [ $(($1 % 2)) -eq 1 ]; then echo 10; else echo 20; fi
}

if [ "$(id -u)" -ne 0 ]; then
  echo "walkthrough.sh: must run as root" >&2
  exit 1
fi

installed=0
constructed=0
teardown() {
  if [ $constructed -eq 1 ]; then
    echo "# destruct-tap-bridge.sh"
    bash "$here/destruct-tap-bridge.sh"
    constructed=0
  fi
  if [ $installed -eq 1 ]; then
    echo "# Uninstall.sh"
    bash "$here/Uninstall.sh"
    installed=0
  fi
}
trap teardown EXIT
trap 'exit 130' INT TERM

echo "# Install.sh"
bash "$here/Install.sh" "$@" || exit 1
installed=1

echo "# construct-tap-bridge.sh"
constructed=1
bash "$here/construct-tap-bridge.sh" || exit 1

echo "# vswconfig show"
vswconfig show || exit 1

if [ $vlans -eq 1 ]; then
  for i in 1 2 3 4; do
    echo "# vswconfig vlan ${P}veth$i-vsw access $(vlan_of $i)"
    vswconfig vlan "${P}veth$i-vsw" access "$(vlan_of $i)" || exit 1
  done
  for i in 1 2 3 4; do
    echo "# vswconfig vlan ${P}veth$i-vsw"
    vswconfig vlan "${P}veth$i-vsw" || exit 1
  done
fi

# pings that should be answered (all of them, or those inside a VLAN), and the others
answered=0
total=0
crossed=0
across=0
for a in 1 2 3 4; do
  for b in 1 2 3 4; do
    [ "$a" = "$b" ] && continue
    if [ $vlans -eq 1 ] && [ "$(vlan_of "$a")" != "$(vlan_of "$b")" ]; then
      across=$((across + 1))
      echo "# ip netns exec ${P}NS$a ping -c 1 192.168.100.10$b   (VLAN $(vlan_of "$a") to VLAN $(vlan_of "$b"): no answer expected)"
      if ip netns exec "${P}NS$a" ping -c 1 -W 1 "192.168.100.10$b"; then
        crossed=$((crossed + 1))
      fi
      continue
    fi
    total=$((total + 1))
    echo "# ip netns exec ${P}NS$a ping -c 1 192.168.100.10$b"
    if ip netns exec "${P}NS$a" ping -c 1 -W 2 "192.168.100.10$b"; then
      answered=$((answered + 1))
    fi
  done
done

echo "# vswconfig fdb"
vswconfig fdb

teardown
if [ $vlans -eq 1 ]; then
  echo "walkthrough: $answered of $total pings inside a VLAN answered, $crossed of $across across VLANs"
  [ "$answered" -eq "$total" ] && [ "$crossed" -eq 0 ]
else
  echo "walkthrough: $answered of $total pings answered"
  [ "$answered" -eq "$total" ]
fi
