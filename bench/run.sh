#!/usr/bin/env bash
# run.sh -- run the benchmark suites (all, or the ones named) against their
# anchors, print machine information and every RESULT line, keep each suite's
# output in bench/results/<suite>.txt and regenerate BENCHMARKS.md from them
# (bench/report.py). Rules and line format: ../shared/BENCH.md.
#
#   bench/run.sh [suite...]     suites: gc rc alloc weakref trace views, and
#                               any other bench/<suite>/run.sh
#
# Builds (or reuses) the release build in $RCGC_BUILD_DIR (default build/:
# RelWithDebInfo, -O2 -g -DNDEBUG), which 'make bench' has just built. Each
# suite is a script bench/<suite>/run.sh that prints RESULT lines; it gets
# RCGC_BUILD_DIR, RCGC_BENCH_BIN (the built programs), RCGC_BENCH_PYTHON
# (/usr/bin/python3) and PYTHONPATH=bench (for bench/driver.py).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench
BUILD=${RCGC_BUILD_DIR:-$ROOT/build}
PY=${RCGC_BENCH_PYTHON:-/usr/bin/python3}
KNOWN="gc rc alloc weakref trace views"

if [ -n "${MAKELEVEL:-}" ]; then
    COMMAND="make bench${*:+ BENCH=$*}"
else
    COMMAND="bench/run.sh${*:+ $*}"
fi

# The suites: the ones named, or every known one plus any other directory
# with a run.sh, in that order.
if [ $# -gt 0 ]; then
    SUITES="$*"
    for s in $SUITES; do
        if [ ! -f "$BENCH/$s/run.sh" ]; then
            echo "bench/run.sh: no suite '$s' (bench/$s/run.sh does not exist)" >&2
            exit 1
        fi
    done
else
    SUITES=$KNOWN
    for d in "$BENCH"/*/; do
        s=$(basename "$d")
        case " $KNOWN " in *" $s "*) ;; *) [ -f "$d/run.sh" ] && SUITES="$SUITES $s" ;; esac
    done
fi

if [ ! -x "$PY" ]; then
    echo "bench/run.sh: $PY not found; the anchor is Debian's python3 (scripts/deps.sh bench)" >&2
    exit 1
fi

# The measured side is a release build: configure build/ as the Makefile does
# if needed, then make sure it is optimised with assertions off.
buildlog=$(mktemp)
if ! { [ -f "$BUILD/CMakeCache.txt" ] ||
       cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo; } >"$buildlog" 2>&1 ||
   ! cmake --build "$BUILD" -j"$(nproc 2>/dev/null || echo 2)" >>"$buildlog" 2>&1; then
    cat "$buildlog" >&2
    echo "bench/run.sh: the build in $BUILD failed" >&2
    rm -f "$buildlog"
    exit 1
fi
grep '^-- bench' "$buildlog" || true  # anchors skipped for want of a package
rm -f "$buildlog"
# The flags the library was compiled with (Makefile generators write them
# down); otherwise the cache's, for the build type the project defaults to.
cache() { sed -n "s/^$1:[A-Z]*=//p" "$BUILD/CMakeCache.txt"; }
BUILD_TYPE=$(cache CMAKE_BUILD_TYPE)
BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo}
flags_make=$BUILD/CMakeFiles/rcgc_objects.dir/flags.make
if [ -f "$flags_make" ]; then
    CFLAGS=$(sed -n 's/^C_FLAGS = //p' "$flags_make" | sed 's/ -W[^ ]*//g; s/ -f[^ ]*//g')
else
    BUILD_TYPE_UC=$(echo "$BUILD_TYPE" | tr '[:lower:]' '[:upper:]')
    CFLAGS="$(cache CMAKE_C_FLAGS) $(cache "CMAKE_C_FLAGS_$BUILD_TYPE_UC")"
fi
CFLAGS=$(echo "$CFLAGS" | xargs)
case " $CFLAGS " in
    *" -DNDEBUG "*) ;;
    *) echo "bench/run.sh: $BUILD is not a release build (C flags '$CFLAGS'," \
            "no -DNDEBUG); use RCGC_BUILD_DIR with a RelWithDebInfo or Release build" >&2
       exit 1 ;;
esac
case " $CFLAGS " in
    *" -O2 "* | *" -O3 "*) ;;
    *) echo "bench/run.sh: $BUILD is not optimised (C flags '$CFLAGS')" >&2; exit 1 ;;
esac
if [ "$(cache RCGC_SANITIZE)" = ON ]; then
    echo "bench/run.sh: $BUILD has sanitizers on; benchmarks need a plain release build" >&2
    exit 1
fi

export RCGC_BUILD_DIR=$BUILD RCGC_BENCH_BIN=$BUILD/bench RCGC_BENCH_PYTHON=$PY
export PYTHONPATH=$BENCH${PYTHONPATH:+:$PYTHONPATH} PYTHONDONTWRITEBYTECODE=1

# Machine information, one '# key: value' line each (report.py reads them).
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
# shellcheck disable=SC1091 # the system's os-release, read if present
os=$( (. /etc/os-release && echo "$PRETTY_NAME") 2>/dev/null || echo unknown)
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$ROOT" status --porcelain -- src include 2>/dev/null)" ]; then
    commit="$commit (src/ or include/ modified)"
fi
header() {
    echo "# date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "# command: $COMMAND"
    echo "# machine: $cpu, $(nproc) CPUs, $mem RAM"
    echo "# kernel: $(uname -srm)"
    echo "# os: $os"
    echo "# compiler: $(cc --version | head -1)"
    echo "# python: $PY $("$PY" -c 'import platform; print(platform.python_version())')"
    echo "# build: $BUILD_TYPE ($CFLAGS): release, optimised, assertions off"
    echo "# commit: $commit"
    echo "# load: $(cut -d' ' -f1-3 /proc/loadavg)"
}
echo "# rcgc benchmarks: suites $SUITES"
header

mkdir -p "$BENCH/results"
start=$(date +%s)
status=0
for s in $SUITES; do
    if [ ! -f "$BENCH/$s/run.sh" ]; then
        echo "# suite $s: not present yet (bench/$s/run.sh); skipped"
        continue
    fi
    echo "# suite $s"
    t0=$(date +%s)
    tmp=$(mktemp)
    { header; echo "# suite: $s"; } >"$tmp"
    if ! bash "$BENCH/$s/run.sh" 2>&1 | tee -a "$tmp"; then
        echo "ERROR suite=$s message=\"bench/$s/run.sh failed\"" | tee -a "$tmp"
        status=1
    fi
    echo "# suite $s: $(( $(date +%s) - t0 )) s" | tee -a "$tmp"
    if grep -q '^RESULT ' "$tmp"; then
        mv "$tmp" "$BENCH/results/$s.txt"
    else
        echo "# suite $s printed no RESULT line; bench/results/$s.txt kept as it was"
        rm -f "$tmp"
    fi
done
echo "# all suites: $(( $(date +%s) - start )) s"

shopt -s nullglob
results=("$BENCH"/results/*.txt)
if [ ${#results[@]} -gt 0 ]; then
    "$PY" "$BENCH/report.py" "${results[@]}" >"$ROOT/BENCHMARKS.md"
    echo "# BENCHMARKS.md regenerated from bench/results/*.txt"
fi
exit $status
