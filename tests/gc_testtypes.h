/*
** gc_testtypes.h -- small object types shared by the core's tests (test_rc,
** test_gc*, test_fault, test_stress) and the heap fuzzer: a "node" with four
** reference slots, a variable-size "list", finalizing, legacy-uncollectable
** and atomic types, and per-process counters of the callbacks they ran.
** Everything is static: each test file gets its own copy.
*/
#ifndef RCGC_GC_TESTTYPES_H
#define RCGC_GC_TESTTYPES_H

#include <stddef.h>
#include <stdint.h>

#include "rcgc.h"

#if defined(__GNUC__)
#define TT_UNUSED __attribute__((unused))
#else
#define TT_UNUSED
#endif

/* Sanitizer builds run big loops scaled down (each test stays < ~10 s). */
#if defined(__SANITIZE_ADDRESS__)
#define TT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TT_SANITIZED 1
#endif
#endif
#ifndef TT_SANITIZED
#define TT_SANITIZED 0
#endif

#define TT_SLOTS 4

/* What a finalizer does (node.mode). */
enum {
    TT_FIN_COUNT = 0,    /* only count the call */
    TT_FIN_RESURRECT,    /* store a new reference to itself in tt_stash[] */
    TT_FIN_COLLECT,      /* run rcgc_gc_collect(heap, 2), record its result */
    TT_FIN_ERROR,        /* return an error */
    TT_FIN_SUICIDE,      /* clear its own slots (breaks its own cycle) */
    TT_FIN_CHECK_INTACT  /* count a cleared slot[0] or slot[0]->slot[0] */
};

/* The node: up to four strong references, plus bookkeeping the test reads. */
typedef struct tt_node {
    void *slot[TT_SLOTS];
    int mode;   /* TT_FIN_* for finalizing types */
    int id;     /* test-assigned */
    int every;  /* TT_FIN_COLLECT: collect on every 'every'-th call */
} tt_node;

/* The variable-size list: 'n' item slots follow the header. */
typedef struct tt_list {
    size_t n;
    void *item[];
} tt_list;

/* Counters of the callbacks run since the last tt_reset(). */
static size_t tt_released TT_UNUSED;  /* release hooks of every type */
static size_t tt_cleared TT_UNUSED;   /* clear hooks of every type */
static size_t tt_finalized TT_UNUSED; /* finalize hooks of every type */
static int tt_intact_bad TT_UNUSED;   /* TT_FIN_CHECK_INTACT saw a cleared field */
static long long tt_inner_collect TT_UNUSED = -1; /* result of the last TT_FIN_COLLECT */
static size_t tt_inner_collects TT_UNUSED;        /* TT_FIN_COLLECT collections run */
/* Optional per-id hooks: tt_dead[id] is set when node 'id' is released. */
static unsigned char *tt_dead TT_UNUSED;
static size_t tt_dead_cap TT_UNUSED;
/* Where TT_FIN_RESURRECT stores its new references. */
#define TT_STASH 256
static void *tt_stash[TT_STASH] TT_UNUSED;
static size_t tt_nstash TT_UNUSED;

static inline void tt_reset(void)
{
    tt_released = tt_cleared = tt_finalized = 0;
    tt_intact_bad = 0;
    tt_inner_collect = -1;
    tt_inner_collects = 0;
    tt_nstash = 0;
    tt_dead = NULL;
    tt_dead_cap = 0;
}

static inline int tt_node_traverse(void *obj, rcgc_visit_fn visit, void *arg)
{
    tt_node *n = obj;
    for (int i = 0; i < TT_SLOTS; i++)
        RCGC_VISIT(n->slot[i]);
    return 0;
}

static inline void tt_node_clear(void *obj)
{
    tt_node *n = obj;
    tt_cleared++;
    for (int i = 0; i < TT_SLOTS; i++)
        RCGC_CLEAR(n->slot[i]);
}

static inline void tt_node_release(void *obj)
{
    tt_node *n = obj;
    tt_released++;
    if (tt_dead && n->id >= 0 && (size_t)n->id < tt_dead_cap)
        tt_dead[n->id]++;
}

static inline int tt_list_traverse(void *obj, rcgc_visit_fn visit, void *arg)
{
    tt_list *l = obj;
    for (size_t i = 0; i < l->n; i++)
        RCGC_VISIT(l->item[i]);
    return 0;
}

