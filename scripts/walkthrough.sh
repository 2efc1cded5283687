#!/usr/bin/env bash
# The article's walkthrough (its section 3) as one command:
# start the switch, build NS1–NS4, show the ports, ping every ordered pair of
# hosts (12 pings), print the learned FDB, tear everything down.
# Exits 0 only if every ping was answered. Run as root after scripts/setup.sh.
# VSW_PREFIX and VSWITCH_SOCKET change the names and the socket (for tests).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
P="${VSW_PREFIX:-}"
vswconfig() { "$root/bin/vswconfig" "$@"; }

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
bash "$here/Install.sh" || exit 1
installed=1

echo "# construct-tap-bridge.sh"
constructed=1
bash "$here/construct-tap-bridge.sh" || exit 1

echo "# vswconfig show"
vswconfig show || exit 1

answered=0
total=0
for a in 1 2 3 4; do
  for b in 1 2 3 4; do
    [ "$a" = "$b" ] && continue
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
echo "walkthrough: $answered of $total pings answered"
[ "$answered" -eq "$total" ]
