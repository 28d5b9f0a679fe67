/*
** test_trace_file.c -- snapshot files (docs/formats.md): dump/load round
** trips (PARITY 55), the fixtures written by tests/golden/make_fixtures.py
** (an independent writer), and hostile input: every truncation, every
** single-byte corruption, absurd counts.
*/
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"

static const rcgc_type node_type = {"node", 24, 0, 0, NULL, NULL, NULL, NULL};

static char *golden(const char *name)
{
    static char path[4096];
    const char *f = __FILE__;
    const char *slash = strrchr(f, '/');
    int dir = slash ? (int)(slash - f) : 1;
    snprintf(path, sizeof path, "%.*s/golden/%s", dir, slash ? f : ".", name);
    return path;
}

TEST(snapshot_dump_load_round_trips_a_live_snapshot)
{
    rcgc_heap *h = th_heap_new();
    CHECK_EQ_INT(rcgc_trace_start(h, 4), RCGC_OK);
    rcgc_trace_frame_push(h, "app.py", 3, "main");
    rcgc_trace_tag_push(h, "request");
    void *o[50];
    for (int i = 0; i < 50; i++)
        o[i] = rcgc_new(h, &node_type);
    rcgc_trace_tag_pop(h);
    rcgc_trace_frame_pop(h);
    CHECK_EQ_INT(rcgc_trace_track(h, 9, 0xdead0, 77), RCGC_OK);
    rcgc_snapshot *s, *t;
    CHECK_EQ_INT(rcgc_trace_take_snapshot(h, &s), RCGC_OK);
    char path[] = "/tmp/rcgc-snap-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    CHECK_EQ_INT(rcgc_snapshot_dump(s, path), RCGC_OK);
    char err[256];
    CHECK_EQ_INT(rcgc_snapshot_load(path, &t, err, sizeof err), RCGC_OK);
    unlink(path);
    CHECK(rcgc_snapshot_equal(s, t));
    CHECK_EQ_INT(rcgc_snapshot_traceback_limit(t), 4);
    CHECK_EQ_U64(rcgc_snapshot_count(t), 51);
    rcgc_trace tr;
    size_t typed = 0;
    for (size_t i = 0; rcgc_snapshot_get(t, i, &tr); i++)
        if (tr.type && strcmp(tr.type, "node") == 0 && tr.tag && strcmp(tr.tag, "request") == 0)
            typed++;
    CHECK_EQ_U64(typed, 50);
    rcgc_snapshot_free(s);
    rcgc_snapshot_free(t);
    for (int i = 0; i < 50; i++)
        rcgc_unref(o[i]);
    rcgc_heap_free(h);
}

TEST(snapshot_load_reads_the_independent_fixture)
{
    rcgc_snapshot *s;
    char err[256];
    CHECK_EQ_INT(rcgc_snapshot_load(golden("fixture1.snap"), &s, err, sizeof err), RCGC_OK);
    if (!s) {
        th_fail(__FILE__, __LINE__, "%s", err);
        return;
    }
    CHECK_EQ_U64(rcgc_snapshot_count(s), 6);
    rcgc_stats *st;
    CHECK_EQ_INT(rcgc_snapshot_statistics(s, RCGC_STAT_LINENO, false, &st), RCGC_OK);
    char line[128];
    rcgc_stat_format(rcgc_stats_get(st, 0), false, line, sizeof line);
    CHECK_EQ_STR(line, "b.py:1: size=66 B, count=1, average=66 B");
    rcgc_stats_free(st);
    /* What we write is byte-identical to the independent writer's file. */
    void *buf;
    size_t len;
    CHECK_EQ_INT(rcgc_snapshot_dump_buffer(s, &buf, &len), RCGC_OK);
    FILE *f = fopen(golden("fixture1.snap"), "rb");
    unsigned char want[4096];
    size_t n = f ? fread(want, 1, sizeof want, f) : 0;
    if (f)
        fclose(f);
    CHECK_EQ_U64(len, n);
    CHECK(len == n && memcmp(buf, want, n) == 0);
    free(buf);
    rcgc_snapshot_free(s);
}

static unsigned char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *b = malloc(1 << 16);
    *n = fread(b, 1, 1 << 16, f);
    fclose(f);
    return b;
}

TEST(snapshot_load_rejects_every_truncation_and_corruption)
{
    size_t n;
    unsigned char *good = read_all(golden("server.snap"), &n);
    CHECK(good != NULL);
    if (!good)
        return;
    char err[256];
    rcgc_snapshot *s;
    CHECK_EQ_INT(rcgc_snapshot_load_buffer(good, n, &s, err, sizeof err), RCGC_OK);
    rcgc_snapshot_free(s);
    for (size_t k = 0; k < n; k++) {
        err[0] = '\0';
        CHECK_EQ_INT(rcgc_snapshot_load_buffer(good, k, &s, err, sizeof err), RCGC_EFORMAT);
        CHECK(s == NULL && err[0] != '\0');
    }
    unsigned char *bad = malloc(n);
    for (size_t k = 0; k < n; k++) {
        memcpy(bad, good, n);
        bad[k] ^= 0x41;
        CHECK_EQ_INT(rcgc_snapshot_load_buffer(bad, n, &s, err, sizeof err), RCGC_EFORMAT);
    }
    free(bad);
    free(good);
    CHECK_EQ_INT(rcgc_snapshot_load_buffer("RCGCSNAQ", 8, &s, err, sizeof err), RCGC_EFORMAT);
    CHECK_CONTAINS(err, "truncated");
}

TEST(snapshot_load_explains_bad_files)
{
    char err[256], dir[4096];
    rcgc_snapshot *s;
    snprintf(dir, sizeof dir, "%s", golden(""));
    const char *corpus = "/../../fuzz/corpus/snapshot/";
    struct {
        const char *file;
        const char *msg;
    } cases[] = {
        {"bad-magic", "not an rcgc snapshot"},
        {"bad-version", "unsupported snapshot version 2"},
        {"huge-counts", "cannot fit"},
        {"truncated", "checksum mismatch"},
        {"zero-bytes", "truncated"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[4400];
        snprintf(path, sizeof path, "%s%s%s", dir, corpus, cases[i].file);
        CHECK_EQ_INT(rcgc_snapshot_load(path, &s, err, sizeof err), RCGC_EFORMAT);
        CHECK_CONTAINS(err, cases[i].msg);
    }
    CHECK_EQ_INT(rcgc_snapshot_load("/nonexistent/x.snap", &s, err, sizeof err), RCGC_EIO);
    CHECK_CONTAINS(err, "No such file");
}
