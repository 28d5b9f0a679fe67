/*
** weakref.h -- hooks the weak-reference layer offers to the object and
** collector layers, and the seam between weakref.c (side table, weak
** reference and finalize objects, the hooks) and weakmap.c (containers).
** weakref.c owns the weak-reference state (heap->weak).
*/
#ifndef RCGC_WEAKREF_H
#define RCGC_WEAKREF_H

#include "heap.h"

/* ------------------------------------------------------------------ */
/* Hooks called by the layers below                                   */
/* ------------------------------------------------------------------ */

/* Refcount death: called after finalize (which saw its weak references
** alive) and before clear: kill every weak reference to obj, then run their
** callbacks, most recently registered first. */
void rcgc__weakref_on_dealloc(rcgc_heap *heap, void *obj);

/* Cycle collection, after the unreachable set is known (every object on the
** list 'unreachable' carries RCGC__F_UNREACHABLE) and before any finalizer:
** kill weak references to unreachable objects and those inside the set; run
** the callbacks of reachable weak references whose referent died. */
size_t rcgc__weakref_gc_handle(rcgc_heap *heap, rcgc__head *unreachable);

/* Cycle collection, after finalizers ran and resurrected objects left, just
** before clear: kill weak references created meanwhile (by finalizers) to or
** inside the final set 'still', without running user callbacks (CPython
** 3.14's fix of GH-91636; see docs/weakref.md). */
void rcgc__weakref_gc_clear(rcgc_heap *heap, rcgc__head *still);

/* Heap free: run finalize callbacks still registered with atexit set,
** newest first (including ones registered meanwhile), then drop the rest. */
void rcgc__weakref_heap_fini(rcgc_heap *heap);

/* Verify the side table and the finalize registry; returns problems found
** (each written through the output hook). */
size_t rcgc__weakref_check(rcgc_heap *heap);

/* ------------------------------------------------------------------ */
/* The weak node: one weak reference to one referent                  */
/* ------------------------------------------------------------------ */

/* What embeds a node: the owner is found from the node by kind. */
enum {
    RCGC__WK_REF = 1,      /* rcgc_weakref without callback (shared)     */
    RCGC__WK_REF_CB = 2,   /* rcgc_weakref with a callback               */
    RCGC__WK_FINALIZE = 3, /* rcgc_finalize                              */
    RCGC__WK_ENTRY = 4     /* an entry of a weak map/set (weakmap.c)     */
};
enum {
    RCGC__WN_PENDING = 1u << 0, /* on a chain of callbacks about to run */
    RCGC__WN_HASHED = 1u << 1   /* rcgc_weakref: 'hash' is valid */
};

/*
** A referent's weak references form a doubly linked, NULL-ended list whose
** head lives in the side table (weakref.c), keyed by the referent's handle.
** Invariants (rcgc__weakref_check):
**   - a node is linked iff obj != NULL; every node of a list has the same
**     obj, the referent, which is a live object carrying RCGC__F_WEAKREFS;
**     an object carries the flag iff it has a side-table entry iff it has a
**     non-empty list;
**   - list order: the shared callback-less rcgc_weakref (at most one) first,
**     then every other node newest first (callbacks run in list order);
**   - the head of a list knows its side-table slot ('slot'), so dropping
**     it needs no hashing;
**   - a PENDING node is unlinked; its 'next' chains the callbacks still to
**     run, and the chain holds a strong reference to the node's owner.
*/
typedef struct rcgc__wnode {
    struct rcgc__wnode *prev, *next;
    void *obj;
    uint8_t kind;
    uint8_t flags;
    uint32_t slot; /* while the head of its list: the side-table slot */
} rcgc__wnode;

/* Make room for 'n' more side-table entries, so that the next 'n' calls of
** rcgc__wnode_link cannot fail. RCGC_OK or RCGC_ENOMEM. */
rcgc_status rcgc__weak_reserve(rcgc_heap *heap, size_t n);
/* Link 'node' (kind set, unlinked) onto obj's list; the caller reserved. */
void rcgc__wnode_link(rcgc_heap *heap, rcgc__wnode *node, void *obj);
/* Unlink if linked; obj becomes NULL. */
void rcgc__wnode_unlink(rcgc_heap *heap, rcgc__wnode *node);
/* RCGC_OK if obj may get a new weak reference now (weakrefable type, not
** dying); RCGC_EINVAL otherwise, with a message through the output hook
** naming 'what' (the API call). */
rcgc_status rcgc__weak_referent_error(rcgc_heap *heap, const void *obj, const char *what);
static inline rcgc_status rcgc__weak_check_referent(rcgc_heap *heap, const void *obj,
                                                    const char *what)
{
    /* The common case inline: a live object of this heap whose type
    ** supports weak references. Anything else is reported (or panics)
    ** out of line. */
    if (obj && rcgc__mem_heap_of(obj) == heap) {
        const rcgc__head *h = rcgc__head_of(obj);
        uint32_t id = h->type_;
        /* 0 < id < ntypes (ntypes >= 1) in one unsigned comparison. */
        if (id - 1u < heap->ntypes - 1u &&
            (heap->types[id]->flags & RCGC_TYPE_WEAKREFABLE) && h->refcnt_ != 0)
            return RCGC_OK;
    }
    return rcgc__weak_referent_error(heap, obj, what);
}
/* True if the object is alive for weak purposes (refcount > 0). */
static inline bool rcgc__weak_alive(const void *obj)
{
    return obj && rcgc__head_of(obj)->refcnt_ != 0;
}

/* The layer's object types live in heap->weak (a static const struct of
** function pointers would be relocated data, writable before relro, which
** tools/check-symbols.sh rightly refuses). */
enum { RCGC__WT_REF, RCGC__WT_REF_CB, RCGC__WT_FINALIZE, RCGC__WT_MAP, RCGC__WT_COUNT };
/* The type, creating the layer's state on first use; NULL when out of
** memory. */
const rcgc_type *rcgc__weak_type(rcgc_heap *heap, int which);
/* True if obj is of the layer's type 'which'. heap->weak (weakref.c's
** state) starts with the array of the layer's types. */
static inline bool rcgc__weak_is_type(const void *obj, int which)
{
    rcgc_heap *heap = rcgc__mem_heap_of(obj);
    const rcgc_type *types = heap->weak;
    return types && heap->types[rcgc__head_of(obj)->type_] == &types[which];
}

/* ------------------------------------------------------------------ */
/* weakmap.c, for weakref.c                                           */
/* ------------------------------------------------------------------ */

/* The map owning an entry node. */
void *rcgc__weakmap_entry_owner(rcgc__wnode *node);
/* An entry's node was just unlinked by a death: count it dead. */
void rcgc__weakmap_entry_died(rcgc__wnode *node);
/* Callback phase: free the dead entry unless its map is being iterated. */
void rcgc__weakmap_entry_purge(rcgc_heap *heap, rcgc__wnode *node);
/* Fill the weak-map type's callbacks. */
void rcgc__weakmap_type_init(rcgc_type *t);
/* A garbage map: unlink every entry (no purge: clear frees them). */
void rcgc__weakmap_kill(rcgc_heap *heap, void *map);
/* Nodes linked by the map (for the check). */
size_t rcgc__weakmap_check(rcgc_heap *heap, void *map);

#endif
