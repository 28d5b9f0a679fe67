/*
** weakref.c -- weak references (issue 4). Until the weak-reference layer
** lands no type can be weak-referenced, so no object ever carries
** RCGC__F_WEAKREFS and these hooks have nothing to do.
*/
#include "weakref.h"

void rcgc__weakref_on_dealloc(rcgc_heap *heap, void *obj)
{
    (void)heap;
    (void)obj;
}

void rcgc__weakref_gc_handle(rcgc_heap *heap, rcgc__head *unreachable)
{
    (void)heap;
    (void)unreachable;
}

void rcgc__weakref_heap_fini(rcgc_heap *heap) { (void)heap; }

size_t rcgc__weakref_check(rcgc_heap *heap)
{
    (void)heap;
    return 0;
}
