/*
** fuzz_heap.c -- libFuzzer target: bytes become heap operations (new, new_var,
** link, unlink, ref, unref, collect, freeze, unfreeze, thresholds,
** enable/disable, debug flags, garbage clear, untrack/track, safe points,
** mode switches) on a table of objects, with finalizers that resurrect,
** fail, collect or break their own cycles, and uncollectable types; weak
** references with callbacks and a weak set on weakrefable nodes.
** rcgc_heap_check runs after every operation; at the end everything is
** dropped and the heap must hold no object. Any violation aborts.
** The corpus in fuzz/corpus/heap/ is replayed as an ordinary test.
*/
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gc_testtypes.h"
#include "heap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NTAB 32     /* objects the fuzzer holds (one reference each) */
#define NUNTRACK 16 /* untracked objects (held so they can be re-tracked) */
#define MAXOPS 4096
#define NWEAK 16    /* weak references the fuzzer holds */

enum { K_NONE = 0, K_NODE, K_LIST, K_ATOM };

typedef struct entry {
    void *p;
    int kind;
} entry;

typedef struct fuzz_state {
    rcgc_heap *heap;
    const uint8_t *data;
    size_t size, pos;
    entry tab[NTAB];
    entry untracked[NUNTRACK];
    int nuntracked;
    rcgc_weakref *weak[NWEAK];
    rcgc_weakmap *wset;
} fuzz_state;

static void quiet_output(void *ctx, const char *text)
{
    (void)ctx;
    (void)text;
}

static void die(const char *what)
{
    fprintf(stderr, "fuzz_heap: %s\n", what);
    abort();
}

static unsigned next(fuzz_state *s)
{
    return s->pos < s->size ? s->data[s->pos++] : 0;
}

static const rcgc_type *node_types[] = {&tt_node_type, &tt_fin_type, &tt_legacy_type,
                                        &tt_atom_fin_type};

static void put(fuzz_state *s, unsigned i, void *p, int kind)
{
    entry old = s->tab[i];
    s->tab[i].p = p;
    s->tab[i].kind = kind;
    if (old.p)
        rcgc_unref(old.p);
}

static void op_new(fuzz_state *s)
{
    unsigned i = next(s) % NTAB, t = next(s);
    void *p;
    int kind;
    switch (t % 4) {
    case 0:
    case 1: {
        const rcgc_type *type = node_types[(t >> 2) % 4];
        tt_node *n = rcgc_new(s->heap, type);
        if (!n)
            die("rcgc_new failed");
        n->mode = (int)((t >> 4) % 6); /* TT_FIN_* */
        n->every = 3;
        p = n;
        kind = type == &tt_atom_fin_type ? K_ATOM : K_NODE;
        break;
    }
    case 2: {
        size_t items = (t >> 2) % 9;
        if (t & 0x80)
            items *= 100; /* run-sized lists too */
        tt_list *l = tt_new_list(s->heap, items);
        if (!l)
            die("rcgc_new_var failed");
        p = l;
        kind = K_LIST;
        break;
    }
    default:
        p = rcgc_new(s->heap, &tt_atom_type);
        if (!p)
            die("rcgc_new of an atom failed");
        kind = K_ATOM;
        break;
    }
    put(s, i, p, kind);
}

/* The field 'sel' of object e, or NULL if it has none. */
static void **field(entry *e, unsigned sel)
{
    if (e->kind == K_NODE)
        return &((tt_node *)e->p)->slot[sel % TT_SLOTS];
    if (e->kind == K_LIST) {
        tt_list *l = e->p;
        return l->n ? &l->item[sel % l->n] : NULL;
    }
    return NULL;
}

static void op_link(fuzz_state *s)
{
    entry *a = &s->tab[next(s) % NTAB], *b = &s->tab[next(s) % NTAB];
    unsigned sel = next(s);
    void **f = a->p ? field(a, sel) : NULL;
    if (!f || !b->p)
        return;
    RCGC_XSETREF(*f, rcgc_ref(b->p));
}

static void op_unlink(fuzz_state *s)
{
    entry *a = &s->tab[next(s) % NTAB];
    unsigned sel = next(s);
    void **f = a->p ? field(a, sel) : NULL;
    if (f)
        RCGC_CLEAR(*f);
}

static void op_dup(fuzz_state *s)
{
    entry *a = &s->tab[next(s) % NTAB];
    unsigned j = next(s) % NTAB;
    if (a->p)
        put(s, j, rcgc_ref(a->p), a->kind);
}

static void op_drop(fuzz_state *s)
{
    put(s, next(s) % NTAB, NULL, K_NONE);
}

