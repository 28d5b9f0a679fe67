/*
** trace.h -- the allocation tracer's internal interface (trace.c owns the
** state hung off heap->trace; snapshot.c, snapfile.c and unwind.c read it).
** Lower layers call only the hooks below, each guarded by
** 'if (heap->trace)' so that an untraced heap pays one predictable branch.
*/
#ifndef RCGC_TRACE_H
#define RCGC_TRACE_H

#include "heap.h"

/* ---- Hooks for lower layers (object.c, mem.c, memdebug.c, heap.c) ------- */

/* A block of 'size' bytes was allocated at 'ptr' in the heap's domain.
** Returns 1 when a trace was recorded, 0 when none was (sampling skipped
** it, or the tracer's own allocation), or -1 when the trace could not be
** recorded (out of memory): the caller then frees the block and fails the
** allocation, as tracemalloc does, so traced memory stays exact. */
int rcgc__trace_on_alloc(rcgc_heap *heap, const void *ptr, size_t size);
/* rcgc__trace_on_alloc with the common sampled-mode case inline: an
** allocation that does not reach the next sample point only moves the
** countdown. */
static inline int rcgc__trace_alloc_hook(rcgc_heap *heap, const void *ptr, size_t size);
/* A call site: file (NULL: none), function, line, and the return address
** into user code (native stacks start there; 0: unknown). */
typedef struct rcgc__site {
    const char *file;
    const char *func;
    int line;
    uintptr_t ra;
} rcgc__site;
/* rcgc__trace_alloc_hook for an allocation made at call site 'cs' (NULL:
** none, the current site stays): the site reaches the tracer only when a
** trace is recorded, so a sampled-mode skip costs only the countdown. */
static inline int rcgc__trace_alloc_hook_at(rcgc_heap *heap, const void *ptr, size_t size,
                                            const rcgc__site *cs);
static inline int rcgc__trace_on_alloc_at(rcgc_heap *heap, const void *ptr, size_t size,
                                          const rcgc__site *cs);
/* rcgc_malloc_at's traced path (the untraced one is inline in mem.c). */
void *rcgc__trace_malloc_at(rcgc_heap *heap, size_t bytes, const char *file, int line,
                            const char *func, uintptr_t ra);
/* The block at 'ptr' is being freed (a block without a trace is fine). */
void rcgc__trace_on_free(rcgc_heap *heap, const void *ptr);
/* 'oldp' became 'newp' of 'size' bytes (newp may equal oldp). Never fails:
** a trace that cannot be recorded is counted as lost. */
void rcgc__trace_on_realloc(rcgc_heap *heap, const void *oldp, const void *newp, size_t size);
/* Heap teardown: leak report (when tracing), then free the tracer. */
void rcgc__trace_heap_fini(rcgc_heap *heap);
/* rcgc_heap_check's part: the tables and counters; returns problems found. */
size_t rcgc__trace_check(rcgc_heap *heap);
/* The traces table's mean probe length: slots between a trace's home slot
** and its slot, averaged over the traces (0 when empty). For the tests of
** the address hash. */
double rcgc__trace_mean_probe(const rcgc_heap *heap);
/* The allocator's debug-mode reports (memdebug.c): write where the block
** whose trace key is 'ptr' (the pointer the allocation hook was given) was
** allocated into buf, NUL-terminated, at most 'size' bytes with the NUL: a
** heading line, then one "file:line in function" line a frame, most recent
** first. 'freed': the block is not allocated any more (double free, write
** after free), so the trace kept after its free is used (debug mode only,
** see 'freed' below). Allocates nothing from the heap (the report may come
** from the middle of an allocation): native frames not symbolised yet are
** looked up on the spot. Returns the length written. */
size_t rcgc__trace_describe(rcgc_heap *heap, const void *ptr, bool freed, char *buf,
                            size_t size);

/* ---- Frames and tracebacks -------------------------------------------- */

/* A frame as stored. Strings are static (call sites) or interned in the
** tracer's string pool (host frames, symbolised native frames); 'file' is
** NULL for a native frame not symbolised yet. */
typedef struct rcgc__frame {
    const char *file;
    const char *func;
    uintptr_t pc;      /* native return address, 0 otherwise */
    uint32_t line;
    uint32_t pad_;
} rcgc__frame;

