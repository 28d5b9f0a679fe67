"""gc_cpython.py -- the CPython side of the gc suite (bench/gc/bench_gc.c is ours).

Run by bench/gc/suite.py with Debian's /usr/bin/python3 (3.11). Every mode
builds exactly the object graph bench_gc.c builds, in the same order, and
prints one 'SAMPLE key=value ...' line that bench/driver.py reads:

  traversal N REPS [ORDER]
                      a forest of N live 2-reference objects (build_forest;
                      ORDER 0 top-down, 1 bottom-up); one untimed full
                      collection, then REPS timed ones; ns_per_obj = median / N
  cycles N REPS       N/2 two-object cycles, dropped, one full collection;
                      ns_per_obj = median time / collected objects
  rings N K REPS      N/K rings of K objects each, dropped, one full collection
  maxpause N CHURN    automatic collection on (CPython's default thresholds),
                      grow the forest to N live objects, with CHURN garbage
                      two-object cycles per chunk; pauses from gc.callbacks
  bytes N             RSS delta of a chain of N 2-reference objects
  count N K           the traversal forest, one full collection and K more,
                      untimed (for instruction counts under callgrind)

Startup objects (modules, functions) are frozen with gc.freeze() first so
that collections scan the benchmark's objects only, as on the rcgc side.
"""
import gc
import os
import sys
import time

# A forest chunk is one complete binary tree of TREE_DEPTH levels
# (2**TREE_DEPTH - 1 nodes) plus one spine node holding it: 1024 objects.
TREE_DEPTH = 10
CHUNK = 1 << TREE_DEPTH


class Node:
    # Unset slots read as NULL, like rcgc's zero-filled fields.
    __slots__ = ("left", "right")


def make_tree(depth):
    # Parent first, then the left and right subtrees.
    n = Node()
    if depth > 1:
        n.left = make_tree(depth - 1)
        n.right = make_tree(depth - 1)
    return n


def make_tree_bottom_up(depth):
    # Both subtrees first, then the parent.
    if depth > 1:
        left = make_tree_bottom_up(depth - 1)
        right = make_tree_bottom_up(depth - 1)
        n = Node()
        n.left = left
        n.right = right
        return n
    return Node()


def make_pair_garbage():
    a = Node()
    b = Node()
    a.left = b
    b.left = a


