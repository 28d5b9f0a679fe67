/*
** test_fault.c -- fault injection on every public core operation (SQLite's
** malloc loops): for N = 1, 2, ... fail allocation N (or every allocation
** from N on), run the scenario, and check that the failure surfaced as NULL
** or an error status, that the heap checks clean, and that after releasing
** everything no object is left. The loop stops at the first N the scenario
** no longer reaches. PARITY 9 applied to the core; STYLE.md "Tests".
*/
#include <stdlib.h>

#include "gc_testtypes.h"
#include "harness.h"
#include "heap.h"

static size_t live_objects(rcgc_heap *heap) { return heap->live_objects; }

/* A scenario runs on a fresh heap with faults armed; it returns how many
** failures it saw (NULL results, error statuses). It must leave nothing
** reachable but may leave garbage for the final collection. */
typedef size_t (*scenario_fn)(rcgc_heap *heap);

/* The fault the running scenario was armed with (for scenarios that re-arm
** it after a fault-free set-up). */
static uint64_t g_fault_n;
static bool g_fault_from_n_on;

/* Run 'fn' under fault injection until an N is not reached. */
static void fault_loop(const char *name, scenario_fn fn, rcgc_heap *(*mk)(void),
                       bool from_n_on)
{
    uint64_t n;
    for (n = 1; n < 100000; n++) {
        rcgc_heap *heap = mk();
        tt_reset();
        g_fault_n = n;
        g_fault_from_n_on = from_n_on;
        rcgc_fault_set(heap, n, from_n_on ? 0 : n);
        size_t failures = fn(heap);
        uint64_t attempted = rcgc_fault_allocations(heap);
        rcgc_fault_clear(heap);
        bool hit = attempted >= n;
        if (hit && failures == 0)
            th_fail(__FILE__, __LINE__, "%s: allocation %llu failed but the scenario saw "
                    "no NULL or error", name, (unsigned long long)n);
        if (!hit && failures != 0)
            th_fail(__FILE__, __LINE__, "%s: %zu failures with no injected fault (N=%llu)",
                    name, failures, (unsigned long long)n);
        if (rcgc_heap_check(heap) != RCGC_OK)
            th_fail(__FILE__, __LINE__, "%s: heap check failed after fault %llu: %s", name,
                    (unsigned long long)n, th_output);
        rcgc_gc_set_debug(heap, 0);
        rcgc_gc_garbage_clear(heap);
        rcgc_gc_collect(heap, 2);
        if (live_objects(heap) != 0 || rcgc_gc_generation_size(heap, -1) != 0)
            th_fail(__FILE__, __LINE__, "%s: %zu objects left after fault %llu", name,
                    live_objects(heap), (unsigned long long)n);
        if (rcgc_heap_check(heap) != RCGC_OK)
            th_fail(__FILE__, __LINE__, "%s: heap check failed at the end (N=%llu)", name,
                    (unsigned long long)n);
        rcgc_heap_free(heap);
        if (!hit || th_failures)
            break;
    }
    CHECK(n > 1);
    fprintf(stderr, "%s: %llu fault points\n", name, (unsigned long long)n - 1);
}

static rcgc_heap *quiet_heap(void) { return th_heap_new(); }

/* Automatic collection on, small thresholds: collections run inside
** rcgc_new while allocations fail. */
static rcgc_heap *auto_heap(void)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = true;
    cfg.gc_threshold[0] = 7;
    cfg.gc_threshold[1] = 2;
    cfg.gc_threshold[2] = 2;
    cfg.leak_report = false;
    return th_heap_new_cfg(&cfg);
}

/* ------------------------------------------------------------------ */
/* rcgc_new: many types (the type table grows), trees and cycles        */
/* ------------------------------------------------------------------ */

#define NTYPES 24
static rcgc_type g_types[NTYPES];

static void init_types(void)
{
    for (int i = 0; i < NTYPES; i++) {
        g_types[i] = (i % 3 == 2) ? tt_fin_type : tt_node_type;
        g_types[i].name = "faultnode";
    }
}

