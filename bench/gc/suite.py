"""suite.py -- the gc suite: rcgc's cycle collector (bench_gc.c) against
CPython 3.11's (gc_cpython.py) on the same object graphs, alternating.
Case names and units: ../shared/BENCH.md. Run through bench/run.sh gc.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from driver import Bench, callgrind, program, python_script  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CPY = "cpython-3.11"
SIZES = {"100k": 100_000, "1M": 1_000_000, "4M": 4_000_000}
REPS = "3"  # timed collections per process; the process reports their median


def sides(*args):
    return {"ours": [program("bench_gc"), *args],
            CPY: python_script(os.path.join(HERE, "gc_cpython.py"), *args)}


def main():
    b = Bench("gc")
    b.note("ours = rcgc release build; theirs = /usr/bin/python3 (Debian's 3.11) on the same "
           "graph of 2-reference objects (__slots__ class), startup objects frozen")

    # Full collection of a live heap: nothing is garbage.
    for label, n in SIZES.items():
        s = b.measure(f"traversal-{label}", sides("traversal", n, REPS))
        b.result(f"traversal-{label}", "ns/obj", s["ours"], s[CPY], "ns_per_obj", CPY,
                 note=f"forest of {s['ours'][0]['objects']:.0f} objects built top-down; "
                 f"median of {REPS} full collections per process" if s["ours"] else None)
        if label == "4M":
            b.result("full-collection-4M", "ms", s["ours"], s[CPY], "ms_per_collection", CPY,
                     note="the same full collections, in ms each")
    s = b.measure("traversal-1M-bottomup", sides("traversal", SIZES["1M"], REPS, "1"))
    b.result("traversal-1M-bottomup", "ns/obj", s["ours"], s[CPY], "ns_per_obj", CPY,
             note="every object created after the objects it references: the "
             "collector's list order no longer follows the graph")

    # The same full collection counted in instructions (deterministic, so one
    # round): a run with K more full collections minus a run without them.
    n, k = "100000", 4
    s = b.measure("traversal-100k-instructions", {
        "ours": callgrind([program("bench_gc"), "count", n, k]),
        "ours-base": callgrind([program("bench_gc"), "count", n, 0]),
        CPY: callgrind(python_script(os.path.join(HERE, "gc_cpython.py"), "count", n, k)),
        "cpython-base": callgrind(python_script(os.path.join(HERE, "gc_cpython.py"), "count",
                                                n, 0))}, rounds=1, warmup=0)
    for label, base in (("ours", "ours-base"), (CPY, "cpython-base")):
        if s[label] and s[base] and "instructions" in s[label][0]:
            m = s[label][0]
            m["instr_per_obj"] = (m["instructions"] - s[base][0]["instructions"]) / (
                m["objects"] * k)
        else:
            s[label] = None
    b.result("traversal-100k-instructions", "instr/obj", s["ours"], s[CPY], "instr_per_obj",
             CPY, note=f"instructions per object of a full collection of traversal-100k's "
             f"forest, counted by callgrind: a run with {k} more collections minus one without")

    # Reclaiming garbage cycles.
    s = b.measure("cycles-1M", sides("cycles", SIZES["1M"], REPS))
    b.result("cycles-1M", "ns/obj", s["ours"], s[CPY], "ns_per_obj", CPY,
             note="500k dropped two-object cycles, one full collection")
    s = b.measure("cycles-ring100-1M", sides("rings", SIZES["1M"], "100", REPS))
    b.result("cycles-ring100-1M", "ns/obj", s["ours"], s[CPY], "ns_per_obj", CPY,
             note="10k dropped rings of 100 objects, one full collection")

    # Automatic collection while a heap grows to 4M live objects, without and
    # with churn (512 dropped two-object cycles per 1024 live objects).
    # CPython has one mode; both of ours run against its figure.
    for churn, suffix in (("0", ""), ("512", "-churn")):
        s = b.measure(f"max-pause-4M{suffix}", {
            "generational": [program("bench_gc"), "maxpause", SIZES["4M"], churn, "0"],
            "incremental": [program("bench_gc"), "maxpause", SIZES["4M"], churn, "1"],
            CPY: python_script(os.path.join(HERE, "gc_cpython.py"), "maxpause",
                               SIZES["4M"], churn)})
        for mode in ("generational", "incremental"):
            what = "default thresholds" + (", 1 ms budget" if mode == "incremental" else "")
            b.result(f"max-pause-4M-{mode}{suffix}", "us", s[mode], s[CPY], "max_pause_us", CPY,
                     note=f"longest automatic pause growing to 4M live objects ({what}); "
                     "CPython's from gc.callbacks")
            b.result(f"max-collection-cpu-4M-{mode}{suffix}", "us", s[mode], s[CPY],
                     "max_collection_cpu_us", CPY,
                     note="longest single collection in thread CPU time (start/stop "
                     "callbacks): robust to a loaded machine; an incremental step may be "
                     "two collections (young + increment)")
            b.result(f"gc-time-4M-{mode}{suffix}", "ms", s[mode], s[CPY], "gc_total_ms", CPY,
                     note="total automatic collection time in the same run")
            b.result(f"gc-share-4M-{mode}{suffix}", "%", s[mode], s[CPY], "gc_share_pct", CPY,
                     note="collection time as a share of the run")

    # Memory per tracked 2-reference object.
    s = b.measure("bytes-per-object", sides("bytes", SIZES["1M"]))
    b.result("bytes-per-object", "B", s["ours"], s[CPY], "overhead_per_obj", CPY,
             note="RSS delta over a chain of 1M objects, per object, minus the 16 B of fields")
    b.result("bytes-per-object-total", "B", s["ours"], s[CPY], "bytes_per_obj", CPY,
             note="RSS delta per object, fields included")


if __name__ == "__main__":
    main()
