# The two commands of the README: `make demo` and `make test`; `make bench` for
# docs/PERFORMANCE.md.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
# The benchmark builds Release in its own directory; BENCH_FLAGS=--scale=0.1 for a
# quick run (see `baton-bench --help`).
BENCH_BUILD_DIR ?= build-bench
BENCH_FLAGS ?=

.PHONY: setup build demo test bench clean

setup:
	@scripts/setup

build: setup
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD_DIR) -j $(JOBS)

demo: build
	@scripts/demo $(BUILD_DIR)

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 600

bench: setup
	@cmake -S . -B $(BENCH_BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release -DBATON_BUILD_BENCH=ON >/dev/null
	@cmake --build $(BENCH_BUILD_DIR) --target baton-bench -j $(JOBS)
	@$(BENCH_BUILD_DIR)/bin/baton-bench --out-dir=bench/results --doc=docs/PERFORMANCE.md $(BENCH_FLAGS)

clean:
	rm -rf $(BUILD_DIR)
