/*
** test_gc_sched.c -- when automatic collections run: thresholds and the
** generation chosen (exact counts against CPython's), the 25% rule,
** enable/disable and threshold 0, the byte trigger, the safe-point trigger,
** and a heap that stays bounded under fast cycle creation in every mode.
** PARITY scenarios 22, 23, 24, 35 and §1.3 "Collection scheduling".
*/
#include <stdlib.h>

#include "gc_testtypes.h"
#include "harness.h"
#include "heap.h"

static size_t live_objects(rcgc_heap *heap) { return heap->live_objects; }

/* A heap with automatic collection on, exact thresholds, no byte trigger. */
static rcgc_heap *auto_heap(unsigned t0, unsigned t1, unsigned t2)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = true;
    cfg.gc_threshold[0] = t0;
    cfg.gc_threshold[1] = t1;
    cfg.gc_threshold[2] = t2;
    cfg.gc_bytes_threshold = 0;
    cfg.leak_report = false;
    return th_heap_new_cfg(&cfg);
}

/* Records the generation of every automatic collection and how many
** objects the test had created when it started. */
typedef struct sched_log {
    int gen[64];
    size_t created_at[64];
    size_t n;
    size_t per_gen[3];
    size_t created; /* maintained by the test */
} sched_log;

static int log_cb(rcgc_heap *heap, rcgc_gc_phase phase, const rcgc_gc_info *info, void *ctx)
{
    (void)heap;
    sched_log *l = ctx;
    if (phase != RCGC_GC_START)
        return 0;
    if (l->n < 64) {
        l->gen[l->n] = info->generation;
        l->created_at[l->n] = l->created;
    }
    l->n++;
    if (info->generation >= 0 && info->generation < 3)
        l->per_gen[info->generation]++;
    return 0;
}

/* Keep-alive storage outside the heap (not a container). */
typedef struct keep {
    void **v;
    size_t n, cap;
} keep;

static void keep_push(keep *k, void *obj)
{
    if (k->n == k->cap) {
        k->cap = k->cap ? 2 * k->cap : 1024;
        k->v = realloc(k->v, k->cap * sizeof *k->v);
    }
    k->v[k->n++] = obj;
}

static void keep_drop(keep *k)
{
    for (size_t i = 0; i < k->n; i++)
        rcgc_unref(k->v[i]);
    free(k->v);
    k->v = NULL;
    k->n = k->cap = 0;
}

