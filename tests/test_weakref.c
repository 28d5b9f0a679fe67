/*
** test_weakref.c -- weak references: refcount-path and collection-path
** ordering, sharing, counts, hashing, finalize. PARITY scenarios 15-16,
** 42-47, 49 (weak containers, scenario 48, are in test_weakmap.c).
*/
#include "harness.h"
#include "weak_testtypes.h"

/* A label object to pass as callback argument (its id names the callback). */
static const rcgc_type tag_type = {"tag", sizeof(wt_node), 0, 0, NULL, NULL, NULL, NULL};
static wt_node *tag(rcgc_heap *heap, int id) { return wt_new(heap, &tag_type, id); }

static rcgc_weakref *wr_cb(rcgc_heap *heap, void *obj, int id)
{
    wt_node *t = tag(heap, id);
    rcgc_weakref *wr = rcgc_weakref_new(heap, obj, wt_cb_log, t);
    rcgc_unref(t);
    return wr;
}

/* PARITY 15: on the last unref the finalizer runs first and sees the plain
** weak reference alive; then both references are dead and the callback
** runs, receiving its (dead) weak reference. */
TEST(refcount_death_runs_finalizer_then_kills_refs_then_callbacks)
{
    rcgc_heap *heap = th_heap_new();
    wt_reset();
    wt_cb_calls = wt_cb_saw_alive = 0;
    wt_node *o = wt_new(heap, &wt_node_type, 1);
    o->fin = WT_FIN_PEEK;
    rcgc_weakref *w_plain = rcgc_weakref_new(heap, o, NULL, NULL);
    rcgc_weakref *w_cb = wr_cb(heap, o, 7);
    o->peek = w_plain;
    CHECK(w_plain && w_cb);
    CHECK_EQ_U64(rcgc_weakref_count(o), 2);
    rcgc_unref(o);
    CHECK_EQ_STR(wt_log, "fin1 cb7");
    CHECK_EQ_U64(wt_cb_calls, 1);
    CHECK_EQ_U64(wt_cb_saw_alive, 0);
    CHECK(rcgc_weakref_get(w_plain) == NULL);
    CHECK(rcgc_weakref_get(w_cb) == NULL);
    CHECK(!rcgc_weakref_is_alive(w_cb));
    CHECK_HEAP(heap);
    rcgc_unref(w_plain);
    rcgc_unref(w_cb);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* The finalizer saw its weak reference alive (scenario 15, checked apart
** because the node is gone when the test reads it). */
static int peek_seen;
static int fin_peek_record(void *obj)
{
    wt_node *n = obj;
    void *o = rcgc_weakref_get(n->peek);
    peek_seen = o != NULL;
    if (o)
        rcgc_unref(o);
    wt_logf("fin");
    return 0;
}
static const rcgc_type peek_type = {"peek", sizeof(wt_node), 0, RCGC_TYPE_WEAKREFABLE,
                                    wt_traverse, wt_clear, fin_peek_record, NULL};

TEST(refcount_death_finalizer_sees_weakref_alive)
{
    rcgc_heap *heap = th_heap_new();
    wt_reset();
    wt_node *o = rcgc_new(heap, &peek_type);
    rcgc_weakref *w = rcgc_weakref_new(heap, o, NULL, NULL);
    o->peek = w;
    peek_seen = -1;
    rcgc_unref(o);
    CHECK_EQ_INT(peek_seen, 1);
    CHECK(rcgc_weakref_get(w) == NULL);
    rcgc_unref(w);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* A long chain dies in bounded C stack: past the depth limit, objects wait
** at refcount 0 for the outermost dealloc. A weak reference to a waiting
** object reads dead already (CPython's _PyObject_IsDeadRef), else a
** finalizer running meanwhile could resurrect it. Node i holds node i + 1
** and a peeker whose finalizer dereferences a weak reference to node i + 1;
** the peeker is dropped after node i + 1, so it runs once that node died or,
** past the limit, while it waits. The exported function agrees. */
static unsigned peeks, peeks_alive;
static int fin_count_alive(void *obj)
{
    wt_node *n = obj;
    void *o = rcgc_weakref_get(n->peek);
    peeks++;
    if (o) {
        peeks_alive++;
        rcgc_unref(o);
    }
    return 0;
}
static const rcgc_type count_peek_type = {"peek", sizeof(wt_node), 0, 0, wt_traverse,
                                          wt_clear, fin_count_alive, NULL};

TEST(weakref_to_an_object_waiting_for_dealloc_reads_dead)
{
    rcgc_heap *heap = th_heap_new();
    enum { N = 120 };
    static wt_node *chain[N];
    static rcgc_weakref *refs[N];
    for (int i = 0; i < N; i++)
        chain[i] = wt_new(heap, &wt_node_type, i);
    for (int i = 0; i + 1 < N; i++) {
        wt_node *p = wt_new(heap, &count_peek_type, 1000 + i);
        p->peek = refs[i] = rcgc_weakref_new(heap, chain[i + 1], NULL, NULL);
        CHECK((rcgc_weakref_get)(refs[i]) == chain[i + 1]);
        rcgc_unref(chain[i + 1]);
        chain[i]->slot[0] = chain[i + 1]; /* the chain takes our reference */
        chain[i]->slot[1] = p;
    }
    rcgc_unref(chain[0]);
    CHECK_EQ_U64(rcgc_heap_live_objects(heap), N - 1); /* the weak references */
    for (int i = 0; i + 1 < N; i++) {
        CHECK((rcgc_weakref_get)(refs[i]) == NULL);
        rcgc_unref(refs[i]);
    }
    CHECK_EQ_U64(peeks, N - 1);
    CHECK_EQ_U64(peeks_alive, 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 16: a resurrecting finalizer aborts the death: the object stays
** valid and its weak references stay alive; a GC type is not finalized
** again at its next death, a non-GC type is. */
TEST(refcount_resurrection_keeps_weakrefs_alive)
{
    rcgc_heap *heap = th_heap_new();
    const rcgc_type *types[2] = {&wt_node_type, &wt_atom_type};
    for (int k = 0; k < 2; k++) {
        wt_reset();
        wt_cb_calls = 0;
        wt_node *o = wt_new(heap, types[k], 3);
        o->fin = WT_FIN_RESURRECT;
        rcgc_weakref *w = rcgc_weakref_new(heap, o, NULL, NULL);
        rcgc_weakref *wc = wr_cb(heap, o, 4);
        rcgc_unref(o);
        CHECK_EQ_PTR(wt_stash, o);
        CHECK_EQ_U64(rcgc_refcount(o), 1);
        void *g = rcgc_weakref_get(w);
        CHECK_EQ_PTR(g, o);
        rcgc_unref(g);
        CHECK(rcgc_weakref_is_alive(wc));
        CHECK_EQ_U64(wt_cb_calls, 0);
        CHECK_HEAP(heap);
        o->fin = WT_FIN_LOG; /* next death: log only */
        wt_log[0] = 0;
        rcgc_unref(wt_stash);
        /* GC types are finalized once; non-GC types every time. */
        CHECK_EQ_STR(wt_log, k == 0 ? "cb4" : "fin3 cb4");
        CHECK(rcgc_weakref_get(w) == NULL);
        rcgc_unref(w);
        rcgc_unref(wc);
        CHECK_HEAP(heap);
    }
    rcgc_heap_free(heap);
}

/* PARITY 42: basics; callbacks most recent first, each with its dead weak
** reference; a reference that died before its referent never calls back;
** a failing callback is reported and the others still run. */
TEST(callbacks_run_most_recent_first_and_errors_do_not_stop_others)
{
    rcgc_heap *heap = th_heap_new();
    wt_reset();
    wt_cb_calls = wt_cb_saw_alive = 0;
    wt_node *o = wt_new(heap, &wt_node_type, 0);
    rcgc_weakref *w = rcgc_weakref_new(heap, o, NULL, NULL);
    void *g = rcgc_weakref_get(w);
    CHECK_EQ_PTR(g, o);
    rcgc_unref(g);
    rcgc_weakref *w1 = wr_cb(heap, o, 1);
    wt_node *t2 = tag(heap, 2);
    rcgc_weakref *w2 = rcgc_weakref_new(heap, o, wt_cb_fail, t2);
    rcgc_unref(t2);
    rcgc_weakref *w3 = wr_cb(heap, o, 3);
    rcgc_weakref *w4 = wr_cb(heap, o, 4);
    rcgc_unref(w3); /* dies before its referent: never calls back */
    CHECK_EQ_U64(rcgc_weakref_count(o), 4);
    rcgc_unref(o);
    CHECK_EQ_STR(wt_log, "cb4 cb2 cb1");
    CHECK_EQ_U64(wt_cb_saw_alive, 0);
    CHECK_CONTAINS(th_output, "error ignored in weak reference callback");
    CHECK(rcgc_weakref_get(w) == NULL);
    rcgc_unref(w);
    rcgc_unref(w1);
    rcgc_unref(w2);
    rcgc_unref(w4);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

static int collect_visit(rcgc_weakref *wr, void *arg)
{
    rcgc_weakref **out = arg;
    while (*out)
        out++;
    *out = wr;
    return 0;
}

/* PARITY 43: sharing and counts. */
TEST(callbackless_refs_are_shared_and_counted)
{
    rcgc_heap *heap = th_heap_new();
    wt_node *o = wt_new(heap, &wt_node_type, 0);
    CHECK_EQ_U64(rcgc_weakref_count(o), 0);
    rcgc_weakref *a = rcgc_weakref_new(heap, o, NULL, NULL);
    rcgc_weakref *b = rcgc_weakref_new(heap, o, NULL, NULL);
    CHECK_EQ_PTR(a, b);
    CHECK_EQ_U64(rcgc_refcount(a), 2);
    CHECK_EQ_U64(rcgc_weakref_count(o), 1);
    rcgc_weakref *c1 = wr_cb(heap, o, 1);
    rcgc_weakref *c2 = wr_cb(heap, o, 2);
    CHECK(c1 != c2 && c1 != a);
    CHECK_EQ_U64(rcgc_weakref_count(o), 3);
    rcgc_weakref *seen[8] = {0};
    CHECK_EQ_INT(rcgc_weakref_visit(o, collect_visit, seen), 0);
    CHECK_EQ_PTR(seen[0], a); /* the shared one first, then newest first */
    CHECK_EQ_PTR(seen[1], c2);
    CHECK_EQ_PTR(seen[2], c1);
    CHECK_EQ_PTR(seen[3], NULL);
    rcgc_unref(c1);
    CHECK_EQ_U64(rcgc_weakref_count(o), 2);
    rcgc_unref(a);
    rcgc_unref(b);
    CHECK_EQ_U64(rcgc_weakref_count(o), 1);
    /* A new basic ref after the old one died is a new object. */
    rcgc_weakref *d = rcgc_weakref_new(heap, o, NULL, NULL);
    CHECK_EQ_U64(rcgc_weakref_count(o), 2);
    memset(seen, 0, sizeof seen);
    rcgc_weakref_visit(o, collect_visit, seen);
    CHECK_EQ_PTR(seen[0], d);
    CHECK_EQ_PTR(seen[1], c2);
    rcgc_unref(c2);
    rcgc_unref(d);
    CHECK_EQ_U64(rcgc_weakref_count(o), 0);
    CHECK_HEAP(heap);
    rcgc_unref(o);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* An argument without a callback is held like a callback's: by the new
** shared reference until it dies (a later call shares it and its argument
** is not taken), also after the referent died. */
TEST(callbackless_ref_holds_its_argument_until_it_dies)
{
    rcgc_heap *heap = th_heap_new();
    wt_node *o = wt_new(heap, &wt_node_type, 0);
    wt_node *arg = wt_new(heap, &wt_node_type, 1);
    wt_node *arg2 = wt_new(heap, &wt_node_type, 2);
    rcgc_weakref *a = rcgc_weakref_new(heap, o, NULL, arg);
    CHECK_EQ_U64(rcgc_refcount(arg), 2);
    rcgc_weakref *b = rcgc_weakref_new(heap, o, NULL, arg2);
    CHECK_EQ_PTR(a, b);
    CHECK_EQ_U64(rcgc_refcount(arg2), 1);
    rcgc_unref(b);
    rcgc_unref(o);
    CHECK(!rcgc_weakref_is_alive(a));
    CHECK_EQ_U64(rcgc_refcount(arg), 2);
    CHECK_HEAP(heap);
    rcgc_unref(a);
    CHECK_EQ_U64(rcgc_refcount(arg), 1);
    /* Dropped while its referent lives: the same. */
    o = wt_new(heap, &wt_node_type, 3);
    a = rcgc_weakref_new(heap, o, NULL, arg);
    CHECK_EQ_U64(rcgc_refcount(arg), 2);
    rcgc_unref(a);
    CHECK_EQ_U64(rcgc_refcount(arg), 1);
    CHECK_EQ_U64(rcgc_weakref_count(o), 0);
    rcgc_unref(o);
    rcgc_unref(arg2);
    rcgc_unref(arg);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

TEST(non_weakrefable_object_is_rejected_with_a_message)
{
    rcgc_heap *heap = th_heap_new();
    wt_node *p = wt_new(heap, &wt_plain_type, 0);
    CHECK(!rcgc_weakref_supported(p));
    CHECK(rcgc_weakref_new(heap, p, NULL, NULL) == NULL);
    CHECK_CONTAINS(th_output, "cannot create weak reference to 'wt_plain' object");
    CHECK(rcgc_weakref_new(heap, NULL, NULL, NULL) == NULL);
    CHECK_EQ_U64(rcgc_weakref_count(p), 0);
    CHECK(rcgc_finalize_new(heap, p, (rcgc_finalize_fn)NULL, NULL, NULL) == NULL);
    rcgc_weakmap *s = rcgc_weakset_new(heap);
    CHECK_EQ_INT(rcgc_weakset_add(s, p), RCGC_EINVAL);
    rcgc_unref(s);
    rcgc_unref(p);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

static void wrong_type_get(void *arg)
{
    (void)arg;
    rcgc_heap *heap = th_heap_new();
    wt_node *o = wt_new(heap, &wt_node_type, 0);
    uint64_t h;
    rcgc_weakref_hash((rcgc_weakref *)o, NULL, NULL, &h);
}

TEST(weakref_call_on_a_non_weakref_panics)
{
    CHECK_PANICS(wrong_type_get, NULL, "not a weak reference");
}

/* PARITY 44: in a garbage cycle c1 <-> c2 holding weak references with
** callbacks to each other (both references are garbage), only the
** external reference's callback runs. */
TEST(gc_runs_callbacks_only_of_reachable_weakrefs)
{
    rcgc_heap *heap = th_heap_new();
    wt_reset();
    wt_cb_calls = wt_cb_saw_alive = 0;
    wt_node *c1 = wt_new(heap, &wt_node_type, 1);
    wt_node *c2 = wt_new(heap, &wt_node_type, 2);
    c1->slot[0] = rcgc_ref(c2);
    c2->slot[0] = rcgc_ref(c1);
    c1->slot[1] = wr_cb(heap, c2, 1);
    c2->slot[1] = wr_cb(heap, c1, 2);
    rcgc_weakref *went_away = wr_cb(heap, c1, 99);
    rcgc_unref(c1);
    rcgc_unref(c2);
    CHECK_HEAP(heap);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 4);
    CHECK_EQ_STR(wt_log, "cb99");
    CHECK_EQ_U64(wt_cb_saw_alive, 0);
    CHECK(!rcgc_weakref_is_alive(went_away));
    rcgc_unref(went_away);
    CHECK_HEAP(heap);
    CHECK_EQ_U64(rcgc_gc_generation_size(heap, -1), 0);
    rcgc_heap_free(heap);
}

/* PARITY 45: callbacks (and finalizers) of a collection see every weak
** reference into the garbage dead. */
static rcgc_weakref *all_refs[4];
static int derefs_alive;
static int cb_deref_all(rcgc_weakref *wr, void *arg)
{
    (void)wr;
    (void)arg;
    for (int i = 0; i < 4; i++) {
        void *o = all_refs[i] ? rcgc_weakref_get(all_refs[i]) : NULL;
        if (o) {
            derefs_alive++;
            rcgc_unref(o);
        }
    }
    wt_logf("cb");
    return 0;
}

TEST(gc_callbacks_and_finalizers_see_all_garbage_dead)
{
    rcgc_heap *heap = th_heap_new();
    wt_reset();
    derefs_alive = 0;
    wt_node *a = wt_new(heap, &wt_node_type, 1);
    wt_node *b = wt_new(heap, &wt_node_type, 2);
    a->slot[0] = rcgc_ref(a);
    b->slot[0] = rcgc_ref(b);
    all_refs[0] = rcgc_weakref_new(heap, a, cb_deref_all, NULL);
    all_refs[1] = rcgc_weakref_new(heap, b, cb_deref_all, NULL);
    all_refs[2] = rcgc_weakref_new(heap, a, NULL, NULL);
    all_refs[3] = rcgc_weakref_new(heap, b, NULL, NULL);
    /* b's finalizer looks at the plain reference to a (≤ 3.13 rule: dead). */
    b->fin = WT_FIN_PEEK;
    b->peek = all_refs[2];
    wt_node *keep_b = rcgc_ref(b);
    rcgc_unref(a);
    rcgc_unref(b);
    /* keep_b holds b: only a is garbage. */
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 1);
    CHECK_EQ_STR(wt_log, "cb");
    CHECK_EQ_INT(derefs_alive, 2); /* b (both refs) is alive, a is not */
    wt_log[0] = 0;
    derefs_alive = 0;
    rcgc_unref(keep_b);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 1);
    CHECK_EQ_STR(wt_log, "cb fin2");
    CHECK_EQ_INT(derefs_alive, 0);
    for (int i = 0; i < 4; i++) {
        CHECK(!rcgc_weakref_is_alive(all_refs[i]));
        rcgc_unref(all_refs[i]);
        all_refs[i] = NULL;
    }
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* The same with a finalizer: a trash object's finalizer sees weak
** references to other trash dead, and callbacks ran before it. */
TEST(gc_finalizer_of_garbage_sees_weakrefs_to_garbage_dead)
{
    rcgc_heap *heap = th_heap_new();
    wt_reset();
    wt_node *a = wt_new(heap, &wt_node_type, 1);
    wt_node *b = wt_new(heap, &wt_node_type, 2);
    a->slot[0] = rcgc_ref(b);
    b->slot[0] = rcgc_ref(a);
    rcgc_weakref *wa = rcgc_weakref_new(heap, a, NULL, NULL);
    rcgc_weakref *wb = wr_cb(heap, b, 5);
    a->fin = WT_FIN_PEEK;
    a->peek = wa; /* its own weak reference */
    b->fin = WT_FIN_PEEK;
    b->peek = wa;
    rcgc_unref(a);
    rcgc_unref(b);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 2);
    CHECK_EQ_U64(wt_finalized, 2);
    CHECK_CONTAINS(wt_log, "cb5 fin");
    CHECK(!rcgc_weakref_is_alive(wa));
    rcgc_unref(wa);
    rcgc_unref(wb);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* Weak references checked from inside a finalizer of the garbage: reported
** through peek_alive before the node dies. */
static int peek_result;
static int fin_store_peek(void *obj)
{
    wt_node *n = obj;
    void *o = rcgc_weakref_get(n->peek);
    peek_result = o != NULL;
    if (o)
        rcgc_unref(o);
    return 0;
}
static const rcgc_type store_peek_type = {"storepeek", sizeof(wt_node), 0,
                                          RCGC_TYPE_WEAKREFABLE, wt_traverse, wt_clear,
                                          fin_store_peek, NULL};

TEST(gc_finalizer_cannot_reach_garbage_through_weakref)
{
    rcgc_heap *heap = th_heap_new();
    wt_node *a = rcgc_new(heap, &store_peek_type);
    wt_node *b = wt_new(heap, &wt_node_type, 2);
    a->slot[0] = rcgc_ref(b);
    b->slot[0] = rcgc_ref(a);
    rcgc_weakref *wb = rcgc_weakref_new(heap, b, NULL, NULL);
    a->peek = wb;
    peek_result = -1;
    rcgc_unref(a);
    rcgc_unref(b);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 2);
    CHECK_EQ_INT(peek_result, 0);
    rcgc_unref(wb);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 46 (bpo-38006): a garbage weak reference WZ (callback) to Z, where
** Z is reachable only through a container the collector cannot see: Z dies
** during clear(), and WZ's callback never runs. */
TEST(gc_garbage_weakref_is_cleared_before_clear_breaks_cycles)
{
    rcgc_heap *heap = th_heap_new();
    wt_reset();
    wt_cb_calls = 0;
    wt_node *y = wt_new(heap, &wt_node_type, 1);  /* the cycle */
    wt_node *x = wt_new(heap, &wt_atom_type, 2);  /* no traverse */
    wt_node *z = wt_new(heap, &wt_node_type, 3);
    y->slot[0] = rcgc_ref(y);
    y->slot[1] = x;         /* y owns x */
    x->slot[0] = z;         /* x owns z, invisibly */
    y->slot[2] = wr_cb(heap, z, 7); /* WZ, owned by the garbage */
    rcgc_unref(y);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 2); /* y and WZ */
    CHECK_EQ_U64(wt_cb_calls, 0);
    CHECK_EQ_U64(wt_released, 3);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* GH-91636: a finalizer of the garbage creates a weak reference with a
** callback to another garbage object: it dies with the garbage, and its
** callback never sees the half-cleared object. */
TEST(gc_weakref_created_by_finalizer_to_garbage_dies_without_callback)
{
    rcgc_heap *heap = th_heap_new();
    wt_reset();
    wt_node *a = wt_new(heap, &wt_node_type, 1);
    wt_node *b = wt_new(heap, &wt_node_type, 2);
    a->slot[0] = rcgc_ref(b);
    b->slot[0] = rcgc_ref(a);
    a->fin = WT_FIN_MAKE_WEAK;
    rcgc_unref(a);
    rcgc_unref(b);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 2);
    CHECK(wt_made != NULL);
    CHECK(strstr(wt_log, "made-cb") == NULL);
    CHECK(!rcgc_weakref_is_alive(wt_made));
    rcgc_unref(wt_made);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* A callback may collect (returns 0: a collection is running) and allocate
** and make weak references. */
static rcgc_heap *reent_heap;
static long long reent_collect;
static rcgc_weakref *reent_made;
static int cb_reenter(rcgc_weakref *wr, void *arg)
{
    (void)wr;
    (void)arg;
    reent_collect = rcgc_gc_collect(reent_heap, 2);
    wt_node *n = wt_new(reent_heap, &wt_node_type, 50);
    reent_made = rcgc_weakref_new(reent_heap, n, wt_cb_log, NULL);
    rcgc_unref(n); /* fires reent_made's callback at once */
    return 0;
}

TEST(callback_may_collect_allocate_and_make_weakrefs)
{
    rcgc_heap *heap = th_heap_new();
    reent_heap = heap;
    wt_reset();
    wt_node *a = wt_new(heap, &wt_node_type, 1);
    a->slot[0] = rcgc_ref(a);
    rcgc_weakref *w = rcgc_weakref_new(heap, a, cb_reenter, NULL);
    rcgc_unref(a);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 1);
    CHECK_EQ_INT(reent_collect, 0);
    CHECK_EQ_STR(wt_log, "cb-1");
    rcgc_unref(reent_made);
    rcgc_unref(w);
    /* By refcount: the nested collection runs for real. */
    wt_reset();
    a = wt_new(heap, &wt_node_type, 1);
    w = rcgc_weakref_new(heap, a, cb_reenter, NULL);
    rcgc_unref(a);
    CHECK_EQ_INT(reent_collect, 0);
    CHECK_EQ_STR(wt_log, "cb-1");
    rcgc_unref(reent_made);
    rcgc_unref(w);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* A callback drops the last reference to another weak reference whose
** callback is still pending: that callback still runs (it is held). */
static rcgc_weakref *victim;
static int cb_drop_victim(rcgc_weakref *wr, void *arg)
{
    (void)wr;
    (void)arg;
    wt_logf("dropper");
    RCGC_CLEAR(victim);
    return 0;
}

TEST(pending_callback_survives_its_weakref_being_dropped)
{
    rcgc_heap *heap = th_heap_new();
    wt_reset();
    wt_node *o = wt_new(heap, &wt_node_type, 1);
    victim = wr_cb(heap, o, 8);
    rcgc_weakref *dropper = rcgc_weakref_new(heap, o, cb_drop_victim, NULL);
    rcgc_unref(o);
    CHECK_EQ_STR(wt_log, "dropper cb8");
    rcgc_unref(dropper);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 47: hashing and equality. */
static uint64_t hash_by_id(const void *obj, void *ctx)
{
    (void)ctx;
    return (uint64_t)((const wt_node *)obj)->id * 1000u;
}
static bool eq_by_id(const void *a, const void *b, void *ctx)
{
    (void)ctx;
    return ((const wt_node *)a)->id == ((const wt_node *)b)->id;
}

TEST(weakref_hash_and_equality_follow_cpython)
{
    rcgc_heap *heap = th_heap_new();
    wt_node *a = wt_new(heap, &wt_node_type, 5);
    wt_node *b = wt_new(heap, &wt_node_type, 5);
    rcgc_weakref *wa = rcgc_weakref_new(heap, a, NULL, NULL);
    rcgc_weakref *wb = rcgc_weakref_new(heap, b, NULL, NULL);
    rcgc_weakref *wa2 = wr_cb(heap, a, 1);
    uint64_t h = 0;
    CHECK_EQ_INT(rcgc_weakref_hash(wa, hash_by_id, NULL, &h), RCGC_OK);
    CHECK_EQ_U64(h, 5000);
    /* Alive: compare referents. */
    CHECK(rcgc_weakref_eq(wa, wb, eq_by_id, NULL));
    CHECK(!rcgc_weakref_eq(wa, wb, NULL, NULL)); /* identity */
    CHECK(rcgc_weakref_eq(wa, wa2, NULL, NULL));
    rcgc_unref(a);
    /* Hash kept after death; first hash after death fails. */
    h = 0;
    CHECK_EQ_INT(rcgc_weakref_hash(wa, hash_by_id, NULL, &h), RCGC_OK);
    CHECK_EQ_U64(h, 5000);
    CHECK_EQ_INT(rcgc_weakref_hash(wa2, NULL, NULL, &h), RCGC_ESTATE);
    CHECK_EQ_INT(rcgc_weakref_hash(wa2, NULL, NULL, &h), RCGC_ESTATE);
    /* Dead references equal only themselves. */
    CHECK(!rcgc_weakref_eq(wa, wb, eq_by_id, NULL));
    CHECK(!rcgc_weakref_eq(wa, wa2, NULL, NULL));
    CHECK(rcgc_weakref_eq(wa, wa, NULL, NULL));
    uint64_t hb1 = 0, hb2 = 0;
    CHECK_EQ_INT(rcgc_weakref_hash(wb, NULL, NULL, &hb1), RCGC_OK);
    CHECK_EQ_INT(rcgc_weakref_hash(wb, hash_by_id, NULL, &hb2), RCGC_OK);
    CHECK_EQ_U64(hb1, hb2); /* cached: the first hash wins */
    rcgc_unref(wa);
    rcgc_unref(wb);
    rcgc_unref(wa2);
    rcgc_unref(b);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* Weak references are objects: one stored in a garbage cycle is collected
** with it, and immortal referents keep their references alive. */
TEST(weakrefs_are_objects_collected_with_their_owner)
{
    rcgc_heap *heap = th_heap_new();
    wt_node *target = wt_new(heap, &wt_node_type, 1);
    wt_node *c = wt_new(heap, &wt_node_type, 2);
    c->slot[0] = rcgc_ref(c);
    c->slot[1] = rcgc_weakref_new(heap, target, NULL, NULL);
    c->slot[2] = wr_cb(heap, target, 3);
    CHECK(rcgc_weakref_is(c->slot[1]));
    CHECK(!rcgc_weakref_is(c));
    CHECK_EQ_U64(rcgc_weakref_count(target), 2);
    rcgc_unref(c);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 2); /* c and the callback ref */
    CHECK_EQ_U64(rcgc_weakref_count(target), 0);
    rcgc_unref(target);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* ------------------------------------------------------------------ */
/* finalize (PARITY 49)                                               */
/* ------------------------------------------------------------------ */

static int add3(void *arg, void *ctx)
{
    (void)arg;
    const int *v = ctx;
    return v[0] + v[1] + v[2];
}

TEST(finalize_call_peek_detach_alive)
{
    rcgc_heap *heap = th_heap_new();
    wt_node *a = wt_new(heap, &wt_node_type, 1);
    wt_node *arg = tag(heap, 9);
    static const int v[3] = {67, 43, 89};
    rcgc_finalize *f = rcgc_finalize_new(heap, a, add3, arg, (void *)v);
    CHECK(f != NULL);
    CHECK(rcgc_finalize_is_alive(f));
    CHECK(rcgc_finalize_get_atexit(f));
    rcgc_finalize_info info;
    CHECK(rcgc_finalize_peek(f, &info));
    CHECK_EQ_PTR(info.obj, a);
    CHECK(info.fn == add3);
    CHECK_EQ_PTR(info.arg, arg);
    CHECK_EQ_PTR(info.ctx, v);
    rcgc_unref(info.obj);
    rcgc_xunref(info.arg);
    CHECK_EQ_U64(rcgc_weakref_count(a), 1);
    int r = 0;
    CHECK(rcgc_finalize_call(f, &r));
    CHECK_EQ_INT(r, 199);
    CHECK(!rcgc_finalize_is_alive(f));
    r = 0;
    CHECK(!rcgc_finalize_call(f, &r));
    CHECK_EQ_INT(r, 0);
    CHECK(!rcgc_finalize_peek(f, &info));
    CHECK_EQ_U64(rcgc_weakref_count(a), 0);
    CHECK_EQ_U64(rcgc_refcount(arg), 1); /* the finalizer dropped its reference */
    rcgc_unref(f);

    /* detach: disarms, hands over obj and arg. */
    rcgc_finalize *g = rcgc_finalize_new(heap, a, add3, arg, (void *)v);
    CHECK(rcgc_finalize_detach(g, &info));
    CHECK_EQ_PTR(info.obj, a);
    CHECK_EQ_PTR(info.arg, arg);
    rcgc_unref(info.obj);
    rcgc_unref(info.arg);
    CHECK(!rcgc_finalize_is_alive(g));
    CHECK(!rcgc_finalize_detach(g, &info));
    CHECK(!rcgc_finalize_call(g, NULL));
    rcgc_unref(g);
    rcgc_unref(arg);
    rcgc_unref(a);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

static int fin_log(void *arg, void *ctx)
{
    (void)arg;
    wt_logf(ctx);
    return 0;
}

/* test_order: f1..f5 on one object, f5 detached, f3 called early. */
TEST(finalize_order_matches_cpython)
{
    rcgc_heap *heap = th_heap_new();
    wt_reset();
    wt_node *a = wt_new(heap, &wt_node_type, 1);
    static char n1[] = "f1", n2[] = "f2", n3[] = "f3", n4[] = "f4", n5[] = "f5";
    rcgc_finalize *f1 = rcgc_finalize_new(heap, a, fin_log, NULL, n1);
    rcgc_finalize *f2 = rcgc_finalize_new(heap, a, fin_log, NULL, n2);
    rcgc_finalize *f3 = rcgc_finalize_new(heap, a, fin_log, NULL, n3);
    rcgc_finalize *f4 = rcgc_finalize_new(heap, a, fin_log, NULL, n4);
    rcgc_finalize *f5 = rcgc_finalize_new(heap, a, fin_log, NULL, n5);
    rcgc_unref(f1); /* finalizers keep themselves alive */
    rcgc_unref(f4);
    CHECK(rcgc_finalize_is_alive(f2));
    CHECK(rcgc_finalize_is_alive(f3));
    rcgc_finalize_info info;
    CHECK(rcgc_finalize_detach(f5, &info));
    rcgc_unref(info.obj);
    CHECK(!rcgc_finalize_is_alive(f5));
    CHECK(!rcgc_finalize_call(f5, NULL));
    wt_logf("A");
    CHECK(rcgc_finalize_call(f3, NULL));
    CHECK(!rcgc_finalize_is_alive(f3));
    wt_logf("B");
    CHECK(!rcgc_finalize_call(f3, NULL));
    wt_logf("C");
    rcgc_unref(a);
    CHECK(!rcgc_finalize_is_alive(f2));
    wt_logf("D");
    CHECK(!rcgc_finalize_call(f2, NULL));
    CHECK_EQ_STR(wt_log, "A f3 B C f4 f2 f1 D");
    rcgc_unref(f2);
    rcgc_unref(f3);
    rcgc_unref(f5);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* Finalizers run when the object dies in a garbage cycle too. */
TEST(finalize_runs_when_object_dies_in_a_cycle)
{
    rcgc_heap *heap = th_heap_new();
    wt_reset();
    wt_node *a = wt_new(heap, &wt_node_type, 1);
    a->slot[0] = rcgc_ref(a);
    static char n1[] = "g1";
    rcgc_finalize *f = rcgc_finalize_new(heap, a, fin_log, NULL, n1);
    rcgc_unref(a);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 1);
    CHECK_EQ_STR(wt_log, "g1");
    CHECK(!rcgc_finalize_is_alive(f));
    rcgc_unref(f);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* test_atexit: at heap free only atexit finalizers run, newest first,
** including those registered meanwhile. */
static rcgc_heap *exit_heap;
static wt_node *exit_obj;
static char nlate[] = "late";
static int fin_register_more(void *arg, void *ctx)
{
    (void)arg;
    wt_logf(ctx);
    rcgc_finalize *g = rcgc_finalize_new(exit_heap, exit_obj, fin_log, NULL, nlate);
    rcgc_unref(g);
    return 0;
}

TEST(finalize_atexit_runs_newest_first_including_new_ones)
{
    rcgc_heap *heap = th_heap_new();
    exit_heap = heap;
    wt_reset();
    wt_node *a = wt_new(heap, &wt_node_type, 1);
    exit_obj = a;
    static char n1[] = "e1", n2[] = "e2", n3[] = "e3", n4[] = "e4";
    rcgc_unref(rcgc_finalize_new(heap, a, fin_log, NULL, n1));
    rcgc_finalize *f2 = rcgc_finalize_new(heap, a, fin_log, NULL, n2);
    rcgc_finalize_set_atexit(f2, false);
    CHECK(!rcgc_finalize_get_atexit(f2));
    rcgc_unref(f2);
    rcgc_unref(rcgc_finalize_new(heap, a, fin_register_more, NULL, n3));
    rcgc_unref(rcgc_finalize_new(heap, a, fin_log, NULL, n4));
    /* a is leaked on purpose: heap free runs the finalizers. */
    rcgc_heap_free(heap);
    CHECK_EQ_STR(wt_log, "e4 e3 late e1");
}

static int fin_fail(void *arg, void *ctx)
{
    (void)arg;
    (void)ctx;
    return -1;
}

TEST(finalize_error_is_reported)
{
    rcgc_heap *heap = th_heap_new();
    wt_node *a = wt_new(heap, &wt_node_type, 1);
    rcgc_unref(rcgc_finalize_new(heap, a, fin_fail, NULL, NULL));
    rcgc_unref(a);
    CHECK_CONTAINS(th_output, "error ignored in finalize callback");
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* An object that never had a weak reference pays nothing: no flag, no
** side-table state at all on a fresh heap. */
TEST(objects_without_weakrefs_pay_nothing)
{
    rcgc_heap *heap = th_heap_new();
    wt_node *a = wt_new(heap, &wt_node_type, 1);
    CHECK_EQ_U64(rcgc_object_size(a) >= sizeof(wt_node), 1);
    CHECK_EQ_U64(rcgc_weakref_count(a), 0);
    rcgc_unref(a);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* Many weakly referenced objects: the side table grows, then shrinks as
** they die; every step keeps the table consistent. */
TEST(side_table_grows_and_shrinks)
{
    rcgc_heap *heap = th_heap_new();
    enum { N = 5000 };
    static wt_node *objs[N];
    static rcgc_weakref *refs[N];
    for (int i = 0; i < N; i++) {
        objs[i] = wt_new(heap, &wt_node_type, i);
        refs[i] = rcgc_weakref_new(heap, objs[i], NULL, NULL);
        CHECK(refs[i] != NULL);
    }
    CHECK_HEAP(heap);
    for (int i = 0; i < N; i++) {
        rcgc_unref(objs[i]);
        if (i % 1000 == 0)
            CHECK_HEAP(heap);
    }
    for (int i = 0; i < N; i++) {
        CHECK(!rcgc_weakref_is_alive(refs[i]));
        rcgc_unref(refs[i]);
    }
    /* And again, dropping the references first this time. */
    for (int i = 0; i < N; i++) {
        objs[i] = wt_new(heap, &wt_node_type, i);
        refs[i] = rcgc_weakref_new(heap, objs[i], NULL, NULL);
    }
    for (int i = 0; i < N; i++)
        rcgc_unref(refs[i]);
    CHECK_HEAP(heap);
    for (int i = 0; i < N; i++) {
        CHECK_EQ_U64(rcgc_weakref_count(objs[i]), 0);
        rcgc_unref(objs[i]);
    }
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}
