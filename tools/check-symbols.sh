#!/usr/bin/env bash
# check-symbols.sh -- keep two promises of STYLE.md true on the built library:
#   1. no writable data at all, global or static: every piece of state hangs off
#      an rcgc_heap, so nm must show no symbol in a writable data section
#      (B/b bss, D/d data, C common, G/g and S/s small data);
#   2. every defined exported symbol starts with rcgc_ (public) or rcgc__
#      (internal), in the static library and, when given, the shared one.
#
#   tools/check-symbols.sh [librcgc.a [librcgc.so]]   default: build/librcgc.a
# Exits 0 when both hold, 1 with the offending symbols otherwise, 2 on usage.
set -euo pipefail

static_lib=${1:-build/librcgc.a}
shared_lib=${2:-}

for f in "$static_lib" ${shared_lib:+"$shared_lib"}; do
    if [ ! -f "$f" ]; then
        echo "check-symbols: $f not found (build the library first: make)" >&2
        exit 2
    fi
done
command -v nm >/dev/null || { echo "check-symbols: nm not found (binutils)" >&2; exit 2; }

fail=0

# nm -A prints "archive:member:value type name"; undefined symbols have no value.
writable=$(nm -A "$static_lib" | awk 'NF >= 3 && $(NF-1) ~ /^[BbDdCGgSs]$/ {
    sub(/:[^:]*$/, "", $1); print "  " $1 ": " $NF " (" $(NF-1) ")" }')
if [ -n "$writable" ]; then
    echo "check-symbols: FAIL: $static_lib has writable data (state belongs on the rcgc_heap):"
    echo "$writable"
    fail=1
fi

exported=$(nm -A -g --defined-only "$static_lib" | awk 'NF >= 3 && $NF !~ /^rcgc_/ {
    sub(/:[^:]*$/, "", $1); print "  " $1 ": " $NF " (" $(NF-1) ")" }')
if [ -n "$exported" ]; then
    echo "check-symbols: FAIL: $static_lib exports names without the rcgc_ prefix:"
    echo "$exported"
    fail=1
fi

if [ -n "$shared_lib" ]; then
    dynamic=$(nm -D --defined-only "$shared_lib" | awk 'NF >= 3 && $NF !~ /^rcgc_/ {
        print "  " $NF " (" $(NF-1) ")" }')
    if [ -n "$dynamic" ]; then
        echo "check-symbols: FAIL: $shared_lib exports names without the rcgc_ prefix:"
        echo "$dynamic"
        fail=1
    fi
    if ! nm -D --defined-only "$shared_lib" | awk '$NF == "rcgc_heap_new" { ok = 1 } END { exit !ok }'; then
        echo "check-symbols: FAIL: $shared_lib does not export the public API (rcgc_heap_new missing)"
        fail=1
    fi
fi

if [ "$fail" -ne 0 ]; then
    exit 1
fi
n=$(nm -g --defined-only "$static_lib" | awk 'NF >= 3' | wc -l)
also=""
[ -z "$shared_lib" ] || also=" (and so do those of $shared_lib)"
echo "check-symbols: ok: $static_lib has no writable data; its $n exported symbols all start with rcgc_$also"
