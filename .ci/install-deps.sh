#!/usr/bin/env bash
# install-deps.sh: install the Debian 12 packages tworoutine needs, touching apt
# only when something is missing (so `make build` stays fast and offline-safe).
# Boost comes from the versioned 1.81 packages; never the unversioned
# libboost-*-dev (1.74), which would conflict.
set -euo pipefail

packages=(
  cmake g++ make pkg-config
  libboost1.81-dev libboost-fiber1.81-dev libboost-context1.81-dev
  libboost-json1.81-dev libboost-stacktrace1.81-dev
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  libfmt-dev libspdlog-dev libcli11-dev libedit-dev
  valgrind
  # tw bench fanout --syscalls counts system calls under strace (and its test does)
  strace
  # libFuzzer harnesses (tests/fuzz, make fuzz): clang, libFuzzer and the sanitizer runtimes
  clang-14 libclang-rt-14-dev
  # the Python package tworoutine (tools/python) and its tests (tests/python)
  python3-dev pybind11-dev python3-numpy python3-pytest
  # independent peers for driver tests, independent clients for simulator tests
  # (pymodbus's client package imports serial_asyncio, only Recommended)
  python3-pymodbus python3-serial-asyncio python3-jsonrpclib-pelix
  python3-pyvisa python3-pyvisa-py
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${missing[@]}" </dev/null
