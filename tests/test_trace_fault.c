/*
** test_trace_fault.c -- fault injection on every tracing operation (STYLE.md):
** the scenario is re-run failing the 1st, 2nd, ... Nth allocation of the
** heap; after each failure the operation reports RCGC_ENOMEM (or NULL), the
** counters still add up, the heap checks clean, and stopping frees all the
** tracer's memory.
*/
#include "harness.h"

static const rcgc_type cell_type = {"cell", 32, 0, 0, NULL, NULL, NULL, NULL};

enum { NOBJ = 120, NRAW = 40, NFOREIGN = 20 };

/* One run with allocation number 'n' failing; true once no fault hit. */
static bool scenario(uint64_t n, bool native, uint64_t sample)
{
    rcgc_heap *h = th_heap_new();
    void *objs[NOBJ], *raw[NRAW];
    size_t expect = 0;
    rcgc_fault_set(h, n, n);
    rcgc_trace_options o;
    rcgc_trace_options_init(&o);
    o.max_frames = 5;
    o.native = native;
    o.sample_mean_bytes = sample;
    rcgc_status st = rcgc_trace_start_ex(h, &o);
    if (st != RCGC_OK) {
        CHECK_EQ_INT(st, RCGC_ENOMEM);
        CHECK(!rcgc_trace_is_tracing(h));
        goto done;
    }
    st = rcgc_trace_frame_push(h, "host.py", 1, "main");
    CHECK(st == RCGC_OK || st == RCGC_ENOMEM);
    st = rcgc_trace_tag_push(h, "req");
    CHECK(st == RCGC_OK || st == RCGC_ENOMEM);
    for (int i = 0; i < NOBJ; i++) {
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
    for (int i = 0; i < NOBJ; i++)
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
done:
    CHECK_HEAP(h);
    bool finished = rcgc_fault_allocations(h) < n;
    rcgc_fault_clear(h);
    rcgc_heap_free(h);
    return finished;
}

static void loop(bool native, uint64_t sample)
{
    uint64_t n = 1;
    while (!scenario(n, native, sample) && th_failures == 0)
        n++;
    printf("fault loop: %llu allocation points\n", (unsigned long long)n);
    CHECK(n > 5);
}

TEST(trace_fault_injection_exact)
{
    loop(false, 0);
}

TEST(trace_fault_injection_native)
{
    loop(true, 0);
}

TEST(trace_fault_injection_sampled)
{
    loop(false, 4096);
}