static size_t scenario_new(rcgc_heap *heap)
{
    size_t failures = 0;
    init_types();
    tt_node *root = tt_new(heap, &tt_node_type);
    if (!root)
        return 1;
    tt_node *prev = root;
    for (int i = 0; i < 120; i++) {
        tt_node *n = rcgc_new(heap, &g_types[i % NTYPES]);
        if (!n) {
            failures++;
            continue;
        }
        /* A tree hanging off root, and a cycle every 5th object. */
        RCGC_XSETREF(prev->slot[i % TT_SLOTS], n);
        if (i % 5 == 0)
            n->slot[3] = rcgc_ref(prev);
        prev = n;
        void *s = rcgc_new(heap, &tt_atom_type);
        if (!s)
            failures++;
        else
            RCGC_XSETREF(n->slot[1], s);
    }
    CHECK_HEAP(heap);
    rcgc_unref(root);
    return failures;
}

TEST(new_fails_cleanly_at_every_allocation)
{
    fault_loop("rcgc_new", scenario_new, quiet_heap, false);
}

TEST(new_fails_cleanly_from_every_allocation_on)
{
    fault_loop("rcgc_new (from N on)", scenario_new, quiet_heap, true);
}

TEST(new_fails_cleanly_with_automatic_collection)
{
    fault_loop("rcgc_new (auto gc)", scenario_new, auto_heap, false);
}

/* ------------------------------------------------------------------ */
/* rcgc_new_var: small, pool-sized, run-sized and large instances       */
/* ------------------------------------------------------------------ */

static size_t scenario_new_var(rcgc_heap *heap)
{
    static const size_t sizes[] = {0, 1, 30, 62, 63, 64, 500, 5000, 200000};
    size_t failures = 0;
    tt_list *prev = NULL;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        tt_list *l = tt_new_list(heap, sizes[i]);
        if (!l) {
            failures++;
            continue;
        }
        CHECK(rcgc_object_size(l) >= offsetof(tt_list, item) + sizes[i] * sizeof(void *));
        if (sizes[i] > 0) {
            l->item[sizes[i] - 1] = prev; /* a chain, closed into a cycle */
            prev = rcgc_ref(l);
        }
        rcgc_unref(l);
    }
    /* An impossible size fails without touching the allocator. */
    if (rcgc_new_var(heap, &tt_list_type, SIZE_MAX / 4) != NULL)
        th_fail(__FILE__, __LINE__, "a SIZE_MAX/4-item list was allocated");
    if (prev && prev->n > 0 && !prev->item[0])
        prev->item[0] = rcgc_ref(prev);
    rcgc_xunref(prev);
    return failures;
}

TEST(new_var_fails_cleanly_at_every_allocation)
{
    fault_loop("rcgc_new_var", scenario_new_var, quiet_heap, false);
}

TEST(new_var_fails_cleanly_from_every_allocation_on)
{
    fault_loop("rcgc_new_var (from N on)", scenario_new_var, quiet_heap, true);
}

/* ------------------------------------------------------------------ */
/* rcgc_gc_callback_add                                                */
/* ------------------------------------------------------------------ */

static int cb_count(rcgc_heap *heap, rcgc_gc_phase phase, const rcgc_gc_info *info, void *ctx)
{
    (void)heap;
    (void)phase;
    (void)info;
    ++*(size_t *)ctx;
    return 0;
}

static size_t scenario_callbacks(rcgc_heap *heap)
{
    size_t calls[12] = {0};
    size_t failures = 0, added = 0;
    for (int i = 0; i < 12; i++) {
        rcgc_status st = rcgc_gc_callback_add(heap, cb_count, &calls[i]);
        if (st == RCGC_OK) {
            added++;
        } else {
            CHECK_EQ_INT(st, RCGC_ENOMEM);
            failures++;
        }
    }
    rcgc_gc_collect(heap, 0);
    size_t total = 0;
    for (int i = 0; i < 12; i++)
        total += calls[i];
    CHECK_EQ_U64(total, 2 * added);
    for (int i = 0; i < 12; i++)
        rcgc_gc_callback_remove(heap, cb_count, &calls[i]);
    return failures;
}

