/*
** weakref.h -- hooks the weak-reference layer offers to the object and
** collector layers. weakref.c owns the weak-reference state (heap->weak).
*/
#ifndef RCGC_WEAKREF_H
#define RCGC_WEAKREF_H

#include "heap.h"

/* Refcount death: called after finalize (which saw its weak references
** alive) and before clear: kill every weak reference to obj, then run their
** callbacks, most recently registered first. */
void rcgc__weakref_on_dealloc(rcgc_heap *heap, void *obj);

/* Cycle collection, after the unreachable set is known (every object on the
** list 'unreachable' carries RCGC__F_UNREACHABLE): kill weak references to
** unreachable objects and those inside the set; run the callbacks of
** reachable weak references whose referent died. */
void rcgc__weakref_gc_handle(rcgc_heap *heap, rcgc__head *unreachable);

/* Heap free: run finalize-style callbacks still registered, newest first. */
void rcgc__weakref_heap_fini(rcgc_heap *heap);

size_t rcgc__weakref_check(rcgc_heap *heap);

#endif
