#!/usr/bin/env bash
# .ci/fuzz.sh BUILD_DIR SECONDS: fuzz every wire parser for SECONDS each.
#
# Configures BUILD_DIR (a tree of its own: clang-14, -DTW_BUILD_FUZZERS=ON,
# every object built with ASan, UBSan and libFuzzer's coverage), builds only
# the `fuzzers` target, then runs each harness of tests/fuzz on a fresh copy
# of its seed corpus (tests/fuzz/corpus/<harness>; the source tree is never
# written) for SECONDS, one after the other. Prints the executions of each
# and fails if any harness crashed, leaked, ran out of memory or time on an
# input, or broke a property it checks; the input that did it is kept in
# BUILD_DIR/fuzz-work/<harness>/ (crash-*, leak-*, oom-*, timeout-*) with
# the harness's log beside it. Replay one with: BUILD_DIR/bin/fuzz_<harness> FILE
#
# Environment: TW_FUZZ_CXX (default clang++-14), TW_FUZZ_CC (clang-14),
# JOBS (build parallelism, default 2), TW_FUZZ_ONLY (space-separated harness
# names to run, default all).
#
# Example:
#   .ci/fuzz.sh build-fuzz 60     # make fuzz
#   .ci/fuzz.sh build-fuzz 5      # the CI smoke run
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    echo "usage: .ci/fuzz.sh BUILD_DIR SECONDS (SECONDS: a whole number > 0)" >&2
    exit 2
}
[ $# -eq 2 ] || usage
build=$1
seconds=$2
[[ $seconds =~ ^[0-9]+$ ]] && [ "$seconds" -gt 0 ] || usage

cc=${TW_FUZZ_CC:-clang-14}
cxx=${TW_FUZZ_CXX:-clang++-14}
jobs=${JOBS:-2}

# clang, and its libFuzzer and sanitizer runtimes (Debian: libclang-rt-14-dev).
if ! command -v "$cxx" >/dev/null 2>&1; then
    echo "fuzz: $cxx not found; the fuzzers need clang with libFuzzer (Debian 12: apt-get install clang-14 libclang-rt-14-dev)" >&2
    exit 1
fi
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' >"$probe/probe.cpp"
if ! "$cxx" -fsanitize=fuzzer,address,undefined "$probe/probe.cpp" -o "$probe/probe" >"$probe/log" 2>&1; then
    cat "$probe/log" >&2
    echo "fuzz: $cxx cannot link a libFuzzer harness; install libclang-rt-14-dev (libFuzzer and the sanitizer runtimes)" >&2
    exit 1
fi

echo "==== fuzz: building the harnesses in $build ($cxx)"
CC=$cc CXX=$cxx cmake -S . -B "$build" -DCMAKE_CXX_COMPILER="$cxx" \
    -DTW_BUILD_FUZZERS=ON -DTW_BUILD_TESTS=OFF -DTW_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" --target fuzzers -j "$jobs"

harnesses=()
for dir in tests/fuzz/corpus/*/; do
    harnesses+=("$(basename "$dir")")
done
for src in tests/fuzz/fuzz_*.cpp; do
    name=$(basename "$src" .cpp)
    name=${name#fuzz_}
    if [ ! -d "tests/fuzz/corpus/$name" ]; then
        echo "fuzz: harness $name has no seed corpus (tests/fuzz/corpus/$name)" >&2
        exit 1
    fi
done
if [ -n "${TW_FUZZ_ONLY:-}" ]; then
    read -r -a harnesses <<<"$TW_FUZZ_ONLY"
fi

work=$(cd "$build" && pwd)/fuzz-work
rm -rf "$work"
mkdir -p "$work"

# Inputs of up to 4 KiB reach every limit the harnesses set; an input that
# takes 10 s is a finding (-timeout); 2 GiB of RSS leaves room for ASan.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

echo "==== fuzz: ${#harnesses[@]} harnesses, ${seconds}s each"
failed=()
printf '%-16s %12s  %s\n' harness executions result
for h in "${harnesses[@]}"; do
    bin=$build/bin/fuzz_$h
    if [ ! -x "$bin" ]; then
        echo "fuzz: $bin was not built" >&2
        exit 1
    fi
    dir=$work/$h
    mkdir -p "$dir/corpus"
    cp -R "tests/fuzz/corpus/$h/." "$dir/corpus/"
    status=ok
    if ! "$bin" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$dir/" "$dir/corpus" >"$dir/log" 2>&1; then
        status=FAILED
        failed+=("$h")
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -n 1)
    printf '%-16s %12s  %s\n' "$h" "${execs:-?}" "$status"
done

if [ ${#failed[@]} -gt 0 ]; then
    for h in "${failed[@]}"; do
        echo
        echo "==== fuzz: $h failed; the end of $work/$h/log:"
        tail -n 40 "$work/$h/log"
        ls "$work/$h" | grep -E '^(crash|leak|oom|timeout|slow-unit)-' | sed "s|^|    input: $work/$h/|" || true
    done
    echo
    echo "fuzz: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "==== fuzz: all ${#harnesses[@]} harnesses ran ${seconds}s each without a finding"
