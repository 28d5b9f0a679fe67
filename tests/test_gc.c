/*
** test_gc.c -- the cycle collector's results and its gc-module surface:
** basic cycles, reachable cycles, what collect() counts, generations and
** counters, SAVEALL and the garbage list, uncollectable (legacy) types,
** callbacks and their info, statistics, freeze, tracking, referrers and
** referents, visiting a generation, debug output. PARITY scenarios 18-21,
** 26-32, 34 and §1.3. Scheduling is in test_gc_sched.c, finalizers in
** test_gc_finalize.c.
*/
#include <stdlib.h>

#include "gc_testtypes.h"
#include "harness.h"
#include "heap.h"

static size_t live_objects(rcgc_heap *heap) { return heap->live_objects; }

/* ------------------------------------------------------------------ */
/* Basic cycles                                                       */
/* ------------------------------------------------------------------ */

/* PARITY 18: basic cycles (self-referencing list) */
TEST(gc_frees_self_referencing_node_and_list)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    tt_node *a = tt_self_cycle(heap, &tt_node_type);
    rcgc_unref(a);
    CHECK_EQ_U64(tt_released, 0);
    CHECK_HEAP(heap);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 1);
    CHECK_EQ_U64(tt_released, 1);
    CHECK_HEAP(heap);
    /* d[1] = d: a variable-size container holding itself */
    tt_list *l = tt_new_list(heap, 5);
    l->item[3] = rcgc_ref(l);
    rcgc_unref(l);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 1);
    CHECK_EQ_U64(tt_released, 2);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 18: basic cycles (list <-> tuple: two types) */
TEST(gc_frees_cycle_between_list_and_node)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    tt_list *l = tt_new_list(heap, 1);
    tt_node *n = tt_new(heap, &tt_node_type);
    l->item[0] = n;          /* steals */
    n->slot[2] = rcgc_ref(l);
    rcgc_unref(l);
    CHECK_HEAP(heap);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 2);
    CHECK_EQ_U64(tt_released, 2);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 18: two user objects referencing each other: both freed once */
TEST(gc_frees_two_node_cycle)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    unsigned char dead[2] = {0, 0};
    tt_dead = dead;
    tt_dead_cap = 2;
    tt_node *a = tt_new(heap, &tt_node_type);
    tt_node *b = tt_new(heap, &tt_node_type);
    a->id = 0;
    b->id = 1;
    tt_link2(a, b);
    rcgc_unref(a);
    rcgc_unref(b);
    CHECK_EQ_U64(live_objects(heap), 2);
    CHECK_HEAP(heap);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 2);
    CHECK_EQ_INT(dead[0], 1);
    CHECK_EQ_INT(dead[1], 1);
    /* clear runs to break the cycle, and again when each object dies. */
    CHECK(tt_cleared >= 2);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 19: a reachable cycle survives */
TEST(gc_keeps_cycle_reachable_from_a_root)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    tt_node *root = tt_new(heap, &tt_node_type);
    tt_node *a = tt_new(heap, &tt_node_type);
    tt_node *b = tt_new(heap, &tt_node_type);
    tt_node *c = tt_new(heap, &tt_node_type);
    a->slot[0] = b;
    b->slot[0] = c;
    c->slot[0] = rcgc_ref(a);
    root->slot[1] = a;
    for (int g = 0; g < 3; g++) {
        CHECK_EQ_INT(rcgc_gc_collect(heap, g), 0);
        CHECK_HEAP(heap);
    }
    CHECK_EQ_U64(tt_released, 0);
    CHECK_EQ_PTR(a->slot[0], b);
    CHECK_EQ_PTR(b->slot[0], c);
    CHECK_EQ_PTR(c->slot[0], a);
    CHECK_EQ_U64(rcgc_refcount(a), 2);
    /* Drop the root's reference: the next collection frees the cycle. */
    RCGC_CLEAR(root->slot[1]);
    CHECK_EQ_U64(tt_released, 0);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 3);
    CHECK_EQ_U64(tt_released, 3);
    CHECK_HEAP(heap);
    rcgc_unref(root);
    CHECK_EQ_U64(live_objects(heap), 0);
    rcgc_heap_free(heap);
}

/* PARITY 19: an object referenced only from outside any container (the
** C stack) keeps a whole cycle alive */
TEST(gc_keeps_cycle_referenced_from_the_c_stack)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    tt_node *a = tt_new(heap, &tt_node_type);
    tt_node *b = tt_new(heap, &tt_node_type);
    tt_link2(a, b);
    rcgc_unref(a); /* the only outside reference is 'b' */
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 0);
    CHECK_EQ_PTR(b->slot[0], a);
    CHECK_EQ_PTR(a->slot[0], b);
    rcgc_unref(b);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 2);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 20: count scope: a 2-cycle owning a tracked list and an untracked
