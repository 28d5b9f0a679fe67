/*
** mem.c -- the public raw API (rcgc_malloc & co.), the table of large raw
** blocks that come from the large hooks, fault injection and the allocator's
** whole-layer check. Blocks <= 512 B come from raw-family pools (pool.c);
** larger ones from the large hooks, tracked exactly so ownership is exact.
*/
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "trace.h" /* allocation tracing hooks */

#define SEG RCGC__SEG_BYTES

/* ===================================================================== */
/* Default large hooks                                                    */
/* ===================================================================== */

static void *sys_malloc(void *ctx, size_t n)
{
    (void)ctx;
    return malloc(n ? n : 1);
}

static void *sys_realloc(void *ctx, void *p, size_t n)
{
    (void)ctx;
    return realloc(p, n ? n : 1);
}

static void sys_free(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

void rcgc_large_hooks_default(rcgc_large_hooks *out)
{
    out->ctx = NULL;
    out->malloc = sys_malloc;
    out->realloc = sys_realloc;
    out->free = sys_free;
}

/* ===================================================================== */
/* The large-block table: open addressing, linear probing, load <= 1/2    */
/* ===================================================================== */

static size_t big_home(const struct rcgc__mem *m, const void *p)
{
    uint64_t h = (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 29) & (m->bigcap - 1);
}

static struct rcgc__big *big_find(const struct rcgc__mem *m, const void *p)
{
    if (!m->bigcount || !p)
        return NULL;
    for (size_t i = big_home(m, p);; i = (i + 1) & (m->bigcap - 1)) {
        if (m->big[i].ptr == p)
            return &m->big[i];
        if (!m->big[i].ptr)
            return NULL;
    }
}

static void big_put(struct rcgc__mem *m, void *p, size_t bytes)
{
    size_t i = big_home(m, p);
    while (m->big[i].ptr)
        i = (i + 1) & (m->bigcap - 1);
    m->big[i].ptr = p;
    m->big[i].bytes = bytes;
    m->bigcount++;
}

/* Remove slot e, shifting later members of its cluster back. */
static void big_del(struct rcgc__mem *m, struct rcgc__big *e)
{
    size_t mask = m->bigcap - 1;
    size_t i = (size_t)(e - m->big);
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->big[j].ptr)
            break;
        size_t k = big_home(m, m->big[j].ptr);
        /* Move j to i unless its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            m->big[i] = m->big[j];
            i = j;
        }
    }
    m->big[i].ptr = NULL;
    m->big[i].bytes = 0;
    m->bigcount--;
}

/* Room for one more entry; false when the table cannot grow. */
static bool big_reserve(struct rcgc__mem *m)
{
    if ((m->bigcount + 1) * 2 <= m->bigcap)
        return true;
    if (rcgc__fault_hit(m))
        return false;
    size_t cap = m->bigcap ? m->bigcap * 2 : RCGC__BIG_INITIAL;
    struct rcgc__run *r = rcgc__run_alloc(m, cap * sizeof(struct rcgc__big), RCGC__SEG_RUN_META);
    if (!r)
        return false;
    struct rcgc__big *old = m->big;
    size_t oldcap = m->bigcap;
    m->big = (struct rcgc__big *)(r + 1);
    m->bigcap = cap;
    m->bigcount = 0;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].ptr)
            big_put(m, old[i].ptr, old[i].bytes);
    if (old)
        rcgc__run_free(m, (struct rcgc__run *)old - 1);
    return true;
}

static void *big_alloc(struct rcgc__mem *m, size_t bytes)
{
    if (!big_reserve(m))
        return NULL;
    void *p = m->large.malloc(m->large.ctx, bytes);
    if (!p)
        return NULL;
    big_put(m, p, bytes);
    m->big_bytes += bytes;
    m->alloc_bytes += bytes;
    m->live_bytes += bytes;
    m->live_blocks++;
    return p;
}

static void big_release(struct rcgc__mem *m, struct rcgc__big *e)
{
    void *p = e->ptr;
    m->big_bytes -= e->bytes;
    m->live_bytes -= e->bytes;
    m->live_blocks--;
    big_del(m, e);
    m->large.free(m->large.ctx, p);
}