/* PARITY 22: automatic trigger. With thresholds (100,10,10) the first
** automatic collection (generation 0) starts inside the allocation that
** makes count0 exceed 100, i.e. with 100 objects alive; the counter is then
** reset, so the next starts 101 allocations later.
** PARITY.md says the 11th collection is generation 1; CPython's code (3.11
** to 3.13, gc_collect_generations) needs count1 > threshold1, i.e. 11
** generation-0 collections first, and CPython 3.11 run here logs
** [0]*11 + [1]. We match the code and the measurement: the 12th is gen 1. */
TEST(automatic_collection_starts_when_count0_exceeds_threshold)
{
    rcgc_heap *heap = auto_heap(100, 10, 10);
    tt_reset();
    sched_log log;
    memset(&log, 0, sizeof log);
    CHECK_EQ_INT(rcgc_gc_callback_add(heap, log_cb, &log), RCGC_OK);
    keep k = {0};
    while (log.n < 12) {
        tt_node *n = tt_new(heap, &tt_node_type);
        log.created++;
        keep_push(&k, n);
        if (log.created > 5000)
            break;
    }
    CHECK_EQ_U64(log.n, 12);
    CHECK_EQ_U64(log.created_at[0], 100);
    CHECK_EQ_U64(log.created_at[1], 201);
    for (int i = 0; i < 11; i++)
        CHECK_EQ_INT(log.gen[i], 0);
    CHECK_EQ_INT(log.gen[11], 1);
    CHECK_EQ_U64(log.created_at[11], 100 + 11 * 101);
    CHECK_HEAP(heap);
    keep_drop(&k);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 23: the oldest generation's 25% rule. 100,000 long-lived
** containers in generation 2 after a full collection; thresholds
** (100,1,1); 60,000 more kept-alive containers. CPython 3.13: 395 gen-0,
** 197 gen-1, 2 gen-2 (PARITY.md; about 98 gen-2 without the rule). Our
** schedule is the same code and our heap holds exactly the 100,000 objects,
** so the counts match exactly. (CPython 3.11 run here gives 396/197/1: its
** interpreter adds 11,091 objects to generation 2, which moves the
** thresholds; a model of the rule fed T = 111,091 gives 396/197/1 too.) */
TEST(full_collections_wait_for_25_percent_growth_of_generation_2)
{
    rcgc_heap *heap = th_heap_new(); /* automatic collection off */
    tt_reset();
    keep k = {0};
    for (int i = 0; i < 100000; i++)
        keep_push(&k, tt_new(heap, &tt_node_type));
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 0);
    CHECK_EQ_U64(rcgc_gc_generation_size(heap, 2), 100000);
    rcgc_gc_set_threshold(heap, 100, 1, 1);
    rcgc_gc_set_bytes_threshold(heap, 0);
    sched_log log;
    memset(&log, 0, sizeof log);
    CHECK_EQ_INT(rcgc_gc_callback_add(heap, log_cb, &log), RCGC_OK);
    CHECK(!rcgc_gc_enable(heap));
    for (int i = 0; i < 60000; i++)
        keep_push(&k, tt_new(heap, &tt_node_type));
    rcgc_gc_disable(heap);
    CHECK_EQ_U64(log.per_gen[0], 395);
    CHECK_EQ_U64(log.per_gen[1], 197);
    CHECK_EQ_U64(log.per_gen[2], 2);
    CHECK_HEAP(heap);
    keep_drop(&k);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

static int count_cb(rcgc_heap *heap, rcgc_gc_phase phase, const rcgc_gc_info *info, void *ctx)
{
    (void)heap;
    (void)info;
    if (phase == RCGC_GC_START)
        ++*(size_t *)ctx;
    return 0;
}

/* PARITY 24: disabled / threshold 0 */
TEST(disabled_gc_runs_no_automatic_collection_but_collect_still_works)
{
    rcgc_heap *heap = auto_heap(100, 10, 10);
    tt_reset();
    size_t ncollections = 0;
    rcgc_gc_callback_add(heap, count_cb, &ncollections);
    CHECK(rcgc_gc_is_enabled(heap));
    CHECK(rcgc_gc_disable(heap));
    CHECK(!rcgc_gc_disable(heap));
    CHECK(!rcgc_gc_is_enabled(heap));
    for (int i = 0; i < 10000; i++)
        rcgc_unref(tt_self_cycle(heap, &tt_node_type));
    CHECK_EQ_U64(ncollections, 0);
    CHECK_EQ_U64(tt_released, 0);
    CHECK_EQ_INT(rcgc_gc_safepoint(heap), 0); /* PyGC_Collect while disabled */
    CHECK_EQ_U64(ncollections, 0);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 10000);
    CHECK_EQ_U64(ncollections, 1);
    CHECK_EQ_U64(tt_released, 10000);
    /* Enabled, but threshold 0: no automatic collection either. */
    CHECK(!rcgc_gc_enable(heap));
    CHECK(rcgc_gc_enable(heap));
    rcgc_gc_set_threshold(heap, 0, 10, 10);
    rcgc_gc_set_bytes_threshold(heap, 1); /* the byte trigger obeys t0 = 0 too */
    unsigned th[3];
    rcgc_gc_get_threshold(heap, th);
    CHECK_EQ_INT(th[0], 0);
    CHECK_EQ_INT(th[1], 10);
    CHECK_EQ_INT(th[2], 10);
    for (int i = 0; i < 10000; i++)
        rcgc_unref(tt_self_cycle(heap, &tt_node_type));
    CHECK_EQ_U64(ncollections, 1);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 10000);
    /* Back on: collections happen again. */
    rcgc_gc_set_threshold(heap, 100, 10, 10);
    for (int i = 0; i < 1000; i++)
        rcgc_unref(tt_self_cycle(heap, &tt_node_type));
    CHECK(ncollections >= 2 + 9);
    CHECK_HEAP(heap);
    rcgc_gc_collect(heap, 2);
    CHECK_EQ_U64(live_objects(heap), 0);
    rcgc_heap_free(heap);
}

