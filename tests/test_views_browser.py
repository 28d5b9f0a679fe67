#!/usr/bin/env python3
"""Browser test of the rcgc-views dashboard (/debug/memory): headless
Chromium (Debian 'chromium') loads the page while load runs, takes a
screenshot (kept as a test artefact) and dumps the DOM; the test checks that
the page polled its JSON several times, filled the views table, and drew the
charts with data (pixels of the series colours inside the chart areas).
Bounded: every server has a deadline, every browser run a timeout (and its
whole process group is killed when it runs over).

Runs as root (--no-sandbox: Chromium refuses root with its sandbox on) and
without a display (--headless=new; DISPLAY and WAYLAND_DISPLAY are dropped).
Without Chromium it skips (ctest's return code 77), except under CI
(CI=true), where scripts/deps.sh installs Debian's chromium: there a missing
browser is a failure, not a silent skip.

    tests/test_views_browser.py build/rcgc-views SCREENSHOT.png
"""
import http.client
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

BIN = sys.argv[1] if len(sys.argv) > 1 else "build/rcgc-views"
SHOT = sys.argv[2] if len(sys.argv) > 2 else "views-dashboard.png"
CHROME = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


def read_png(path):
    """(width, height, rows of (r, g, b)) for 8-bit RGB/RGBA PNGs."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or ctype not in (2, 6) or interlace:
                raise ValueError("unsupported PNG (depth %d, type %d)" % (depth, ctype))
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(w)])
        prev = line
    return w, h, rows


def run_browser(args, timeout=90):
    """Chromium in its own process group, without a display; the group is
    killed when it outlives the timeout (a headless Chromium leaves zygote
    and renderer children behind if only the first process is killed)."""
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=env, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        check(False, "chromium finished within %d s" % timeout)
        return ""
    if p.returncode != 0:
        print("chromium exited %d:\n%s" % (p.returncode, err[-2000:]), flush=True)
    return out


def near(px, rgb, tol=40):
    return all(abs(p - q) <= tol for p, q in zip(px, rgb))


def main():
    if not CHROME:
        if os.environ.get("CI"):
            print("FAIL no chromium under CI (scripts/deps.sh test installs Debian's chromium)")
            return 1
        print("no chromium: skipped")
        return 77
    srv = subprocess.Popen([BIN, "--port", "0", "--workers", "2", "--no-access-log",
                            "--app-records", "2000", "--leak-sample", "1"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        r, _, _ = select.select([srv.stdout], [], [], 20)
        line = srv.stdout.readline() if r else ""
        m = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if not m:
            check(False, "server ready: %r" % line)
            return 1
        port = int(m.group(1))
        stop = threading.Event()

        def load():
            paths = ["/teach/log-unbounded", "/teach/cycle-collected?n=50", "/hello/browser",
                     "/teach/materialise?n=200", "/items/3"]
            i = 0
            while not stop.is_set():
                try:
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                    for _ in range(20):
                        c.request("GET", paths[i % len(paths)])
                        c.getresponse().read()
                        i += 1
                    c.close()
                    # Collections give the pause timeline points.
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                    c.request("POST", "/debug/gc/collect?generation=%d&worker=all" % (i % 3))
                    c.getresponse().read()
                    c.close()
                except OSError:
                    pass
                time.sleep(0.05)

        t = threading.Thread(target=load, daemon=True)
        t.start()
        time.sleep(1.5)
        url = "http://127.0.0.1:%d/debug/memory" % port
        flags = [CHROME, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                 "--no-first-run", "--disable-extensions", "--window-size=1400,1000",
                 "--virtual-time-budget=6000"]
        if os.path.exists(SHOT):
            os.unlink(SHOT)  # never check a screenshot left by an earlier run
        with tempfile.TemporaryDirectory() as prof:
            run_browser(flags + ["--user-data-dir=" + prof, "--screenshot=" + SHOT, url])
        with tempfile.TemporaryDirectory() as prof:
            dom = run_browser(flags + ["--user-data-dir=" + prof, "--dump-dom", url])
        stop.set()
        polls = re.search(r'data-polls="(\d+)"', dom)
        check(polls is not None and int(polls.group(1)) >= 3,
              "the dashboard polled /debug/memory.json (%s times)" % (polls.group(1) if polls else 0))
        check("<td>teach_log_unbounded</td>" in dom, "the views table lists the loaded views")
        check('class="badge' in dom, "leak verdict badges rendered")
        rss_cells = re.findall(r'<tr data-worker="\d+"><td>\d+</td><td>\d+</td><td class="rss">([^<]+)</td>', dom)
        check(len(rss_cells) == 2 and all(re.match(r"[\d.]+ [KMG]i?B$", c) for c in rss_cells),
              "the per-worker table shows each worker's RSS: %s" % rss_cells)
        if not check(os.path.exists(SHOT), "chromium wrote the screenshot %s" % SHOT):
            return 1
        w, h, rows = read_png(SHOT)
        check(w == 1400 and h == 1000, "screenshot %dx%d kept at %s" % (w, h, SHOT))
        # Chart areas: the four canvases sit in the upper two thirds. Count
        # pixels of the first two series colours there.
        blue, yellow = (0x5a, 0xb0, 0xff), (0xff, 0xc8, 0x57)
        nb = ny = 0
        for y in range(60, 2 * h // 3):
            for px in rows[y]:
                nb += near(px, blue)
                ny += near(px, yellow)
        check(nb > 150 and ny > 150, "charts drawn with data (%d blue, %d yellow pixels)" % (nb, ny))
    finally:
        srv.terminate()
        try:
            srv.wait(20)
        except subprocess.TimeoutExpired:
            srv.kill()
    print("test_views_browser: %d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