size_t rcgc__big_check(struct rcgc__mem *m)
{
    size_t bad = 0, n = 0, bytes = 0;
    for (size_t i = 0; i < m->bigcap; i++) {
        if (!m->big[i].ptr)
            continue;
        n++;
        bytes += m->big[i].bytes;
        if (big_find(m, m->big[i].ptr) != &m->big[i]) {
            rcgc_heap_printf((rcgc_heap *)m, "rcgc: allocator: large block %p unreachable in its table\n",
                             m->big[i].ptr);
            bad++;
        }
        if (m->debug)
            bad += rcgc__dbg_scan_live(m, (char *)m->big[i].ptr + RCGC__DBG_HDR, m->big[i].bytes);
    }
    if (n != m->bigcount || bytes != m->big_bytes) {
        rcgc_heap_printf((rcgc_heap *)m,
                         "rcgc: allocator: large table holds %zu blocks / %zu bytes, counters say %zu / %zu\n",
                         n, bytes, m->bigcount, m->big_bytes);
        bad++;
    }
    return bad;
}

/* ===================================================================== */
/* Finding a raw block                                                    */
/* ===================================================================== */

enum { FOUND_NONE, FOUND_POOL, FOUND_BIG };

struct found {
    int where;
    struct rcgc__pool *pool;
    struct rcgc__big *big;
    void *block; /* block start (before debug framing) */
    size_t total; /* block bytes */
};

static bool in_region(const struct rcgc__mem *m, const void *p)
{
    return (uintptr_t)p - (uintptr_t)m->base < m->region_bytes;
}

/* Locate the live raw block whose user pointer is p, or panic naming what
** is wrong. */
static struct found find_raw(struct rcgc__mem *m, const void *p, const char *op)
{
    struct found f = {FOUND_NONE, NULL, NULL, NULL, 0};
    const char *b = m->debug ? (const char *)p - RCGC__DBG_HDR : (const char *)p;
    if (in_region(m, p)) {
        struct rcgc__pool *pool = rcgc__pool_of_live(m, b, RCGC__FAM_RAW);
        if (!pool)
            rcgc__mem_bad_pointer(m, p, op, NULL);
        f.where = FOUND_POOL;
        f.pool = pool;
        f.block = (void *)b;
        f.total = pool->size;
        return f;
    }
    struct rcgc__big *e = big_find(m, b);
    if (!e)
        rcgc__mem_bad_pointer(m, p, op, NULL);
    f.where = FOUND_BIG;
    f.big = e;
    f.block = (void *)b;
    f.total = e->bytes;
    return f;
}

/* ===================================================================== */
/* The raw API                                                            */
/* ===================================================================== */

static void *raw_alloc(struct rcgc__mem *m, size_t n, bool zero)
{
    if (m->debug) {
        if (n > SIZE_MAX - RCGC__DBG_HDR - RCGC__DBG_TAIL)
            return NULL;
        size_t total = RCGC__DBG_HDR + n + RCGC__DBG_TAIL;
        void *b;
        if (total <= RCGC__SMALL_MAX) {
            bool zero_;
            b = rcgc__pool_take(m, RCGC__FAM_RAW, rcgc__size_class(total), &zero_);
            if (b)
                total = ((struct rcgc__pool *)((uintptr_t)b & ~(SEG - 1)))->size;
        } else {
            b = big_alloc(m, total);
        }
        return b ? rcgc__dbg_frame(b, total, n, 'r', zero) : NULL;
    }
    void *b;
    if (n <= RCGC__SMALL_MAX) {
        bool zero_;
        b = rcgc__pool_take(m, RCGC__FAM_RAW, rcgc__size_class(n), &zero_);
    } else {
        b = big_alloc(m, n);
    }
    if (b && zero)
        memset(b, 0, n);
    return b;
}

