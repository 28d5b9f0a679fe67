"""weakref_cpython.py -- the anchor side of bench_weakref.c: CPython's
weakref.ref and WeakValueDictionary on the same workloads (see the C file).
Prints the same non-SAMPLE lines and 'SAMPLE ns_per_op=...'."""
import os
import sys
import time
import weakref

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from anchor import count_arg as arg  # noqa: E402

LIVE, KEYS, RING = 1000, 2000, 1000


class Obj:
    __slots__ = ("x", "__weakref__")


def create_get_drop(n):
    objs = [Obj() for _ in range(LIVE)]
    ref = weakref.ref
    alive = 0
    t0 = time.perf_counter_ns()
    for i in range(n):
        r = ref(objs[i % LIVE])
        x = r()
        alive += x is not None
        del x, r
    t1 = time.perf_counter_ns()
    assert alive == n
    print(f"ops={n}")
    print(f"SAMPLE ns_per_op={(t1 - t0) / n:.2f}")


def cache_churn(n):
    keys = [f"key{i}" for i in range(KEYS)]
    d = weakref.WeakValueDictionary()
    ring = [None] * RING
    hits = 0
    get = d.get
    x = 1
    t0 = time.perf_counter_ns()
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0x7fffffff
        k = keys[(x >> 8) % KEYS]
        v = get(k)
        if v is not None:
            hits += 1
        else:
            v = Obj()
            d[k] = v
        ring[i % RING] = v
    t1 = time.perf_counter_ns()
    print(f"hits={hits} len={len(d)}")
    print(f"SAMPLE ns_per_op={(t1 - t0) / n:.2f}")


def main():
    case = sys.argv[1]
    n = arg(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    {"create-get-drop": create_get_drop, "cache-churn": cache_churn}[case](n)


if __name__ == "__main__":
    main()
