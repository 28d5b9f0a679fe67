#!/usr/bin/env bash
# deps.sh -- install the Debian 12 packages rcgc needs, by group.
#
#   scripts/deps.sh [group...]      default group: build
#   scripts/deps.sh --list [group...]   print the packages, install nothing
#
# Groups: build, test, bench, server, tracing, all. Packages already installed
# are found with dpkg-query, so a machine that has everything does nothing (no
# network, well under a second). Missing ones are installed with one
# 'apt-get update' and one 'apt-get install' when running as root; otherwise
# the exact apt command is printed and the script fails.
set -euo pipefail

group_packages() {
    case "$1" in
        # Compilers (clang for the fuzzers and the sanitizer build), CMake, and
        # pkg-config for the install check.
        build) echo cmake gcc clang make pkg-config ;;
        # valgrind for 'make valgrind'; clang's runtimes for libFuzzer and the
        # sanitizers (gcc brings its own libasan/libubsan); python3 for the
        # views server's integration test; chromium for its dashboard test
        # (headless, no display needed), with one font named explicitly
        # because chromium only recommends fonts-liberation, which
        # --no-install-recommends leaves out; wrk for the load harness's
        # GC-timeline test (its Lua script is part of what is tested); strace
        # for the views gate's syscalls per request.
        test) echo valgrind libclang-rt-14-dev python3 chromium fonts-dejavu-core wrk strace ;;
        # The anchors of ../shared/BENCH.md: the distro's CPython 3.11 (never a
        # locally compiled one), mimalloc, jemalloc, tcmalloc, Boehm GC,
        # hyperfine for whole-command timing, wrk for HTTP load, strace for
        # syscalls per request (strace -c), valgrind for instructions per
        # request (callgrind).
        bench) echo python3 libmimalloc-dev libjemalloc-dev libgoogle-perftools-dev \
                    libgc-dev hyperfine wrk strace valgrind ;;
        # The views server.
        server) echo libmicrohttpd-dev ;;
        # Native stack capture for allocation tracing.
        tracing) echo libunwind-dev libdw-dev ;;
        all) for g in build test bench server tracing; do group_packages "$g"; done ;;
        *) echo "deps.sh: unknown group '$1' (build, test, bench, server, tracing, all)" >&2
           return 1 ;;
    esac
}

list_only=0
if [ "${1:-}" = "--list" ]; then
    list_only=1
    shift
fi
[ $# -gt 0 ] || set -- build

wanted=()
for g in "$@"; do
    pkgs=$(group_packages "$g") || exit 2
    # shellcheck disable=SC2206 # word splitting of the package list is intended
    wanted+=($pkgs)
done

if [ "$list_only" = 1 ]; then
    printf '%s\n' "${wanted[@]}" | sort -u
    exit 0
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "deps.sh: not a Debian system; install these yourself: ${wanted[*]}" >&2
    exit 0
fi

missing=()
for p in $(printf '%s\n' "${wanted[@]}" | sort -u); do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$status" = installed ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

install_args=(install -y --no-install-recommends "${missing[@]}")
if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: missing Debian packages: ${missing[*]}" >&2
    echo "deps.sh: install them as root with:" >&2
    echo "    apt-get update && apt-get ${install_args[*]}" >&2
    exit 1
fi

echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Wait for a concurrent apt/dpkg (another engineer's install) instead of failing.
apt_opts=(-o DPkg::Lock::Timeout=300 -o Acquire::Retries=3)
# A list that cannot be refreshed (one unreachable source) is not fatal: the
# install below says clearly if a package really cannot be had.
apt-get "${apt_opts[@]}" update -qq || echo "deps.sh: apt-get update failed; trying the cached lists" >&2
apt-get "${apt_opts[@]}" -q "${install_args[@]}" </dev/null
echo "deps.sh: done"
