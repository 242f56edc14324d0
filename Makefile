# Two commands: `make run` (build and serve on embedded defaults) and `make test` (build, run every test).
# Everything goes through CMake presets; this file only strings the steps together.
.PHONY: deps build run run-offline test test-sanitize clean bench-quota

ARGS ?=
JOBS ?= $(shell nproc)
PRESET ?= default

deps:
	@./scripts/install-deps.sh

build: deps
	@cmake --preset default >/dev/null
	@cmake --build --preset default -j $(JOBS)

run: build
	./build/bedrock-agent serve $(ARGS)

# Whole stack offline: the agent with a bundled Bedrock simulator (no AWS account).
run-offline: build
	./build/bedrock-agent serve --simulate $(ARGS)

test: deps
	@cmake --preset $(PRESET) >/dev/null
	@cmake --build --preset $(PRESET) -j $(JOBS)
	@ctest --preset $(PRESET) -j $(JOBS)

test-sanitize: deps
	@cmake --preset sanitize >/dev/null
	@cmake --build --preset sanitize -j $(JOBS)
	@ctest --preset sanitize -j $(JOBS)

clean:
	rm -rf build build-sanitize

# Quota-efficiency benchmark: three runs side by side, about 6 minutes (docs/performance.md).
bench-quota: deps
	@cmake --preset default -DBA_BENCH=ON >/dev/null
	@cmake --build --preset default -j $(JOBS) --target bench_quota
	./build/bench_quota $(ARGS)