** atom: the atom is freed but not counted */
TEST(gc_collect_counts_only_tracked_objects)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    tt_node *a = tt_new(heap, &tt_node_type);
    tt_node *b = tt_new(heap, &tt_node_type);
    tt_link2(a, b);
    a->slot[1] = tt_new_list(heap, 2);
    b->slot[1] = rcgc_new(heap, &tt_atom_type);
    rcgc_unref(a);
    rcgc_unref(b);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 3);
    CHECK_EQ_U64(tt_released, 4);
    CHECK_EQ_U64(live_objects(heap), 0);
    rcgc_gc_stats st;
    rcgc_gc_get_stats(heap, 2, &st);
    CHECK_EQ_U64(st.collected, 3);
    CHECK_EQ_U64(st.uncollectable, 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* ------------------------------------------------------------------ */
/* Generations, counters, statistics                                   */
/* ------------------------------------------------------------------ */

typedef struct find_ctx {
    const void *target;
    int found;
    int visited;
} find_ctx;

static int find_cb(void *obj, void *arg)
{
    find_ctx *f = arg;
    f->visited++;
    if (obj == f->target)
        f->found++;
    return 0;
}

static int in_generation(rcgc_heap *heap, int g, const void *obj)
{
    find_ctx f = {obj, 0, 0};
    CHECK_EQ_INT(rcgc_gc_visit_objects(heap, g, find_cb, &f), 0);
    return f.found;
}

static void check_count(rcgc_heap *heap, size_t c0, size_t c1, size_t c2)
{
    size_t c[3];
    rcgc_gc_get_count(heap, c);
    CHECK_EQ_U64(c[0], c0);
    CHECK_EQ_U64(c[1], c1);
    CHECK_EQ_U64(c[2], c2);
}

/* PARITY 21: generations and counters */
TEST(survivors_move_up_one_generation_and_counters_follow)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    check_count(heap, 0, 0, 0);
    tt_node *a = tt_new(heap, &tt_node_type);
    check_count(heap, 1, 0, 0);
    CHECK_EQ_INT(in_generation(heap, 0, a), 1);
    CHECK_EQ_INT(in_generation(heap, 1, a), 0);
    CHECK_EQ_U64(rcgc_gc_generation_size(heap, 0), 1);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 0), 0);
    CHECK_EQ_INT(in_generation(heap, 0, a), 0);
    CHECK_EQ_INT(in_generation(heap, 1, a), 1);
    check_count(heap, 0, 1, 0);
    CHECK_HEAP(heap);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 1), 0);
    CHECK_EQ_INT(in_generation(heap, 1, a), 0);
    CHECK_EQ_INT(in_generation(heap, 2, a), 1);
    check_count(heap, 0, 0, 1);
    CHECK_HEAP(heap);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 0);
    CHECK_EQ_INT(in_generation(heap, 2, a), 1);
    CHECK_EQ_U64(rcgc_gc_generation_size(heap, 2), 1);
    CHECK_EQ_U64(rcgc_gc_generation_size(heap, -1), 1);
    check_count(heap, 0, 0, 0);
    CHECK_HEAP(heap);
    /* count0 is net: a new container counts, its death uncounts it. */
    tt_node *b = tt_new(heap, &tt_node_type);
    tt_node *s = rcgc_new(heap, &tt_atom_type); /* atoms never count */
    check_count(heap, 1, 0, 0);
    rcgc_unref(b);
    rcgc_unref(s);
    check_count(heap, 0, 0, 0);
    rcgc_unref(a);
    CHECK_EQ_U64(rcgc_gc_generation_size(heap, -1), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 21: collect(g) merges the younger generations into g */
TEST(collect_of_an_older_generation_takes_the_younger_ones)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    tt_node *a = tt_self_cycle(heap, &tt_node_type);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 0), 0); /* a: gen 1 */
    tt_node *b = tt_self_cycle(heap, &tt_node_type); /* gen 0 */
    rcgc_unref(a);
    rcgc_unref(b);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 0), 1); /* only b */
    CHECK_EQ_U64(tt_released, 1);
    tt_node *c = tt_self_cycle(heap, &tt_node_type);
    rcgc_unref(c);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 1), 2); /* a (gen 1) and c (gen 0) */
    CHECK_EQ_U64(tt_released, 3);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* rcgc.h: invalid generations */
TEST(collect_rejects_an_invalid_generation)
{
    rcgc_heap *heap = th_heap_new();
    CHECK_EQ_INT(rcgc_gc_collect(heap, -1), -(long long)RCGC_EINVAL);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 3), -(long long)RCGC_EINVAL);
    CHECK_EQ_INT(rcgc_gc_visit_objects(heap, 4, find_cb, NULL), -(int)RCGC_EINVAL);
    CHECK_EQ_INT(rcgc_gc_visit_objects(heap, -2, find_cb, NULL), -(int)RCGC_EINVAL);
    CHECK_EQ_U64(rcgc_gc_generation_size(heap, 7), 0);
    rcgc_gc_stats st;
    memset(&st, 0xAB, sizeof st);
    rcgc_gc_get_stats(heap, 5, &st);
    CHECK_EQ_U64(st.collections, 0);
    for (int g = 0; g < 3; g++) {
        rcgc_gc_get_stats(heap, g, &st);
        CHECK_EQ_U64(st.collections, 0);
    }
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 29: get_stats: only the collected generation's entry moves */
TEST(stats_count_collections_of_each_generation)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    rcgc_gc_stats st[3];
    tt_node *keep = tt_new(heap, &tt_node_type);
    rcgc_unref(tt_self_cycle(heap, &tt_node_type));
    CHECK_EQ_INT(rcgc_gc_collect(heap, 0), 1);
    for (int g = 0; g < 3; g++)
        rcgc_gc_get_stats(heap, g, &st[g]);
    CHECK_EQ_U64(st[0].collections, 1);
    CHECK_EQ_U64(st[0].collected, 1);
    CHECK_EQ_U64(st[0].candidates, 2);
    CHECK_EQ_U64(st[1].collections, 0);
    CHECK_EQ_U64(st[2].collections, 0);
    CHECK(st[0].max_pause_ns <= st[0].duration_ns);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 0);
    for (int g = 0; g < 3; g++)
        rcgc_gc_get_stats(heap, g, &st[g]);
    CHECK_EQ_U64(st[0].collections, 1);
    CHECK_EQ_U64(st[1].collections, 0);
    CHECK_EQ_U64(st[2].collections, 1);
    CHECK_EQ_U64(st[2].collected, 0);
    CHECK_EQ_U64(st[2].candidates, 1);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 1), 0);
    for (int g = 0; g < 3; g++)
        rcgc_gc_get_stats(heap, g, &st[g]);
    CHECK_EQ_U64(st[1].collections, 1);
    CHECK_EQ_U64(st[1].candidates, 0); /* keep is in gen 2 */
    rcgc_unref(keep);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* ------------------------------------------------------------------ */
/* SAVEALL and the garbage list                                        */
/* ------------------------------------------------------------------ */

/* PARITY 26: SAVEALL */
TEST(saveall_appends_garbage_instead_of_freeing_it)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    rcgc_gc_set_debug(heap, RCGC_GC_DEBUG_SAVEALL);
    CHECK_EQ_U64(rcgc_gc_get_debug(heap), RCGC_GC_DEBUG_SAVEALL);
    tt_node *a = tt_self_cycle(heap, &tt_node_type);
    rcgc_unref(a);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 1);
    CHECK_EQ_U64(rcgc_gc_garbage_count(heap), 1);
    CHECK_EQ_PTR(rcgc_gc_garbage_get(heap, 0), a);
    CHECK_EQ_PTR(rcgc_gc_garbage_get(heap, 1), NULL);
    CHECK_EQ_PTR(a->slot[0], a); /* not cleared */
    CHECK_EQ_U64(tt_cleared, 0);
    CHECK_EQ_U64(tt_released, 0);
    CHECK_EQ_U64(rcgc_refcount(a), 2); /* its cycle + the garbage list */
    CHECK(rcgc_is_tracked(a));
    CHECK_HEAP(heap);
    rcgc_gc_set_debug(heap, 0);
    rcgc_gc_garbage_clear(heap);
    CHECK_EQ_U64(rcgc_gc_garbage_count(heap), 0);
    CHECK_EQ_U64(tt_released, 0);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 1);
    CHECK_EQ_U64(tt_released, 1);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 27: legacy finalizer (tp_del) cycle: U in a self-cycle owning a