/* An interned traceback: frames[0] is the MOST RECENT frame (capture
** order); the public accessors index from the oldest. Shared by the tracer
** and snapshots (which own their own copies). */
struct rcgc_traceback {
    struct rcgc_traceback *next; /* hash chain of the owning intern table */
    uint32_t hash;
    uint32_t nframe;
    uint32_t total_nframe;
    uint32_t id;                 /* index in the owner (snapshots) */
    rcgc__frame frames[];
};

uint32_t rcgc__tb_hash(const rcgc__frame *frames, uint32_t n, uint32_t total);
bool rcgc__tb_same(const struct rcgc_traceback *tb, const rcgc__frame *frames, uint32_t n,
                   uint32_t total);

/* ---- The traces table -------------------------------------------------- */

/*
** One trace: key (domain, ptr), value (size, traceback, tag, weight).
** Open addressing with linear probing; a slot is empty iff tb == NULL.
** Deletion shifts the cluster back (no tombstones). Load <= 3/4.
*/
typedef struct rcgc__tentry {
    uintptr_t ptr;
    const struct rcgc_traceback *tb;
    size_t size;
    union {
        struct {
            uint16_t domain;  /* domains are 0..65535 */
            uint16_t tag;     /* index into the tag names; 0 = untagged */
            float weight;     /* 1 exact; 1/p for a sampled trace */
        };
        uint64_t meta;        /* the three at once */
    };
} rcgc__tentry;
_Static_assert(sizeof(void *) != 8 || sizeof(rcgc__tentry) == 32,
               "a trace is 32 bytes on 64-bit targets");

typedef struct rcgc__hframe {
    const char *file; /* interned */
    const char *func; /* interned */
    uint32_t line;
} rcgc__hframe;

/* A pool of interned NUL-terminated strings (hash set of pointers into
** arena chunks). */
typedef struct rcgc__strpool {
    const char **slots;
    size_t cap, count;
} rcgc__strpool;

/* Arena chunks: a singly linked list of raw blocks. */
typedef struct rcgc__chunk {
    struct rcgc__chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} rcgc__chunk;

struct rcgc__unwind; /* unwind.c */

/* Entries of the call-site cache (a power of two). */
#define RCGC__SITECACHE 64

/* Debug mode: tracebacks kept after a free, for reports on freed blocks. A
** direct-mapped table keyed by address (a power of two slots): a free puts
** the block's traceback in its slot, the next allocation at that address
** clears it, a free at another address that maps to the slot replaces it. */
#define RCGC__FREED_TRACES 4096
typedef struct rcgc__freed {
    uintptr_t ptr; /* 0 = empty */
    const struct rcgc_traceback *tb;
} rcgc__freed;