static inline void tt_list_clear(void *obj)
{
    tt_list *l = obj;
    tt_cleared++;
    for (size_t i = 0; i < l->n; i++)
        RCGC_CLEAR(l->item[i]);
}

static inline void tt_count_release(void *obj)
{
    (void)obj;
    tt_released++;
}

static inline int tt_node_finalize(void *obj)
{
    tt_node *n = obj;
    tt_finalized++;
    switch (n->mode) {
    case TT_FIN_RESURRECT:
        if (tt_nstash < TT_STASH)
            tt_stash[tt_nstash++] = rcgc_ref(obj);
        return 0;
    case TT_FIN_COLLECT:
        if (n->every <= 1 || tt_finalized % (size_t)n->every == 0) {
            tt_inner_collects++;
            tt_inner_collect = rcgc_gc_collect(rcgc_heap_of(obj), 2);
        }
        return 0;
    case TT_FIN_ERROR:
        return -1;
    case TT_FIN_SUICIDE:
        for (int i = 0; i < TT_SLOTS; i++)
            RCGC_CLEAR(n->slot[i]);
        return 0;
    case TT_FIN_CHECK_INTACT: {
        tt_node *next = n->slot[0];
        if (!next || !next->slot[0])
            tt_intact_bad++;
        return 0;
    }
    default:
        return 0;
    }
}

/* A plain container. */
static const rcgc_type tt_node_type TT_UNUSED = {
    "node", sizeof(tt_node), 0, 0, tt_node_traverse, tt_node_clear, NULL, tt_node_release,
};
/* A container with a finalizer (PEP 442 __del__). */
static const rcgc_type tt_fin_type TT_UNUSED = {
    "finnode", sizeof(tt_node), 0, 0, tt_node_traverse, tt_node_clear, tt_node_finalize,
    tt_node_release,
};
/* CPython's legacy tp_del: never collected while in a garbage cycle. */
static const rcgc_type tt_legacy_type TT_UNUSED = {
    "legacy", sizeof(tt_node), 0, RCGC_TYPE_UNCOLLECTABLE_IN_CYCLE, tt_node_traverse,
    tt_node_clear, tt_node_finalize, tt_node_release,
};
/* Variable-size container: rcgc_new_var(heap, &tt_list_type, n). */
static const rcgc_type tt_list_type TT_UNUSED = {
    "list", offsetof(tt_list, item), sizeof(void *), 0, tt_list_traverse, tt_list_clear,
    NULL, tt_count_release,
};
/* Atomic: no traverse, never tracked (a string, an int). */
static const rcgc_type tt_atom_type TT_UNUSED = {
    "atom", 24, 0, 0, NULL, NULL, NULL, tt_count_release,
};
/* Atomic with a finalizer: no FINALIZED bit, finalize runs at every death. */
static const rcgc_type tt_atom_fin_type TT_UNUSED = {
    "finatom", sizeof(tt_node), 0, 0, NULL, NULL, tt_node_finalize, tt_node_release,
};
/* Holds references but has no traverse: untracked, yet clear drops them at
** death (a container the collector cannot see into). */
static const rcgc_type tt_opaque_type TT_UNUSED = {
    "opaque", sizeof(tt_node), 0, 0, NULL, tt_node_clear, NULL, tt_node_release,
};

static inline tt_node *tt_new(rcgc_heap *heap, const rcgc_type *t)
{
    return rcgc_new(heap, t);
}

static inline tt_list *tt_new_list(rcgc_heap *heap, size_t n)
{
    tt_list *l = rcgc_new_var(heap, &tt_list_type, n);
    if (l)
        l->n = n;
    return l;
}

/* Make a self-referencing node of type t; the caller holds one reference. */
static inline tt_node *tt_self_cycle(rcgc_heap *heap, const rcgc_type *t)
{
    tt_node *n = rcgc_new(heap, t);
    if (n)
        n->slot[0] = rcgc_ref(n);
    return n;
}

/* a.slot[0] = b and b.slot[0] = a; the caller keeps its references. */
static inline void tt_link2(tt_node *a, tt_node *b)
{
    a->slot[0] = rcgc_ref(b);
    b->slot[0] = rcgc_ref(a);
}

#endif