** self-referencing list: collect() returns 2, garbage == [U]; neither the
** finalizer nor clear runs */
TEST(uncollectable_type_in_cycle_goes_to_garbage)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    tt_node *u = tt_self_cycle(heap, &tt_legacy_type);
    tt_list *l = tt_new_list(heap, 1);
    l->item[0] = rcgc_ref(l);
    u->slot[1] = l;
    rcgc_unref(u);
    rcgc_gc_stats before, after;
    rcgc_gc_get_stats(heap, 2, &before);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 2);
    rcgc_gc_get_stats(heap, 2, &after);
    CHECK_EQ_U64(after.uncollectable - before.uncollectable, 2);
    CHECK_EQ_U64(after.collected - before.collected, 0);
    CHECK_EQ_U64(rcgc_gc_garbage_count(heap), 1);
    CHECK_EQ_PTR(rcgc_gc_garbage_get(heap, 0), u);
    CHECK_EQ_U64(tt_finalized, 0);
    CHECK_EQ_U64(tt_cleared, 0);
    CHECK_EQ_U64(tt_released, 0);
    CHECK_EQ_PTR(u->slot[0], u);
    CHECK_EQ_PTR(u->slot[1], l);
    CHECK_EQ_PTR(l->item[0], l);
    CHECK_HEAP(heap);
    /* The garbage list's reference is an outside one: a second collection
    ** sees the cycle as reachable and lists nothing again. */
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 0);
    CHECK_EQ_U64(rcgc_gc_garbage_count(heap), 1);
    CHECK_HEAP(heap);
    /* Break the cycle by hand: both die. */
    rcgc_ref(u);
    rcgc_gc_garbage_clear(heap);
    CHECK_EQ_U64(rcgc_refcount(u), 2);
    RCGC_CLEAR(u->slot[0]);
    rcgc_unref(u); /* refcount path: U dies, and its finalizer runs there */
    CHECK_EQ_U64(tt_finalized, 1);
    CHECK_EQ_U64(tt_released, 1);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 1); /* the list's self-cycle */
    CHECK_EQ_U64(tt_released, 2);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 27: everything reachable from an uncollectable object survives,
** even plain garbage cycles hanging off it */
TEST(garbage_reachable_from_an_uncollectable_object_is_kept_intact)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    tt_node *u = tt_self_cycle(heap, &tt_legacy_type);
    tt_node *a = tt_new(heap, &tt_fin_type);
    tt_node *b = tt_new(heap, &tt_node_type);
    tt_link2(a, b);
    u->slot[1] = a;
    rcgc_unref(b);
    rcgc_unref(u);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 3);
    CHECK_EQ_U64(rcgc_gc_garbage_count(heap), 1);
    CHECK_EQ_U64(tt_finalized, 0);
    CHECK_EQ_U64(tt_cleared, 0);
    CHECK_EQ_PTR(a->slot[0], b);
    CHECK_EQ_PTR(b->slot[0], a);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* ------------------------------------------------------------------ */
/* Callbacks                                                          */
/* ------------------------------------------------------------------ */

typedef struct cb_rec {
    int who;
    rcgc_gc_phase phase;
    rcgc_gc_info info;
    size_t garbage;
    bool collecting;
} cb_rec;

static cb_rec g_calls[32];
static int g_ncalls;

typedef struct cb_cfg {
    int who;
    int fail;          /* return an error */
    int clear_garbage; /* clear the garbage list in STOP */
} cb_cfg;

static int record_cb(rcgc_heap *heap, rcgc_gc_phase phase, const rcgc_gc_info *info,
                     void *ctx)
{
    cb_cfg *c = ctx;
    if (g_ncalls < 32) {
        cb_rec *r = &g_calls[g_ncalls++];
        r->who = c->who;
        r->phase = phase;
        r->info = *info;
        r->garbage = rcgc_gc_garbage_count(heap);
        r->collecting = rcgc_gc_is_collecting(heap);
    }
    if (phase == RCGC_GC_STOP && c->clear_garbage)
        rcgc_gc_garbage_clear(heap);
    return c->fail;
}

