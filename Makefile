# The two commands of the README: `make demo` and `make test`; `make bench` for
# docs/PERFORMANCE.md.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
# The benchmark builds Release in its own directory; BENCH_FLAGS=--scale=0.1 for a
# quick run (see `baton-bench --help`).
BENCH_BUILD_DIR ?= build-bench
BENCH_FLAGS ?=
# The libFuzzer targets (tests/fuzz/, docs/fuzzing.md) build with clang in their own
# directory, shared by `make fuzz` and the fuzz_smoke test of `make test` (5 s each).
FUZZ_BUILD_DIR ?= build-fuzz
FUZZ_SECONDS ?= 60

.PHONY: setup build demo test bench bench-console screenshot fuzz clean

setup:
	@scripts/setup

build: setup
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DBATON_FUZZ_BUILD_DIR=$(abspath $(FUZZ_BUILD_DIR)) >/dev/null
	@cmake --build $(BUILD_DIR) -j $(JOBS)

demo: build
	@scripts/demo $(BUILD_DIR)

# The fuzz targets are built before the tests run, so no compiler competes with the
# real-process tests for the CPU; fuzz_smoke then only runs them.
test: build
	@scripts/fuzz --build-dir=$(FUZZ_BUILD_DIR) --build-only
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 600

bench: setup
	@cmake -S . -B $(BENCH_BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release -DBATON_BUILD_BENCH=ON >/dev/null
	@cmake --build $(BENCH_BUILD_DIR) --target baton-bench -j $(JOBS)
	@$(BENCH_BUILD_DIR)/bin/baton-bench --out-dir=bench/results --doc=docs/PERFORMANCE.md $(BENCH_FLAGS)

# The web console's runs page at 10,000 runs in headless Chromium: first paint and
# first table row (bench/console/first_paint.mjs; docs/PERFORMANCE.md, "Web console").
# CONSOLE_BENCH_FLAGS=--runs=1000 for a quick run.
CONSOLE_BENCH_FLAGS ?=
bench-console: setup
	@cmake -S . -B $(BENCH_BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release -DBATON_BUILD_BENCH=ON >/dev/null
	@cmake --build $(BENCH_BUILD_DIR) -j $(JOBS) --target baton baton-orchestrator baton-worker \
	  baton-model-sim baton-console console_web
	@BATON_BIN_DIR=$(abspath $(BENCH_BUILD_DIR))/bin node bench/console/first_paint.mjs $(CONSOLE_BENCH_FLAGS)

# docs/console.png, the README's picture of the console, from a demo stack
# (scripts/console-screenshot.mjs).
screenshot: build
	@BATON_BIN_DIR=$(abspath $(BUILD_DIR))/bin node scripts/console-screenshot.mjs docs/console.png

# Each fuzz target for FUZZ_SECONDS over its corpus; a crash fails (scripts/fuzz).
fuzz: setup
	@scripts/fuzz --build-dir=$(FUZZ_BUILD_DIR) --seconds=$(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD_DIR) $(FUZZ_BUILD_DIR)
