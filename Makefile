# Thin wrapper over CMake: the two commands of the README's quick start.
#   make run   - install what is missing, build (Release), start modelmgr
#   make test  - install what is missing, build with -Werror, run the test suite
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_ARGS ?=

.PHONY: all deps build run test test-asan bench clean

all: build

deps:
	@sh scripts/setup-deps.sh

build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build build -j $(JOBS)

run: build
	./build/modelmgr list

test: deps
	@cmake -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMM_WERROR=ON >/dev/null
	@cmake --build build-test -j $(JOBS)
	cd build-test && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

test-asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DMM_WERROR=ON -DMM_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

bench: build
	@for b in build/bench-*; do [ -x "$$b" ] && "$$b"; done

clean:
	rm -rf build build-test build-asan
