/*
** gc.c -- the generational cycle collector (Python's gc module in C).
** Owns the generation lists, thresholds, statistics, callbacks and the
** garbage list. Finds garbage cycles by trial deletion: no root scanning,
** outside references are inferred from reference counts. Frees nothing by
** itself: it calls finalize and clear, and reference counting does the rest.
** See docs/design.md, "The collector", for the phases and their invariants.
*/
#include <string.h>
#include <time.h>

#include "gc.h"
#include "weakref.h"

/*
** Lists are circular and doubly linked through the 32-bit handles in each
** header; the sentinel (struct rcgc__gen.head) lives inside the heap struct,
** which is inside the region, so it has a handle too.
**
** During a collection, for objects carrying RCGC__F_COLLECTING:
**   - prev_ holds gc_refs, and the list they are on is singly linked
**     (only next_ is valid; the sentinel's prev_ still names the tail);
**   - after subtract_refs(), gc_refs == references from outside the set;
**   - move_unreachable() leaves objects with gc_refs > 0, and everything
**     they reach, on the young list; the rest go to 'unreachable', which is
**     doubly linked again and whose members carry RCGC__F_UNREACHABLE;
**   - an object reachable from outside the set is never finalized, cleared
**     or freed by the collection.
** rcgc__gc_check() verifies the between-collections state; keep in step.
*/

#define MEM(heap) (&(heap)->mem)
#define H(m, hd) ((rcgc__head *)rcgc__unhandle((m), (hd)))
#define HD(m, p) rcgc__handle((m), (p))
#define TYPE(heap, h) ((heap)->types[(h)->type_])
#define COLLECTION_FLAGS (RCGC__F_COLLECTING | RCGC__F_UNREACHABLE)

/* ------------------------------------------------------------------ */
/* List primitives                                                    */
/* ------------------------------------------------------------------ */

static void list_init(struct rcgc__mem *m, rcgc__head *l)
{
    uint32_t self = HD(m, l);
    l->next_ = self;
    l->prev_ = self;
}

static bool list_is_empty(struct rcgc__mem *m, rcgc__head *l)
{
    return l->next_ == HD(m, l);
}

static void list_append(struct rcgc__mem *m, rcgc__head *node, rcgc__head *l)
{
    uint32_t hn = HD(m, node), hl = HD(m, l);
    rcgc__head *last = H(m, l->prev_);
    node->prev_ = l->prev_;
    node->next_ = hl;
    last->next_ = hn;
    l->prev_ = hn;
}

static void list_move(struct rcgc__mem *m, rcgc__head *node, rcgc__head *l)
{
    rcgc__gc_list_remove(m, node);
    list_append(m, node, l);
}

/* Append all of 'from' to 'to'; 'from' becomes empty. */
static void list_merge(struct rcgc__mem *m, rcgc__head *from, rcgc__head *to)
{
    if (list_is_empty(m, from))
        return;
    rcgc__head *to_tail = H(m, to->prev_);
    rcgc__head *first = H(m, from->next_);
    rcgc__head *last = H(m, from->prev_);
    to_tail->next_ = from->next_;
    first->prev_ = to->prev_;
    to->prev_ = from->prev_;
    last->next_ = HD(m, to);
    list_init(m, from);
}

static size_t list_size(struct rcgc__mem *m, rcgc__head *l)
{
    size_t n = 0;
    uint32_t end = HD(m, l);
    for (uint32_t x = l->next_; x != end; x = H(m, x)->next_)
        n++;
    return n;
}

/* Every list a tracked object can be on between collections, in order:
** generations 0, 1, 2, the visited part of generation 2 (incremental
** mode), the frozen set. */
#define NLISTS 5
#define LIST_VISITED 3
#define LIST_FROZEN 4
static rcgc__head *list_at(rcgc_heap *heap, int i)
{
    switch (i) {
    case LIST_VISITED:
        return &heap->gc.visited;
    case LIST_FROZEN:
        return &heap->gc.frozen.head;
    default:
        return &heap->gc.gens[i].head;
    }
}

/* A switch rather than a table: a table of string pointers would be
** relocated data, which the no-writable-data check (nm) cannot tell from
** writable data. */
static const char *list_name(int i)
{
    switch (i) {
    case 0:
        return "generation 0";
    case 1:
        return "generation 1";
    case 2:
        return "generation 2";
    case LIST_VISITED:
        return "generation 2 (visited)";
    default:
        return "frozen";
    }
}

