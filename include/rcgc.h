/*
** rcgc.h -- reference counting, a generational cycle collector, a small-object
** allocator, weak references and allocation tracing for C programs.
**
** Everything hangs off an explicit 'rcgc_heap *'. A heap is used by one thread
** at a time; different heaps are independent and may run in parallel threads.
** The library has no writable global state and never prints on its own: text
** goes through the heap's output hook, contract violations through its panic
** hook. See docs/guide.md for a tour and docs/design.md for the internals.
*/
#ifndef RCGC_H
#define RCGC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with hidden visibility; everything declared in the
** public headers is exported. */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

#define RCGC_VERSION_MAJOR 0
#define RCGC_VERSION_MINOR 1
#define RCGC_VERSION_PATCH 0

/* ===================================================================== */
/* Status codes                                                          */
/* ===================================================================== */

/* X(name, value, message). Zero is success; every other value is an error. */
#define RCGC_STATUS_LIST(X)                                                   \
    X(RCGC_OK, 0, "success")                                                  \
    X(RCGC_ENOMEM, 1, "out of memory")                                        \
    X(RCGC_EINVAL, 2, "invalid argument")                                     \
    X(RCGC_EBUSY, 3, "a collection is already running")                       \
    X(RCGC_ESTATE, 4, "operation not allowed in the current state")           \
    X(RCGC_ECORRUPT, 5, "heap invariant violated")                            \
    X(RCGC_EFORMAT, 6, "malformed or unsupported input")                      \
    X(RCGC_EIO, 7, "input/output error")                                      \
    X(RCGC_ENOTFOUND, 8, "not found")

typedef enum rcgc_status {
#define RCGC__ENUM(name, value, msg) name = value,
    RCGC_STATUS_LIST(RCGC__ENUM)
#undef RCGC__ENUM
} rcgc_status;

/* A static string describing 'status' (never NULL). */
const char *rcgc_strerror(rcgc_status status);

/* ===================================================================== */
/* Types and the object header                                           */
/* ===================================================================== */

typedef struct rcgc_heap rcgc_heap;

/* Called by traverse for every strong reference an object owns. Returns 0
** to continue; a non-zero value must be returned by traverse at once. */
typedef int (*rcgc_visit_fn)(void *obj, void *arg);

/* Type flags. */
enum {
    /* Objects of this type must not be collected while in a garbage cycle:
    ** such cycles go to the garbage list as uncollectable (CPython's legacy
    ** tp_del finalizers). */
    RCGC_TYPE_UNCOLLECTABLE_IN_CYCLE = 1u << 0,
    /* Objects of this type may be the referent of weak references. */
    RCGC_TYPE_WEAKREFABLE = 1u << 1
};

/*
** A type is a plain struct the user defines, usually 'static const'. It must
** outlive every object of that type. The instance size is 'size' bytes plus
** 'itemsize' bytes per item for rcgc_new_var(). Memory is zero-filled.
**
**   traverse  visit every strong reference the object owns. A type without
**             traverse is never tracked by the collector ("atomic").
**   clear     drop the object's strong references (set the fields to NULL,
**             then unref; RCGC_CLEAR does both). Called to break garbage
**             cycles and when the object dies; after it returns the object
**             must hold no references but stay valid for traverse.
**   finalize  runs at most once per object, before it dies (by refcount or in
**             a garbage cycle); it may resurrect the object by storing a new
**             reference. A non-zero return reports an error through the
**             output hook; it does not stop the object's death.
**   release   frees non-heap resources (file handles, foreign memory) just
**             before the object's memory is returned. Must not touch other
**             rcgc objects.
*/
typedef struct rcgc_type {
    const char *name;
    size_t size;
    size_t itemsize;
    unsigned flags;
    int (*traverse)(void *obj, rcgc_visit_fn visit, void *arg);
    void (*clear)(void *obj);
    int (*finalize)(void *obj);
    void (*release)(void *obj);
} rcgc_type;

/*
** Private: the 16-byte header in front of every object. Exposed only so
** that rcgc_ref/rcgc_unref can be inline; do not touch its fields.
** 'next_'/'prev_' are 32-bit handles (offsets from the heap's region base in
** 16-byte units) linking tracked objects into their generation list.
*/
typedef struct rcgc__head {
    uint32_t next_;
    uint32_t prev_;
    uint32_t refcnt_;
    uint16_t type_;
    uint16_t flags_;
} rcgc__head;

/* Reference counts at or above this value are immortal: ref/unref do
** nothing. A mortal count that reaches it by increments saturates there. */
#define RCGC_IMMORTAL_MIN 0x80000000u
/* The count an object made immortal with rcgc_set_immortal() reads. */
#define RCGC_IMMORTAL_REFCNT 0xFFFFFFFFu

/* Slow paths of the inline operations below. */
void rcgc__unref_slow(void *obj);

/* Integer arithmetic, so that compilers' array-bounds analysis does not
** mistake the header for an out-of-bounds access of the object. */
#define RCGC__HEAD(obj) ((rcgc__head *)((uintptr_t)(obj) - sizeof(rcgc__head)))

/* Take a new strong reference; returns obj (like Py_NewRef). obj != NULL. */
static inline void *rcgc_ref(void *obj)
{
    rcgc__head *h = RCGC__HEAD(obj);
    if (h->refcnt_ < RCGC_IMMORTAL_MIN)
        h->refcnt_++;
    return obj;
}

/* Drop a strong reference; at zero the object dies at once (finalize, weak
** references, clear, release, free). obj != NULL. Dropping a reference the
** object does not have goes to the panic hook. */
static inline void rcgc_unref(void *obj)
{
    rcgc__head *h = RCGC__HEAD(obj);
    uint32_t rc = h->refcnt_;
    if (rc - 2u < RCGC_IMMORTAL_MIN - 2u)
        h->refcnt_ = rc - 1u;
    else
        rcgc__unref_slow(obj);
}

/* NULL-safe forms. */
static inline void *rcgc_xref(void *obj) { return obj ? rcgc_ref(obj) : obj; }
static inline void rcgc_xunref(void *obj)
{
    if (obj)
        rcgc_unref(obj);
}

/* Py_CLEAR: set the variable to NULL, then drop the reference it held. */
#define RCGC_CLEAR(var)                                                       \
    do {                                                                      \
        void *rcgc__tmp = (void *)(var);                                      \
        if (rcgc__tmp) {                                                      \
            (var) = NULL;                                                     \
            rcgc_unref(rcgc__tmp);                                            \
        }                                                                     \
    } while (0)

/* Py_SETREF / Py_XSETREF: store the new value (whose reference is stolen),
** then drop the reference the variable held before. */
#define RCGC_SETREF(var, value)                                               \
    do {                                                                      \
        void *rcgc__old = (void *)(var);                                      \
        (var) = (value);                                                      \
        rcgc_unref(rcgc__old);                                                \
    } while (0)
#define RCGC_XSETREF(var, value)                                              \
    do {                                                                      \
        void *rcgc__old = (void *)(var);                                      \
        (var) = (value);                                                      \
        rcgc_xunref(rcgc__old);                                               \
    } while (0)

