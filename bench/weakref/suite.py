"""suite.py -- the weakref suite: rcgc's weak references (bench_weakref.c)
against CPython 3.11's weakref module (weakref_cpython.py) on the same
workloads, alternating. Run through bench/run.sh weakref (make bench
BENCH=weakref)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from driver import Bench, program, python_script  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CPY = "cpython-3.11"


def sides(*args):
    return {"ours": [program("bench_weakref"), *args],
            CPY: python_script(os.path.join(HERE, "weakref_cpython.py"), *args)}


def main():
    b = Bench("weakref")
    b.note("ours = rcgc release build; theirs = /usr/bin/python3 (Debian's 3.11), "
           "__slots__ class with __weakref__; the interpreter's loop overhead is part "
           "of CPython's figure (it is what a Python program pays)")
    s = b.measure("create-get-drop", sides("create-get-drop", "2M"), same_output=True)
    b.result("create-get-drop", "ns/op", s["ours"], s[CPY], "ns_per_op", CPY,
             note="2M x (new weak ref to one of 1000 live objects, deref, drop both)")
    s = b.measure("cache-churn", sides("cache-churn", "1M"), same_output=True)
    b.result("cache-churn", "ns/op", s["ours"], s[CPY], "ns_per_op", CPY,
             note="1M lookups in a weak-value map (WeakValueDictionary) over 2000 string "
             "keys, miss = new value stored, 1000 most recent values held")


if __name__ == "__main__":
    main()
