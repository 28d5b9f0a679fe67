/*
** weakref.c -- weak references (Python's weakref.ref and weakref.finalize):
** the side table from referents to their weak-reference lists, the weak
** reference and finalize object types, and the hooks the object layer
** (death by refcount), the collector (death in a garbage cycle) and heap.c
** (teardown, checks) call. Containers live in weakmap.c. Must not touch
** generation lists or object memory other than the weak-reference objects'
** own fields and the RCGC__F_WEAKREFS header bit. docs/weakref.md explains
** the ordering rules.
*/
#include <assert.h>
#include <stddef.h>
#include <string.h>

#include "weakref.h"

#define MEM(heap) (&(heap)->mem)

/* Keeps rare paths out of the inline fast paths (fewer saved registers). */
#if defined(__GNUC__)
#define WEAK_NOINLINE __attribute__((noinline))
#else
#define WEAK_NOINLINE
#endif

/* ------------------------------------------------------------------ */
/* State                                                              */
/* ------------------------------------------------------------------ */

/* One side-table slot: key = handle of the referent's header (0 = empty),
** head = its weak-reference list. */
typedef struct wslot {
    uint32_t key;
    uint32_t pad_;
    rcgc__wnode *head;
} wslot;

/*
** heap->weak, created on first use so that a heap without weak references
** pays one NULL pointer. Invariants (rcgc__weakref_check):
**   - 'slots' is an open-addressing table with linear probing, 'cap' a
**     power of two (or 0), used * 2 <= cap; every key is reachable from its
**     ideal slot without crossing an empty one;
**   - nnodes == the number of nodes over all lists;
**   - the registry lists every registered rcgc_finalize in creation order
**     ('index' ascending) and holds one strong reference to each.
*/
typedef struct weak_state {
    rcgc_type types[RCGC__WT_COUNT]; /* must be first: rcgc__weak_is_type */
    wslot *slots;
    uint32_t cap;
    uint32_t used;
    unsigned shift;         /* 32 - log2(cap): multiplicative hashing */
    size_t nnodes;
    struct rcgc_finalize *reg_first, *reg_last;
    size_t nreg;
    uint64_t next_index;
    bool shutdown;          /* heap free ran the atexit finalizers */
} weak_state;

struct rcgc_weakref {
    rcgc__wnode node; /* must be first */
    rcgc_weakref_callback cb;
    void *cb_arg;     /* strong, or NULL */
    uint64_t hash;    /* valid with RCGC__WN_HASHED */
};

struct rcgc_finalize {
    rcgc__wnode node; /* must be first */
    rcgc_finalize_fn fn;
    void *arg;        /* strong, or NULL */
    void *ctx;
    struct rcgc_finalize *rprev, *rnext; /* registry, while registered */
    uint64_t index;   /* creation order */
    bool registered;
    bool atexit;
};

static void wr_clear(void *obj);
static void wr_cb_clear(void *obj);
static int wr_traverse(void *obj, rcgc_visit_fn visit, void *arg);
static void fin_clear(void *obj);
static int fin_traverse(void *obj, rcgc_visit_fn visit, void *arg);

/* A weak reference without callback owns nothing, so it can never be part
** of a cycle and its death in a collection needs no callback decision:
** its type has no traverse and it is never tracked (cheap to create). A
** reference with a callback is tracked, so that the collector can tell
** whether the reference itself is garbage (then its callback never runs). */
static void types_init(rcgc_type *t)
{
    t[RCGC__WT_REF].name = "weakref";
    t[RCGC__WT_REF].size = sizeof(struct rcgc_weakref);
    t[RCGC__WT_REF].clear = wr_clear;
    t[RCGC__WT_REF_CB] = t[RCGC__WT_REF];
    t[RCGC__WT_REF_CB].traverse = wr_traverse;
    t[RCGC__WT_REF_CB].clear = wr_cb_clear;
    t[RCGC__WT_FINALIZE].name = "finalize";
    t[RCGC__WT_FINALIZE].size = sizeof(struct rcgc_finalize);
    t[RCGC__WT_FINALIZE].traverse = fin_traverse;
    t[RCGC__WT_FINALIZE].clear = fin_clear;
    rcgc__weakmap_type_init(&t[RCGC__WT_MAP]);
}

static const rcgc_type *type_of_head(rcgc_heap *heap, const rcgc__head *h)
{
    return heap->types[h->type_];
}

/* Created on first use and never freed: the types in it must outlive
** every object (the region goes back to the OS with it). */
static weak_state *state_new(rcgc_heap *heap)
{
    weak_state *st = rcgc_calloc(heap, 1, sizeof(weak_state));
    if (!st)
        return NULL;
    types_init(st->types);
    heap->weak = st;
    return st;
}

static inline weak_state *state_get(rcgc_heap *heap)
{
    return heap->weak ? heap->weak : state_new(heap);
}

static inline const rcgc_type *weak_type(rcgc_heap *heap, int which)
{
    weak_state *st = state_get(heap);
    return st ? &st->types[which] : NULL;
}