/* Allocation tracing (trace.c): when the tracer cannot record a new block
** the block is given back and the call fails, as with tracemalloc. One
** predictable branch when not tracing. */
static void *traced(rcgc_heap *heap, void *p, size_t bytes)
{
    if (p && heap->trace && rcgc__trace_alloc_hook(heap, p, bytes) < 0) {
        (rcgc_free)(heap, p);
        return NULL;
    }
    return p;
}

/* Parenthesised names: rcgc.h makes rcgc_malloc/calloc/realloc macros that
** capture the call site (trace.c's *_at); the functions stay exported. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void *malloc_slow(rcgc_heap *heap, size_t bytes)
{
    struct rcgc__mem *m = &heap->mem;
    if (rcgc__fault_hit(m))
        return NULL;
    return traced(heap, raw_alloc(m, bytes, false), bytes);
}

/* The fast path: a small block from the head pool of its class, no debug
** framing, no tracing, no fault pending. Everything else: malloc_slow. */
static RCGC__ALWAYS_INLINE void *malloc_inline(rcgc_heap *heap, size_t bytes)
{
    struct rcgc__mem *m = &heap->mem;
    if (RCGC__LIKELY(bytes <= RCGC__SMALL_MAX && !heap->trace)) {
        bool zero;
        void *b = rcgc__pool_alloc_fast(m, RCGC__FAM_RAW, rcgc__size_class(bytes), &zero);
        if (RCGC__LIKELY(b != NULL))
            return b;
    }
    return malloc_slow(heap, bytes);
}

void *(rcgc_malloc)(rcgc_heap *heap, size_t bytes)
{
    return malloc_inline(heap, bytes);
}

/* The macro rcgc_malloc's entry point: the call site matters only when
** tracing (trace.c stores it for the call). */
void *rcgc_malloc_at(rcgc_heap *heap, size_t bytes, const char *file, int line,
                     const char *func)
{
    if (RCGC__UNLIKELY(heap->trace != NULL))
        return rcgc__trace_malloc_at(heap, bytes, file, line, func,
                                     (uintptr_t)__builtin_return_address(0));
    return malloc_inline(heap, bytes);
}

void *(rcgc_calloc)(rcgc_heap *heap, size_t count, size_t size)
{
    struct rcgc__mem *m = &heap->mem;
    if (rcgc__fault_hit(m))
        return NULL;
    if (size && count > SIZE_MAX / size)
        return NULL;
    return traced(heap, raw_alloc(m, count * size, true), count * size);
}

static void raw_free_found(struct rcgc__mem *m, struct found *f)
{
    if (f->where == FOUND_POOL) {
        rcgc__pool_give(m, f->pool, f->block);
    } else {
        big_release(m, f->big);
    }
}

#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void free_slow(rcgc_heap *heap, void *ptr)
{
    if (!ptr)
        return;
    struct rcgc__mem *m = &heap->mem;
    struct found f = find_raw(m, ptr, "rcgc_free");
    if (m->debug)
        rcgc__dbg_verify(m, ptr, f.total, 'r', "rcgc_free");
    if (heap->trace) /* allocation tracing */
        rcgc__trace_on_free(heap, ptr);
    raw_free_found(m, &f);
}

/* The fast path: a live raw pool block, no debug framing, no tracing. */
void rcgc_free(rcgc_heap *heap, void *ptr)
{
    struct rcgc__mem *m = &heap->mem;
    struct rcgc__pool *pool;
    if (RCGC__LIKELY(!m->debug && !heap->trace &&
                     (pool = rcgc__pool_of_live(m, ptr, RCGC__FAM_RAW)) != NULL)) {
        rcgc__pool_give(m, pool, ptr);
        return;
    }
    free_slow(heap, ptr);
}

