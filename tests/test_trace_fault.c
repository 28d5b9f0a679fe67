/*
** test_trace_fault.c -- fault injection on every tracing operation (STYLE.md):
** the scenario is re-run failing the 1st, 2nd, ... Nth allocation of the
** heap; after each failure the operation reports RCGC_ENOMEM (or NULL), the
** counters still add up, the heap checks clean, and stopping frees all the
** tracer's memory, and every block of a failed allocation is back.
*/
#include <stdlib.h>

#include "harness.h"

static const rcgc_type cell_type = {"cell", 32, 0, 0, NULL, NULL, NULL, NULL};

/* Objects: 120, or 900 in the 1-frame run so that the traces table grows
** (at 768 traces) under fault injection too. */
enum { NOBJ = 900, NRAW = 40, NFOREIGN = 20 };

/* One run with allocation number 'n' failing; true once no fault hit.
** 'frames' 1 without host frames is the exact 1-frame mode's fast path. */
static bool scenario(uint64_t n, bool native, uint64_t sample, unsigned frames)
{
    rcgc_heap *h = th_heap_new();
    void **objs = calloc(NOBJ, sizeof *objs);
    void *raw[NRAW];
    CHECK(objs != NULL);
    int nobj = frames == 1 ? NOBJ : 120;
    size_t expect = 0;
    rcgc_unref(rcgc_new(h, &cell_type)); /* the type is registered */
    rcgc_mem_stats ms0, ms1;
    ms0.struct_size = ms1.struct_size = sizeof ms0;
    rcgc_mem_stats_get(h, &ms0);
    rcgc_fault_set(h, n, n);
    rcgc_trace_options o;
    rcgc_trace_options_init(&o);
    o.max_frames = frames;
    o.native = native;
    o.sample_mean_bytes = sample;
    rcgc_status st = rcgc_trace_start_ex(h, &o);
    if (st != RCGC_OK) {
        CHECK_EQ_INT(st, RCGC_ENOMEM);
        CHECK(!rcgc_trace_is_tracing(h));
        goto done;
    }
    st = frames > 1 ? rcgc_trace_frame_push(h, "host.py", 1, "main") : RCGC_OK;
    CHECK(st == RCGC_OK || st == RCGC_ENOMEM);
    st = rcgc_trace_tag_push(h, "req");
    CHECK(st == RCGC_OK || st == RCGC_ENOMEM);
    for (int i = 0; i < nobj; i++) {
        objs[i] = rcgc_new(h, &cell_type);
        if (objs[i] && !sample) {
            CHECK(rcgc_trace_get_object_traceback(h, objs[i]) != NULL);
            expect += 16 + 32;
        }
    }
    for (int i = 0; i < NRAW; i++) {
        raw[i] = rcgc_malloc(h, (size_t)(8 + i));
        if (raw[i] && !sample) {
            CHECK(rcgc_trace_get_traceback(h, 0, (uintptr_t)raw[i]) != NULL);
            expect += (size_t)(8 + i);
        }
    }
    for (int i = 0; i < NFOREIGN; i++) {
        st = rcgc_trace_track(h, 3, (uintptr_t)(0x1000 + 16 * i), 10);
        CHECK(st == RCGC_OK || st == RCGC_ENOMEM);
        if (st == RCGC_OK)
            expect += 10;
    }
    size_t cur, peak;
    rcgc_trace_get_traced_memory(h, &cur, &peak);
    if (!sample)
        CHECK_EQ_U64(cur, expect);
    CHECK_HEAP(h);
    rcgc_snapshot *s = NULL;
    st = rcgc_trace_take_snapshot(h, &s);
    CHECK(st == RCGC_OK || st == RCGC_ENOMEM);
    CHECK((st == RCGC_OK) == (s != NULL));
    if (s && !sample) {
        size_t sum = 0;
        rcgc_trace t;
        for (size_t i = 0; rcgc_snapshot_get(s, i, &t); i++)
            sum += t.size;
        CHECK_EQ_U64(sum, expect);
    }
    rcgc_snapshot_free(s);
    for (int i = 0; i < nobj; i++)
        rcgc_xunref(objs[i]);
    for (int i = 0; i < NRAW; i++)
        rcgc_free(h, raw[i]);
    for (int i = 0; i < NFOREIGN; i++)
        CHECK_EQ_INT(rcgc_trace_untrack(h, 3, (uintptr_t)(0x1000 + 16 * i)), RCGC_OK);
    rcgc_trace_get_traced_memory(h, &cur, &peak);
    CHECK_EQ_U64(cur, 0);
    rcgc_trace_clear_traces(h);
    CHECK_HEAP(h);
    rcgc_trace_tag_pop(h);
    rcgc_trace_frame_pop(h);
    rcgc_trace_stop(h);
    CHECK_EQ_U64(rcgc_trace_get_tracer_memory(h), 0);
    /* An object whose trace could not be recorded was given back. */
    rcgc_mem_stats_get(h, &ms1);
    CHECK_EQ_U64(ms1.live_blocks, ms0.live_blocks);
    CHECK_EQ_U64(ms1.live_bytes, ms0.live_bytes);
done:
    CHECK_HEAP(h);
    free(objs);
    bool finished = rcgc_fault_allocations(h) < n;
    rcgc_fault_clear(h);
    rcgc_heap_free(h);
    return finished;
}

