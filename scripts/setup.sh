#!/usr/bin/env bash
# Installs everything vswitch needs on a Debian machine and builds it:
# Debian packages (only those missing), npm packages from the lockfile, tsc.
# Run as root from anywhere; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: must run as root (it installs Debian packages)" >&2
  exit 1
fi

# iproute2: ip netns/link; iputils-ping: ping; tcpdump, iperf3, python3-scapy:
# the integration tests' clients; ethtool: offload checks; netsniff-ng: trafgen
# for the benchmark; clang, libbpf-dev, libbpf1: the eBPF programs (bpf/), built
# with Debian's clang and loaded with Debian's libbpf; bpftool: the tests look
# at what is attached; wireguard-go, wireguard-tools: the encrypted underlay of
# construct-encrypted-hosts.sh (this kernel has no WireGuard module); prometheus:
# its promtool checks what vswitchd --metrics serves (the tests need only promtool);
# chromium: the browser test/integration/web.test.ts drives (playwright-core, /usr/bin/chromium).
# linux-perf: perf for the benchmark's --perf (and bpftool for its --bpf-stats).
# tshark: test/integration/capture.test.ts reads the pcapng files of vswconfig capture with it
# (its debconf question, whether non-root users may capture, is answered no by DEBIAN_FRONTEND).
packages=(iproute2 iputils-ping tcpdump iperf3 ethtool netsniff-ng python3-scapy procps util-linux
  clang libbpf-dev libbpf1 bpftool wireguard-go wireguard-tools prometheus chromium linux-perf tshark)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts the Prometheus server it installs (port 9090): setup.sh wanted promtool only.
  if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
    systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
fi

npm ci --no-audit --no-fund --loglevel=error
npm run build --silent
echo "setup.sh: vswitch is built (bin/vswitchd, bin/vswconfig)"
