/*
** mem_state.h -- the allocator layer's data: struct rcgc__mem (embedded first
** in struct rcgc_heap), pool/run/arena headers and the allocator-internal
** functions shared by region.c, pool.c, mem.c, memdebug.c and memstats.c.
** Layers above the allocator must use only mem.h.
*/
#ifndef RCGC_MEM_STATE_H
#define RCGC_MEM_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rcgc.h"

/*
** Constants (docs/allocator.md explains each):
**   - small blocks: 1..512 bytes in 32 classes of 16 bytes (CPython's
**     SMALL_REQUEST_THRESHOLD and ALIGNMENT on 64-bit);
**   - a pool is one 16 KiB segment of one class; its 176-byte header (48
**     bytes of fields + a 1024-bit live map, one bit per 16-byte unit) leaves
**     16208 bytes: 1013 x 16 B, 506 x 32 B, 253 x 64 B, 31 x 512 B;
**   - an arena is 1 MiB of the region = 64 segments, committed on demand.
*/
#define RCGC__ALIGN 16u
#define RCGC__NCLASSES 32u
#define RCGC__SMALL_MAX 512u
#define RCGC__ARENA_BYTES ((size_t)1 << 20)
#define RCGC__ARENA_SEGS 64u
#define RCGC__POOL_HDR 176u
#define RCGC__RUN_HDR 32u
#define RCGC__REGION_MIN_FALLBACK ((size_t)256 << 20) /* halving stops here */
#define RCGC__BIG_INITIAL 256u /* first capacity of the large-block table */

/* Block families: which API allocated a block. Pools hold one family. */
enum { RCGC__FAM_RAW = 0, RCGC__FAM_OBJ = 1, RCGC__NFAMS = 2 };

/* What the header at the start of a used segment describes. */
enum {
    RCGC__SEG_HEAP = 1,     /* segment 0: the heap struct */
    RCGC__SEG_POOL = 2,     /* a pool (family in the pool header) */
    RCGC__SEG_RUN_OBJ = 3,  /* a page run holding one object block */
    RCGC__SEG_RUN_META = 4  /* a page run holding an internal table */
};

/*
** A pool: one segment, one size class, one family. Invariants (checked by
** rcgc__mem_check):
**   - nused == number of bits set in 'live'; a bit is set iff the 16-byte
**     unit it names starts a block handed out and not yet freed;
**   - blocks lie at [RCGC__POOL_HDR, nextoffset) in steps of 'size'; the rest
**     up to capacity is virgin (never handed out since the pool was set up);
**   - the free list ('freeblock', link in each free block's first 8 bytes)
**     holds exactly the non-live blocks below nextoffset;
**   - the pool is on its class list m->used[family][szidx] iff
**     0 < nused < capacity; a full pool is on no list; an empty pool is
**     returned to its arena at once.
*/
struct rcgc__pool {
    struct rcgc__seghdr seg; /* must be first */
    uint8_t kind;            /* RCGC__SEG_POOL */
    uint8_t family;          /* RCGC__FAM_* (next to kind: one 16-bit test) */
    uint8_t szidx;           /* size class 0..31 */
    uint8_t fresh;           /* virgin blocks read zero (never-used pages) */
    uint16_t capacity;       /* blocks this pool can hold */
    uint16_t nused;          /* blocks handed out */
    void *freeblock;         /* LIFO list of freed blocks */
    struct rcgc__pool *next; /* class list (doubly linked, NULL-ended) */
    struct rcgc__pool *prev;
    uint32_t nextoffset;     /* first virgin byte */
    uint32_t size;           /* block size in bytes */
    uint64_t live[16];       /* bit i: unit i (bytes 16i..16i+15) is live */
};

/* A run: 1..n whole segments holding one block (object > 512 B or an
** internal table); the block starts RCGC__RUN_HDR bytes in. */
struct rcgc__run {
    struct rcgc__seghdr seg; /* must be first */
    uint8_t kind;            /* RCGC__SEG_RUN_OBJ or RCGC__SEG_RUN_META */
    uint8_t pad_[3];
    uint32_t nsegs;          /* segments in the run */
    size_t bytes;            /* bytes requested (without debug framing) */
    size_t spare_;
};

