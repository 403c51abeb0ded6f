#!/usr/bin/env bash
# memcheck.sh BUILD_DIR [JOBS]: run the runtime, drivers and simulator tests
# under valgrind memcheck.
#
# Uses CTest's memcheck mode, so each discovered GoogleTest case runs as
# `valgrind ... <test binary> --gtest_filter=<case>`. Tests labelled
# `nomemcheck` (death tests, timing-heavy tests, scripts) are skipped. Any
# valgrind error or definite leak fails the run; the valgrind logs of the
# failing tests are printed. No matching tests is not an error.
# (CTest's "Cannot find file: .../DartConfiguration.tcl" is harmless: we do not
# include(CTest) and pass the valgrind settings with --overwrite instead.)
#
# Fiber stacks: tw registers every stack it allocates with valgrind
# (VALGRIND_STACK_REGISTER in runtime/src/stack_pool.cpp). Boost.Fiber also
# gives each thread a dispatcher fiber on a stack it allocates itself, and
# Debian's Boost is not built with BOOST_USE_VALGRIND, so that stack is not
# registered. When it happens to lie within --max-stackframe (2 MB by default)
# below the thread's own stack, memcheck takes the switch for a huge frame and
# reports reads of the thread's stack as uninitialised from then on. Treating
# any move of the stack pointer by more than 64 KiB as a stack switch avoids
# that; no frame in tw or the code it runs is anywhere near that large.
set -euo pipefail

# Tests whose peer misbehaves on a wall-clock schedule, measured in hundreds of
# milliseconds: a board that flaps every 300 ms must be caught while it is up,
# a stalled board's deadline must leave the healthy boards enough time. Under
# valgrind (20-50x slower) the client misses those windows, which says
# nothing about memory; `make test` runs them. Keep this list short and say why.
timing_bound=(
  SimFaults.FlappingBoardComesBackEveryCycleWhileOthersWantItsPort
  TuberFaults.FlappingBoardIsReachedAgainOnceBack
  ScpiFaults.StalledInstrumentTimesOutAtItsDeadlineWhileOthersCarryOn
  TuberFaults.StalledBoardTimesOutAtItsDeadlineWhileOthersCarryOn
  SimFaults.AConnectionAcceptedAsAFlappingBoardGoesDownLeavesTheCount
)
exclude=$(IFS='|'; echo "^(${timing_bound[*]})\$")

build=${1:?usage: memcheck.sh BUILD_DIR [JOBS]}
jobs=${2:-$(nproc)}
logs="$build/Testing/Temporary"

rm -f "$logs"/MemoryChecker.*.log
status=0
ctest --test-dir "$build" -T memcheck -L '^(runtime|drivers|sim)$' -LE nomemcheck -E "$exclude" -j"$jobs" --output-on-failure \
  --overwrite MemoryCheckCommand="$(command -v valgrind)" \
  --overwrite "MemoryCheckCommandOptions=--error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite --num-callers=40 --max-stackframe=65536" \
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