/* §1.3 "Collection scheduling": with RCGC_TRIGGER_SAFEPOINT, allocation
** only marks a collection as due; it runs at rcgc_gc_safepoint() */
TEST(safepoint_trigger_collects_only_at_the_safepoint)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = true;
    cfg.gc_threshold[0] = 10;
    cfg.gc_bytes_threshold = 0;
    cfg.gc_trigger = RCGC_TRIGGER_SAFEPOINT;
    cfg.leak_report = false;
    rcgc_heap *heap = th_heap_new_cfg(&cfg);
    tt_reset();
    size_t ncollections = 0;
    rcgc_gc_callback_add(heap, count_cb, &ncollections);
    CHECK_EQ_INT(rcgc_gc_safepoint(heap), 0); /* nothing due */
    for (int i = 0; i < 50; i++)
        rcgc_unref(tt_self_cycle(heap, &tt_node_type));
    CHECK_EQ_U64(ncollections, 0);
    CHECK_EQ_U64(tt_released, 0);
    CHECK_EQ_INT(rcgc_gc_safepoint(heap), 50);
    CHECK_EQ_U64(ncollections, 1);
    CHECK_EQ_U64(tt_released, 50);
    CHECK_EQ_INT(rcgc_gc_safepoint(heap), 0); /* served */
    CHECK_EQ_U64(ncollections, 1);
    /* Due, but disabled before the safe point: nothing runs. */
    for (int i = 0; i < 20; i++)
        rcgc_unref(tt_self_cycle(heap, &tt_node_type));
    rcgc_gc_disable(heap);
    CHECK_EQ_INT(rcgc_gc_safepoint(heap), 0);
    CHECK_EQ_U64(ncollections, 1);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 20);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* §5 "triggered by bytes": a few large garbage cycles trigger a young