/* PARITY 28: callbacks */
TEST(callbacks_see_start_and_stop_with_collection_info)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    g_ncalls = 0;
    cb_cfg c1 = {1, 0, 0}, c2 = {2, 0, 0};
    CHECK_EQ_INT(rcgc_gc_callback_add(heap, record_cb, &c1), RCGC_OK);
    CHECK_EQ_INT(rcgc_gc_callback_add(heap, record_cb, &c2), RCGC_OK);
    CHECK_EQ_INT(rcgc_gc_callback_add(heap, NULL, NULL), RCGC_EINVAL);
    /* 2 uncollectable pairs + 1 plain self-cycle */
    for (int i = 0; i < 2; i++) {
        tt_node *a = tt_new(heap, &tt_legacy_type);
        tt_node *b = tt_new(heap, &tt_legacy_type);
        tt_link2(a, b);
        rcgc_unref(a);
        rcgc_unref(b);
    }
    rcgc_unref(tt_self_cycle(heap, &tt_node_type));
    tt_node *keep = tt_new(heap, &tt_node_type);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 5);
    CHECK_EQ_INT(g_ncalls, 4);
    int whos[4] = {1, 2, 1, 2};
    for (int i = 0; i < 4 && i < g_ncalls; i++) {
        CHECK_EQ_INT(g_calls[i].who, whos[i]);
        CHECK_EQ_INT(g_calls[i].phase, i < 2 ? RCGC_GC_START : RCGC_GC_STOP);
        CHECK_EQ_INT(g_calls[i].info.generation, 2);
        CHECK(g_calls[i].collecting);
    }
    CHECK_EQ_U64(g_calls[0].info.collected, 0);
    CHECK_EQ_U64(g_calls[0].info.uncollectable, 0);
    CHECK_EQ_U64(g_calls[0].info.candidates, 0);
    CHECK_EQ_U64(g_calls[0].info.duration_ns, 0);
    CHECK_EQ_U64(g_calls[0].garbage, 0);
    CHECK_EQ_U64(g_calls[2].info.collected, 1);
    CHECK_EQ_U64(g_calls[2].info.uncollectable, 4);
    CHECK_EQ_U64(g_calls[2].info.candidates, 6);
    CHECK_EQ_U64(g_calls[2].garbage, 4);
    CHECK_EQ_U64(rcgc_gc_garbage_count(heap), 4);
    CHECK(!rcgc_gc_is_collecting(heap));
    /* A generation-0 collection reports generation 0. */
    g_ncalls = 0;
    CHECK_EQ_INT(rcgc_gc_collect(heap, 0), 0);
    CHECK_EQ_INT(g_ncalls, 4);
    CHECK_EQ_INT(g_calls[3].info.generation, 0);
    /* Removed callbacks are not called. */
    CHECK_EQ_INT(rcgc_gc_callback_remove(heap, record_cb, &c1), RCGC_OK);
    CHECK_EQ_INT(rcgc_gc_callback_remove(heap, record_cb, &c1), RCGC_ENOTFOUND);
    g_ncalls = 0;
    rcgc_gc_collect(heap, 0);
    CHECK_EQ_INT(g_ncalls, 2);
    CHECK_EQ_INT(g_calls[0].who, 2);
    rcgc_unref(keep);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 28: a callback that clears the garbage list in STOP leaves it
** empty; a failing callback is reported and the others still run */
TEST(callback_errors_are_reported_and_others_still_run)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    g_ncalls = 0;
    cb_cfg bad = {1, 1, 0}, good = {2, 0, 1};
    CHECK_EQ_INT(rcgc_gc_callback_add(heap, record_cb, &bad), RCGC_OK);
    CHECK_EQ_INT(rcgc_gc_callback_add(heap, record_cb, &good), RCGC_OK);
    tt_node *u = tt_self_cycle(heap, &tt_legacy_type);
    rcgc_unref(u);
    rcgc_unref(tt_self_cycle(heap, &tt_node_type));
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 2);
    CHECK_EQ_INT(g_ncalls, 4);
    CHECK_EQ_INT(g_calls[3].who, 2);
    CHECK_EQ_U64(g_calls[3].garbage, 1);
    CHECK_EQ_U64(rcgc_gc_garbage_count(heap), 0);
    CHECK_CONTAINS(th_output, "error ignored while calling a gc callback (phase start)");
    CHECK_CONTAINS(th_output, "error ignored while calling a gc callback (phase stop)");
    CHECK_EQ_U64(tt_released, 1);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* ------------------------------------------------------------------ */
/* Freeze                                                             */
/* ------------------------------------------------------------------ */

/* PARITY 30: freeze */
TEST(frozen_cycles_are_not_collected_until_unfreeze)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    tt_node *a = tt_new(heap, &tt_node_type);
    tt_node *b = tt_new(heap, &tt_node_type);
    tt_link2(a, b);
    tt_node *c = tt_new(heap, &tt_node_type);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 0), 0); /* c, a, b in gen 1 */
    tt_node *d = tt_new(heap, &tt_node_type);  /* gen 0 */
    CHECK_EQ_U64(rcgc_gc_get_freeze_count(heap), 0);
    rcgc_gc_freeze(heap);
    CHECK_EQ_U64(rcgc_gc_get_freeze_count(heap), 4);
    check_count(heap, 0, 0, 0);
    CHECK_EQ_U64(rcgc_gc_generation_size(heap, -1), 0);
    CHECK_EQ_INT(in_generation(heap, RCGC_GC_FROZEN, d), 1);
    CHECK_EQ_INT(in_generation(heap, -1, d), 0);
    CHECK(rcgc_is_tracked(a));
    CHECK_HEAP(heap);
    rcgc_unref(a);
    rcgc_unref(b);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 0);
    CHECK_EQ_U64(tt_released, 0);
    /* Frozen objects still die by refcount. */
    rcgc_unref(c);
    CHECK_EQ_U64(tt_released, 1);
    CHECK_EQ_U64(rcgc_gc_get_freeze_count(heap), 3);
    CHECK_HEAP(heap);
    rcgc_gc_unfreeze(heap);
    CHECK_EQ_U64(rcgc_gc_get_freeze_count(heap), 0);
    CHECK_EQ_U64(rcgc_gc_generation_size(heap, 2), 3);
    CHECK_EQ_INT(in_generation(heap, 2, d), 1);
    CHECK_HEAP(heap);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 2);
    CHECK_EQ_U64(tt_released, 3);
    rcgc_unref(d);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* ------------------------------------------------------------------ */
/* Tracking                                                           */
/* ------------------------------------------------------------------ */

/* PARITY 31: tracking. Atomic objects are never tracked; empty containers
** are. (CPython's tuple/dict untracking optimisations are object-model
** specific: a C type opts out by untracking itself with rcgc_untrack.) */
TEST(atomic_objects_are_never_tracked_and_containers_always)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    void *s = rcgc_new(heap, &tt_atom_type);
    void *o = rcgc_new(heap, &tt_opaque_type);
    tt_node *n = tt_new(heap, &tt_node_type);
    tt_list *l = tt_new_list(heap, 0);
    CHECK(!rcgc_is_tracked(s));
    CHECK(!rcgc_is_tracked(o));
    CHECK(rcgc_is_tracked(n));
    CHECK(rcgc_is_tracked(l));
    CHECK_EQ_U64(rcgc_gc_generation_size(heap, 0), 2);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 0);
    CHECK(!rcgc_is_tracked(s));
    CHECK(rcgc_is_tracked(n));
    CHECK(rcgc_is_tracked(l));
    CHECK_EQ_PTR(rcgc_type_of(s), &tt_atom_type);
    CHECK_EQ_PTR(rcgc_type_of(l), &tt_list_type);
    CHECK(rcgc_object_size(n) >= sizeof(tt_node));
    CHECK(rcgc_object_size(s) >= 24);
    rcgc_unref(s);
    rcgc_unref(o);
    rcgc_unref(n);
    rcgc_unref(l);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 31 / 1.3 C container protocol: an untracked cycle is invisible to
