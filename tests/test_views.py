#!/usr/bin/env python3
"""Integration test of rcgc-views (apps/views): start the server on a free
loopback port, check the endpoints, the /metrics format, bad input, the leak
verdicts, worker replacement, recycling and SIGTERM. Bounded: every request
has a timeout, every server run has a deadline, and only 127.0.0.1 is used.

    tests/test_views.py build/rcgc-views [-v]
"""
import http.client
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time

BIN = sys.argv[1] if len(sys.argv) > 1 else "build/rcgc-views"
VERBOSE = "-v" in sys.argv
TIMEOUT = 10  # seconds per request
failures = []


def check(cond, what):
    if VERBOSE or not cond:
        print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


class Server:
    """One server run: started with a deadline, killed if it outlives it."""

    def __init__(self, *flags, deadline=120):
        self.log = tempfile.NamedTemporaryFile(prefix="views-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [BIN, "--port", "0", "--host", "127.0.0.1", *flags],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.deadline = time.time() + deadline
        ready, _, _ = select.select([self.proc.stdout], [], [], 20)
        line = self.proc.stdout.readline() if ready else ""
        m = re.search(r"ready http://127\.0\.0\.1:(\d+) workers=(\d+) master=(\d+)", line)
        if not m:
            self.kill()
            raise SystemExit("server did not become ready: %r\n%s" % (line, self.logtext()))
        self.port = int(m.group(1))
        self.workers = int(m.group(2))

    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)

    def request(self, method, path, body=None, headers=None, conn=None):
        own = conn is None
        c = conn or self.conn()
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        if own:
            c.close()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data

    def json(self, method, path, body=None, conn=None):
        st, h, data = self.request(method, path, body, conn=conn)
        return st, h, json.loads(data)

    def logtext(self):
        with open(self.log.name) as f:
            return f.read()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def stop(self):
        """SIGTERM: the master drains the workers and exits 0."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(max(1, min(15, self.deadline - time.time())))
        except subprocess.TimeoutExpired:
            self.kill()
            code = None
        log = self.logtext()
        check(not re.search(r"AddressSanitizer|LeakSanitizer|runtime error:", log),
              "no sanitizer report in the server log")
        return code


# --------------------------------------------------------------------------
# A Prometheus text-format (0.0.4) parser, standard library only.
# --------------------------------------------------------------------------

METRIC_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$")
LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)')


def parse_prometheus(text):
    """Returns {family: {"type":, "help":, "samples": [(name, labels, value)]}};
    raises ValueError on any line that is not valid exposition format."""
    families, order = {}, []
    for n, line in enumerate(text.split("\n"), 1):
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                fam = families.setdefault(parts[2], {"type": "untyped", "help": "", "samples": []})
                if parts[1] == "TYPE":
                    if parts[3] not in ("counter", "gauge", "histogram", "summary", "untyped"):
                        raise ValueError("line %d: bad type %r" % (n, parts[3]))
                    if fam["samples"]:
                        raise ValueError("line %d: TYPE after samples" % n)
                    fam["type"] = parts[3]
                    order.append(parts[2])
                else:
                    fam["help"] = parts[3] if len(parts) > 3 else ""
            continue
        m = METRIC_RE.match(line)
        if not m:
            raise ValueError("line %d: not a sample: %r" % (n, line))
        name, labels_s, value = m.group(1), m.group(3) or "", m.group(4)
        labels, pos = {}, 0
        while pos < len(labels_s):
            lm = LABEL_RE.match(labels_s, pos)
            if not lm:
                raise ValueError("line %d: bad labels %r" % (n, labels_s))
            labels[lm.group(1)] = lm.group(2)
            pos = lm.end()
        float(value)  # "+Inf", "NaN" and numbers parse; anything else raises
        fam = None
        for suffix in ("_bucket", "_sum", "_count", ""):
            if suffix and not name.endswith(suffix):
                continue
            base = name[: len(name) - len(suffix)] if suffix else name
            if base in families and (suffix == "" or families[base]["type"] in ("histogram", "summary")):
                fam = families[base]
                break
        if fam is None:
            raise ValueError("line %d: sample %s has no TYPE" % (n, name))
        fam["samples"].append((name, labels, float(value)))
    for name, fam in families.items():
        if fam["type"] == "histogram":
            buckets = [(float(l["le"]), v) for nm, l, v in fam["samples"] if nm.endswith("_bucket")]
            if not buckets or buckets[-1][0] != float("inf"):
                raise ValueError("%s: no +Inf bucket" % name)
            if any(b[1] > a[1] for b, a in zip(buckets, buckets[1:])):
                raise ValueError("%s: buckets not cumulative" % name)
            count = [v for nm, l, v in fam["samples"] if nm == name + "_count"]
            if count != [buckets[-1][1]]:
                raise ValueError("%s: _count != +Inf bucket" % name)
        if fam["type"] == "counter" and any(v < 0 for _, _, v in fam["samples"]):
            raise ValueError("%s: negative counter" % name)
    return families


def sample(fams, name, **labels):
    base = name
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)] in fams:
            base = name[: -len(suffix)]
    for nm, l, v in fams.get(base, {"samples": []})["samples"]:
        if nm == name and all(l.get(k) == str(val) for k, val in labels.items()):
            return v
    return None


# --------------------------------------------------------------------------
# The checks
# --------------------------------------------------------------------------

def test_endpoints(s):
    st, h, d = s.json("GET", "/")
    check(st == 200 and any(r["pattern"] == "/items/<int:id>" for r in d["routes"]), "GET / lists the routes")
    st, h, d = s.json("GET", "/hello/ada")
    check(st == 200 and d["hello"] == "ada", "GET /hello/<str:name>")
    check("server-timing" in h and "view;dur=" in h["server-timing"] and "alloc;desc=" in h["server-timing"],
          "Server-Timing header on a view: %s" % h.get("server-timing"))
    m = re.search(r'alloc;desc="(\d+) allocations, (\d+) bytes"', h.get("server-timing", ""))
    check(m is not None and int(m.group(1)) > 0 and int(m.group(2)) >= 16 * int(m.group(1)),
          "Server-Timing counts the view's allocations and their bytes: %s" % h.get("server-timing"))
    st, h, d = s.json("GET", "/items/7")
    check(st == 200 and d["item"]["id"] == 7, "GET /items/<int:id> reads the shared app state")
    st, h, d = s.json("GET", "/sum/40/2")
    check(st == 200 and d["sum"] == 42, "two typed parameters")
    st, h, d = s.json("GET", "/files/a/b/c.txt")
    check(st == 200 and d["path"] == "a/b/c.txt", "<path:rest> converter")
    st, h, d = s.json("POST", "/items", body='{"name": "x", "tags": [1, 2.5, true, null]}')
    check(st == 201 and d["received"]["tags"] == [1, 2.5, True, None], "POST JSON body is decoded")
    st, h, data = s.request("GET", "/teach/stream?n=500")
    rows = json.loads(data)
    check(st == 200 and len(rows) == 500 and rows[499]["i"] == 499, "streamed view returns valid JSON")
    st, h, data = s.request("GET", "/teach/materialise?n=500")
    check(st == 200 and json.loads(data) == rows, "materialised view returns the same rows")
    for path in ("/debug/gc", "/debug/views", "/debug/workers", "/debug/census", "/debug/memory.json",
                 "/debug/heap"):
        st, h, d = s.json("GET", path)
        check(st == 200 and isinstance(d, dict), "GET %s is JSON" % path)
    st, h, d = s.json("GET", "/debug/gc")
    check(len(d["generations"]) == 3 and len(d["threshold"]) == 3 and "freeze_count" in d
          and len(d["workers"]) == s.workers, "/debug/gc has thresholds, generations, freeze count, workers")
    st, h, d = s.json("GET", "/debug/census")
    check(st == 200 and d["types"] and d["types"][0]["bytes"] > 0, "census counts and sizes by type")
    st, h, data = s.request("GET", "/debug/census.html")
    check(st == 200 and h["content-type"].startswith("text/html") and b"/debug/referrers" in data,
          "census HTML page")
    st, h, d = s.json("GET", "/debug/referrers?type=dict")
    check(st == 200 and "referrer_chain" in d, "/debug/referrers gives a chain")
    st, h, data = s.request("GET", "/debug/memory")
    page = data.decode()
    check(st == 200 and h["content-type"].startswith("text/html") and "<canvas" in page
          and "/debug/memory.json" in page and "http://" not in page.replace("http://'", ""),
          "/debug/memory is a self-contained HTML dashboard")
    check('class="rss"' in page and 'hist.mem["rss" + w.index]' in page,
          "the dashboard shows RSS per worker (table and chart series)")


def test_referrer_explorer(s):
    """A chosen object's chain: listed by /debug/census/objects in one worker,
    asked for on other connections (so also through the other worker)."""
    c = s.conn()
    for _ in range(3):
        st, h, d = s.json("POST", "/teach/log-unbounded", conn=c)
    st, h, lst = s.json("GET", "/debug/census/objects?type=list&limit=200", conn=c)
    c.close()
    check(st == 200 and lst["objects"] and lst["count"] >= len(lst["objects"])
          and all(o["obj"].startswith("0x") for o in lst["objects"]),
          "/debug/census/objects lists live lists with addresses")
    w, inc = lst["worker"], lst["incarnation"]
    base = "/debug/referrers?worker=%d&incarnation=%d&type=list&obj=" % (w, inc)
    found = None
    for o in lst["objects"]:
        st, h, d = s.json("GET", base + o["obj"])
        if st == 200 and len(d["chain"]) == 3 and d["chain"][-1].get("root") == "unbounded_log":
            found = d
            break
    check(found is not None and found["chain"][0]["obj"] == found["obj"]
          and [x["type"] for x in found["chain"]] == ["list", "dict", "list"]
          and found["ends"] == "module global"
          and found["referrer_chain"] == "list <- dict <- list (module global 'unbounded_log')",
          "a log entry's context list leads to the module global unbounded_log: %s" % found)
    if found:
        other = None
        for _ in range(40):
            st, h, d = s.json("GET", base + found["obj"])
            if st == 200 and d["served_by"] != w:
                other = d
                break
        check(other is not None and other["worker"] == w and other["chain"] == found["chain"],
              "another worker asks the listing worker for the chain (same answer)")
        st, h, d = s.json("GET", base + "%#x" % (int(found["obj"], 16) + 8))
        check(st == 404 and "error" in d, "an address inside an object: 404 %s" % d)
        st, h, d = s.json("GET", "/debug/referrers?worker=%d&incarnation=%d&obj=%s" % (w, inc + 7, found["obj"]))
        check(st == 404 and "gone" in d.get("error", ""), "a restarted worker's handle: object gone")
        st, h, d = s.json("GET", base.replace("type=list", "type=dict") + found["obj"])
        check(st == 404 and "now holds a list, not a dict" in d.get("error", ""),
              "an address that holds another type now: object gone (%s)" % d)
    for addr in ("0x10", "0xdeadbeef", "0xffffffffffffffff"):
        st, h, d = s.json("GET", "/debug/referrers?worker=%d&obj=%s" % (w, addr))
        check(st == 404 and "error" in d, "garbage address %s: 404 with a JSON error" % addr)
    st, h, d = s.json("GET", "/debug/referrers?worker=%d&obj=xyz" % w)
    check(st == 400 and "error" in d, "obj that is not hex: 400")
    st, h, d = s.json("GET", "/debug/referrers?worker=99&obj=0x10")
    check(st == 400, "worker out of range: 400")
    st, h, d = s.json("GET", "/debug/census/objects")
    check(st == 400, "/debug/census/objects without a type: 400")
    st, h, d = s.json("GET", "/debug/census/objects?type=no-such-type")
    check(st == 200 and d["objects"] == [] and d["count"] == 0, "a type with no objects: empty list")
    st, h, data = s.request("GET", "/debug/census.html")
    check(b"/debug/census/objects" in data and b"incarnation" in data,
          "census page lists a type's objects and asks for one object's chain")


def bucket_top(v):
    """v is the highest value of a log-linear latency bucket: v + 1 starts
    the next bucket, so it has at most 4 significant bits (8 sub-buckets per
    power of two); a power of two (the old buckets' bound) is not one."""
    n = v + 1
    shift = max(n.bit_length() - 4, 0)
    return (n >> shift) << shift == n


def test_latency_percentiles(s):
    c = s.conn()
    for _ in range(40):
        s.request("GET", "/teach/materialise?n=2000", conn=c)
    c.close()
    st, h, d = s.json("GET", "/debug/views")
    # A view slow enough (> 16 us) that a power of two is not a bucket top.
    v = next(x for x in d["views"] if x["view"] == "teach_materialise")
    check(d.get("latency_buckets") == 153 and "12.5%" in d.get("latency", ""),
          "/debug/views describes the log-linear latency buckets")
    check(v["requests"] >= 40 and 16 < v["p50_us"] <= v["p99_us"]
          and bucket_top(v["p50_us"]) and bucket_top(v["p99_us"])
          and v["p50_us"] <= 8 * v["avg_us"] + 16,
          "p50/p99 are tops of log-linear buckets: %s/%s (avg %s)" % (v["p50_us"], v["p99_us"], v["avg_us"]))
    check(all(bucket_top(x) for x in (15, 17, 1023, 1151, 1966079)) and not bucket_top(1024)
          and not bucket_top(2048), "bucket_top itself")


def test_concurrency(s):
    """32 clients at once, 25 keep-alive requests each: every answer is right,
    and both workers took some (one SO_REUSEPORT socket each)."""
    from concurrent.futures import ThreadPoolExecutor

    def client(k):
        c = s.conn()
        seen, ok = set(), 0
        for i in range(25):
            st, h, d = s.json("GET", "/sum/%d/%d" % (k, i), conn=c)
            ok += st == 200 and d["sum"] == k + i
            seen.add(h.get("x-rcgc-worker"))
        c.close()
        return ok, seen

    with ThreadPoolExecutor(32) as ex:
        results = list(ex.map(client, range(32)))
    check(sum(ok for ok, _ in results) == 32 * 25, "32 concurrent clients all answered correctly")
    workers = set().union(*(seen for _, seen in results))
    check(len(workers) == s.workers, "connections spread over the workers (%s)" % sorted(workers))


def test_gc_control(s):
    st, h, d = s.json("POST", "/debug/gc/collect?generation=2&worker=all")
    check(st == 200 and len(d["workers"]) == s.workers and all(w["done"] for w in d["workers"]),
          "POST /debug/gc/collect?worker=all reaches every worker")
    st, h, d = s.json("POST", "/debug/gc/disable?worker=all")
    check(st == 200 and all(w["done"] for w in d["workers"]), "disable on all workers")
    time.sleep(1.2)  # workers publish their figures every second
    st, h, d = s.json("GET", "/debug/gc")
    check(all(not w["gc_enabled"] for w in d["workers"]) and d["enabled"] is False,
          "collector disabled everywhere")
    s.json("POST", "/debug/gc/enable?worker=all")
    st, h, d = s.json("POST", "/debug/gc/threshold?value=700,10,10&worker=self")
    check(st == 200, "threshold command")
    st, h, d = s.json("POST", "/debug/gc/collect?generation=7")
    check(st == 400, "collect with a bad generation is a 400")
    st, h, d = s.json("POST", "/debug/gc/collect?worker=99")
    check(st == 400, "collect on a worker that does not exist is a 400")


def test_gc_events(s):
    """/debug/gc/events: every worker's collections with wall-clock start
    times, generation, duration and cause, oldest first, since a time."""
    t0 = int(time.time() * 1e6)
    st, h, d = s.json("POST", "/debug/gc/collect?generation=2&worker=all")
    t1 = int(time.time() * 1e6)
    st, h, d = s.json("GET", "/debug/gc/events?since_us=%d" % t0)
    check(st == 200 and len(d["workers"]) == s.workers and d["capacity"] >= 1024,
          "/debug/gc/events lists every worker")
    for w in d["workers"]:
        ev = w["events"]
        full = [e for e in ev if e["generation"] == 2 and e["cause"] == "command"]
        check(len(full) == 1 and t0 <= full[0]["t_us"] <= t1 and full[0]["dur_us"] > 0
              and full[0]["t_us"] + full[0]["dur_us"] <= t1 + 1000,
              "worker %d: the commanded full collection, timed within the request (%s)"
              % (w["worker"], full))
        check(all(e["t_us"] >= t0 for e in ev), "worker %d: nothing before since_us" % w["worker"])
        check([e["seq"] for e in ev] == sorted(e["seq"] for e in ev)
              and [e["t_us"] for e in ev] == sorted(e["t_us"] for e in ev)
              and (not ev or ev[-1]["seq"] == w["recorded"]),
              "worker %d: oldest first, the newest is the last recorded" % w["worker"])
    st, h, d = s.json("GET", "/debug/gc/events?limit=1")
    check(all(len(w["events"]) == 1 and w["events"][0]["seq"] == w["recorded"]
              for w in d["workers"]), "limit=1: each worker's newest collection only")
    st, h, d = s.json("GET", "/debug/gc/events?since_us=%d" % (t1 + 3600 * 10 ** 6))
    check(st == 200 and all(not w["events"] for w in d["workers"]), "since_us in the future: none")
    st, h, d = s.json("GET", "/debug/gc/events?since_us=abc")
    check(st == 400, "bad since_us is a 400")
    # The leak detector's collections (--leak-sample 1 here: every request
    # is sampled, so the collector's own trigger never fires; the "auto"
    # cause is checked by tests/test_views_bench.py with sampling off).
    t2 = int(time.time() * 1e6)
    s.request("GET", "/teach/cycle-collected?n=50")
    st, h, d = s.json("GET", "/debug/gc/events?since_us=%d" % t2)
    gens = sorted(e["generation"] for w in d["workers"] for e in w["events"]
                  if e["cause"] == "leak-sample")
    check(gens == [0, 1], "a sampled request: the leak detector's two collections (%s)" % gens)
    st, h, d = s.json("GET", "/debug/memory.json")
    check(0 < len(d["gc_events"]) <= 64 * s.workers
          and all("t_ms" in e and "dur_us" in e for e in d["gc_events"]),
          "the dashboard's pause timeline: the last 64 collections per worker")


def test_bad_input(s):
    st, h, d = s.json("GET", "/nope")
    check(st == 404 and "error" in d, "unknown path: 404 with a JSON error")
    st, h, d = s.json("DELETE", "/items/5")
    check(st == 405 and "GET" in h.get("allow", ""), "unknown method: 405 with Allow")
    st, h, d = s.json("GET", "/items/abc")
    check(st == 404 and "int" in d["error"], "bad typed parameter: 404 naming the converter")
    st, h, d = s.json("GET", "/items/123456789012345678901234567890")
    check(st == 400, "int parameter out of range: 400")
    st, h, d = s.json("GET", "/items/99999999")
    check(st == 404, "no such item: 404")
    st, h, d = s.json("POST", "/echo", body='{\n  "a": [1, 2,\n  }')
    check(st == 400 and d.get("line") == 3 and d.get("column", 0) > 0,
          "bad JSON: 400 with line and column (%s)" % d)
    st, h, d = s.json("POST", "/echo", body="")
    check(st == 400, "missing JSON body: 400")
    st, h, d = s.json("GET", "/teach/materialise?n=-5")
    check(st == 400, "bad query parameter: 400")
    st, h, d = s.json("POST", "/echo", body="x" * 5000)
    check(st == 413 and "error" in d, "oversized body: 413")
    # Malformed HTTP on a raw socket, then the worker still serves.
    for raw in (b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n",
                b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", b"\x00\x01\x02\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", s.port), timeout=TIMEOUT) as c:
            try:
                c.sendall(raw)
                c.shutdown(socket.SHUT_WR)
                reply = c.recv(200)
            except OSError:
                reply = b""
        check(reply == b"" or re.match(rb"HTTP/1\.[01] [45]\d\d", reply) is not None,
              "malformed request answered with 4xx/5xx or closed: %r" % reply[:40])
    st, h, d = s.json("GET", "/hello/still")
    check(st == 200, "the server keeps serving after bad input")


def test_no_leak_on_bad_input(s):
    """On one keep-alive connection (one worker): the live object count is the
    same before and after a run of bad requests."""
    c = s.conn()
    for _ in range(3):  # warm up lazily created state
        s.request("GET", "/nope", conn=c)
        s.request("POST", "/echo", body='{"a": [1, {"b": ', conn=c)
    st, h, before = s.json("GET", "/debug/heap", conn=c)
    for i in range(40):
        s.request("GET", "/nope/%d" % i, conn=c)
        s.request("DELETE", "/items/1", conn=c)
        s.request("GET", "/items/x%d" % i, conn=c)
        s.request("POST", "/echo", body='{"a": [1, {"b": [%d, ' % i, conn=c)
        s.request("POST", "/echo", body='[[[[["deep"]]]], {"k": "v"}, 1e400, "\\ud800"', conn=c)
        s.request("GET", "/items/999999999999999999999", conn=c)
    st, h, after = s.json("GET", "/debug/heap", conn=c)
    c.close()
    check(before["pid"] == after["pid"] and before["tracked"] == after["tracked"]
          and before["garbage"] == after["garbage"],
          "bad input leaks no objects (tracked %d -> %d)" % (before["tracked"], after["tracked"]))
    check(before["live_blocks"] == after["live_blocks"] and before["live_bytes"] == after["live_bytes"],
          "bad input leaks no heap blocks (%d -> %d blocks, %d -> %d bytes)"
          % (before["live_blocks"], after["live_blocks"], before["live_bytes"], after["live_bytes"]))


def test_leak_verdicts(s):
    c = s.conn()
    for _ in range(24):
        for path in ("/teach/log-unbounded", "/teach/log-capped", "/teach/cycle-collected?n=20",
                     "/teach/cycle-leak?n=20", "/teach/cache-strong", "/teach/cache-weak", "/hello/x"):
            st, _, _ = s.request("GET", path, conn=c)
    c.close()
    st, h, d = s.json("GET", "/debug/views")
    v = {x["view"]: x for x in d["views"]}
    check(v["hello"]["alloc_bytes"] > 0 and v["hello"]["alloc_bytes_per_request"] >= 16 * v["hello"]["allocs_per_request"] > 0,
          "bytes allocated per view: %s" % {k: v["hello"][k] for k in ("allocs_per_request", "alloc_bytes_per_request")})
    check(v["teach_log_unbounded"]["leak"], "leak verdict on the unbounded log")
    check(v["teach_cycle_leak"]["leak"], "leak verdict on the cycle a plain refcounter leaks")
    check(v["teach_cache_strong"]["leak"], "leak verdict on the strong module-level cache")
    check(not v["teach_log_capped"]["leak"], "no leak verdict on the capped log")
    check(not v["teach_cycle_collected"]["leak"], "no leak verdict on the collected cycle")
    check(not v["teach_cache_weak"]["leak"], "no leak verdict on the weak-value cache")
    check(not v["hello"]["leak"], "no leak verdict on a plain view")
    surv = {t["type"]: t for t in v["teach_log_unbounded"]["survivors"]}
    check("dict" in surv and surv["dict"]["count"] >= 20 and surv["dict"]["bytes"] > 0,
          "the unbounded log's survivor types, summed over its samples: %s" % surv)
    check(v["teach_cycle_collected"]["survivors"] == [] and v["hello"]["survivors"] == [],
          "no survivors where nothing escapes")
    esc = v["teach_log_unbounded"].get("escape", {})
    check("unbounded_log" in esc.get("referrer_chain", ""),
          "escape report names the module global: %s" % esc)


def test_metrics(s):
    st, h, data = s.request("GET", "/metrics")
    check(st == 200 and h["content-type"].startswith("text/plain"), "/metrics content type")
    try:
        fams = parse_prometheus(data.decode())
    except ValueError as e:
        check(False, "/metrics parses as Prometheus text: %s" % e)
        return
    check(True, "/metrics parses as Prometheus text")
    for name, typ in (("python_gc_objects_collected_total", "counter"),
                      ("python_gc_objects_uncollectable_total", "counter"),
                      ("python_gc_collections_total", "counter"),
                      ("process_resident_memory_bytes", "gauge"),
                      ("process_cpu_seconds_total", "counter"),
                      ("rcgc_gc_pause_seconds", "histogram"),
                      ("rcgc_view_requests_total", "counter")):
        check(fams.get(name, {}).get("type") == typ, "metric %s is a %s" % (name, typ))
    for g in range(3):
        check(sample(fams, "python_gc_collections_total", generation=g) is not None,
              "python_gc_collections_total{generation=%d}" % g)
    check(sample(fams, "process_resident_memory_bytes") > 0, "RSS reported")
    check(sample(fams, "rcgc_gc_pause_seconds_count") > 0, "pauses counted")
    check((sample(fams, "rcgc_view_allocated_bytes_total", view="hello") or 0) > 0,
          "bytes allocated per view in /metrics")
    check(sample(fams, "rcgc_allocator_bytes", worker=0, kind="live") > 0, "allocator bytes per worker")
    check((sample(fams, "rcgc_live_bytes", type="dict") or 0) > 0, "live bytes by type")
    # The dashboard's types are the workers' published figures summed, as
    # /metrics has them, whichever worker answers (not its own heap).
    def live_bytes():
        f = parse_prometheus(s.request("GET", "/metrics")[2].decode())
        return {l["type"]: v for n, l, v in f["rcgc_live_bytes"]["samples"]}
    for _ in range(3):
        before = live_bytes()
        mem = [s.json("GET", "/debug/memory.json")[2] for _ in range(4)]
        if live_bytes() == before:
            break
    check(all({t["type"]: t["bytes"] for t in m["types"]} == before for m in mem) and before,
          "/debug/memory.json types: every worker's published types summed, as in /metrics "
          "(served by %s)" % sorted(set(m["served_by"] for m in mem)))
    total = sum(v for n, l, v in fams["rcgc_view_requests_total"]["samples"])
    check(total > 50, "per-view request counters aggregated across workers (%d)" % total)


def test_worker_replacement(s):
    st, h, d = s.json("GET", "/debug/workers")
    victim = d["workers"][0]["pid"]
    os.kill(victim, signal.SIGKILL)
    deadline = time.time() + 8
    ok = False
    while time.time() < deadline and not ok:
        time.sleep(0.3)
        st, h, d = s.json("GET", "/debug/workers")
        w0 = d["workers"][0]
        ok = w0["pid"] != victim and w0["state"] == 2 and d["crashes"] >= 1
    check(ok, "a killed worker is replaced by the master")
    check("worker-crashed" in s.logtext(), "the crash is logged")
    for _ in range(6):
        st, _, _ = s.request("GET", "/hello/after")
        if st != 200:
            break
    check(st == 200, "serving after the replacement")
    st, h, data = s.request("GET", "/metrics")
    fams = parse_prometheus(data.decode())
    check(sample(fams, "rcgc_worker_restarts_total", reason="crash") >= 1, "restart counted in /metrics")


def test_sigterm(s):
    pids = [w["pid"] for w in s.json("GET", "/debug/workers")[2]["workers"]]
    t0 = time.time()
    code = s.stop()
    check(code == 0, "SIGTERM: the master exits 0 (got %s) in %.1f s" % (code, time.time() - t0))
    time.sleep(0.2)
    alive = [p for p in pids if os.path.exists("/proc/%d" % p)
             and "Z" not in open("/proc/%d/stat" % p).read().split()[2]]
    check(not alive, "SIGTERM: no worker left (%s)" % alive)
    log = s.logtext()
    check("stopped cleanly" in log and "leak-report" in log, "SIGTERM: drain, leak report, clean stop")


def test_recycling():
    s = Server("--workers", "1", "--max-requests", "5", "--app-records", "100", deadline=40)
    try:
        for _ in range(14):
            try:
                s.request("GET", "/teach/log-unbounded")
            except (ConnectionError, http.client.HTTPException, OSError):
                time.sleep(0.2)
        time.sleep(0.5)
        st, h, d = s.json("GET", "/debug/workers")
        check(d["recycles"] >= 2, "--max-requests recycles the worker (%d)" % d["recycles"])
        log = s.logtext()
        check(log.find("leak-report reason=max-requests") >= 0 and
              log.find("leak-report reason=max-requests") < log.find("worker-recycled"),
              "the leak report comes before the recycle")
    finally:
        check(s.stop() == 0, "recycling server stops cleanly")


def test_freeze():
    s = Server("--workers", "1", "--freeze", "immortal", "--app-records", "3000", deadline=40)
    try:
        st, h, d = s.json("GET", "/debug/gc")
        check(d["freeze_mode"] == "immortal", "freeze mode reported")
        st, h, d = s.json("GET", "/items/5")
        check(st == 200, "immortal shared state is readable")
        st, h, d = s.json("GET", "/debug/workers")
        check(d["workers"][0]["private_dirty"] > 0 and d["app_objects"] > 3000,
              "smaps_rollup figures per worker")
    finally:
        check(s.stop() == 0, "frozen server stops cleanly")
    s = Server("--workers", "1", "--freeze", "on", "--app-records", "3000", deadline=40)
    try:
        st, h, d = s.json("GET", "/debug/gc")
        check(d["freeze_count"] >= 6000, "--freeze on: the app state is frozen (%d)" % d["freeze_count"])
    finally:
        s.stop()


def test_tracing():
    s = Server("--workers", "1", "--trace", "exact", "--app-records", "100", "--leak-sample", "1",
               deadline=40)
    try:
        st, h, d = s.json("POST", "/debug/sites/mark")
        check(st == 200, "POST /debug/sites/mark")
        for _ in range(5):
            s.request("GET", "/teach/log-unbounded")
            s.request("GET", "/teach/materialise?n=300")
            s.request("GET", "/teach/stream?n=300")
        st, h, _ = s.request("GET", "/teach/materialise?n=300")
        check("mem;desc=" in h.get("server-timing", ""), "Server-Timing has traced peak bytes")
        st, h, d = s.json("GET", "/debug/sites?view=teach_log_unbounded&key=traceback&limit=3")
        check(st == 200 and d["top"] and "size=" in d["top"][0]["stat"]
              and any("teach_log_unbounded" in f for f in d["top"][0]["traceback"]),
              "top allocation sites of a view, in tracemalloc's format")
        st, h, d = s.json("GET", "/debug/sites?key=tag&compare=1")
        check(st == 200 and any("teach_log_unbounded" in t["stat"] and t["size_diff"] > 0 for t in d["top"]),
              "sites compared with the mark: the leaking view's memory grew")
        st, h, d = s.json("GET", "/debug/views")
        v = {x["view"]: x for x in d["views"]}
        site = v["teach_log_unbounded"].get("escape", {}).get("site", "")
        check("in teach_log_unbounded" in site, "escape report has the allocation traceback: %s" % site)
        check(v["teach_materialise"]["peak_bytes"] > 20 * v["teach_stream"]["peak_bytes"] > 0,
              "materialise peaks far above stream (%d vs %d bytes)" %
              (v["teach_materialise"]["peak_bytes"], v["teach_stream"]["peak_bytes"]))
    finally:
        check(s.stop() == 0, "traced server stops cleanly")
    s = Server("--workers", "1", "--app-records", "100", deadline=20)
    try:
        st, h, d = s.json("GET", "/debug/sites")
        check(st == 409, "/debug/sites without --trace: 409")
    finally:
        s.stop()


def main():
    if not os.access(BIN, os.X_OK):
        print("no server binary at %s" % BIN)
        return 1
    t0 = time.time()
    s = Server("--workers", "2", "--app-records", "2000", "--leak-sample", "1", "--max-body", "4096",
               "--drain-seconds", "3")
    try:
        test_endpoints(s)
        test_referrer_explorer(s)
        test_latency_percentiles(s)
        test_bad_input(s)
        test_concurrency(s)
        test_no_leak_on_bad_input(s)
        test_gc_control(s)
        test_gc_events(s)
        test_leak_verdicts(s)
        test_metrics(s)
        test_worker_replacement(s)
        test_sigterm(s)
    finally:
        s.kill()
    test_recycling()
    test_freeze()
    test_tracing()
    print("test_views: %d failed, %.1f s" % (len(failures), time.time() - t0))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