** collection through the byte threshold long before count0 would */
TEST(bytes_threshold_collects_a_few_large_garbage_cycles)
{
    rcgc_heap *heap = auto_heap(100000, 10, 10);
    tt_reset();
    size_t ncollections = 0;
    rcgc_gc_callback_add(heap, count_cb, &ncollections);
    rcgc_gc_set_bytes_threshold(heap, (size_t)4 << 20);
    enum { ITEMS = 128 * 1024 }; /* 1 MiB of item slots per list */
    size_t peak = 0;
    for (int i = 0; i < 40; i++) {
        tt_list *a = tt_new_list(heap, ITEMS);
        tt_list *b = tt_new_list(heap, ITEMS);
        CHECK(a && b);
        if (!a || !b)
            break;
        a->item[ITEMS - 1] = rcgc_ref(b);
        b->item[0] = rcgc_ref(a);
        rcgc_unref(a);
        rcgc_unref(b);
        if (live_objects(heap) > peak)
            peak = live_objects(heap);
        CHECK_HEAP(heap);
    }
    /* 80 MiB of garbage in 2 MiB cycles, 4 MiB threshold: a young
    ** collection every 4 lists (20 in all, where count0 alone would have
    ** run none). Byte-triggered collections are young ones: a cycle half
    ** built when one runs has its first list promoted, and then waits in
    ** generation 1 for the next generation-1 collection (every t1 + 1 = 11
    ** young ones). Measured peak: 24 lists (24 MiB); the bound is that
    ** schedule's worst case, 2 lists per young collection for 12 of them
    ** plus the cycle being built. */
    CHECK(ncollections >= 19);
    CHECK(peak <= 2 * 12 + 2);
    CHECK(tt_released >= 80 - peak);
    /* Off again: no collection runs. */
    rcgc_gc_set_bytes_threshold(heap, 0);
    size_t before = ncollections;
    for (int i = 0; i < 10; i++) {
        tt_list *a = tt_new_list(heap, ITEMS);
        a->item[1] = rcgc_ref(a);
        rcgc_unref(a);
    }
    CHECK_EQ_U64(ncollections, before);
    rcgc_gc_collect(heap, 2);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* ------------------------------------------------------------------ */
/* PARITY 35: the heap stays bounded under fast cycle creation         */
/* ------------------------------------------------------------------ */

/* _test_gc_fast_cycles.py: a long-lived 1000-node doubly-linked list;
** repeatedly build 20-node doubly-linked lists, each also pointing at the
** long-lived one, keeping only the last 20. Tracked objects must grow by
** less than 27,000 over 20,000 iterations in every schedule we offer. */
static tt_node *make_ll(rcgc_heap *heap, int depth, tt_node *anchor)
{
    tt_node *head = tt_new(heap, &tt_node_type);
    if (anchor)
        head->slot[2] = rcgc_ref(anchor);
    for (int i = 0; i < depth; i++) {
        tt_node *n = tt_new(heap, &tt_node_type);
        n->slot[0] = head;          /* next (steals the previous head) */
        head->slot[1] = rcgc_ref(n); /* prev */
        head = n;
    }
    return head;
}

static void fast_cycles(rcgc_gc_mode mode, rcgc_gc_trigger trigger)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = true;
    cfg.gc_threshold[0] = 200;
    cfg.gc_threshold[1] = 10;
    cfg.gc_threshold[2] = 10;
    cfg.gc_mode = mode;
    cfg.gc_trigger = trigger;
    /* Incremental mode sizes an increment by the work owed, capped by what
    ** the pause budget allows at the measured cost per object. With the
    ** default 1 ms the cap depends on the machine's speed (under valgrind,
    ** 50x slower, increments fall behind the garbage); a budget no step
    ** reaches makes the owed work, i.e. the pacing, decide alone. */
    if (mode == RCGC_GC_INCREMENTAL)
        cfg.gc_pause_budget_ns = UINT64_C(3600) * 1000000000u;
    cfg.leak_report = false;
    rcgc_heap *heap = th_heap_new_cfg(&cfg);
    tt_reset();
    tt_node *longlived = make_ll(heap, 1000, NULL);
    size_t base = rcgc_gc_generation_size(heap, -1);
    tt_node *last[20] = {0};
    size_t peak = 0;
    const int iters = TT_SANITIZED ? 5000 : 20000;
    for (int i = 0; i < iters; i++) {
        RCGC_XSETREF(last[i % 20], make_ll(heap, 20, longlived));
        if (trigger == RCGC_TRIGGER_SAFEPOINT)
            rcgc_gc_safepoint(heap);
        size_t now = rcgc_gc_generation_size(heap, -1);
        if (now > peak)
            peak = now;
        if (i % 1000 == 0)
            CHECK_HEAP(heap);
    }
    CHECK(peak - base < 27000);
    CHECK_HEAP(heap);
    for (int i = 0; i < 20; i++)
        RCGC_CLEAR(last[i]);
    rcgc_unref(longlived);
    rcgc_gc_collect(heap, 2);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

TEST(fast_cycle_creation_keeps_heap_bounded_generational)
{
    fast_cycles(RCGC_GC_GENERATIONAL, RCGC_TRIGGER_ALLOC);
}

TEST(fast_cycle_creation_keeps_heap_bounded_at_safepoints)
{
    fast_cycles(RCGC_GC_GENERATIONAL, RCGC_TRIGGER_SAFEPOINT);
}

TEST(fast_cycle_creation_keeps_heap_bounded_incremental)
{
    fast_cycles(RCGC_GC_INCREMENTAL, RCGC_TRIGGER_ALLOC);
}

/* Garbage that outlives young collections (it is promoted before it dies)
** must still be reclaimed by the incremental mode's increments: the
** failure that got CPython 3.14's incremental collector reverted. */
/* 'iters' two-object cycles, each held in a window of 'n' slots until it
** is replaced n iterations later; returns the most tracked objects seen. */
static size_t window_of_cycles(rcgc_heap *heap, tt_node **win, int n, int iters)
{
    size_t peak = 0;
    for (int i = 0; i < iters; i++) {
        tt_node *a = tt_new(heap, &tt_node_type);
        tt_node *b = tt_new(heap, &tt_node_type);
        tt_link2(a, b);
        rcgc_unref(b);
        RCGC_XSETREF(win[i % n], a);
        size_t now = rcgc_gc_generation_size(heap, -1);
        if (now > peak)
            peak = now;
    }
    return peak;
}

/* Check the heap, drop the window, collect: nothing may stay alive. */
static void drop_window_and_free(rcgc_heap *heap, tt_node **win, int n)
{
    CHECK_HEAP(heap);
    for (int i = 0; i < n; i++)
        RCGC_XSETREF(win[i], NULL);
    free(win);
    rcgc_gc_collect(heap, 2);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* A heap collecting automatically in incremental mode, threshold0 200. */
static rcgc_heap *incremental_heap(void)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = true;
    cfg.gc_threshold[0] = 200;
    cfg.gc_mode = RCGC_GC_INCREMENTAL;
    cfg.leak_report = false;
    rcgc_heap *heap = th_heap_new_cfg(&cfg);
    tt_reset();
    return heap;
}

TEST(incremental_mode_reclaims_garbage_promoted_to_the_old_generation)
{
    rcgc_heap *heap = incremental_heap();
    uint64_t budget = 0;
    CHECK_EQ_INT(rcgc_gc_get_mode(heap, &budget), RCGC_GC_INCREMENTAL);
    CHECK(budget > 0);
    /* A window of 2,000 live 2-cycles; each dies after ~1,000 iterations,
    ** long after it was promoted. */
    enum { WINDOW = 2000 };
    tt_node **win = calloc(WINDOW, sizeof *win);
    size_t peak = window_of_cycles(heap, win, WINDOW, TT_SANITIZED ? 20000 : 100000);
    /* Live: 4,000 objects. Garbage waiting must stay a small multiple. */
    CHECK(peak < 4 * 2 * WINDOW + 10000);
    rcgc_gc_pauses p;
    rcgc_gc_get_pauses(heap, &p);
    CHECK(p.steps > 0);
    CHECK(p.max_ns >= p.total_ns / (p.steps ? p.steps : 1));
    drop_window_and_free(heap, win, WINDOW);
}

/* A budget too small for any increment (1 ns): every step's young
** collection uses it all, so increments wait (counted), yet every fifth
** step runs the smallest one anyway: promoted garbage is still reclaimed
** and the heap stays bounded. */
TEST(incremental_increments_wait_when_the_budget_is_spent_but_still_progress)
{
    rcgc_heap *heap = incremental_heap();
    rcgc_gc_set_mode(heap, RCGC_GC_INCREMENTAL, 1);
    enum { WINDOW = 500 };
    tt_node **win = calloc(WINDOW, sizeof *win);
    size_t peak = window_of_cycles(heap, win, WINDOW, 20000);
    CHECK(heap->gc.inc_deferred > 0);
    CHECK(heap->gc.stats[2].collected > 0); /* increments ran and reclaimed */
    CHECK(peak < 40000);                    /* 40,000 objects were made in all */
    drop_window_and_free(heap, win, WINDOW);
}

/* rcgc_gc_set_mode switches at run time and back. */
TEST(gc_mode_can_be_switched_at_run_time)
{
    rcgc_heap *heap = auto_heap(50, 10, 10);
    tt_reset();
    uint64_t budget = 0;
    CHECK_EQ_INT(rcgc_gc_get_mode(heap, NULL), RCGC_GC_GENERATIONAL);
    rcgc_gc_set_mode(heap, RCGC_GC_INCREMENTAL, 500000);
    CHECK_EQ_INT(rcgc_gc_get_mode(heap, &budget), RCGC_GC_INCREMENTAL);
    CHECK_EQ_U64(budget, 500000);
    for (int i = 0; i < 5000; i++)
        rcgc_unref(tt_self_cycle(heap, &tt_node_type));
    CHECK_HEAP(heap);
    rcgc_gc_set_mode(heap, RCGC_GC_GENERATIONAL, 0);
    CHECK_EQ_INT(rcgc_gc_get_mode(heap, NULL), RCGC_GC_GENERATIONAL);
    CHECK_HEAP(heap);
    for (int i = 0; i < 5000; i++)
        rcgc_unref(tt_self_cycle(heap, &tt_node_type));
    CHECK_HEAP(heap);
    rcgc_gc_collect(heap, 2);
    CHECK_EQ_U64(tt_released, 10000);
    CHECK_EQ_U64(live_objects(heap), 0);
    rcgc_heap_free(heap);
}