** the collector until it is tracked again */
TEST(untracked_cycle_is_not_collected_until_tracked_again)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    tt_node *a = tt_new(heap, &tt_node_type);
    tt_node *b = tt_new(heap, &tt_node_type);
    tt_link2(a, b);
    rcgc_untrack(a);
    CHECK(!rcgc_is_tracked(a));
    CHECK_EQ_U64(rcgc_gc_generation_size(heap, -1), 1);
    rcgc_unref(a);
    rcgc_unref(b);
    /* b is referenced by untracked a: that reference counts as outside. */
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 0);
    CHECK_EQ_U64(tt_released, 0);
    CHECK_HEAP(heap);
    rcgc_track(a);
    CHECK_EQ_INT(in_generation(heap, 0, a), 1);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 2);
    CHECK_EQ_U64(tt_released, 2);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* ------------------------------------------------------------------ */
/* Referents, referrers, visiting                                      */
/* ------------------------------------------------------------------ */

typedef struct collect_ctx {
    void *seen[8];
    int n;
    int stop_after;
} collect_ctx;

static int collect_cb(void *obj, void *arg)
{
    collect_ctx *c = arg;
    if (c->n < 8)
        c->seen[c->n] = obj;
    c->n++;
    return c->stop_after && c->n >= c->stop_after ? 42 : 0;
}

static int seen(collect_ctx *c, const void *obj)
{
    int k = 0;
    for (int i = 0; i < c->n && i < 8; i++)
        k += c->seen[i] == obj;
    return k;
}

/* PARITY 32: referents and referrers */
TEST(referents_and_referrers_follow_traverse)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    void *one = rcgc_new(heap, &tt_atom_type);
    void *three = rcgc_new(heap, &tt_atom_type);
    void *five = rcgc_new(heap, &tt_atom_type);
    tt_list *l = tt_new_list(heap, 3);
    l->item[0] = one;
    l->item[1] = three;
    l->item[2] = five;
    collect_ctx c = {{0}, 0, 0};
    CHECK_EQ_INT(rcgc_gc_get_referents(l, collect_cb, &c), 0);
    CHECK_EQ_INT(c.n, 3);
    CHECK_EQ_INT(seen(&c, one), 1);
    CHECK_EQ_INT(seen(&c, three), 1);
    CHECK_EQ_INT(seen(&c, five), 1);
    /* Atoms have no referents. */
    c.n = 0;
    CHECK_EQ_INT(rcgc_gc_get_referents(one, collect_cb, &c), 0);
    CHECK_EQ_INT(c.n, 0);
    /* b = [a]: b is a referrer of a; so is the frozen f. */
    tt_node *a = tt_new(heap, &tt_node_type);
    tt_node *b = tt_new(heap, &tt_node_type);
    b->slot[3] = rcgc_ref(a);
    tt_node *f = tt_new(heap, &tt_node_type);
    f->slot[0] = rcgc_ref(a);
    f->slot[1] = rcgc_ref(a);
    tt_node *other = tt_new(heap, &tt_node_type);
    other->slot[0] = rcgc_ref(one);
    rcgc_gc_freeze(heap);
    c.n = 0;
    CHECK_EQ_INT(rcgc_gc_get_referrers(heap, a, collect_cb, &c), 0);
    CHECK_EQ_INT(c.n, 2); /* f listed once although it holds a twice */
    CHECK_EQ_INT(seen(&c, b), 1);
    CHECK_EQ_INT(seen(&c, f), 1);
    c.n = 0;
    CHECK_EQ_INT(rcgc_gc_get_referrers(heap, one, collect_cb, &c), 0);
    CHECK_EQ_INT(c.n, 2);
    CHECK_EQ_INT(seen(&c, l), 1);
    CHECK_EQ_INT(seen(&c, other), 1);
    /* A non-zero result stops the walk and is returned. */
    c.n = 0;
    c.stop_after = 1;
    CHECK_EQ_INT(rcgc_gc_get_referrers(heap, one, collect_cb, &c), 42);
    CHECK_EQ_INT(c.n, 1);
    c.n = 0;
    CHECK_EQ_INT(rcgc_gc_get_referents(l, collect_cb, &c), 42);
    CHECK_EQ_INT(c.n, 1);
    rcgc_gc_unfreeze(heap);
    rcgc_unref(a);
    rcgc_unref(b);
    rcgc_unref(f);
    rcgc_unref(other);
    rcgc_unref(l);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 1.3 get_objects(generation) / heap walking */
TEST(visit_objects_walks_one_generation_or_all)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    tt_node *g2 = tt_new(heap, &tt_node_type);
    rcgc_gc_collect(heap, 1);
    tt_node *g1 = tt_new(heap, &tt_node_type);
    rcgc_gc_collect(heap, 0);
    tt_node *g0a = tt_new(heap, &tt_node_type);
    tt_node *g0b = tt_new(heap, &tt_node_type);
    void *atom = rcgc_new(heap, &tt_atom_type);
    collect_ctx c = {{0}, 0, 0};
    CHECK_EQ_INT(rcgc_gc_visit_objects(heap, 0, collect_cb, &c), 0);
    CHECK_EQ_INT(c.n, 2);
    CHECK_EQ_INT(seen(&c, g0a) + seen(&c, g0b), 2);
    c.n = 0;
    CHECK_EQ_INT(rcgc_gc_visit_objects(heap, 1, collect_cb, &c), 0);
    CHECK_EQ_INT(c.n, 1);
    CHECK_EQ_INT(seen(&c, g1), 1);
    c.n = 0;
    CHECK_EQ_INT(rcgc_gc_visit_objects(heap, 2, collect_cb, &c), 0);
    CHECK_EQ_INT(c.n, 1);
    CHECK_EQ_INT(seen(&c, g2), 1);
    c.n = 0;
    CHECK_EQ_INT(rcgc_gc_visit_objects(heap, -1, collect_cb, &c), 0);
    CHECK_EQ_INT(c.n, 4);
    CHECK_EQ_INT(seen(&c, atom), 0);
    c.n = 0;
    CHECK_EQ_INT(rcgc_gc_visit_objects(heap, RCGC_GC_FROZEN, collect_cb, &c), 0);
    CHECK_EQ_INT(c.n, 0);
    c.n = 0;
    c.stop_after = 3;
    CHECK_EQ_INT(rcgc_gc_visit_objects(heap, -1, collect_cb, &c), 42);
    CHECK_EQ_INT(c.n, 3);
    CHECK_EQ_U64(rcgc_gc_generation_size(heap, 0), 2);
    CHECK_EQ_U64(rcgc_gc_generation_size(heap, 1), 1);
    CHECK_EQ_U64(rcgc_gc_generation_size(heap, 2), 1);
    rcgc_unref(g0a);
    rcgc_unref(g0b);
    rcgc_unref(g1);
    rcgc_unref(g2);
    rcgc_unref(atom);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* ------------------------------------------------------------------ */