/* Py_VISIT: inside traverse, visit a field if it is not NULL. */
#define RCGC_VISIT(field)                                                     \
    do {                                                                      \
        if (field) {                                                          \
            int rcgc__vr = visit((void *)(field), arg);                       \
            if (rcgc__vr)                                                     \
                return rcgc__vr;                                              \
        }                                                                     \
    } while (0)

/* ===================================================================== */
/* Heap configuration and lifecycle                                      */
/* ===================================================================== */

/* Where automatic collections run (see docs/design.md, "Scheduling"). */
typedef enum rcgc_gc_trigger {
    /* Inside rcgc_new(), before the new object exists (CPython <= 3.11).
    ** Finalizers may then run inside any allocating call. */
    RCGC_TRIGGER_ALLOC = 0,
    /* rcgc_new() only marks a collection as due; it runs at the next
    ** rcgc_gc_safepoint() call (CPython >= 3.12's eval-breaker). */
    RCGC_TRIGGER_SAFEPOINT = 1
} rcgc_gc_trigger;

/* Collection policy (rcgc_gc_set_mode). */
typedef enum rcgc_gc_mode {
    RCGC_GC_GENERATIONAL = 0,
    RCGC_GC_INCREMENTAL = 1
} rcgc_gc_mode;

/* Page source: the heap reserves one contiguous address range for its
** objects and arenas, and commits/decommits pages inside it. */
typedef struct rcgc_page_hooks {
    void *ctx;
    /* Reserve 'bytes' of address space aligned to 'align' (no access); NULL
    ** on failure. */
    void *(*reserve)(void *ctx, size_t bytes, size_t align);
    /* Make [addr, addr+bytes) readable and writable (zero-filled on first
    ** use); 0 on success. */
    int (*commit)(void *ctx, void *addr, size_t bytes);
    /* Return [addr, addr+bytes) to the OS; it reads as zero if committed
    ** again. */
    void (*decommit)(void *ctx, void *addr, size_t bytes);
    /* Give back a whole reservation. */
    void (*release)(void *ctx, void *addr, size_t bytes);
} rcgc_page_hooks;

/* Large-block allocator: raw blocks above the small-request threshold. */
typedef struct rcgc_large_hooks {
    void *ctx;
    void *(*malloc)(void *ctx, size_t bytes);
    void *(*realloc)(void *ctx, void *ptr, size_t bytes);
    void (*free)(void *ctx, void *ptr);
} rcgc_large_hooks;

/* Allocator debug mode flags (rcgc_config.mem_debug). */
enum {
    RCGC_MEM_DEBUG = 1u << 0 /* guards, fill patterns, API ids, checks */
};

typedef struct rcgc_config {
    size_t struct_size;        /* sizeof(rcgc_config); set by config_init */
    /* Contract violations. Must not return; if it does, rcgc aborts. Default:
    ** write the message to stderr and abort(). */
    void (*panic)(void *ctx, const char *message);
    /* All text the library produces (logs, reports). Default: stderr. */
    void (*output)(void *ctx, const char *text);
    void *hook_ctx;            /* passed to panic and output */
    rcgc_page_hooks pages;     /* default: mmap/mprotect/madvise */
    rcgc_large_hooks large;    /* default: malloc/realloc/free */
    size_t region_bytes;       /* address space to reserve; default 64 GiB,
                                  at most 64 GiB (32-bit handles x 16 B) */
    unsigned mem_debug;        /* RCGC_MEM_DEBUG; default 0 */
    unsigned gc_threshold[3];  /* default 2000, 10, 10 (CPython 3.13) */
    bool gc_enabled;           /* automatic collection; default true */
    rcgc_gc_trigger gc_trigger;/* default RCGC_TRIGGER_ALLOC */
    size_t gc_bytes_threshold; /* bytes allocated in new objects that also
                                  trigger a young collection; 0 = off;
                                  default 8 MiB */
    rcgc_gc_mode gc_mode;      /* default RCGC_GC_GENERATIONAL */
    uint64_t gc_pause_budget_ns; /* incremental mode; default 1 ms */
    bool leak_report;          /* report live objects at rcgc_heap_free();
                                  default true in debug builds (NDEBUG
                                  unset), false otherwise */
} rcgc_config;

/* Fill 'cfg' with the defaults above. */
void rcgc_config_init(rcgc_config *cfg);

/* Create a heap; NULL on failure (cfg NULL = defaults). */
rcgc_heap *rcgc_heap_new(const rcgc_config *cfg);

/* Free the heap and everything in it, whether or not the user released it.
** Runs pending finalize callbacks (weakref finalize) first; reports live
** objects through the output hook when leak_report is set. */
void rcgc_heap_free(rcgc_heap *heap);

/* Walk every list and counter and verify every documented invariant.
** RCGC_OK, or RCGC_ECORRUPT after writing what is wrong to the output hook. */
rcgc_status rcgc_heap_check(rcgc_heap *heap);

