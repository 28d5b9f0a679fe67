/*
** gc.h -- the cycle collector's internal interface: generation lists,
** tracking, the automatic trigger, and the hooks heap.c calls.
*/
#ifndef RCGC_GC_H
#define RCGC_GC_H

#include "heap.h"

void rcgc__gc_init(rcgc_heap *heap, const rcgc_config *cfg);
/* At heap free: drop the garbage list and callbacks. */
void rcgc__gc_fini(rcgc_heap *heap);
size_t rcgc__gc_check(rcgc_heap *heap);
/* Leak report: one line per live tracked object (type, address, refcount). */
void rcgc__gc_report_live(rcgc_heap *heap);

/* Link a new or untracked object at the young end of generation 0. */
static inline void rcgc__gc_link(rcgc_heap *heap, rcgc__head *h)
{
    struct rcgc__mem *m = &heap->mem;
    rcgc__head *l = &heap->gc.gens[0].head;
    uint32_t hn = rcgc__handle(m, h);
    rcgc__head *last = (rcgc__head *)rcgc__unhandle(m, l->prev_);
    h->prev_ = l->prev_;
    h->next_ = rcgc__handle(m, l);
    last->next_ = hn;
    l->prev_ = hn;
}
/* Remove a node from a doubly linked list. */
static inline void rcgc__gc_list_remove(struct rcgc__mem *m, rcgc__head *node)
{
    rcgc__head *prev = (rcgc__head *)rcgc__unhandle(m, node->prev_);
    rcgc__head *next = (rcgc__head *)rcgc__unhandle(m, node->next_);
    prev->next_ = node->next_;
    next->prev_ = node->prev_;
    node->next_ = 0;
}
/* The flags that only a tracked object carries (its list's and a
** collection's). */
#define RCGC__F_LIST_FLAGS (RCGC__F_COLLECTING | RCGC__F_UNREACHABLE | RCGC__F_FROZEN)
/* Unlink a tracked object from whatever list it is on. Inline: every
** garbage object a collection frees comes through here (its death by
** refcount untracks it).
** During a collection an object may be on a singly linked list (its prev_
** holds gc_refs). Objects on such lists always carry COLLECTING without
** UNREACHABLE; their death must not happen then: a reference from outside
** the set keeps them alive, and only user code (clear, finalize) runs
** during those phases, never on them. */
static inline void rcgc__gc_unlink(rcgc_heap *heap, rcgc__head *h)
{
    rcgc__gc_list_remove(&heap->mem, h);
    h->flags_ &= (uint16_t)~RCGC__F_LIST_FLAGS;
}

/* Account for a new object of a GC type of 'bytes' bytes and run (or mark
** due) an automatic collection when a threshold is crossed. Called by
** rcgc_new before the object is allocated. */
void rcgc__gc_on_alloc_slow(rcgc_heap *heap);
static inline void rcgc__gc_on_alloc(rcgc_heap *heap, size_t bytes)
{
    rcgc__gc_state *gc = &heap->gc;
    gc->gens[0].counter++;
    gc->bytes_since += bytes;
    /* The limits are SIZE_MAX while automatic collection is off, so the
    ** common case is two compares (see update_limits in gc.c). */
    if (gc->gens[0].counter > gc->count_limit || gc->bytes_since > gc->bytes_limit)
        rcgc__gc_on_alloc_slow(heap);
}
/* Recompute count_limit/bytes_limit after a setting changed. */
void rcgc__gc_update_limits(rcgc_heap *heap);
/* Undo rcgc__gc_on_alloc after a failed allocation. */
void rcgc__gc_on_alloc_failed(rcgc_heap *heap, size_t bytes);
/* A GC-type object was freed. */
static inline void rcgc__gc_on_free(rcgc_heap *heap)
{
    if (heap->gc.gens[0].counter > 0)
        heap->gc.gens[0].counter--;
}

#endif
