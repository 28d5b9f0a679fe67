/*
** object.c -- object creation, the refcount slow path, death by refcount
** (finalize -> weak references -> untrack -> clear -> release -> free) with
** a bounded C stack (the trashcan), immortality and explicit tracking.
** Generation lists belong to gc.c; weak references to weakref.c.
*/
#include <string.h>

#include "gc.h"
#include "heap.h"
#include "trace.h"
#include "weakref.h"

/* A deposited object was tracked when its death was deferred; re-track it
** if its finalizer resurrects it. */
#define F_WAS_TRACKED RCGC__F_WAS_TRACKED

/* ------------------------------------------------------------------ */
/* Creation                                                           */
/* ------------------------------------------------------------------ */

/* Creation without any call, for the common case: an object of at most
** 128 bytes with its header, of a type in the type cache, from the head
** pool of its class, with no collection due, no debug mode and no fault
** pending. All of that is checked before anything changes, so NULL means
** "take the full path" with nothing to undo. Without calls, the compiler
** saves no registers on this path. Tracing is the caller's business
** (new_object below); *total is the block's size with its header. */
static RCGC__ALWAYS_INLINE void *new_object_fast(rcgc_heap *heap, const rcgc_type *type,
                                                 size_t nitems, size_t *total_out)
{
    struct rcgc__mem *m = &heap->mem;
    if (RCGC__UNLIKELY(!type || type->size > 128 || nitems > 128 || type->itemsize > 128))
        return NULL;
    size_t total = sizeof(rcgc__head) + type->size + nitems * type->itemsize;
    *total_out = total;
    const struct rcgc__type_cache *c = &heap->type_cache[rcgc__type_slot(type)];
    if (RCGC__UNLIKELY(total > 128 || c->type != type))
        return NULL;
    unsigned cls = rcgc__size_class(total);
    struct rcgc__pool *pool = m->used[RCGC__FAM_OBJ][cls];
    uint64_t n = m->nallocs + 1;
    if (RCGC__UNLIKELY(pool == NULL || n >= m->fast_limit)) /* also debug mode */
        return NULL;
    bool gc_type = type->traverse != NULL;
    rcgc__gc_state *gc = &heap->gc;
    size_t count = gc->gens[0].counter + 1, bytes = gc->bytes_since + total;
    if (gc_type && RCGC__UNLIKELY(count > gc->count_limit || bytes > gc->bytes_limit))
        return NULL;

    if (gc_type) {
        gc->gens[0].counter = count;
        gc->bytes_since = bytes;
    }
    m->nallocs = n;
    bool zero;
    rcgc__head *h = rcgc__pool_pop(m, pool, &zero);
    if (!zero)
        rcgc__zero_block(h, cls);
    /* The block is zero-filled: next_ = 0 means untracked. */
    h->refcnt_ = 1;
    h->type_ = c->id;
    h->flags_ = gc_type ? RCGC__F_GC_TYPE : 0;
    heap->live_objects++;
    if (gc_type)
        rcgc__gc_link(heap, h);
    return h + 1;
}

/* The full path: every case, the fast one included. 'cs' is the call site
** (NULL: none), read only when the block's trace is recorded. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void *new_object_slow(rcgc_heap *heap, const rcgc_type *type, size_t nitems,
                             const rcgc__site *cs)
{
    if (!type)
        rcgc__panic(heap, "rcgc_new: NULL type");
    size_t size;
    if (type->itemsize && nitems > (SIZE_MAX - type->size) / type->itemsize)
        return NULL;
    size = type->size + nitems * type->itemsize;
    if (size > SIZE_MAX - sizeof(rcgc__head) - 15)
        return NULL;
    size_t total = sizeof(rcgc__head) + size;
    bool gc_type = type->traverse != NULL;

    if (gc_type)
        rcgc__gc_on_alloc(heap, total);
    uint16_t id = rcgc__type_id(heap, type);
    rcgc__head *h = id ? rcgc__mem_obj_alloc_fast(&heap->mem, total) : NULL;
    /* Allocation tracing (trace.c): a block whose trace cannot be recorded
    ** is given back and the allocation fails, as with tracemalloc. */
    int traced = 0;
    if (h && heap->trace &&
        (traced = rcgc__trace_alloc_hook_at(heap, h, total, cs)) < 0) {
        rcgc__mem_obj_free(&heap->mem, h);
        h = NULL;
    }
    if (!h) {
        if (gc_type)
            rcgc__gc_on_alloc_failed(heap, total);
        return NULL;
    }
    /* The block is zero-filled: next_ = 0 means untracked. */
    h->refcnt_ = 1;
    h->type_ = id;
    /* TRACED: the free looks the trace up only for blocks that have one
    ** (in sampled mode, most have none). */
    h->flags_ = (uint16_t)((gc_type ? RCGC__F_GC_TYPE : 0) | (traced > 0 ? RCGC__F_TRACED : 0));
    heap->live_objects++;
    if (gc_type)
        rcgc__gc_link(heap, h);
    return h + 1;
}

