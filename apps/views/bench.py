#!/usr/bin/env python3
"""Load harness for rcgc-views (VIEWS.md #12, BENCH.md "views/*").

wrk --latency on loopback, bounded in time: every run has a fixed duration and
every server a deadline. Configurations are compared in the same run,
alternating (requests/s varies ~2x between identical runs on 2 cores).
Prints BENCH.md RESULT lines:

  views/time-per-request         us per request, rcgc vs the same views on malloc
                                 (rcgc-views-malloc), leak sampling off on both
  views/instructions-per-request the same, counted with callgrind (one worker)
  views/time-per-request-<mode>  us per request (1e6 / requests per second, 2 workers)
  views/p99-latency-<mode>       us, wrk's 99th percentile
  views/rss-growth-<N>-requests  % RSS growth over N requests on non-leaking views
  views/max-gc-pause-under-load  us, longest collection while serving
  views/freeze-private-dirty     MiB Private_Dirty per worker, freeze on vs off
  views/freeze-immortal-private-dirty  the same with --freeze immortal
  views/p99-latency-gc-bucket    us, p99 of the requests in timeline buckets
                                 with a collection vs without (below)
  views/p99-latency-during-gc    us, p99 of the requests that overlapped a
                                 collection in the worker serving them vs the rest

The GC timeline (VIEWS.md #12, "GC events lined up against latency"): one
bounded wrk run with one connection per wrk thread, so the Lua script can time
every request itself (request() runs just before wrk writes it, response()
when it is read) with CLOCK_REALTIME, the clock of the server's collection
timestamps, and note the worker that served it (X-Rcgc-Worker). Meanwhile the
harness polls /debug/gc/events (every collection of every worker: start
time, generation, duration, cause). Requests and collections then go into
per-worker buckets of --bucket-ms; the table is written as
views-gc-timeline.csv and the run (summary and collections) as
views-gc-timeline.json in the results directory.

The teaching pairs (VIEWS.md #11), each "after" view against its "before"
view as the anchor, in the same run, one worker, on the server's figures:

  views/teach-stream-peak-bytes-<R>-rows   B, traced peak of live bytes in a
                                 request of R rows (--trace exact, /debug/views
                                 peak_bytes): stream vs materialise
  views/teach-log-retained-<N>-requests    B retained over N requests
                                 (--leak-sample 1, /debug/views retained_bytes):
                                 capped vs unbounded log
  views/teach-cycle-retained-<N>-requests  the same: parent/child cycles in
                                 kit objects vs through a type without traverse
                                 (a plain refcounted library)
  views/teach-cache-retained-<N>-requests  the same: weak-value vs strong cache
  views/teach-gc-on-rss-growth-<N>-requests  MiB of worker RSS growth over N
                                 requests of 100 cycles each (/debug/workers
                                 rss): collector enabled vs disabled

Counted per request (BENCH.md rule 7), one worker, over the views both
servers have (COUNT_PATHS):

  views/syscalls-per-request     strace -c -f attached to the worker
  views/allocations-per-request  rcgc_view_allocations_total deltas (/metrics)

The gate (--gate): instructions, syscalls and allocations per request of this
build (RESULT lines views/gate-<figure>-per-request, anchor=baseline)
against bench/views/baseline.json ("figures", "tolerance" per figure as
a fraction); exits 1 naming each figure above baseline * (1 + tolerance).
--gate-figures a,b restricts it; --write-baseline stores the measured figures
instead of comparing (refresh after an intended change, release build).

    apps/views/bench.py BUILD_DIR [--quick] [--timeline] [--teach] [--bucket-ms MS]
                        [--results DIR]
    apps/views/bench.py BUILD_DIR --gate [--gate-figures F,...] [--baseline FILE]
                        [--write-baseline]

--timeline runs only the GC timeline, --teach only the teaching pairs.
"""
import bisect
import csv
import json
import os
import re
import select
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request


def _opt(name, default):
    """The value after --name in argv, or default."""
    if name in sys.argv[:-1]:
        return sys.argv[sys.argv.index(name) + 1]
    return default


BUILD = sys.argv[1] if len(sys.argv) > 1 else "build"
QUICK = "--quick" in sys.argv
TIMELINE_ONLY = "--timeline" in sys.argv
TEACH_ONLY = "--teach" in sys.argv
GATE = "--gate" in sys.argv
WRITE_BASELINE = "--write-baseline" in sys.argv
BUCKET_MS = float(_opt("--bucket-ms", "20"))
RESULTS = _opt("--results", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                         "..", "..", "bench", "results"))
TIMELINE_DUR = 3 if QUICK else 6  # seconds of the timeline's wrk run
BIN = os.path.join(BUILD, "rcgc-views")
ANCHOR = os.path.join(BUILD, "rcgc-views-malloc")
ROUNDS = 2 if QUICK else 5
DUR = 3 if QUICK else 5          # seconds per wrk run
GROWTH_DUR = 10 if QUICK else 60  # seconds of the RSS growth run
RECORDS = 50000 if QUICK else 200000   # app state records (~100 B each)

