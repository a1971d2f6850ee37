# Thin entry point over CMake. `make` builds, `make test` sets up and runs the tests,
# `make demo` runs the pipeline on the demo corpus, `make bench` runs the benchmarks.
BUILD ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps test-deps configure test test-asan fuzz fuzz-smoke demo bench bench-deps fixtures clean

all: configure
	cmake --build $(BUILD) -j $(JOBS)

deps:
	bash scripts/install-deps.sh

# What the server's tests drive it with (chromium, openai, schemathesis, playwright).
test-deps:
	bash scripts/install-test-deps.sh

configure: deps
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

test: all test-deps
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: deps test-deps
	@test -f $(BUILD_ASAN)/CMakeCache.txt || cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DHLM_SANITIZE=ON -DHLM_NATIVE=OFF
	cmake --build $(BUILD_ASAN) -j $(JOBS)
	cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j $(JOBS)

fuzz: deps
	@test -f $(BUILD_FUZZ)/CMakeCache.txt || CC=clang cmake -S . -B $(BUILD_FUZZ) -DCMAKE_BUILD_TYPE=Debug -DHLM_FUZZ=ON -DHLM_NATIVE=OFF
	cmake --build $(BUILD_FUZZ) -j $(JOBS) --target fuzzers

# Each fuzz target for FUZZ_SECONDS (default 30), starting from the committed seed corpus.
fuzz-smoke: fuzz
	bash scripts/fuzz-smoke.sh $(BUILD_FUZZ) $${FUZZ_SECONDS:-30}

demo: all
	bash scripts/demo.sh $(BUILD)/hyperlm

bench-deps: deps
	bash scripts/install-bench-deps.sh

bench: all bench-deps
	bash bench/run.sh $(BUILD)/hyperlm

fixtures: bench-deps
	"$$(bash scripts/install-bench-deps.sh --python)" tools/gen_fixtures.py

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