static void *realloc_untraced(rcgc_heap *heap, void *ptr, size_t bytes)
{
    struct rcgc__mem *m = &heap->mem;
    if (!ptr)
        return (rcgc_malloc)(heap, bytes);
    struct found f = find_raw(m, ptr, "rcgc_realloc");
    size_t have = f.total;
    if (m->debug)
        have = rcgc__dbg_verify(m, ptr, f.total, 'r', "rcgc_realloc");
    if (rcgc__fault_hit(m))
        return NULL;
    if (!m->debug) {
        if (f.where == FOUND_POOL) {
            /* CPython's rule: keep the block while the new size still uses
            ** more than 3/4 of it (avoids copying on small shrinks). */
            if (bytes <= have && 4 * bytes > 3 * have)
                return ptr;
        } else {
            /* A large block stays with the large allocator (never adopted
            ** by a pool: CPython bug 1185883). */
            void *np = m->large.realloc(m->large.ctx, ptr, bytes);
            if (!np)
                return NULL;
            size_t old = f.big->bytes;
            big_del(m, f.big);
            big_put(m, np, bytes);
            m->big_bytes = m->big_bytes - old + bytes;
            m->alloc_bytes += bytes;
            m->live_bytes = m->live_bytes - old + bytes;
            return np;
        }
    }
    void *np = raw_alloc(m, bytes, false);
    if (!np)
        return NULL;
    /* raw_alloc may have grown the large table: find the old block again. */
    f = find_raw(m, ptr, "rcgc_realloc");
    memcpy(np, ptr, have < bytes ? have : bytes);
    if (m->debug)
        rcgc__dbg_verify(m, ptr, f.total, 'r', "rcgc_realloc");
    raw_free_found(m, &f);
    return np;
}

void *(rcgc_realloc)(rcgc_heap *heap, void *ptr, size_t bytes)
{
    void *np = realloc_untraced(heap, ptr, bytes);
    if (np && ptr && heap->trace) /* allocation tracing: move the trace */
        rcgc__trace_on_realloc(heap, ptr, np, bytes);
    return np;
}

size_t rcgc_usable_size(rcgc_heap *heap, const void *ptr)
{
    if (!ptr)
        return 0;
    struct rcgc__mem *m = &heap->mem;
    struct found f = find_raw(m, ptr, "rcgc_usable_size");
    if (m->debug)
        return *(const size_t *)f.block;
    return f.total;
}

bool rcgc_owns(rcgc_heap *heap, const void *ptr)
{
    struct rcgc__mem *m = &heap->mem;
    if (!ptr)
        return false;
    const char *b = m->debug ? (const char *)ptr - RCGC__DBG_HDR : (const char *)ptr;
    if (in_region(m, ptr)) {
        struct rcgc__pool *pool = rcgc__seg_owner(m, b);
        if (pool && pool->kind == RCGC__SEG_POOL && pool->family == RCGC__FAM_RAW &&
            rcgc__pool_is_live(pool, b))
            return true;
        /* An object: ptr is just after its 16-byte header. */
        return ((uintptr_t)ptr & (RCGC__ALIGN - 1)) == 0 &&
               rcgc__mem_is_obj_block(m, (const char *)ptr - sizeof(rcgc__head));
    }
    return big_find(m, b) != NULL;
}

/* ===================================================================== */
/* Fault injection                                                        */
/* ===================================================================== */

void rcgc_fault_set(rcgc_heap *heap, uint64_t first, uint64_t last)
{
    struct rcgc__mem *m = &heap->mem;
    m->nallocs_before += m->nallocs;
    m->nallocs = 0;
    m->fail_first = first ? first : 1;
    m->fail_last = last ? last : UINT64_MAX;
    rcgc__mem_set_fast_limit(m);
}

void rcgc_fault_clear(rcgc_heap *heap)
{
    heap->mem.fail_first = UINT64_MAX;
    heap->mem.fail_last = 0;
    rcgc__mem_set_fast_limit(&heap->mem);
}

uint64_t rcgc_fault_allocations(rcgc_heap *heap)
{
    return heap->mem.nallocs;
}

uint64_t rcgc_allocated_bytes(const rcgc_heap *heap)
{
    return heap->mem.alloc_bytes;
}

/* ===================================================================== */
/* The whole layer's invariants                                           */
/* ===================================================================== */

size_t rcgc__mem_check(struct rcgc__mem *m)
{
    size_t bad = rcgc__region_check(m);
    bad += rcgc__big_check(m);
    bad += rcgc__pool_check(m);
    return bad;
}