def build_forest(n_objects, churn=0, bottom_up=False):
    """Top-down: a chain of spine nodes, each one's left = a tree of CHUNK - 1
    nodes, right = the next spine node, each object created before the ones
    it references (the collector's list order then follows the graph).
    Bottom-up: each spine node references the previous one and is created
    after its tree (CPython's traversal is several times slower on this
    order). 'churn' dropped two-object cycles follow each chunk. Returns
    (the one reference to the chain, objects in it)."""
    head = tail = None
    chunks = max(1, n_objects // CHUNK)
    for _ in range(chunks):
        if bottom_up:
            tree = make_tree_bottom_up(TREE_DEPTH)
            spine = Node()
            spine.left = tree
            spine.right = head
            head = spine
        else:
            spine = Node()
            if tail is None:
                head = spine
            else:
                tail.right = spine
            tail = spine
            spine.left = make_tree(TREE_DEPTH)
        for _ in range(churn):
            make_pair_garbage()
    return head, chunks * CHUNK


def median(xs):
    xs = sorted(xs)
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else (xs[m - 1] + xs[m]) / 2


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def sample(**kw):
    print("SAMPLE " + " ".join(f"{k}={v}" for k, v in kw.items()), flush=True)


def timed_collect():
    t0 = time.perf_counter_ns()
    found = gc.collect()
    return time.perf_counter_ns() - t0, found


def mode_traversal(n, reps, order=0):
    gc.disable()
    head, built = build_forest(n, bottom_up=order == 1)
    timed_collect()  # untimed: everything ends up in the oldest generation
    times = []
    for _ in range(reps):
        t, found = timed_collect()
        if found:
            sys.exit(f"traversal: collect found {found} unreachable objects")
        times.append(t)
    t = median(times)
    sample(ns_per_obj=f"{t / built:.3f}", ms_per_collection=f"{t / 1e6:.3f}", objects=built)
    del head


def collect_garbage(make_garbage, reps):
    gc.disable()
    times = []
    per_obj = []
    for _ in range(reps):
        expected = make_garbage()
        t, found = timed_collect()
        if found != expected:
            sys.exit(f"collect found {found} unreachable objects, expected {expected}")
        times.append(t)
        per_obj.append(t / found)
    sample(ns_per_obj=f"{median(per_obj):.3f}", ms_per_collection=f"{median(times) / 1e6:.3f}",
           objects=expected)


def mode_cycles(n, reps):
    def garbage():
        for _ in range(n // 2):
            make_pair_garbage()
        return (n // 2) * 2

    collect_garbage(garbage, reps)


def mode_rings(n, k, reps):
    def garbage():
        for _ in range(n // k):
            first = prev = Node()
            for _ in range(k - 1):
                node = Node()
                prev.left = node
                prev = node
            prev.left = first
        first = prev = node = None
        return (n // k) * k

    collect_garbage(garbage, reps)


def mode_maxpause(n, churn):
    pauses = []
    cpu_pauses = []  # thread CPU time: holds on a loaded machine
    start = [0, 0]

    def callback(phase, info):
        if phase == "start":
            start[0] = time.perf_counter_ns()
            start[1] = time.thread_time_ns()
        else:
            pauses.append(time.perf_counter_ns() - start[0])
            cpu_pauses.append(time.thread_time_ns() - start[1])

    gc.callbacks.append(callback)
    t0 = time.perf_counter_ns()
    head, built = build_forest(n, churn)
    wall = time.perf_counter_ns() - t0
    gc.callbacks.remove(callback)
    total = sum(pauses)
    sample(max_pause_us=f"{max(pauses, default=0) / 1e3:.1f}", gc_total_ms=f"{total / 1e6:.2f}",
           wall_ms=f"{wall / 1e6:.2f}", gc_share_pct=f"{100.0 * total / wall:.1f}",
           collections=len(pauses),
           max_collection_cpu_us=f"{max(cpu_pauses, default=0) / 1e3:.1f}", objects=built)
    gc.disable()  # do not time the teardown
    del head


def mode_count(n, k):
    """For counting instructions under callgrind: the traversal forest, one
    full collection, then k more (bench/gc/suite.py subtracts a k = 0 run)."""
    gc.disable()
    head, built = build_forest(n)
    for _ in range(k + 1):
        gc.collect()
    sample(objects=built, collections=k)
    del head


def mode_bytes(n):
    gc.disable()
    warm = [Node() for _ in range(1000)]  # the class's first instances
    del warm
    before = rss_bytes()
    head = None
    for _ in range(n):
        node = Node()
        node.left = head
        head = node
    node = None
    after = rss_bytes()
    per_obj = (after - before) / n
    sample(bytes_per_obj=f"{per_obj:.2f}", overhead_per_obj=f"{per_obj - 16:.2f}", objects=n)
    os._exit(0)  # skip freeing the chain: not measured


def main(argv):
    gc.collect()
    gc.freeze()  # startup objects are never scanned (rcgc has none)
    mode, args = argv[1], [int(a) for a in argv[2:]]
    modes = {"traversal": mode_traversal, "cycles": mode_cycles, "rings": mode_rings,
             "maxpause": mode_maxpause, "bytes": mode_bytes, "count": mode_count}
    if mode not in modes:
        sys.exit(f"usage: {argv[0]} traversal|cycles|rings|maxpause|bytes|count N ...")
    modes[mode](*args)


if __name__ == "__main__":
    main(sys.argv)
