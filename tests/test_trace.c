/*
** test_trace.c -- the allocation tracer: lifecycle, counters, tracebacks,
** domains, tags and types (PARITY 50-53), and snapshots on CPython's
** create_snapshots() fixture: statistics, diffs, filters (PARITY 54-55).
*/
#include <math.h>
#include <stdlib.h>

#include "harness.h"
#include "trace.h"

static const rcgc_type blob_type = {"blob", 0, 1, 0, NULL, NULL, NULL, NULL};
static const rcgc_type pair_type = {"pair", 16, 0, 0, NULL, NULL, NULL, NULL};

/* ---- PARITY 50: limits and lifecycle ---------------------------------- */

TEST(trace_start_rejects_bad_limits)
{
    rcgc_heap *h = th_heap_new();
    CHECK(!rcgc_trace_is_tracing(h));
    CHECK_EQ_INT(rcgc_trace_get_traceback_limit(h), 1);
    CHECK_EQ_INT(rcgc_trace_start(h, 0), RCGC_EINVAL);
    CHECK_CONTAINS(th_output, "the number of frames must be in range [1; 65535]");
    CHECK_EQ_INT(rcgc_trace_start(h, 65536), RCGC_EINVAL);
    CHECK(!rcgc_trace_is_tracing(h));
    CHECK_EQ_INT(rcgc_trace_start(h, 65535), RCGC_OK);
    CHECK(rcgc_trace_is_tracing(h));
    CHECK_EQ_INT(rcgc_trace_get_traceback_limit(h), 65535);
    CHECK_EQ_INT(rcgc_trace_start(h, 3), RCGC_OK);
    CHECK_EQ_INT(rcgc_trace_get_traceback_limit(h), 3);
    CHECK_HEAP(h);
    rcgc_heap_free(h);
}

TEST(trace_stop_clears_everything)
{
    rcgc_heap *h = th_heap_new();
    CHECK_EQ_INT(rcgc_trace_start(h, 1), RCGC_OK);
    void *o = rcgc_new_var(h, &blob_type, 1000);
    size_t cur, peak;
    rcgc_trace_get_traced_memory(h, &cur, &peak);
    CHECK(cur >= 1000);
    CHECK(rcgc_trace_get_tracer_memory(h) > 0);
    rcgc_trace_stop(h);
    CHECK(!rcgc_trace_is_tracing(h));
    rcgc_trace_get_traced_memory(h, &cur, &peak);
    CHECK_EQ_U64(cur, 0);
    CHECK_EQ_U64(peak, 0);
    CHECK_EQ_U64(rcgc_trace_get_tracer_memory(h), 0);
    CHECK(rcgc_trace_get_object_traceback(h, o) == NULL);
    rcgc_snapshot *s = (rcgc_snapshot *)1;
    CHECK_EQ_INT(rcgc_trace_take_snapshot(h, &s), RCGC_ESTATE);
    CHECK(s == NULL);
    CHECK_CONTAINS(th_output, "must be tracing memory allocations to take a snapshot");
    /* Frees of blocks traced before stop are fine. */
    rcgc_unref(o);
    CHECK_HEAP(h);
    rcgc_heap_free(h);
}

/* ---- PARITY 51: traced memory and peak -------------------------------- */

TEST(trace_traced_memory_and_peak)
{
    const size_t MiB = 1024 * 1024, slack = 2048;
    rcgc_heap *h = th_heap_new();
    CHECK_EQ_INT(rcgc_trace_start(h, 1), RCGC_OK);
    size_t cur0, peak0, cur, peak;
    rcgc_trace_get_traced_memory(h, &cur0, &peak0);
    void *o = rcgc_new_var(h, &blob_type, MiB);
    rcgc_trace_get_traced_memory(h, &cur, &peak);
    CHECK(cur - cur0 >= MiB && cur - cur0 <= MiB + slack);
    CHECK(peak >= cur);
    rcgc_unref(o);
    size_t cur2, peak2;
    rcgc_trace_get_traced_memory(h, &cur2, &peak2);
    CHECK(cur - cur2 >= MiB - slack);
    CHECK_EQ_U64(peak2, peak);
    rcgc_trace_reset_peak(h);
    rcgc_trace_get_traced_memory(h, &cur2, &peak2);
    CHECK_EQ_U64(peak2, cur2);
    o = rcgc_new_var(h, &blob_type, MiB);
    size_t cur3, peak3;
    rcgc_trace_get_traced_memory(h, &cur3, &peak3);
    CHECK(peak3 - peak2 >= MiB);
    CHECK_HEAP(h);
    rcgc_trace_clear_traces(h);
    rcgc_trace_get_traced_memory(h, &cur3, &peak3);
    CHECK_EQ_U64(cur3, 0);
    CHECK_EQ_U64(peak3, 0);
    rcgc_unref(o); /* untraced now: no effect on the counters */
    rcgc_trace_get_traced_memory(h, &cur3, &peak3);
    CHECK_EQ_U64(cur3, 0);
    CHECK_HEAP(h);
    rcgc_heap_free(h);
}

/* An object's free looks its trace up only when its allocation recorded
** one: objects from before tracing, sampled-out objects, sampled ones and
** exact ones, switched at run time, all leave the counters exact. */
TEST(trace_frees_drop_exactly_the_recorded_object_traces)
{
    enum { N = 3000 };
    rcgc_heap *h = th_heap_new();
    void *before = rcgc_new(h, &pair_type);
    CHECK_EQ_INT(rcgc_trace_start(h, 1), RCGC_OK);
    size_t cur0, peak, cur;
    rcgc_trace_get_traced_memory(h, &cur0, &peak);
    CHECK_EQ_INT(rcgc_trace_set_sampling(h, 256), RCGC_OK);
    void **v = malloc(2 * N * sizeof *v);
    CHECK(v != NULL);
    for (int i = 0; i < N; i++)
        v[i] = rcgc_new(h, &pair_type);
    rcgc_trace_get_traced_memory(h, &cur, &peak);
    CHECK(cur > cur0); /* some were sampled (about one in 8) */
    CHECK_EQ_INT(rcgc_trace_set_sampling(h, 0), RCGC_OK);
    for (int i = N; i < 2 * N; i++)
        v[i] = rcgc_new(h, &pair_type);
    size_t cur_exact;
    rcgc_trace_get_traced_memory(h, &cur_exact, &peak);
    CHECK(cur_exact >= cur + (size_t)N * 32);
    CHECK_HEAP(h);
    /* Free the exact half first, then the sampled half, then the object
    ** from before tracing. */
    for (int i = 2 * N; i-- > N;)
        rcgc_unref(v[i]);
    rcgc_trace_get_traced_memory(h, &cur_exact, &peak);
    CHECK_EQ_U64(cur_exact, cur);
    for (int i = 0; i < N; i++)
        rcgc_unref(v[i]);
    rcgc_unref(before);
    rcgc_trace_get_traced_memory(h, &cur, &peak);
    CHECK_EQ_U64(cur, cur0);
    CHECK_HEAP(h);
    free(v);
    rcgc_heap_free(h);
}