/* Arena states. */
enum {
    RCGC__ARENA_UNUSED = 0, /* nothing committed; on the unused list if < hw */
    RCGC__ARENA_META = 1,   /* heap struct and arena table */
    RCGC__ARENA_ACTIVE = 2, /* pools and runs of <= 64 segments */
    RCGC__ARENA_SPAN = 3,   /* first arena of a run longer than 64 segments */
    RCGC__ARENA_SPAN_TAIL = 4 /* a later arena of such a run */
};

/*
** One descriptor per arena of the region, in the meta zone. Invariants:
**   - ACTIVE: nfree == 64 - popcount(used); 'head' is a subset of 'used' and
**     marks the first segment of every pool or run; every used segment is
**     committed; on the usable list iff nfree > 0;
**   - the usable list is sorted by ascending nfree; m->nfp2last[k] is the
**     last arena on it with nfree == k (0 = none);
**   - at most m->keep_limit ACTIVE arenas have nfree == 64: empty arenas
**     kept committed to avoid thrashing (CPython keeps one, bpo-37257; we
**     keep 1..16, doubling the limit when an arena is needed right after
**     one was returned, halving it as pool traffic goes on without that);
**   - UNUSED arenas below m->hw are on the unused list; nothing of them is
**     committed;
**   - SPAN: 'span' arenas starting here hold one run; SPAN_TAIL: 'span' is
**     the index of the SPAN arena.
*/
struct rcgc__arena {
    uint64_t used;      /* segment bitmap: in a pool or run */
    uint64_t head;      /* segment bitmap: first segment of a pool or run */
    uint64_t committed; /* segment bitmap: readable and writable */
    uint64_t dirty;     /* segment bitmap: handed out since last committed */
    uint64_t spare;     /* segment bitmap, a subset of 'head': pools made class
                        ** spares (pool.c) and not freed or taken since; such
                        ** a pool may have been used again (nused > 0) */
    uint32_t next, prev;/* usable or unused list (arena index, 0 = none) */
    uint32_t span;
    uint16_t nfree;     /* free segments (ACTIVE) */
    uint8_t state;
    uint8_t pad_[9];    /* 64 bytes: the table is indexed with a shift */
};

/* Large raw blocks (> 512 B) from the large hooks: an open-addressing set
** keyed by pointer, stored in a META run of the region. */
struct rcgc__big {
    void *ptr;    /* what the large hook returned (0 = empty slot) */
    size_t bytes; /* bytes requested by the user */
};

/* 16-byte aligned, so its size is a multiple of 16: growing this struct
** never shifts the 16-byte alignment of the members of struct rcgc_heap
** after it (the collector's list sentinels are addressed by handles). */
struct rcgc__mem {
    _Alignas(16) void *base; /* region base (segment 0 = heap's seghdr) */
    size_t region_bytes;
    rcgc_page_hooks pages;
    rcgc_large_hooks large;
    unsigned debug;        /* RCGC_MEM_DEBUG bits */

    /* Fault injection: allocation number n fails iff first <= n <= last. */
    uint64_t nallocs;
    /* Bytes handed out by allocations, cumulative (block sizes; a realloc
    ** that moves or grows counts its new size). */
    uint64_t alloc_bytes;
    uint64_t fail_first, fail_last;
    /* The allocation fast paths run while nallocs + 1 < fast_limit: it is
    ** fail_first, or 0 in debug mode (one compare covers both). */
    uint64_t fast_limit;

    /* Pools with free blocks, per family and class. */
    struct rcgc__pool *used[RCGC__NFAMS][RCGC__NCLASSES];
    /* Classes whose list may hold a kept empty pool (bit fam * 32 + cls; a
    ** hint: the pool may have been used again since). */
    uint64_t spare_mask;

