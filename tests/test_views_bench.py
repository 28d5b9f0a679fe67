#!/usr/bin/env python3
"""Test of the load harness's GC timeline (apps/views/bench.py, VIEWS.md #12).

1. The analysis on made-up data whose answer is known: requests land in the
   right per-worker buckets, a request counts as "during a collection" only
   when it was in flight in the worker that collected, and the percentiles
   of the two groups come out as built.
2. If wrk is installed (scripts/deps.sh test), a short real run (2 s, two
   connections) against the server: the wrk Lua script times requests with
   the server's clock, /debug/gc/events supplies the collections (the
   collector's own: leak sampling off, low threshold), and the CSV and JSON
   artefacts are written. Bounded: wrk runs 2 s and every server a deadline.

    tests/test_views_bench.py build/rcgc-views OUT_DIR
"""
import csv
import json
import os
import shutil
import sys

BIN = sys.argv[1] if len(sys.argv) > 1 else "build/rcgc-views"
OUT = sys.argv[2] if len(sys.argv) > 2 else "views-bench-timeline"
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "apps", "views"))
import bench  # noqa: E402

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


def test_analysis():
    base = 1_000_000_000
    samples = []
    # Worker 0: 100 requests of 100 us every 1 ms over 100 ms; worker 1 the same.
    for w in (0, 1):
        for k in range(100):
            samples.append((base + k * 1000, 100, w))
    # Worker 0 collects for 1.5 ms from 50.2 ms on: the requests started at 50
    # and 51 ms are in flight then and take 2000 us instead.
    events = [{"worker": 0, "t_us": base + 50_200, "dur_us": 1500, "generation": 1,
               "cause": "auto", "seq": 1}]
    for i, (t, lat, w) in enumerate(samples):
        if w == 0 and t in (base + 50_000, base + 51_000):
            samples[i] = (t, 2000, w)
    # A collection before the first request is not in the run.
    events.append({"worker": 1, "t_us": base - 5000, "dur_us": 10, "generation": 0,
                   "cause": "auto", "seq": 1})
    rows, s = bench.timeline_analyse(samples, events, 20)
    check(s["requests"] == 200 and s["collections"] == 1, "counts: %s" % s)
    check(s["requests_during_gc"] == 2 and s["p99_us_during_gc"] == 2000
          and s["p99_us_outside_gc"] == 100,
          "only worker 0's requests in flight during its collection count as during (%d, p99 %s vs %s)"
          % (s["requests_during_gc"], s["p99_us_during_gc"], s["p99_us_outside_gc"]))
    check(len(rows) == 10 and s["buckets_with_gc"] == 1, "5 buckets of 20 ms per worker, one with the collection")
    hit = [r for r in rows if r["collections"]]
    check(len(hit) == 1 and hit[0]["t_ms"] == 40 and hit[0]["worker"] == 0 and hit[0]["requests"] == 20
          and hit[0]["gen1"] == 1 and hit[0]["gc_us"] == 1500 and hit[0]["max_us"] == 2000,
          "the bucket at 40 ms of worker 0 holds the collection and its slow requests: %s" % hit)
    check(s["p99_us_buckets_with_gc"] == 2000 and s["p99_us_buckets_without_gc"] == 100,
          "p99 of buckets with a collection vs without (%s vs %s)"
          % (s["p99_us_buckets_with_gc"], s["p99_us_buckets_without_gc"]))
    check(bench.percentile([5, 1, 4, 2, 3], 50) == 3 and bench.percentile(list(range(1, 101)), 99) == 99
          and bench.percentile([], 99) is None, "nearest-rank percentiles")


def test_live():
    if not shutil.which("wrk"):
        print("no wrk: the live run is skipped (scripts/deps.sh test installs it)")
        return
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    rows, s, events = bench.gc_timeline(
        binary=BIN, seconds=2, conns=2, bucket_ms=50, results=OUT,
        flags=("--workers", "2", "--app-records", "2000", "--leak-sample", "0",
               "--gc-threshold", "200,10,10"))
    check(s["requests"] > 100, "wrk's Lua script timed %d requests" % s["requests"])
    check(s["collections"] > 0 and all(e["cause"] == "auto" for e in events),
          "the collector's own collections seen on /debug/gc/events (%d)" % s["collections"])
    check(s["lost_events"] == 0, "no collection lost between polls")
    check(sum(r["requests"] for r in rows) == s["requests"]
          and sum(r["collections"] for r in rows) == s["collections"],
          "every request and collection of the run is in one bucket")
    with open(os.path.join(OUT, "views-gc-timeline.csv")) as f:
        table = list(csv.DictReader(f))
    check(len(table) == len(rows) and {"t_ms", "worker", "p99_us", "collections", "max_pause_us"}
          <= set(table[0]), "views-gc-timeline.csv written (%d rows)" % len(table))
    with open(os.path.join(OUT, "views-gc-timeline.json")) as f:
        d = json.load(f)
    check(d["summary"]["requests"] == s["requests"] and d["collections"],
          "views-gc-timeline.json written with the summary and the collections")
    t0 = d["t0_us"]
    check(all(abs(e["t_us"] - t0) < 60e6 for e in d["collections"]),
          "the server's and wrk's timestamps share a clock")


def main():
    test_analysis()
    test_live()
    print("test_views_bench: %d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