const rcgc_type *rcgc__weak_type(rcgc_heap *heap, int which)
{
    return weak_type(heap, which);
}

static bool head_is(rcgc_heap *heap, const rcgc__head *h, int which)
{
    weak_state *st = heap->weak;
    return st && type_of_head(heap, h) == &st->types[which];
}

/* ------------------------------------------------------------------ */
/* Side table                                                         */
/* ------------------------------------------------------------------ */

static uint32_t obj_key(rcgc_heap *heap, const void *obj)
{
    return rcgc__handle(MEM(heap), rcgc__head_of(obj));
}

static uint32_t ideal(const weak_state *st, uint32_t key)
{
    return (uint32_t)(key * 2654435769u) >> st->shift;
}

/* The slot holding 'key', or NULL. */
static wslot *slot_find(weak_state *st, uint32_t key)
{
    if (!st || st->cap == 0)
        return NULL;
    uint32_t mask = st->cap - 1;
    for (uint32_t i = ideal(st, key);; i = (i + 1) & mask) {
        wslot *s = &st->slots[i];
        if (s->key == key)
            return s;
        if (s->key == 0)
            return NULL;
    }
}

/* Make node the head of the list in slot i. */
static inline void set_head(weak_state *st, uint32_t i, rcgc__wnode *node)
{
    st->slots[i].head = node;
    node->slot = i;
}

/* Insert 'key' with the list 'head' (key absent; room reserved). */
static inline void slot_insert(weak_state *st, uint32_t key, rcgc__wnode *head)
{
    uint32_t mask = st->cap - 1;
    uint32_t i = ideal(st, key);
    while (st->slots[i].key != 0)
        i = (i + 1) & mask;
    st->slots[i].key = key;
    set_head(st, i, head);
    st->used++;
}

/* Move the table to 'cap' slots (a power of two >= 2 * used). */
static rcgc_status rehash(rcgc_heap *heap, weak_state *st, size_t cap)
{
    wslot *ns = rcgc_calloc(heap, cap, sizeof *ns);
    if (!ns)
        return RCGC_ENOMEM;
    wslot *old = st->slots;
    uint32_t oldcap = st->cap;
    st->slots = ns;
    st->cap = (uint32_t)cap;
    st->used = 0;
    unsigned bits = 0;
    while (((size_t)1 << bits) < cap)
        bits++;
    st->shift = 32u - bits;
    for (uint32_t i = 0; i < oldcap; i++) {
        if (old[i].key)
            slot_insert(st, old[i].key, old[i].head);
    }
    rcgc_free(heap, old);
    return RCGC_OK;
}

/* n more entries keep the side table at most half full. */
static inline bool has_room(const weak_state *st, size_t n)
{
    return ((size_t)st->used + n) * 2 <= st->cap;
}

rcgc_status rcgc__weak_reserve(rcgc_heap *heap, size_t n)
{
    weak_state *st = state_get(heap);
    if (!st)
        return RCGC_ENOMEM;
    if (has_room(st, n))
        return RCGC_OK;
    size_t cap = st->cap ? st->cap : 16;
    while (((size_t)st->used + n) * 2 > cap)
        cap *= 2;
    if (cap > ((size_t)1 << 31))
        return RCGC_ENOMEM;
    return rehash(heap, st, cap);
}

/* After removals: a table at most 1/16 full and bigger than 1024 slots
** (16 KiB) shrinks to a quarter, so a burst of weakly referenced objects
** does not keep its table forever. Best effort: out of memory keeps the big
** one. Never called while a slot pointer is held. */
static WEAK_NOINLINE void shrink(rcgc_heap *heap, weak_state *st)
{
    (void)rehash(heap, st, st->cap / 4);
}

static inline void maybe_shrink(rcgc_heap *heap, weak_state *st)
{
    if (st->cap > 1024 && (size_t)st->used * 16 < st->cap)
        shrink(heap, st);
}

/* slot_drop when members of the probe run follow slot i: shift them back
** over it. Out of line, so that the common case stays small. */
static WEAK_NOINLINE void slot_drop_shift(rcgc_heap *heap, weak_state *st, uint32_t i)
{
    uint32_t mask = st->cap - 1;
    uint32_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (st->slots[j].key == 0)
            break;
        uint32_t k = ideal(st, st->slots[j].key);
        /* The member at j may stay iff its ideal slot k lies cyclically
        ** in (i, j]. */
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays)
            continue;
        st->slots[i].key = st->slots[j].key;
        set_head(st, i, st->slots[j].head);
        i = j;
    }
    st->slots[i].key = 0;
    st->slots[i].head = NULL;
    maybe_shrink(heap, st);
}

/* Remove slot i (linear probing without tombstones), then maybe shrink.
** Every path ends in a tail call or a return: cheap for the inline callers. */
static inline void slot_drop(rcgc_heap *heap, weak_state *st, uint32_t i)
{
    st->used--;
    if (st->slots[(i + 1) & (st->cap - 1)].key != 0) {
        slot_drop_shift(heap, st, i);
        return;
    }
    st->slots[i].key = 0;
    st->slots[i].head = NULL;
    maybe_shrink(heap, st);
}