    /* Arenas. Index 0 is always META, so 0 means "none" in links. */
    struct rcgc__arena *arenas;
    uint32_t narenas;      /* arenas in the region */
    uint32_t first_arena;  /* first arena after the meta zone */
    uint32_t hw;           /* arenas [first_arena, hw) have been touched */
    uint32_t usable;       /* head of the usable list */
    uint32_t unused;       /* head of the unused list */
    uint32_t nempty;       /* ACTIVE arenas with nfree == 64 */
    uint32_t keep_limit;   /* empty arenas kept committed (1..16) */
    uint32_t released_recently; /* arenas returned since one was needed */
    uint32_t pool_events;  /* segments handed out since the last decay */
    bool empty_reused;     /* a kept empty arena was taken since then */
    uint32_t nfp2last[RCGC__ARENA_SEGS + 1];
    uint64_t nfp_bits;     /* bit k-1 set iff nfp2last[k] != 0 (k = 1..64) */

    /* Large raw blocks. */
    struct rcgc__big *big;
    size_t bigcap, bigcount;

    /* Accounting (statistics read these; check verifies them). */
    /* Live blocks outside pools (runs, large raw blocks). Pool blocks are
    ** not counted per call (the fast paths stay short): their totals are
    ** the pools' nused, summed on demand (rcgc__mem_live_bytes, stats). */
    size_t live_bytes;       /* bytes of live run and large blocks */
    size_t live_blocks;
    size_t big_bytes;        /* part of live_bytes in large raw blocks */
    size_t run_bytes;        /* segments held by runs (incl. headers) */
    size_t meta_bytes;       /* part of run_bytes that holds tables */
    uint32_t arenas_active;  /* ACTIVE + SPAN + SPAN_TAIL arenas */
    uint32_t arenas_highwater;
    uint64_t arenas_allocated_total;
    uint64_t arenas_reclaimed;
    uint64_t committed_bytes; /* bytes the page hooks hold committed */
    uint64_t returned_bytes;  /* bytes decommitted, cumulative */
    uint64_t nallocs_before; /* allocations counted before the last fault_set */
};

_Static_assert(sizeof(struct rcgc__pool) == RCGC__POOL_HDR, "pool header size");
_Static_assert(sizeof(struct rcgc__run) == RCGC__RUN_HDR, "run header size");
_Static_assert(sizeof(struct rcgc__arena) == 64, "arena descriptor size");
_Static_assert(RCGC__ARENA_SEGS * 16384u == RCGC__ARENA_BYTES, "64 segments");

/* ---- allocator-internal (region.c) ---- */
struct rcgc__mem;
/* Nsegs consecutive committed segments; *fresh says they read zero. */
void *rcgc__seg_alloc(struct rcgc__mem *m, size_t nsegs, bool *fresh);
void rcgc__seg_free(struct rcgc__mem *m, void *seg, size_t nsegs);
/* The pool or run header covering region address p, or NULL when p is in
** no used segment (or outside the region). */
void *rcgc__seg_owner(const struct rcgc__mem *m, const void *p);
size_t rcgc__region_check(struct rcgc__mem *m);

/* ---- pool.c ---- */
/* Slow paths of rcgc__pool_take / rcgc__pool_give below. */
struct rcgc__pool *rcgc__pool_new(struct rcgc__mem *m, unsigned fam, unsigned cls);
void rcgc__pool_give_slow(struct rcgc__mem *m, struct rcgc__pool *p);
/* Give back the empty pools kept on class lists (rcgc_mem_trim). */
void rcgc__pool_drop_empty(struct rcgc__mem *m);
/* Free segments of the arena holding 'seg'; free segments of the arena the
** next one-segment allocation would use (64 when a new arena is needed). */
unsigned rcgc__seg_next_nfree(const struct rcgc__mem *m);
/* The first-segment bitmap of the arena holding region address 'addr'
** (bit s: a pool or run starts at segment s; 0 unless the arena is ACTIVE);
** *arena receives the arena's address. */
uint64_t rcgc__seg_heads(const struct rcgc__mem *m, const void *addr, char **arena);
/* True iff p is a live block start of this pool. */
bool rcgc__pool_is_live(const struct rcgc__pool *pool, const void *p);
/* Live bytes and blocks in pools (a walk over the arenas). */
void rcgc__pool_totals(const struct rcgc__mem *m, size_t *bytes, size_t *blocks);
void *rcgc__run_alloc(struct rcgc__mem *m, size_t bytes, unsigned kind);
void rcgc__run_free(struct rcgc__mem *m, struct rcgc__run *r);
size_t rcgc__pool_check(struct rcgc__mem *m);