TEST(trace_tracer_memory_shrinks_after_clear)
{
    rcgc_heap *h = th_heap_new();
    CHECK_EQ_INT(rcgc_trace_start(h, 1), RCGC_OK);
    void *objs[1000];
    for (int i = 0; i < 1000; i++)
        objs[i] = rcgc_new(h, &pair_type);
    size_t before = rcgc_trace_get_tracer_memory(h);
    rcgc_trace_clear_traces(h);
    size_t after = rcgc_trace_get_tracer_memory(h);
    CHECK(after <= before);
    CHECK(after > 0);
    for (int i = 0; i < 1000; i++)
        rcgc_unref(objs[i]);
    CHECK_HEAP(h);
    rcgc_heap_free(h);
}

/* ---- PARITY 52: object traceback -------------------------------------- */

TEST(trace_object_traceback_has_call_site_and_host_frames)
{
    rcgc_heap *h = th_heap_new();
    CHECK_EQ_INT(rcgc_trace_start(h, 10), RCGC_OK);
    char file[32];
    /* Twelve host frames: f0.py (outermost) .. f11.py (innermost). */
    for (int i = 0; i < 12; i++) {
        snprintf(file, sizeof file, "f%d.py", i);
        CHECK_EQ_INT(rcgc_trace_frame_push(h, file, (unsigned)(100 + i), "fn"), RCGC_OK);
    }
    rcgc_trace_frame_set_lineno(h, 999);
    int line = __LINE__ + 1;
    void *o = rcgc_new(h, &pair_type);
    const rcgc_traceback *tb = rcgc_trace_get_object_traceback(h, o);
    CHECK(tb != NULL);
    CHECK_EQ_INT(rcgc_traceback_nframe(tb), 10);
    CHECK_EQ_INT(rcgc_traceback_total_nframe(tb), 13);
    /* Oldest first: f3.py .. f11.py, then the C call site (most recent). */
    for (unsigned i = 0; i < 9; i++) {
        rcgc_frame f = rcgc_traceback_frame(tb, i);
        snprintf(file, sizeof file, "f%u.py", i + 3);
        CHECK_EQ_STR(f.filename, file);
        CHECK_EQ_INT(f.lineno, i == 8 ? 999u : 103 + i);
    }
    rcgc_frame top = rcgc_traceback_frame(tb, 9);
    CHECK_EQ_STR(top.filename, __FILE__);
    CHECK_EQ_INT(top.lineno, line);
    CHECK_EQ_STR(top.function, "test_trace_object_traceback_has_call_site_and_host_frames");
    for (int i = 0; i < 12; i++)
        rcgc_trace_frame_pop(h);
    rcgc_trace_frame_pop(h); /* extra pops are ignored */

    /* Limit 1: the call site only. */
    rcgc_trace_stop(h);
    CHECK_EQ_INT(rcgc_trace_start(h, 1), RCGC_OK);
    line = __LINE__ + 1;
    void *o2 = rcgc_new(h, &pair_type);
    tb = rcgc_trace_get_object_traceback(h, o2);
    CHECK_EQ_INT(rcgc_traceback_nframe(tb), 1);
    CHECK_EQ_STR(rcgc_traceback_frame(tb, 0).filename, __FILE__);
    CHECK_EQ_INT(rcgc_traceback_frame(tb, 0).lineno, line);
    /* Not traced: allocated before this start. */
    CHECK(rcgc_trace_get_object_traceback(h, o) == NULL);
    rcgc_trace_clear_traces(h);
    CHECK(rcgc_trace_get_object_traceback(h, o2) == NULL);
    rcgc_unref(o);
    rcgc_unref(o2);
    CHECK_HEAP(h);
    rcgc_heap_free(h);
}

/* A finalizer that allocates while the automatic collection that runs it
** was triggered by another allocation: each object keeps its own site. */
static void *nested_made;
static int nested_line;
static int alloc_in_finalizer(void *obj)
{
    nested_line = __LINE__ + 1;
    nested_made = rcgc_new(rcgc_heap_of(obj), &pair_type);
    return 0;
}
static int ring_traverse(void *o, rcgc_visit_fn visit, void *arg)
{
    RCGC_VISIT(*(void **)o);
    return 0;
}
static void ring_clear(void *o)
{
    RCGC_CLEAR(*(void **)o);
}
static const rcgc_type fin_ring_type = {"finring", sizeof(void *), 0, 0, ring_traverse,
                                        ring_clear, alloc_in_finalizer, NULL};

TEST(trace_allocation_in_finalizer_during_automatic_collection_keeps_both_sites)
{
    for (unsigned limit = 1; limit <= 4; limit += 3) { /* call site only; with depth */
        rcgc_config cfg;
        rcgc_config_init(&cfg); /* automatic collection at allocation time */
        rcgc_heap *h = th_heap_new_cfg(&cfg);
        CHECK_EQ_INT(rcgc_trace_start(h, limit), RCGC_OK);
        rcgc_gc_set_threshold(h, 3, 10, 10);
        void **a = rcgc_new(h, &fin_ring_type); /* a garbage self-cycle */
        *a = a;
        rcgc_ref(a); /* the self-reference */
        rcgc_unref(a);
        nested_made = NULL;
        void *o[8];
        int line = 0, n = 0;
        while (n < 8 && !nested_made) {
            line = __LINE__ + 1;
            o[n++] = rcgc_new(h, &fin_ring_type);
        }
        CHECK(nested_made != NULL); /* a collection ran inside rcgc_new */
        const rcgc_traceback *tb = rcgc_trace_get_object_traceback(h, o[n - 1]);
        rcgc_frame top = rcgc_traceback_frame(tb, rcgc_traceback_nframe(tb) - 1);
        CHECK_EQ_STR(top.filename, __FILE__);
        CHECK_EQ_INT(top.lineno, line);
        tb = rcgc_trace_get_object_traceback(h, nested_made);
        CHECK(tb != NULL);
        top = rcgc_traceback_frame(tb, rcgc_traceback_nframe(tb) - 1);
        CHECK_EQ_INT(top.lineno, nested_line);
        CHECK_EQ_STR(top.function, "alloc_in_finalizer");
        for (int i = 0; i < n; i++)
            rcgc_unref(o[i]);
        rcgc_unref(nested_made);
        CHECK_HEAP(h);
        rcgc_heap_free(h);
    }
}

TEST(trace_identical_tracebacks_are_interned)
{
    rcgc_heap *h = th_heap_new();
    CHECK_EQ_INT(rcgc_trace_start(h, 4), RCGC_OK);
    rcgc_trace_frame_push(h, "script.py", 7, "main");
    void *o[2];
    for (int i = 0; i < 2; i++)
        o[i] = rcgc_new(h, &pair_type);
    const rcgc_traceback *a = rcgc_trace_get_object_traceback(h, o[0]);
    const rcgc_traceback *b = rcgc_trace_get_object_traceback(h, o[1]);
    CHECK(a != NULL);
    CHECK_EQ_PTR(a, b);
    CHECK_EQ_INT(rcgc_traceback_nframe(a), 2);
    CHECK_EQ_STR(rcgc_traceback_frame(a, 0).filename, "script.py");
    rcgc_trace_frame_pop(h);
    rcgc_unref(o[0]);
    rcgc_unref(o[1]);
    rcgc_heap_free(h);
}

