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

    apps/views/bench.py BUILD_DIR [--quick]
"""
import json
import os
import re
import select
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build"
QUICK = "--quick" in sys.argv
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


def wrk(url, seconds, conns=16, script=None):
    cmd = ["wrk", "-t2", "-c%d" % conns, "-d%ds" % seconds, "--latency", "--timeout", "5s"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=seconds + 30).stdout
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
    print("# rcgc-views load harness: wrk on loopback, %d rounds of %d s, release build in %s"
          % (ROUNDS, DUR, BUILD), flush=True)
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