/* rcgc__wnode_link, inline for the weak reference fast path. */
static inline void wnode_link(rcgc_heap *heap, rcgc__wnode *node, void *obj)
{
    weak_state *st = heap->weak;
    rcgc__head *h = rcgc__head_of(obj);
    node->obj = obj;
    node->prev = node->next = NULL;
    st->nnodes++;
    wslot *s = (h->flags_ & RCGC__F_WEAKREFS) ? slot_find(st, obj_key(heap, obj)) : NULL;
    if (!s) {
        slot_insert(st, obj_key(heap, obj), node);
        h->flags_ |= RCGC__F_WEAKREFS;
        return;
    }
    rcgc__wnode *head = s->head;
    if (node->kind != RCGC__WK_REF && head->kind == RCGC__WK_REF) {
        /* After the shared callback-less reference: newest first. */
        node->prev = head;
        node->next = head->next;
        if (head->next)
            head->next->prev = node;
        head->next = node;
        return;
    }
    node->next = head;
    head->prev = node;
    set_head(st, head->slot, node);
}

void rcgc__wnode_link(rcgc_heap *heap, rcgc__wnode *node, void *obj)
{
    wnode_link(heap, node, obj);
}

/* rcgc__wnode_unlink, inline for the weak reference fast path. A head
** finds its slot without hashing (node->slot). The node is done with before
** the table changes, so that nothing is live across a shrink. */
static inline void wnode_unlink(rcgc_heap *heap, rcgc__wnode *node)
{
    void *obj = node->obj;
    if (!obj)
        return;
    weak_state *st = heap->weak;
    rcgc__wnode *prev = node->prev, *next = node->next;
    uint32_t slot = node->slot;
    node->obj = NULL;
    node->prev = node->next = NULL;
    st->nnodes--;
    if (next)
        next->prev = prev;
    if (prev) {
        prev->next = next;
        return;
    }
    if (st->slots[slot].head != node)
        rcgc__panic_obj(heap, obj, "weak reference list without a side-table entry");
    if (next) {
        set_head(st, slot, next);
        return;
    }
    rcgc__head_of(obj)->flags_ &= (uint16_t)~RCGC__F_WEAKREFS;
    slot_drop(heap, st, slot);
}

void rcgc__wnode_unlink(rcgc_heap *heap, rcgc__wnode *node)
{
    wnode_unlink(heap, node);
}

rcgc_status rcgc__weak_referent_error(rcgc_heap *heap, const void *obj, const char *what)
{
    if (!obj) {
        rcgc_heap_printf(heap, "%s: NULL object\n", what);
        return RCGC_EINVAL;
    }
    if (rcgc__mem_heap_of(obj) != heap)
        rcgc__panic_obj(heap, obj, "%s: object of another heap", what);
    const rcgc__head *h = rcgc__head_of(obj);
    if (h->type_ == 0 || h->type_ >= heap->ntypes)
        rcgc__panic_obj(heap, obj, "%s: not a live object", what);
    const rcgc_type *t = heap->types[h->type_];
    if (!(t->flags & RCGC_TYPE_WEAKREFABLE)) {
        rcgc_heap_printf(heap, "%s: cannot create weak reference to '%s' object\n", what,
                         t->name ? t->name : "?");
        return RCGC_EINVAL;
    }
    if (h->refcnt_ == 0) {
        rcgc_heap_printf(heap, "%s: cannot create weak reference to '%s' object %p "
                               "while it is being destroyed\n", what,
                         t->name ? t->name : "?", obj);
        return RCGC_EINVAL;
    }
    return RCGC_OK;
}

/* ------------------------------------------------------------------ */
/* Death: detach lists, run callbacks                                 */
/* ------------------------------------------------------------------ */

static void *owner_of(rcgc__wnode *n)
{
    /* The node is the first member of rcgc_weakref and rcgc_finalize. */
    return n->kind == RCGC__WK_ENTRY ? rcgc__weakmap_entry_owner(n) : (void *)n;
}

enum { DETACH_DEALLOC, DETACH_GC, DETACH_GC_LATE };

/* Unlink every weak reference to obj (they read as dead from now on) and
** append the ones whose callback must run to the chain at *tail, holding a
** strong reference to each owner. Returns the new tail. 'mode':
**   DETACH_DEALLOC  death by refcount: every callback runs;
**   DETACH_GC       collection: only callbacks of owners outside the
**                   unreachable set run;
**   DETACH_GC_LATE  references created by finalizers: no user callback,
**                   only container bookkeeping. */
static rcgc__wnode **detach_all(rcgc_heap *heap, void *obj, rcgc__wnode **tail, int mode)
{
    weak_state *st = heap->weak;
    rcgc__head *h = rcgc__head_of(obj);
    wslot *s = slot_find(st, obj_key(heap, obj));
    h->flags_ &= (uint16_t)~RCGC__F_WEAKREFS;
    if (!s)
        return tail;
    rcgc__wnode *n = s->head;
    slot_drop(heap, st, (uint32_t)(s - st->slots));
    while (n) {
        rcgc__wnode *next = n->next;
        n->obj = NULL;
        n->prev = n->next = NULL;
        st->nnodes--;
        if (n->kind != RCGC__WK_REF) {
            void *owner = owner_of(n);
            if (n->kind == RCGC__WK_ENTRY)
                rcgc__weakmap_entry_died(n);
            bool run = mode == DETACH_DEALLOC ||
                       (!(rcgc__head_of(owner)->flags_ & RCGC__F_UNREACHABLE) &&
                        (mode == DETACH_GC || n->kind == RCGC__WK_ENTRY));
            if (run) {
                rcgc_ref(owner);
                n->flags |= RCGC__WN_PENDING;
                *tail = n;
                tail = &n->next;
            }
        }
        n = next;
    }
    *tail = NULL;
    return tail;
}

