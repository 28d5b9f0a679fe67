"""driver.py -- runs the two (or more) sides of a comparison alternately and
prints the RESULT lines of ../shared/BENCH.md (bench/README.md).

A side is a command that prints one 'SAMPLE key=value ...' line per run.
Bench.measure() runs every side once per round, in an order that rotates
each round (A B, B A, ...), after 'warmup' rounds that are thrown away, and
returns each side's samples. Bench.result() prints

  RESULT bench=<suite>/<case> unit=<u> ours=<median> theirs=<median> anchor=<a> ratio=<median of per-round ratios>
  DETAIL bench=<suite>/<case> anchor=<a> ours_min=.. ours_max=.. theirs_min=.. theirs_max=.. rounds=N load=L [note="..."]

where L is the highest 1-minute load average seen before a run of the
comparison: above the number of CPUs, other work shared the machine and
wall-clock figures (pauses above all) are inflated.

A side that fails (non-zero exit, no SAMPLE line, a missing program)
prints 'ERROR ...' or 'SKIP ...' lines instead, and the suite goes on.
Environment: RCGC_BENCH_ROUNDS (default 5), RCGC_BENCH_WARMUP (default 1),
RCGC_BENCH_TIMEOUT (seconds per run, default 600), RCGC_BENCH_BUDGET
(seconds per comparison before its rounds are cut, never below 3; default
120).
"""
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time

ROUNDS = int(os.environ.get("RCGC_BENCH_ROUNDS", "5"))
WARMUP = int(os.environ.get("RCGC_BENCH_WARMUP", "1"))
TIMEOUT = float(os.environ.get("RCGC_BENCH_TIMEOUT", "600"))
# Seconds one comparison may take before its rounds are cut (to 3 at least).
BUDGET = float(os.environ.get("RCGC_BENCH_BUDGET", "120"))
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH_DIR)
BIN = os.environ.get("RCGC_BENCH_BIN", os.path.join(ROOT, "build", "bench"))
# The anchor interpreter: Debian's CPython 3.11, never a locally built one.
PYTHON = os.environ.get("RCGC_BENCH_PYTHON", "/usr/bin/python3")


def fmt(v):
    """About three significant digits, as bench/common.h's bench_fmt()."""
    if v is None:
        return "-"
    if v >= 100 or v == 0:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    if v >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def median(xs):
    xs = sorted(xs)
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else (xs[m - 1] + xs[m]) / 2


def emit(line):
    print(line, flush=True)


class RunError(Exception):
    pass


