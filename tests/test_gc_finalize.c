/*
** test_gc_finalize.c -- finalizers in garbage cycles (PEP 442): run once,
** see their neighbours intact, may resurrect (transitively), do not block
** other garbage, may break their own cycle; re-entrant collect() inside a
** finalizer; errors from finalizers. PARITY scenarios 25, 33, 36-41.
*/
#include <stdlib.h>

#include "gc_testtypes.h"
#include "harness.h"
#include "heap.h"

static size_t live_objects(rcgc_heap *heap) { return heap->live_objects; }

static rcgc_gc_stats stats2(rcgc_heap *heap)
{
    rcgc_gc_stats st;
    rcgc_gc_get_stats(heap, 2, &st);
    return st;
}

/* PARITY 36: a 3-node cycle where every node has a finalizer: each runs
** once and sees its neighbours intact, then all are freed */
TEST(cycle_of_finalizers_runs_each_once_with_neighbours_intact)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    tt_node *n[3];
    for (int i = 0; i < 3; i++) {
        n[i] = tt_new(heap, &tt_fin_type);
        n[i]->mode = TT_FIN_CHECK_INTACT;
    }
    for (int i = 0; i < 3; i++)
        n[i]->slot[0] = rcgc_ref(n[(i + 1) % 3]);
    for (int i = 0; i < 3; i++)
        rcgc_unref(n[i]);
    CHECK_HEAP(heap);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 3);
    CHECK_EQ_U64(tt_finalized, 3);
    CHECK_EQ_INT(tt_intact_bad, 0);
    CHECK_EQ_U64(tt_released, 3);
    CHECK_EQ_U64(rcgc_gc_garbage_count(heap), 0);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 0);
    CHECK_EQ_U64(tt_finalized, 3);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 37: resurrection in GC: collect() returns 0, stats unchanged,
** object intact; after dropping the stored reference it is freed without
** its finalizer running again. PARITY 41: is_finalized. */
TEST(resurrected_self_cycle_survives_and_is_not_finalized_again)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    tt_node *a = tt_self_cycle(heap, &tt_fin_type);
    a->mode = TT_FIN_RESURRECT;
    tt_node *child = tt_new(heap, &tt_node_type);
    a->slot[1] = child;
    CHECK(!rcgc_is_finalized(a));
    rcgc_unref(a);
    rcgc_gc_stats before = stats2(heap);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 0);
    rcgc_gc_stats after = stats2(heap);
    CHECK_EQ_U64(after.collected, before.collected);
    CHECK_EQ_U64(after.uncollectable, before.uncollectable);
    CHECK_EQ_U64(tt_finalized, 1);
    CHECK_EQ_U64(tt_nstash, 1);
    CHECK_EQ_PTR(tt_stash[0], a);
    CHECK_EQ_PTR(a->slot[0], a); /* intact: clear did not run */
    CHECK_EQ_PTR(a->slot[1], child);
    CHECK_EQ_U64(tt_cleared, 0);
    CHECK_EQ_U64(tt_released, 0);
    CHECK(rcgc_is_finalized(a)); /* PARITY 41 */
    CHECK(!rcgc_is_finalized(child));
    CHECK(rcgc_is_tracked(a));
    CHECK_HEAP(heap);
    /* Drop the stored reference: garbage again, finalizer not called. */
    a->mode = TT_FIN_RESURRECT; /* would resurrect again if called */
    rcgc_unref(tt_stash[0]);
    CHECK(rcgc_gc_collect(heap, 2) >= 1);
    CHECK_EQ_U64(tt_finalized, 1);
    CHECK_EQ_U64(tt_nstash, 1);
    CHECK_EQ_U64(tt_released, 2);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 41: is_finalized is false for a live object and true once its
** finalizer ran, whichever path ran it */
TEST(is_finalized_is_set_only_by_running_the_finalizer)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    tt_node *a = tt_new(heap, &tt_fin_type);
    tt_node *p = tt_new(heap, &tt_node_type);
    CHECK(!rcgc_is_finalized(a));
    CHECK(!rcgc_is_finalized(p));
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 0);
    CHECK(!rcgc_is_finalized(a)); /* survivors are not finalized */
    a->mode = TT_FIN_RESURRECT;
    rcgc_unref(a); /* refcount path resurrection */
    CHECK(rcgc_is_finalized(a));
    rcgc_unref(tt_stash[0]);
    rcgc_unref(p);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 38: transitive resurrection: R resurrects and keeps the trash