/* Debug output                                                       */
/* ------------------------------------------------------------------ */

/* PARITY 1.3 set_debug: CPython's log lines through the output hook */
TEST(debug_flags_write_cpythons_log_lines)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    tt_node *frozen = tt_new(heap, &tt_node_type);
    rcgc_gc_freeze(heap); /* one object in the permanent generation */
    tt_node *keep = tt_new(heap, &tt_node_type);
    tt_node *g = tt_self_cycle(heap, &tt_node_type);
    tt_node *u = tt_self_cycle(heap, &tt_legacy_type);
    char gline[128], uline[128];
    snprintf(gline, sizeof gline, "gc: collectable <node %p>\n", (void *)g);
    snprintf(uline, sizeof uline, "gc: uncollectable <legacy %p>\n", (void *)u);
    rcgc_unref(g);
    rcgc_unref(u);
    rcgc_gc_set_debug(heap, RCGC_GC_DEBUG_STATS | RCGC_GC_DEBUG_COLLECTABLE |
                                RCGC_GC_DEBUG_UNCOLLECTABLE);
    th_output_clear();
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 2);
    CHECK_CONTAINS(th_output, "gc: collecting generation 2...\n");
    CHECK_CONTAINS(th_output, "gc: objects in each generation: 3 0 0\n");
    CHECK_CONTAINS(th_output, "gc: objects in permanent generation: 1\n");
    CHECK_CONTAINS(th_output, gline);
    CHECK_CONTAINS(th_output, uline);
    CHECK_CONTAINS(th_output, "gc: done, 2 unreachable, 1 uncollectable, ");
    CHECK_CONTAINS(th_output, "s elapsed\n");
    /* The uncollectable object is not listed as collectable. */
    snprintf(uline, sizeof uline, "gc: collectable <legacy %p>", (void *)u);
    CHECK(strstr(th_output, uline) == NULL);
    /* Without DEBUG_STATS no statistics lines. */
    rcgc_gc_garbage_clear(heap);
    rcgc_gc_set_debug(heap, RCGC_GC_DEBUG_COLLECTABLE);
    th_output_clear();
    rcgc_gc_collect(heap, 0);
    CHECK(strstr(th_output, "gc: collecting") == NULL);
    CHECK(strstr(th_output, "gc: done") == NULL);
    /* DEBUG_LEAK = COLLECTABLE | UNCOLLECTABLE | SAVEALL: garbage is kept
    ** and logged. */
    rcgc_gc_set_debug(heap, RCGC_GC_DEBUG_LEAK);
    CHECK_EQ_U64(rcgc_gc_get_debug(heap), 38);
    tt_node *h = tt_self_cycle(heap, &tt_node_type);
    snprintf(gline, sizeof gline, "gc: collectable <node %p>\n", (void *)h);
    rcgc_unref(h);
    th_output_clear();
    size_t before = rcgc_gc_garbage_count(heap);
    CHECK(rcgc_gc_collect(heap, 2) >= 1);
    CHECK_CONTAINS(th_output, gline);
    CHECK(rcgc_gc_garbage_count(heap) > before);
    CHECK_EQ_U64(tt_released, 1); /* g, in the first collection; not h */
    rcgc_gc_set_debug(heap, 0);
    rcgc_unref(keep);
    rcgc_gc_unfreeze(heap);
    rcgc_unref(frozen);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 34 (boom): the collector consults only traverse/clear/finalize;
** a clear that mutates the rest of the garbage (here: empties its
** neighbour, which then dies mid-collection) is handled, and nothing is
** added to the garbage list. */
static void boom_clear(void *obj)
{
    tt_node *n = obj;
    tt_node *other = n->slot[0];
    tt_cleared++;
    if (other) {
        /* Break the neighbour's fields first (the cycle goes away) ... */
        for (int i = 0; i < TT_SLOTS; i++)
            RCGC_CLEAR(other->slot[i]);
    }
    for (int i = 0; i < TT_SLOTS; i++)
        RCGC_CLEAR(n->slot[i]);
}

static const rcgc_type boom_type = {
    "boom", sizeof(tt_node), 0, 0, tt_node_traverse, boom_clear, NULL, tt_node_release,
};

TEST(clear_that_mutates_other_garbage_is_survived)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    for (int k = 0; k < 3; k++) {
        tt_node *a = tt_new(heap, &boom_type);
        tt_node *b = tt_new(heap, &boom_type);
        tt_link2(a, b);
        if (k == 2) {
            tt_node *c = tt_new(heap, &boom_type);
            b->slot[1] = rcgc_ref(c);
            c->slot[0] = rcgc_ref(a);
            rcgc_unref(c);
        }
        rcgc_unref(a);
        rcgc_unref(b);
    }
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 7);
    CHECK_EQ_U64(tt_released, 7);
    CHECK_EQ_U64(rcgc_gc_garbage_count(heap), 0);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 25 for callbacks: a collection requested from a gc callback
** returns 0; objects a callback creates are young and survive. */
static long long g_cb_inner = -1;
static tt_node *g_cb_made;
static int collecting_cb(rcgc_heap *heap, rcgc_gc_phase phase, const rcgc_gc_info *info,
                         void *ctx)
{
    (void)info;
    (void)ctx;
    g_cb_inner = rcgc_gc_collect(heap, 2);
    if (phase == RCGC_GC_STOP && !g_cb_made)
        g_cb_made = tt_self_cycle(heap, &tt_node_type);
    return 0;
}