static void finalize_fire(rcgc_heap *heap, struct rcgc_finalize *f);

/* Run a chain built by detach_all, in order. Each callback may do anything
** (allocate, collect, create or drop weak references): the chain is owned
** by this call and each owner stays alive until its callback returned. */
static size_t run_chain(rcgc_heap *heap, rcgc__wnode *n)
{
    size_t ran = 0;
    while (n) {
        ran++;
        rcgc__wnode *next = n->next;
        n->next = NULL;
        n->flags &= (uint8_t)~RCGC__WN_PENDING;
        void *owner = owner_of(n);
        switch (n->kind) {
        case RCGC__WK_REF_CB: {
            struct rcgc_weakref *wr = owner;
            if (wr->cb && wr->cb(wr, wr->cb_arg) != 0)
                rcgc_heap_printf(heap, "rcgc: error ignored in weak reference callback "
                                       "<weakref %p>\n", (void *)wr);
            break;
        }
        case RCGC__WK_FINALIZE:
            finalize_fire(heap, owner);
            break;
        case RCGC__WK_ENTRY:
            rcgc__weakmap_entry_purge(heap, n);
            break;
        default:
            break;
        }
        rcgc_unref(owner);
        n = next;
    }
    return ran;
}

void rcgc__weakref_on_dealloc(rcgc_heap *heap, void *obj)
{
    rcgc__wnode *first = NULL;
    detach_all(heap, obj, &first, DETACH_DEALLOC);
    run_chain(heap, first);
}

/* Returns the number of callbacks run (container purges included). */
static size_t gc_walk(rcgc_heap *heap, rcgc__head *list, int mode)
{
    if (!heap->weak)
        return 0; /* no weak reference was ever made on this heap */
    struct rcgc__mem *m = MEM(heap);
    rcgc__wnode *first = NULL, **tail = &first;
    uint32_t end = rcgc__handle(m, list);
    /* Collection phase: no user code runs, the list does not change. */
    for (uint32_t x = list->next_; x != end;) {
        rcgc__head *h = rcgc__unhandle(m, x);
        x = h->next_;
        const rcgc_type *t = type_of_head(heap, h);
        const rcgc_type *types = ((weak_state *)heap->weak)->types;
        /* Weak references inside the set die without callback, before
        ** clear() could make their referents die and fire them. */
        if (t == &types[RCGC__WT_REF_CB] || t == &types[RCGC__WT_FINALIZE])
            rcgc__wnode_unlink(heap, (rcgc__wnode *)(h + 1));
        else if (t == &types[RCGC__WT_MAP])
            rcgc__weakmap_kill(heap, h + 1);
        if (h->flags_ & RCGC__F_WEAKREFS)
            tail = detach_all(heap, h + 1, tail, mode);
    }
    /* Callback phase: every weak reference into the set is dead now. */
    return run_chain(heap, first);
}

size_t rcgc__weakref_gc_handle(rcgc_heap *heap, rcgc__head *unreachable)
{
    return gc_walk(heap, unreachable, DETACH_GC);
}

void rcgc__weakref_gc_clear(rcgc_heap *heap, rcgc__head *still)
{
    (void)gc_walk(heap, still, DETACH_GC_LATE);
}

/* ------------------------------------------------------------------ */
/* Weak reference objects                                             */
/* ------------------------------------------------------------------ */

static WEAK_NOINLINE void wr_cb_clear(void *obj)
{
    struct rcgc_weakref *wr = obj;
    wnode_unlink(rcgc__mem_heap_of(obj), &wr->node);
    RCGC_CLEAR(wr->cb_arg);
}

/* A callback-less reference rarely has an argument: without one, the unlink
** is the last thing done (its calls are tail calls). */
static void wr_clear(void *obj)
{
    struct rcgc_weakref *wr = obj;
    if (wr->cb_arg) {
        wr_cb_clear(obj);
        return;
    }
    wnode_unlink(rcgc__mem_heap_of(obj), &wr->node);
}

static int wr_traverse(void *obj, rcgc_visit_fn visit, void *arg)
{
    struct rcgc_weakref *wr = obj;
    RCGC_VISIT(wr->cb_arg);
    return 0;
}