/*
** The tracer (heap->trace). Invariants (rcgc__trace_check):
**   - 'count' slots of 'traces' are used, count * 4 <= cap * 3, cap a power
**     of two; every used slot is reachable from its home slot;
**   - 'current' == the sum of weighted sizes of all traces, peak >= current;
**   - every trace's tb is in 'tbs' (interned, distinct contents);
**   - 'busy' is true only while the tracer allocates for itself;
**   - grow_at == cap * 3/4 (0 for 'nil'), mask == cap - 1 (mask_bytes in
**     bytes), 'tag' is the
**     tag stack's top and 'meta' says so,
**     keep_freed/sampled/frames agree with what they summarise;
**   - every site-cache entry holds the interned traceback of its site.
*/
typedef struct rcgc__trace {
    unsigned max_frames;
    /* Why a hook cannot take its fast path (trace.c: the exact 1-frame
    ** mode, tracemalloc.start(1)): one byte a reason, tested as one word. */
    union {
        struct {
            bool busy;         /* reentrancy: our own allocations */
            bool keep_freed;   /* debug mode: 'freed' != NULL */
            bool sampled;      /* sample_mean != 0 */
            bool frames;       /* more than the call site's frame: host
                               ** frames, or native with max_frames > 1 */
        };
        uint16_t slow_free;    /* busy || keep_freed */
        uint32_t slow_alloc;   /* any of the four */
    };
    bool native;
    uint16_t tag;              /* the innermost tag's id (0 = untagged) */
    uint64_t meta;             /* an exact heap trace's meta: domain 0, tag, weight 1 */
    /* 'cap' slots (a power of two); never NULL: 'nil' (cap 1) when empty */
    rcgc__tentry *traces;
    size_t cap, mask, count;   /* mask = cap - 1 */
    size_t mask_bytes;         /* mask * sizeof(rcgc__tentry) (trace.c's home_offset) */
    size_t grow_at;            /* count that makes the table grow: cap * 3/4 */
    size_t current, peak;      /* traced bytes (estimates when sampled) */
    size_t self_bytes;         /* tracer memory */
    uint64_t lost;
    /* interned tracebacks */
    struct rcgc_traceback **tbs;
    size_t tbcap, tbcount;
    const struct rcgc_traceback *unknown_tb; /* "<unknown>":0 */
    /* 1-frame mode: a direct-mapped cache call site -> traceback, so a
    ** loop over a few sites never hashes frames (cleared with the tables) */
    struct rcgc__sitecache {
        const char *file;      /* NULL = empty */
        const char *func;
        uint64_t key;          /* (uint32_t)line | (total - 1) << 32 */
        const struct rcgc_traceback *tb;
    } sitecache[RCGC__SITECACHE];
    rcgc__chunk *chunks;
    rcgc__strpool strings;
    /* current call site: set by the *_at entry points around the call or the
    ** recording (a struct on their stack), else &nosite */
    const rcgc__site *site;
    rcgc__site nosite;         /* all zero */
    /* host frames and tags */
    rcgc__hframe *hframes;
    size_t nhframes, caphframes;
    const char **tagnames;     /* tag id -> interned name; [0] = NULL */
    size_t ntagnames, captagnames;
    uint32_t *tagstack;
    size_t ntags, captags;
    /* sampling */
    uint64_t sample_mean;      /* 0 = exact */
    uint64_t rng;
    int64_t sample_left;       /* bytes until the next sample; 0 when exact
                               ** (object creation's fast path tests only this) */
    /* native stacks */
    struct rcgc__unwind *unwind;
    rcgc__frame *scratch;      /* max_frames + 1 frames */
    /* debug mode (heap->mem.debug): traces of freed blocks until reuse,
    ** RCGC__FREED_TRACES slots; NULL otherwise */
    rcgc__freed *freed;
    rcgc__tentry nil;          /* the empty table's one slot, always empty */
} rcgc__trace;

/* Tracer-owned memory (never traced, counted in self_bytes). */
void *rcgc__trace_alloc(rcgc_heap *heap, size_t bytes);
/* The same for n zeroed elements of size bytes each (NULL on overflow). */
void *rcgc__trace_calloc(rcgc_heap *heap, size_t n, size_t size);
void rcgc__trace_free(rcgc_heap *heap, void *p, size_t bytes);
const char *rcgc__trace_intern(rcgc_heap *heap, const char *s);

/* The tag name of a trace (NULL when untagged). */
static inline const char *rcgc__trace_tag_name(const rcgc__trace *t, uint32_t tag)
{
    return tag < t->ntagnames ? t->tagnames[tag] : NULL;
}

/* unwind.c: native stacks. */
struct rcgc__unwind *rcgc__unwind_new(rcgc_heap *heap);
void rcgc__unwind_free(rcgc_heap *heap, struct rcgc__unwind *u);
/* Capture up to 'max' return addresses of the current stack, innermost
** first, skipping the tracer's own frames; returns how many, and the
** total depth (capped) in *total. */
unsigned rcgc__unwind_capture(struct rcgc__unwind *u, uintptr_t entry_ra, uintptr_t *pcs,
                              unsigned max, unsigned *total);
/* Symbolise one address (lazily, with a cache): file, function, line.
** Strings are interned in the tracer. */
void rcgc__unwind_symbolise(rcgc_heap *heap, struct rcgc__unwind *u, uintptr_t pc,
                            rcgc__frame *out);
/* The same without touching the heap (reports from inside the allocator):
** the cache, else a lookup whose strings belong to libdw/the dynamic linker
** or to 'buf'. Always sets *file and *func. */
void rcgc__unwind_lookup(struct rcgc__unwind *u, uintptr_t pc, const char **file,
                         const char **func, unsigned *line, char *buf, size_t bufsize);

/* ---- Snapshots (snapshot.c; snapfile.c reads and writes them) --------- */

