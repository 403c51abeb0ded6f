#!/bin/sh
# .ci/soak.sh BUILD_DIR: the soak run (`make soak`). Configures BUILD_DIR if
# needed (CMAKE_FLAGS are passed on), builds tw and tw_soak there (JOBS at once,
# default: every core), and runs tw_soak: 1,000 simulated boards with mixed
# faults, five rounds of `tw health` and `tw tune` (children) and of their
# library calls (in-process), every outcome, leak and RSS check asserted
# (tests/soak/soak.cpp). The summary is printed and written as JSON to
# $TW_SOAK_JSON (default BUILD_DIR/soak-summary.json).
#
# Bounds: each step has its own deadlock guard inside tw_soak; the whole run
# (about 5 minutes on 2 cores) is ended after 15 minutes. Exit status 0 when
# every check passed, 1 when one failed, 3 for a hang, 124/137 past the bound.
set -eu
if [ $# -ne 1 ]; then
  echo "usage: .ci/soak.sh BUILD_DIR" >&2
  exit 2
fi
build=$1
src=$(cd "$(dirname "$0")/.." && pwd)
jobs=${JOBS:-$(nproc)}
# shellcheck disable=SC2086 # CMAKE_FLAGS is a list of flags
cmake -S "$src" -B "$build" ${CMAKE_FLAGS:-}
cmake --build "$build" --target tw_soak -j "$jobs"
summary=${TW_SOAK_JSON:-$build/soak-summary.json}
exec timeout -k 10 900 "$build/bin/tw_soak" --json "$summary"