/* Follow a field: the table entry takes a reference to what it names. */
static void op_follow(fuzz_state *s)
{
    entry *a = &s->tab[next(s) % NTAB];
    unsigned sel = next(s), j = next(s) % NTAB;
    void **f = a->p ? field(a, sel) : NULL;
    if (!f || !*f)
        return;
    const rcgc_type *t = rcgc_type_of(*f);
    int kind = t == &tt_list_type ? K_LIST : t->traverse ? K_NODE : K_ATOM;
    put(s, j, rcgc_ref(*f), kind);
}

static void op_untrack(fuzz_state *s)
{
    entry *a = &s->tab[next(s) % NTAB];
    if (!a->p || !rcgc_is_tracked(a->p) || s->nuntracked == NUNTRACK)
        return;
    rcgc_untrack(a->p);
    s->untracked[s->nuntracked].p = rcgc_ref(a->p);
    s->untracked[s->nuntracked].kind = a->kind;
    s->nuntracked++;
}

static void op_track(fuzz_state *s)
{
    if (s->nuntracked == 0)
        return;
    entry e = s->untracked[--s->nuntracked];
    if (!rcgc_is_tracked(e.p))
        rcgc_track(e.p);
    rcgc_unref(e.p);
}

/* Weakrefable finalizing nodes, weak references whose callbacks check
** that they are dead, a weak set iterated while objects die. */
static const rcgc_type wk_node_type = {
    "wknode", sizeof(tt_node), 0, RCGC_TYPE_WEAKREFABLE, tt_node_traverse, tt_node_clear,
    tt_node_finalize, tt_node_release,
};

static int weak_cb(rcgc_weakref *wr, void *arg)
{
    (void)arg;
    void *o = rcgc_weakref_get(wr);
    if (o)
        die("weak reference alive in its callback");
    return 0;
}

static void op_weak(fuzz_state *s)
{
    unsigned v = next(s), i = next(s) % NTAB, w = next(s) % NWEAK;
    entry *a = &s->tab[i];
    switch (v % 6) {
    case 0: {
        tt_node *n = rcgc_new(s->heap, &wk_node_type);
        if (!n)
            die("rcgc_new failed");
        n->mode = (int)((v >> 3) % 6);
        n->every = 3;
        put(s, i, n, K_NODE);
        break;
    }
    case 1:
        if (a->p && rcgc_weakref_supported(a->p)) {
            void *arg = s->tab[(i + 1) % NTAB].p;
            rcgc_weakref *r = rcgc_weakref_new(s->heap, a->p, (v & 8) ? weak_cb : NULL, arg);
            if (!r)
                die("rcgc_weakref_new failed");
            RCGC_XSETREF(s->weak[w], r);
        }
        break;
    case 2:
        RCGC_CLEAR(s->weak[w]);
        break;
    case 3:
        if (s->weak[w]) {
            void *o = rcgc_weakref_get(s->weak[w]);
            if (o) {
                const rcgc_type *t = rcgc_type_of(o);
                if (rcgc_refcount(o) < 2 || t != &wk_node_type)
                    die("weak reference to a dead or foreign object");
                put(s, i, o, K_NODE);
            }
        }
        break;
    case 4:
        if (a->p && rcgc_weakref_supported(a->p)) {
            if (v & 8)
                rcgc_weakset_discard(s->wset, a->p);
            else if (rcgc_weakset_add(s->wset, a->p) != RCGC_OK)
                die("rcgc_weakset_add failed");
        }
        break;
    default: {
        rcgc_weakmap_iter it;
        rcgc_weakmap_iter_begin(s->wset, &it);
        unsigned k = 0;
        while (rcgc_weakmap_iter_next(&it, NULL, NULL) && k < 4)
            put(s, (i + k++) % NTAB, NULL, K_NONE);
        if (v & 8)
            rcgc_gc_collect(s->heap, 2);
        rcgc_weakmap_iter_end(&it);
        break;
    }
    }
}

static void op_threshold(fuzz_state *s)
{
    unsigned t0 = next(s), t1 = next(s) % 12, t2 = next(s) % 12;
    rcgc_gc_set_threshold(s->heap, t0, t1, t2);
}