/* One trace of a snapshot: ids index the snapshot's tracebacks and strings
** (string id 0 = none). */
typedef struct rcgc__snaptrace {
    uint64_t size;
    uint32_t tb;
    uint32_t domain;
    uint32_t type;
    uint32_t tag;
    float weight;
    uint32_t pad_;
} rcgc__snaptrace;

/*
** A snapshot owns everything it points to (plain malloc: it outlives the
** heap). Strings are interned by content, tracebacks by frames, so pointer
** equality within one snapshot is content equality. Invariants: every
** trace's tb < ntbs and type/tag < nstrs; strs[0] == NULL; every frame's
** file/func is one of strs.
*/
struct rcgc_snapshot {
    unsigned limit;
    uint64_t sample_mean;
    rcgc__snaptrace *traces;
    size_t ntraces, captraces;
    struct rcgc_traceback **tbs;
    size_t ntbs, captbs;
    uint32_t *tbhash;           /* open addressing over tb ids + 1 */
    size_t tbhcap;
    const char **strs;
    size_t nstrs, capstrs;
    uint32_t *strhash;          /* open addressing over string ids */
    size_t strhcap;
    struct rcgc__schunk *chunks;
    rcgc_heap *fault;           /* during take: allocations obey its fault injection */
};

/* Intern a string of 'len' bytes (no NUL inside); its id (>= 1), 0 = ENOMEM. */
uint32_t rcgc__snap_str(rcgc_snapshot *s, const char *str, size_t len);
/* Intern a traceback (frames most recent first, strings already interned
** in s); its id in *id. false = ENOMEM. */
bool rcgc__snap_tb(rcgc_snapshot *s, const rcgc__frame *frames, uint32_t n, uint32_t total,
                   uint32_t *id);
/* The id of an interned string, 0 if absent (no allocation). */
uint32_t rcgc__snap_str_find(const rcgc_snapshot *s, const char *str);
bool rcgc__snap_push(rcgc_snapshot *s, const rcgc__snaptrace *t);
void *rcgc__snap_malloc(rcgc_snapshot *s, size_t bytes);
/* snapfile.c: the CRC-32 of the file trailer (zlib's crc32). */
uint32_t rcgc__snap_crc32(const void *data, size_t n);

/* Sampling countdown after a block of 'size' bytes (a 0-byte block counts
** 1); the block holds a sample point when it is <= 0. */
static inline int64_t rcgc__trace_sample_left(const rcgc__trace *t, size_t size)
{
    return t->sample_left - (int64_t)(size ? size : 1);
}

/* True when sampling skips a block of 'size' bytes (the countdown moved):
** sampled, not busy, no debug mode (whose 'freed' table every allocation
** must see). Object creation's fast path has ruled out the last two and
** tests the countdown alone (sample_left is 0 when exact). */
static inline bool rcgc__trace_sample_skip(rcgc__trace *t, size_t size)
{
    if (t->sampled && !t->slow_free) {
        int64_t left = rcgc__trace_sample_left(t, size);
        if (left > 0) {
            t->sample_left = left;
            return true;
        }
    }
    return false;
}

static inline int rcgc__trace_alloc_hook(rcgc_heap *heap, const void *ptr, size_t size)
{
    if (rcgc__trace_sample_skip(heap->trace, size))
        return 0;
    return rcgc__trace_on_alloc(heap, ptr, size);
}

/* An object's site is pointed to only while its trace is recorded, after
** the object exists: no user code (a finalizer run by a collection) can
** run in between, so there is no outer site to keep. */
static inline int rcgc__trace_on_alloc_at(rcgc_heap *heap, const void *ptr, size_t size,
                                          const rcgc__site *cs)
{
    rcgc__trace *t = heap->trace;
    if (!cs)
        return rcgc__trace_on_alloc(heap, ptr, size);
    t->site = cs;
    int r = rcgc__trace_on_alloc(heap, ptr, size);
    if (heap->trace == t)
        t->site = &t->nosite;
    return r;
}

static inline int rcgc__trace_alloc_hook_at(rcgc_heap *heap, const void *ptr, size_t size,
                                            const rcgc__site *cs)
{
    if (rcgc__trace_sample_skip(heap->trace, size))
        return 0;
    return rcgc__trace_on_alloc_at(heap, ptr, size, cs);
}

#endif