static RCGC__ALWAYS_INLINE void free_memory(rcgc_heap *heap, rcgc__head *h);

/* Unmake 'obj', just made by new_object_fast, whose trace could not be
** recorded: the allocation fails, as in new_object_slow. Its memory goes
** back as at any death; the collector's counts are undone as for a failed
** allocation. */
#if defined(__GNUC__)
__attribute__((noinline, cold))
#endif
static void *new_object_unmake(rcgc_heap *heap, void *obj, size_t total)
{
    rcgc__head *h = rcgc__head_of(obj);
    bool gc_type = (h->flags_ & RCGC__F_GC_TYPE) != 0;
    if (h->next_)
        rcgc__gc_unlink(heap, h);
    h->flags_ &= (uint16_t)~RCGC__F_GC_TYPE; /* counted out just below */
    free_memory(heap, h);
    if (gc_type)
        rcgc__gc_on_alloc_failed(heap, total);
    return NULL;
}

/* The entry points: the fast path, else the full one. 'cs' (NULL: none)
** is the call site of the rcgc_new/rcgc_new_var macros. */
static RCGC__ALWAYS_INLINE void *new_object(rcgc_heap *heap, const rcgc_type *type,
                                            size_t nitems, const rcgc__site *cs)
{
    size_t total;
    void *o = new_object_fast(heap, type, nitems, &total);
    if (RCGC__LIKELY(o != NULL)) {
        rcgc__trace *t = heap->trace;
        if (RCGC__LIKELY(t == NULL))
            return o;
        /* A sampled-mode skip only moves the countdown (sample_left is 0
        ** in exact mode; debug mode's 'freed' table was ruled out by the
        ** fast path's fast_limit). Else the trace, now that the object
        ** exists. */
        int64_t left = rcgc__trace_sample_left(t, total);
        if (left > 0) {
            t->sample_left = left;
            return o;
        }
        int traced = rcgc__trace_on_alloc_at(heap, rcgc__head_of(o), total, cs);
        if (RCGC__LIKELY(traced > 0))
            rcgc__head_of(o)->flags_ |= RCGC__F_TRACED;
        else if (traced < 0)
            return new_object_unmake(heap, o, total);
        return o;
    }
    return new_object_slow(heap, type, nitems, cs);
}

/* Parenthesised names: rcgc.h defines rcgc_new/rcgc_new_var as macros that
** capture the call site (rcgc_new_at below); the functions stay exported and
** keep the current site. */
void *(rcgc_new_var)(rcgc_heap *heap, const rcgc_type *type, size_t nitems)
{
    return new_object(heap, type, nitems, NULL);
}

void *(rcgc_new)(rcgc_heap *heap, const rcgc_type *type)
{
    return new_object(heap, type, 0, NULL);
}

/* The call site is stored on the stack (a few stores) rather than kept in
** registers through the fast path (which would cost more saved ones). */
void *rcgc_new_at(rcgc_heap *heap, const rcgc_type *type, size_t nitems, const char *file,
                  int line, const char *func)
{
    rcgc__site cs = {file, func, line, (uintptr_t)__builtin_return_address(0)};
    return new_object(heap, type, nitems, &cs);
}

const rcgc_type *rcgc_type_of(const void *obj)
{
    rcgc_heap *heap = rcgc__mem_heap_of(obj);
    uint16_t id = rcgc__head_of(obj)->type_;
    if (id == 0 || id >= heap->ntypes)
        rcgc__panic_obj(heap, obj, "rcgc_type_of: not a live object");
    return heap->types[id];
}

size_t rcgc_object_size(const void *obj)
{
    rcgc_heap *heap = rcgc__mem_heap_of(obj);
    return rcgc__mem_obj_size(&heap->mem, rcgc__head_of(obj)) - sizeof(rcgc__head);
}

