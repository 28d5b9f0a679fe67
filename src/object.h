/*
** object.h -- the object header's flag bits and the helpers that read it.
** The header itself (rcgc__head) is in include/rcgc.h so ref/unref inline.
**
** Header layout (16 bytes, 16-byte aligned, just before the object):
**   next_  : handle of the next object on its generation list; 0 = untracked
**   prev_  : handle of the previous one; during a collection of this object's
**            generation it holds gc_refs instead (CPython's trick)
**   refcnt_: strong references; >= RCGC_IMMORTAL_MIN = immortal
**   type_  : index into heap->types
**   flags_ : RCGC__F_* below
*/
#ifndef RCGC_OBJECT_H
#define RCGC_OBJECT_H

#include "rcgc.h"

enum {
    RCGC__F_FINALIZED = 1u << 1,   /* finalize has run (never cleared) */
    RCGC__F_COLLECTING = 1u << 2,  /* in the set being collected */
    RCGC__F_UNREACHABLE = 1u << 3, /* tentatively unreachable (collection) */
    RCGC__F_WEAKREFS = 1u << 4,    /* has (or had) weak references */
    RCGC__F_GC_TYPE = 1u << 5,     /* type has traverse: counts for count0 */
    RCGC__F_DEALLOCATING = 1u << 6,/* dealloc in progress */
    RCGC__F_WAS_TRACKED = 1u << 7, /* deferred dealloc of a tracked object */
    RCGC__F_FROZEN = 1u << 8,      /* on the permanent generation */
    RCGC__F_TRACED = 1u << 9       /* the tracer holds a trace of its block */
};

/* Type id stamped into a freed header so a late unref is caught. */
#define RCGC__TYPE_FREED 0xFFFFu

static inline rcgc__head *rcgc__head_of(const void *obj)
{
    return RCGC__HEAD(obj);
}
static inline void *rcgc__obj_of(rcgc__head *h) { return h + 1; }

struct rcgc_heap;
/* Free an object whose refcount reached zero (finalize, weakrefs, clear,
** release, memory), bounded in C stack depth. */
void rcgc__dealloc(struct rcgc_heap *heap, void *obj);
/* The same for an object at refcount 1 whose one reference is the
** collector's own (its count becomes 0 here). */
void rcgc__dealloc_garbage(struct rcgc_heap *heap, rcgc__head *h);
/* Full teardown at heap free: free every remaining object without running
** finalizers (the caller ran what must run). */
void rcgc__object_teardown(struct rcgc_heap *heap);

#endif
