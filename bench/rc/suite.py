"""suite.py -- the rc suite: binary-trees (bench/rc/bt.c) with rcgc's
reference counting against explicit malloc/free (glibc, mimalloc), Boehm GC
and CPython 3.11 (binary_trees.py), alternating. Run through bench/run.sh rc.

Depth 20 is costly (glibc ~15 s, Boehm ~15 s, CPython ~60 s per run on the
reference machine) and 'make bench' must stay under 10 minutes: it runs no
warm-up round (the depth-16 runs just before warm the machine), as many of
the usual rounds as fit in RCGC_BENCH_BUDGET_DEEP seconds (default 150, at
least one round; the output says when rounds were cut), and CPython runs it
only with RCGC_BENCH_FULL=1 (one round): CPython's comparison is at depth 16.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from driver import Bench, program, python_script  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ANCHORS = {"mimalloc-explicit": "bench_bt_mimalloc", "glibc-explicit": "bench_bt_glibc",
           "boehm": "bench_bt_boehm"}
CPY = "cpython-3.11"
FULL = os.environ.get("RCGC_BENCH_FULL") == "1"
DEEP_BUDGET = float(os.environ.get("RCGC_BENCH_BUDGET_DEEP", "150"))


def sides(depth, gc_off=False, cpython=False):
    s = {"ours": [program("bench_bt_rcgc"), depth, "1"]}
    if gc_off:
        s["ours-gc-off"] = [program("bench_bt_rcgc"), depth, "0"]
    for anchor, prog in ANCHORS.items():
        s[anchor] = [program(prog), depth]
    if cpython:
        s[CPY] = python_script(os.path.join(HERE, "binary_trees.py"), depth)
    return s


def report(b, depth, s, rounds_note):
    case = f"binary-trees-{depth}"
    for anchor in [*ANCHORS, CPY]:
        if anchor in s:
            b.result(case, "s", s["ours"], s[anchor], "seconds", anchor,
                     note=f"wall time of the whole run; automatic collection on{rounds_note}")
    if "ours-gc-off" in s:
        b.result(f"{case}-gc-off", "s", s["ours-gc-off"], s["mimalloc-explicit"], "seconds",
                 "mimalloc-explicit", note="rcgc with automatic collection off")
    for anchor in [*ANCHORS, CPY]:
        if anchor in s:
            b.result(f"{case}-peak-rss", "MiB", s["ours"], s[anchor], "peak_rss_mib", anchor,
                     note="peak RSS of the process (wait4)")


def main():
    b = Bench("rc")
    b.note("Benchmarks Game binary-trees shape, single-threaded, our own code; every "
           "implementation prints the same check lines (compared)")
    s = b.measure("binary-trees-16", sides(16, gc_off=True, cpython=True), same_output=True)
    report(b, 16, s, "")

    s = b.measure("binary-trees-20", sides(20, gc_off=False), warmup=0, same_output=True,
                  budget_s=DEEP_BUDGET, min_rounds=1)
    report(b, 20, s, "; no warm-up round")
    if FULL:
        c = b.measure("binary-trees-20-cpython",
                      {"ours": sides(20)["ours"],
                       CPY: python_script(os.path.join(HERE, "binary_trees.py"), 20)},
                      rounds=1, warmup=0, same_output=True)
        b.result("binary-trees-20", "s", c["ours"], c[CPY], "seconds", CPY,
                 note="one round (RCGC_BENCH_FULL=1)")
    else:
        b.note("binary-trees-20: CPython not run (about 60 s a run; RCGC_BENCH_FULL=1 runs "
               "one round); compare with CPython at depth 16")


if __name__ == "__main__":
    main()