def rotate_lua(paths):
    """A wrk script that rotates over the given paths."""
    return ("local paths = {%s}\nlocal i = 0\nrequest = function()\n"
            "  i = i %% #paths + 1\n  return wrk.format(\"GET\", paths[i])\nend\n"
            % ", ".join('"%s"' % p for p in paths))


# The non-leaking views.
ROTATE_LUA = rotate_lua(["/hello/bench", "/items/17", "/sum/40/2", "/teach/cycle-collected?n=5",
                         "/teach/log-capped", "/teach/cache-weak", "/teach/stream?n=20"])
# The views both servers have (the anchor has no collector and no weak
# references, so no cycle or weak-cache views).
COMMON_LUA = rotate_lua(["/hello/bench", "/items/17", "/sum/40/2", "/teach/log-capped",
                         "/teach/stream?n=20", "/teach/materialise?n=20",
                         "/teach/cache-strong?key=7"])


# The timeline's wrk script: per-request start and latency in microseconds of
# CLOCK_REALTIME (LuaJIT's FFI; wrk is linked with LuaJIT) and the serving
# worker. It needs one connection per thread (-tN -cN): response() does not say
# which connection answered, so with one connection per thread each response
# belongs to the last request() of that thread. done() writes every thread's
# samples to $VIEWS_TIMELINE_SAMPLES, one "start_us latency_us worker" line each.
TIMELINE_LUA = """
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } views_timespec;
int clock_gettime(int clk_id, views_timespec *tp);
]]
local ts = ffi.new("views_timespec")
local function now_us()
  ffi.C.clock_gettime(0, ts) -- CLOCK_REALTIME
  return tonumber(ts.tv_sec) * 1000000 + math.floor(tonumber(ts.tv_nsec) / 1000)
end
local paths = {%s}
local i, t0 = 0, 0
starts, lats, workers, n = {}, {}, {}, 0
request = function()
  i = i %% #paths + 1
  t0 = now_us()
  return wrk.format("GET", paths[i])
end
response = function(status, headers, body)
  n = n + 1
  starts[n] = t0
  lats[n] = now_us() - t0
  workers[n] = tonumber(headers["X-Rcgc-Worker"]) or -1
end
local threads = {}
setup = function(thread) threads[#threads + 1] = thread end
done = function(summary, latency, requests)
  local f = assert(io.open(os.getenv("VIEWS_TIMELINE_SAMPLES"), "w"))
  for _, t in ipairs(threads) do
    local s, l, w = t:get("starts"), t:get("lats"), t:get("workers")
    for j = 1, t:get("n") do
      f:write(string.format("%%.0f %%.0f %%d\\n", s[j], l[j], w[j]))
    end
  end
  f:close()
end
"""

TIMELINE_PATHS = ["/hello/bench", "/items/17", "/sum/40/2", "/teach/cycle-collected?n=5",
                  "/teach/log-capped", "/teach/cache-weak", "/teach/stream?n=20"]


class Server:
    def __init__(self, *flags, binary=None):
        self.err = tempfile.TemporaryFile()
        self.p = subprocess.Popen([binary or BIN, "--port", "0", "--no-access-log", *flags],
                                  stdout=subprocess.PIPE, stderr=self.err, text=True)
        r, _, _ = select.select([self.p.stdout], [], [], 60)
        line = self.p.stdout.readline() if r else ""
        m = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if not m:
            self.p.kill()
            raise SystemExit("rcgc-views did not start: %r" % line)
        self.url = "http://127.0.0.1:%s" % m.group(1)

    def get(self, path, method="GET"):
        req = urllib.request.Request(self.url + path, method=method)
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def wrk(url, seconds, conns=16, script=None, threads=2, env=None):
    cmd = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % seconds, "--latency",
           "--timeout", "5s"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=seconds + 60,
                         env=env).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    reqs = int(re.search(r"(\d+) requests in", out).group(1))

    def pct(p):
        m = re.search(r"\s%s%%\s+([\d.]+)(us|ms|s)\b" % p, out)
        v = float(m.group(1))
        return v * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]
    return {"rps": rps, "requests": reqs, "p50": pct(50), "p99": pct(99)}