TEST(collect_inside_a_gc_callback_returns_zero)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    g_cb_made = NULL;
    CHECK_EQ_INT(rcgc_gc_callback_add(heap, collecting_cb, NULL), RCGC_OK);
    rcgc_unref(tt_self_cycle(heap, &tt_node_type));
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 1);
    CHECK_EQ_INT(g_cb_inner, 0);
    CHECK(g_cb_made != NULL);
    CHECK_EQ_INT(in_generation(heap, 0, g_cb_made), 1);
    CHECK_HEAP(heap);
    rcgc_gc_callback_remove(heap, collecting_cb, NULL);
    rcgc_unref(g_cb_made);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 0), 1);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 27 / §1.4 (b): an uncollectable (legacy) object that is garbage
** only because collectable garbage refers to it. CPython moves it to
** 'finalizers' with gc_clear_collecting(); rcgc's move_uncollectable() and
** visit_move_to() (src/gc.c:397 and :381 at cce84eb) clear only
** RCGC__F_UNREACHABLE, so the object
** keeps RCGC__F_COLLECTING. handle_resurrected() then runs subtract_refs()
** over the collectable set; visit_decref() sees COLLECTING on U and
** decrements U->prev_, which on the doubly linked 'finalizers' list is a
** list link, not gc_refs. When delete_garbage() clears N, U dies by
** refcount and its unlink uses the corrupted prev_: the finalizers
** sentinel keeps pointing at the freed U, and the uncollectable loop in
** collect_region() reads its freed header (NULL type: UBSan at gc.c:654
** "TYPE(heap, h)->flags", then SEGV). Found by fuzz/fuzz_heap.
** Fixed: both places now clear RCGC__F_COLLECTING too, as CPython does. */
TEST(uncollectable_object_hanging_off_collectable_garbage_dies_cleanly)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    tt_node *u = tt_new(heap, &tt_legacy_type);
    tt_node *n = tt_self_cycle(heap, &tt_node_type);
    n->slot[1] = u; /* steals: U's only reference */
    rcgc_unref(n);
    /* N is collectable; U is not in a cycle, so it dies with N (CPython:
    ** collect() == 2, U counted as uncollectable, then freed by refcount). */
    long long r = rcgc_gc_collect(heap, 2);
    CHECK(r >= 1);
    CHECK_EQ_U64(tt_released, 2);
    CHECK_EQ_U64(heap->live_objects, 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* The same defect without a death: U survives (its own cycle keeps it in
** the garbage list), but its prev_ link was decremented during the
** collection, so the oldest generation's list is corrupt afterwards. */
TEST(uncollectable_cycle_referenced_by_collectable_garbage_keeps_lists_valid)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    tt_node *n = tt_self_cycle(heap, &tt_node_type);
    for (int i = 1; i < TT_SLOTS; i++)
        n->slot[i] = tt_self_cycle(heap, &tt_legacy_type); /* steals */
    rcgc_unref(n);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 4);
    CHECK_EQ_U64(rcgc_gc_garbage_count(heap), 3);
    CHECK_HEAP(heap);
    CHECK_EQ_U64(rcgc_gc_generation_size(heap, 2), 3);
    rcgc_gc_garbage_clear(heap);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* rcgc.h: "A mortal count that reaches RCGC_IMMORTAL_MIN by increments
** saturates there" -- a legal state -- but rcgc__gc_check's check_list
** (src/gc.c) reports any tracked object with refcount >= RCGC_IMMORTAL_MIN
** as corruption ("tracked with refcount"), until the next collection's
** update_refs() untracks it. rcgc_heap_check should accept it (or
** saturation should untrack at once). */
TEST(tracked_object_whose_refcount_saturates_passes_the_heap_check)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    tt_node *a = tt_new(heap, &tt_node_type);
    RCGC__HEAD(a)->refcnt_ = RCGC_IMMORTAL_MIN - 1;
    rcgc_ref(a);
    CHECK(rcgc_is_immortal(a));
    CHECK_HEAP(heap);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 0);
    CHECK(!rcgc_is_tracked(a));
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* A full collection sets gc_refs in the same walk that subtracts the
** references (update_and_subtract_refs in src/gc.c): an object referenced
** before the walk reaches it joins the set at that reference. Only tracked,
** mortal, unfrozen objects may join: a frozen, an untracked and a saturated
** (immortal, still tracked) referent keep their headers untouched. */
TEST(full_collection_counts_references_ahead_of_its_walk)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    tt_node *f = tt_new(heap, &tt_node_type);
    rcgc_gc_freeze(heap);
    tt_node *a = tt_new(heap, &tt_node_type); /* the walk meets a first */
    tt_node *b = tt_new(heap, &tt_node_type);
    tt_node *c = tt_new(heap, &tt_node_type);
    tt_node *d = tt_new(heap, &tt_node_type);
    tt_node *u = tt_new(heap, &tt_node_type);
    tt_node *s = tt_new(heap, &tt_node_type);
    tt_link2(a, b);                           /* garbage, b ahead of a */
    a->slot[1] = rcgc_ref(c);                 /* c is held by the test */
    c->slot[0] = d;                           /* d only by c: alive */
    a->slot[2] = rcgc_ref(f);
    a->slot[3] = rcgc_ref(u);
    rcgc_untrack(u);
    RCGC__HEAD(s)->refcnt_ = RCGC_IMMORTAL_MIN - 1;
    rcgc_ref(s);                              /* saturates: tracked, immortal */
    b->slot[1] = s;
    rcgc_unref(a);
    rcgc_unref(b);
    CHECK_HEAP(heap);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 2);
    CHECK_EQ_U64(tt_released, 2);
    CHECK_HEAP(heap);
    CHECK_EQ_INT(in_generation(heap, 2, c), 1);
    CHECK_EQ_INT(in_generation(heap, 2, d), 1);
    CHECK_EQ_INT(in_generation(heap, RCGC_GC_FROZEN, f), 1);
    CHECK(!rcgc_is_tracked(s));
    CHECK_EQ_U64(RCGC__HEAD(f)->refcnt_, 1);
    CHECK_EQ_U64(RCGC__HEAD(u)->refcnt_, 1);
    /* u's header carries no collection state: tracked again, it passes. */
    rcgc_track(u);
    CHECK_HEAP(heap);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 0);
    CHECK_EQ_U64(live_objects(heap), 5);
    rcgc_gc_unfreeze(heap);
    tt_node *held[] = {c, u, f};
    for (size_t i = 0; i < sizeof held / sizeof *held; i++)
        rcgc_unref(held[i]);
    CHECK_EQ_U64(live_objects(heap), 1); /* s, immortal */
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* The garbage phase holds a reference to the object it clears and to the
** next one, and keeps the last object it cleared until it clears another
** (delete_garbage in src/gc.c): a ring or a pair dies one object at a time,
** each death one dealloc deep, never nested inside another's. */
static rcgc_heap *g_ring_heap;
static unsigned g_ring_max_depth;