static bool is_weakref(const void *obj)
{
    return rcgc__weak_is_type(obj, RCGC__WT_REF) || rcgc__weak_is_type(obj, RCGC__WT_REF_CB);
}

static void check_weakref_arg(const void *wr, const char *what)
{
    rcgc_heap *heap = rcgc__mem_heap_of(wr);
    if (!is_weakref(wr))
        rcgc__panic_obj(heap, wr, "%s: not a weak reference", what);
}

/* The shared callback-less reference to obj, or NULL. */
static struct rcgc_weakref *find_basic(rcgc_heap *heap, const void *obj)
{
    if (!(rcgc__head_of(obj)->flags_ & RCGC__F_WEAKREFS))
        return NULL;
    wslot *s = slot_find(heap->weak, obj_key(heap, obj));
    if (s && s->head->kind == RCGC__WK_REF)
        return (struct rcgc_weakref *)s->head;
    return NULL;
}

bool rcgc_weakref_supported(const void *obj)
{
    return obj && (rcgc_type_of(obj)->flags & RCGC_TYPE_WEAKREFABLE) != 0;
}

bool rcgc_weakref_is(const void *obj)
{
    return obj && is_weakref(obj);
}

/* Make the new weak reference wr (fields zero, unlinked) refer to obj: the
** general case. rcgc_new may have run a collection, whose callbacks may
** have made the shared reference or filled the side table meanwhile. */
static WEAK_NOINLINE rcgc_weakref *weakref_link_new(rcgc_heap *heap, struct rcgc_weakref *wr,
                                                    void *obj, rcgc_weakref_callback cb,
                                                    void *cb_arg)
{
    if (!cb) {
        struct rcgc_weakref *basic = find_basic(heap, obj);
        if (basic) {
            rcgc_unref(wr);
            return rcgc_ref(basic);
        }
    }
    if (!has_room(heap->weak, 1) && rcgc__weak_reserve(heap, 1) != RCGC_OK) {
        rcgc_unref(wr);
        return NULL;
    }
    wr->node.kind = cb ? RCGC__WK_REF_CB : RCGC__WK_REF;
    wr->cb = cb;
    wr->cb_arg = rcgc_xref(cb_arg);
    wnode_link(heap, &wr->node, obj);
    return wr;
}

/* rcgc_weakref_new with a callback (or an argument), when obj already has
** weak references, on a heap being traced or without the layer's state or
** table room yet. */
static WEAK_NOINLINE rcgc_weakref *weakref_new_slow(rcgc_heap *heap, void *obj,
                                                    rcgc_weakref_callback cb, void *cb_arg)
{
    if (rcgc__weak_check_referent(heap, obj, "rcgc_weakref_new") != RCGC_OK)
        return NULL;
    struct rcgc_weakref *wr;
    if (!cb && (wr = find_basic(heap, obj)) != NULL)
        return rcgc_ref(wr);
    const rcgc_type *t = weak_type(heap, cb ? RCGC__WT_REF_CB : RCGC__WT_REF);
    if (!t)
        return NULL;
    wr = heap->trace ? rcgc_new(heap, t) : (rcgc_new)(heap, t);
    if (!wr)
        return NULL;
    return weakref_link_new(heap, wr, obj, cb, cb_arg);
}

/* The common case inline: the first, callback-less weak reference to obj,
** with room in the side table. */
rcgc_weakref *rcgc_weakref_new(rcgc_heap *heap, void *obj, rcgc_weakref_callback cb,
                               void *cb_arg)
{
    if (cb || cb_arg)
        return weakref_new_slow(heap, obj, cb, cb_arg);
    if (rcgc__weak_check_referent(heap, obj, "rcgc_weakref_new") != RCGC_OK)
        return NULL;
    weak_state *st = heap->weak;
    if (!st || (rcgc__head_of(obj)->flags_ & RCGC__F_WEAKREFS) || !has_room(st, 1) ||
        heap->trace)
        return weakref_new_slow(heap, obj, NULL, NULL);
    /* Untraced: skip the call-site wrapper (it only matters to the tracer).
    ** The type is untracked, so its allocation runs no collection (no user
    ** code): obj's list and the table are as they were. Only heap and obj
    ** are kept across the call (fewer saved registers). */
    struct rcgc_weakref *wr = (rcgc_new)(heap, &st->types[RCGC__WT_REF]);
    if (!wr)
        return NULL;
    st = heap->weak;
    rcgc__head *h = rcgc__head_of(obj);
    assert(!(h->flags_ & RCGC__F_WEAKREFS) && has_room(st, 1));
    /* rcgc_new zero-filled cb, cb_arg, hash and the node. */
    wr->node.kind = RCGC__WK_REF;
    wr->node.obj = obj;
    slot_insert(st, obj_key(heap, obj), &wr->node);
    h->flags_ |= RCGC__F_WEAKREFS;
    st->nnodes++;
    return wr;
}

/* rcgc.h's inline rcgc_weakref_get reads the referent at this offset. */
_Static_assert(offsetof(struct rcgc_weakref, node.obj) == RCGC__WEAKREF_OBJ_OFFSET,
               "rcgc_weakref_get: the referent's offset");