def instructions_per_request(binary, paths, n1=100, n2=400):
    """Instructions per request of the worker under callgrind (BENCH.md rule
    7: counting where timing is noise): two runs of n1 and n2 requests on one
    keep-alive connection; the difference divided by n2 - n1 removes start-up
    and shut-down."""
    import http.client
    import shutil
    if not shutil.which("valgrind"):
        return None
    totals = []
    for n in (n1, n2):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "cg.%p")
            p = subprocess.Popen(["valgrind", "--tool=callgrind", "--trace-children=yes",
                                  "--callgrind-out-file=" + out, binary, "--port", "0",
                                  "--workers", "1", "--no-access-log", "--leak-sample", "0",
                                  "--app-records", "2000"],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            try:
                r, _, _ = select.select([p.stdout], [], [], 120)
                line = p.stdout.readline() if r else ""
                m = re.search(r"127\.0\.0\.1:(\d+) workers=1 master=(\d+)", line)
                if not m:
                    return None
                c = http.client.HTTPConnection("127.0.0.1", int(m.group(1)), timeout=60)
                for i in range(n):
                    c.request("GET", paths[i % len(paths)])
                    c.getresponse().read()
                c.close()
            finally:
                p.terminate()
                p.wait(120)
            worker = [f for f in os.listdir(d) if f != "cg.%s" % m.group(2)]
            total = 0
            for f in worker:
                with open(os.path.join(d, f)) as fh:
                    for ln in fh:
                        if ln.startswith("totals:"):
                            total = max(total, int(ln.split()[1]))
            totals.append(total)
    return (totals[1] - totals[0]) / (n2 - n1)


def hammer(url, paths, n):
    """n GET requests rotating over paths on one keep-alive connection
    (bodies read, streamed ones included); any answer but 200 stops the run,
    so that no figure is taken over failed requests."""
    import http.client
    host, port = url.rsplit("/", 1)[-1].split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        for i in range(n):
            path = paths[i % len(paths)]
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            if r.status != 200:
                raise SystemExit("GET %s answered %d" % (path, r.status))
    finally:
        c.close()


def view_rows(s):
    """/debug/views as {view name: row}."""
    return {v["view"]: v for v in s.get("/debug/views")["views"]}


def worker_figure(s, key, wait=1.2):
    """A figure of the only worker on /debug/workers, after the worker's next
    publication of /proc figures (every second)."""
    time.sleep(wait)
    return s.get("/debug/workers")["workers"][0][key]


def ratio_str(ours, theirs):
    """ours / theirs, two decimals, or two significant digits below 0.01."""
    if not theirs:
        return "-"
    r = ours / theirs
    return "%.2f" % r if r == 0 or abs(r) >= 0.01 else "%.2g" % r


# ---------------------------------------------------------------------------
# The teaching pairs (VIEWS.md #11): each "after" view measured against its
# "before" view (the anchor) in the same run, on the server's own figures, one
# worker. Counts, not times: one round each (they do not drift with load).
# ---------------------------------------------------------------------------

TEACH_ROWS = 2000       # rows per materialise/stream request
TEACH_RETAIN_N = 100 if QUICK else 300     # requests per side, retained bytes
TEACH_GC_N = 500 if QUICK else 1500        # requests per side, collector off/on
TEACH_GC_CYCLES = 100                      # parent/child cycles per request

# (case, before path, before view, after path, after view, anchor) for the
# retained-bytes pairs: leak sampling on every request (--leak-sample 1)
# charges each request the net live bytes it left once its garbage was
# collected ("retained_bytes" on /debug/views).
TEACH_RETAINED = [
    ("teach-log-retained", "/teach/log-unbounded", "teach_log_unbounded",
     "/teach/log-capped", "teach_log_capped", "unbounded-log"),
    ("teach-cycle-retained", "/teach/cycle-leak?n=5", "teach_cycle_leak",
     "/teach/cycle-collected?n=5", "teach_cycle_collected", "plain-refcount-cycle"),
    ("teach-cache-retained", "/teach/cache-strong", "teach_cache_strong",
     "/teach/cache-weak", "teach_cache_weak", "strong-cache"),
]


def teach_pairs(binary=None, quiet=False):
    """Measures the four pairs; returns {case: (ours, theirs, unit, anchor)}
    (ours = the "after" side) and prints RESULT lines unless quiet."""
    out = {}
    # 1. Materialise vs stream: the traced peak of live bytes during the
    #    request (--trace exact; for the stream, during each chunk's rows),
    #    the largest over a few requests of TEACH_ROWS rows each.
    s = Server("--workers", "1", "--leak-sample", "0", "--trace", "exact",
               "--app-records", "2000", binary=binary)
    try:
        for _ in range(3):
            hammer(s.url, ["/teach/materialise?n=%d" % TEACH_ROWS,
                           "/teach/stream?n=%d" % TEACH_ROWS], 2)
        rows = view_rows(s)
        out["teach-stream-peak-bytes-%d-rows" % TEACH_ROWS] = (
            rows["teach_stream"]["peak_bytes"], rows["teach_materialise"]["peak_bytes"], "B",
            "materialise")
    finally:
        s.stop()

    # 2. Retained bytes over N requests: unbounded vs capped log, a cycle
    #    through a type without traverse (as in a plain refcounted library)
    #    vs the same shape in kit objects, strong vs weak-value cache.
    s = Server("--workers", "1", "--leak-sample", "1", "--app-records", "2000",
               binary=binary)
    try:
        # Warm-up: the module-level lists and maps are made by the first
        # requests; the capped log fills to its cap.
        hammer(s.url, [p for c in TEACH_RETAINED for p in (c[1], c[3])], 60)
        r0 = view_rows(s)
        for case, bpath, bview, apath, aview, anchor in TEACH_RETAINED:
            hammer(s.url, [bpath, apath], 2 * TEACH_RETAIN_N)
        r1 = view_rows(s)
        for case, bpath, bview, apath, aview, anchor in TEACH_RETAINED:
            def grew(v):
                return r1[v]["retained_bytes"] - r0[v]["retained_bytes"]
            out["%s-%d-requests" % (case, TEACH_RETAIN_N)] = (grew(aview), grew(bview), "B",
                                                             anchor)
    finally:
        s.stop()

    # 3. Cycles with the collector enabled vs disabled: the worker's RSS
    #    growth over N requests of TEACH_GC_CYCLES parent/child cycles each.
    #    Enabled first (/teach/cycles-gc-off turns the collector off for
    #    good); leak sampling off, its collections would hide the difference.
    s = Server("--workers", "1", "--leak-sample", "0", "--app-records", "2000", binary=binary)
    try:
        on = "/teach/cycle-collected?n=%d" % TEACH_GC_CYCLES
        off = "/teach/cycles-gc-off?n=%d" % TEACH_GC_CYCLES
        hammer(s.url, [on], 200)
        rss0 = worker_figure(s, "rss")
        hammer(s.url, [on], TEACH_GC_N)
        rss1 = worker_figure(s, "rss")
        hammer(s.url, [off], TEACH_GC_N)
        rss2 = worker_figure(s, "rss")
        out["teach-gc-on-rss-growth-%d-requests" % TEACH_GC_N] = (
            round((rss1 - rss0) / 2**20, 2), round((rss2 - rss1) / 2**20, 2), "MiB",
            "gc-disabled")
    finally:
        s.stop()
    if not quiet:
        for case, (ours, theirs, unit, anchor) in out.items():
            result(case, unit, ours, theirs, anchor, ratio_str(ours, theirs))
    return out


# ---------------------------------------------------------------------------
# Per-request counts and the regression gate (VIEWS.md #12, BENCH.md rule 7)
# ---------------------------------------------------------------------------

# The views both servers have, as for instructions per request.
COUNT_PATHS = ["/hello/bench", "/items/17", "/sum/40/2", "/teach/log-capped",
               "/teach/stream?n=20", "/teach/materialise?n=20", "/teach/cache-strong?key=7"]
COUNT_N = 300   # requests counted (after 50 of warm-up)
GATE_FIGURES = ("instructions_per_request", "syscalls_per_request", "allocations_per_request")
BASELINE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench",
                        "views", "baseline.json")


