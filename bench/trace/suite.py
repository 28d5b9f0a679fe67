"""suite.py -- the trace suite: the allocation tracer's slowdown and snapshot
cost against CPython 3.11's tracemalloc on the same workloads, alternating.
Run through bench/run.sh trace (make bench BENCH=trace)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from driver import Bench, program, python_script  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CPY = "cpython-3.11-tracemalloc"
PY = os.path.join(HERE, "trace_cpython.py")
N = os.environ.get("RCGC_BENCH_TRACE_N", "200k")


def main():
    b = Bench("trace")
    b.note("ours = rcgc release build, slowdown = traced / untraced time of the same "
           "process, median of 9 pairs; theirs = /usr/bin/python3 (Debian's 3.11) with "
           "tracemalloc on the same churn workload (box of 10 objects + 1 string, "
           "built and dropped)")
    cases = [("slowdown-exact-1", "exact1", "1"), ("slowdown-native-16", "native16", "25")]
    for case, mode, frames in cases:
        s = b.measure(case, {"ours": [program("bench_trace"), "slowdown", mode, N],
                             CPY: python_script(PY, "slowdown", frames, N)},
                      same_output=True)
        b.result(case, "x", s["ours"], s[CPY], "slowdown", CPY,
                 note=f"ours {mode}; theirs tracemalloc.start({frames})")
    s = b.measure("slowdown-sampled",
                  {"ours": [program("bench_trace"), "slowdown", "sampled", N]})
    b.result("slowdown-sampled-cpu", "x", s["ours"], None, "slowdown_cpu",
             note="the same pairs timed in thread CPU time")
    b.result("slowdown-sampled", "x", s["ours"], None, "slowdown",
             note="ours: native 16 frames, Poisson sampling, 512 KiB mean; tracemalloc "
             "has no sampled mode")
    s = b.measure("snapshot-stats-1M",
                  {"ours": [program("bench_trace"), "snapshot", "1M"],
                   CPY: python_script(PY, "snapshot", "1M")})
    b.result("snapshot-stats-1M", "ms", s["ours"], s[CPY], "ms", CPY,
             note="take_snapshot + statistics('lineno') over 1M live traced objects from "
             "10 lines, 1 frame")
    b.result("tracer-bytes-per-trace", "B", s["ours"], s[CPY], "tracer_bytes_per_trace", CPY,
             note="tracer memory / traces with 1M live traces")


if __name__ == "__main__":
    main()