** cycle C it references alive and intact */
TEST(resurrection_keeps_everything_the_resurrected_object_reaches)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    tt_node *r = tt_self_cycle(heap, &tt_fin_type);
    r->mode = TT_FIN_RESURRECT;
    tt_node *c1 = tt_new(heap, &tt_node_type);
    tt_node *c2 = tt_new(heap, &tt_node_type);
    tt_link2(c1, c2);
    tt_list *l = tt_new_list(heap, 1);
    l->item[0] = rcgc_ref(c1);
    c2->slot[1] = l;
    r->slot[1] = c1;
    rcgc_unref(c2);
    rcgc_unref(r);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 0);
    CHECK_EQ_U64(tt_finalized, 1);
    CHECK_EQ_U64(tt_cleared, 0);
    CHECK_EQ_U64(tt_released, 0);
    CHECK_EQ_PTR(r->slot[1], c1);
    CHECK_EQ_PTR(c1->slot[0], c2);
    CHECK_EQ_PTR(c2->slot[0], c1);
    CHECK_EQ_PTR(c2->slot[1], l);
    CHECK_EQ_PTR(l->item[0], c1);
    CHECK(rcgc_is_tracked(c1) && rcgc_is_tracked(c2) && rcgc_is_tracked(l));
    CHECK_HEAP(heap);
    /* Survivors of a resurrection move to the old generation. */
    CHECK_EQ_U64(rcgc_gc_generation_size(heap, 2), 4);
    rcgc_unref(tt_stash[0]);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 4);
    CHECK_EQ_U64(tt_finalized, 1);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 39: resurrection does not block the cleanup of other garbage */
TEST(resurrection_does_not_block_collection_of_other_cycles)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    for (int i = 0; i < 100; i++)
        rcgc_unref(tt_self_cycle(heap, &tt_node_type));
    tt_node *r = tt_self_cycle(heap, &tt_fin_type);
    r->mode = TT_FIN_RESURRECT;
    rcgc_unref(r);
    rcgc_gc_stats before = stats2(heap);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 100);
    rcgc_gc_stats after = stats2(heap);
    CHECK_EQ_U64(after.collected - before.collected, 100);
    CHECK_EQ_U64(tt_released, 100);
    CHECK_EQ_U64(tt_nstash, 1);
    CHECK_EQ_PTR(r->slot[0], r);
    CHECK_EQ_U64(live_objects(heap), 1);
    CHECK_HEAP(heap);
    rcgc_unref(tt_stash[0]);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 1);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 40: a suicide finalizer breaks its own cycle: freed once,
** finalized once. Like CPython, an object that died during finalization
** is not in the final unreachable set, so collect() does not count it. */
TEST(finalizer_breaking_its_own_cycle_frees_it_once)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    tt_node *a = tt_self_cycle(heap, &tt_fin_type);
    a->mode = TT_FIN_SUICIDE;
    rcgc_unref(a);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 0);
    CHECK_EQ_U64(tt_finalized, 1);
    CHECK_EQ_U64(tt_released, 1);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 0);
    CHECK_EQ_U64(tt_finalized, 1);
    CHECK_EQ_U64(tt_released, 1);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 40: heterogeneous chain: a finalizing node in a cycle with plain
** nodes, whose finalizer breaks the cycle, frees the whole chain */
TEST(suicide_finalizer_in_heterogeneous_cycle_frees_all)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    tt_node *f = tt_new(heap, &tt_fin_type);
    f->mode = TT_FIN_SUICIDE;
    tt_node *p1 = tt_new(heap, &tt_node_type);
    tt_node *p2 = tt_new(heap, &tt_node_type);
    f->slot[0] = p1;
    p1->slot[0] = p2;
    p2->slot[0] = rcgc_ref(f);
    rcgc_unref(f);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 0);
    CHECK_EQ_U64(tt_finalized, 1);
    CHECK_EQ_U64(tt_released, 3);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 25: collect() called from a finalizer running inside a collection
