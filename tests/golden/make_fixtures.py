#!/usr/bin/env python3
"""make_fixtures.py -- write the snapshot fixtures of tests/golden/ and the
seed corpus of fuzz/corpus/snapshot/ with an independent writer of the format
in docs/formats.md (so the C reader is checked against the document, not
against its own writer).

    python3 tests/golden/make_fixtures.py      # from the repository root
"""
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, '..', '..', 'fuzz', 'corpus', 'snapshot')


def snapshot(traces, limit=2, sample_mean=0):
    """traces: (domain, size, frames most-recent-first [(file, line, func, addr)],
    total_nframe, type or None, tag or None, weight)."""
    strings, ids = [], {}

    def sid(s):
        if s is None:
            return 0
        if s not in ids:
            strings.append(s)
            ids[s] = len(strings)
        return ids[s]

    tbs, tbids = [], {}
    recs = []
    for dom, size, frames, total, typ, tag, weight in traces:
        key = (tuple(frames), total)
        if key not in tbids:
            tbids[key] = len(tbs)
            tbs.append([(sid(f), sid(fn or '<unknown>'), line, addr)
                        for f, line, fn, addr in frames] + [total])
        recs.append((dom, tbids[key], size, sid(typ), sid(tag), weight))
    out = bytearray(b'RCGCSNAP')
    out += struct.pack('<HHIII', 1, 48, 0, limit, 0)
    out += struct.pack('<Q', sample_mean)
    out += struct.pack('<IIQ', len(strings), len(tbs), len(recs))
    for s in strings:
        b = s.encode()
        out += struct.pack('<I', len(b)) + b
    for tb in tbs:
        frames, total = tb[:-1], tb[-1]
        out += struct.pack('<II', len(frames), total)
        for f, fn, line, addr in frames:
            out += struct.pack('<IIIQ', f, fn, line, addr)
    for dom, tb, size, typ, tag, weight in recs:
        out += struct.pack('<IIQIIf', dom, tb, size, typ, tag, weight)
    out += struct.pack('<I', zlib.crc32(bytes(out)) & 0xffffffff)
    return bytes(out)


def fr(file, line, func=None, addr=0):
    return (file, line, func, addr)


AB = [fr('a.py', 2), fr('b.py', 4)]
A5 = [fr('a.py', 5), fr('b.py', 4)]
# CPython's create_snapshots() (Lib/test/test_tracemalloc.py).
FIXTURE1 = [(0, 10, AB, 3, None, None, 1.0)] * 3 + [
    (1, 2, A5, 3, None, None, 1.0),
    (2, 66, [fr('b.py', 1)], 1, None, None, 1.0),
    (3, 7, [fr('<unknown>', 0)], 1, None, None, 1.0),
]
FIXTURE2 = [(0, 10, AB, 3, None, None, 1.0)] * 3 + [
    (2, 2, A5, 3, None, None, 1.0),
    (2, 5000, A5, 3, None, None, 1.0),
    (4, 400, [fr('c.py', 578)], 1, None, None, 1.0),
]
# A C program's snapshot: call sites, functions, types, tags, a native frame.
SERVER = [
    (0, 48, [fr('views.c', 120, 'view_users'), fr('main.c', 30, 'main')], 2, 'user', 'view:/users', 1.0),
    (0, 48, [fr('views.c', 120, 'view_users'), fr('main.c', 30, 'main')], 2, 'user', 'view:/users', 1.0),
    (0, 48, [fr('views.c', 120, 'view_users'), fr('main.c', 30, 'main')], 2, 'user', 'view:/users', 1.0),
    (0, 4096, [fr('views.c', 131, 'view_users'), fr('main.c', 30, 'main')], 2, None, 'view:/users', 1.0),
    (0, 640, [fr('json.c', 88, 'json_encode'), fr('views.c', 140, 'view_stats'), fr('main.c', 31, 'main')], 3, 'str', 'view:/stats', 1.0),
    (0, 640, [fr('json.c', 88, 'json_encode'), fr('views.c', 140, 'view_stats'), fr('main.c', 31, 'main')], 3, 'str', 'view:/stats', 1.0),
    (0, 32, [fr('cache.c', 12, 'cache_put'), fr('main.c', 25, 'main')], 2, 'entry', None, 1.0),
    (7, 100000, [fr('libfoo.so', 0, 'foo_alloc', 0x7f0012345678), fr('main.c', 20, 'main')], 2, None, None, 1.0),
]
SAMPLED = [
    (0, 1 << 20, [fr('big.c', 10, 'load')], 1, None, None, 1.0),
    (0, 64, [fr('small.c', 5, 'tiny')], 1, 'node', None, 8192.5),
]


def main():
    files = {
        os.path.join(HERE, 'fixture1.snap'): snapshot(FIXTURE1),
        os.path.join(HERE, 'fixture2.snap'): snapshot(FIXTURE2),
        os.path.join(HERE, 'server.snap'): snapshot(SERVER, limit=16),
        os.path.join(HERE, 'sampled.snap'): snapshot(SAMPLED, limit=1, sample_mean=512 * 1024),
    }
    good = snapshot(FIXTURE1)
    bad_version = bytearray(good)
    bad_version[8] = 2
    files.update({
        os.path.join(CORPUS, 'fixture1'): good,
        os.path.join(CORPUS, 'fixture2'): snapshot(FIXTURE2),
        os.path.join(CORPUS, 'server'): snapshot(SERVER, limit=16),
        os.path.join(CORPUS, 'sampled'): snapshot(SAMPLED, limit=1, sample_mean=512 * 1024),
        os.path.join(CORPUS, 'empty-snapshot'): snapshot([], limit=1),
        os.path.join(CORPUS, 'zero-bytes'): b'',
        os.path.join(CORPUS, 'truncated'): good[:len(good) // 2],
        os.path.join(CORPUS, 'bad-magic'): b'XXXXSNAP' + good[8:],
        os.path.join(CORPUS, 'bad-version'): bytes(bad_version),
        # Hostile counts: 2^32-1 strings and 2^64-1 traces in a tiny file.
        os.path.join(CORPUS, 'huge-counts'): (lambda b: b + struct.pack('<I', zlib.crc32(b)))(
            b'RCGCSNAP' + struct.pack('<HHIIIQIIQ', 1, 48, 0, 1, 0, 0, 0xffffffff, 0xffffffff,
                                      0xffffffffffffffff)),
    })
    for path, data in files.items():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
