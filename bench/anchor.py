"""anchor.py -- what the CPython anchor scripts share: count arguments
written as the C benchmarks read them (bench_arg in common.h: 200k, 1M)."""


def count_arg(s):
    """'200k' -> 200000, '1M' -> 1000000, '42' -> 42."""
    s = s.strip()
    if s.endswith("M"):
        return int(s[:-1]) * 1_000_000
    if s.endswith("k"):
        return int(s[:-1]) * 1000
    return int(s)