** returns 0 and does nothing; the outer collection completes normally */
TEST(collect_inside_a_finalizer_returns_zero)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    tt_node *a = tt_new(heap, &tt_fin_type);
    a->mode = TT_FIN_COLLECT;
    tt_node *b = tt_new(heap, &tt_node_type);
    tt_link2(a, b);
    rcgc_unref(a);
    rcgc_unref(b);
    rcgc_unref(tt_self_cycle(heap, &tt_node_type));
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 3);
    CHECK_EQ_U64(tt_inner_collects, 1);
    CHECK_EQ_INT(tt_inner_collect, 0);
    CHECK_EQ_U64(tt_released, 3);
    CHECK(!rcgc_gc_is_collecting(heap));
    rcgc_gc_stats st = stats2(heap);
    CHECK_EQ_U64(st.collections, 1);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 25: the same on the refcount path outside a collection: there
** collect() runs */
TEST(collect_inside_a_refcount_finalizer_runs)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    rcgc_unref(tt_self_cycle(heap, &tt_node_type));
    tt_node *a = tt_new(heap, &tt_fin_type);
    a->mode = TT_FIN_COLLECT;
    rcgc_unref(a);
    CHECK_EQ_U64(tt_inner_collects, 1);
    CHECK_EQ_INT(tt_inner_collect, 1);
    CHECK_EQ_U64(tt_released, 2);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 33: a trash object whose finalizer fails is still collected and
** counted; the error is reported once through the output hook */
TEST(failing_finalizer_is_reported_once_and_object_still_collected)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    tt_node *a = tt_self_cycle(heap, &tt_fin_type);
    a->mode = TT_FIN_ERROR;
    tt_node *b = tt_self_cycle(heap, &tt_fin_type);
    char line[128];
    snprintf(line, sizeof line, "error ignored in finalize of <finnode %p>", (void *)a);
    rcgc_unref(a);
    rcgc_unref(b);
    th_output_clear();
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 2);
    CHECK_EQ_U64(tt_finalized, 2);
    CHECK_EQ_U64(tt_released, 2);
    CHECK_CONTAINS(th_output, line);
    const char *first = strstr(th_output, line);
    CHECK(first && strstr(first + 1, line) == NULL);
    CHECK(strstr(th_output, "error ignored in finalize of <finnode") ==
          strstr(th_output, line)); /* only a's error */
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PEP 442 + legacy: finalizers never run for uncollectable objects, and a
** finalizing object kept alive by one is not finalized either */
TEST(finalizers_do_not_run_for_uncollectable_garbage)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    tt_node *u = tt_self_cycle(heap, &tt_legacy_type);
    tt_node *f = tt_self_cycle(heap, &tt_fin_type);
    u->slot[1] = f;
    rcgc_unref(u);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 2);
    CHECK_EQ_U64(tt_finalized, 0);
    CHECK_EQ_U64(rcgc_gc_garbage_count(heap), 1);
    CHECK(!rcgc_is_finalized(f));
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PEP 442: many objects resurrecting and dying in one collection keep
** the lists consistent (a finalizer stores the object, a second one in the
** same cycle drops it again). */
static tt_node *g_flip;
static int flip_finalize(void *obj)
{
    tt_finalized++;
    if (!g_flip) {
        g_flip = rcgc_ref(obj);
    } else {
        tt_node *x = g_flip;
        g_flip = NULL;
        rcgc_unref(x);
    }
    return 0;
}
static const rcgc_type flip_type = {
    "flip", sizeof(tt_node), 0, 0, tt_node_traverse, tt_node_clear, flip_finalize,
    tt_node_release,
};

TEST(resurrect_then_release_within_one_collection_frees_everything)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    g_flip = NULL;
    enum { N = 50 };
    tt_node *n[N];
    for (int i = 0; i < N; i++)
        n[i] = tt_new(heap, &flip_type);
    for (int i = 0; i < N; i++)
        n[i]->slot[0] = rcgc_ref(n[(i + 1) % N]);
    for (int i = 0; i < N; i++)
        rcgc_unref(n[i]);
    /* Every other finalizer stores an object, the next drops it: at the end
    ** g_flip is NULL (N even) and nothing is resurrected. */
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), N);
    CHECK_EQ_PTR(g_flip, NULL);
    CHECK_EQ_U64(tt_finalized, N);
    CHECK_EQ_U64(tt_released, N);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* A finalizer that allocates during a collection: the new objects are
