#!/usr/bin/env bash
# memcheck.sh BUILD_DIR [JOBS]: run the runtime tests under valgrind memcheck.
#
# Uses CTest's memcheck mode, so each discovered GoogleTest case runs as
# `valgrind ... <test binary> --gtest_filter=<case>`. Tests labelled
# `nomemcheck` (death tests, timing-heavy tests, scripts) are skipped. Any
# valgrind error or definite leak fails the run; the valgrind logs of the
# failing tests are printed. No matching tests is not an error.
# (CTest's "Cannot find file: .../DartConfiguration.tcl" is harmless: we do not
# include(CTest) and pass the valgrind settings with --overwrite instead.)
set -euo pipefail

build=${1:?usage: memcheck.sh BUILD_DIR [JOBS]}
jobs=${2:-$(nproc)}
logs="$build/Testing/Temporary"

rm -f "$logs"/MemoryChecker.*.log
status=0
ctest --test-dir "$build" -T memcheck -L runtime -LE nomemcheck -j"$jobs" --output-on-failure \
  --overwrite MemoryCheckCommand="$(command -v valgrind)" \
  --overwrite "MemoryCheckCommandOptions=--error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite --num-callers=40" \
  || status=$?

if [ "$status" -ne 0 ]; then
  for log in "$logs"/MemoryChecker.*.log; do
    [ -e "$log" ] || continue
    if ! grep -q 'ERROR SUMMARY: 0 errors' "$log"; then
      echo "==== $log"
      cat "$log"
    fi
  done
fi
exit "$status"