/* Traced memory is 'current' and the tracer checks clean. */
static void check_traced(rcgc_heap *h, size_t current)
{
    size_t cur, peak;
    rcgc_trace_get_traced_memory(h, &cur, &peak);
    CHECK_EQ_U64(cur, current);
    CHECK(peak >= cur);
    CHECK_HEAP(h);
}

/* The 1-frame mode's site cache keys a site by file, line, function and
** depth: the same file and line in two functions, or under host frames,
** are other tracebacks; a site without a file is "<unknown>". */
TEST(trace_site_cache_tells_sites_apart)
{
    static const char file[] = "site.c";
    rcgc_heap *h = th_heap_new();
    CHECK_EQ_INT(rcgc_trace_start(h, 1), RCGC_OK);
    void *o[6];
    o[0] = rcgc_new_at(h, &pair_type, 0, file, 10, "first");
    o[1] = rcgc_new_at(h, &pair_type, 0, file, 10, "second");
    CHECK_EQ_INT(rcgc_trace_frame_push(h, "host.py", 3, "run"), RCGC_OK);
    o[2] = rcgc_new_at(h, &pair_type, 0, file, 10, "first");
    rcgc_trace_frame_pop(h);
    o[3] = rcgc_new_at(h, &pair_type, 0, file, 10, "first");
    o[4] = rcgc_new_at(h, &pair_type, 0, file, 10 + RCGC__SITECACHE, "first"); /* same slot */
    o[5] = (rcgc_new)(h, &pair_type);
    const rcgc_traceback *tb[6];
    for (int i = 0; i < 6; i++) {
        CHECK(o[i] != NULL);
        tb[i] = rcgc_trace_get_object_traceback(h, o[i]);
        CHECK(tb[i] != NULL);
        CHECK_EQ_INT(rcgc_traceback_nframe(tb[i]), 1);
    }
    CHECK_EQ_STR(rcgc_traceback_frame(tb[0], 0).function, "first");
    CHECK_EQ_STR(rcgc_traceback_frame(tb[1], 0).function, "second");
    CHECK(tb[0] != tb[1]);
    CHECK_EQ_INT(rcgc_traceback_total_nframe(tb[2]), 2);
    CHECK(tb[2] != tb[0]);
    CHECK_EQ_PTR(tb[3], tb[0]);
    CHECK_EQ_INT(rcgc_traceback_frame(tb[4], 0).lineno, 10 + RCGC__SITECACHE);
    CHECK_EQ_STR(rcgc_traceback_frame(tb[5], 0).filename, "<unknown>");
    check_traced(h, 6 * 32);
    for (int i = 0; i < 6; i++)
        rcgc_unref(o[i]);
    check_traced(h, 0);
    rcgc_heap_free(h);
}

/* Exact 1-frame traces through growth, collisions and frees in any order,
** of objects and raw blocks, among frees of raw blocks from before tracing
** (no trace to find): every block keeps its site, the counters stay exact,
** the table checks clean after every round. */
static void churn_free(rcgc_heap *h, int k, void *p)
{
    if (k & 1)
        rcgc_free(h, p);
    else
        rcgc_unref(p);
}

TEST(trace_exact_traces_survive_churn_in_any_order)
{
    enum { N = 6000, ROUNDS = 4 };
    rcgc_heap *h = th_heap_new();
    void **v = calloc(N, sizeof *v), **old = calloc(N, sizeof *old);
    int *line = calloc(N, sizeof *line);
    CHECK(v != NULL && old != NULL && line != NULL);
    for (int k = 0; k < N; k++)
        old[k] = rcgc_malloc(h, 32); /* untraced */
    CHECK_EQ_INT(rcgc_trace_start(h, 1), RCGC_OK);
    size_t live = 0, high = 0;
    uint64_t rng = 12345;
    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < N; i++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            int k = (int)((rng >> 33) % N);
            rcgc_free(h, old[k]);
            old[k] = NULL;
            if (v[k]) {
                churn_free(h, k, v[k]);
                v[k] = NULL;
                live -= 32;
                continue;
            }
            line[k] = __LINE__ + 1;
            v[k] = k & 1 ? rcgc_malloc(h, 32) : rcgc_new(h, &pair_type);
            live += 32;
            high = live > high ? live : high;
        }
        size_t cur, peak;
        rcgc_trace_get_traced_memory(h, &cur, &peak);
        CHECK_EQ_U64(peak, high);
        check_traced(h, live);
        for (int k = 0; k < N; k++) {
            if (!v[k])
                continue;
            const rcgc_traceback *tb = k & 1 ? rcgc_trace_get_traceback(h, 0, (uintptr_t)v[k])
                                             : rcgc_trace_get_object_traceback(h, v[k]);
            CHECK(tb != NULL);
            if (tb)
                CHECK_EQ_INT(rcgc_traceback_frame(tb, 0).lineno, line[k]);
        }
    }
    for (int k = 0; k < N; k++) {
        if (v[k])
            churn_free(h, k, v[k]);
        rcgc_free(h, old[k]);
    }
    check_traced(h, 0);
    free(v);
    free(old);
    free(line);
    rcgc_heap_free(h);
}

/* The address hash spreads what allocators hand out (runs of equal-sized
** blocks): 100,000 live traces of 32-byte objects or 48-byte raw blocks
** sit less than one slot from home on average (uniform hashing: about 0.3
** at this load; the previous hash gave 4.6 and 3.7). */
TEST(trace_table_spreads_runs_of_blocks)
{
    enum { N = 100000 };
    for (int raw = 0; raw < 2; raw++) {
        rcgc_heap *h = th_heap_new();
        CHECK_EQ_INT(rcgc_trace_start(h, 1), RCGC_OK);
        void **v = calloc(N, sizeof *v);
        CHECK(v != NULL);
        for (int i = 0; v && i < N; i++)
            v[i] = raw ? rcgc_malloc(h, 48) : rcgc_new(h, &pair_type);
        double probe = rcgc__trace_mean_probe(h);
        printf("%s: mean probe %.2f\n", raw ? "48-byte raw blocks" : "32-byte objects", probe);
        CHECK(probe < 1.0);
        for (int i = 0; v && i < N; i++)
            churn_free(h, raw ? 1 : 0, v[i]);
        free(v);
        rcgc_heap_free(h);
    }
}

