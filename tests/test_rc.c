/*
** test_rc.c -- reference counting and death by refcount: immediate
** reclamation, immortal objects, the trashcan (bounded-stack dealloc, also on
** a 256 KiB thread stack), finalizer ordering and resurrection on the
** refcount path, RCGC_CLEAR/SETREF/XSETREF, misuse panics and the leak
** report at heap free. PARITY scenarios 10-17 and §1.2.
** White-box: reads heap->live_objects (src/heap.h) to prove nothing leaks.
*/
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

#include "gc_testtypes.h"
#include "harness.h"
#include "heap.h"

static size_t live_objects(rcgc_heap *heap) { return heap->live_objects; }

/* PARITY 10: immediate reclamation */
TEST(unref_to_zero_frees_at_once_and_only_once)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    size_t bytes0 = rcgc__mem_live_bytes(&heap->mem);
    tt_node *a = tt_new(heap, &tt_node_type);
    CHECK(a != NULL);
    CHECK_EQ_U64(rcgc_refcount(a), 1);
    CHECK(rcgc_is_tracked(a));
    CHECK_EQ_U64(live_objects(heap), 1);
    CHECK_EQ_PTR(rcgc_ref(a), a);
    CHECK_EQ_U64(rcgc_refcount(a), 2);
    rcgc_unref(a);
    CHECK_EQ_U64(rcgc_refcount(a), 1);
    CHECK_EQ_U64(tt_released, 0);
    CHECK_HEAP(heap);
    rcgc_unref(a);
    CHECK_EQ_U64(tt_released, 1);
    CHECK_EQ_U64(tt_cleared, 1);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_EQ_U64(rcgc_gc_generation_size(heap, -1), 0);
    CHECK_EQ_U64(rcgc__mem_live_bytes(&heap->mem), bytes0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 10: the children of a dying object die with it, synchronously */
TEST(unref_to_zero_frees_owned_children_at_once)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    size_t bytes0 = rcgc__mem_live_bytes(&heap->mem);
    tt_node *a = tt_new(heap, &tt_node_type);
    tt_node *b = tt_new(heap, &tt_node_type);
    tt_node *s = rcgc_new(heap, &tt_atom_type);
    tt_list *l = tt_new_list(heap, 3);
    CHECK(a && b && s && l);
    CHECK(!rcgc_is_tracked(s));
    CHECK(rcgc_is_tracked(l));
    l->item[0] = s;        /* steals */
    l->item[2] = rcgc_ref(b);
    a->slot[0] = b;        /* steals */
    a->slot[1] = l;        /* steals */
    CHECK_EQ_U64(live_objects(heap), 4);
    CHECK_EQ_U64(rcgc_gc_generation_size(heap, 0), 3);
    CHECK_HEAP(heap);
    rcgc_unref(a);
    CHECK_EQ_U64(tt_released, 4);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_EQ_U64(rcgc_gc_generation_size(heap, -1), 0);
    CHECK_EQ_U64(rcgc__mem_live_bytes(&heap->mem), bytes0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 1.2: NULL-safe forms */
TEST(xref_and_xunref_accept_null)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    CHECK_EQ_PTR(rcgc_xref(NULL), NULL);
    rcgc_xunref(NULL);
    tt_node *a = tt_new(heap, &tt_node_type);
    CHECK_EQ_PTR(rcgc_xref(a), a);
    CHECK_EQ_U64(rcgc_refcount(a), 2);
    rcgc_xunref(a);
    rcgc_xunref(a);
    CHECK_EQ_U64(tt_released, 1);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* ------------------------------------------------------------------ */
/* RCGC_CLEAR / RCGC_SETREF / RCGC_XSETREF (PARITY 1.2 core ops)       */
/* ------------------------------------------------------------------ */

static void *g_var;          /* the variable the macros assign */
static void *g_seen_in_release; /* g_var as the dying object saw it */
static int g_release_calls;

static void observe_release(void *obj)
{
    (void)obj;
    g_release_calls++;
    g_seen_in_release = g_var;
}

static const rcgc_type observer_type = {
    "observer", 16, 0, 0, NULL, NULL, NULL, observe_release,
};

/* PARITY 1.2: Py_CLEAR sets the variable to NULL before the unref */
TEST(clear_macro_nulls_the_variable_before_the_object_dies)
{
    rcgc_heap *heap = th_heap_new();
    g_var = rcgc_new(heap, &observer_type);
    g_seen_in_release = (void *)1;
    g_release_calls = 0;
    RCGC_CLEAR(g_var);
    CHECK_EQ_INT(g_release_calls, 1);
    CHECK_EQ_PTR(g_seen_in_release, NULL);
    CHECK_EQ_PTR(g_var, NULL);
    RCGC_CLEAR(g_var); /* NULL: does nothing */
    CHECK_EQ_INT(g_release_calls, 1);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 1.2: Py_SETREF assigns the new value, then drops the old one */
TEST(setref_assigns_before_dropping_the_old_value)
{
    rcgc_heap *heap = th_heap_new();
    void *first = rcgc_new(heap, &observer_type);
    void *second = rcgc_new(heap, &observer_type);
    g_var = first;
    g_release_calls = 0;
    RCGC_SETREF(g_var, second);
    CHECK_EQ_INT(g_release_calls, 1);
    CHECK_EQ_PTR(g_seen_in_release, second);
    CHECK_EQ_PTR(g_var, second);
    /* XSETREF accepts a NULL old value and a NULL new one. */
    void *none = NULL;
    RCGC_XSETREF(none, rcgc_ref(second));
    CHECK_EQ_PTR(none, second);
    CHECK_EQ_U64(rcgc_refcount(second), 2);
    RCGC_XSETREF(g_var, NULL);
    CHECK_EQ_PTR(g_var, NULL);
    CHECK_EQ_INT(g_release_calls, 1);
    RCGC_XSETREF(none, NULL);
    CHECK_EQ_INT(g_release_calls, 2);
    CHECK_EQ_PTR(g_seen_in_release, NULL);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* ------------------------------------------------------------------ */
/* Immortal objects                                                   */
/* ------------------------------------------------------------------ */

/* PARITY 11: immortals */
TEST(immortal_object_survives_a_million_unrefs)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    tt_node *a = tt_new(heap, &tt_node_type);
    tt_node *s = rcgc_new(heap, &tt_atom_type);
    a->slot[0] = s;
    CHECK(rcgc_is_tracked(a));
    rcgc_set_immortal(a);
    CHECK(rcgc_is_immortal(a));
    CHECK(!rcgc_is_immortal(s));
    CHECK_EQ_U64(rcgc_refcount(a), RCGC_IMMORTAL_REFCNT);
    /* The collector never scans an immortal container: it is untracked. */
    CHECK(!rcgc_is_tracked(a));
    rcgc_track(a);
    CHECK(!rcgc_is_tracked(a));
    for (int i = 0; i < 1000000; i++)
        rcgc_unref(a);
    for (int i = 0; i < 1000; i++)
        CHECK_EQ_PTR(rcgc_ref(a), a);
    CHECK_EQ_U64(rcgc_refcount(a), RCGC_IMMORTAL_REFCNT);
    CHECK_EQ_U64(tt_released, 0);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 0);
    CHECK_EQ_U64(rcgc_refcount(a), RCGC_IMMORTAL_REFCNT);
    CHECK_EQ_PTR(a->slot[0], s);
    CHECK_EQ_U64(live_objects(heap), 2);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap); /* frees immortals with the heap */
}

/* PARITY 11 / rcgc.h: a mortal count that reaches RCGC_IMMORTAL_MIN by
** increments saturates there (set just below by hand: 2^31 increments
** would take too long). */
TEST(refcount_saturates_at_the_immortal_minimum)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    void *s = rcgc_new(heap, &tt_atom_type);
    RCGC__HEAD(s)->refcnt_ = RCGC_IMMORTAL_MIN - 1;
    CHECK(!rcgc_is_immortal(s));
    rcgc_ref(s);
    CHECK(rcgc_is_immortal(s));
    CHECK_EQ_U64(rcgc_refcount(s), RCGC_IMMORTAL_MIN);
    rcgc_ref(s);
    CHECK_EQ_U64(rcgc_refcount(s), RCGC_IMMORTAL_MIN);
    for (int i = 0; i < 1000; i++)
        rcgc_unref(s);
    CHECK_EQ_U64(rcgc_refcount(s), RCGC_IMMORTAL_MIN);
    CHECK_EQ_U64(tt_released, 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* ------------------------------------------------------------------ */
/* The trashcan: bounded-stack dealloc of deep chains                  */
/* ------------------------------------------------------------------ */

/* The smallest container: one reference (a 32-byte block with its header),
** so that ten million of them fit in 320 MB. */
typedef struct link1 {
    void *next;
} link1;

static int link1_traverse(void *obj, rcgc_visit_fn visit, void *arg)
{
    RCGC_VISIT(((link1 *)obj)->next);
    return 0;
}

static void link1_clear(void *obj)
{
    tt_cleared++;
    RCGC_CLEAR(((link1 *)obj)->next);
}

static const rcgc_type link1_type = {
    "link1", sizeof(link1), 0, 0, link1_traverse, link1_clear, NULL, tt_count_release,
};

/* Build a chain of n nested objects (each owns the previous one) and drop
** its head; every object must be released exactly once. */
static void chain_drop(rcgc_heap *heap, const rcgc_type *t, size_t n)
{
    tt_reset();
    void *head = NULL;
    for (size_t i = 0; i < n; i++) {
        void *x;
        if (t == &link1_type) {
            link1 *l = rcgc_new(heap, t);
            if (l)
                l->next = head;
            x = l;
        } else if (t == &tt_list_type) {
            tt_list *l = tt_new_list(heap, 2);
            if (l)
                l->item[1] = head;
            x = l;
        } else {
            tt_node *nd = rcgc_new(heap, t);
            if (nd)
                nd->slot[0] = head;
            x = nd;
        }
        if (!x) {
            th_fail(__FILE__, __LINE__, "allocation %zu of %zu failed", i, n);
            break;
        }
        head = x;
    }
    CHECK_EQ_U64(live_objects(heap), n);
    rcgc_unref(head);
    CHECK_EQ_U64(tt_released, n);
    if (t->clear)
        CHECK_EQ_U64(tt_cleared, n);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_EQ_U64(rcgc_gc_generation_size(heap, -1), 0);
}

/* Sanitizer builds use shorter chains (each test < 10 s); the stack depth
** a chain needs does not grow with its length once it is deeper than the
** trashcan's limit, so the small-stack check keeps its force. */
#if TT_SANITIZED
#define DEEP_MAIN 1000000u
#else
#define DEEP_MAIN 10000000u
#endif
#if TT_SANITIZED
#define DEEP_THREAD 500000u
#else
#define DEEP_THREAD 1000000u
#endif

/* PARITY 12: trashcan depth (main thread, user type with a release hook) */
TEST(dropping_a_ten_million_deep_chain_does_not_overflow_the_stack)
{
    rcgc_heap *heap = th_heap_new();
    chain_drop(heap, &link1_type, DEEP_MAIN);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 12: trashcan depth (list-in-list; a container the collector cannot
** see into) */
TEST(dropping_deep_list_and_untracked_chains_releases_each_once)
{
    rcgc_heap *heap = th_heap_new();
    chain_drop(heap, &tt_list_type, DEEP_THREAD);
    CHECK_HEAP(heap);
    chain_drop(heap, &tt_opaque_type, DEEP_THREAD);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

static void *deep_thread_main(void *arg)
{
    rcgc_heap *heap = arg;
    chain_drop(heap, &tt_node_type, DEEP_THREAD);
    chain_drop(heap, &tt_list_type, DEEP_THREAD);
    return NULL;
}

/* PARITY 12: trashcan on a thread with a 256 KiB stack */
TEST(dropping_a_million_deep_chain_on_a_small_thread_stack)
{
    rcgc_heap *heap = th_heap_new();
    pthread_attr_t attr;
    pthread_t th;
    pthread_attr_init(&attr);
    CHECK_EQ_INT(pthread_attr_setstacksize(&attr, 256 * 1024), 0);
    CHECK_EQ_INT(pthread_create(&th, &attr, deep_thread_main, heap), 0);
    pthread_join(th, NULL);
    pthread_attr_destroy(&attr);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 13: trashcan + finalizers + GC: 2 x 150-deep chains of
** [prev, Ouch()] whose finalizer runs a full collection every 17th call */
TEST(deep_chains_with_collecting_finalizers_die_cleanly)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    enum { DEPTH = 150 };
    tt_list *lhead = NULL;
    tt_node *nhead = NULL;
    for (int i = 0; i < DEPTH; i++) {
        tt_list *l = tt_new_list(heap, 2);
        tt_node *ouch = tt_new(heap, &tt_fin_type);
        ouch->mode = TT_FIN_COLLECT;
        ouch->every = 17;
        l->item[0] = lhead;
        l->item[1] = ouch;
        lhead = l;
        tt_node *n = tt_new(heap, &tt_node_type);
        tt_node *ouch2 = tt_new(heap, &tt_fin_type);
        ouch2->mode = TT_FIN_COLLECT;
        ouch2->every = 17;
        n->slot[0] = nhead;
        n->slot[1] = ouch2;
        nhead = n;
    }
    CHECK_EQ_U64(live_objects(heap), 4 * DEPTH);
    CHECK_HEAP(heap);
    rcgc_unref(lhead);
    rcgc_unref(nhead);
    CHECK_EQ_U64(tt_finalized, 2 * DEPTH);
    CHECK_EQ_U64(tt_inner_collects, (2 * DEPTH) / 17);
    CHECK_EQ_U64(tt_released, 4 * DEPTH);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 14: two threads, each with its own heap, build and drop 60-deep
** nested containers whose finalizer gives the CPU away mid-dealloc. */
static _Thread_local size_t thr_inits, thr_dels;

static void thr_release(void *obj)
{
    (void)obj;
    thr_dels++;
}

/* Thread-private hooks: the shared tt_* counters are not for threads. */
static int thr_finalize(void *obj)
{
    (void)obj;
    sched_yield();
    return 0;
}

static void thr_clear(void *obj)
{
    tt_node *n = obj;
    for (int i = 0; i < TT_SLOTS; i++)
        RCGC_CLEAR(n->slot[i]);
}

static const rcgc_type thr_type = {
    "thrnode", sizeof(tt_node), 0, 0, tt_node_traverse, thr_clear, thr_finalize, thr_release,
};

typedef struct thr_result {
    size_t inits, dels, live, rounds;
    int check;
} thr_result;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *thr_main(void *arg)
{
    thr_result *r = arg;
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_threshold[0] = 50; /* automatic collections run too */
    rcgc_heap *heap = rcgc_heap_new(&cfg);
    double end = now_s() + 0.5;
    while (now_s() < end) {
        tt_node *head = NULL;
        for (int i = 0; i < 60; i++) {
            tt_node *n = rcgc_new(heap, &thr_type);
            thr_inits++;
            n->slot[0] = head;
            if (head && i % 7 == 0)
                n->slot[1] = rcgc_ref(n); /* some garbage cycles too */
            head = n;
        }
        rcgc_unref(head);
        r->rounds++;
    }
    rcgc_gc_collect(heap, 2);
    r->check = rcgc_heap_check(heap);
    r->live = heap->live_objects;
    r->inits = thr_inits;
    r->dels = thr_dels;
    rcgc_heap_free(heap);
    return NULL;
}

TEST(two_threads_with_own_heaps_free_every_object)
{
    pthread_t th[2];
    thr_result res[2];
    memset(res, 0, sizeof res);
    for (int i = 0; i < 2; i++)
        CHECK_EQ_INT(pthread_create(&th[i], NULL, thr_main, &res[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) {
        CHECK(res[i].rounds > 0);
        CHECK_EQ_U64(res[i].inits, res[i].dels);
        CHECK_EQ_U64(res[i].live, 0);
        CHECK_EQ_INT(res[i].check, RCGC_OK);
    }
}

/* ------------------------------------------------------------------ */
/* Ordering and resurrection on the refcount path                      */
/* ------------------------------------------------------------------ */

static char g_order[16];
static size_t g_norder;

static void ord_push(char c)
{
    if (g_norder + 1 < sizeof g_order) {
        g_order[g_norder++] = c;
        g_order[g_norder] = 0;
    }
}
static int ord_finalize(void *obj)
{
    tt_node *n = obj;
    /* The finalizer sees its fields intact. */
    ord_push(n->slot[0] ? 'F' : 'f');
    return 0;
}
static void ord_clear(void *obj)
{
    ord_push('C');
    tt_node_clear(obj);
}
static void ord_release(void *obj)
{
    tt_node *n = obj;
    ord_push(n->slot[0] ? 'r' : 'R'); /* release after clear: fields gone */
}

static const rcgc_type ord_type = {
    "ordered", sizeof(tt_node), 0, 0, tt_node_traverse, ord_clear, ord_finalize, ord_release,
};

/* PARITY 15: refcount-path ordering: finalize (fields intact), then clear,
** then release, each once. (The weak-reference half of the scenario belongs
** to the weakref tests.) */
TEST(death_by_refcount_runs_finalize_then_clear_then_release)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    g_norder = 0;
    g_order[0] = 0;
    tt_node *a = rcgc_new(heap, &ord_type);
    a->slot[0] = rcgc_new(heap, &tt_atom_type);
    rcgc_unref(a);
    CHECK_EQ_STR(g_order, "FCR");
    CHECK_EQ_U64(tt_released, 1); /* the atom */
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 16: a finalizer storing self aborts the dealloc; a GC type's
** finalizer is not called at its next death */
TEST(refcount_resurrection_keeps_object_and_finalizes_once)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    tt_node *a = tt_new(heap, &tt_fin_type);
    tt_node *child = tt_new(heap, &tt_node_type);
    a->slot[0] = child;
    a->mode = TT_FIN_RESURRECT;
    CHECK(!rcgc_is_finalized(a));
    rcgc_unref(a);
    CHECK_EQ_U64(tt_finalized, 1);
    CHECK_EQ_U64(tt_nstash, 1);
    CHECK_EQ_PTR(tt_stash[0], a);
    CHECK_EQ_U64(rcgc_refcount(a), 1);
    CHECK_EQ_U64(tt_released, 0);
    CHECK_EQ_U64(tt_cleared, 0);
    CHECK_EQ_PTR(a->slot[0], child); /* intact */
    CHECK(rcgc_is_tracked(a));      /* tracked again, as before */
    CHECK(rcgc_is_finalized(a));
    CHECK_HEAP(heap);
    rcgc_unref(tt_stash[0]);
    CHECK_EQ_U64(tt_finalized, 1); /* not again */
    CHECK_EQ_U64(tt_released, 2);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 16: non-GC objects have no FINALIZED bit: the finalizer runs at
** every death (test_non_gc_resurrect: del_calls == [id, id]) */
TEST(non_gc_object_is_finalized_again_at_each_death)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    tt_node *a = rcgc_new(heap, &tt_atom_fin_type);
    a->mode = TT_FIN_RESURRECT;
    CHECK(!rcgc_is_tracked(a));
    rcgc_unref(a);
    CHECK_EQ_U64(tt_finalized, 1);
    CHECK_EQ_PTR(tt_stash[0], a);
    rcgc_unref(tt_stash[0]);
    CHECK_EQ_U64(tt_finalized, 2);
    CHECK_EQ_U64(tt_nstash, 2);
    CHECK_EQ_PTR(tt_stash[1], a);
    CHECK_EQ_U64(tt_released, 0);
    a->mode = TT_FIN_COUNT;
    rcgc_unref(tt_stash[1]);
    CHECK_EQ_U64(tt_finalized, 3);
    CHECK_EQ_U64(tt_released, 1);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* rcgc.h: a finalizer's error is reported; the object still dies */
TEST(finalizer_error_on_refcount_path_is_reported_and_object_dies)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    tt_node *a = tt_new(heap, &tt_fin_type);
    a->mode = TT_FIN_ERROR;
    char addr[64];
    snprintf(addr, sizeof addr, "%p", (void *)a);
    rcgc_unref(a);
    CHECK_EQ_U64(tt_finalized, 1);
    CHECK_EQ_U64(tt_released, 1);
    CHECK_CONTAINS(th_output, "finnode");
    CHECK_CONTAINS(th_output, addr);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* ------------------------------------------------------------------ */
/* Misuse goes to the panic hook (PARITY 17 and rcgc.h)                */
/* ------------------------------------------------------------------ */

/* Objects are made in the parent so that it knows their addresses; the
** child inherits the heap and triggers the panic. */
static char g_expect_addr[64];

static void expect_names(const char *msg, const char *type, const char *refcnt)
{
    CHECK_CONTAINS(msg, g_expect_addr);
    CHECK_CONTAINS(msg, type);
    CHECK_CONTAINS(msg, refcnt);
}

static void self_unref_release(void *obj) { rcgc_unref(obj); }
static const rcgc_type self_unref_type = {
    "selfunref", 16, 0, 0, NULL, NULL, NULL, self_unref_release,
};

static void do_unref(void *obj) { rcgc_unref(obj); }

/* PARITY 17: negative refcount */
TEST(unref_below_zero_panics)
{
    rcgc_heap *heap = th_heap_new();
    void *a = rcgc_new(heap, &self_unref_type);
    snprintf(g_expect_addr, sizeof g_expect_addr, "%p", a);
    /* The release hook unrefs its own object, whose count is already 0. */
    const char *msg = CHECK_PANICS(do_unref, a, "negative ref count");
    expect_names(msg, "selfunref", "refcount 0");
    rcgc_heap_free(heap);
}

static void do_double_unref(void *obj)
{
    rcgc_unref(obj);
    rcgc_unref(obj);
}

TEST(unref_of_a_freed_object_panics)
{
    rcgc_heap *heap = th_heap_new();
    tt_node *keep = tt_new(heap, &tt_node_type); /* keeps the pool alive */
    tt_node *a = tt_new(heap, &tt_node_type);
    snprintf(g_expect_addr, sizeof g_expect_addr, "%p", (void *)a);
    const char *msg = CHECK_PANICS(do_double_unref, a, "freed object");
    expect_names(msg, "freed", "refcount 0");
    rcgc_unref(keep);
    rcgc_heap_free(heap);
}

static void do_collect(void *heap) { rcgc_gc_collect(heap, 2); }

/* PARITY 17: a container whose refcount is lower than its references from
** tracked objects makes the next collection panic */
TEST(refcount_too_small_panics_in_collect)
{
    rcgc_heap *heap = th_heap_new();
    tt_node *a = tt_new(heap, &tt_node_type);
    tt_node *b = tt_new(heap, &tt_node_type);
    tt_node *c = tt_new(heap, &tt_node_type);
    a->slot[0] = b; /* steals b's only reference */
    c->slot[0] = b; /* a reference that was never counted */
    snprintf(g_expect_addr, sizeof g_expect_addr, "%p", (void *)b);
    const char *msg = CHECK_PANICS(do_collect, heap, "refcount is too small");
    expect_names(msg, "node", "refcount 1");
    c->slot[0] = NULL;
    rcgc_unref(a);
    rcgc_unref(c);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

static void do_track(void *obj) { rcgc_track(obj); }

TEST(tracking_a_tracked_object_panics)
{
    rcgc_heap *heap = th_heap_new();
    tt_node *a = tt_new(heap, &tt_node_type);
    snprintf(g_expect_addr, sizeof g_expect_addr, "%p", (void *)a);
    const char *msg = CHECK_PANICS(do_track, a, "already tracked");
    expect_names(msg, "node", "refcount 1");
    /* Untrack is idempotent; track after untrack is fine. */
    rcgc_untrack(a);
    rcgc_untrack(a);
    CHECK(!rcgc_is_tracked(a));
    rcgc_track(a);
    CHECK(rcgc_is_tracked(a));
    CHECK_HEAP(heap);
    rcgc_unref(a);
    rcgc_heap_free(heap);
}

TEST(tracking_an_atomic_object_panics)
{
    rcgc_heap *heap = th_heap_new();
    void *s = rcgc_new(heap, &tt_atom_type);
    CHECK(!rcgc_is_tracked(s));
    snprintf(g_expect_addr, sizeof g_expect_addr, "%p", s);
    const char *msg = CHECK_PANICS(do_track, s, "traverse");
    expect_names(msg, "atom", "refcount 1");
    rcgc_unref(s);
    rcgc_heap_free(heap);
}

TEST(traverse_reaching_another_heaps_object_panics_in_collect)
{
    rcgc_heap *h1 = th_heap_new();
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = false;
    cfg.leak_report = false;
    rcgc_heap *h2 = th_heap_new_cfg(&cfg);
    tt_node *a = tt_new(h1, &tt_node_type);
    tt_node *b = tt_new(h2, &tt_node_type);
    a->slot[0] = b;
    snprintf(g_expect_addr, sizeof g_expect_addr, "%p", (void *)a);
    const char *msg = CHECK_PANICS(do_collect, h1, "another heap");
    expect_names(msg, "node", "refcount 1");
    char baddr[64];
    snprintf(baddr, sizeof baddr, "%p", (void *)b);
    CHECK_CONTAINS(msg, baddr);
    a->slot[0] = NULL;
    rcgc_unref(b);
    rcgc_unref(a);
    rcgc_heap_free(h2);
    rcgc_heap_free(h1);
}

/* ------------------------------------------------------------------ */
/* Leak report at heap free                                            */
/* ------------------------------------------------------------------ */

TEST(heap_free_reports_live_objects_with_their_type)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = false;
    cfg.leak_report = true;
    rcgc_heap *heap = th_heap_new_cfg(&cfg);
    tt_node *a = tt_new(heap, &tt_fin_type);
    void *s = rcgc_new(heap, &tt_atom_type);
    (void)s;
    char addr[64];
    snprintf(addr, sizeof addr, "%p", (void *)a);
    th_output_clear();
    rcgc_heap_free(heap);
    CHECK_CONTAINS(th_output, "2 object(s) still alive");
    CHECK_CONTAINS(th_output, "finnode");
    CHECK_CONTAINS(th_output, addr);
    CHECK_CONTAINS(th_output, "1 untracked");
}

TEST(heap_free_reports_nothing_when_everything_was_released)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = false;
    cfg.leak_report = true;
    rcgc_heap *heap = th_heap_new_cfg(&cfg);
    tt_node *a = tt_self_cycle(heap, &tt_node_type);
    rcgc_unref(a);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 1);
    th_output_clear();
    rcgc_heap_free(heap);
    CHECK(strstr(th_output, "still alive") == NULL);
}

/* PARITY 12 + 16: an object whose death the trashcan deferred (it is 100
** levels below the dropped head, past the depth limit) may still be
** resurrected by its finalizer: it comes back tracked, intact, with the
** chain below it alive. */
TEST(resurrection_inside_a_deep_chain_retracks_the_object)
{
    rcgc_heap *heap = th_heap_new();
    tt_reset();
    enum { DEPTH = 300, R = DEPTH - 1 - 100 };
    tt_node *head = NULL;
    for (int i = 0; i < DEPTH; i++) {
        tt_node *n = tt_new(heap, &tt_fin_type);
        n->id = i;
        n->mode = i == R ? TT_FIN_RESURRECT : TT_FIN_COUNT;
        n->slot[0] = head;
        n->slot[1] = rcgc_new(heap, &tt_atom_type);
        head = n;
    }
    rcgc_unref(head);
    CHECK_EQ_U64(tt_nstash, 1);
    CHECK_EQ_U64(tt_finalized, DEPTH - R);
    CHECK_EQ_U64(tt_released, 2 * (DEPTH - 1 - R));
    CHECK_EQ_U64(live_objects(heap), 2 * (R + 1));
    CHECK_HEAP(heap);
    tt_node *r = tt_stash[0];
    CHECK_EQ_INT(r->id, R);
    CHECK(rcgc_is_tracked(r));
    CHECK(rcgc_is_finalized(r));
    CHECK_EQ_U64(rcgc_refcount(r), 1);
    CHECK(r->slot[0] != NULL && r->slot[1] != NULL);
    CHECK_EQ_INT(((tt_node *)r->slot[0])->id, R - 1);
    rcgc_unref(r);
    CHECK_EQ_U64(tt_nstash, 1); /* not finalized again */
    CHECK_EQ_U64(tt_finalized, DEPTH);
    CHECK_EQ_U64(tt_released, 2 * DEPTH);
    CHECK_EQ_U64(live_objects(heap), 0);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}
