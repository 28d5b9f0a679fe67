# Makefile -- a thin front end for people. CMake is the build (CMakeLists.txt);
# each target installs the Debian packages it needs first (scripts/deps.sh).
#
#   make                    release build (-O2 -g, assertions off) in build/
#   make test               warnings as errors, assertions on, the whole suite (build-test/)
#   make asan               the same suite under ASan + UBSan (build-asan/, clang if present)
#   make valgrind           the same suite under valgrind memcheck (build-valgrind/)
#   make run [RUN_ARGS=..]  build and run the views server (apps/views) on 127.0.0.1:8000
#   make demo               build and run examples/demo (cycles collected, statistics)
#   make bench [BENCH=x]    release build, then bench/run.sh [x] (see ../shared/BENCH.md)
#   make install [PREFIX=/usr/local]
#   make check-symbols      no writable globals, only rcgc_ exports (release library)
#   make install-check      install into a temporary prefix, build consumers against it
#   make clean

CMAKE     ?= cmake
CTEST     ?= ctest
JOBS      ?= $(shell nproc 2>/dev/null || echo 2)
PREFIX    ?= /usr/local
BENCH     ?=
CTEST_ARGS ?= --output-on-failure -j2

# The test builds keep -O2 (so -Werror sees the optimiser's warnings) but drop
# NDEBUG, so the library's assertions run. RelWithDebInfo keeps NDEBUG for the
# release build, which is what gets measured and installed.
TEST_CFLAGS ?= -O2 -g
ASAN_CFLAGS ?= -O1 -g
VALGRIND_CFLAGS ?= -O1 -g
# clang for the sanitizer build (deps.sh installs it): its diagnostics differ
# from gcc's, so CI compiles with both. make asan ASAN_CC=gcc works too.
ASAN_CC     ?= clang
SAN_ENV     := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1 \
               UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# --track-origins=yes (where an uninitialised value came from) makes the demo
# 30x slower here; add it by hand when chasing one: make valgrind VALGRIND_FLAGS=...
VALGRIND_FLAGS ?= --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
                  --child-silent-after-fork=yes --quiet --suppressions=$(CURDIR)/tools/valgrind.supp
# Tests not to run under valgrind (ctest -E regex): the shell scripts that
# CMakeLists.txt registers check the tree, not the library's memory.
VALGRIND_EXCLUDE ?= ^project\.

DEPS := scripts/deps.sh
# Package groups (scripts/deps.sh). Every tree builds the same programs, so
# every target installs what the whole tree builds with: the views server's
# libmicrohttpd and the tracer's libdw/libunwind are found at configure time
# and skipped when missing, which would leave them untested.
TREE_DEPS := build server tracing
space := $(subst ,, )

.PHONY: all build build-test-tree test asan valgrind run demo bench install install-check check-symbols clean

all: build

# The release tree: configured and built by 'build', 'install' and 'bench',
# each after installing the packages it needs (bench/CMakeLists.txt may look
# for the anchors' libraries at configure time).
define release-build
$(CMAKE) -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo $(1)
$(CMAKE) --build build -j$(JOBS)
endef

build:
	@$(DEPS) $(TREE_DEPS)
	$(call release-build)

build-test-tree:
	@$(DEPS) $(TREE_DEPS) test
	$(CMAKE) -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRCGC_WERROR=ON \
	    "-DCMAKE_C_FLAGS_RELWITHDEBINFO=$(TEST_CFLAGS)"
	$(CMAKE) --build build-test -j$(JOBS)

test: build-test-tree
	$(CTEST) --test-dir build-test $(CTEST_ARGS)

asan:
	@$(DEPS) $(TREE_DEPS) test
	$(CMAKE) -S . -B build-asan -DCMAKE_C_COMPILER=$(ASAN_CC) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DRCGC_WERROR=ON -DRCGC_SANITIZE=ON -DRCGC_TEST_TIMEOUT=600 \
	    "-DCMAKE_C_FLAGS_RELWITHDEBINFO=$(ASAN_CFLAGS)"
	$(CMAKE) --build build-asan -j$(JOBS)
	$(SAN_ENV) $(CTEST) --test-dir build-asan $(CTEST_ARGS)

# Every test executable runs under valgrind (CMake's CROSSCOMPILING_EMULATOR
# prefixes the test commands with it); --error-exitcode turns a memory error
# or a definite leak into a failed test, and ctest shows valgrind's report.
valgrind:
	@$(DEPS) $(TREE_DEPS) test
	$(CMAKE) -S . -B build-valgrind -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRCGC_WERROR=ON \
	    "-DCMAKE_C_FLAGS_RELWITHDEBINFO=$(VALGRIND_CFLAGS)" -DRCGC_TEST_TIMEOUT=1200 \
	    "-DCMAKE_CROSSCOMPILING_EMULATOR=$(subst $(space),;,$(strip valgrind $(VALGRIND_FLAGS)))"
	$(CMAKE) --build build-valgrind -j$(JOBS)
	$(CTEST) --test-dir build-valgrind $(CTEST_ARGS) -E '$(VALGRIND_EXCLUDE)'

# The views server with its demo application (docs/views.md); Ctrl-C stops it.
run:
	@$(DEPS) $(TREE_DEPS)
	$(call release-build)
	./build/rcgc-views --host 127.0.0.1 --port 8000 $(RUN_ARGS)

# A short tour of the library through its public API (examples/demo.c):
# graphs with cycles, collected, with the collector's statistics.
demo: build
	./build/demo

bench:
	@$(DEPS) $(TREE_DEPS) bench
	$(call release-build)
	@if [ -x bench/run.sh ]; then \
	    RCGC_BUILD_DIR=$(CURDIR)/build bench/run.sh $(BENCH); \
	else \
	    echo "make bench: bench/run.sh does not exist yet: no benchmark suite to run"; exit 1; \
	fi

install:
	@$(DEPS) $(TREE_DEPS)
	$(call release-build,-DCMAKE_INSTALL_PREFIX=$(PREFIX))
	$(CMAKE) --install build

check-symbols: build
	tools/check-symbols.sh build/librcgc.a build/librcgc.so

install-check: build
	tests/install-check.sh build

clean:
	rm -rf build build-test build-asan build-valgrind
