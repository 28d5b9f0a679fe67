#!/usr/bin/env bash
# The alloc suite (bench/alloc/suite.py); bench/run.sh sets the environment.
exec "${RCGC_BENCH_PYTHON:-/usr/bin/python3}" "$(dirname "$0")/suite.py"