TEST(callback_add_fails_cleanly_at_every_allocation)
{
    fault_loop("rcgc_gc_callback_add", scenario_callbacks, quiet_heap, false);
}

/* ------------------------------------------------------------------ */
/* collect with SAVEALL: appending to the garbage list                  */
/* ------------------------------------------------------------------ */

enum { SAVEALL_N = 40 };

static size_t scenario_saveall(rcgc_heap *heap)
{
    /* Build the garbage without faults, then arm them for the collect. */
    rcgc_fault_clear(heap);
    for (int i = 0; i < SAVEALL_N; i++)
        rcgc_unref(tt_self_cycle(heap, &tt_node_type));
    rcgc_gc_set_debug(heap, RCGC_GC_DEBUG_SAVEALL);
    rcgc_fault_set(heap, g_fault_n, g_fault_from_n_on ? 0 : g_fault_n);
    th_output_clear();
    long long r = rcgc_gc_collect(heap, 2);
    CHECK_EQ_INT(r, SAVEALL_N);
    size_t saved = rcgc_gc_garbage_count(heap);
    CHECK(saved <= SAVEALL_N);
    /* Everything survives: listed, or kept in the oldest generation. */
    CHECK_EQ_U64(rcgc_gc_generation_size(heap, 2), SAVEALL_N);
    CHECK_EQ_U64(tt_released, 0);
    bool reported = strstr(th_output, "out of memory appending to the garbage list") != NULL;
    CHECK(reported == (saved < SAVEALL_N));
    return saved < SAVEALL_N ? 1 : 0;
}

TEST(saveall_collect_fails_cleanly_when_the_garbage_list_cannot_grow)
{
    fault_loop("collect SAVEALL", scenario_saveall, quiet_heap, false);
}

TEST(saveall_collect_fails_cleanly_from_every_allocation_on)
{
    fault_loop("collect SAVEALL (from N on)", scenario_saveall, quiet_heap, true);
}

/* ------------------------------------------------------------------ */
/* Finalizers that allocate during a collection                         */
/* ------------------------------------------------------------------ */

static size_t g_alloc_failures;
static int allocating_finalize(void *obj)
{
    tt_node *n = obj;
    tt_finalized++;
    tt_node *x = tt_new(rcgc_heap_of(obj), &tt_node_type);
    if (!x) {
        g_alloc_failures++;
        return -1; /* reported, and the object still dies */
    }
    /* A new reference from the dying object's neighbour: harmless. */
    RCGC_XSETREF(n->slot[2], x);
    return 0;
}

static const rcgc_type alloc_fin_type = {
    "allocfin", sizeof(tt_node), 0, 0, tt_node_traverse, tt_node_clear, allocating_finalize,
    tt_node_release,
};

static size_t scenario_finalizers(rcgc_heap *heap)
{
    g_alloc_failures = 0;
    size_t failures = 0;
    for (int i = 0; i < 10; i++) {
        tt_node *a = rcgc_new(heap, &alloc_fin_type);
        tt_node *b = tt_new(heap, &tt_node_type);
        if (!a || !b) {
            failures++;
            rcgc_xunref(a);
            rcgc_xunref(b);
            continue;
        }
        tt_link2(a, b);
        rcgc_unref(a);
        rcgc_unref(b);
    }
    rcgc_gc_collect(heap, 2);
    return failures + g_alloc_failures;
}

TEST(collect_with_allocating_finalizers_fails_cleanly)
{
    fault_loop("collect with allocating finalizers", scenario_finalizers, quiet_heap, false);
}

/* ------------------------------------------------------------------ */
/* Heap creation                                                       */
/* ------------------------------------------------------------------ */

/* Page and large hooks that forward to the defaults, fail call number
** 'fail_at' (or every call from it on) and count what is outstanding. */
typedef struct hook_ctx {
    rcgc_page_hooks pages;
    rcgc_large_hooks large;
    uint64_t calls, fail_at;
    bool from_n_on;
    long reserved, large_live;
} hook_ctx;