/* rcgc_heap_check sees the state the fast paths rely on go stale. */
TEST(trace_check_catches_stale_fast_path_state)
{
    rcgc_heap *h = th_heap_new();
    CHECK_EQ_INT(rcgc_trace_start(h, 1), RCGC_OK);
    void *o = rcgc_new(h, &pair_type);
    CHECK_HEAP(h);
    rcgc__trace *t = h->trace;
    struct rcgc__sitecache *c = NULL;
    for (size_t k = 0; k < RCGC__SITECACHE; k++)
        if (t->sitecache[k].file)
            c = &t->sitecache[k];
    CHECK(c != NULL);
    if (c) {
        const struct rcgc_traceback *tb = c->tb;
        c->tb = t->unknown_tb; /* a site's entry with another traceback */
        CHECK(rcgc_heap_check(h) != RCGC_OK);
        c->tb = tb;
        c->key++; /* found in the wrong slot */
        CHECK(rcgc_heap_check(h) != RCGC_OK);
        c->key--;
    }
    CHECK_HEAP(h);
    t->meta ^= 1u; /* the fast path's entry meta disagrees with the tag */
    CHECK(rcgc_heap_check(h) != RCGC_OK);
    t->meta ^= 1u;
    t->frames = true; /* a summary byte out of date */
    CHECK(rcgc_heap_check(h) != RCGC_OK);
    t->frames = false;
    size_t grow_at = t->grow_at;
    t->grow_at = t->cap; /* the table would fill up */
    CHECK(rcgc_heap_check(h) != RCGC_OK);
    t->grow_at = grow_at;
    t->mask = t->cap;
    CHECK(rcgc_heap_check(h) != RCGC_OK);
    t->mask = t->cap - 1;
    CHECK_HEAP(h);
    rcgc_unref(o);
    rcgc_trace_clear_traces(h);
    CHECK_EQ_PTR(t->traces, &t->nil);
    t->nil.ptr = 1; /* the empty table's slot written */
    CHECK(rcgc_heap_check(h) != RCGC_OK);
    t->nil.ptr = 0;
    CHECK_HEAP(h);
    rcgc_heap_free(h);
}

/* ---- PARITY 53: domains ----------------------------------------------- */

static size_t domain_bytes(rcgc_heap *h, unsigned domain)
{
    rcgc_snapshot *s = NULL, *f = NULL;
    if (rcgc_trace_take_snapshot(h, &s) != RCGC_OK)
        return (size_t)-1;
    rcgc_trace_filter flt = {true, NULL, -1, false, true, domain};
    size_t sum = 0;
    if (rcgc_snapshot_filter(s, &flt, 1, &f) == RCGC_OK) {
        rcgc_trace t;
        for (size_t i = 0; rcgc_snapshot_get(f, i, &t); i++)
            sum += t.size;
    }
    rcgc_snapshot_free(f);
    rcgc_snapshot_free(s);
    return sum;
}

TEST(trace_track_untrack_domains)
{
    rcgc_heap *h = th_heap_new();
    CHECK_EQ_INT(rcgc_trace_track(h, 5, 0x1000, 123), RCGC_ESTATE);
    CHECK_EQ_INT(rcgc_trace_untrack(h, 5, 0x1000), RCGC_ESTATE);
    CHECK_EQ_INT(rcgc_trace_start(h, 5), RCGC_OK);
    int line = __LINE__ + 1;
    CHECK_EQ_INT(rcgc_trace_track(h, 5, 0x1000, 123), RCGC_OK);
    const rcgc_traceback *tb = rcgc_trace_get_traceback(h, 5, 0x1000);
    CHECK(tb != NULL);
    (void)line;
    CHECK(rcgc_trace_get_traceback(h, 0, 0x1000) == NULL);
    CHECK_EQ_U64(domain_bytes(h, 5), 123);
    CHECK_EQ_INT(rcgc_trace_track(h, 5, 0x1000, 456), RCGC_OK);
    CHECK_EQ_U64(domain_bytes(h, 5), 456);
    CHECK_EQ_INT(rcgc_trace_untrack(h, 5, 0x1000), RCGC_OK);
    CHECK(rcgc_trace_get_traceback(h, 5, 0x1000) == NULL);
    CHECK_EQ_U64(domain_bytes(h, 5), 0);
    CHECK_EQ_INT(rcgc_trace_untrack(h, 5, 0x1000), RCGC_OK);
    CHECK_EQ_INT(rcgc_trace_track(h, 70000, 0x1000, 1), RCGC_EINVAL);
    CHECK_EQ_INT(rcgc_trace_track(h, 5, 0x2000, 10), RCGC_OK);
    rcgc_trace_stop(h);
    CHECK_EQ_INT(rcgc_trace_untrack(h, 5, 0x2000), RCGC_ESTATE);
    CHECK(rcgc_trace_get_traceback(h, 5, 0x2000) == NULL);
    CHECK_HEAP(h);
    rcgc_heap_free(h);
}

/* ---- Types and tags --------------------------------------------------- */

static const rcgc_stat *find_name(const rcgc_stats *st, const char *name)
{
    for (size_t i = 0; i < rcgc_stats_count(st); i++)
        if (strcmp(rcgc_stats_get(st, i)->name, name) == 0)
            return rcgc_stats_get(st, i);
    return NULL;
}

TEST(trace_snapshot_records_types_and_tags)
{
    rcgc_heap *h = th_heap_new();
    CHECK_EQ_INT(rcgc_trace_start(h, 1), RCGC_OK);
    void *a[3], *b[2];
    CHECK_EQ_INT(rcgc_trace_tag_push(h, "view:/users"), RCGC_OK);
    for (int i = 0; i < 3; i++)
        a[i] = rcgc_new(h, &pair_type);
    CHECK_EQ_INT(rcgc_trace_tag_push(h, "view:/inner"), RCGC_OK);
    b[0] = rcgc_new_var(h, &blob_type, 100);
    rcgc_trace_tag_pop(h);
    b[1] = rcgc_new_var(h, &blob_type, 100);
    rcgc_trace_tag_pop(h);
    rcgc_trace_tag_pop(h); /* ignored */
    void *c = rcgc_new(h, &pair_type);
    rcgc_snapshot *s;
    CHECK_EQ_INT(rcgc_trace_take_snapshot(h, &s), RCGC_OK);
    CHECK_EQ_U64(rcgc_snapshot_count(s), 6);
    rcgc_stats *st;
    CHECK_EQ_INT(rcgc_snapshot_statistics(s, RCGC_STAT_TYPE, false, &st), RCGC_OK);
    CHECK_EQ_U64(rcgc_stats_count(st), 2);
    CHECK(find_name(st, "pair") && find_name(st, "pair")->count == 4);
    CHECK(find_name(st, "blob") && find_name(st, "blob")->count == 2);
    rcgc_stats_free(st);
    CHECK_EQ_INT(rcgc_snapshot_statistics(s, RCGC_STAT_TAG, false, &st), RCGC_OK);
    CHECK_EQ_U64(rcgc_stats_count(st), 3);
    CHECK(find_name(st, "view:/users") && find_name(st, "view:/users")->count == 4);
    CHECK(find_name(st, "view:/inner") && find_name(st, "view:/inner")->count == 1);
    CHECK(find_name(st, "<untagged>") && find_name(st, "<untagged>")->count == 1);
    rcgc_stats_free(st);
    CHECK_EQ_INT(rcgc_snapshot_statistics(s, RCGC_STAT_TAG, true, &st), RCGC_EINVAL);
    rcgc_snapshot_free(s);
    for (int i = 0; i < 3; i++)
        rcgc_unref(a[i]);
    rcgc_unref(b[0]);
    rcgc_unref(b[1]);
    rcgc_unref(c);
    CHECK_HEAP(h);
    rcgc_heap_free(h);
}

/* ---- PARITY 54-55: CPython's create_snapshots() fixture --------------- */

/* Frames as tracemalloc's raw traces list them: most recent first. */
typedef struct {
    unsigned domain;
    size_t size;
    int nframe;
    const char *files[2];
    unsigned lines[2];
    unsigned total;
} raw_trace;

