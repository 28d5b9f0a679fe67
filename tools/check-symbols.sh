#!/usr/bin/env bash
# check-symbols.sh -- keep two promises of STYLE.md true on the built library:
#   1. no writable data at all, global or static: every piece of state hangs
#      off an rcgc_heap, so no object file of the static library may have a
#      non-empty writable data section (.data*, .bss*, .tdata, .tbss) or a
#      common symbol;
#   2. every defined exported symbol starts with rcgc_ (public) or rcgc__
#      (internal), in the static library and, when given, the shared one,
#      which must export the public API.
#
# Constant data that holds pointers ('static const rcgc_type' structs, tables
# of string pointers) lands in .data.rel.ro in position-independent code, and
# nm shows it as 'd'/'D', like writable data. The library has none: types are
# built at run time (rcgc_type_register), so .data.rel.ro fails here too and
# the check agrees with plain nm.
#
#   tools/check-symbols.sh [librcgc.a [librcgc.so]]   default: build/librcgc.a
# Exits 0 when both hold, 1 with the offending sections and symbols, 2 on usage.
set -euo pipefail

static_lib=${1:-build/librcgc.a}
shared_lib=${2:-}

for f in "$static_lib" ${shared_lib:+"$shared_lib"}; do
    if [ ! -f "$f" ]; then
        echo "check-symbols: $f not found (build the library first: make)" >&2
        exit 2
    fi
done
for tool in nm objdump; do
    command -v "$tool" >/dev/null || { echo "check-symbols: $tool not found (binutils)" >&2; exit 2; }
done

fail=0

# 1. Writable sections with contents, per member ("member section size"),
# then the symbols that live in them, and common symbols.
sections=$(objdump -h "$static_lib" | awk '
    /:     file format / { member = $1; sub(/:$/, "", member); next }
    $1 ~ /^[0-9]+$/ && $2 ~ /^\.(data|bss|tdata|tbss)([.]|$)/ &&
        $3 !~ /^0+$/ { print member, $2, $3 }')
# objdump -t: "value flags section<TAB>size [.hidden] name".
symbols=$(objdump -t "$static_lib" | awk -F '\t' '
    /:     file format / { split($0, w, " "); member = w[1]; sub(/:$/, "", member); next }
    NF == 2 && $1 !~ / d  / {
        n = split($1, left, " "); section = left[n]
        m = split($2, right, " "); name = right[m]
        print member, section, name }')
writable=""
while read -r member section size; do
    [ -n "$member" ] || continue
    names=$(awk -v m="$member" -v s="$section" '$1 == m && $2 == s { printf " %s", $3 }' <<<"$symbols")
    writable+="  $member: $section, $((16#$size)) bytes:${names:- (no symbol)}"$'\n'
done <<<"$sections"
common=$(awk '$2 == "*COM*" { print "  " $1 ": common symbol " $3 }' <<<"$symbols")
if [ -n "$writable$common" ]; then
    echo "check-symbols: FAIL: $static_lib has writable data (state belongs on the rcgc_heap):"
    printf '%s' "$writable"
    [ -z "$common" ] || echo "$common"
    fail=1
fi

# 2. Exported names. nm -A prints "archive:member:value type name".
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
