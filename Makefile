# Two commands: `make run` (build and serve on embedded defaults) and `make test` (build, run every test).
# Everything goes through CMake presets; this file only strings the steps together.
.PHONY: deps deps-test build run run-offline test test-sanitize fuzz-ci test-tsan fuzz clean bench-quota bench-quota-regions bench-quota-fleet package check-package bench bench-soak bench-sqlite

ARGS ?=
JOBS ?= $(shell nproc)
PRESET ?= default

deps:
	@./scripts/install-deps.sh

# make test also installs Debian's Chromium, for the chat page's browser test.
deps-test:
	@./scripts/install-deps.sh --with-browser

build: deps
	@cmake --preset default --log-level=WARNING
	@cmake --build --preset default -j $(JOBS)

run: build
	./build/bedrock-agent serve $(ARGS)

# Whole stack offline: the agent with a bundled Bedrock simulator (no AWS account).
run-offline: build
	./build/bedrock-agent serve --simulate $(ARGS)

test: deps-test
	@cmake --preset $(PRESET) --log-level=WARNING
	@cmake --build --preset $(PRESET) -j $(JOBS)
	@ctest --preset $(PRESET) -j $(JOBS)

# The whole suite under ASan+UBSan, built with clang 16; the same build has the fuzzers (fuzz-ci runs them).
test-sanitize:
	@./scripts/install-deps.sh --with-browser --with-fuzz
	@cmake --preset sanitize --log-level=WARNING
	@cmake --build --preset sanitize -j $(JOBS)
	@ctest --preset sanitize -j $(JOBS)

# CI's fuzz stage: the fuzzers test-sanitize built (-O0), FUZZ_CI_SECONDS each on their seeds (docs/testing.md).
FUZZ_CI_SECONDS ?= 10
fuzz-ci:
	@./scripts/install-deps.sh --with-fuzz
	@cmake --preset sanitize --log-level=WARNING
	@cmake --build --preset sanitize -j $(JOBS) --target fuzzers
	@FUZZ_BUILD=build-sanitize ./scripts/run-fuzzers.sh $(FUZZ_CI_SECONDS)

# The suites that use threads, built and run under ThreadSanitizer (docs/testing.md, "ThreadSanitizer"):
# the build preset names the test binaries, the test preset their labels.
test-tsan: deps-test
	@cmake --preset tsan --log-level=WARNING
	@cmake --build --preset tsan -j $(JOBS)
	@ctest --preset tsan -j $(JOBS)

# The fuzzers (fuzz/, docs/testing.md "Fuzzing"), built with clang 16 under ASan+UBSan, then each run for
# FUZZ_SECONDS (default 20) one after the other: about 4 minutes for the twelve, plus the build.
FUZZ_SECONDS ?= 20
fuzz:
	@./scripts/install-deps.sh --with-fuzz
	@cmake --preset fuzz --log-level=WARNING
	@cmake --build --preset fuzz -j $(JOBS)
	@./scripts/run-fuzzers.sh $(FUZZ_SECONDS)

clean:
	rm -rf build build-sanitize build-tsan build-fuzz build-lambda-pkg

# Quota-efficiency benchmark: three runs side by side, about 6 minutes (docs/performance.md).
bench-quota: deps
	@cmake --preset default -DBA_BENCH=ON --log-level=WARNING
	@cmake --build --preset default -j $(JOBS) --target bench_quota
	./build/bench_quota $(ARGS)

# Routing over two regions against one, same callers: about 3 minutes (docs/performance.md, "Two regions").
bench-quota-regions: deps
	@cmake --preset default -DBA_BENCH=ON --log-level=WARNING
	@cmake --build --preset default -j $(JOBS) --target bench_quota_regions
	./build/bench_quota_regions $(ARGS)

# Fleet quota benchmark: 4 and 20 agent processes on one simulated quota, sharing a budget through dynalite
# vs per-process budgets, request- and token-bound: about 10 minutes (14 with the original design:
# ARGS=--modes=shared,per-process,original)
# (docs/performance.md, "Fleet quota benchmark"). Results: bench/results/quota_fleet.json.
# SQLite history at one caller (docs/performance.md, "Issue 17 on a quiet machine"): Google Benchmark of an
# append on a file database, in memory, and the writer's empty round trip.
bench-sqlite: deps
	@cmake -S . -B $(BENCH_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBA_BENCH=ON -DBA_TESTS=OFF --log-level=WARNING
	@cmake --build $(BENCH_DIR) -j $(JOBS) --target bench_sqlite_store
	$(BENCH_DIR)/bench_sqlite_store

bench-quota-fleet: deps
	@cmake --preset default -DBA_BENCH=ON >/dev/null
	@cmake --build --preset default -j $(JOBS) --target bedrock-agent bench_quota_fleet
	./build/bench_quota_fleet $(ARGS)

# Overhead, streaming, concurrency and cold-start benchmarks side by side, about 6 minutes
# (docs/performance.md): wrk + bench_loadgen against the simulator, bedrock-agent and Portkey's gateway.
# Results: bench/results/{overhead,streaming,concurrency,coldstart}.json. ARGS: see bench/run.mjs.
BENCH_DIR ?= build-bench
bench: deps
	@cmake -S . -B $(BENCH_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBA_BENCH=ON -DBA_TESTS=OFF --log-level=WARNING
	@cmake --build $(BENCH_DIR) -j $(JOBS) --target bedrock-agent bench_loadgen
	@test -d node_modules/@portkey-ai/gateway || npm install --no-audit --no-fund
	node bench/run.mjs --build=$(BENCH_DIR) $(ARGS)

# Soak benchmark (docs/performance.md, "Soak"): bedrock-agent serve (SQLite history, local files) in front
# of the simulator with 1 % injected faults, DURATION seconds (default 1800) at RATE requests/s (default
# 500) mixing chat, streamed chat, history and files; RSS, open descriptors and errors by kind.
# Results: bench/results/soak.json. ARGS: see bench/soak/soak.mjs.
DURATION ?= 1800
RATE ?= 500
bench-soak: deps
	@cmake -S . -B $(BENCH_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBA_BENCH=ON -DBA_TESTS=OFF --log-level=WARNING
	@cmake --build $(BENCH_DIR) -j $(JOBS) --target bedrock-agent bench_loadgen
	node bench/soak/soak.mjs --build=$(BENCH_DIR) --duration=$(DURATION) --rate=$(RATE) $(ARGS)

# The Lambda package for provided.al2023: build-lambda-pkg/bedrock-agent-lambda.zip (`bootstrap`),
# checked for glibc <= 2.34 and no shared libraries but glibc's (docs/lambda.md).
package: deps
	@JOBS=$(JOBS) ./scripts/package-lambda.sh

check-package:
	@./scripts/check-lambda-zip.sh build-lambda-pkg/bedrock-agent-lambda.zip