static rcgc_snapshot *build(const raw_trace *raw, int n)
{
    rcgc_snapshot *s = rcgc_snapshot_new(2);
    for (int i = 0; i < n; i++) {
        rcgc_frame f[2];
        for (int k = 0; k < raw[i].nframe; k++) { /* to oldest first */
            int r = raw[i].nframe - 1 - k;
            f[k] = (rcgc_frame){raw[i].files[r], NULL, raw[i].lines[r], 0};
        }
        if (rcgc_snapshot_add(s, raw[i].domain, raw[i].size, f, (unsigned)raw[i].nframe,
                              raw[i].total, NULL, NULL) != RCGC_OK) {
            rcgc_snapshot_free(s);
            return NULL;
        }
    }
    return s;
}

static const raw_trace RAW1[] = {
    {0, 10, 2, {"a.py", "b.py"}, {2, 4}, 3},
    {0, 10, 2, {"a.py", "b.py"}, {2, 4}, 3},
    {0, 10, 2, {"a.py", "b.py"}, {2, 4}, 3},
    {1, 2, 2, {"a.py", "b.py"}, {5, 4}, 3},
    {2, 66, 1, {"b.py", NULL}, {1, 0}, 1},
    {3, 7, 1, {"<unknown>", NULL}, {0, 0}, 1},
};
static const raw_trace RAW2[] = {
    {0, 10, 2, {"a.py", "b.py"}, {2, 4}, 3},
    {0, 10, 2, {"a.py", "b.py"}, {2, 4}, 3},
    {0, 10, 2, {"a.py", "b.py"}, {2, 4}, 3},
    {2, 2, 2, {"a.py", "b.py"}, {5, 4}, 3},
    {2, 5000, 2, {"a.py", "b.py"}, {5, 4}, 3},
    {4, 400, 1, {"c.py", NULL}, {578, 0}, 1},
};

static void fixture(rcgc_snapshot **s1, rcgc_snapshot **s2)
{
    *s1 = build(RAW1, 6);
    *s2 = build(RAW2, 6);
}

/* Expected rows: "file:line size count" or with diffs. */
typedef struct {
    const char *file;
    unsigned line;
    uint64_t size;
    int64_t size_diff;
    uint64_t count;
    int64_t count_diff;
} row;

static void check_rows(const rcgc_stats *st, const row *rows, size_t n, bool diff,
                       const char *what)
{
    CHECK_EQ_U64(rcgc_stats_count(st), n);
    for (size_t i = 0; i < n && i < rcgc_stats_count(st); i++) {
        const rcgc_stat *x = rcgc_stats_get(st, i);
        rcgc_frame f = rcgc_traceback_frame(x->traceback, rcgc_traceback_nframe(x->traceback) - 1);
        if (strcmp(f.filename, rows[i].file) != 0 || f.lineno != rows[i].line ||
            x->size != rows[i].size || x->count != rows[i].count ||
            (diff && (x->size_diff != rows[i].size_diff || x->count_diff != rows[i].count_diff)))
            th_fail(__FILE__, __LINE__,
                    "%s row %zu: got %s:%u %llu (%+lld) %llu (%+lld), want %s:%u %llu (%+lld) "
                    "%llu (%+lld)",
                    what, i, f.filename, f.lineno, (unsigned long long)x->size,
                    (long long)x->size_diff, (unsigned long long)x->count,
                    (long long)x->count_diff, rows[i].file, rows[i].line,
                    (unsigned long long)rows[i].size, (long long)rows[i].size_diff,
                    (unsigned long long)rows[i].count, (long long)rows[i].count_diff);
    }
}

TEST(snapshot_group_by_lineno_matches_cpython)
{
    rcgc_snapshot *s1, *s2;
    fixture(&s1, &s2);
    CHECK(s1 && s2);
    rcgc_stats *st;
    CHECK_EQ_INT(rcgc_snapshot_statistics(s1, RCGC_STAT_LINENO, false, &st), RCGC_OK);
    static const row r1[] = {{"b.py", 1, 66, 0, 1, 0}, {"a.py", 2, 30, 0, 3, 0},
                             {"<unknown>", 0, 7, 0, 1, 0}, {"a.py", 5, 2, 0, 1, 0}};
    check_rows(st, r1, 4, false, "lineno");
    char buf[128];
    rcgc_stat_format(rcgc_stats_get(st, 0), false, buf, sizeof buf);
    CHECK_EQ_STR(buf, "b.py:1: size=66 B, count=1, average=66 B");
    rcgc_stats_free(st);
    CHECK_EQ_INT(rcgc_snapshot_statistics(s2, RCGC_STAT_LINENO, false, &st), RCGC_OK);
    static const row r2[] = {{"a.py", 5, 5002, 0, 2, 0}, {"c.py", 578, 400, 0, 1, 0},
                             {"a.py", 2, 30, 0, 3, 0}};
    check_rows(st, r2, 3, false, "lineno2");
    rcgc_stats_free(st);
    CHECK_EQ_INT(rcgc_snapshot_compare_to(s2, s1, RCGC_STAT_LINENO, false, &st), RCGC_OK);
    static const row d[] = {{"a.py", 5, 5002, 5000, 2, 1}, {"c.py", 578, 400, 400, 1, 1},
                            {"b.py", 1, 0, -66, 0, -1}, {"<unknown>", 0, 0, -7, 0, -1},
                            {"a.py", 2, 30, 0, 3, 0}};
    check_rows(st, d, 5, true, "diff");
    rcgc_stat_format(rcgc_stats_get(st, 0), true, buf, sizeof buf);
    CHECK_EQ_STR(buf, "a.py:5: size=5002 B (+5000 B), count=2 (+1), average=2501 B");
    rcgc_stats_free(st);
    rcgc_snapshot_free(s1);
    rcgc_snapshot_free(s2);
}

TEST(snapshot_group_by_filename_matches_cpython)
{
    rcgc_snapshot *s1, *s2;
    fixture(&s1, &s2);
    rcgc_stats *st;
    CHECK_EQ_INT(rcgc_snapshot_statistics(s1, RCGC_STAT_FILENAME, false, &st), RCGC_OK);
    static const row r1[] = {{"b.py", 0, 66, 0, 1, 0}, {"a.py", 0, 32, 0, 4, 0},
                             {"<unknown>", 0, 7, 0, 1, 0}};
    check_rows(st, r1, 3, false, "filename");
    rcgc_stats_free(st);
    CHECK_EQ_INT(rcgc_snapshot_statistics(s2, RCGC_STAT_FILENAME, false, &st), RCGC_OK);
    static const row r2[] = {{"a.py", 0, 5032, 0, 5, 0}, {"c.py", 0, 400, 0, 1, 0}};
    check_rows(st, r2, 2, false, "filename2");
    rcgc_stats_free(st);
    CHECK_EQ_INT(rcgc_snapshot_compare_to(s2, s1, RCGC_STAT_FILENAME, false, &st), RCGC_OK);
    static const row d[] = {{"a.py", 0, 5032, 5000, 5, 1}, {"c.py", 0, 400, 400, 1, 1},
                            {"b.py", 0, 0, -66, 0, -1}, {"<unknown>", 0, 0, -7, 0, -1}};
    check_rows(st, d, 4, true, "filename diff");
    rcgc_stats_free(st);
    rcgc_snapshot_free(s1);
    rcgc_snapshot_free(s2);
}

