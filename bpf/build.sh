#!/usr/bin/env bash
# Compiles the eBPF programs with Debian's clang into dist/bpf/.
# Needs: clang, libbpf-dev (bpf_helpers.h), linux-libc-dev (linux/bpf.h).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p dist/bpf
arch_inc="/usr/include/$(uname -m)-linux-gnu"
for src in bpf/*.bpf.c; do
  out="dist/bpf/$(basename "${src%.c}").o"
  clang -O2 -g -Wall -Werror -target bpf -I"$arch_inc" -c "$src" -o "$out"
done
