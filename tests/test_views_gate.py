#!/usr/bin/env python3
"""Test of the load harness's regression gate (apps/views/bench.py --gate,
VIEWS.md #12: gate regressions on instructions, syscalls and allocations per
request).

1. The comparison on made-up numbers whose answer is known: a figure within
   its tolerance passes, one above it fails with a message naming it, one
   below by more than the tolerance passes with a note to refresh the
   baseline, figures not measured or without a baseline are not gated.
2. The gate itself, cheap form, on this build: allocations and syscalls per
   request (one worker, 300 requests each, well under a second) against the
   committed bench/views/baseline.json. Instructions per request are left
   out here: callgrind is fast enough (~5 s) but the count depends on the
   build flags, and the test tree keeps assertions (RelWithDebInfo, no
   NDEBUG) while the baseline is the release build's; 'bench.py BUILD --gate'
   on the release build gates them. Syscalls need strace and ptrace
   (scripts/deps.sh test); without them they are reported, not gated.
3. The command line: --gate with a baseline whose allocation figure is made
   too low exits 1 and names allocations_per_request on stderr.

    tests/test_views_gate.py build/rcgc-views
"""
import json
import os
import subprocess
import sys
import tempfile

BIN = sys.argv[1] if len(sys.argv) > 1 else "build/rcgc-views"
HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.join(HERE, "..", "apps", "views", "bench.py")
sys.path.insert(0, HERE)
# The timeline test's check() and failure list (it imports bench too).
from test_views_bench import bench, check, failures  # noqa: E402


def test_compare():
    base = {"figures": {"instructions_per_request": 150000, "syscalls_per_request": 4.5,
                        "allocations_per_request": 73.5},
            "tolerance": {"allocations_per_request": 0.02, "syscalls_per_request": 0.10},
            "default_tolerance": 0.05}
    f, n = bench.gate_compare({"instructions_per_request": 157000,   # +4.7% < 5%
                               "syscalls_per_request": 4.9,          # +8.9% < 10%
                               "allocations_per_request": 74.9}, base)  # +1.9% < 2%
    check(not f and len(n) == 3, "within tolerance: passes (%s)" % f)
    f, n = bench.gate_compare({"instructions_per_request": 158000,   # +5.3%, default 5%
                               "syscalls_per_request": 4.9,
                               "allocations_per_request": 75.1}, base)  # +2.2%
    check(len(f) == 2 and "instructions_per_request" in f[1] and "allocations_per_request" in f[0]
          and all(x.startswith("REGRESSION ") for x in f),
          "above tolerance: one failure naming each figure that regressed: %s" % f)
    check("75.10" in f[0] and "74.97" in f[0] and "73.50" in f[0],
          "the message gives the value, the limit and the baseline: %s" % f[0])
    f, n = bench.gate_compare({"syscalls_per_request": 3.0}, base)
    check(not f and any("refresh" in x for x in n),
          "well below the baseline: passes, with a note to refresh it (%s)" % n)
    f, n = bench.gate_compare({"syscalls_per_request": None, "allocations_per_request": 80,
                               "instructions_per_request": 1e9},
                              {"figures": {"allocations_per_request": 80}})
    check(not f and any("syscalls_per_request: not measured" in x for x in n)
          and any("instructions_per_request: no baseline" in x for x in n),
          "not measured or no baseline: not gated, said so (%s)" % n)
    f, n = bench.gate_compare({"allocations_per_request": 84.1},
                              {"figures": {"allocations_per_request": 80}})
    check(len(f) == 1, "the default tolerance is 5%% when the file names none (%s)" % f)


def test_gate_live():
    figs = ("syscalls_per_request", "allocations_per_request")
    m = bench.gate_measure(figs, binary=BIN)
    check(m["allocations_per_request"] is not None and m["allocations_per_request"] > 0,
          "allocations per request counted: %s" % m["allocations_per_request"])
    if m["syscalls_per_request"] is None:
        print("no strace or no ptrace: syscalls per request not gated (scripts/deps.sh test)")
    else:
        check(m["syscalls_per_request"] > 1, "syscalls per request counted: %.2f"
              % m["syscalls_per_request"])
    with open(bench.BASELINE) as fh:
        baseline = json.load(fh)
    f, n = bench.gate_compare(m, baseline)
    for x in n:
        print("     " + x)
    check(not f, "allocations and syscalls per request within the committed baseline: %s" % f)


def test_cli():
    with open(bench.BASELINE) as fh:
        baseline = json.load(fh)
    baseline["figures"]["allocations_per_request"] = 10.0
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(baseline, fh)
        path = fh.name
    try:
        p = subprocess.run([sys.executable, BENCH, os.path.dirname(os.path.abspath(BIN)), "--gate",
                            "--gate-figures", "allocations_per_request", "--baseline", path],
                           capture_output=True, text=True, timeout=120)
    finally:
        os.unlink(path)
    check(p.returncode == 1 and "REGRESSION allocations_per_request" in p.stderr
          and "RESULT bench=views/gate-allocations-per-request" in p.stdout,
          "--gate exits 1 naming the figure that regressed (rc %d, stderr %r)"
          % (p.returncode, p.stderr.strip()))


if __name__ == "__main__":
    for test in (test_compare, test_gate_live, test_cli):
        test()
    print("test_views_gate: %d failed" % len(failures))
    sys.exit(1 if failures else 0)