TEST(snapshot_group_by_traceback_matches_cpython)
{
    rcgc_snapshot *s1, *s2;
    fixture(&s1, &s2);
    rcgc_stats *st;
    CHECK_EQ_INT(rcgc_snapshot_statistics(s1, RCGC_STAT_TRACEBACK, false, &st), RCGC_OK);
    /* Rows name the most recent frame (the helper reads the last one). */
    static const row r1[] = {{"b.py", 1, 66, 0, 1, 0}, {"a.py", 2, 30, 0, 3, 0},
                             {"<unknown>", 0, 7, 0, 1, 0}, {"a.py", 5, 2, 0, 1, 0}};
    check_rows(st, r1, 4, false, "traceback");
    CHECK_EQ_INT(rcgc_traceback_nframe(rcgc_stats_get(st, 1)->traceback), 2);
    rcgc_stats_free(st);
    CHECK_EQ_INT(rcgc_snapshot_compare_to(s2, s1, RCGC_STAT_TRACEBACK, false, &st), RCGC_OK);
    static const row d[] = {{"a.py", 5, 5002, 5000, 2, 1}, {"c.py", 578, 400, 400, 1, 1},
                            {"b.py", 1, 0, -66, 0, -1}, {"<unknown>", 0, 0, -7, 0, -1},
                            {"a.py", 2, 30, 0, 3, 0}};
    check_rows(st, d, 5, true, "traceback diff");
    rcgc_stats_free(st);
    st = (rcgc_stats *)1;
    CHECK_EQ_INT(rcgc_snapshot_statistics(s1, RCGC_STAT_TRACEBACK, true, &st), RCGC_EINVAL);
    CHECK(st == NULL);
    rcgc_snapshot_free(s1);
    rcgc_snapshot_free(s2);
}

TEST(snapshot_group_cumulative_matches_cpython)
{
    rcgc_snapshot *s1, *s2;
    fixture(&s1, &s2);
    rcgc_stats *st;
    CHECK_EQ_INT(rcgc_snapshot_statistics(s1, RCGC_STAT_FILENAME, true, &st), RCGC_OK);
    static const row f[] = {{"b.py", 0, 98, 0, 5, 0}, {"a.py", 0, 32, 0, 4, 0},
                            {"<unknown>", 0, 7, 0, 1, 0}};
    check_rows(st, f, 3, false, "cumulative filename");
    rcgc_stats_free(st);
    CHECK_EQ_INT(rcgc_snapshot_statistics(s1, RCGC_STAT_LINENO, true, &st), RCGC_OK);
    static const row l[] = {{"b.py", 1, 66, 0, 1, 0}, {"b.py", 4, 32, 0, 4, 0},
                            {"a.py", 2, 30, 0, 3, 0}, {"<unknown>", 0, 7, 0, 1, 0},
                            {"a.py", 5, 2, 0, 1, 0}};
    check_rows(st, l, 5, false, "cumulative lineno");
    rcgc_stats_free(st);
    rcgc_snapshot_free(s1);
    rcgc_snapshot_free(s2);
}

static void check_traces(const rcgc_snapshot *s, const raw_trace *want, const int *idx, int n)
{
    CHECK_EQ_U64(rcgc_snapshot_count(s), (uint64_t)n);
    for (int i = 0; i < n; i++) {
        rcgc_trace t;
        if (!rcgc_snapshot_get(s, (size_t)i, &t))
            return;
        const raw_trace *w = &want[idx[i]];
        CHECK_EQ_INT(t.domain, w->domain);
        CHECK_EQ_U64(t.size, w->size);
        CHECK_EQ_INT(rcgc_traceback_nframe(t.traceback), w->nframe);
        CHECK_EQ_INT(rcgc_traceback_total_nframe(t.traceback), w->total);
        rcgc_frame top = rcgc_traceback_frame(t.traceback, (unsigned)w->nframe - 1);
        CHECK_EQ_STR(top.filename, w->files[0]);
        CHECK_EQ_INT(top.lineno, w->lines[0]);
    }
}

TEST(snapshot_filter_traces_matches_cpython)
{
    rcgc_snapshot *s1, *s2, *s3, *s4, *s5;
    fixture(&s1, &s2);
    rcgc_trace_filter excl_b = {false, "b.py", -1, false, false, 0};
    rcgc_trace_filter a2 = {true, "a.py", 2, false, false, 0};
    rcgc_trace_filter a5 = {true, "a.py", 5, false, false, 0};
    CHECK_EQ_INT(rcgc_snapshot_filter(s1, &excl_b, 1, &s3), RCGC_OK);
    static const int k3[] = {0, 1, 2, 3, 5};
    check_traces(s3, RAW1, k3, 5);
    /* The original is untouched. */
    static const int all[] = {0, 1, 2, 3, 4, 5};
    check_traces(s1, RAW1, all, 6);
    rcgc_trace_filter two[2] = {a2, a5};
    CHECK_EQ_INT(rcgc_snapshot_filter(s3, two, 2, &s4), RCGC_OK);
    static const int k4[] = {0, 1, 2, 3};
    check_traces(s4, RAW1, k4, 4);
    /* No filter: a copy. */
    CHECK_EQ_INT(rcgc_snapshot_filter(s1, NULL, 0, &s5), RCGC_OK);
    CHECK(s5 != s1);
    CHECK(rcgc_snapshot_equal(s5, s1));
    rcgc_snapshot_free(s3);
    rcgc_snapshot_free(s4);
    rcgc_snapshot_free(s5);
    rcgc_snapshot_free(s1);
    rcgc_snapshot_free(s2);
}

TEST(snapshot_filter_domains_matches_cpython)
{
    rcgc_snapshot *s1, *s2, *s3;
    fixture(&s1, &s2);
    rcgc_trace_filter excl_a1 = {false, "a.py", -1, false, true, 1};
    CHECK_EQ_INT(rcgc_snapshot_filter(s1, &excl_a1, 1, &s3), RCGC_OK);
    static const int k[] = {0, 1, 2, 4, 5};
    check_traces(s3, RAW1, k, 5);
    rcgc_snapshot_free(s3);
    rcgc_trace_filter excl_d3 = {false, NULL, -1, false, true, 3};
    CHECK_EQ_INT(rcgc_snapshot_filter(s1, &excl_d3, 1, &s3), RCGC_OK);
    static const int k2[] = {0, 1, 2, 3, 4};
    check_traces(s3, RAW1, k2, 5);
    rcgc_snapshot_free(s3);
    rcgc_trace_filter incl_d3 = {true, NULL, -1, false, true, 3};
    CHECK_EQ_INT(rcgc_snapshot_filter(s1, &incl_d3, 1, &s3), RCGC_OK);
    static const int k3[] = {5};
    check_traces(s3, RAW1, k3, 1);
    rcgc_snapshot_free(s3);
    rcgc_snapshot_free(s1);
    rcgc_snapshot_free(s2);
}

