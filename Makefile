# Entry points used by README.md and .ci/run. The real build is CMake; this only
# strings the steps together.
BUILD ?= build
JOBS  ?= $(shell nproc)
CMAKE_FLAGS ?=
FUZZ_SECONDS ?= 60

.PHONY: all deps configure build test demo memcheck ubsan fuzz soak clean

all: build

deps:
	.ci/install-deps.sh

configure: deps
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: configure
	cmake --build $(BUILD) -j $(JOBS)

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)

# The tuning demo: 256 simulated boards started in-process, tuned with a
# progress bar and a summary table (about 9 s on 2 cores), then a JSON report
# and an SVG plot of the first board's sweep to open.
demo: build
	$(BUILD)/bin/tw tune --sim 256 --report demo-report.json --plot demo-sweep.svg
	@echo "demo: report in demo-report.json, plot of sim-0's sweep in demo-sweep.svg"

# Runtime, drivers and simulator tests under valgrind memcheck (tests labelled
# nomemcheck, and the few timing-bound ones .ci/memcheck.sh lists, are skipped).
memcheck: build
	.ci/memcheck.sh $(BUILD) $(JOBS)

# The whole suite (tools, simulator and examples included) built with
# UndefinedBehaviorSanitizer plus float-cast-overflow, in a separate build tree.
ubsan: deps
	cmake -S . -B $(BUILD)-ubsan -DTW_SANITIZE=undefined,float-cast-overflow $(CMAKE_FLAGS)
	cmake --build $(BUILD)-ubsan -j $(JOBS)
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --test-dir $(BUILD)-ubsan --output-on-failure -j$(JOBS)

# Every wire parser under libFuzzer with ASan and UBSan, FUZZ_SECONDS each, in
# its own clang tree (.ci/fuzz.sh; CI runs it for 5 s each).
fuzz: deps
	JOBS=$(JOBS) .ci/fuzz.sh $(BUILD)-fuzz $(FUZZ_SECONDS)

# The soak run (docs/TESTING.md): 1,000 simulated boards with mixed faults, five
# rounds of tw health and tw tune; every outcome, leak and RSS bound asserted
# (about 5 minutes on 2 cores). Not part of `make test`.
soak: deps
	JOBS=$(JOBS) CMAKE_FLAGS="$(CMAKE_FLAGS)" .ci/soak.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD)-ubsan $(BUILD)-fuzz