static void loop(bool native, uint64_t sample, unsigned frames)
{
    uint64_t n = 1;
    while (!scenario(n, native, sample, frames) && th_failures == 0)
        n++;
    printf("fault loop: %llu allocation points\n", (unsigned long long)n);
    CHECK(n > 5);
}

TEST(trace_fault_injection_exact)
{
    loop(false, 0, 5);
}

TEST(trace_fault_injection_exact_one_frame)
{
    loop(false, 0, 1);
}

TEST(trace_fault_injection_native)
{
    loop(true, 0, 5);
}

TEST(trace_fault_injection_sampled)
{
    loop(false, 4096, 5);
}

/* An object made on the fast path whose trace cannot be recorded (the
** tracer's table growth fails) is unmade: rcgc_new returns NULL, and its
** block, its generation link and its counts are given back. */
static int no_refs(void *obj, rcgc_visit_fn visit, void *arg)
{
    (void)obj;
    (void)visit;
    (void)arg;
    return 0;
}
static const rcgc_type gc_cell_type = {"gccell", 32, 0, 0, no_refs, NULL, NULL, NULL};

static void record_failure(const rcgc_type *type)
{
    enum { N = 4000 };
    void **objs = malloc(N * sizeof *objs);
    CHECK(objs != NULL);
    /* A first run finds the allocation number of the tracer's own
    ** allocation made inside an rcgc_new (the traces table grows). */
    rcgc_heap *h = th_heap_new();
    void *keep = rcgc_new(h, type); /* registers the type, keeps a pool */
    CHECK_EQ_INT(rcgc_trace_start(h, 1), RCGC_OK);
    rcgc_fault_set(h, UINT64_MAX, UINT64_MAX); /* counts from 0, fails nothing */
    uint64_t fail_at = 0;
    int at = -1;
    for (int i = 0; i < N && at < 0; i++) {
        uint64_t before = rcgc_fault_allocations(h);
        objs[i] = rcgc_new(h, type);
        if (rcgc_fault_allocations(h) > before + 1) {
            at = i;
            fail_at = before + 2;
        }
    }
    CHECK(at >= 0);
    for (int i = 0; i <= at; i++)
        rcgc_unref(objs[i]);
    rcgc_unref(keep);
    rcgc_heap_free(h);
    if (at < 0) {
        free(objs);
        return;
    }
    /* The same run, that allocation failing. */
    h = th_heap_new();
    keep = rcgc_new(h, type);
    rcgc_mem_stats ms0, ms1;
    ms0.struct_size = ms1.struct_size = sizeof ms0;
    rcgc_mem_stats_get(h, &ms0);
    CHECK_EQ_INT(rcgc_trace_start(h, 1), RCGC_OK);
    size_t count0[3], count1[3];
    rcgc_gc_get_count(h, count0);
    rcgc_fault_set(h, fail_at, fail_at);
    for (int i = 0; i < at; i++)
        CHECK((objs[i] = rcgc_new(h, type)) != NULL);
    CHECK(rcgc_new(h, type) == NULL);
    rcgc_fault_clear(h);
    CHECK_HEAP(h);
    rcgc_gc_get_count(h, count1);
    CHECK_EQ_U64(count1[0], count0[0] + (type->traverse ? (size_t)at : 0));
    for (int i = 0; i < at; i++)
        rcgc_unref(objs[i]);
    rcgc_trace_stop(h);
    rcgc_mem_stats_get(h, &ms1);
    CHECK_EQ_U64(ms1.small_blocks, ms0.small_blocks);
    CHECK_EQ_U64(ms1.small_bytes, ms0.small_bytes);
    CHECK_EQ_U64(rcgc_heap_live_objects(h), 1);
    rcgc_unref(keep);
    CHECK_HEAP(h);
    rcgc_heap_free(h);
    free(objs);
}

TEST(trace_fault_unrecorded_object_is_unmade)
{
    record_failure(&cell_type);
    record_failure(&gc_cell_type);
}