/* Filter._match_frame and _match_traceback cases of test_tracemalloc. */
static bool match1(bool inclusive, const char *file, unsigned line, const char *pattern,
                   int lineno, bool all_frames, const char *file2, unsigned line2)
{
    rcgc_snapshot *s = rcgc_snapshot_new(2), *d = NULL;
    rcgc_frame f[2] = {{file2 ? file2 : file, NULL, file2 ? line2 : line, 0},
                       {file, NULL, line, 0}};
    rcgc_snapshot_add(s, 0, 1, file2 ? f : f + 1, file2 ? 2 : 1, 0, NULL, NULL);
    rcgc_trace_filter flt = {inclusive, pattern, lineno, all_frames, false, 0};
    rcgc_snapshot_filter(s, &flt, 1, &d);
    bool kept = rcgc_snapshot_count(d) == 1;
    rcgc_snapshot_free(d);
    rcgc_snapshot_free(s);
    return kept;
}

TEST(snapshot_filter_match_rules)
{
    CHECK(match1(true, "abc", 5, "abc", -1, false, NULL, 0));
    CHECK(!match1(true, "12356", 5, "abc", -1, false, NULL, 0));
    CHECK(!match1(false, "abc", 5, "abc", -1, false, NULL, 0));
    CHECK(match1(true, "abc", 5, "abc", 5, false, NULL, 0));
    CHECK(!match1(true, "abc", 10, "abc", 5, false, NULL, 0));
    CHECK(match1(false, "abc", 10, "abc", 5, false, NULL, 0));
    CHECK(match1(true, "abc", 0, "abc", 0, false, NULL, 0));
    CHECK(!match1(true, "abc", 5, "abc", 0, false, NULL, 0));
    CHECK(match1(true, "", 0, "", -1, false, NULL, 0));
    CHECK(match1(true, "", 0, "*", -1, false, NULL, 0));
    CHECK(!match1(true, "abc", 0, "", -1, false, NULL, 0));
    CHECK(match1(true, "abcdcx", 0, "a*cx", -1, false, NULL, 0));
    CHECK(!match1(true, "abcdce", 0, "a*cx", -1, false, NULL, 0));
    CHECK(match1(true, "abcbdefeg", 0, "a*bd*eg", -1, false, NULL, 0));
    CHECK(match1(true, "a.pyc", 0, "a.py", -1, false, NULL, 0));
    CHECK(match1(true, "a.py", 0, "a.pyc", -1, false, NULL, 0));
    CHECK(!match1(true, "a.pyo", 0, "a.py", -1, false, NULL, 0));
    CHECK(!match1(true, "aBC", 0, "ABc", -1, false, NULL, 0));
    CHECK(!match1(true, "a/b", 0, "a\\b", -1, false, NULL, 0));
    /* t1 = (a.py:2 most recent, b.py:3); all_frames finds b.py. */
    CHECK(match1(true, "a.py", 2, "b.py", -1, true, "b.py", 3));
    CHECK(!match1(true, "a.py", 2, "b.py", -1, false, "b.py", 3));
    CHECK(!match1(false, "a.py", 2, "b.py", -1, true, "b.py", 3));
    CHECK(match1(false, "a.py", 2, "b.py", -1, false, "b.py", 3));
    CHECK(match1(true, "c.py", 5, "<unknown>", -1, true, "<unknown>", 0));
}

/* ---- Raw blocks ------------------------------------------------------- */

TEST(trace_raw_blocks_follow_malloc_realloc_free)
{
    const size_t MiB = 1024 * 1024;
    rcgc_heap *h = th_heap_new();
    CHECK_EQ_INT(rcgc_trace_start(h, 1), RCGC_OK);
    size_t cur0, cur, peak;
    rcgc_trace_get_traced_memory(h, &cur0, &peak);
    int line = __LINE__ + 1;
    char *p = rcgc_malloc(h, MiB);
    rcgc_trace_get_traced_memory(h, &cur, &peak);
    CHECK_EQ_U64(cur - cur0, MiB);
    const rcgc_traceback *tb = rcgc_trace_get_traceback(h, RCGC_TRACE_DOMAIN_HEAP, (uintptr_t)p);
    CHECK(tb != NULL);
    CHECK_EQ_INT(rcgc_traceback_frame(tb, 0).lineno, line);
    line = __LINE__ + 1;
    char *q = rcgc_realloc(h, p, 2 * MiB);
    rcgc_trace_get_traced_memory(h, &cur, &peak);
    CHECK_EQ_U64(cur - cur0, 2 * MiB);
    tb = rcgc_trace_get_traceback(h, RCGC_TRACE_DOMAIN_HEAP, (uintptr_t)q);
    CHECK(tb != NULL);
    CHECK_EQ_INT(rcgc_traceback_frame(tb, 0).lineno, line);
    if (q != p)
        CHECK(rcgc_trace_get_traceback(h, RCGC_TRACE_DOMAIN_HEAP, (uintptr_t)p) == NULL);
    void *z = rcgc_calloc(h, 10, 10);
    rcgc_trace_get_traced_memory(h, &cur, &peak);
    CHECK_EQ_U64(cur - cur0, 2 * MiB + 100);
    rcgc_free(h, q);
    rcgc_free(h, z);
    rcgc_trace_get_traced_memory(h, &cur, &peak);
    CHECK_EQ_U64(cur, cur0);
    CHECK(peak >= cur0 + 2 * MiB);
    /* The tracer's own memory is not traced. */
    rcgc_snapshot *s;
    CHECK_EQ_INT(rcgc_trace_take_snapshot(h, &s), RCGC_OK);
    CHECK_EQ_U64(rcgc_snapshot_count(s), 0);
    rcgc_snapshot_free(s);
    CHECK_HEAP(h);
    rcgc_heap_free(h);
}

/* ---- Sampling --------------------------------------------------------- */

TEST(trace_sampling_estimates_are_unbiased)
{
    const uint64_t mean = 16384;
    const size_t n = 50000;
    rcgc_heap *h = th_heap_new();
    rcgc_trace_options o;
    rcgc_trace_options_init(&o);
    o.sample_mean_bytes = mean;
    o.sample_seed = 12345;
    CHECK_EQ_INT(rcgc_trace_start_ex(h, &o), RCGC_OK);
    void **blocks = malloc(n * sizeof *blocks);
    uint64_t rng = 42;
    double true_bytes = 0, var_bytes = 0, var_count = 0;
    for (size_t i = 0; i < n; i++) {
        size_t sz = 64 + (size_t)(th_rand(&rng) % 1985);
        blocks[i] = rcgc_malloc(h, sz);
        true_bytes += (double)sz;
        double p = -expm1(-(double)sz / (double)mean);
        var_bytes += (1 / p - 1) * (double)sz * (double)sz;
        var_count += 1 / p - 1;
    }
    rcgc_snapshot *s;
    CHECK_EQ_INT(rcgc_trace_take_snapshot(h, &s), RCGC_OK);
    CHECK_EQ_U64(rcgc_snapshot_sample_mean(s), mean);
    CHECK(rcgc_snapshot_count(s) > 100 && rcgc_snapshot_count(s) < n / 4);
    rcgc_stats *st;
    CHECK_EQ_INT(rcgc_snapshot_statistics(s, RCGC_STAT_FILENAME, false, &st), RCGC_OK);
    CHECK_EQ_U64(rcgc_stats_count(st), 1);
    const rcgc_stat *x = rcgc_stats_get(st, 0);
    double eb = ((double)x->size - true_bytes) / sqrt(var_bytes);
    double ec = ((double)x->count - (double)n) / sqrt(var_count);
    printf("sampling: %zu samples, bytes %llu vs %.0f (%.2f sigma), count %llu vs %zu "
           "(%.2f sigma)\n", rcgc_snapshot_count(s), (unsigned long long)x->size, true_bytes,
           eb, (unsigned long long)x->count, n, ec);
    CHECK(fabs(eb) < 5 && fabs(ec) < 5);
    size_t cur, peak;
    rcgc_trace_get_traced_memory(h, &cur, &peak);
    CHECK(fabs((double)cur - (double)x->size) < 0.01 * (double)x->size);
    rcgc_stats_free(st);
    rcgc_snapshot_free(s);
    /* Switch to exact at run time: new blocks are all traced. */
    CHECK_EQ_INT(rcgc_trace_set_sampling(h, 0), RCGC_OK);
    void *e = rcgc_malloc(h, 10);
    CHECK(rcgc_trace_get_traceback(h, 0, (uintptr_t)e) != NULL);
    rcgc_free(h, e);
    for (size_t i = 0; i < n; i++)
        rcgc_free(h, blocks[i]);
    rcgc_trace_get_traced_memory(h, &cur, &peak);
    CHECK_EQ_U64(cur, 0);
    free(blocks);
    CHECK_HEAP(h);
    rcgc_heap_free(h);
}