static void op_misc(fuzz_state *s)
{
    unsigned v = next(s);
    switch (v % 11) {
    case 0:
        rcgc_gc_freeze(s->heap);
        break;
    case 1:
        rcgc_gc_unfreeze(s->heap);
        break;
    case 2:
        if (v & 0x10)
            rcgc_gc_enable(s->heap);
        else
            rcgc_gc_disable(s->heap);
        break;
    case 3: {
        static const unsigned flags[] = {0, RCGC_GC_DEBUG_STATS, RCGC_GC_DEBUG_COLLECTABLE,
                                         RCGC_GC_DEBUG_UNCOLLECTABLE, RCGC_GC_DEBUG_SAVEALL,
                                         RCGC_GC_DEBUG_LEAK};
        rcgc_gc_set_debug(s->heap, flags[(v >> 4) % 6]);
        break;
    }
    case 4:
        rcgc_gc_garbage_clear(s->heap);
        break;
    case 5:
        rcgc_gc_set_bytes_threshold(s->heap, (size_t)(v >> 4) << 12);
        break;
    case 6:
        rcgc_gc_safepoint(s->heap);
        break;
    case 7:
        rcgc_gc_set_mode(s->heap, (v & 0x10) ? RCGC_GC_INCREMENTAL : RCGC_GC_GENERATIONAL,
                         (uint64_t)((v >> 5) + 1) * 1000);
        break;
    case 8:
        op_untrack(s);
        break;
    case 9:
        op_track(s);
        break;
    default:
        op_weak(s);
        break;
    }
}

/* Drop the references finalizers stored, after telling each object not to
** resurrect again. True if there were any. */
static bool drain_stash(void)
{
    bool any = tt_nstash > 0;
    while (tt_nstash > 0) {
        tt_node *n = tt_stash[--tt_nstash];
        n->mode = TT_FIN_COUNT;
        rcgc_unref(n);
    }
    return any;
}

/* Drop everything and check that nothing is left. */
static void teardown(fuzz_state *s)
{
    rcgc_heap *heap = s->heap;
    rcgc_gc_set_debug(heap, 0);
    rcgc_gc_unfreeze(heap);
    while (s->nuntracked)
        op_track(s);
    for (int i = 0; i < NWEAK; i++)
        RCGC_CLEAR(s->weak[i]);
    RCGC_CLEAR(s->wset);
    for (int i = 0; i < NTAB; i++)
        put(s, (unsigned)i, NULL, K_NONE);
    /* Collect until nothing changes: resurrected objects are told to stop
    ** resurrecting and dropped; uncollectable cycles stay in the garbage
    ** list and are broken by hand. */
    drain_stash();
    for (int round = 0; round < 100; round++) {
        rcgc_gc_garbage_clear(heap);
        long long r = rcgc_gc_collect(heap, 2);
        bool drained = drain_stash();
        size_t ng = rcgc_gc_garbage_count(heap);
        if (r == 0 && !drained && ng == 0)
            break;
        for (size_t k = 0; k < ng; k++) {
            tt_node *n = rcgc_gc_garbage_get(heap, k);
            for (int j = 0; j < TT_SLOTS; j++)
                RCGC_CLEAR(n->slot[j]);
        }
    }
    if (rcgc_heap_check(heap) != RCGC_OK)
        die("heap check failed at teardown");
    if (heap->live_objects != 0 || rcgc_gc_generation_size(heap, -1) != 0) {
        fprintf(stderr, "fuzz_heap: %zu objects left\n", heap->live_objects);
        die("objects left after teardown");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_state s;
    memset(&s, 0, sizeof s);
    s.data = data;
    s.size = size;
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.output = quiet_output;
    cfg.gc_enabled = true;
    cfg.gc_threshold[0] = 16;
    cfg.gc_threshold[1] = 4;
    cfg.gc_threshold[2] = 4;
    cfg.leak_report = false;
    cfg.region_bytes = (size_t)1 << 30;
    s.heap = rcgc_heap_new(&cfg);
    if (!s.heap)
        die("rcgc_heap_new failed");
    tt_reset();
    s.wset = rcgc_weakset_new(s.heap);
    if (!s.wset)
        die("rcgc_weakset_new failed");
    for (int ops = 0; ops < MAXOPS && s.pos < s.size; ops++) {
        unsigned op = next(&s);
        switch (op % 12) {
        case 0:
        case 1:
            op_new(&s);
            break;
        case 2:
        case 3:
            op_link(&s);
            break;
        case 4:
            op_unlink(&s);
            break;
        case 5:
            op_dup(&s);
            break;
        case 6:
            op_drop(&s);
            break;
        case 7:
            op_follow(&s);
            break;
        case 8:
            if (rcgc_gc_collect(s.heap, (int)(op >> 4) % 3) < 0)
                die("collect failed");
            break;
        case 9:
            op_threshold(&s);
            break;
        default:
            op_misc(&s);
            break;
        }
        if (rcgc_heap_check(s.heap) != RCGC_OK)
            die("heap check failed");
    }
    teardown(&s);
    rcgc_heap_free(s.heap);
    return 0;
}
