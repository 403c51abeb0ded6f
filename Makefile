# Entry points used by README.md and .ci/run. The real build is CMake; this only
# strings the steps together.
BUILD ?= build
JOBS  ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps configure build test demo memcheck ubsan clean

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
# progress bar and a summary table (about 15 s on 2 cores), then a JSON report
# and an SVG plot of the first board's sweep to open.
demo: build
	$(BUILD)/bin/tw tune --sim 256 --report demo-report.json --plot demo-sweep.svg
	@echo "demo: report in demo-report.json, plot of sim-0's sweep in demo-sweep.svg"

# Runtime tests under valgrind memcheck (tests labelled nomemcheck are skipped).
memcheck: build
	.ci/memcheck.sh $(BUILD) $(JOBS)

# Runtime tests built with -fsanitize=undefined, in a separate build tree.
ubsan: deps
	cmake -S . -B $(BUILD)-ubsan -DTW_SANITIZE=undefined -DTW_BUILD_TOOLS=OFF -DTW_BUILD_EXAMPLES=OFF $(CMAKE_FLAGS)
	cmake --build $(BUILD)-ubsan -j $(JOBS)
	UBSAN_OPTIONS=print_stacktrace=1 ctest --test-dir $(BUILD)-ubsan -L runtime --output-on-failure -j$(JOBS)

clean:
	rm -rf $(BUILD) $(BUILD)-ubsan
