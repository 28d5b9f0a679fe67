"""suite.py -- the alloc suite: small-object malloc+free workloads
(bench/alloc/bench_alloc.c) with rcgc's raw API against glibc malloc,
mimalloc, jemalloc, tcmalloc and CPython's pymalloc, one program per
allocator built from the same source, alternating. Run through
bench/run.sh alloc (make bench BENCH=alloc).

Cases (ns per malloc+free pair): uniform 16-512 B and small 16-64 B over a
window of 1024 live blocks freed in random order; LIFO batches of 100 and
10k; random-order frees over 10k and 1M live blocks; a sliding working set
of 100k blocks. Per case also the RSS left after everything is freed, and
for random-1M the peak RSS of the process. RCGC_BENCH_ALLOC_SCALE (default
0.5) scales the work of every run.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from driver import Bench, program  # noqa: E402

ANCHORS = {"glibc": "bench_alloc_glibc", "mimalloc": "bench_alloc_mimalloc",
           "jemalloc": "bench_alloc_jemalloc", "tcmalloc": "bench_alloc_tcmalloc",
           "pymalloc": "bench_alloc_pymalloc"}
CASES = ["uniform", "small", "lifo-100", "lifo-10k", "random-10k", "random-1M", "sliding-100k"]
SCALE = os.environ.get("RCGC_BENCH_ALLOC_SCALE", "0.5")


def main():
    b = Bench("alloc")
    b.note("one C program per allocator (same source, same precomputed sizes and orders); "
           "ours = rcgc_malloc/rcgc_free on one heap (release build, collector off)")
    for case in CASES:
        sides = {"ours": [program("bench_alloc_rcgc"), case, SCALE]}
        for anchor, prog in ANCHORS.items():
            sides[anchor] = [program(prog), case, SCALE]
        s = b.measure(case, sides)
        for anchor in ANCHORS:
            b.result(case, "ns/pair", s["ours"], s[anchor], "ns_per_pair", anchor)
        for anchor in ANCHORS:
            b.result(f"{case}-rss-after-free", "MiB", s["ours"], s[anchor],
                     "rss_after_free_mib", anchor,
                     note="RSS growth left once every block is freed (no trim call)")
        for anchor in ANCHORS:
            b.result(f"{case}-rss-after-trim", "MiB", s["ours"], s[anchor],
                     "rss_after_trim_mib", anchor,
                     note="the same after each allocator's own trim call (rcgc_mem_trim, "
                     "mi_collect(true), malloc_trim(0), jemalloc arena purge, tcmalloc "
                     "ReleaseFreeMemory; pymalloc has none)")
        if case == "random-1M":
            for anchor in ANCHORS:
                b.result(f"{case}-peak-rss", "MiB", s["ours"], s[anchor], "peak_rss_mib",
                         anchor, note="peak RSS of the process (wait4)")


if __name__ == "__main__":
    main()
