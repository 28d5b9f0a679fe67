#!/usr/bin/env bash
# install-check.sh -- what an embedder gets from 'cmake --install' works:
# installs a built tree into a temporary prefix, checks that every header of
# include/ is there and compiles on its own, then builds and runs a tiny
# consumer of <rcgc.h> twice: with pkg-config (shared library) and with
# CMake's find_package(rcgc) (static library, target rcgc::rcgc). Everything
# compiles with -std=c11 -Wall -Wextra -Wpedantic -Werror, so the installed
# headers must be warning-free for users too.
#
#   tests/install-check.sh [build-dir]     default: build
# Ends with "N passed, N failed"; exits non-zero when a step fails.
set -euo pipefail

build=$(cd "${1:-build}" && pwd)
cc=${CC:-cc}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rcgc-install-check.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

step() { echo "install-check: $*"; }
run_logged() { # run_logged LOG CMD...: quiet unless the command fails
    local log=$1
    shift
    if ! "$@" >"$log" 2>&1; then
        cat "$log"
        return 1
    fi
}

step "cmake --install $build --prefix $tmp/prefix"
run_logged "$tmp/install.log" cmake --install "$build" --prefix "$tmp/prefix"

mkdir -p "$tmp/consumer"
cat >"$tmp/consumer/consumer.c" <<'EOF'
/* A two-object cycle, dropped, then collected: the smallest real use. */
#include <rcgc.h>
#include <stdio.h>

typedef struct pair {
    struct pair *other;
} pair;

static int pair_traverse(void *obj, rcgc_visit_fn visit, void *arg)
{
    pair *p = obj;
    RCGC_VISIT(p->other);
    return 0;
}

static void pair_clear(void *obj)
{
    pair *p = obj;
    RCGC_CLEAR(p->other);
}

static const rcgc_type pair_type = {
    .name = "pair",
    .size = sizeof(pair),
    .traverse = pair_traverse,
    .clear = pair_clear,
};

int main(void)
{
    rcgc_heap *heap = rcgc_heap_new(NULL);
    if (!heap)
        return 1;
    pair *a = rcgc_new(heap, &pair_type);
    pair *b = rcgc_new(heap, &pair_type);
    if (!a || !b)
        return 1;
    a->other = rcgc_ref(b);
    b->other = rcgc_ref(a);
    rcgc_unref(a);
    rcgc_unref(b);
    long long collected = rcgc_gc_collect(heap, 2);
    int ok = collected == 2 && rcgc_heap_check(heap) == RCGC_OK;
    rcgc_heap_free(heap);
    printf("consumer: collected %lld objects (%s)\n", collected, ok ? "ok" : "expected 2");
    return ok ? 0 : 1;
}
EOF
cat >"$tmp/consumer/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.16)
project(rcgc_consumer LANGUAGES C)
find_package(rcgc REQUIRED)
add_executable(consumer consumer.c)
target_compile_options(consumer PRIVATE -std=c11 -Wall -Wextra -Wpedantic -Werror)
target_link_libraries(consumer PRIVATE rcgc::rcgc)
EOF

# 1. pkg-config. --define-prefix derives the prefix from where rcgc.pc lies,
# so the check holds for 'cmake --install --prefix' as well as for the prefix
# given at configure time.
pc=$(find "$tmp/prefix" -name rcgc.pc | head -n 1)
if [ -z "$pc" ]; then
    step "FAIL: no rcgc.pc installed"
    failed=$((failed + 1))
else
    pcdir=$(dirname "$pc")
    libdir=$(dirname "$pcdir")
    pkg() { PKG_CONFIG_PATH=$pcdir pkg-config --define-prefix "$@" rcgc; }
    step "pkg-config: $cc \$(pkg-config --cflags --libs rcgc)"
    # shellcheck disable=SC2046 # pkg-config output is a list of flags
    if run_logged "$tmp/pc-build.log" "$cc" -std=c11 -Wall -Wextra -Wpedantic -Werror \
            $(pkg --cflags) "$tmp/consumer/consumer.c" -o "$tmp/consumer-pc" $(pkg --libs) &&
        LD_LIBRARY_PATH=$libdir "$tmp/consumer-pc"; then
        passed=$((passed + 1))
    else
        step "FAIL: pkg-config consumer"
        failed=$((failed + 1))
    fi
fi

# 2. Every public header of include/ is installed and compiles on its own.
src_include=$(cd "$(dirname "$0")/../include" && pwd)
inc=$(dirname "$(find "$tmp/prefix" -name rcgc.h | head -n 1)")
step "headers: every include/*.h installed and self-contained"
headers_ok=1
for h in "$src_include"/*.h; do
    name=$(basename "$h")
    if [ ! -f "$inc/$name" ]; then
        step "FAIL: $name is not installed (CMakeLists.txt install(FILES ...))"
        headers_ok=0
    elif ! echo "#include <$name>" | run_logged "$tmp/header.log" "$cc" -std=c11 -Wall -Wextra \
            -Wpedantic -Werror -I"$inc" -fsyntax-only -x c -; then
        step "FAIL: $name does not compile on its own"
        headers_ok=0
    fi
done
if [ "$headers_ok" = 1 ]; then
    passed=$((passed + 1))
else
    failed=$((failed + 1))
fi

# 3. CMake package config.
step "find_package(rcgc): cmake -DCMAKE_PREFIX_PATH=$tmp/prefix"
if run_logged "$tmp/cmake-configure.log" cmake -S "$tmp/consumer" -B "$tmp/consumer-build" \
        -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_C_COMPILER="$cc" &&
    run_logged "$tmp/cmake-build.log" cmake --build "$tmp/consumer-build" &&
    "$tmp/consumer-build/consumer"; then
    passed=$((passed + 1))
else
    step "FAIL: find_package consumer"
    failed=$((failed + 1))
fi

echo "install-check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
