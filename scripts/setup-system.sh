#!/usr/bin/env bash
# Installs the Debian packages corebpf's build, tests and demo need, when missing.
# corebpf itself needs none of them at run time; clang/libbpf-dev/bpftool are the compiler
# for test programs and the oracles we compare against.
set -euo pipefail
need=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for p in clang clang-22 llvm libbpf-dev bpftool iproute2 python3-venv python3-pip make gcc libelf-dev \
         zlib1g-dev pkg-config iputils-ping procps util-linux qemu-system-x86 busybox-static \
         prometheus; do
  have "$p" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing packages ${need[*]}; run as root or: apt-get install ${need[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