/* ---- Native stacks ---------------------------------------------------- */

static const unsigned native_leaf_call = __LINE__ + 3; /* the rcgc_malloc line below */
__attribute__((noinline)) static void *native_leaf(rcgc_heap *h)
{
    void *p = rcgc_malloc(h, 100);
    __asm__ volatile("" ::: "memory");
    return p;
}

__attribute__((noinline)) static void *native_mid(rcgc_heap *h)
{
    void *p = native_leaf(h);
    __asm__ volatile("" ::: "memory");
    return p;
}

TEST(trace_native_stacks_are_unwound_and_symbolised_lazily)
{
    rcgc_heap *h = th_heap_new();
    rcgc_trace_options o;
    rcgc_trace_options_init(&o);
    o.native = true;
    o.max_frames = 16;
    CHECK_EQ_INT(rcgc_trace_start_ex(h, &o), RCGC_OK);
    void *ab[2];
    volatile int twice = 2; /* an opaque trip count: no unrolling, one call site */
    for (int i = 0; i < twice; i++)
        ab[i] = native_mid(h);
    void *a = ab[0], *b = ab[1];
    rcgc_snapshot *s;
    CHECK_EQ_INT(rcgc_trace_take_snapshot(h, &s), RCGC_OK);
    CHECK_EQ_U64(rcgc_snapshot_count(s), 2);
    rcgc_trace t, u;
    rcgc_snapshot_get(s, 0, &t);
    rcgc_snapshot_get(s, 1, &u);
    CHECK_EQ_PTR(t.traceback, u.traceback); /* interned */
    unsigned n = rcgc_traceback_nframe(t.traceback);
    CHECK(n >= 3);
    /* The most recent frame is the caller of rcgc_malloc, not the tracer. */
    rcgc_frame top = rcgc_traceback_frame(t.traceback, n - 1);
    rcgc_frame next = rcgc_traceback_frame(t.traceback, n - 2);
    printf("native top: %s %s:%u (%#lx); next: %s %s:%u\n", top.function, top.filename,
           top.lineno, (unsigned long)top.address, next.function, next.filename, next.lineno);
    CHECK(top.address != 0);
    CHECK_CONTAINS(top.function, "native_leaf");
    CHECK_CONTAINS(next.function, "native_mid");
    /* libdw's line tables give the source file and the line of the call
    ** (the return address minus one), with gcc's DWARF and with clang's,
    ** which has no .debug_aranges (unwind.c's cu_line). */
    CHECK_CONTAINS(top.filename, "test_trace.c");
    CHECK_EQ_INT(top.lineno, native_leaf_call);
    CHECK_CONTAINS(next.filename, "test_trace.c");
    CHECK(next.lineno > native_leaf_call);
    const rcgc_traceback *live = rcgc_trace_get_traceback(h, 0, (uintptr_t)a);
    CHECK(live != NULL);
    CHECK_CONTAINS(rcgc_traceback_frame(live, rcgc_traceback_nframe(live) - 1).function,
                   "native_leaf");
    rcgc_snapshot_free(s);
    rcgc_free(h, a);
    rcgc_free(h, b);
    CHECK_HEAP(h);
    rcgc_heap_free(h);
}

/* ---- Leak report ------------------------------------------------------ */

typedef struct link {
    void *next;
} link;

static int link_traverse(void *o, rcgc_visit_fn visit, void *arg)
{
    RCGC_VISIT(((link *)o)->next);
    return 0;
}

static void link_clear(void *o)
{
    RCGC_CLEAR(((link *)o)->next);
}

static const rcgc_type link_type = {"link", sizeof(link), 0, 0, link_traverse, link_clear,
                                    NULL, NULL};

TEST(trace_leak_report_groups_by_site_and_subtracts_internal_references)
{
    rcgc_heap *h = th_heap_new();
    CHECK_EQ_INT(rcgc_trace_start(h, 1), RCGC_OK);
    /* A chain head -> a1 -> a2: only the head is held from outside. */
    link *chain[3];
    for (int i = 0; i < 3; i++)
        chain[i] = rcgc_new(h, &link_type);
    chain[0]->next = chain[1]; /* the creation references move into the chain */
    chain[1]->next = chain[2];
    /* A cycle c0 <-> c1 nobody holds (the program dropped it, no collection). */
    link *c0 = rcgc_new(h, &link_type), *c1 = rcgc_new(h, &link_type);
    c0->next = c1;
    c1->next = rcgc_ref(c0);
    rcgc_unref(c0);
    char *raw = rcgc_malloc(h, 100);
    (void)raw;
    th_output_clear();
    CHECK_EQ_U64(rcgc_trace_leak_report(h), 3);
    CHECK_CONTAINS(th_output, "leak report: 6 traced block(s)");
    CHECK_CONTAINS(th_output, "3 x link, 72 B, allocated at");
    CHECK_CONTAINS(th_output, "; 1 held from outside rcgc's graph");
    CHECK_CONTAINS(th_output, "2 x link, 48 B, allocated at");
    CHECK_CONTAINS(th_output, "; all held only by other objects");
    CHECK_CONTAINS(th_output, "1 x <raw>, 100 B");
    CHECK_CONTAINS(th_output, "test_trace.c:");
    /* At heap free the same report comes out when leak_report is on. */
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.leak_report = true;
    rcgc_heap *h2 = th_heap_new_cfg(&cfg);
    CHECK_EQ_INT(rcgc_trace_start(h2, 1), RCGC_OK);
    void *keep = rcgc_new(h2, &link_type);
    (void)keep;
    th_output_clear();
    rcgc_heap_free(h2);
    CHECK_CONTAINS(th_output, "1 x link, 24 B");
    rcgc_heap_free(h);
}