/* ---- mem.c ---- */
size_t rcgc__big_check(struct rcgc__mem *m);

/* ---- memdebug.c ---- */
#define RCGC__DBG_HDR 16u  /* size (8), API id (1), 7 guard bytes */
#define RCGC__DBG_TAIL 8u  /* at least 8 guard bytes after the data */
#define RCGC__CLEANBYTE 0xCDu
#define RCGC__DEADBYTE 0xDDu
#define RCGC__FORBIDDENBYTE 0xFDu
/* Frame a fresh block of 'total' bytes for 'n' user bytes; returns the user
** pointer. 'zero': user bytes read 0 (calloc, objects), else 0xCD. */
void *rcgc__dbg_frame(void *block, size_t total, size_t n, char id, bool zero);
/* Verify the framing of user pointer p in a block of 'total' bytes before
** free/realloc through API 'id'; panics with a report if it is bad. Returns
** the requested size. */
size_t rcgc__dbg_verify(struct rcgc__mem *m, const void *p, size_t total, char id,
                        const char *op);
/* Fill a freed block (0xDD after the 8-byte link). */
void rcgc__dbg_kill(void *block, size_t total);
/* Check a free block popped for reuse (write after free); panics. */
void rcgc__dbg_check_dead(struct rcgc__mem *m, const void *block, size_t total);
/* Same, but report through output and return 1 instead of panicking. */
size_t rcgc__dbg_scan_dead(struct rcgc__mem *m, const void *block, size_t total);
size_t rcgc__dbg_scan_live(struct rcgc__mem *m, const void *user, size_t total);
/* Panic: 'p' is not a live block of this heap. */
#if defined(__GNUC__)
__attribute__((noreturn))
#endif
void rcgc__mem_bad_pointer(struct rcgc__mem *m, const void *p, const char *op,
                           const char *why);

#if defined(__GNUC__)
/* The allocation fast paths must be inlined into every caller (gcc may
** otherwise keep one out-of-line copy when a caller is itself inlined). */
#define RCGC__ALWAYS_INLINE inline __attribute__((always_inline))
#define RCGC__LIKELY(x) __builtin_expect(!!(x), 1)
#define RCGC__UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define RCGC__ALWAYS_INLINE inline
#define RCGC__LIKELY(x) (x)
#define RCGC__UNLIKELY(x) (x)
#endif

/* ---- fault injection (inline: every allocation passes here) ---- */
static inline bool rcgc__fault_hit(struct rcgc__mem *m)
{
    uint64_t n = ++m->nallocs;
    return RCGC__UNLIKELY(n >= m->fail_first) && n <= m->fail_last;
}

static inline void rcgc__mem_set_fast_limit(struct rcgc__mem *m)
{
    m->fast_limit = m->debug ? 0 : m->fail_first;
}

/* Class of an n-byte request, n <= 512: (n-1)/16, and class 0 for n = 0. */
static inline unsigned rcgc__size_class(size_t n)
{
    return (unsigned)((n + 15) >> 4) - (n != 0);
}

/* ---- pool fast paths (inline: every small allocation passes here) ---- */

/* The live-map bit of the 16-byte unit that starts at b. */
static inline unsigned rcgc__unit_of(const void *b)
{
    return (unsigned)(((uintptr_t)b & (RCGC__SEG_BYTES - 1)) >> 4);
}
static inline bool rcgc__live_get(const struct rcgc__pool *p, const void *b)
{
    unsigned u = rcgc__unit_of(b);
    return (p->live[u >> 6] >> (u & 63)) & 1;
}

static inline void *rcgc__pool_take_from(struct rcgc__mem *m, struct rcgc__pool *p, bool *zero);
/* A block of class 'cls' and family 'fam' (not counted for fault
** injection); *zero says it reads zero. NULL when out of memory. */
static inline void *rcgc__pool_take(struct rcgc__mem *m, unsigned fam, unsigned cls, bool *zero)
{
    struct rcgc__pool *p = m->used[fam][cls];
    if (RCGC__UNLIKELY(!p) && !(p = rcgc__pool_new(m, fam, cls)))
        return NULL;
    return rcgc__pool_take_from(m, p, zero);
}

