# Thin wrapper over CMake: the two commands of the README's quick start.
#   make run   - install what is missing, build (Release), start modelmgr serve
#   make test  - install what is missing, build with -Werror, run the test suite
#   make fuzz  - build the libFuzzer harnesses with clang, run each FUZZ_SECONDS
#                (CI: 10 s each, after make test and make test-asan)
#   make soak  - bench/load against modelmgr serve for SOAK_MINUTES (RSS and error bound)
#   make check-reliability - ASan+UBSan suite, valgrind on the unit tests,
#                each fuzzer for FUZZ_SECONDS, a soak (docs/RELIABILITY.md)
#   make bench - build (Release) and run every bench/ binary: figures and ratios
#   make bench-llamacpp - the same benchmarks on a llama.cpp build (LLAMA_CPP_DIR)
#                and modelmgr back to back (bench/llamacpp-compare.sh)
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_ARGS ?=
FUZZ_SECONDS ?= 60
SOAK_MINUTES ?= 10
SOAK_CLIENTS ?= 8
FUZZ_HARNESSES ?= $(patsubst tests/fuzz/fuzz-%.c,%,$(wildcard tests/fuzz/fuzz-*.c))
BENCH_DIR ?= $(CURDIR)/build/bench-models
BENCH_DOWNLOAD_MIB ?= 1024
BENCH_QUANT_MIB ?= 64

.PHONY: all deps build run test test-asan fuzz bench bench-llamacpp soak check-reliability clean

all: build

deps:
	@sh scripts/setup-deps.sh

build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build build -j $(JOBS)

run: build
	./build/modelmgr serve

test:
	@sh scripts/setup-deps.sh test
	@cmake -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMM_WERROR=ON >/dev/null
	@cmake --build build-test -j $(JOBS)
	cd build-test && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

test-asan:
	@sh scripts/setup-deps.sh test
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DMM_WERROR=ON -DMM_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

fuzz:
	@sh scripts/setup-deps.sh fuzz
	@cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMM_FUZZ=ON >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target fuzz-seeds $(addprefix fuzz-,$(FUZZ_HARNESSES))
	@sh tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ_HARNESSES)

soak: build
	./build/bench-load --soak $(SOAK_MINUTES) --clients $(SOAK_CLIENTS)

# The long checks of docs/RELIABILITY.md; the short parts (fault injection,
# fuzz replays, a short load test) already run in make test. Each step
# prints its own summary.
check-reliability: FUZZ_SECONDS = 30
check-reliability: SOAK_MINUTES = 2
check-reliability:
	@sh scripts/setup-deps.sh reliability
	@$(MAKE) --no-print-directory test-asan
	@cmake -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMM_WERROR=ON >/dev/null
	@cmake --build build-test -j $(JOBS)
	@sh scripts/valgrind-unit.sh build-test unit
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(FUZZ_SECONDS)
	@$(MAKE) --no-print-directory soak SOAK_MINUTES=$(SOAK_MINUTES)
	@echo "check-reliability: all steps passed"

# Every bench/ binary, Release build, one after the other (figures only; a
# failing one is reported and the rest still run). bench-engine and
# bench-throughput share the synthesized models in BENCH_DIR.
bench: build
	@mkdir -p "$(BENCH_DIR)"
	@echo "machine: $$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $$(nproc) cores, load average $$(cut -d' ' -f1-3 /proc/loadavg)"
	@for b in build/bench-*; do \
	  [ -f "$$b" ] && [ -x "$$b" ] || continue; \
	  echo; echo "######## $$b"; \
	  case "$$b" in \
	    */bench-download) "$$b" $(BENCH_DOWNLOAD_MIB) ;; \
	    */bench-quant) "$$b" $(BENCH_QUANT_MIB) ;; \
	    *) BENCH_DIR="$(BENCH_DIR)" "$$b" ;; \
	  esac || echo "($$b failed with exit $$?)"; \
	done

# Same-machine reference (docs/PERFORMANCE.md): skips with a message when
# LLAMA_CPP_DIR is not set. BENCH_DIR must hold bench-engine's models.
bench-llamacpp: build
	@LLAMA_CPP_DIR="$(LLAMA_CPP_DIR)" BENCH_DIR="$(BENCH_DIR)" BUILD_DIR=build bash bench/llamacpp-compare.sh

clean:
	rm -rf build build-test build-asan build-fuzz
