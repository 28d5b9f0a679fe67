#!/usr/bin/env bash
# test-rcgc-snap.sh TOOL GOLDEN_DIR -- exit codes and messages of rcgc-snap,
# and the flame graph: one self-contained HTML file (no external assets).
set -uo pipefail
tool=$1 dir=$2
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
expect() { # expect STATUS PATTERN -- ARGS...
    local want=$1 pat=$2; shift 3
    local out
    out=$("$tool" "$@" 2>&1); local got=$?
    if [ "$got" != "$want" ] || ! grep -q -- "$pat" <<<"$out"; then
        echo "FAIL: rcgc-snap $*: exit $got (want $want), output: $out"
        fail=1
    fi
}
expect 2 "missing command" --
expect 2 "unknown command 'frob'" -- frob
expect 2 "top takes one snapshot file" -- top
expect 2 "unknown key 'size'" -- top --by size "$dir/fixture1.snap"
expect 2 "works with --by lineno or filename" -- top --by traceback --cumulative "$dir/fixture1.snap"
expect 2 "wants a count" -- top -n -3 "$dir/fixture1.snap"
expect 2 "unknown option" -- top --frob "$dir/fixture1.snap"
expect 2 "diff takes two snapshot files" -- diff "$dir/fixture1.snap"
expect 1 "No such file or directory" -- summary "$tmp/missing.snap"
head -c 100 "$dir/server.snap" >"$tmp/cut.snap"
expect 1 "cut.snap: checksum mismatch" -- top "$tmp/cut.snap"
printf 'hello' >"$tmp/text.snap"
expect 1 "truncated" -- summary "$tmp/text.snap"
expect 0 "usage:" -- --help
expect 0 "snapshot format 1" -- --version
expect 0 "" -- flame -o "$tmp/f.html" --title "a <b> & c" "$dir/server.snap"
if ! grep -q '<!DOCTYPE html>' "$tmp/f.html" || grep -Eq '(src|href)=|https?:|@import|url\(' "$tmp/f.html"; then
    echo "FAIL: flame graph is not a self-contained HTML page"
    fail=1
fi
grep -q 'a &lt;b&gt; &amp; c' "$tmp/f.html" || { echo "FAIL: title not escaped"; fail=1; }
grep -q '"view_users views.c:120"' "$tmp/f.html" || { echo "FAIL: frames missing from the flame data"; fail=1; }
expect 1 "No such file or directory" -- flame -o "$tmp/no/such/dir/f.html" "$dir/server.snap"
exit $fail