def run_once(argv):
    """Run a command; returns (metrics, other stdout lines). Adds the child's
    peak RSS in MiB (from wait4) and wall time in s as the metrics
    'peak_rss_mib' and 'run_s'."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile(mode="w+") as err:
        try:
            proc = subprocess.Popen([str(a) for a in argv], stdout=subprocess.PIPE,
                                    stderr=err, text=True)
        except OSError as e:
            raise RunError(f"cannot run {argv[0]}: {e.strerror}")
        timer = threading.Timer(TIMEOUT, proc.kill)
        timer.start()
        out = proc.stdout.read()
        proc.stdout.close()
        _, status, usage = os.wait4(proc.pid, 0)
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        err.seek(0)
        errors = err.read()
        if proc.returncode != 0:
            tail = " | ".join(errors.strip().splitlines()[-3:]).replace('"', "'")
            if wall >= TIMEOUT:
                tail = f"killed after {TIMEOUT:.0f} s"
            raise RunError(f"exit status {proc.returncode}: {tail}")
    metrics, other = {}, []
    for line in out.splitlines():
        if line.startswith("SAMPLE "):
            for pair in line.split()[1:]:
                key, _, value = pair.partition("=")
                metrics[key] = float(value)
        else:
            other.append(line)
    if not metrics:
        raise RunError("printed no SAMPLE line")
    counted = re.search(r"^==\d+== Collected : (\d+)$", errors, re.M)  # callgrind()
    if counted:
        metrics["instructions"] = float(counted.group(1))
    metrics["run_s"] = wall
    metrics["peak_rss_mib"] = usage.ru_maxrss / 1024.0
    return metrics, other


class Bench:
    """One suite's comparisons; every case name is prefixed with the suite."""

    def __init__(self, suite):
        self.suite = suite
        self.load = 0.0

    def measure(self, name, sides, rounds=None, warmup=None, same_output=False,
                budget_s=BUDGET, min_rounds=3):
        """sides: {label: argv}. Returns {label: [metrics per round]}; a side
        that failed or is missing maps to None (an ERROR/SKIP line says why).
        same_output: every run of every side must print the same non-SAMPLE
        lines (a correctness check: same work on both sides).
        budget_s: once min_rounds rounds are measured, stop when the next
        round would end past budget_s seconds (a NOTE line says so): keeps
        'make bench' bounded on a loaded machine."""
        rounds = ROUNDS if rounds is None else rounds
        warmup = WARMUP if warmup is None else warmup
        labels = []
        for label, argv in sides.items():
            prog = str(argv[0])
            if os.path.isabs(prog) and not os.path.exists(prog):
                emit(f"SKIP bench={self.suite}/{name} side={label} reason=\"{prog} not built\"")
            elif not os.path.isabs(prog) and not shutil.which(prog):
                emit(f"SKIP bench={self.suite}/{name} side={label} reason=\"{prog} not installed\"")
            else:
                labels.append(label)
        samples = {label: [] for label in labels}
        self.load = 0.0  # highest 1-minute load average seen before a run
        failed = {}
        reference = None
        t0 = time.perf_counter()
        for r in range(warmup + rounds):
            done = r - warmup
            spent = time.perf_counter() - t0
            if budget_s and done >= max(1, min_rounds) and spent + spent / r > budget_s:
                self.note(f"{name}: {done} measured rounds instead of {rounds}: the next "
                          f"would pass the {budget_s:.0f} s budget of this comparison "
                          f"({spent:.0f} s so far)")
                break
            live = [l for l in labels if l not in failed]
            k = r % len(live) if live else 0
            for label in live[k:] + live[:k]:
                self.load = max(self.load, os.getloadavg()[0])
                try:
                    metrics, other = run_once(sides[label])
                except RunError as e:
                    failed[label] = str(e)
                    emit(f"ERROR bench={self.suite}/{name} side={label} message=\"{e}\"")
                    continue
                if same_output:
                    if reference is None:
                        reference = (label, other)
                    elif other != reference[1]:
                        failed[label] = "output differs"
                        emit(f"ERROR bench={self.suite}/{name} side={label} message=\"output "
                             f"differs from {reference[0]}'s: {other[:2]} vs {reference[1][:2]}\"")
                        continue
                if r >= warmup:
                    samples[label].append(metrics)
        return {l: (None if l in failed or l not in samples else samples[l]) for l in sides}

    def result(self, case, unit, ours, theirs, metric, anchor="-", theirs_metric=None,
               note=None):
        """Print RESULT + DETAIL for ours vs theirs (lists of metrics from
        measure(); theirs None with anchor '-' for a figure with no anchor)."""
        bench = f"{self.suite}/{case}"
        if ours is None or (anchor != "-" and theirs is None):
            emit(f"SKIP bench={bench} anchor={anchor} reason=\"a side failed or is missing\"")
            return
        o = [s[metric] for s in ours]
        detail = f"DETAIL bench={bench} anchor={anchor} ours_min={fmt(min(o))} ours_max={fmt(max(o))}"
        if anchor == "-":
            emit(f"RESULT bench={bench} unit={unit} ours={fmt(median(o))} theirs=- anchor=- ratio=-")
        else:
            t = [s[theirs_metric or metric] for s in theirs]
            ratios = [a / b for a, b in zip(o, t) if b > 0]
            ratio = fmt(median(ratios)) if ratios else "-"
            emit(f"RESULT bench={bench} unit={unit} ours={fmt(median(o))} "
                 f"theirs={fmt(median(t))} anchor={anchor} ratio={ratio}")
            detail += f" theirs_min={fmt(min(t))} theirs_max={fmt(max(t))}"
        detail += f" rounds={len(o)} load={self.load:.1f}"
        if note:
            detail += f" note=\"{note}\""
        emit(detail)

    def note(self, text):
        emit(f"NOTE {self.suite}: {text}")


def program(name):
    """A benchmark program built by bench/CMakeLists.txt."""
    return os.path.join(BIN, name)


def python_script(path, *args):
    return [PYTHON, path, *args]


def callgrind(argv):
    """argv under valgrind's callgrind: run_once() then adds the metric
    'instructions' (all the program executed). For counting where timing
    noise hides a difference (BENCH.md rule 7): compare two runs that differ
    only in the work to count. Needs the valgrind package."""
    return ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv]
