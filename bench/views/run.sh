#!/usr/bin/env bash
# The views suite: the rcgc-views load harness (apps/views/bench.py, wrk on
# loopback, about 4 minutes); bench/run.sh sets the environment.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
exec "${RCGC_BENCH_PYTHON:-/usr/bin/python3}" "$ROOT/apps/views/bench.py" \
    "${RCGC_BUILD_DIR:-$ROOT/build}" ${RCGC_VIEWS_BENCH_ARGS:-}