/* ------------------------------------------------------------------ */
/* Death by refcount                                                  */
/* ------------------------------------------------------------------ */

void rcgc__unref_slow(void *obj)
{
    rcgc__head *h = rcgc__head_of(obj);
    uint32_t rc = h->refcnt_;
    if (rc >= RCGC_IMMORTAL_MIN)
        return;
    rcgc_heap *heap = rcgc__mem_heap_of(obj);
    if (rc == 0 || h->type_ == RCGC__TYPE_FREED)
        rcgc__panic_obj(heap, obj,
                        h->type_ == RCGC__TYPE_FREED
                            ? "unref of a freed object"
                            : "unref below zero (object has negative ref count)");
    h->refcnt_ = 0;
    rcgc__dealloc(heap, obj);
}

/* Finalize on death by refcount. Returns true if the object was resurrected
** (it then stays alive, tracked as before). */
static bool finalize_on_dealloc(rcgc_heap *heap, rcgc__head *h, const rcgc_type *t)
{
    if (!t->finalize)
        return false;
    /* PEP 442: GC types run their finalizer once; non-GC types have no
    ** FINALIZED bit and run it at every death (CPython's behaviour). */
    if (h->flags_ & RCGC__F_GC_TYPE) {
        if (h->flags_ & RCGC__F_FINALIZED)
            return false;
        h->flags_ |= RCGC__F_FINALIZED;
    }
    h->refcnt_ = 1; /* a temporary reference while the finalizer runs */
    if (t->finalize(h + 1) != 0)
        rcgc_heap_printf(heap, "rcgc: error ignored in finalize of <%s %p>\n",
                         t->name ? t->name : "?", (void *)(h + 1));
    if (--h->refcnt_ != 0)
        return true;
    return false;
}

static RCGC__ALWAYS_INLINE void free_memory(rcgc_heap *heap, rcgc__head *h)
{
    if (h->flags_ & RCGC__F_GC_TYPE)
        rcgc__gc_on_free(heap);
    heap->live_objects--;
    bool traced = (h->flags_ & RCGC__F_TRACED) != 0;
    /* next_ and prev_ become the free-list link; a later unref of the
    ** object finds the FREED type and panics. */
    h->refcnt_ = 0;
    h->type_ = RCGC__TYPE_FREED;
    h->flags_ = 0;
    rcgc__mem_obj_free_fast(&heap->mem, h);
    /* Allocation tracing (trace.c), after the free: a debug-mode report
    ** from the free (a damaged block) still finds the block's trace. The
    ** hook only drops the trace of this address; nothing ran in between. */
    if (traced && heap->trace)
        rcgc__trace_on_free(heap, h);
}

/* The finalizer step of a death (types with finalize only). Returns true
** when the object was resurrected: it is then alive and tracked as before
** (also after a deferred death, which untracked it). */
static bool dealloc_finalize(rcgc_heap *heap, rcgc__head *h, const rcgc_type *t)
{
    bool was_tracked = h->next_ != 0 || (h->flags_ & F_WAS_TRACKED);
    h->flags_ = (uint16_t)((h->flags_ & ~F_WAS_TRACKED) | RCGC__F_DEALLOCATING);
    if (!finalize_on_dealloc(heap, h, t))
        return false;
    h->flags_ &= (uint16_t)~RCGC__F_DEALLOCATING;
    if (was_tracked && h->next_ == 0)
        rcgc__gc_link(heap, h);
    return true;
}

static RCGC__ALWAYS_INLINE void dealloc_body(rcgc_heap *heap, rcgc__head *h)
{
    const rcgc_type *t = heap->types[h->type_];
    if (t->finalize && dealloc_finalize(heap, h, t))
        return;
    /* Untrack before any other user code runs: a collection started by a
    ** weak-reference callback must not meet a tracked object at refcount 0.
    ** One write of the flags for both. */
    uint16_t flags = (uint16_t)((h->flags_ & ~F_WAS_TRACKED) | RCGC__F_DEALLOCATING);
    if (h->next_) {
        rcgc__gc_list_remove(&heap->mem, h);
        flags &= (uint16_t)~RCGC__F_LIST_FLAGS;
    }
    h->flags_ = flags;
    if (flags & RCGC__F_WEAKREFS)
        rcgc__weakref_on_dealloc(heap, h + 1);
    if (t->clear)
        t->clear(h + 1);
    if (t->release)
        t->release(h + 1);
    free_memory(heap, h);
}

