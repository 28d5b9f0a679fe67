"""trace_cpython.py -- the anchor side of bench_trace.c: the same workloads
under CPython 3.11's tracemalloc.

  trace_cpython.py slowdown FRAMES N   FRAMES: 1, 25 (tracemalloc.start(FRAMES))
  trace_cpython.py snapshot N          take_snapshot() + statistics('lineno')
Prints the same non-SAMPLE lines as the C side and a SAMPLE line."""
import os
import sys
import time
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from anchor import count_arg as arg  # noqa: E402


class Node:
    __slots__ = ("a", "b")


def churn(n):
    # A box (list) of 10 nodes and one string, built and dropped: 12
    # allocations per iteration as on the C side.
    for i in range(n):
        box = [Node(), Node(), Node(), Node(), Node(), Node(), Node(), Node(), Node(), Node()]
        s = "item-%d-%s" % (i, "odd" if i & 1 else "even-number")
        del box, s


def timed(n):
    t0 = time.perf_counter()
    churn(n)
    return time.perf_counter() - t0


PAIRS = 9  # untraced/traced pairs, as bench_trace.c


def slowdown(frames, n):
    timed(n // 4)
    off, on, ratio = [], [], []
    for _ in range(PAIRS):
        off.append(timed(n))
        tracemalloc.start(frames)
        on.append(timed(n))
        tracemalloc.stop()
        ratio.append(on[-1] / off[-1])
    off.sort()
    on.sort()
    ratio.sort()
    print(f"iterations={n} allocations_per_iteration=12")
    m = PAIRS // 2
    print(f"SAMPLE slowdown={ratio[m]:.4f} off_ns_per_iter={off[m] * 1e9 / n:.1f} "
          f"on_ns_per_iter={on[m] * 1e9 / n:.1f}")


def alloc_site(k):
    # Ten allocation lines, as the C side's ten call sites.
    if k == 0: return Node()  # noqa: E701
    if k == 1: return Node()  # noqa: E701
    if k == 2: return Node()  # noqa: E701
    if k == 3: return Node()  # noqa: E701
    if k == 4: return Node()  # noqa: E701
    if k == 5: return Node()  # noqa: E701
    if k == 6: return Node()  # noqa: E701
    if k == 7: return Node()  # noqa: E701
    if k == 8: return Node()  # noqa: E701
    return Node()


def snapshot(n):
    tracemalloc.start(1)
    objs = [alloc_site(i % 10) for i in range(n)]
    tracer = tracemalloc.get_tracemalloc_memory()
    t0 = time.perf_counter()
    snap = tracemalloc.take_snapshot()
    t1 = time.perf_counter()
    stats = snap.statistics("lineno")
    t2 = time.perf_counter()
    ntraces = len(snap.traces)
    print(f"traces={n if ntraces >= n else 0} groups={10 if len(stats) >= 10 else len(stats)}")
    print(f"SAMPLE ms={(t2 - t0) * 1e3:.2f} snapshot_ms={(t1 - t0) * 1e3:.2f} "
          f"stats_ms={(t2 - t1) * 1e3:.2f} tracer_bytes_per_trace={tracer / ntraces:.1f}")
    del objs
    tracemalloc.stop()


def main():
    if sys.argv[1] == "slowdown":
        slowdown(int(sys.argv[2]), arg(sys.argv[3]))
    elif sys.argv[1] == "snapshot":
        snapshot(arg(sys.argv[2]))
    else:
        sys.exit("usage: trace_cpython.py slowdown FRAMES N | snapshot N")


if __name__ == "__main__":
    main()