static bool hook_fail(hook_ctx *c)
{
    c->calls++;
    return c->from_n_on ? c->calls >= c->fail_at : c->calls == c->fail_at;
}
static void *h_reserve(void *ctx, size_t bytes, size_t align)
{
    hook_ctx *c = ctx;
    if (hook_fail(c))
        return NULL;
    void *p = c->pages.reserve(c->pages.ctx, bytes, align);
    if (p)
        c->reserved++;
    return p;
}
static int h_commit(void *ctx, void *addr, size_t bytes)
{
    hook_ctx *c = ctx;
    if (hook_fail(c))
        return -1;
    return c->pages.commit(c->pages.ctx, addr, bytes);
}
static void h_decommit(void *ctx, void *addr, size_t bytes)
{
    hook_ctx *c = ctx;
    c->pages.decommit(c->pages.ctx, addr, bytes);
}
static void h_release(void *ctx, void *addr, size_t bytes)
{
    hook_ctx *c = ctx;
    c->reserved--;
    c->pages.release(c->pages.ctx, addr, bytes);
}
static void *h_malloc(void *ctx, size_t bytes)
{
    hook_ctx *c = ctx;
    if (hook_fail(c))
        return NULL;
    void *p = c->large.malloc(c->large.ctx, bytes);
    if (p)
        c->large_live++;
    return p;
}
static void *h_realloc(void *ctx, void *ptr, size_t bytes)
{
    hook_ctx *c = ctx;
    if (hook_fail(c))
        return NULL;
    void *p = c->large.realloc(c->large.ctx, ptr, bytes);
    if (p && !ptr)
        c->large_live++;
    return p;
}
static void h_free(void *ctx, void *ptr)
{
    hook_ctx *c = ctx;
    if (ptr)
        c->large_live--;
    c->large.free(c->large.ctx, ptr);
}

static void heap_creation_loop(bool from_n_on)
{
    uint64_t n;
    for (n = 1; n < 1000; n++) {
        hook_ctx c;
        memset(&c, 0, sizeof c);
        rcgc_page_hooks_default(&c.pages);
        rcgc_large_hooks_default(&c.large);
        c.fail_at = n;
        c.from_n_on = from_n_on;
        rcgc_config cfg;
        rcgc_config_init(&cfg);
        cfg.gc_enabled = false;
        cfg.region_bytes = (size_t)1 << 30;
        cfg.pages = (rcgc_page_hooks){&c, h_reserve, h_commit, h_decommit, h_release};
        cfg.large = (rcgc_large_hooks){&c, h_malloc, h_realloc, h_free};
        rcgc_heap *heap = th_heap_new_cfg(&cfg);
        bool hit = c.calls >= n;
        if (heap) {
            /* A heap that came up works: objects, a big one, a collection. */
            tt_reset();
            tt_node *a = tt_self_cycle(heap, &tt_node_type);
            tt_list *big = tt_new_list(heap, 100000);
            if (a && big) {
                a->slot[1] = big;
                rcgc_unref(a);
                CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 2);
            } else {
                rcgc_xunref(a);
                rcgc_xunref(big);
                CHECK(hit);
            }
            CHECK_HEAP(heap);
            CHECK_EQ_U64(live_objects(heap), 0);
            rcgc_heap_free(heap);
        } else {
            CHECK(hit);
        }
        CHECK_EQ_INT(c.reserved, 0);
        CHECK_EQ_INT(c.large_live, 0);
        if (!hit || th_failures)
            break;
    }
    CHECK(n > 1);
    fprintf(stderr, "heap creation%s: %llu fault points\n", from_n_on ? " (from N on)" : "",
            (unsigned long long)n - 1);
}

TEST(heap_creation_fails_cleanly_at_every_hook_call)
{
    heap_creation_loop(false);
}

TEST(heap_creation_fails_cleanly_from_every_hook_call_on)
{
    heap_creation_loop(true);
}