** young and untouched by the running collection. */
static tt_node *g_made;
static int alloc_finalize(void *obj)
{
    tt_finalized++;
    g_made = tt_self_cycle(rcgc_heap_of(obj), &tt_node_type);
    return 0;
}
static const rcgc_type alloc_type = {
    "allocfin", sizeof(tt_node), 0, 0, tt_node_traverse, tt_node_clear, alloc_finalize,
    tt_node_release,
};

TEST(objects_created_by_a_finalizer_during_collect_survive_it)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    rcgc_unref(tt_self_cycle(heap, &alloc_type));
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 1);
    CHECK(g_made != NULL);
    CHECK_EQ_U64(tt_released, 1);
    CHECK(rcgc_is_tracked(g_made));
    CHECK_EQ_PTR(g_made->slot[0], g_made);
    CHECK_HEAP(heap);
    rcgc_unref(g_made);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 0), 1);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 36: ... and weak references to the nodes are dead afterwards */
static const rcgc_type weak_fin_type = {
    "weakfin", sizeof(tt_node), 0, RCGC_TYPE_WEAKREFABLE, tt_node_traverse, tt_node_clear,
    tt_node_finalize, tt_node_release,
};

TEST(weak_references_to_a_collected_finalizer_cycle_are_dead)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    tt_node *n[3];
    rcgc_weakref *wr[3];
    for (int i = 0; i < 3; i++) {
        n[i] = tt_new(heap, &weak_fin_type);
        n[i]->mode = TT_FIN_CHECK_INTACT;
        wr[i] = rcgc_weakref_new(heap, n[i], NULL, NULL);
        CHECK(wr[i] != NULL);
    }
    for (int i = 0; i < 3; i++)
        n[i]->slot[0] = rcgc_ref(n[(i + 1) % 3]);
    for (int i = 0; i < 3; i++) {
        void *got = rcgc_weakref_get(wr[i]);
        CHECK_EQ_PTR(got, n[i]);
        rcgc_xunref(got);
        rcgc_unref(n[i]);
    }
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 3);
    CHECK_EQ_U64(tt_finalized, 3);
    CHECK_EQ_INT(tt_intact_bad, 0);
    CHECK_EQ_U64(tt_released, 3);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_PTR(rcgc_weakref_get(wr[i]), NULL);
        CHECK(!rcgc_weakref_is_alive(wr[i]));
        rcgc_unref(wr[i]);
    }
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* A finalizer that untracks and re-tracks other garbage, freezes, and
** changes thresholds while the collector runs leaves the heap consistent;
** everything is freed by the next collections. */
static tt_node *g_victim;
static int meddling_finalize(void *obj)
{
    rcgc_heap *heap = rcgc_heap_of(obj);
    tt_finalized++;
    if (g_victim) {
        rcgc_untrack(g_victim);
        rcgc_track(g_victim);
    }
    rcgc_gc_freeze(heap);
    rcgc_gc_unfreeze(heap);
    rcgc_gc_set_threshold(heap, 1, 1, 1);
    rcgc_gc_set_mode(heap, RCGC_GC_INCREMENTAL, 0);
    return 0;
}
static const rcgc_type meddling_type = {
    "meddler", sizeof(tt_node), 0, 0, tt_node_traverse, tt_node_clear, meddling_finalize,
    tt_node_release,
};

TEST(finalizer_meddling_with_the_collector_leaves_heap_consistent)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    tt_node *a = tt_new(heap, &meddling_type);
    tt_node *b = tt_new(heap, &tt_node_type);
    tt_node *c = tt_new(heap, &tt_node_type);
    a->slot[0] = rcgc_ref(b);
    b->slot[0] = rcgc_ref(c);
    c->slot[0] = rcgc_ref(a);
    g_victim = b;
    rcgc_unref(a);
    rcgc_unref(b);
    rcgc_unref(c);
    long long r = rcgc_gc_collect(heap, 2);
    CHECK(r >= 0 && r <= 3);
    CHECK_EQ_U64(tt_finalized, 1);
    CHECK_HEAP(heap);
    g_victim = NULL;
    for (int g = 0; g < 3; g++)
        rcgc_gc_collect(heap, 2);
    CHECK_EQ_U64(tt_released, 3);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}