/* A block from p, the head of its class list, in a heap without debug
** mode (no check of the freed block: no call on this path). */
static RCGC__ALWAYS_INLINE void *rcgc__pool_pop(struct rcgc__mem *m, struct rcgc__pool *p,
                                                bool *zero)
{
    void *b = p->freeblock;
    if (b) {
        p->freeblock = *(void **)b;
        *zero = false;
    } else {
        b = (char *)p + p->nextoffset;
        p->nextoffset += p->size;
        *zero = p->fresh;
    }
    unsigned u = rcgc__unit_of(b);
    p->live[u >> 6] |= (uint64_t)1 << (u & 63);
    m->alloc_bytes += p->size;
    if (RCGC__UNLIKELY(++p->nused == p->capacity)) {
        /* Full: off the class list (p is its head). */
        m->used[p->family][p->szidx] = p->next;
        if (p->next)
            p->next->prev = NULL;
        p->next = NULL;
    }
    return b;
}

/* A block from p, the head of its class list. */
static inline void *rcgc__pool_take_from(struct rcgc__mem *m, struct rcgc__pool *p, bool *zero)
{
    if (RCGC__UNLIKELY(m->debug) && p->freeblock)
        rcgc__dbg_check_dead(m, p->freeblock, p->size);
    return rcgc__pool_pop(m, p, zero);
}

/* The descriptor of the arena holding region address 'addr'. */
static inline struct rcgc__arena *rcgc__arena_of(const struct rcgc__mem *m, const void *addr)
{
    uintptr_t off = (uintptr_t)addr - (uintptr_t)m->base;
    return &m->arenas[off >> 20];
}
/* The bit of segment 'seg' in its arena's segment bitmaps. */
static inline uint64_t rcgc__seg_bit(const void *seg)
{
    return (uint64_t)1 << (((uintptr_t)seg >> 14) & (RCGC__ARENA_SEGS - 1));
}
/* Free segments of the arena holding segment 'seg'. */
static inline unsigned rcgc__seg_arena_nfree(const struct rcgc__mem *m, const void *seg)
{
    return rcgc__arena_of(m, seg)->nfree;
}

/* Keep empty pool p, the only pool of its class, as the class's spare. */
static inline void rcgc__pool_make_spare(struct rcgc__mem *m, struct rcgc__pool *p)
{
    m->spare_mask |= (uint64_t)1 << (p->family * RCGC__NCLASSES + p->szidx);
    rcgc__arena_of(m, p)->spare |= rcgc__seg_bit(p);
}

/* Return b, a live block of pool p (the caller checked). */
static inline void rcgc__pool_give(struct rcgc__mem *m, struct rcgc__pool *p, void *b)
{
    unsigned u = rcgc__unit_of(b);
    p->live[u >> 6] &= ~((uint64_t)1 << (u & 63));
    if (RCGC__UNLIKELY(m->debug))
        rcgc__dbg_kill(b, p->size);
    *(void **)b = p->freeblock;
    p->freeblock = b;
    unsigned used = p->nused;
    if (RCGC__LIKELY(used - 2u < (unsigned)p->capacity - 2u)) {
        p->nused = (uint16_t)(used - 1);
    } else if (used == 1 && !p->prev && !p->next &&
               (rcgc__arena_of(m, p)->head & ~rcgc__arena_of(m, p)->spare & ~rcgc__seg_bit(p))) {
        /* The class's last pool empties while its arena holds an unmarked
        ** (so busy) pool or run: it stays as the class's spare. */
        p->nused = 0;
        rcgc__pool_make_spare(m, p);
    } else {
        rcgc__pool_give_slow(m, p); /* list moves, spares; decrements nused */
    }
}


/* A block of class 'cls' and family 'fam' from the class's first pool,
** counted for fault injection; NULL when the slow path must run (no pool
** yet, fault injection armed, debug mode). The caller checked the size. */
static RCGC__ALWAYS_INLINE void *rcgc__pool_alloc_fast(struct rcgc__mem *m, unsigned fam,
                                                       unsigned cls, bool *zero)
{
    struct rcgc__pool *p = m->used[fam][cls];
    uint64_t n = m->nallocs + 1;
    if (RCGC__UNLIKELY(p == NULL || n >= m->fast_limit))
        return NULL;
    m->nallocs = n;
    return rcgc__pool_pop(m, p, zero); /* fast_limit ruled out debug mode */
}

