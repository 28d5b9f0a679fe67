#!/usr/bin/env bash
# The views suite: the rcgc-views load harness (apps/views/bench.py, wrk on
# loopback, about 5 minutes: the teaching pairs and the per-request counts
# add ~35 s); bench/run.sh sets the environment.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
exec "${RCGC_BENCH_PYTHON:-/usr/bin/python3}" "$ROOT/apps/views/bench.py" \
    "${RCGC_BUILD_DIR:-$ROOT/build}" ${RCGC_VIEWS_BENCH_ARGS:-}