def count_server(binary):
    return Server("--workers", "1", "--leak-sample", "0", "--app-records", "2000",
                  binary=binary)


def syscalls_per_request(binary=None, paths=COUNT_PATHS, n=COUNT_N):
    """System calls per request of the one worker: strace -c -f attached to
    it while n requests run on one keep-alive connection (after a warm-up),
    total calls (failed ones included) / n. The worker's once-a-second
    /proc publication falls in the count too (a few calls in ~1 s).
    None without strace or when it cannot attach (no ptrace)."""
    import shutil
    import signal
    if not shutil.which("strace"):
        return None
    s = count_server(binary)
    try:
        hammer(s.url, paths, 50)
        pid = s.get("/debug/workers")["workers"][0]["pid"]
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "strace.txt")
            st = subprocess.Popen(["strace", "-f", "-c", "-o", out, "-p", str(pid)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            r, _, _ = select.select([st.stderr], [], [], 20)
            line = st.stderr.readline() if r else ""
            if "attached" not in line:
                st.kill()
                st.wait()
                return None
            hammer(s.url, paths, n)
            st.send_signal(signal.SIGINT)
            st.wait(30)
            calls = None
            with open(out) as f:
                for ln in f:
                    t = ln.split()
                    if t and t[-1] == "total":
                        calls = int(t[3])
            return calls / n if calls is not None else None
    finally:
        s.stop()


def view_counters(s, metric):
    """A per-view counter of /metrics as {view: value}."""
    with urllib.request.urlopen(s.url + "/metrics", timeout=30) as r:
        text = r.read().decode()
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r'^%s\{view="([^"]+)"\} (\d+)$' % metric, text, re.M)}


def allocations_per_request(binary=None, paths=COUNT_PATHS, n=COUNT_N):
    """Heap allocations per request: the server's own count per view
    (rcgc_view_allocations_total on /metrics, the rcgc allocation counter
    around each view, streamed rows included), summed over the views that
    served paths, after a warm-up; the debug requests are not counted."""
    s = count_server(binary)
    try:
        hammer(s.url, paths, 50)
        a0 = view_counters(s, "rcgc_view_allocations_total")
        q0 = view_counters(s, "rcgc_view_requests_total")
        hammer(s.url, paths, n)
        a1 = view_counters(s, "rcgc_view_allocations_total")
        q1 = view_counters(s, "rcgc_view_requests_total")
    finally:
        s.stop()
    served = [v for v in q1 if q1[v] > q0.get(v, 0) and v != "metrics"]
    reqs = sum(q1[v] - q0.get(v, 0) for v in served)
    allocs = sum(a1[v] - a0.get(v, 0) for v in served)
    return allocs / reqs if reqs == n else None