/* Parenthesised: rcgc.h defines rcgc_weakref_get as a macro (inline). */
void *(rcgc_weakref_get)(rcgc_weakref *wr)
{
    return rcgc__weakref_get(wr);
}

bool rcgc_weakref_is_alive(const rcgc_weakref *wr)
{
    return rcgc__weak_alive(wr->node.obj);
}

size_t rcgc_weakref_count(const void *obj)
{
    if (!obj || !(rcgc__head_of(obj)->flags_ & RCGC__F_WEAKREFS))
        return 0;
    rcgc_heap *heap = rcgc__mem_heap_of(obj);
    wslot *s = slot_find(heap->weak, obj_key(heap, obj));
    size_t n = 0;
    for (rcgc__wnode *x = s ? s->head : NULL; x; x = x->next)
        n++;
    return n;
}

int rcgc_weakref_visit(const void *obj, int (*fn)(rcgc_weakref *wr, void *arg), void *arg)
{
    if (!obj || !(rcgc__head_of(obj)->flags_ & RCGC__F_WEAKREFS))
        return 0;
    rcgc_heap *heap = rcgc__mem_heap_of(obj);
    wslot *s = slot_find(heap->weak, obj_key(heap, obj));
    for (rcgc__wnode *x = s ? s->head : NULL; x;) {
        rcgc__wnode *next = x->next;
        if (x->kind == RCGC__WK_REF || x->kind == RCGC__WK_REF_CB) {
            int r = fn((struct rcgc_weakref *)x, arg);
            if (r)
                return r;
        }
        x = next;
    }
    return 0;
}

static uint64_t identity_hash(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p >> 4;
    x *= 0x9E3779B97F4A7C15ull;
    return x ^ (x >> 32);
}

rcgc_status rcgc_weakref_hash(rcgc_weakref *wr, rcgc_hash_fn hash, void *ctx, uint64_t *out)
{
    check_weakref_arg(wr, "rcgc_weakref_hash");
    if (wr->node.flags & RCGC__WN_HASHED) {
        *out = wr->hash;
        return RCGC_OK;
    }
    void *obj = wr->node.obj;
    if (!rcgc__weak_alive(obj))
        return RCGC_ESTATE; /* CPython: TypeError "weak object has gone away" */
    rcgc_ref(obj);
    uint64_t hv = hash ? hash(obj, ctx) : identity_hash(obj);
    rcgc_unref(obj);
    wr->hash = hv;
    wr->node.flags |= RCGC__WN_HASHED;
    *out = hv;
    return RCGC_OK;
}

bool rcgc_weakref_eq(rcgc_weakref *a, rcgc_weakref *b, rcgc_eq_fn eq, void *ctx)
{
    if (a == b)
        return true;
    void *oa = a->node.obj, *ob = b->node.obj;
    if (!rcgc__weak_alive(oa) || !rcgc__weak_alive(ob))
        return false;
    if (!eq)
        return oa == ob;
    rcgc_ref(oa);
    rcgc_ref(ob);
    bool r = eq(oa, ob, ctx);
    rcgc_unref(ob);
    rcgc_unref(oa);
    return r;
}

/* ------------------------------------------------------------------ */
/* finalize                                                           */
/* ------------------------------------------------------------------ */

static void fin_clear(void *obj)
{
    struct rcgc_finalize *f = obj;
    rcgc__wnode_unlink(rcgc__mem_heap_of(obj), &f->node);
    RCGC_CLEAR(f->arg);
}

static int fin_traverse(void *obj, rcgc_visit_fn visit, void *arg)
{
    struct rcgc_finalize *f = obj;
    RCGC_VISIT(f->arg);
    return 0;
}

static void check_finalize_arg(const void *f, const char *what)
{
    if (!rcgc__weak_is_type(f, RCGC__WT_FINALIZE))
        rcgc__panic_obj(rcgc__mem_heap_of(f), f, "%s: not a finalize object", what);
}

static void unregister(weak_state *st, struct rcgc_finalize *f)
{
    if (f->rprev)
        f->rprev->rnext = f->rnext;
    else
        st->reg_first = f->rnext;
    if (f->rnext)
        f->rnext->rprev = f->rprev;
    else
        st->reg_last = f->rprev;
    f->rprev = f->rnext = NULL;
    f->registered = false;
    st->nreg--;
}