/* Write text through the heap's output hook (printf-style). */
void rcgc_heap_printf(rcgc_heap *heap, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* The heap an object belongs to. */
rcgc_heap *rcgc_heap_of(const void *obj);

/* Live objects in the heap (tracked or not), and how many of them are
** immortal (rcgc_set_immortal). */
size_t rcgc_heap_live_objects(rcgc_heap *heap);
size_t rcgc_heap_immortal_objects(rcgc_heap *heap);

/* Report a contract violation through the heap's panic hook, as the library
** does: the message names 'obj' (its address, type and refcount) when obj
** is not NULL. Never returns. For layers built on rcgc (containers,
** interpreters) that want the same failure policy. */
#if defined(__GNUC__)
__attribute__((noreturn, format(printf, 3, 4)))
#endif
void rcgc_heap_panic(rcgc_heap *heap, const void *obj, const char *fmt, ...);

/* ===================================================================== */
/* Objects                                                               */
/* ===================================================================== */

/* New object with refcount 1, zero-filled, tracked if the type has traverse.
** NULL when out of memory. May run an automatic collection first
** (RCGC_TRIGGER_ALLOC). */
void *rcgc_new(rcgc_heap *heap, const rcgc_type *type);
void *rcgc_new_var(rcgc_heap *heap, const rcgc_type *type, size_t nitems);

/* Current reference count (RCGC_IMMORTAL_REFCNT or >= RCGC_IMMORTAL_MIN for
** immortal objects). */
static inline uint32_t rcgc_refcount(const void *obj)
{
    return RCGC__HEAD(obj)->refcnt_;
}

const rcgc_type *rcgc_type_of(const void *obj);

/* A heap-owned copy of 'tmpl' that lives until the heap is freed; the same
** template (field for field) gives the same copy. For libraries that build
** their types at run time rather than as static structs (a static struct of
** pointers is relocated data). NULL when out of memory. */
const rcgc_type *rcgc_type_register(rcgc_heap *heap, const rcgc_type *tmpl);

/* Make an object immortal: ref/unref never free it; it lives until the heap
** is freed. The collector no longer scans it (it is untracked). */
void rcgc_set_immortal(void *obj);
bool rcgc_is_immortal(const void *obj);

/* Explicit tracking: objects are tracked at creation when their type has
** traverse. Untrack before invalidating fields traverse reads; track again
** once they are valid. Tracking a tracked object panics; untracking an
** untracked one does nothing. */
void rcgc_track(void *obj);
void rcgc_untrack(void *obj);
bool rcgc_is_tracked(const void *obj);
/* True once the object's finalize has run (PEP 442's FINALIZED bit). */
bool rcgc_is_finalized(const void *obj);

/* Usable bytes of the object's instance (>= the requested size). */
size_t rcgc_object_size(const void *obj);

/* ===================================================================== */
/* The cycle collector (Python's gc module)                              */
/* ===================================================================== */

#define RCGC_GC_GENERATIONS 3

/* Collect 'generation' (0..2) and all younger ones. Returns collected +
** uncollectable objects (tracked objects found unreachable), 0 when a
** collection is already running, or -RCGC_EINVAL for a bad generation,
** -RCGC_ENOMEM if the collector could not get working memory. Explicit
** collections run even when automatic collection is disabled. */
long long rcgc_gc_collect(rcgc_heap *heap, int generation);

/* Run a collection if automatic collection is enabled and one is due (the
** safe point of RCGC_TRIGGER_SAFEPOINT); returns what collect returned, or 0. */
long long rcgc_gc_safepoint(rcgc_heap *heap);

/* Automatic collection on/off; enable/disable return the previous state. */
bool rcgc_gc_enable(rcgc_heap *heap);
bool rcgc_gc_disable(rcgc_heap *heap);
bool rcgc_gc_is_enabled(rcgc_heap *heap);

/* Thresholds: t0 = net new tracked objects before a generation-0 collection
** (0 disables automatic collection), t1 = generation-0 collections before
** generation 1, t2 = generation-1 collections before generation 2 is
** considered (plus the 25% rule). */
void rcgc_gc_set_threshold(rcgc_heap *heap, unsigned t0, unsigned t1, unsigned t2);
void rcgc_gc_get_threshold(rcgc_heap *heap, unsigned out[3]);
/* Bytes allocated in new objects since the last collection that trigger a
** young collection (0 = off). */
void rcgc_gc_set_bytes_threshold(rcgc_heap *heap, size_t bytes);

/* count0 = net new tracked objects since the last generation-0 collection;
** count1 = generation-0 collections since the last generation-1 one;
** count2 = generation-1 collections since the last full one. */
void rcgc_gc_get_count(rcgc_heap *heap, size_t out[3]);

typedef struct rcgc_gc_stats {
    uint64_t collections;   /* collections of this generation */
    uint64_t collected;     /* objects freed */
    uint64_t uncollectable; /* objects moved to the garbage list */
    uint64_t candidates;    /* objects examined */
    uint64_t duration_ns;   /* total time */
    uint64_t max_pause_ns;  /* longest single collection */
} rcgc_gc_stats;
void rcgc_gc_get_stats(rcgc_heap *heap, int generation, rcgc_gc_stats *out);

/* Number of tracked objects in a generation (0..2), or in all of them (-1);
** frozen objects are counted only by rcgc_gc_get_freeze_count(). */
size_t rcgc_gc_generation_size(rcgc_heap *heap, int generation);

/* Call fn for every tracked object of a generation (-1: all generations;
** RCGC_GC_FROZEN: the frozen set). Stops early when fn returns non-zero and
** returns that value. fn must not create or free objects. */
#define RCGC_GC_FROZEN 3
int rcgc_gc_visit_objects(rcgc_heap *heap, int generation,
                          int (*fn)(void *obj, void *arg), void *arg);

/* Call fn for every tracked object whose traverse visits 'obj'. */
int rcgc_gc_get_referrers(rcgc_heap *heap, const void *obj,
                          int (*fn)(void *referrer, void *arg), void *arg);
/* Call fn for every object obj's traverse visits. */
int rcgc_gc_get_referents(const void *obj, int (*fn)(void *referent, void *arg),
                          void *arg);

/* Freeze moves every tracked object to a permanent generation that is never
** scanned (before fork); unfreeze puts them back into the oldest one. */
void rcgc_gc_freeze(rcgc_heap *heap);
void rcgc_gc_unfreeze(rcgc_heap *heap);
size_t rcgc_gc_get_freeze_count(rcgc_heap *heap);

/* Callbacks around every collection (Python's gc.callbacks). */
typedef enum rcgc_gc_phase { RCGC_GC_START = 0, RCGC_GC_STOP = 1 } rcgc_gc_phase;
typedef struct rcgc_gc_info {
    int generation;
    size_t collected;     /* 0 in START */
    size_t uncollectable; /* 0 in START */
    size_t candidates;    /* 0 in START */
    uint64_t duration_ns; /* 0 in START */
    bool increment;       /* an incremental-mode step over part of generation
                             2, not a full collection */
} rcgc_gc_info;
/* Non-zero return = error: reported through the output hook; the other
** callbacks still run. */
typedef int (*rcgc_gc_callback)(rcgc_heap *heap, rcgc_gc_phase phase,
                                const rcgc_gc_info *info, void *ctx);
rcgc_status rcgc_gc_callback_add(rcgc_heap *heap, rcgc_gc_callback fn, void *ctx);
rcgc_status rcgc_gc_callback_remove(rcgc_heap *heap, rcgc_gc_callback fn, void *ctx);

/* The garbage list (Python's gc.garbage): uncollectable objects, and with
** RCGC_GC_DEBUG_SAVEALL every unreachable object. The heap holds a strong
** reference to each entry. */
size_t rcgc_gc_garbage_count(rcgc_heap *heap);
void *rcgc_gc_garbage_get(rcgc_heap *heap, size_t index); /* borrowed */
void rcgc_gc_garbage_clear(rcgc_heap *heap);

/* Debug flags, with CPython's values and log lines. */
enum {
    RCGC_GC_DEBUG_STATS = 1,
    RCGC_GC_DEBUG_COLLECTABLE = 2,
    RCGC_GC_DEBUG_UNCOLLECTABLE = 4,
    RCGC_GC_DEBUG_SAVEALL = 32,
    RCGC_GC_DEBUG_LEAK = 2 | 4 | 32
};
void rcgc_gc_set_debug(rcgc_heap *heap, unsigned flags);
unsigned rcgc_gc_get_debug(rcgc_heap *heap);

/* True while a collection is running on this heap. */
bool rcgc_gc_is_collecting(rcgc_heap *heap);

/* Collection policy. GENERATIONAL is CPython's (the default). In
** INCREMENTAL mode automatic collections never scan the whole old
** generation at once: each is a young collection plus one increment of the
** old generation, sized to fit 'pause_budget_ns' (docs/design.md).
** Explicit rcgc_gc_collect(heap, 2) is still a full collection. */
void rcgc_gc_set_mode(rcgc_heap *heap, rcgc_gc_mode mode, uint64_t pause_budget_ns);
rcgc_gc_mode rcgc_gc_get_mode(rcgc_heap *heap, uint64_t *pause_budget_ns);

/* Automatic collection steps: how many, their total and longest time. */
typedef struct rcgc_gc_pauses {
    uint64_t steps;
    uint64_t total_ns;
    uint64_t max_ns;
} rcgc_gc_pauses;
void rcgc_gc_get_pauses(rcgc_heap *heap, rcgc_gc_pauses *out);

/* ===================================================================== */
/* Raw memory bound to a heap                                            */
/* ===================================================================== */

/* Non-object memory from the heap's allocator: counted, traced, freed with
** the heap. malloc(0) returns a unique non-NULL pointer; calloc checks the
** multiplication; realloc keeps a block in place when the new size still
** fits its size class and uses more than 3/4 of it; free(NULL) does nothing.
** A pointer that is not a live block of this heap goes to the panic hook. */
void *rcgc_malloc(rcgc_heap *heap, size_t bytes);
void *rcgc_calloc(rcgc_heap *heap, size_t count, size_t size);
void *rcgc_realloc(rcgc_heap *heap, void *ptr, size_t bytes);
void rcgc_free(rcgc_heap *heap, void *ptr);
size_t rcgc_usable_size(rcgc_heap *heap, const void *ptr);
/* True if ptr is a live raw block or object of this heap (exact). */
bool rcgc_owns(rcgc_heap *heap, const void *ptr);

/* Fault injection: allocations number 'first'..'last' (1-based, counted
** from this call; last = 0 means "and every later one") fail. */
void rcgc_fault_set(rcgc_heap *heap, uint64_t first, uint64_t last);
void rcgc_fault_clear(rcgc_heap *heap);
/* Allocations attempted since rcgc_fault_set (or heap creation). */
uint64_t rcgc_fault_allocations(rcgc_heap *heap);
/* Bytes handed out by allocations since the heap was created: block sizes
** of objects and raw blocks (a realloc that moves or grows counts its new
** size). O(1); the difference around a piece of code is what it allocated. */
uint64_t rcgc_allocated_bytes(const rcgc_heap *heap);

/* ===================================================================== */
/* The allocator: default hooks, debug helpers, statistics               */
/* ===================================================================== */

/* The default page hooks (mmap PROT_NONE + MAP_NORESERVE reservation,
** mprotect commit, MAP_FIXED decommit, munmap release) and large hooks
** (malloc/realloc/free). A hook that wraps the defaults copies them here
** first and forwards to the copy (PEP 445's "get, wrap, set"). A config
** whose pages.reserve (large.malloc) is NULL uses these. */
void rcgc_page_hooks_default(rcgc_page_hooks *out);
void rcgc_large_hooks_default(rcgc_large_hooks *out);

/* Give every free page of the heap back to the OS now: empty arenas
** (including the ones kept to avoid thrashing) and free segments of arenas
** in use (malloc_trim / mi_collect). Later allocations commit again. */
void rcgc_mem_trim(rcgc_heap *heap);

/* CPython's _PyMem_IsPtrFreed: true for NULL and for a pointer whose every
** byte is a debug fill pattern (0xCD new, 0xDD freed, 0xFD guard), i.e. a
** pointer read out of uninitialised or freed debug memory. */
bool rcgc_ptr_is_freed(const void *p);

/*
** Allocator statistics, declared once: X(name, description). The struct,
** the text printer and the JSON writer all expand this list, so they never
** drift. Every field is a uint64_t; "bytes" fields are bytes. The struct
** starts with struct_size and version so callers built against an older
** header keep working (rcgc_mem_stats_get fills min(struct_size, ours)).
*/
#define RCGC_MEM_STATS_VERSION 2
#define RCGC_MEM_STATS_FIELDS(X)                                              \
    X(live_bytes, "bytes in live blocks (objects and raw, block sizes)")      \
    X(live_blocks, "live blocks (objects and raw)")                           \
    X(small_bytes, "bytes in live pool blocks (<= 512 B)")                   \
    X(small_blocks, "live pool blocks")                                       \
    X(object_run_bytes, "bytes in live object blocks > 512 B (page runs)")    \
    X(object_run_blocks, "live object blocks > 512 B")                        \
    X(large_bytes, "bytes in live raw blocks > 512 B (large hooks)")          \
    X(large_blocks, "live raw blocks > 512 B")                                \
    X(pools, "pools in use (16 KiB each)")                                    \
    X(pool_free_bytes, "free bytes inside pools in use (free + virgin blocks)") \
    X(pool_header_bytes, "bytes lost to pool headers")                        \
    X(pool_quantization_bytes, "bytes lost at pool ends (size does not divide)") \
    X(unused_pool_bytes, "committed bytes of free segments in arenas in use")  \
    X(run_header_bytes, "bytes lost to run headers and run page rounding")    \
    X(table_bytes, "bytes of the allocator's own tables in the region")       \
    X(meta_bytes, "bytes of the heap struct and arena table zone (reserved)") \
    X(committed_bytes, "bytes of the region committed (readable/writable)")   \
    X(returned_bytes, "bytes decommitted (given back to the OS), cumulative") \
    X(region_bytes, "bytes of address space reserved")                        \
    X(arenas_allocated_total, "arenas committed, cumulative")                 \
    X(arenas_reclaimed, "arenas returned to the OS, cumulative")              \
    X(arenas_highwater, "most arenas in use at once")                         \
    X(arenas_current, "arenas in use now (1 MiB each)")                       \
    X(alloc_calls, "allocations attempted (objects, raw blocks, arenas, tables)") \
    X(fault_allocations, "allocations counted since the last rcgc_fault_set") \
    /* version 2 */                                                            \
    X(allocated_bytes_total, "bytes handed out by allocations, cumulative")

typedef struct rcgc_mem_stats {
    size_t struct_size; /* set by the caller: sizeof(rcgc_mem_stats) */
    uint32_t version;   /* set by rcgc_mem_stats_get: RCGC_MEM_STATS_VERSION */
#define RCGC__STATS_FIELD(name, doc) uint64_t name;
    RCGC_MEM_STATS_FIELDS(RCGC__STATS_FIELD)
#undef RCGC__STATS_FIELD
} rcgc_mem_stats;

/* Fill 'out' (out->struct_size must be set; 0 means sizeof). Walks the
** heap's pools: O(pools), no allocation. */
void rcgc_mem_stats_get(rcgc_heap *heap, rcgc_mem_stats *out);
/* Write the statistics as "name = value  # description" lines through the
** output hook. */
void rcgc_mem_stats_print(rcgc_heap *heap);
/* Write them as one JSON object into buf (NUL-terminated when cap > 0).
** Returns the length the full text needs, like snprintf. */
size_t rcgc_mem_stats_json(rcgc_heap *heap, char *buf, size_t cap);
/* CPython's sys._debugmallocstats(): per size class (pools, blocks in use,
** available blocks), arenas, and where the bytes go; through the output
** hook. */
void rcgc_mem_debug_dump(rcgc_heap *heap);

/*
** "Where did my RSS go?": the process's resident memory split into what
** this heap holds (resident pages of its region, measured with mincore;
** live blocks vs free-but-held) and everything else. Linux only; fields
** read 0 where the OS does not say.
*/
#define RCGC_MEM_RSS_FIELDS(X)                                                \
    X(process_rss_bytes, "resident bytes of the whole process")               \
    X(region_resident_bytes, "resident bytes of this heap's region")          \
    X(live_bytes, "bytes in live blocks in the region")                       \
    X(free_held_bytes, "resident region bytes not in live blocks")            \
    X(large_bytes, "raw blocks > 512 B held through the large hooks")         \
    X(returned_bytes, "bytes given back to the OS by this heap, cumulative")  \
    X(outside_bytes, "resident bytes not accounted to this heap")

typedef struct rcgc_mem_rss {
#define RCGC__RSS_FIELD(name, doc) uint64_t name;
    RCGC_MEM_RSS_FIELDS(RCGC__RSS_FIELD)
#undef RCGC__RSS_FIELD
} rcgc_mem_rss;

/* Measure (RCGC_OK, or RCGC_EIO when /proc/self/statm cannot be read). */
rcgc_status rcgc_mem_rss_get(rcgc_heap *heap, rcgc_mem_rss *out);
/* Measure and write a short report through the output hook. */
rcgc_status rcgc_mem_report(rcgc_heap *heap);

/* ===================================================================== */
/* Weak references                                                       */
/* ===================================================================== */

/*
** Python's weakref module (see docs/weakref.md for the ordering rules).
** Only objects whose type has RCGC_TYPE_WEAKREFABLE can be referenced
** weakly; an object pays nothing until it gets its first weak reference.
** Weak references, weak maps and finalize handles are rcgc objects: drop
** them with rcgc_unref, store them in your objects (and visit them in
** traverse) like any other object. Calls that get a non-weakrefable or
** dying object fail (NULL or RCGC_EINVAL) and say why through the output
** hook.
*/
typedef struct rcgc_weakref rcgc_weakref;

/* Runs when the referent dies, after every weak reference to it is dead
** (rcgc_weakref_get(wr) returns NULL); receives the weak reference and the
** argument given at creation. Non-zero = error: reported through the output
** hook; the other callbacks still run. Callbacks of one referent run most
** recently registered first. In a garbage cycle, the callback runs only if
** the weak reference itself is not garbage. */
typedef int (*rcgc_weakref_callback)(rcgc_weakref *wr, void *arg);

/* Hash and equality of objects, for weak-reference hashing and map keys. */
typedef uint64_t (*rcgc_hash_fn)(const void *obj, void *ctx);
typedef bool (*rcgc_eq_fn)(const void *a, const void *b, void *ctx);

/* True if obj's type allows weak references. */
bool rcgc_weakref_supported(const void *obj);
/* True if obj is a weak reference object. */
bool rcgc_weakref_is(const void *obj);

/* A new weak reference to obj (a new strong reference to the weak
** reference object), or NULL (out of memory, or obj not weakrefable:
** RCGC_EINVAL's message goes to the output hook). Without callback, all
** references to one object are one shared object (CPython's basic ref);
** with a callback, each call makes a new one. cb_arg: an rcgc object the
** weak reference holds strongly until it dies, or NULL. */
rcgc_weakref *rcgc_weakref_new(rcgc_heap *heap, void *obj, rcgc_weakref_callback cb,
                               void *cb_arg);
/* A new strong reference to the referent, or NULL once it is dead. Inline
** (the macro below); the function stays exported. */
void *rcgc_weakref_get(rcgc_weakref *wr);
/* Private: where a weak reference object keeps its referent (NULL once
** dead), exposed only so that rcgc_weakref_get can be inline. A referent
** at refcount 0 is queued for deallocation: already dead. */
#define RCGC__WEAKREF_OBJ_OFFSET (2 * sizeof(void *))
static inline void *rcgc__weakref_get(rcgc_weakref *wr)
{
    void *obj = *(void **)(void *)((char *)wr + RCGC__WEAKREF_OBJ_OFFSET);
    if (!obj || RCGC__HEAD(obj)->refcnt_ == 0)
        return NULL;
    return rcgc_ref(obj);
}
#define rcgc_weakref_get(wr) rcgc__weakref_get(wr)
bool rcgc_weakref_is_alive(const rcgc_weakref *wr);

/* Number of weak references to obj: weak reference objects, weak-map
** entries and finalize handles (getweakrefcount). 0 for any object
** without any. */
size_t rcgc_weakref_count(const void *obj);
/* Call fn for every weak reference object to obj (getweakrefs; map entries
** and finalize handles are not objects of that kind), in callback order;
** stops at and returns fn's first non-zero result. fn must not create or
** destroy weak references to obj. */
int rcgc_weakref_visit(const void *obj, int (*fn)(rcgc_weakref *wr, void *arg), void *arg);

/* The hash of a weak reference: the referent's hash (hash(referent, ctx),
** or identity when hash is NULL), computed once and kept after death.
** RCGC_ESTATE if the referent died before the first call. */
rcgc_status rcgc_weakref_hash(rcgc_weakref *wr, rcgc_hash_fn hash, void *ctx, uint64_t *out);
/* Equality: two live references compare their referents (eq, or identity
** when NULL); otherwise a reference equals only itself. No ordering. */
bool rcgc_weakref_eq(rcgc_weakref *a, rcgc_weakref *b, rcgc_eq_fn eq, void *ctx);

/*
** Weak containers (WeakValueDictionary, WeakKeyDictionary, WeakSet). An
** entry vanishes when its weakly held object dies, by refcount or in a
** collection. All three are one object type, rcgc_weakmap:
**   value map: key -> weakly held object. Keys are C strings copied into
**              the map (keyops NULL) or pointers hashed and compared by
**              keyops; with keyops->object_keys they are rcgc objects the
**              map holds strongly.
**   key map:   weakly held object (by identity) -> rcgc object or NULL,
**              held strongly.
**   set:       weakly held objects, by identity.
** While an iterator is open, removals (deaths, del/discard, pop, popitem,
** clear) are deferred to the end of the last iteration; length, lookups and
** the iteration already ignore them. Insertions during an iteration are
** allowed (see rcgc_weakmap_iter_next for what the iteration sees).
** pop/popitem hand over references (NULL out-pointer: dropped instead);
** RCGC_ENOTFOUND when there is nothing to pop. update and setdefault are
** all or nothing: on RCGC_ENOMEM the map is unchanged.
*/
typedef struct rcgc_weakmap rcgc_weakmap;
typedef struct rcgc_weakmap_keyops {
    rcgc_hash_fn hash;
    rcgc_eq_fn eq;
    void *ctx;
    bool object_keys; /* keys are rcgc objects held strongly by the map */
} rcgc_weakmap_keyops;

rcgc_weakmap *rcgc_weakvaluemap_new(rcgc_heap *heap, const rcgc_weakmap_keyops *keyops);
/* Map key to value (replacing an old value). RCGC_OK, RCGC_ENOMEM, or
** RCGC_EINVAL (value not weakrefable). */
rcgc_status rcgc_weakvaluemap_set(rcgc_weakmap *map, const void *key, void *value);
/* A new strong reference to the value, or NULL. */
void *rcgc_weakvaluemap_get(rcgc_weakmap *map, const void *key);
/* RCGC_OK or RCGC_ENOTFOUND. */
rcgc_status rcgc_weakvaluemap_del(rcgc_weakmap *map, const void *key);
/* *out = a new strong reference to key's value, after mapping key to dflt
** if it had none. dflt is checked as by set (even if unused). */
rcgc_status rcgc_weakvaluemap_setdefault(rcgc_weakmap *map, const void *key, void *dflt,
                                         void **out);
/* Remove key; *value = a strong reference to its value. */
rcgc_status rcgc_weakvaluemap_pop(rcgc_weakmap *map, const void *key, void **value);
/* Remove some live entry; *key = the key, now the caller's (a string key:
** free with rcgc_free(heap, key); an object key: a strong reference; a
** plain pointer owns nothing), *value = a strong reference to the value. */
rcgc_status rcgc_weakvaluemap_popitem(rcgc_weakmap *map, void **key, void **value);
/* Map every live key of src as src does. Both must have the same kind of
** keys (C strings, pointers, objects), else RCGC_EINVAL. */
rcgc_status rcgc_weakvaluemap_update(rcgc_weakmap *map, rcgc_weakmap *src);

rcgc_weakmap *rcgc_weakkeymap_new(rcgc_heap *heap);
rcgc_status rcgc_weakkeymap_set(rcgc_weakmap *map, void *key, void *value);
/* A new strong reference to key's value (NULL if absent or NULL). */
void *rcgc_weakkeymap_get(rcgc_weakmap *map, const void *key);
bool rcgc_weakkeymap_has(rcgc_weakmap *map, const void *key);
rcgc_status rcgc_weakkeymap_del(rcgc_weakmap *map, const void *key);
/* *out = a new reference to key's value (NULL if NULL), after mapping key to
** dflt if absent. */
rcgc_status rcgc_weakkeymap_setdefault(rcgc_weakmap *map, void *key, void *dflt, void **out);
/* Remove key; *value = its value reference (may be NULL). */
rcgc_status rcgc_weakkeymap_pop(rcgc_weakmap *map, const void *key, void **value);
/* Remove some live entry; *key = a strong reference to the key, *value =
** its value reference. */
rcgc_status rcgc_weakkeymap_popitem(rcgc_weakmap *map, void **key, void **value);
/* Map every live key of the key map src to its value there. */
rcgc_status rcgc_weakkeymap_update(rcgc_weakmap *map, rcgc_weakmap *src);

rcgc_weakmap *rcgc_weakset_new(rcgc_heap *heap);
rcgc_status rcgc_weakset_add(rcgc_weakmap *set, void *obj);
bool rcgc_weakset_has(rcgc_weakmap *set, const void *obj);
rcgc_status rcgc_weakset_discard(rcgc_weakmap *set, const void *obj);
/* Remove some live element; *obj = a strong reference to it. */
rcgc_status rcgc_weakset_pop(rcgc_weakmap *set, void **obj);
/* Add every live element of the set src (union in place). */
rcgc_status rcgc_weakset_update(rcgc_weakmap *set, rcgc_weakmap *src);

/* Live entries of any of the three. */
size_t rcgc_weakmap_len(rcgc_weakmap *map);
/* Remove every entry of any of the three. */
void rcgc_weakmap_clear(rcgc_weakmap *map);

/* Iteration: begin, next until it returns false, end (always). 'key' and
** 'value' stay valid until the next call: the iterator holds a strong
** reference to the weakly held object of the current entry. Value map:
** key = the key, value = the object; key map: key = the object, value =
** its value; set: key = the object, value = NULL. Every entry live from
** begin to end is seen exactly once; an entry removed before it is reached
** is not seen; one added during the iteration (by set, setdefault, add,
** update) may or may not be seen, even for a key seen before (removed and
** added again). */
typedef struct rcgc_weakmap_iter {
    rcgc_weakmap *map;
    size_t bucket_;
    void *entry_;
    void *hold_;
} rcgc_weakmap_iter;
void rcgc_weakmap_iter_begin(rcgc_weakmap *map, rcgc_weakmap_iter *it);
bool rcgc_weakmap_iter_next(rcgc_weakmap_iter *it, const void **key, void **value);
void rcgc_weakmap_iter_end(rcgc_weakmap_iter *it);

/*
** finalize (weakref.finalize): fn(arg, ctx) runs once, when obj dies (by
** refcount or in a collection, in the order of weak-reference callbacks),
** when called early, or at rcgc_heap_free (atexit, the default), whichever
** comes first. The heap keeps the handle alive while it is registered; the
** handle returned is the caller's reference (drop it when not needed).
** arg is an rcgc object held strongly (or NULL): it must not refer to obj,
** or obj never dies. A negative fn result at death or heap free is
** reported through the output hook.
*/
typedef struct rcgc_finalize rcgc_finalize;
typedef int (*rcgc_finalize_fn)(void *arg, void *ctx);
typedef struct rcgc_finalize_info {
    void *obj;          /* new strong reference */
    rcgc_finalize_fn fn;
    void *arg;          /* new strong reference (or NULL) */
    void *ctx;
} rcgc_finalize_info;

rcgc_finalize *rcgc_finalize_new(rcgc_heap *heap, void *obj, rcgc_finalize_fn fn, void *arg,
                                 void *ctx);
/* Run now if still registered: true and *result = fn's result (result may
** be NULL); false if it already ran or was detached. */
bool rcgc_finalize_call(rcgc_finalize *f, int *result);
/* If registered and obj alive: fill *out and return true; detach also
** unregisters (fn will never run). The caller unrefs out->obj and
** out->arg. */
bool rcgc_finalize_peek(rcgc_finalize *f, rcgc_finalize_info *out);
bool rcgc_finalize_detach(rcgc_finalize *f, rcgc_finalize_info *out);
/* Still registered (will run). */
bool rcgc_finalize_is_alive(const rcgc_finalize *f);
/* Run at heap free if still registered (default true). */
void rcgc_finalize_set_atexit(rcgc_finalize *f, bool atexit);
bool rcgc_finalize_get_atexit(const rcgc_finalize *f);

/* ===================================================================== */
/* Allocation tracing                                                    */
/* ===================================================================== */

/*
** Python's tracemalloc for rcgc heaps (docs/tracing.md). While tracing, every
** object and raw block of the heap has a *trace*: its domain, size, the
** traceback of the call that allocated it, the object's type and the
** innermost tag. Tracebacks come from three sources:
**   1. the call site of the allocating call: rcgc_new(), rcgc_new_var(),
**      rcgc_malloc(), rcgc_calloc() and rcgc_realloc() are macros that pass
**      __FILE__/__LINE__/__func__ to the *_at functions (define
**      RCGC_NO_SITE_MACROS before including rcgc.h to turn them off; the
**      plain functions stay exported either way, so &rcgc_new still works);
**   2. frames pushed by a host program (an interpreter) with
**      rcgc_trace_frame_push/pop: its users see their own script's lines;
**   3. the native C stack (rcgc_trace_options.native), unwound at allocation
**      time and symbolised lazily, when a snapshot is taken.
** Tracebacks are interned: identical frame sequences share one object. The
** tracer's own memory is not traced; rcgc_trace_get_tracer_memory() says
** how much it uses. All of it belongs to the heap: no global state.
*/

/* Limits of the traceback length (CPython's [1; 65535]). */
#define RCGC_TRACE_MAX_FRAMES 65535u
/* The domain of the heap's own objects and raw blocks. Other domains
** (1..65535) are for foreign memory tracked with rcgc_trace_track(). */
#define RCGC_TRACE_DOMAIN_HEAP 0u

/* A frame. 'filename' and 'function' are never NULL ("<unknown>" when not
** known); lineno 0 = unknown. For native frames 'address' is the return
** address (0 for other frames). */
typedef struct rcgc_frame {
    const char *filename;
    const char *function;
    unsigned lineno;
    uintptr_t address;
} rcgc_frame;

/* An interned traceback. Frames are indexed oldest first (index 0) to most
** recent (nframe - 1), as tracemalloc.Traceback. */
typedef struct rcgc_traceback rcgc_traceback;
unsigned rcgc_traceback_nframe(const rcgc_traceback *tb);
/* The true depth before truncation to the traceback limit. */
unsigned rcgc_traceback_total_nframe(const rcgc_traceback *tb);
/* Frame 'index' (0 = oldest); an "<unknown>" frame for a bad index. */
rcgc_frame rcgc_traceback_frame(const rcgc_traceback *tb, unsigned index);

typedef struct rcgc_trace_options {
    size_t struct_size;        /* sizeof(rcgc_trace_options); set by init */
    unsigned max_frames;       /* traceback limit, 1..65535; default 1 */
    bool native;               /* unwind the C stack; default false */
    uint64_t sample_mean_bytes;/* 0 = exact (default); otherwise Poisson
                                  sampling: on average one sample per this
                                  many allocated bytes (e.g. 512 KiB) */
    uint64_t sample_seed;      /* sampling PRNG seed; default 0x5EED */
} rcgc_trace_options;
void rcgc_trace_options_init(rcgc_trace_options *opt);

/* Start tracing with a traceback limit of 'max_frames' (call-site and host
** frames). RCGC_EINVAL outside 1..65535 ("the number of frames must be in
** range [1; 65535]"), RCGC_ENOMEM. Starting while tracing changes the
** options and keeps the traces. */
rcgc_status rcgc_trace_start(rcgc_heap *heap, unsigned max_frames);
rcgc_status rcgc_trace_start_ex(rcgc_heap *heap, const rcgc_trace_options *opt);
/* Stop tracing and drop every trace (traced memory becomes 0, 0). */
void rcgc_trace_stop(rcgc_heap *heap);
bool rcgc_trace_is_tracing(const rcgc_heap *heap);
/* The traceback limit (1 when not tracing, as tracemalloc's default). */
unsigned rcgc_trace_get_traceback_limit(const rcgc_heap *heap);
/* Switch between exact (0) and sampled tracing at run time. Existing traces
** keep their weight. RCGC_ESTATE when not tracing. */
rcgc_status rcgc_trace_set_sampling(rcgc_heap *heap, uint64_t mean_bytes);

/* Bytes in traced blocks now and at the peak (sampled: estimates). */
void rcgc_trace_get_traced_memory(const rcgc_heap *heap, size_t *current, size_t *peak);
/* peak := current. */
void rcgc_trace_reset_peak(rcgc_heap *heap);
/* Drop every trace; tracing goes on. Counters go to (0, 0). */
void rcgc_trace_clear_traces(rcgc_heap *heap);
/* Bytes the tracer itself uses (tables, tracebacks, strings). */
size_t rcgc_trace_get_tracer_memory(const rcgc_heap *heap);
/* Traces lost because the tracer ran out of memory in a realloc. */
uint64_t rcgc_trace_lost_count(const rcgc_heap *heap);

/* Foreign memory (PyTraceMalloc_Track/Untrack): RCGC_OK, RCGC_ENOMEM, or
** RCGC_ESTATE when not tracing (CPython's -2). Tracking a tracked block
** replaces its trace; untracking an untracked one is RCGC_OK. */
rcgc_status rcgc_trace_track(rcgc_heap *heap, unsigned domain, uintptr_t ptr, size_t size);
rcgc_status rcgc_trace_untrack(rcgc_heap *heap, unsigned domain, uintptr_t ptr);

/* The traceback of the block holding obj (NULL if it is not traced: made
** before tracing started or before the last clear). Valid until the traces
** are cleared or tracing stops. */
const rcgc_traceback *rcgc_trace_get_object_traceback(rcgc_heap *heap, const void *obj);
const rcgc_traceback *rcgc_trace_get_traceback(rcgc_heap *heap, unsigned domain, uintptr_t ptr);

/* Host frames: push when a host function starts, pop when it returns,
** set_lineno as it runs. Strings are copied. Ignored when not tracing
** (a pop of an empty stack does nothing), so a host may push and pop
** unconditionally. */
rcgc_status rcgc_trace_frame_push(rcgc_heap *heap, const char *filename, unsigned lineno,
                                  const char *function);
void rcgc_trace_frame_set_lineno(rcgc_heap *heap, unsigned lineno);
void rcgc_trace_frame_pop(rcgc_heap *heap);

/* Tags: a stack per heap; every trace records the innermost tag (the view
** or request being served). Same rules as host frames. */
rcgc_status rcgc_trace_tag_push(rcgc_heap *heap, const char *tag);
void rcgc_trace_tag_pop(rcgc_heap *heap);

/* Write every traced block still alive through the output hook, grouped by
** allocation site (most recent frame) and type, largest first; for
** objects, how many are held from outside rcgc's graph (refcount minus the
** references other tracked objects hold: what C code still owns) versus
** only by other objects. Runs at rcgc_heap_free() when tracing and
** leak_report are on. Returns the number of groups. */
size_t rcgc_trace_leak_report(rcgc_heap *heap);

/* The site-capturing entry points behind the macros below. */
void *rcgc_new_at(rcgc_heap *heap, const rcgc_type *type, size_t nitems,
                  const char *file, int line, const char *func);
void *rcgc_malloc_at(rcgc_heap *heap, size_t bytes, const char *file, int line,
                     const char *func);
void *rcgc_calloc_at(rcgc_heap *heap, size_t count, size_t size, const char *file,
                     int line, const char *func);
void *rcgc_realloc_at(rcgc_heap *heap, void *ptr, size_t bytes, const char *file,
                      int line, const char *func);

#define RCGC_HERE __FILE__, __LINE__, __func__
#ifndef RCGC_NO_SITE_MACROS
#define rcgc_new(heap, type) rcgc_new_at((heap), (type), 0, RCGC_HERE)
#define rcgc_new_var(heap, type, n) rcgc_new_at((heap), (type), (n), RCGC_HERE)
#define rcgc_malloc(heap, n) rcgc_malloc_at((heap), (n), RCGC_HERE)
#define rcgc_calloc(heap, c, n) rcgc_calloc_at((heap), (c), (n), RCGC_HERE)
#define rcgc_realloc(heap, p, n) rcgc_realloc_at((heap), (p), (n), RCGC_HERE)
#endif

/* ---- Snapshots --------------------------------------------------------- */

typedef struct rcgc_snapshot rcgc_snapshot;

/* One trace of a snapshot. Strings belong to the snapshot. */
typedef struct rcgc_trace {
    unsigned domain;
    size_t size;                   /* bytes of the block */
    const rcgc_traceback *traceback;
    const char *type;              /* object type name, or NULL (raw block) */
    const char *tag;               /* innermost tag, or NULL */
    double weight;                 /* 1 (exact), or 1/p for a sampled trace */
} rcgc_trace;

/* Copy every trace of the heap (RCGC_ESTATE "the heap must be tracing
** memory allocations to take a snapshot" when not tracing). Native frames
** are symbolised here. The snapshot is independent of the heap. */
rcgc_status rcgc_trace_take_snapshot(rcgc_heap *heap, rcgc_snapshot **out);
/* An empty snapshot to fill with rcgc_snapshot_add (tests, importers). */
rcgc_snapshot *rcgc_snapshot_new(unsigned traceback_limit);
/* Add one trace; frames[0] is the OLDEST frame (as rcgc_traceback_frame).
** type/tag may be NULL. */
rcgc_status rcgc_snapshot_add(rcgc_snapshot *s, unsigned domain, size_t size,
                              const rcgc_frame *frames, unsigned nframe,
                              unsigned total_nframe, const char *type, const char *tag);
void rcgc_snapshot_free(rcgc_snapshot *s);
size_t rcgc_snapshot_count(const rcgc_snapshot *s);
/* Trace i in insertion (or table) order; false past the end. */
bool rcgc_snapshot_get(const rcgc_snapshot *s, size_t i, rcgc_trace *out);
unsigned rcgc_snapshot_traceback_limit(const rcgc_snapshot *s);
/* Mean sampling interval the snapshot was taken with (0 = exact). */
uint64_t rcgc_snapshot_sample_mean(const rcgc_snapshot *s);
/* True if both hold the same traces in the same order. */
bool rcgc_snapshot_equal(const rcgc_snapshot *a, const rcgc_snapshot *b);

/* Statistics: group by what? */
typedef enum rcgc_stat_key {
    RCGC_STAT_FILENAME = 0,   /* most recent frame's file (cumulative: every frame) */
    RCGC_STAT_LINENO = 1,     /* most recent frame's file and line */
    RCGC_STAT_TRACEBACK = 2,  /* the whole traceback (not cumulative) */
    RCGC_STAT_TYPE = 3,       /* object type name ("<raw>" for raw blocks) */
    RCGC_STAT_TAG = 4         /* innermost tag ("<untagged>") */
} rcgc_stat_key;

/* One group. For FILENAME/LINENO 'traceback' has one frame (lineno 0 for
** FILENAME); for TRACEBACK it is the group's traceback; for TYPE/TAG it is
** NULL and 'name' is set. size/count are estimates for sampled snapshots.
** Diffs: size_diff/count_diff against the old snapshot (0 in statistics). */
typedef struct rcgc_stat {
    const rcgc_traceback *traceback;
    const char *name;
    uint64_t size;
    uint64_t count;
    int64_t size_diff;
    int64_t count_diff;
} rcgc_stat;

typedef struct rcgc_stats rcgc_stats;
/* Sorted as tracemalloc sorts: statistics descending by (size, count, key);
** diffs descending by (|size_diff|, size, |count_diff|, count, key).
** cumulative is allowed for FILENAME and LINENO only (RCGC_EINVAL: "cannot
** group by traceback cumulatively"). The result refers to the snapshots'
** strings: free it before them. */
rcgc_status rcgc_snapshot_statistics(const rcgc_snapshot *s, rcgc_stat_key key,
                                     bool cumulative, rcgc_stats **out);
rcgc_status rcgc_snapshot_compare_to(const rcgc_snapshot *s, const rcgc_snapshot *old,
                                     rcgc_stat_key key, bool cumulative, rcgc_stats **out);
size_t rcgc_stats_count(const rcgc_stats *st);
const rcgc_stat *rcgc_stats_get(const rcgc_stats *st, size_t i);
void rcgc_stats_free(rcgc_stats *st);
/* tracemalloc's text: "b.py:1: size=66 B, count=1, average=66 B" and, with
** diff, "a.py:5: size=5002 B (+5000 B), count=2 (+1), average=2501 B"
** (sizes in B/KiB/MiB/GiB as tracemalloc's _format_size). Returns the
** length snprintf would write. */
int rcgc_stat_format(const rcgc_stat *stat, bool diff, char *buf, size_t cap);

/* Filters (tracemalloc.Filter / DomainFilter). A trace is kept iff it
** matches any inclusive filter (when there is one) and every exclusive one.
** filename_pattern: fnmatch pattern on the frame's file (".pyc" is read as
** ".py"); NULL = a domain-only filter. lineno < 0: any line. all_frames:
** test every frame instead of the most recent. has_domain: also require
** (inclusive) or exempt (exclusive) 'domain'. */
typedef struct rcgc_trace_filter {
    bool inclusive;
    const char *filename_pattern;
    int lineno;
    bool all_frames;
    bool has_domain;
    unsigned domain;
} rcgc_trace_filter;
/* A new snapshot with the kept traces; 's' is untouched. */
rcgc_status rcgc_snapshot_filter(const rcgc_snapshot *s, const rcgc_trace_filter *filters,
                                 size_t nfilters, rcgc_snapshot **out);

/* Dump to / load from the versioned binary format of docs/formats.md. Load
** checks every count against the bytes present: a truncated, corrupted or
** hostile file gives RCGC_EFORMAT (RCGC_EIO for a system error) and an
** explanation in 'err' (may be NULL), never a crash or a huge allocation. */
rcgc_status rcgc_snapshot_dump(const rcgc_snapshot *s, const char *path);
rcgc_status rcgc_snapshot_load(const char *path, rcgc_snapshot **out, char *err,
                               size_t errcap);
/* The same on memory: dump_buffer returns a malloc'ed buffer (free()). */
rcgc_status rcgc_snapshot_dump_buffer(const rcgc_snapshot *s, void **buf, size_t *len);
rcgc_status rcgc_snapshot_load_buffer(const void *buf, size_t len, rcgc_snapshot **out,
                                      char *err, size_t errcap);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* RCGC_H */