def gate_compare(measured, baseline):
    """Compares measured per-request figures with the baseline.

    measured: {figure: value or None (not measured)}; baseline: {"figures":
    {figure: value}, "tolerance": {figure: fraction}, "default_tolerance":
    fraction}. A figure regresses when value > base * (1 + tolerance).
    Returns (failures, notes): one message each, failures naming the figure
    that regressed; notes for figures skipped or well below the baseline
    (time to refresh it)."""
    figs = baseline.get("figures", {})
    tols = baseline.get("tolerance", {})
    default = baseline.get("default_tolerance", 0.05)
    failures, notes = [], []
    for fig in sorted(measured):
        value = measured[fig]
        if value is None:
            notes.append("%s: not measured, not gated" % fig)
            continue
        if fig not in figs:
            notes.append("%s: no baseline, not gated" % fig)
            continue
        base, tol = figs[fig], tols.get(fig, default)
        limit = base * (1 + tol)
        if value > limit:
            failures.append("REGRESSION %s: %.2f per request > %.2f (baseline %.2f + %.0f%%)"
                            % (fig, value, limit, base, tol * 100))
        elif value < base * (1 - tol):
            notes.append("%s: %.2f per request, below the baseline %.2f by more than %.0f%% "
                         "(refresh it with --gate --write-baseline)"
                         % (fig, value, base, tol * 100))
        else:
            notes.append("%s: %.2f per request, within %.0f%% of the baseline %.2f"
                         % (fig, value, tol * 100, base))
    return failures, notes


def gate_measure(figures, binary=None):
    """The gated figures of one build (one worker each)."""
    m = {}
    if "allocations_per_request" in figures:
        m["allocations_per_request"] = allocations_per_request(binary)
    if "syscalls_per_request" in figures:
        m["syscalls_per_request"] = syscalls_per_request(binary)
    if "instructions_per_request" in figures:
        m["instructions_per_request"] = instructions_per_request(binary or BIN, COUNT_PATHS)
    return m


def gate(figures=GATE_FIGURES, baseline_path=BASELINE, write=False, binary=None):
    """--gate: measure, print RESULT lines against the baseline, compare;
    returns the exit status (1 when a figure regressed)."""
    with open(baseline_path) as f:
        baseline = json.load(f)
    m = gate_measure(figures, binary)
    units = {"instructions_per_request": "Ir", "syscalls_per_request": "syscalls",
             "allocations_per_request": "allocs"}
    for fig, v in m.items():
        base = baseline.get("figures", {}).get(fig)
        fmt = "%.0f" if fig == "instructions_per_request" else "%.2f"
        result("gate-" + fig.replace("_", "-"), units[fig], fmt % v if v is not None else "-",
               fmt % base if base is not None else "-", "baseline",
               ratio_str(v, base) if v is not None and base else "-")
    if write:
        for fig, v in m.items():
            if v is not None:
                baseline.setdefault("figures", {})[fig] = round(v, 2)
        with open(baseline_path, "w") as f:
            json.dump(baseline, f, indent=2, sort_keys=True)
            f.write("\n")
        print("# baseline written: %s" % baseline_path)
        return 0
    failures, notes = gate_compare(m, baseline)
    for n in notes:
        print("# gate: " + n)
    for fl in failures:
        print("# gate: " + fl)
        print("gate: " + fl, file=sys.stderr)
    print("# gate: %s" % ("FAILED" if failures else "passed"), flush=True)
    return 1 if failures else 0