rcgc_finalize *rcgc_finalize_new(rcgc_heap *heap, void *obj, rcgc_finalize_fn fn, void *arg,
                                 void *ctx)
{
    if (!fn) {
        rcgc_heap_printf(heap, "rcgc_finalize_new: NULL function\n");
        return NULL;
    }
    if (rcgc__weak_check_referent(heap, obj, "rcgc_finalize_new") != RCGC_OK)
        return NULL;
    const rcgc_type *t = rcgc__weak_type(heap, RCGC__WT_FINALIZE);
    struct rcgc_finalize *f = t ? rcgc_new(heap, t) : NULL;
    if (!f)
        return NULL;
    if (rcgc__weak_reserve(heap, 1) != RCGC_OK) {
        rcgc_unref(f);
        return NULL;
    }
    weak_state *st = heap->weak;
    f->node.kind = RCGC__WK_FINALIZE;
    f->fn = fn;
    f->arg = rcgc_xref(arg);
    f->ctx = ctx;
    f->atexit = true;
    f->index = st->next_index++;
    rcgc__wnode_link(heap, &f->node, obj);
    /* The registry's reference keeps the finalizer alive until it runs or
    ** is detached (weakref.finalize's class-level _registry). */
    f->registered = true;
    f->rprev = st->reg_last;
    if (st->reg_last)
        st->reg_last->rnext = f;
    else
        st->reg_first = f;
    st->reg_last = f;
    st->nreg++;
    rcgc_ref(f);
    return f;
}

/* Unregister f and run it; the registry's reference is dropped last. */
static int finalize_run(rcgc_heap *heap, struct rcgc_finalize *f, bool *ran)
{
    weak_state *st = heap->weak;
    unregister(st, f);
    rcgc__wnode_unlink(heap, &f->node);
    void *arg = f->arg;
    f->arg = NULL;
    int r = 0;
    *ran = !st->shutdown;
    if (*ran)
        r = f->fn(arg, f->ctx);
    rcgc_xunref(arg);
    rcgc_unref(f);
    return r;
}

static void finalize_fire(rcgc_heap *heap, struct rcgc_finalize *f)
{
    if (!f->registered)
        return; /* called early or detached while its callback was pending */
    bool ran;
    if (finalize_run(heap, f, &ran) < 0)
        rcgc_heap_printf(heap, "rcgc: error ignored in finalize callback <finalize %p>\n",
                         (void *)f);
}

bool rcgc_finalize_call(rcgc_finalize *f, int *result)
{
    check_finalize_arg(f, "rcgc_finalize_call");
    if (!f->registered)
        return false;
    bool ran;
    int r = finalize_run(rcgc__mem_heap_of(f), f, &ran);
    if (result)
        *result = r;
    return ran;
}

bool rcgc_finalize_peek(rcgc_finalize *f, rcgc_finalize_info *out)
{
    check_finalize_arg(f, "rcgc_finalize_peek");
    if (!f->registered || !rcgc__weak_alive(f->node.obj))
        return false;
    out->obj = rcgc_ref(f->node.obj);
    out->fn = f->fn;
    out->arg = rcgc_xref(f->arg);
    out->ctx = f->ctx;
    return true;
}

bool rcgc_finalize_detach(rcgc_finalize *f, rcgc_finalize_info *out)
{
    check_finalize_arg(f, "rcgc_finalize_detach");
    if (!f->registered || !rcgc__weak_alive(f->node.obj))
        return false;
    rcgc_heap *heap = rcgc__mem_heap_of(f);
    out->obj = rcgc_ref(f->node.obj);
    out->fn = f->fn;
    out->arg = f->arg; /* the registry's reference passes to the caller */
    out->ctx = f->ctx;
    f->arg = NULL;
    unregister(heap->weak, f);
    rcgc__wnode_unlink(heap, &f->node);
    rcgc_unref(f);
    return true;
}

bool rcgc_finalize_is_alive(const rcgc_finalize *f)
{
    check_finalize_arg(f, "rcgc_finalize_is_alive");
    return f->registered;
}

void rcgc_finalize_set_atexit(rcgc_finalize *f, bool atexit)
{
    check_finalize_arg(f, "rcgc_finalize_set_atexit");
    f->atexit = atexit;
}

bool rcgc_finalize_get_atexit(const rcgc_finalize *f)
{
    check_finalize_arg(f, "rcgc_finalize_get_atexit");
    return f->atexit;
}

/* ------------------------------------------------------------------ */
/* Heap free and checks                                               */
/* ------------------------------------------------------------------ */

void rcgc__weakref_heap_fini(rcgc_heap *heap)
{
    weak_state *st = heap->weak;
    if (!st)
        return;
    /* Newest registered atexit finalizer first; search again after each
    ** one, so finalizers registered meanwhile run too (weakref's _exitfunc
    ** and its _dirty flag). */
    for (;;) {
        struct rcgc_finalize *f = st->reg_last;
        while (f && !f->atexit)
            f = f->rprev;
        if (!f)
            break;
        bool ran;
        if (finalize_run(heap, f, &ran) < 0)
            rcgc_heap_printf(heap, "rcgc: error ignored in finalize callback <finalize %p> "
                                   "at heap free\n", (void *)f);
    }
    st->shutdown = true;
    /* The rest (atexit off) never run; drop the registry's references. */
    while (st->reg_last) {
        struct rcgc_finalize *f = st->reg_last;
        unregister(st, f);
        rcgc__wnode_unlink(heap, &f->node);
        void *arg = f->arg;
        f->arg = NULL;
        rcgc_xunref(arg);
        rcgc_unref(f);
    }
}