static void ring_release(void *obj)
{
    (void)obj;
    tt_released++;
    if (g_ring_heap->dealloc.depth > g_ring_max_depth)
        g_ring_max_depth = g_ring_heap->dealloc.depth;
}

/* A clear that untracks the next object of the garbage list (the one the
** walk holds) and itself: the walk must notice and go on without them. */
static void untracking_clear(void *obj)
{
    tt_node *n = obj;
    if (n->slot[0])
        rcgc_untrack(n->slot[0]);
    rcgc_untrack(n);
    tt_node_clear(obj);
}

/* [0]: an ordinary node; [1]: untracking_clear. */
static const rcgc_type ring_types[2] = {
    {.name = "ring_node", .size = sizeof(tt_node), .traverse = tt_node_traverse,
     .clear = tt_node_clear, .release = ring_release},
    {.name = "untracking_node", .size = sizeof(tt_node), .traverse = tt_node_traverse,
     .clear = untracking_clear, .release = ring_release},
};

/* A ring of n nodes of 'type' through slot[0], dropped; returns the first. */
static tt_node *drop_ring(rcgc_heap *heap, const rcgc_type *type, int n)
{
    tt_node *first = tt_new(heap, type), *prev = first;
    for (int i = 1; i < n; i++) {
        tt_node *next = tt_new(heap, type);
        prev->slot[0] = next; /* steals */
        prev = next;
    }
    prev->slot[0] = first; /* steals ours */
    return first;
}

TEST(garbage_ring_dies_one_object_at_a_time)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    g_ring_heap = heap;
    g_ring_max_depth = 0;
    (void)drop_ring(heap, &ring_types[0], 1000);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 1000);
    CHECK_EQ_U64(tt_released, 1000);
    /* The first node, which the walk held, dies when the walk drops it, not
    ** inside the last one's dealloc (depth 2). A cascade would reach the
    ** deferral limit (RCGC__DEALLOC_DEPTH). */
    CHECK_EQ_U64(g_ring_max_depth, 1);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* A new heap holding 'npairs' dropped two-node rings; counters reset. */
static rcgc_heap *heap_with_garbage_pairs(int npairs)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    g_ring_heap = heap;
    g_ring_max_depth = 0;
    for (int i = 0; i < npairs; i++)
        (void)drop_ring(heap, &ring_types[0], 2);
    return heap;
}

TEST(garbage_pairs_die_one_dealloc_deep)
{
    rcgc_heap *heap = heap_with_garbage_pairs(100);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 200);
    CHECK_EQ_U64(tt_released, 200);
    /* The first of each pair dies when the walk drops it, after the second
    ** one's death, not nested inside it. */
    CHECK_EQ_U64(g_ring_max_depth, 1);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* A collection inside a dealloc at the deferral limit: the garbage that
** the walk's own reference kills is deferred like any death that deep, and
** dies once the outermost dealloc has unwound (not 49 deallocs deep). */
TEST(garbage_dying_at_the_dealloc_depth_limit_is_deferred)
{
    rcgc_heap *heap = heap_with_garbage_pairs(10);
    /* A chain whose last node, dying RCGC__DEALLOC_DEPTH deallocs deep,
    ** runs a full collection from its finalizer. */
    tt_node *first = tt_new(heap, &tt_node_type), *prev = first;
    for (int i = 1; i < RCGC__DEALLOC_DEPTH; i++) {
        tt_node *next = tt_new(heap, i == RCGC__DEALLOC_DEPTH - 1 ? &tt_fin_type : &tt_node_type);
        next->mode = TT_FIN_COLLECT;
        next->every = 1;
        prev->slot[0] = next; /* steals */
        prev = next;
    }
    rcgc_unref(first);
    CHECK_EQ_U64(tt_inner_collects, 1);
    CHECK_EQ_INT(tt_inner_collect, 20);
    CHECK_EQ_U64(tt_released, 20 + RCGC__DEALLOC_DEPTH);
    CHECK(g_ring_max_depth >= 1 && g_ring_max_depth <= 2);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

TEST(garbage_clear_that_untracks_the_next_object_is_survived)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    (void)drop_ring(heap, &ring_types[1], 50);
    tt_node *ring2 = drop_ring(heap, &ring_types[0], 3); /* after it on the list */
    ring2->slot[1] = rcgc_ref(ring2);
    g_ring_heap = heap;
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 53);
    CHECK_EQ_U64(tt_released, 53);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* move_unreachable moves tentatively unreachable objects a run at a time.
** Here the live chain x5 -> x4 -> ... -> x1 is created bottom-up, so x1..x4
** come before the only externally held x5 and fall into runs (mixed with
** garbage pairs, and one run at the tail of the list); x5's traverse then
** brings them back one by one. */
TEST(runs_of_tentatively_unreachable_objects_come_back_when_reached)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    tt_node *x[6] = {NULL};
    for (int i = 1; i <= 5; i++) {
        x[i] = tt_new(heap, &tt_node_type);
        x[i]->slot[0] = x[i - 1]; /* steals: x[i] holds x[i-1] */
        if (i % 2) {
            tt_node *a = tt_new(heap, &tt_node_type), *b = tt_new(heap, &tt_node_type);
            tt_link2(a, b);
            rcgc_unref(a);
            rcgc_unref(b);
        }
    }
    tt_node *g = tt_new(heap, &tt_node_type); /* garbage at the tail */
    g->slot[0] = rcgc_ref(g);
    rcgc_unref(g);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 7);
    CHECK_EQ_U64(tt_released, 7);
    CHECK_HEAP(heap);
    for (int i = 1; i <= 5; i++)
        CHECK_EQ_INT(in_generation(heap, 2, x[i]), 1);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 0);
    rcgc_unref(x[5]);
    CHECK_EQ_U64(tt_released, 12);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}
