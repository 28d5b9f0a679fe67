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
void rcgc__gc_link(rcgc_heap *heap, rcgc__head *h);
/* Unlink a tracked object from whatever list it is on. */
void rcgc__gc_unlink(rcgc_heap *heap, rcgc__head *h);

/* Account for a new object of a GC type of 'bytes' bytes and run (or mark
** due) an automatic collection when a threshold is crossed. Called by
** rcgc_new before the object is allocated. */
void rcgc__gc_on_alloc(rcgc_heap *heap, size_t bytes);
/* Undo rcgc__gc_on_alloc after a failed allocation. */
void rcgc__gc_on_alloc_failed(rcgc_heap *heap, size_t bytes);
/* A GC-type object was freed. */
static inline void rcgc__gc_on_free(rcgc_heap *heap)
{
    if (heap->gc.gens[0].counter > 0)
        heap->gc.gens[0].counter--;
}

#endif
