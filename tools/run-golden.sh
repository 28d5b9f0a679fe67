#!/usr/bin/env bash
# run-golden.sh TOOL GOLDEN_DIR NAME ARGS... -- run "TOOL ARGS..." in
# GOLDEN_DIR and compare its stdout and exit status with NAME.out (the last
# line of NAME.out is "exit N"). RCGC_GOLDEN_UPDATE=1 rewrites NAME.out.
set -uo pipefail
tool=$1 dir=$2 name=$3
shift 3
cd "$dir" || exit 2
actual=$("$tool" "$@" 2>&1; echo "exit $?")
if [ "${RCGC_GOLDEN_UPDATE:-0}" = 1 ]; then
    printf '%s\n' "$actual" >"$name.out"
    echo "updated $dir/$name.out"
    exit 0
fi
if ! diff -u "$name.out" <(printf '%s\n' "$actual"); then
    echo "golden mismatch: $name (rerun with RCGC_GOLDEN_UPDATE=1 to accept)" >&2
    exit 1
fi