typedef struct check_ctx {
    rcgc_heap *heap;
    size_t bad;
} check_ctx;

static int check_object(void *obj, void *arg)
{
    check_ctx *c = arg;
    rcgc_heap *heap = c->heap;
    const rcgc__head *h = rcgc__head_of(obj);
    if ((h->flags_ & RCGC__F_WEAKREFS) && !slot_find(heap->weak, obj_key(heap, obj))) {
        rcgc_heap_printf(heap, "rcgc_heap_check: %p carries the weakrefs flag but has no "
                               "side-table entry\n", obj);
        c->bad++;
    }
    if (head_is(heap, h, RCGC__WT_MAP))
        c->bad += rcgc__weakmap_check(heap, obj);
    return 0;
}

static size_t check_lists(rcgc_heap *heap, weak_state *st)
{
    struct rcgc__mem *m = MEM(heap);
    size_t bad = 0, used = 0, nodes = 0;
    for (uint32_t i = 0; i < st->cap; i++) {
        wslot *s = &st->slots[i];
        if (!s->key)
            continue;
        used++;
        if (slot_find(st, s->key) != s) {
            rcgc_heap_printf(heap, "rcgc_heap_check: weak side table: key %u not found "
                                   "from its ideal slot\n", s->key);
            bad++;
        }
        rcgc__head *h = rcgc__unhandle(m, s->key);
        if (!rcgc__mem_is_obj_block(m, h)) {
            rcgc_heap_printf(heap, "rcgc_heap_check: weak side table names %p, not a live "
                                   "object\n", (void *)(h + 1));
            bad++;
            continue;
        }
        if (!(h->flags_ & RCGC__F_WEAKREFS) || !s->head) {
            rcgc_heap_printf(heap, "rcgc_heap_check: %p has a side-table entry but no "
                                   "weakrefs flag or an empty list\n", (void *)(h + 1));
            bad++;
            continue;
        }
        if (s->head->slot != i) {
            rcgc_heap_printf(heap, "rcgc_heap_check: weak list head of %p names slot %u, "
                                   "not %u\n", (void *)(h + 1), s->head->slot, i);
            bad++;
        }
        rcgc__wnode *prev = NULL;
        size_t steps = 0;
        for (rcgc__wnode *n = s->head; n; n = n->next) {
            if (++steps > st->nnodes + 1) {
                rcgc_heap_printf(heap, "rcgc_heap_check: weak list of %p loops\n",
                                 (void *)(h + 1));
                return bad + 1;
            }
            nodes++;
            if (n->obj != (void *)(h + 1) || n->prev != prev ||
                (n->flags & RCGC__WN_PENDING) || n->kind < RCGC__WK_REF ||
                n->kind > RCGC__WK_ENTRY || (n->kind == RCGC__WK_REF && prev)) {
                rcgc_heap_printf(heap, "rcgc_heap_check: weak list of %p: bad node %p "
                                       "(kind %u)\n", (void *)(h + 1), (void *)n, n->kind);
                bad++;
            }
            prev = n;
        }
    }
    if (used != st->used || used * 2 > st->cap || nodes != st->nnodes) {
        rcgc_heap_printf(heap, "rcgc_heap_check: weak side table counts: %zu/%u slots, "
                               "%zu/%zu nodes\n", used, st->used, nodes, st->nnodes);
        bad++;
    }
    return bad;
}

static size_t check_registry(rcgc_heap *heap, weak_state *st)
{
    struct rcgc__mem *m = MEM(heap);
    size_t bad = 0, n = 0;
    uint64_t last = 0;
    struct rcgc_finalize *prev = NULL;
    for (struct rcgc_finalize *f = st->reg_first; f; f = f->rnext) {
        if (++n > st->nreg) {
            rcgc_heap_printf(heap, "rcgc_heap_check: finalize registry longer than %zu\n",
                             st->nreg);
            return bad + 1;
        }
        rcgc__head *h = rcgc__head_of(f);
        if (!rcgc__mem_is_obj_block(m, h) || !head_is(heap, h, RCGC__WT_FINALIZE) ||
            h->refcnt_ == 0 || !f->registered || f->rprev != prev ||
            (n > 1 && f->index <= last)) {
            rcgc_heap_printf(heap, "rcgc_heap_check: bad finalize registry entry %p\n",
                             (void *)f);
            bad++;
        }
        last = f->index;
        prev = f;
    }
    if (n != st->nreg || st->reg_last != prev) {
        rcgc_heap_printf(heap, "rcgc_heap_check: finalize registry count %zu != %zu\n", n,
                         st->nreg);
        bad++;
    }
    return bad;
}

size_t rcgc__weakref_check(rcgc_heap *heap)
{
    weak_state *st = heap->weak;
    if (!st)
        return 0;
    size_t bad = check_lists(heap, st) + check_registry(heap, st);
    check_ctx c = {heap, 0};
    rcgc_gc_visit_objects(heap, -1, check_object, &c);
    rcgc_gc_visit_objects(heap, RCGC_GC_FROZEN, check_object, &c);
    return bad + c.bad;
}