/* The pool of family 'fam' whose live block starts at p, p being inside a
** used pool segment of this heap (the caller knows): a 16-bit header test
** and one live-map bit; NULL for another family, a run, a freed or interior
** pointer. */
static inline struct rcgc__pool *rcgc__pool_of_block(const void *p, unsigned fam)
{
    struct rcgc__pool *pool = (struct rcgc__pool *)((uintptr_t)p & ~(uintptr_t)(RCGC__SEG_BYTES - 1));
    uint16_t tag;
    memcpy(&tag, &pool->kind, sizeof tag); /* kind and family */
    if (tag != (uint16_t)(RCGC__SEG_POOL | fam << 8) || !rcgc__live_get(pool, p))
        return NULL;
    return pool;
}

/* Zero a block of class 'cls': constant sizes for the common classes, a
** few inline stores instead of a call to memset. */
static inline void rcgc__zero_block(void *b, unsigned cls)
{
    switch (cls) {
    case 0: memset(b, 0, 16); break;
    case 1: memset(b, 0, 32); break;
    case 2: memset(b, 0, 48); break;
    case 3: memset(b, 0, 64); break;
    case 4: memset(b, 0, 80); break;
    case 5: memset(b, 0, 96); break;
    case 6: memset(b, 0, 112); break;
    case 7: memset(b, 0, 128); break;
    default: memset(b, 0, (cls + 1) * RCGC__ALIGN); break;
    }
}

/* Object blocks, inline fast paths (rcgc_new and death by refcount); the
** out-of-line rcgc__mem_obj_alloc/free handle everything else. */
void *rcgc__mem_obj_alloc(struct rcgc__mem *m, size_t bytes);
void rcgc__mem_obj_free(struct rcgc__mem *m, void *p);
static RCGC__ALWAYS_INLINE void *rcgc__mem_obj_alloc_fast(struct rcgc__mem *m, size_t bytes)
{
    if (RCGC__LIKELY(bytes <= RCGC__SMALL_MAX)) {
        unsigned cls = rcgc__size_class(bytes);
        bool zero;
        void *b = rcgc__pool_alloc_fast(m, RCGC__FAM_OBJ, cls, &zero);
        if (RCGC__LIKELY(b != NULL)) {
            if (!zero)
                rcgc__zero_block(b, cls);
            return b;
        }
    }
    return rcgc__mem_obj_alloc(m, bytes);
}
/* 'p' is the header of an object this heap allocated (the caller checked
** its type): the pool is found by masking, without the arena table. */
static RCGC__ALWAYS_INLINE void rcgc__mem_obj_free_fast(struct rcgc__mem *m, void *p)
{
    struct rcgc__pool *pool;
    if (RCGC__LIKELY(!m->debug && (pool = rcgc__pool_of_block(p, RCGC__FAM_OBJ)) != NULL)) {
        rcgc__pool_give(m, pool, p);
        return;
    }
    rcgc__mem_obj_free(m, p);
}

/* The pool of family 'fam' whose live block starts at p, or NULL when p is
** not such a block (NULL, foreign, freed, interior, other family): one
** arena-table load, one 16-bit header test, one live-map bit. */
static inline struct rcgc__pool *rcgc__pool_of_live(const struct rcgc__mem *m, const void *p,
                                                    unsigned fam)
{
    uintptr_t off = (uintptr_t)p - (uintptr_t)m->base;
    if ((off & (RCGC__ALIGN - 1)) != 0 || off >= m->region_bytes)
        return NULL;
    const struct rcgc__arena *a = &m->arenas[off >> 20];
    _Static_assert(sizeof *a == 64, "indexing by shift");
    unsigned s = (unsigned)(off >> 14) & (RCGC__ARENA_SEGS - 1);
    if (!((a->head >> s) & 1)) /* 'head' is 0 unless the arena is ACTIVE */
        return NULL;
    return rcgc__pool_of_block(p, fam);
}

#endif