/* The lists of a generation argument: 0..2, -1 (all generations) or
** RCGC_GC_FROZEN. False for anything else. */
static bool lists_of(int generation, int *lo, int *hi, bool *with_visited)
{
    *with_visited = false;
    if (generation == -1) {
        *lo = 0;
        *hi = LIST_VISITED;
    } else if (generation == RCGC_GC_FROZEN) {
        *lo = *hi = LIST_FROZEN;
    } else if (generation >= 0 && generation < RCGC_GC_GENERATIONS) {
        *lo = *hi = generation;
        *with_visited = generation == RCGC_GC_GENERATIONS - 1;
    } else {
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* Init, tracking, trigger                                            */
/* ------------------------------------------------------------------ */

void rcgc__gc_init(rcgc_heap *heap, const rcgc_config *cfg)
{
    rcgc__gc_state *gc = &heap->gc;
    for (int g = 0; g < RCGC_GC_GENERATIONS; g++) {
        list_init(MEM(heap), &gc->gens[g].head);
        gc->gens[g].threshold = cfg->gc_threshold[g];
    }
    list_init(MEM(heap), &gc->frozen.head);
    list_init(MEM(heap), &gc->visited);
    list_init(MEM(heap), &gc->inc_set);
    gc->mode = cfg->gc_mode;
    gc->pause_budget_ns = cfg->gc_pause_budget_ns;
    gc->enabled = cfg->gc_enabled;
    gc->trigger = cfg->gc_trigger;
    gc->bytes_threshold = cfg->gc_bytes_threshold;
    rcgc__gc_update_limits(heap);
}

static void collect_generations(rcgc_heap *heap);

static bool auto_due(rcgc_heap *heap)
{
    rcgc__gc_state *gc = &heap->gc;
    if (!gc->enabled || gc->collecting)
        return false;
    if (gc->gens[0].threshold && gc->gens[0].counter > gc->gens[0].threshold)
        return true;
    return gc->gens[0].threshold && gc->bytes_threshold &&
           gc->bytes_since > gc->bytes_threshold;
}

void rcgc__gc_update_limits(rcgc_heap *heap)
{
    rcgc__gc_state *gc = &heap->gc;
    bool on = gc->enabled && gc->gens[0].threshold;
    gc->count_limit = on ? gc->gens[0].threshold : SIZE_MAX;
    gc->bytes_limit = on && gc->bytes_threshold ? gc->bytes_threshold : SIZE_MAX;
}

void rcgc__gc_on_alloc_slow(rcgc_heap *heap)
{
    rcgc__gc_state *gc = &heap->gc;
    if (!auto_due(heap))
        return;
    if (gc->trigger == RCGC_TRIGGER_SAFEPOINT)
        gc->pending = true;
    else
        collect_generations(heap);
}

void rcgc__gc_on_alloc_failed(rcgc_heap *heap, size_t bytes)
{
    rcgc__gc_state *gc = &heap->gc;
    if (gc->gens[0].counter > 0)
        gc->gens[0].counter--;
    gc->bytes_since = gc->bytes_since > bytes ? gc->bytes_since - bytes : 0;
}

/* ------------------------------------------------------------------ */
/* Trial deletion                                                     */
/* ------------------------------------------------------------------ */

/* The list walks below are pointer chases: the next header's address is
** known only once the current one has arrived. Lists mostly follow address
** order (objects are linked as they are allocated), so the walks ask for
** the memory a little ahead of the current object, for writing, since every
** pass writes the headers. A prefetch never faults, so an address past the
** region's end or on an unmapped page is harmless. */
#define GC_PREFETCH_BYTES 2048
static inline void prefetch_ahead(const rcgc__head *h)
{
#if defined(__GNUC__)
    __builtin_prefetch((const char *)h + GC_PREFETCH_BYTES, 1, 3);
#else
    (void)h;
#endif
}

/* gc_refs := refcount; the object joins the set. */
static inline void start_gc_refs(rcgc__head *h)
{
    h->prev_ = h->refcnt_;
    h->flags_ |= RCGC__F_COLLECTING;
}

/* Immortal candidates are untracked instead (never worth scanning). 'h' is
** 'x', the successor of 'prev' on 'young'; unlink by hand: only next_ links
** are valid once the first objects' prev_ hold gc_refs. */
static void untrack_immortal(struct rcgc__mem *m, rcgc__head *young, rcgc__head *prev,
                             uint32_t x, rcgc__head *h)
{
    prev->next_ = h->next_;
    if (young->prev_ == x)
        young->prev_ = HD(m, prev);
    h->next_ = 0;
}

static void check_refcnt(rcgc_heap *heap, rcgc__head *h)
{
    if (h->refcnt_ == 0)
        rcgc__panic_obj(heap, h + 1, "collector found a tracked object with refcount 0");
}

typedef struct visit_ctx {
    rcgc_heap *heap;
    rcgc__head *list;
    rcgc__head *owner;
    uintptr_t base;   /* the heap's region, for the cross-heap check */
    size_t bytes;
} visit_ctx;

static void visit_init(visit_ctx *v, rcgc_heap *heap, rcgc__head *list)
{
    v->heap = heap;
    v->list = list;
    v->owner = NULL;
    v->base = (uintptr_t)heap->mem.base;
    v->bytes = heap->mem.region_bytes;
}

/* Every object of this heap lies in its region: two instructions and no
** memory access, unlike asking the segment header for the heap. */
static inline bool other_heap(const visit_ctx *v, void *obj)
{
    return (uintptr_t)obj - v->base >= v->bytes;
}

/* The visits' reports, out of line and reached by a tail call, so that the
** visits themselves need no stack frame. 'obj' set: the visit met an object
** of another heap; else h's gc_refs would go below zero. The report checks
** its condition again, so that it may return (0) as far as compilers know:
** a call to a function that never returns is not made a tail call. */
#if defined(__GNUC__)
__attribute__((noinline, cold))
#endif
static int visit_report(const visit_ctx *v, rcgc__head *h, void *obj)
{
    if (obj && other_heap(v, obj))
        rcgc__panic_obj(v->heap, v->owner + 1,
                        "traverse visited an object of another heap (%p)", obj);
    if (!obj && h->prev_ == 0)
        rcgc__panic_obj(v->heap, h + 1,
                        "refcount is too small (more references from tracked "
                        "objects than its refcount); found from %p",
                        (void *)(v->owner + 1));
    return 0;
}

/* gc_refs - 1, or a report when gc_refs is 0. */
static inline int decref_gc_refs(const visit_ctx *v, rcgc__head *h)
{
    if (h->prev_ == 0)
        return visit_report(v, h, NULL);
    h->prev_--;
    return 0;
}

static int visit_decref(void *obj, void *arg)
{
    visit_ctx *v = arg;
    rcgc__head *h = rcgc__head_of(obj);
    if (other_heap(v, obj))
        return visit_report(v, h, obj);
    if (h->flags_ & RCGC__F_COLLECTING)
        return decref_gc_refs(v, h);
    return 0;
}

/* visit_decref for a full collection without update_refs: the set is every
** tracked object that is neither frozen nor immortal (all of them are on
** the list), so an object the walk has not reached yet joins the set at
** the first reference to it. Refcount 0 is left out too: only an object
** on the deferred-dealloc chain, which no live object references, has it;
** the walk reports a tracked one when it gets there. */
static int visit_decref_full(void *obj, void *arg)
{
    visit_ctx *v = arg;
    rcgc__head *h = rcgc__head_of(obj);
    if (other_heap(v, obj))
        return visit_report(v, h, obj);
    if (!(h->flags_ & RCGC__F_COLLECTING)) {
        if (h->next_ == 0 || (h->flags_ & RCGC__F_FROZEN) ||
            h->refcnt_ - 1u >= RCGC_IMMORTAL_MIN - 1u)
            return 0;
        start_gc_refs(h);
    }
    return decref_gc_refs(v, h);
}

/* Subtract internal references: afterwards gc_refs counts only references
** from outside the set. */
static void subtract_refs(rcgc_heap *heap, rcgc__head *young)
{
    struct rcgc__mem *m = MEM(heap);
    uint32_t end = HD(m, young);
    visit_ctx v;
    visit_init(&v, heap, young);
    for (uint32_t x = young->next_; x != end; x = H(m, x)->next_) {
        rcgc__head *h = H(m, x);
        prefetch_ahead(h);
        v.owner = h;
        TYPE(heap, h)->traverse(h + 1, visit_decref, &v);
    }
}

/* gc_refs := refcount for every object of the set; mark it COLLECTING.
** With 'subtract' (visit_decref_full, a full collection only), subtract
** the internal references in the same walk, one pass less over the whole
** heap: an object met earlier as a referent is already in the set. Returns
** the number of candidates. */
static inline size_t start_set(rcgc_heap *heap, rcgc__head *young, rcgc_visit_fn subtract)
{
    struct rcgc__mem *m = MEM(heap);
    uint32_t end = HD(m, young);
    visit_ctx v;
    visit_init(&v, heap, young);
    size_t n = 0;
    rcgc__head *prev = young;
    for (uint32_t x = young->next_; x != end;) {
        rcgc__head *h = H(m, x);
        uint32_t next = h->next_;
        prefetch_ahead(h);
        if (!subtract || !(h->flags_ & RCGC__F_COLLECTING)) {
            if (h->refcnt_ >= RCGC_IMMORTAL_MIN) {
                untrack_immortal(m, young, prev, x, h);
                x = next;
                continue;
            }
            check_refcnt(heap, h);
            start_gc_refs(h);
        }
        n++;
        if (subtract) {
            v.owner = h;
            TYPE(heap, h)->traverse(h + 1, subtract, &v);
        }
        prev = h;
        x = next;
    }
    return n;
}

static size_t update_refs(rcgc_heap *heap, rcgc__head *young)
{
    return start_set(heap, young, NULL);
}

static size_t update_and_subtract_refs(rcgc_heap *heap, rcgc__head *young)
{
    return start_set(heap, young, visit_decref_full);
}

static int visit_reachable(void *obj, void *arg)
{
    visit_ctx *v = arg;
    rcgc__head *h = rcgc__head_of(obj);
    if (!(h->flags_ & RCGC__F_COLLECTING))
        return 0;
    if (h->flags_ & RCGC__F_UNREACHABLE) {
        /* Tentatively unreachable but reached after all: back to the tail
        ** of the young list, where the scan will get to it. */
        struct rcgc__mem *m = MEM(v->heap);
        rcgc__head *young = v->list;
        rcgc__gc_list_remove(m, h); /* the unreachable list is doubly linked */
        rcgc__head *last = H(m, young->prev_);
        last->next_ = HD(m, h);
        h->next_ = HD(m, young);
        young->prev_ = HD(m, h);
        h->prev_ = 1;
        h->flags_ &= (uint16_t)~RCGC__F_UNREACHABLE;
    } else if (h->prev_ == 0) {
        h->prev_ = 1; /* not scanned yet: the scan will treat it as reachable */
    }
    return 0;
}

/* From x (gc_refs 0) on, the run of consecutive objects of 'young' with
** gc_refs 0: flag them UNREACHABLE and move them to the tail of
** 'unreachable' in one splice, after 'prev' (handle prev_hd), the last
** object kept on young. Returns the handle of the object after the run. */
static uint32_t move_run(struct rcgc__mem *m, rcgc__head *young, rcgc__head *prev,
                         uint32_t prev_hd, uint32_t x, rcgc__head *unreachable)
{
    uint32_t end = HD(m, young), first = x, last;
    uint32_t link = unreachable->prev_; /* prev_ of the next member */
    rcgc__head *h;
    do {
        h = H(m, x);
        prefetch_ahead(h);
        h->prev_ = link;
        h->flags_ |= RCGC__F_UNREACHABLE;
        link = last = x;
        x = h->next_;
    } while (x != end && H(m, x)->prev_ == 0);
    prev->next_ = x;
    if (young->prev_ == last)
        young->prev_ = prev_hd;
    H(m, unreachable->prev_)->next_ = first;
    h->next_ = HD(m, unreachable);
    unreachable->prev_ = last;
    return x;
}

/* Move everything not reachable from outside the set to 'unreachable'.
** Returns the number of survivors left on 'young'. Unreachable objects
** move a run at a time: nothing looks at them (a traverse could move one
** back) until the run has been moved. */
static size_t move_unreachable(rcgc_heap *heap, rcgc__head *young, rcgc__head *unreachable)
{
    struct rcgc__mem *m = MEM(heap);
    uint32_t end = HD(m, young);
    visit_ctx v;
    visit_init(&v, heap, young);
    rcgc__head *prev = young;
    uint32_t prev_hd = end; /* prev's handle */
    size_t survivors = 0;
    for (uint32_t x = young->next_; x != end;) {
        rcgc__head *h = H(m, x);
        prefetch_ahead(h);
        if (h->prev_ == 0) {
            x = move_run(m, young, prev, prev_hd, x, unreachable);
            continue;
        }
        TYPE(heap, h)->traverse(h + 1, visit_reachable, &v);
        /* Scanned and reachable: it leaves the set now, and its prev_
        ** becomes a link again (a later visit finds no COLLECTING flag and
        ** ignores it), which saves a final pass over survivors. */
        h->prev_ = prev_hd;
        h->flags_ &= (uint16_t)~RCGC__F_COLLECTING;
        prev = h;
        prev_hd = x;
        survivors++;
        x = h->next_; /* after the visits: they may append to the list */
    }
    return survivors;
}

/* Returns the number of candidates; *survivors gets those left on young. */
static size_t deduce_unreachable(rcgc_heap *heap, rcgc__head *young, rcgc__head *unreachable,
                                 bool full, size_t *survivors)
{
    size_t n;
    if (full) {
        n = update_and_subtract_refs(heap, young);
    } else {
        n = update_refs(heap, young);
        subtract_refs(heap, young);
    }
    *survivors = move_unreachable(heap, young, unreachable);
    return n;
}

/* ------------------------------------------------------------------ */
/* Uncollectable types (CPython's legacy finalizers)                  */
/* ------------------------------------------------------------------ */

static int visit_move_to(void *obj, void *arg)
{
    visit_ctx *v = arg;
    rcgc__head *h = rcgc__head_of(obj);
    if (h->flags_ & RCGC__F_UNREACHABLE) {
        list_move(MEM(v->heap), h, v->list);
        h->flags_ &= (uint16_t)~COLLECTION_FLAGS;
    }
    return 0;
}

/* Move objects whose type forbids collection in a cycle, and everything
** reachable from them, from 'unreachable' to 'finalizers'. */
static void move_uncollectable(rcgc_heap *heap, rcgc__head *unreachable, rcgc__head *finalizers)
{
    struct rcgc__mem *m = MEM(heap);
    uint32_t end = HD(m, unreachable);
    for (uint32_t x = unreachable->next_; x != end;) {
        rcgc__head *h = H(m, x);
        x = h->next_;
        if (TYPE(heap, h)->flags & RCGC_TYPE_UNCOLLECTABLE_IN_CYCLE) {
            list_move(m, h, finalizers);
            /* Out of the set for good: handle_resurrected's subtract_refs
            ** must not count references to it (its prev_ is a link). */
            h->flags_ &= (uint16_t)~COLLECTION_FLAGS;
        }
    }
    visit_ctx v;
    visit_init(&v, heap, finalizers);
    end = HD(m, finalizers);
    for (uint32_t x = finalizers->next_; x != end; x = H(m, x)->next_) {
        rcgc__head *h = H(m, x);
        v.owner = h;
        TYPE(heap, h)->traverse(h + 1, visit_move_to, &v);
    }
}

/* ------------------------------------------------------------------ */
/* The garbage list and callbacks                                     */
/* ------------------------------------------------------------------ */

static bool garbage_append(rcgc_heap *heap, void *obj)
{
    rcgc__gc_state *gc = &heap->gc;
    if (gc->ngarbage == gc->capgarbage) {
        size_t cap = gc->capgarbage ? gc->capgarbage * 2 : 16;
        void **g = rcgc_realloc(heap, gc->garbage, cap * sizeof *g);
        if (!g) {
            rcgc_heap_printf(heap, "gc: out of memory appending to the garbage list; "
                                   "object %p stays in the oldest generation\n", obj);
            return false;
        }
        gc->garbage = g;
        gc->capgarbage = cap;
    }
    gc->garbage[gc->ngarbage++] = rcgc_ref(obj);
    return true;
}

size_t rcgc_gc_garbage_count(rcgc_heap *heap) { return heap->gc.ngarbage; }

void *rcgc_gc_garbage_get(rcgc_heap *heap, size_t index)
{
    return index < heap->gc.ngarbage ? heap->gc.garbage[index] : NULL;
}

void rcgc_gc_garbage_clear(rcgc_heap *heap)
{
    rcgc__gc_state *gc = &heap->gc;
    /* Unref from the end; an unref may run code that appends again. */
    while (gc->ngarbage > 0) {
        void *obj = gc->garbage[--gc->ngarbage];
        rcgc_unref(obj);
    }
}

static void invoke_callbacks(rcgc_heap *heap, rcgc_gc_phase phase, const rcgc_gc_info *info)
{
    rcgc__gc_state *gc = &heap->gc;
    /* Index loop: a callback may add or remove callbacks. */
    for (size_t i = 0; i < gc->ncallbacks; i++) {
        rcgc__gc_cb cb = gc->callbacks[i];
        if (cb.fn(heap, phase, info, cb.ctx) != 0)
            rcgc_heap_printf(heap, "gc: error ignored while calling a gc callback "
                                   "(phase %s)\n", phase == RCGC_GC_START ? "start" : "stop");
    }
}

rcgc_status rcgc_gc_callback_add(rcgc_heap *heap, rcgc_gc_callback fn, void *ctx)
{
    rcgc__gc_state *gc = &heap->gc;
    if (!fn)
        return RCGC_EINVAL;
    if (gc->ncallbacks == gc->capcallbacks) {
        size_t cap = gc->capcallbacks ? gc->capcallbacks * 2 : 4;
        rcgc__gc_cb *c = rcgc_realloc(heap, gc->callbacks, cap * sizeof *c);
        if (!c)
            return RCGC_ENOMEM;
        gc->callbacks = c;
        gc->capcallbacks = cap;
    }
    gc->callbacks[gc->ncallbacks].fn = fn;
    gc->callbacks[gc->ncallbacks].ctx = ctx;
    gc->ncallbacks++;
    return RCGC_OK;
}

rcgc_status rcgc_gc_callback_remove(rcgc_heap *heap, rcgc_gc_callback fn, void *ctx)
{
    rcgc__gc_state *gc = &heap->gc;
    for (size_t i = 0; i < gc->ncallbacks; i++) {
        if (gc->callbacks[i].fn == fn && gc->callbacks[i].ctx == ctx) {
            memmove(&gc->callbacks[i], &gc->callbacks[i + 1],
                    (gc->ncallbacks - i - 1) * sizeof *gc->callbacks);
            gc->ncallbacks--;
            return RCGC_OK;
        }
    }
    return RCGC_ENOTFOUND;
}

/* ------------------------------------------------------------------ */
/* Finalization, resurrection, deletion                               */
/* ------------------------------------------------------------------ */

static const char *type_name(rcgc_heap *heap, rcgc__head *h)
{
    const char *n = TYPE(heap, h)->name;
    return n ? n : "?";
}

/* PEP 442: call finalize once on every object of the set that has not been
** finalized yet. Objects may die or be resurrected meanwhile. */
/* Returns the number of finalizers run. */
static size_t finalize_garbage(rcgc_heap *heap, rcgc__head *collectable)
{
    struct rcgc__mem *m = MEM(heap);
    size_t ran = 0;
    /* List sentinels need handles, so they live in the heap, not on the
    ** C stack. */
    rcgc__head *seen_list = &heap->gc.seen;
    list_init(m, seen_list);
    while (!list_is_empty(m, collectable)) {
        rcgc__head *h = H(m, collectable->next_);
        list_move(m, h, seen_list);
        const rcgc_type *t = TYPE(heap, h);
        if (t->finalize && !(h->flags_ & RCGC__F_FINALIZED)) {
            h->flags_ |= RCGC__F_FINALIZED;
            ran++;
            rcgc_ref(h + 1);
            if (t->finalize(h + 1) != 0)
                rcgc_heap_printf(heap, "gc: error ignored in finalize of <%s %p>\n",
                                 t->name ? t->name : "?", (void *)(h + 1));
            rcgc_unref(h + 1);
        }
    }
    list_merge(m, seen_list, collectable);
    return ran;
}

/* After finalizers ran: objects of the set that are reachable again (and
** what they reach) stay on 'unreachable' and go to 'old'; the rest move to
** 'still_unreachable'. */
static void handle_resurrected(rcgc_heap *heap, rcgc__head *unreachable,
                               rcgc__head *still_unreachable, rcgc__head *old)
{
    struct rcgc__mem *m = MEM(heap);
    uint32_t end = HD(m, unreachable);
    for (uint32_t x = unreachable->next_; x != end; x = H(m, x)->next_)
        H(m, x)->flags_ &= (uint16_t)~RCGC__F_UNREACHABLE;
    update_refs(heap, unreachable);
    subtract_refs(heap, unreachable);
    (void)move_unreachable(heap, unreachable, still_unreachable);
    list_merge(m, unreachable, old);
}

/* SAVEALL: the garbage goes to the garbage list, alive, and to 'old'. */
static void save_garbage(rcgc_heap *heap, rcgc__head *collectable, rcgc__head *old)
{
    struct rcgc__mem *m = MEM(heap);
    while (!list_is_empty(m, collectable)) {
        rcgc__head *h = H(m, collectable->next_);
        garbage_append(heap, h + 1);
        list_move(m, h, old);
        h->flags_ &= (uint16_t)~COLLECTION_FLAGS;
    }
}

/* The first object of 'l' not yet processed (still UNREACHABLE), or l's
** handle. */
static uint32_t first_unprocessed(struct rcgc__mem *m, rcgc__head *l)
{
    uint32_t end = HD(m, l), x = l->next_;
    while (x != end && !(H(m, x)->flags_ & RCGC__F_UNREACHABLE))
        x = H(m, x)->next_;
    return x;
}

/* Drop the walk's reference to h (see delete_garbage): when it is the last
** one, h dies by the dedicated path, without rcgc__unref_slow's checks. */
static inline void drop_walk_ref(rcgc_heap *heap, rcgc__head *h)
{
    if (h->refcnt_ == 1)
        rcgc__dealloc_garbage(heap, h);
    else
        rcgc_unref(h + 1);
}

/*
** Break the cycles: clear each object of the set in list order, holding a
** temporary reference to it and to the next one. An object dies when its
** last reference goes; the walk's own reference delays that until it has
** been cleared, so a clear never frees the rest of a ring or list by a
** cascade that nests a dealloc per object: each object dies with its
** references dropped already, one call deep. The walk keeps its reference
** to the last object it cleared ('held') until it clears the next one, so
** that the object a later death releases (the other half of a pair, the
** first object of a ring) dies when the walk drops it, by the dedicated
** path, rather than nested in that death. Objects behind the walk may die
** at any time (their death unlinks them); the next one and 'held' cannot.
** Processed objects lose UNREACHABLE; if user code untracks the object the
** walk is about to take, the walk goes on at the first object not yet
** processed. Objects still alive at the end (no clear, or a reference that
** appeared) stay in the oldest generation: they may die later.
*/
static void delete_garbage(rcgc_heap *heap, rcgc__head *collectable, rcgc__head *old)
{
    struct rcgc__mem *m = MEM(heap);
    if (heap->gc.debug & RCGC_GC_DEBUG_SAVEALL) {
        save_garbage(heap, collectable, old);
        return;
    }
    uint32_t end = HD(m, collectable);
    uint32_t x = collectable->next_;
    rcgc__head *held = NULL;
    if (x != end)
        rcgc_ref(H(m, x) + 1);
    while (x != end) {
        rcgc__head *h = H(m, x);
        prefetch_ahead(h);
        x = h->next_;
        if (x != end)
            rcgc_ref(H(m, x) + 1);
        if (h->refcnt_ == 1) {
            /* Only the walk's reference is left: it dies now (its dealloc
            ** clears it and unlinks it). */
            rcgc__dealloc_garbage(heap, h);
        } else {
            const rcgc_type *t = TYPE(heap, h);
            if (t->clear)
                t->clear(h + 1);
            h->flags_ &= (uint16_t)~RCGC__F_UNREACHABLE;
            if (held)
                drop_walk_ref(heap, held);
            held = h;
        }
        if (x != end && !(H(m, x)->flags_ & RCGC__F_UNREACHABLE)) {
            /* Untracked by user code meanwhile: not ours any more. */
            rcgc_unref(H(m, x) + 1);
            x = first_unprocessed(m, collectable);
            if (x != end)
                rcgc_ref(H(m, x) + 1);
        }
    }
    if (held)
        drop_walk_ref(heap, held);
    for (x = collectable->next_; x != end; x = H(m, x)->next_)
        H(m, x)->flags_ &= (uint16_t)~COLLECTION_FLAGS;
    list_merge(m, collectable, old);
}

/* ------------------------------------------------------------------ */
/* One collection                                                     */
/* ------------------------------------------------------------------ */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void debug_list(rcgc_heap *heap, rcgc__head *l, const char *what)
{
    struct rcgc__mem *m = MEM(heap);
    uint32_t end = HD(m, l);
    for (uint32_t x = l->next_; x != end; x = H(m, x)->next_) {
        rcgc__head *h = H(m, x);
        rcgc_heap_printf(heap, "gc: %s <%s %p>\n", what, type_name(heap, h), (void *)(h + 1));
    }
}

/* Incremental mode's pacing: old objects to scan per object promoted into
** generation 2. The generational mode scans the old generation once per 25%
** growth, i.e. about 4 scans per promoted object; 4 spreads the same total
** work over the automatic steps instead of concentrating it in one pause. */
#define INC_WORK_FACTOR 4
/* Percentage of the remaining pause budget an increment is planned for. */
#define INC_BUDGET_SHARE 45
/* Smallest increment, so that a round always progresses. */
#define INC_MIN_OBJECTS 256

/* The destruction pipeline shared by every kind of collection. 'young' is
** a well-formed list of candidates; survivors end on 'old' (which may be
** 'young' itself for a full collection). Fills info (collected,
** uncollectable, candidates) and returns collected + uncollectable. */
static size_t collect_region(rcgc_heap *heap, rcgc__head *young, rcgc__head *old,
                             int generation, rcgc_gc_info *info)
{
    rcgc__gc_state *gc = &heap->gc;
    struct rcgc__mem *m = MEM(heap);
    rcgc__head *unreachable = &gc->unreachable;
    rcgc__head *finalizers = &gc->finalizers;
    rcgc__head *still = &gc->still;
    list_init(m, unreachable);
    list_init(m, finalizers);
    list_init(m, still);

    size_t survivors;
    /* young == old only for a full collection, whose set is everything
    ** tracked and not frozen. */
    size_t candidates = deduce_unreachable(heap, young, unreachable, young == old, &survivors);

    /* Survivors move up one generation (the oldest stays). */
    if (young != old) {
        if (generation == RCGC_GC_GENERATIONS - 2) {
            size_t promoted = survivors;
            gc->long_lived_pending += promoted;
            if (gc->mode == RCGC_GC_INCREMENTAL)
                gc->inc_debt += promoted * INC_WORK_FACTOR;
        }
        list_merge(m, young, old);
    } else {
        gc->long_lived_pending = 0;
        gc->long_lived_total = survivors;
    }

    /* Phases that only some heaps need are skipped on the others: no type
    ** uncollectable in a cycle, no type with a finalizer, no weak reference
    ** ever made (each skip saves a pass over the garbage). */
    if (heap->any_uncollectable)
        move_uncollectable(heap, unreachable, finalizers);
    if (gc->debug & RCGC_GC_DEBUG_COLLECTABLE)
        debug_list(heap, unreachable, "collectable");

    /* Weak references to the garbage die before any finalizer or callback
    ** can observe a half-destroyed object. */
    size_t user_code = rcgc__weakref_gc_handle(heap, unreachable);
    if (heap->any_finalize)
        user_code += finalize_garbage(heap, unreachable);
    size_t collected;
    if (user_code) {
        handle_resurrected(heap, unreachable, still, old);
        /* Weak references that finalizers made to or inside the final set
        ** die too, without callbacks, before clear() breaks the cycles. */
        rcgc__weakref_gc_clear(heap, still);
        /* Not candidates minus the rest: finalizers may have freed some of
        ** the set by refcount, and those are not counted (as in CPython). */
        collected = list_size(m, still);
    } else {
        /* No finalizer or callback ran: nothing can have been resurrected
        ** or have made a new weak reference, so the set stands as it is
        ** (update_refs, subtract_refs and move_unreachable over it again
        ** would find exactly the same objects). */
        list_merge(m, unreachable, still);
        collected = candidates - survivors - list_size(m, finalizers);
    }
    delete_garbage(heap, still, old);

    size_t uncollectable = 0;
    uint32_t end = HD(m, finalizers);
    for (uint32_t x = finalizers->next_; x != end; x = H(m, x)->next_) {
        rcgc__head *h = H(m, x);
        uncollectable++;
        if (gc->debug & RCGC_GC_DEBUG_UNCOLLECTABLE)
            rcgc_heap_printf(heap, "gc: uncollectable <%s %p>\n", type_name(heap, h),
                             (void *)(h + 1));
        if ((gc->debug & RCGC_GC_DEBUG_SAVEALL) ||
            (TYPE(heap, h)->flags & RCGC_TYPE_UNCOLLECTABLE_IN_CYCLE))
            garbage_append(heap, h + 1);
        h->flags_ &= (uint16_t)~COLLECTION_FLAGS;
    }
    list_merge(m, finalizers, old);

    info->generation = generation;
    info->collected = collected;
    info->uncollectable = uncollectable;
    info->candidates = candidates;
    return collected + uncollectable;
}

static void account(rcgc_heap *heap, int generation, const rcgc_gc_info *info)
{
    rcgc_gc_stats *st = &heap->gc.stats[generation];
    st->collections++;
    st->collected += info->collected;
    st->uncollectable += info->uncollectable;
    st->candidates += info->candidates;
    st->duration_ns += info->duration_ns;
    if (info->duration_ns > st->max_pause_ns)
        st->max_pause_ns = info->duration_ns;
}

static size_t collect_main(rcgc_heap *heap, int generation, rcgc_gc_info *info)
{
    rcgc__gc_state *gc = &heap->gc;
    struct rcgc__mem *m = MEM(heap);
    uint64_t t0 = now_ns();

    if (gc->debug & RCGC_GC_DEBUG_STATS) {
        rcgc_heap_printf(heap, "gc: collecting generation %d...\n", generation);
        rcgc_heap_printf(heap, "gc: objects in each generation: %zu %zu %zu\n",
                         list_size(m, &gc->gens[0].head), list_size(m, &gc->gens[1].head),
                         list_size(m, &gc->gens[2].head) + list_size(m, &gc->visited));
        rcgc_heap_printf(heap, "gc: objects in permanent generation: %zu\n",
                         list_size(m, &gc->frozen.head));
    }

    /* Counters: collecting g counts one collection of g for g+1 and resets
    ** the counters of g and everything younger. */
    if (generation + 1 < RCGC_GC_GENERATIONS)
        gc->gens[generation + 1].counter++;
    for (int i = 0; i <= generation; i++)
        gc->gens[i].counter = 0;
    gc->bytes_since = 0;

    for (int i = 0; i < generation; i++)
        list_merge(m, &gc->gens[i].head, &gc->gens[generation].head);
    if (generation == RCGC_GC_GENERATIONS - 1)
        list_merge(m, &gc->visited, &gc->gens[generation].head);
    rcgc__head *young = &gc->gens[generation].head;
    rcgc__head *old = generation + 1 < RCGC_GC_GENERATIONS ? &gc->gens[generation + 1].head
                                                           : young;
    size_t n = collect_region(heap, young, old, generation, info);

    uint64_t dt = now_ns() - t0;
    if (gc->debug & RCGC_GC_DEBUG_STATS)
        rcgc_heap_printf(heap, "gc: done, %zu unreachable, %zu uncollectable, %.4fs elapsed\n",
                         n, info->uncollectable, (double)dt / 1e9);
    info->duration_ns = dt;
    account(heap, generation, info);
    if (generation == RCGC_GC_GENERATIONS - 1)
        gc->bytes_after_full = rcgc__mem_live_bytes(m);
    return n;
}

static size_t collect_with_callbacks(rcgc_heap *heap, int generation)
{
    rcgc__gc_state *gc = &heap->gc;
    rcgc_gc_info info = {generation, 0, 0, 0, 0, false};
    gc->collecting = true;
    gc->pending = false;
    if (gc->ncallbacks)
        invoke_callbacks(heap, RCGC_GC_START, &info);
    size_t n = collect_main(heap, generation, &info);
    if (gc->ncallbacks)
        invoke_callbacks(heap, RCGC_GC_STOP, &info);
    gc->collecting = false;
    return n;
}

/* ------------------------------------------------------------------ */
/* Incremental mode: bounded old-generation increments                */
/* ------------------------------------------------------------------ */

/*
** In incremental mode an automatic collection is a young collection
** (generation 0 or 1, never 2) followed by one increment of the old
** generation, sized so that the whole step fits the pause budget.
**
** An increment takes the oldest not-yet-scanned objects of generation 2
** and grows the set breadth-first through their referents (any tracked,
** non-frozen object) until it holds K objects, then runs the ordinary
** pipeline on that set. Trial deletion is sound on ANY subset: an object
** referenced from outside the set keeps gc_refs > 0 and so does everything
** it reaches; what is found unreachable has no referrer outside the set,
** so it is garbage. Garbage whose referrers all fall inside one increment
** is reclaimed; the breadth-first growth puts a cycle's members together.
** Survivors go to 'visited'; when generation 2 is empty the round ends and
** 'visited' becomes generation 2 again.
**
** K adapts: the measured cost per object of earlier increments divides the
** budget left after the young collection. A garbage structure larger than
** K objects whose members refer to each other around the set's boundary
** survives increments; an explicit rcgc_gc_collect(heap, 2), or the
** generational mode, reclaims it (docs/design.md, "Incremental mode").
*/

typedef struct include_ctx {
    rcgc_heap *heap;
    rcgc__head *set;
    size_t n, limit;
} include_ctx;

static int visit_include(void *obj, void *arg)
{
    include_ctx *c = arg;
    rcgc__head *h = rcgc__head_of(obj);
    if (c->n >= c->limit)
        return 1;
    if (h->next_ == 0 || (h->flags_ & (RCGC__F_COLLECTING | RCGC__F_FROZEN)) ||
        h->refcnt_ >= RCGC_IMMORTAL_MIN)
        return 0;
    list_move(MEM(c->heap), h, c->set);
    h->flags_ |= RCGC__F_COLLECTING;
    c->n++;
    return 0;
}

static size_t build_increment(rcgc_heap *heap, rcgc__head *set, size_t limit)
{
    rcgc__gc_state *gc = &heap->gc;
    struct rcgc__mem *m = MEM(heap);
    rcgc__head *pending = &gc->gens[RCGC_GC_GENERATIONS - 1].head;
    include_ctx c = {heap, set, 0, limit};
    uint32_t end = HD(m, set);
    uint32_t cursor = end; /* last member whose referents were added */
    while (c.n < limit) {
        uint32_t next = H(m, cursor)->next_;
        if (next == end) {
            /* The closure so far is complete: seed another object. */
            if (list_is_empty(m, pending))
                break;
            rcgc__head *seed = H(m, pending->next_);
            list_move(m, seed, set);
            seed->flags_ |= RCGC__F_COLLECTING;
            c.n++;
            continue;
        }
        cursor = next;
        rcgc__head *h = H(m, cursor);
        TYPE(heap, h)->traverse(h + 1, visit_include, &c);
    }
    /* deduce_unreachable sets COLLECTING itself; clear the marks so the
    ** set looks like any other list of tracked objects. */
    for (uint32_t x = set->next_; x != end; x = H(m, x)->next_)
        H(m, x)->flags_ &= (uint16_t)~RCGC__F_COLLECTING;
    return c.n;
}

/* Measured cost of an increment per object (ns), 100 before any. */
static double inc_cost_per_obj(const rcgc__gc_state *gc)
{
    return gc->inc_ns_per_obj > 0 ? gc->inc_ns_per_obj : 100.0;
}

static size_t collect_increment(rcgc_heap *heap, uint64_t budget_ns, size_t work)
{
    rcgc__gc_state *gc = &heap->gc;
    struct rcgc__mem *m = MEM(heap);
    rcgc__head *pending = &gc->gens[RCGC_GC_GENERATIONS - 1].head;
    if (list_is_empty(m, pending)) {
        if (list_is_empty(m, &gc->visited))
            return 0;
        list_merge(m, &gc->visited, pending); /* a new round */
        gc->inc_rounds++;
    }
    uint64_t t0 = now_ns();
    /* The work owed (see INC_WORK_FACTOR), but never more than the budget
    ** allows at the measured cost per object. */
    double per_obj = inc_cost_per_obj(gc);
    double k = (double)budget_ns / per_obj;
    size_t limit = k < (double)work ? (size_t)k : work;
    if (limit < INC_MIN_OBJECTS)
        limit = INC_MIN_OBJECTS;

    rcgc_gc_info info = {RCGC_GC_GENERATIONS - 1, 0, 0, 0, 0, true};
    if (gc->ncallbacks)
        invoke_callbacks(heap, RCGC_GC_START, &info);
    rcgc__head *set = &gc->inc_set;
    list_init(m, set);
    size_t n = build_increment(heap, set, limit);
    collect_region(heap, set, &gc->visited, RCGC_GC_GENERATIONS - 1, &info);
    uint64_t dt = now_ns() - t0;
    info.duration_ns = dt;
    account(heap, RCGC_GC_GENERATIONS - 1, &info);
    if (n > 0) {
        double sample = (double)dt / (double)n;
        gc->inc_ns_per_obj = gc->inc_ns_per_obj > 0 ? 0.75 * gc->inc_ns_per_obj + 0.25 * sample
                                                    : sample;
    }
    if (gc->debug & RCGC_GC_DEBUG_STATS)
        rcgc_heap_printf(heap, "gc: increment of %zu objects, %zu unreachable, %.4fs elapsed\n",
                         n, info.collected + info.uncollectable, (double)dt / 1e9);
    if (gc->ncallbacks)
        invoke_callbacks(heap, RCGC_GC_STOP, &info);
    return n;
}

/* Choose the generation as CPython does: the oldest whose counter exceeds
** its threshold, except that a full collection waits until the objects
** promoted into the oldest generation since the last one reach 25% of
** those that survived it (amortised linear cost on growing heaps). In
** incremental mode generation 2 is never chosen: each automatic collection
** ends with one old-generation increment instead. */
static void collect_generations(rcgc_heap *heap)
{
    rcgc__gc_state *gc = &heap->gc;
    uint64_t t0 = now_ns();
    int gen = 0;
    bool incremental = gc->mode == RCGC_GC_INCREMENTAL;
    bool by_bytes = gc->bytes_since > gc->bytes_limit;
    for (int i = RCGC_GC_GENERATIONS - 1; i >= 0; i--) {
        if (gc->gens[i].counter > gc->gens[i].threshold) {
            if (i == RCGC_GC_GENERATIONS - 1 &&
                (incremental || gc->long_lived_pending < gc->long_lived_total / 4))
                continue;
            gen = i;
            break;
        }
    }
    if (by_bytes) {
        /* Triggered by bytes: a large cycle still being built at the last
        ** collection now sits in generation 1, so look there too; and when
        ** the heap's live bytes have doubled since the last full
        ** collection, collect everything (generational mode). */
        if (gen == 0)
            gen = 1;
        size_t live = rcgc__mem_live_bytes(MEM(heap));
        if (!incremental && live / 2 > gc->bytes_after_full + gc->bytes_threshold / 2)
            gen = RCGC_GC_GENERATIONS - 1;
    }
    collect_with_callbacks(heap, gen);
    if (incremental && gc->inc_debt > 0) {
        uint64_t spent = now_ns() - t0;
        /* Plan the increment for INC_BUDGET_SHARE of what is left: the cost
        ** per object is an estimate, and freeing garbage costs more than
        ** scanning survivors. */
        uint64_t left = gc->pause_budget_ns > spent ? gc->pause_budget_ns - spent : 0;
        uint64_t budget = left / 100 * INC_BUDGET_SHARE;
        /* When the young collection left too little for the smallest
        ** increment, the debt waits for the next step (which starts with
        ** the whole budget) instead of overrunning this one; after a few
        ** such steps in a row (a budget too small for any increment) the
        ** smallest one runs anyway, so the old generation always progresses. */
        double per_obj = inc_cost_per_obj(gc);
        if ((double)budget >= per_obj * INC_MIN_OBJECTS || gc->inc_deferred_run >= 4) {
            gc->inc_deferred_run = 0;
            gc->collecting = true;
            size_t done = collect_increment(heap, budget, gc->inc_debt);
            gc->collecting = false;
            gc->inc_debt = done < gc->inc_debt ? gc->inc_debt - done : 0;
        } else {
            gc->inc_deferred++;
            gc->inc_deferred_run++;
        }
    }
    uint64_t dt = now_ns() - t0;
    gc->auto_steps++;
    gc->auto_total_ns += dt;
    if (dt > gc->auto_max_pause_ns)
        gc->auto_max_pause_ns = dt;
}

/* ------------------------------------------------------------------ */
/* Public API                                                         */
/* ------------------------------------------------------------------ */

long long rcgc_gc_collect(rcgc_heap *heap, int generation)
{
    if (generation < 0 || generation >= RCGC_GC_GENERATIONS)
        return -(long long)RCGC_EINVAL;
    if (heap->gc.collecting)
        return 0;
    return (long long)collect_with_callbacks(heap, generation);
}

long long rcgc_gc_safepoint(rcgc_heap *heap)
{
    rcgc__gc_state *gc = &heap->gc;
    if (!gc->pending)
        return 0;
    gc->pending = false;
    if (!auto_due(heap))
        return 0;
    size_t before = 0;
    for (int i = 0; i < RCGC_GC_GENERATIONS; i++)
        before += gc->stats[i].collected + gc->stats[i].uncollectable;
    collect_generations(heap);
    size_t after = 0;
    for (int i = 0; i < RCGC_GC_GENERATIONS; i++)
        after += gc->stats[i].collected + gc->stats[i].uncollectable;
    return (long long)(after - before);
}

bool rcgc_gc_enable(rcgc_heap *heap)
{
    bool was = heap->gc.enabled;
    heap->gc.enabled = true;
    rcgc__gc_update_limits(heap);
    return was;
}

bool rcgc_gc_disable(rcgc_heap *heap)
{
    bool was = heap->gc.enabled;
    heap->gc.enabled = false;
    rcgc__gc_update_limits(heap);
    return was;
}

bool rcgc_gc_is_enabled(rcgc_heap *heap) { return heap->gc.enabled; }
bool rcgc_gc_is_collecting(rcgc_heap *heap) { return heap->gc.collecting; }

void rcgc_gc_set_threshold(rcgc_heap *heap, unsigned t0, unsigned t1, unsigned t2)
{
    heap->gc.gens[0].threshold = t0;
    heap->gc.gens[1].threshold = t1;
    heap->gc.gens[2].threshold = t2;
    rcgc__gc_update_limits(heap);
}

void rcgc_gc_get_threshold(rcgc_heap *heap, unsigned out[3])
{
    for (int i = 0; i < RCGC_GC_GENERATIONS; i++)
        out[i] = heap->gc.gens[i].threshold;
}

void rcgc_gc_set_bytes_threshold(rcgc_heap *heap, size_t bytes)
{
    heap->gc.bytes_threshold = bytes;
    rcgc__gc_update_limits(heap);
}

void rcgc_gc_get_count(rcgc_heap *heap, size_t out[3])
{
    for (int i = 0; i < RCGC_GC_GENERATIONS; i++)
        out[i] = heap->gc.gens[i].counter;
}

void rcgc_gc_get_stats(rcgc_heap *heap, int generation, rcgc_gc_stats *out)
{
    if (generation < 0 || generation >= RCGC_GC_GENERATIONS) {
        memset(out, 0, sizeof *out);
        return;
    }
    *out = heap->gc.stats[generation];
}

size_t rcgc_gc_generation_size(rcgc_heap *heap, int generation)
{
    int lo, hi;
    bool vis;
    if (!lists_of(generation, &lo, &hi, &vis))
        return 0;
    size_t n = vis ? list_size(MEM(heap), &heap->gc.visited) : 0;
    for (int i = lo; i <= hi; i++)
        n += list_size(MEM(heap), list_at(heap, i));
    return n;
}

static int visit_list(rcgc_heap *heap, rcgc__head *l, int (*fn)(void *, void *), void *arg)
{
    struct rcgc__mem *m = MEM(heap);
    uint32_t end = HD(m, l);
    for (uint32_t x = l->next_; x != end;) {
        rcgc__head *h = H(m, x);
        x = h->next_;
        int r = fn(h + 1, arg);
        if (r)
            return r;
    }
    return 0;
}

int rcgc_gc_visit_objects(rcgc_heap *heap, int generation, int (*fn)(void *, void *),
                          void *arg)
{
    int lo, hi, r;
    bool vis;
    if (!lists_of(generation, &lo, &hi, &vis))
        return -(int)RCGC_EINVAL;
    for (int i = lo; i <= hi; i++)
        if ((r = visit_list(heap, list_at(heap, i), fn, arg)) != 0)
            return r;
    return vis ? visit_list(heap, &heap->gc.visited, fn, arg) : 0;
}

typedef struct referrer_ctx {
    const void *target;
    bool found;
} referrer_ctx;

static int visit_find(void *obj, void *arg)
{
    referrer_ctx *r = arg;
    if (obj == r->target) {
        r->found = true;
        return 1;
    }
    return 0;
}

int rcgc_gc_get_referrers(rcgc_heap *heap, const void *obj, int (*fn)(void *, void *),
                          void *arg)
{
    struct rcgc__mem *m = MEM(heap);
    for (int i = 0; i < NLISTS; i++) {
        rcgc__head *l = list_at(heap, i);
        uint32_t end = HD(m, l);
        for (uint32_t x = l->next_; x != end;) {
            rcgc__head *h = H(m, x);
            x = h->next_;
            referrer_ctx r = {obj, false};
            TYPE(heap, h)->traverse(h + 1, visit_find, &r);
            if (r.found) {
                int rv = fn(h + 1, arg);
                if (rv)
                    return rv;
            }
        }
    }
    return 0;
}

int rcgc_gc_get_referents(const void *obj, int (*fn)(void *, void *), void *arg)
{
    rcgc_heap *heap = rcgc__mem_heap_of(obj);
    const rcgc_type *t = heap->types[rcgc__head_of(obj)->type_];
    if (!t->traverse)
        return 0;
    return t->traverse((void *)obj, fn, arg);
}

static void set_frozen_flags(rcgc_heap *heap, rcgc__head *l, bool on)
{
    struct rcgc__mem *m = MEM(heap);
    uint32_t end = HD(m, l);
    for (uint32_t x = l->next_; x != end; x = H(m, x)->next_) {
        rcgc__head *h = H(m, x);
        h->flags_ = on ? (uint16_t)(h->flags_ | RCGC__F_FROZEN)
                       : (uint16_t)(h->flags_ & ~RCGC__F_FROZEN);
    }
}

void rcgc_gc_freeze(rcgc_heap *heap)
{
    rcgc__gc_state *gc = &heap->gc;
    if (gc->collecting)
        return;
    /* The flag lets incremental increments skip frozen objects; it is
    ** written once, here, before the fork. */
    for (int i = 0; i < LIST_FROZEN; i++) {
        set_frozen_flags(heap, list_at(heap, i), true);
        list_merge(MEM(heap), list_at(heap, i), &gc->frozen.head);
    }
    for (int g = 0; g < RCGC_GC_GENERATIONS; g++)
        gc->gens[g].counter = 0;
}

void rcgc_gc_unfreeze(rcgc_heap *heap)
{
    rcgc__gc_state *gc = &heap->gc;
    if (gc->collecting)
        return;
    set_frozen_flags(heap, &gc->frozen.head, false);
    list_merge(MEM(heap), &gc->frozen.head, &gc->gens[RCGC_GC_GENERATIONS - 1].head);
}

void rcgc_gc_set_mode(rcgc_heap *heap, rcgc_gc_mode mode, uint64_t pause_budget_ns)
{
    rcgc__gc_state *gc = &heap->gc;
    if (mode != RCGC_GC_INCREMENTAL)
        mode = RCGC_GC_GENERATIONAL;
    if (mode == RCGC_GC_GENERATIONAL && !gc->collecting)
        list_merge(MEM(heap), &gc->visited, &gc->gens[RCGC_GC_GENERATIONS - 1].head);
    gc->mode = mode;
    if (pause_budget_ns)
        gc->pause_budget_ns = pause_budget_ns;
}

rcgc_gc_mode rcgc_gc_get_mode(rcgc_heap *heap, uint64_t *pause_budget_ns)
{
    if (pause_budget_ns)
        *pause_budget_ns = heap->gc.pause_budget_ns;
    return heap->gc.mode;
}

void rcgc_gc_get_pauses(rcgc_heap *heap, rcgc_gc_pauses *out)
{
    out->steps = heap->gc.auto_steps;
    out->total_ns = heap->gc.auto_total_ns;
    out->max_ns = heap->gc.auto_max_pause_ns;
}

size_t rcgc_gc_get_freeze_count(rcgc_heap *heap)
{
    return list_size(MEM(heap), &heap->gc.frozen.head);
}

void rcgc_gc_set_debug(rcgc_heap *heap, unsigned flags) { heap->gc.debug = flags; }
unsigned rcgc_gc_get_debug(rcgc_heap *heap) { return heap->gc.debug; }

/* ------------------------------------------------------------------ */
/* Teardown and checks                                                */
/* ------------------------------------------------------------------ */

void rcgc__gc_fini(rcgc_heap *heap)
{
    rcgc__gc_state *gc = &heap->gc;
    gc->enabled = false;
    rcgc__gc_update_limits(heap);
    /* The garbage list's references are the heap's own: drop them without
    ** running user code against a heap being destroyed. */
    gc->ngarbage = 0;
    gc->ncallbacks = 0;
}

void rcgc__gc_report_live(rcgc_heap *heap)
{
    struct rcgc__mem *m = MEM(heap);
    size_t tracked = 0, shown = 0;
    for (int i = 0; i < NLISTS; i++) {
        rcgc__head *l = list_at(heap, i);
        uint32_t end = HD(m, l);
        for (uint32_t x = l->next_; x != end; x = H(m, x)->next_) {
            rcgc__head *h = H(m, x);
            tracked++;
            if (shown < 100) {
                rcgc_heap_printf(heap, "  <%s %p> refcount %lu\n", type_name(heap, h),
                                 (void *)(h + 1), (unsigned long)h->refcnt_);
                shown++;
            }
        }
    }
    if (tracked > shown)
        rcgc_heap_printf(heap, "  ... and %zu more tracked object(s)\n", tracked - shown);
    size_t untracked = heap->live_objects - heap->immortal_objects - tracked;
    if (heap->live_objects - heap->immortal_objects > tracked)
        rcgc_heap_printf(heap, "  %zu untracked object(s)\n", untracked);
}

static size_t check_list(rcgc_heap *heap, rcgc__head *l, const char *name, size_t *total)
{
    struct rcgc__mem *m = MEM(heap);
    size_t bad = 0, steps = 0, limit = heap->live_objects + 1;
    uint32_t end = HD(m, l), prev = end;
    for (uint32_t x = l->next_; x != end; x = H(m, x)->next_) {
        if (++steps > limit) {
            rcgc_heap_printf(heap, "rcgc_heap_check: list %s is longer than the number "
                                   "of live objects (cycle?)\n", name);
            return bad + 1;
        }
        rcgc__head *h = H(m, x);
        if (!rcgc__mem_is_obj_block(m, h)) {
            rcgc_heap_printf(heap, "rcgc_heap_check: list %s holds %p, not a live object\n",
                             name, (void *)(h + 1));
            return bad + 1;
        }
        if (h->prev_ != prev) {
            rcgc_heap_printf(heap, "rcgc_heap_check: list %s: bad prev link at %p\n", name,
                             (void *)(h + 1));
            bad++;
        }
        if (h->type_ == 0 || h->type_ >= heap->ntypes || !heap->types[h->type_]->traverse) {
            rcgc_heap_printf(heap, "rcgc_heap_check: list %s: %p has a bad type id %u\n",
                             name, (void *)(h + 1), h->type_);
            bad++;
        } else if (h->refcnt_ == 0 ||
                   (h->refcnt_ >= RCGC_IMMORTAL_MIN && h->refcnt_ != RCGC_IMMORTAL_MIN)) {
            /* A mortal count saturates at RCGC_IMMORTAL_MIN and stays tracked
            ** until the next collection untracks it; any other immortal
            ** count on a list is an error (set_immortal untracks). */
            rcgc_heap_printf(heap, "rcgc_heap_check: list %s: <%s %p> tracked with "
                                   "refcount %lu\n", name, type_name(heap, h),
                             (void *)(h + 1), (unsigned long)h->refcnt_);
            bad++;
        }
        if (!(h->flags_ & RCGC__F_FROZEN) != (l != &heap->gc.frozen.head)) {
            rcgc_heap_printf(heap, "rcgc_heap_check: list %s: <%p> frozen flag does not "
                                   "match its list\n", name, (void *)(h + 1));
            bad++;
        }
        if (!heap->gc.collecting && (h->flags_ & COLLECTION_FLAGS)) {
            rcgc_heap_printf(heap, "rcgc_heap_check: <%p> carries collection flags "
                                   "outside a collection\n", (void *)(h + 1));
            bad++;
        }
        prev = x;
        (*total)++;
    }
    if (l->prev_ != prev) {
        rcgc_heap_printf(heap, "rcgc_heap_check: list %s: sentinel prev is not the tail\n",
                         name);
        bad++;
    }
    return bad;
}

size_t rcgc__gc_check(rcgc_heap *heap)
{
    size_t bad = 0, total = 0;
    for (int i = 0; i < NLISTS; i++)
        bad += check_list(heap, list_at(heap, i), list_name(i), &total);
    if (total > heap->live_objects) {
        rcgc_heap_printf(heap, "rcgc_heap_check: %zu tracked objects but %zu live\n", total,
                         heap->live_objects);
        bad++;
    }
    if (heap->gc.ngarbage > heap->gc.capgarbage || heap->dealloc.later != 0 ||
        (!heap->gc.collecting && heap->dealloc.depth != 0)) {
        rcgc_heap_printf(heap, "rcgc_heap_check: bad garbage list or dealloc state\n");
        bad++;
    }
    return bad;
}