def percentile(values, p):
    """Nearest-rank percentile of a list (None when empty)."""
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(-(-p * len(v) // 100)) - 1))]


def timeline_analyse(samples, events, bucket_ms):
    """Line collections up against request latency.

    samples: (start_us, latency_us, worker) per request; events: the
    /debug/gc/events objects (worker, t_us, dur_us, generation, cause).
    Returns (buckets, summary). A bucket is one worker's slice of bucket_ms
    starting at t_ms (from the first request): its requests (by start time)
    and the collections that started in it in that worker. A request
    "overlaps" a collection when it was in flight, in the worker that served
    it, while the collection ran."""
    if not samples:
        return [], {"requests": 0}
    t0 = min(s[0] for s in samples)
    width = bucket_ms * 1000.0
    buckets = {}

    def bucket(worker, t_us):
        k = (int((t_us - t0) // width), worker)
        if k not in buckets:
            buckets[k] = {"lat": [], "gcs": []}
        return buckets[k]

    t_end = max(s[0] + s[1] for s in samples)
    spans = {}
    for e in events:
        if t0 <= e["t_us"] <= t_end:
            bucket(e["worker"], e["t_us"])["gcs"].append(e)
        spans.setdefault(e["worker"], []).append((e["t_us"], e["t_us"] + e["dur_us"]))
    for w in spans:
        spans[w].sort()
    starts = {w: [a for a, _ in v] for w, v in spans.items()}
    during, outside = [], []
    for start, lat, worker in samples:
        bucket(worker, start)["lat"].append(lat)
        sp, st = spans.get(worker, []), starts.get(worker, [])
        # The collections that started before the request ended; the latest
        # of them is the only one that can still be running (one at a time).
        j = bisect.bisect_right(st, start + lat) - 1
        (during if j >= 0 and sp[j][1] > start else outside).append(lat)
    rows, with_gc, without_gc = [], [], []
    for (i, worker), b in sorted(buckets.items()):
        lat, gcs = b["lat"], b["gcs"]
        (with_gc if gcs else without_gc).extend(lat)
        gens = [sum(1 for e in gcs if e["generation"] == g) for g in range(3)]
        rows.append({"t_ms": round(i * bucket_ms, 3), "worker": worker, "requests": len(lat),
                     "p50_us": percentile(lat, 50), "p99_us": percentile(lat, 99),
                     "max_us": max(lat) if lat else None, "collections": len(gcs),
                     "gen0": gens[0], "gen1": gens[1], "gen2": gens[2],
                     "gc_us": sum(e["dur_us"] for e in gcs),
                     "max_pause_us": max((e["dur_us"] for e in gcs), default=0)})
    summary = {
        "requests": len(samples),
        "collections": len([e for e in events if t0 <= e["t_us"] <= t_end]),
        "buckets": len(rows),
        "buckets_with_gc": sum(1 for r in rows if r["collections"]),
        "p99_us": percentile([s[1] for s in samples], 99),
        "p99_us_buckets_with_gc": percentile(with_gc, 99),
        "p99_us_buckets_without_gc": percentile(without_gc, 99),
        "requests_during_gc": len(during),
        "p99_us_during_gc": percentile(during, 99),
        "p99_us_outside_gc": percentile(outside, 99),
        "max_pause_us": max((e["dur_us"] for e in events if t0 <= e["t_us"] <= t_end),
                            default=0),
    }
    return rows, summary


class GcPoller:
    """Polls /debug/gc/events while the load runs and keeps every collection
    once (by worker, pid, seq); 'lost' counts those the ring overwrote before
    a poll saw them (gaps in a worker's seq)."""

    def __init__(self, url, since_us, every=1.0):
        self.url, self.since, self.every = url, since_us, every
        self.events, self.seen, self.lost = [], set(), 0
        self.last = {}
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def poll(self):
        url = "%s/debug/gc/events?since_us=%d" % (self.url, self.since)
        with urllib.request.urlopen(url, timeout=10) as r:
            d = json.loads(r.read())
        for w in d["workers"]:
            for e in w["events"]:
                key = (w["pid"], e["seq"])
                if key in self.seen:
                    continue
                self.seen.add(key)
                prev = self.last.get(w["pid"])
                if prev is not None and e["seq"] > prev + 1:
                    self.lost += e["seq"] - prev - 1
                self.last[w["pid"]] = max(e["seq"], prev or 0)
                self.events.append(e)
                self.since = max(self.since, e["t_us"])

    def run(self):
        while not self.stop.wait(self.every):
            try:
                self.poll()
            except OSError:
                pass

    def finish(self):
        self.stop.set()
        self.t.join(15)
        self.poll()
        return self.events


def gc_timeline(binary=None, seconds=None, conns=8, bucket_ms=None, results=None,
                flags=("--workers", "2", "--app-records", "20000", "--leak-sample", "0")):
    """The GC timeline run: returns (rows, summary, events) and writes the
    CSV and JSON artefacts into results (when given)."""
    seconds = seconds or TIMELINE_DUR
    bucket_ms = bucket_ms or BUCKET_MS
    s = Server(*flags, binary=binary)
    with tempfile.TemporaryDirectory() as d:
        lua = os.path.join(d, "timeline.lua")
        out = os.path.join(d, "samples.txt")
        with open(lua, "w") as f:
            f.write(TIMELINE_LUA % ", ".join('"%s"' % p for p in TIMELINE_PATHS))
        try:
            wrk(s.url, 1, conns=conns, threads=conns)  # warm-up
            poller = GcPoller(s.url, int(time.time() * 1e6))
            wrk(s.url, seconds, conns=conns, threads=conns, script=lua,
                env=dict(os.environ, VIEWS_TIMELINE_SAMPLES=out))
            events = poller.finish()
        finally:
            s.stop()
        samples = []
        with open(out) as f:
            for line in f:
                a, b, c = line.split()
                samples.append((int(a), int(b), int(c)))
    rows, summary = timeline_analyse(samples, events, bucket_ms)
    summary.update({"bucket_ms": bucket_ms, "seconds": seconds, "connections": conns,
                    "server_flags": list(flags), "lost_events": poller.lost})
    if results:
        os.makedirs(results, exist_ok=True)
        with open(os.path.join(results, "views-gc-timeline.csv"), "w", newline="") as f:
            wr = csv.DictWriter(f, fieldnames=list(rows[0].keys()) if rows else ["t_ms"])
            wr.writeheader()
            wr.writerows(rows)
        t0 = min(x[0] for x in samples) if samples else 0
        with open(os.path.join(results, "views-gc-timeline.json"), "w") as f:
            json.dump({"summary": summary, "t0_us": t0,
                       "collections": sorted(events, key=lambda e: e["t_us"])}, f, indent=1)
    return rows, summary, events


def report_timeline(summary, results):
    print("# gc timeline: %d requests, %d collections (%d lost, longest %d us), %d buckets of "
          "%g ms per worker, %d with a collection; %d requests overlapped one; written to %s"
          % (summary["requests"], summary["collections"], summary["lost_events"],
             summary["max_pause_us"], summary["buckets"], summary["bucket_ms"],
             summary["buckets_with_gc"],
             summary["requests_during_gc"],
             os.path.join(results, "views-gc-timeline.{csv,json}")), flush=True)

    def pair(case, ours, theirs, anchor):
        if ours is None or theirs is None:
            result(case, "us", ours if ours is not None else "-",
                   theirs if theirs is not None else "-", anchor)
        else:
            result(case, "us", ours, theirs, anchor, "%.2f" % (ours / theirs))
    pair("p99-latency-gc-bucket", summary["p99_us_buckets_with_gc"],
         summary["p99_us_buckets_without_gc"], "buckets-without-gc")
    pair("p99-latency-during-gc", summary["p99_us_during_gc"], summary["p99_us_outside_gc"],
         "requests-outside-gc")


def result(case, unit, ours, theirs="-", anchor="-", ratio="-"):
    print("RESULT bench=views/%s unit=%s ours=%s theirs=%s anchor=%s ratio=%s"
          % (case, unit, ours, theirs, anchor, ratio), flush=True)


def private_dirty_mib(s):
    time.sleep(1.2)  # workers publish smaps_rollup figures every second
    d = s.get("/debug/workers")
    return statistics.mean(w["private_dirty"] for w in d["workers"]) / 2**20


def main():
    if not os.access(BIN, os.X_OK):
        raise SystemExit("no %s (build with libmicrohttpd-dev)" % BIN)
    if GATE:
        figs = tuple(f.strip() for f in _opt("--gate-figures", ",".join(GATE_FIGURES)).split(","))
        unknown = [f for f in figs if f not in GATE_FIGURES]
        if unknown:
            raise SystemExit("unknown --gate-figures %s (known: %s)"
                             % (",".join(unknown), ",".join(GATE_FIGURES)))
        print("# rcgc-views gate: %s, one worker, build in %s, baseline %s"
              % (", ".join(figs), BUILD, _opt("--baseline", BASELINE)), flush=True)
        sys.exit(gate(figs, _opt("--baseline", BASELINE), WRITE_BASELINE))
    print("# rcgc-views load harness: wrk on loopback, %d rounds of %d s, release build in %s"
          % (ROUNDS, DUR, BUILD), flush=True)
    if TIMELINE_ONLY:
        _, summary, _ = gc_timeline(results=RESULTS)
        report_timeline(summary, RESULTS)
        return
    if TEACH_ONLY:
        teach_pairs()
        return
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(ROTATE_LUA)
        lua = f.name
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(COMMON_LUA)
        common = f.name

    # 0. The headline: the same views with their values in rcgc (kit objects)
    #    vs on plain malloc/free (rcgc-views-malloc), alternating, leak
    #    sampling off on both sides (its cost is the attribution's, below).
    if os.access(ANCHOR, os.X_OK):
        sides = {"ours": [], "theirs": []}
        for rnd in range(ROUNDS):
            for side, binary in (("ours", BIN), ("theirs", ANCHOR)):
                s = Server("--workers", "2", "--leak-sample", "0", "--app-records", "20000",
                           binary=binary)
                try:
                    wrk(s.url, 1, script=common)
                    r = wrk(s.url, DUR, script=common)
                finally:
                    s.stop()
                sides[side].append(1e6 / r["rps"])
                print("# round %d %s: %.0f req/s" % (rnd, side, r["rps"]), flush=True)
        ratio = statistics.median(a / b for a, b in zip(sides["ours"], sides["theirs"]))
        result("time-per-request", "us", "%.1f" % statistics.median(sides["ours"]),
               "%.1f" % statistics.median(sides["theirs"]), "malloc-views", "%.2f" % ratio)

    # 0b. Instructions per request, the same comparison counted.
    if os.access(ANCHOR, os.X_OK):
        paths = ["/hello/bench", "/items/17", "/sum/40/2", "/teach/log-capped",
                 "/teach/stream?n=20", "/teach/materialise?n=20", "/teach/cache-strong?key=7"]
        ours = instructions_per_request(BIN, paths)
        theirs = instructions_per_request(ANCHOR, paths)
        if ours and theirs:
            result("instructions-per-request", "Ir", "%.0f" % ours, "%.0f" % theirs,
                   "malloc-views", "%.2f" % (ours / theirs))

    # 0c. Syscalls and allocations per request, counted (one worker).
    sc = syscalls_per_request(BIN)
    if sc is not None:
        sc_anchor = syscalls_per_request(ANCHOR) if os.access(ANCHOR, os.X_OK) else None
        if sc_anchor:
            result("syscalls-per-request", "syscalls", "%.2f" % sc, "%.2f" % sc_anchor,
                   "malloc-views", ratio_str(sc, sc_anchor))
        else:
            result("syscalls-per-request", "syscalls", "%.2f" % sc)
    else:
        print("# syscalls per request: no strace or no ptrace (scripts/deps.sh bench)")
    al = allocations_per_request(BIN)
    if al is not None:
        # The anchor's values are on malloc, which the server does not count.
        result("allocations-per-request", "allocs", "%.2f" % al)

    # 0d. The teaching views, each pair measured in this run (VIEWS.md #11).
    teach_pairs()

    # 1. Time per request and the pause under load: generational vs
    #    incremental, alternating in one run.
    modes = {"generational": [], "incremental": []}
    pauses = {"generational": 0.0, "incremental": 0.0}
    for rnd in range(ROUNDS):
        for mode in modes:
            s = Server("--workers", "2", "--gc-mode", mode, "--app-records", "20000")
            try:
                wrk(s.url, 1, script=lua)  # warm-up
                r = wrk(s.url, DUR, script=lua)
                modes[mode].append(r)
                time.sleep(1.1)
                d = s.get("/debug/workers")
                pauses[mode] = max(pauses[mode], max(w["pause_max_ms"] for w in d["workers"]))
            finally:
                s.stop()
            print("# round %d %s: %.0f req/s p50 %.0f us p99 %.0f us"
                  % (rnd, mode, r["rps"], r["p50"], r["p99"]), flush=True)
    for mode, runs in modes.items():
        us = statistics.median(1e6 / r["rps"] for r in runs)
        result("time-per-request-%s" % mode, "us", "%.1f" % us)
        result("p99-latency-%s" % mode, "us", "%.0f" % statistics.median(r["p99"] for r in runs))
        result("max-gc-pause-under-load-%s" % mode, "us", "%.0f" % (pauses[mode] * 1000))

    # 1b. The GC timeline: collections lined up against request latency.
    _, summary, _ = gc_timeline(results=RESULTS)
    report_timeline(summary, RESULTS)

    # 2. RSS growth on the non-leaking views, measured after a warm-up.
    s = Server("--workers", "2", "--app-records", "20000")
    try:
        wrk(s.url, 3, script=lua)
        time.sleep(1.2)
        rss0 = sum(w["rss"] for w in s.get("/debug/workers")["workers"])
        r = wrk(s.url, GROWTH_DUR, script=lua)
        time.sleep(1.2)
        rss1 = sum(w["rss"] for w in s.get("/debug/workers")["workers"])
        n = r["requests"]
        label = "%dk" % (n // 1000) if n < 1000000 else "%dM" % (n // 1000000)
        result("rss-growth-%s-requests" % label, "%", "%.2f" % (100.0 * (rss1 - rss0) / rss0))
    finally:
        s.stop()

    # 3. Copy-on-write: Private_Dirty per worker after the same load and one
    #    full collection in every worker, freeze off / on / immortal,
    #    alternating.
    pd = {"off": [], "on": [], "immortal": []}
    for rnd in range(max(2, ROUNDS // 2)):
        for mode in pd:
            s = Server("--workers", "2", "--freeze", mode, "--app-records", str(RECORDS))
            try:
                ids = "/items/%d" % (RECORDS // 2)
                wrk(s.url + ids, 2, conns=4)
                s.get("/debug/gc/collect?generation=2&worker=all", method="POST")
                pd[mode].append(private_dirty_mib(s))
            finally:
                s.stop()
            print("# round %d freeze=%s: %.1f MiB private dirty per worker"
                  % (rnd, mode, pd[mode][-1]), flush=True)
    off = statistics.median(pd["off"])
    for mode, case in (("on", "freeze-private-dirty"), ("immortal", "freeze-immortal-private-dirty")):
        ours = statistics.median(pd[mode])
        result(case, "MiB", "%.1f" % ours, "%.1f" % off, "no-freeze", "%.2f" % (ours / off))
    os.unlink(lua)
    os.unlink(common)


if __name__ == "__main__":
    main()
