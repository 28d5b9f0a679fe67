/*
** heap.h -- struct rcgc_heap: the one place all of a heap's state hangs off.
** Each layer owns its own member (mem, gc, ...); heap.c owns the rest
** (config hooks, the type table, panic/output helpers).
*/
#ifndef RCGC_HEAP_H
#define RCGC_HEAP_H

#include "mem.h"
#include "object.h"

/* A generation list: a sentinel node linked by handles. */
/* List sentinels get handles like objects, so they must be 16-byte aligned
** (a handle counts 16-byte units); _Alignas keeps that true whatever
** fields come before them. */
typedef struct rcgc__gen {
    _Alignas(16) rcgc__head head; /* sentinel; never an object */
    unsigned threshold;
    size_t counter;      /* CPython's generation count: gen 0 = net new
                            tracked objects, gen g>0 = collections of g-1 */
} rcgc__gen;

typedef struct rcgc__gc_cb {
    rcgc_gc_callback fn;
    void *ctx;
} rcgc__gc_cb;

/*
** Collector state. Invariants (checked by rcgc__gc_check):
**  - every tracked object is on exactly one of gens[0..2] or 'frozen', and
**    the lists are well formed (prev_ of each node names its predecessor);
**  - between collections no object carries RCGC__F_COLLECTING or
**    RCGC__F_UNREACHABLE, and 'collecting' is false;
**  - an untracked object has next_ == 0 (prev_ unspecified).
*/
typedef struct rcgc__gc_state {
    rcgc__gen gens[RCGC_GC_GENERATIONS];
    rcgc__gen frozen;          /* permanent generation (freeze) */
    /* Working lists of one collection (sentinels need handles, so they
    ** live here rather than on the C stack); empty between collections. */
    _Alignas(16) rcgc__head unreachable;
    _Alignas(16) rcgc__head finalizers;
    _Alignas(16) rcgc__head still;
    _Alignas(16) rcgc__head seen;
    /* Incremental mode: generation 2 is split into the objects not yet
    ** scanned this round (gens[2]) and those already scanned (visited). */
    _Alignas(16) rcgc__head visited;
    _Alignas(16) rcgc__head inc_set;
    rcgc_gc_mode mode;
    uint64_t pause_budget_ns;
    double inc_ns_per_obj;     /* measured cost of increments, per object */
    size_t inc_debt;           /* old objects owed a scan (pacing) */
    uint64_t inc_rounds;
    uint64_t inc_deferred;     /* steps whose increment waited (no budget left) */
    unsigned inc_deferred_run; /* consecutive ones: at 4 the smallest runs anyway */
    /* Automatic collection steps (young collection + increment). */
    uint64_t auto_steps, auto_total_ns, auto_max_pause_ns;
    size_t long_lived_total;   /* objects in gen 2 after the last full gc */
    size_t long_lived_pending; /* promoted into gen 2 since then */
    size_t bytes_since;        /* bytes of new objects since last gc */
    size_t bytes_threshold;
    /* Effective trigger limits for the inline fast path: threshold 0 or
    ** automatic collection disabled make them SIZE_MAX. */
    size_t count_limit, bytes_limit;
    size_t bytes_after_full;   /* live bytes after the last full gc */
    bool enabled;
    bool collecting;
    bool pending;              /* a collection is due (safepoint trigger) */
    rcgc_gc_trigger trigger;
    unsigned debug;
    rcgc_gc_stats stats[RCGC_GC_GENERATIONS];
    rcgc__gc_cb *callbacks;    /* raw-allocated vector */
    size_t ncallbacks, capcallbacks;
    void **garbage;            /* strong references */
    size_t ngarbage, capgarbage;
} rcgc__gc_state;

/* Deferred deallocation (the trashcan): objects whose dealloc would nest
** deeper than RCGC__DEALLOC_DEPTH are chained through their header's next_
** handle and freed when the outermost dealloc unwinds. */
#define RCGC__DEALLOC_DEPTH 48
typedef struct rcgc__dealloc_state {
    unsigned depth;
    uint32_t later;            /* handle of the first deferred object, 0 = none */
} rcgc__dealloc_state;

#define RCGC__TYPE_CACHE 16u
static inline unsigned rcgc__type_slot(const rcgc_type *type)
{
    return (unsigned)(((uint64_t)(uintptr_t)type * 0x9E3779B97F4A7C15ull) >> 60);
}

struct rcgc_heap {
    struct rcgc__mem mem;      /* MUST be first: see rcgc__mem_bootstrap */
    void (*panic)(void *ctx, const char *msg);
    void (*output)(void *ctx, const char *text);
    void *hook_ctx;
    bool leak_report;
    bool freeing;              /* inside rcgc_heap_free */
    /* Type table: object headers store a 16-bit index into it. */
    const rcgc_type **types;   /* raw-allocated; types[0] is unused */
    uint32_t ntypes, captypes;
    /* Type lookup cache, direct-mapped on the type's address: programs
    ** alternate between a few types, which a one-entry cache misses. */
    struct rcgc__type_cache {
        const rcgc_type *type;
        uint16_t id;
    } type_cache[RCGC__TYPE_CACHE];
    /* Some type in the table has a finalize callback / is uncollectable in a
    ** cycle: without either, the collector skips the phases that need them. */
    bool any_finalize, any_uncollectable;
    rcgc_type **owned_types;   /* rcgc_type_register copies (raw blocks) */
    size_t nowned, capowned;
    size_t live_objects;       /* all objects, tracked or not */
    size_t immortal_objects;   /* made immortal by rcgc_set_immortal */
    rcgc__dealloc_state dealloc;
    rcgc__gc_state gc;
    void *weak;                /* weakref.c state (NULL until first use) */
    void *trace;               /* trace.c state (NULL when not tracing) */
};

/* Report a contract violation and stop (never returns). */
#if defined(__GNUC__)
__attribute__((noreturn, format(printf, 2, 3)))
#endif
void rcgc__panic(rcgc_heap *heap, const char *fmt, ...);
/* Panic about an object: names its address, type and refcount. */
#if defined(__GNUC__)
__attribute__((noreturn, format(printf, 3, 4)))
#endif
void rcgc__panic_obj(rcgc_heap *heap, const void *obj, const char *fmt, ...);

/* The type table. */
uint16_t rcgc__type_id_slow(rcgc_heap *heap, const rcgc_type *type); /* 0: ENOMEM */
static inline uint16_t rcgc__type_id(rcgc_heap *heap, const rcgc_type *type)
{
    const struct rcgc__type_cache *c = &heap->type_cache[rcgc__type_slot(type)];
    return c->type == type ? c->id : rcgc__type_id_slow(heap, type);
}
static inline const rcgc_type *rcgc__type_at(const rcgc_heap *heap, uint16_t id)
{
    return heap->types[id];
}

#endif