/* Out of line for the generic path (inlining it into rcgc__dealloc costs
** more instructions everywhere); inlined into rcgc__dealloc_garbage. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void dealloc_one(rcgc_heap *heap, rcgc__head *h)
{
    dealloc_body(heap, h);
}

/* The outermost dealloc frees the objects deferred by deeper ones. */
static void dealloc_later(rcgc_heap *heap, rcgc__dealloc_state *d)
{
    while (d->later) {
        rcgc__head *n = rcgc__unhandle(&heap->mem, d->later);
        d->later = n->next_;
        n->next_ = 0;
        dealloc_one(heap, n);
    }
}

void rcgc__dealloc(rcgc_heap *heap, void *obj)
{
    rcgc__head *h = rcgc__head_of(obj);
    rcgc__dealloc_state *d = &heap->dealloc;
    if (d->depth >= RCGC__DEALLOC_DEPTH) {
        /* Too deep: chain the object through next_ and let the outermost
        ** dealloc free it once the stack has unwound. */
        if (h->next_) {
            rcgc__gc_unlink(heap, h);
            h->flags_ |= F_WAS_TRACKED;
        }
        h->next_ = d->later;
        d->later = rcgc__handle(&heap->mem, h);
        return;
    }
    d->depth++;
    dealloc_one(heap, h);
    if (d->depth == 1)
        dealloc_later(heap, d);
    d->depth--;
}

/* rcgc_unref of an object whose one reference is the collector's (gc.c,
** delete_garbage): the same death as rcgc__dealloc's, without the checks
** of rcgc__unref_slow (the count is 1, so mortal and alive) and with the
** death inline, one call deep. */
void rcgc__dealloc_garbage(rcgc_heap *heap, rcgc__head *h)
{
    rcgc__dealloc_state *d = &heap->dealloc;
    h->refcnt_ = 0;
    if (RCGC__UNLIKELY(d->depth >= RCGC__DEALLOC_DEPTH)) {
        rcgc__dealloc(heap, h + 1);
        return;
    }
    d->depth++;
    dealloc_body(heap, h);
    if (d->depth == 1)
        dealloc_later(heap, d);
    d->depth--;
}

/* ------------------------------------------------------------------ */
/* Immortality and tracking                                           */
/* ------------------------------------------------------------------ */

void rcgc_set_immortal(void *obj)
{
    rcgc__head *h = rcgc__head_of(obj);
    rcgc_heap *heap = rcgc__mem_heap_of(obj);
    if (h->next_)
        rcgc__gc_unlink(heap, h);
    if (h->refcnt_ != RCGC_IMMORTAL_REFCNT)
        heap->immortal_objects++;
    h->refcnt_ = RCGC_IMMORTAL_REFCNT;
}

bool rcgc_is_immortal(const void *obj)
{
    return rcgc__head_of(obj)->refcnt_ >= RCGC_IMMORTAL_MIN;
}

void rcgc_track(void *obj)
{
    rcgc__head *h = rcgc__head_of(obj);
    rcgc_heap *heap = rcgc__mem_heap_of(obj);
    if (h->next_)
        rcgc__panic_obj(heap, obj, "object already tracked by the garbage collector");
    if (!heap->types[h->type_]->traverse)
        rcgc__panic_obj(heap, obj, "rcgc_track: type has no traverse");
    if (h->refcnt_ >= RCGC_IMMORTAL_MIN)
        return; /* immortal objects are never scanned */
    rcgc__gc_link(heap, h);
}

void rcgc_untrack(void *obj)
{
    rcgc__head *h = rcgc__head_of(obj);
    if (h->next_)
        rcgc__gc_unlink(rcgc__mem_heap_of(obj), h);
}

bool rcgc_is_tracked(const void *obj)
{
    return rcgc__head_of(obj)->next_ != 0;
}

bool rcgc_is_finalized(const void *obj)
{
    return (rcgc__head_of(obj)->flags_ & RCGC__F_FINALIZED) != 0;
}

/* ------------------------------------------------------------------ */
/* Teardown                                                           */
/* ------------------------------------------------------------------ */

/* Heap free: the region goes back to the OS in one piece, so objects need
** no individual free; only their release hooks (non-heap resources) run.
** Finalizers do not run (as at CPython shutdown after the final collect,
** user code must not run against a heap being destroyed). */
void rcgc__object_teardown(rcgc_heap *heap)
{
    (void)heap;
}
