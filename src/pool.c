/*
** pool.c -- size classes, pools and page runs: carving blocks out of the
** segments region.c hands out, the object-block entry points of mem.h, and
** the pool invariants. Blocks are carved lazily (virgin pointer + LIFO free
** list); the free-list link uses only the first 8 bytes of a freed block.
*/
#include <string.h>

#include "heap.h"

#define SEG RCGC__SEG_BYTES

bool rcgc__pool_is_live(const struct rcgc__pool *pool, const void *p)
{
    if (((uintptr_t)p & (RCGC__ALIGN - 1)) != 0)
        return false;
    uintptr_t off = (uintptr_t)p - (uintptr_t)pool;
    if (off < RCGC__POOL_HDR || off >= SEG)
        return false;
    return rcgc__live_get(pool, p);
}

/* Blocks per pool. An object pool keeps 16 bytes free at its end so that
** the object after a 16-byte header block never lies in the next segment
** (rcgc__mem_heap_of masks the object pointer). Only the 16-byte object
** class loses a block: 16208 = 16 x 1013 and 1013 is prime. */
static unsigned pool_capacity(unsigned fam, unsigned size)
{
    unsigned room = (unsigned)SEG - RCGC__POOL_HDR - (fam == RCGC__FAM_OBJ ? 16u : 0u);
    return room / size;
}

static void pool_unlink(struct rcgc__mem *m, struct rcgc__pool *p);


/* A kept empty pool of another class, unlinked, or NULL. Only one in an
** arena at least as full as the one a new segment would come from, so
** spares never defeat the fullest-arena rule. Stale hints are dropped. */
static struct rcgc__pool *steal_spare(struct rcgc__mem *m)
{
    unsigned want = rcgc__seg_next_nfree(m);
    for (uint64_t mask = m->spare_mask; mask; mask &= mask - 1) {
        unsigned bit = (unsigned)__builtin_ctzll(mask);
        struct rcgc__pool *p = m->used[bit / RCGC__NCLASSES][bit % RCGC__NCLASSES];
        while (p && p->nused)
            p = p->next;
        if (!p) {
            m->spare_mask &= ~((uint64_t)1 << bit);
            continue;
        }
        if (rcgc__seg_arena_nfree(m, p) <= want) {
            m->spare_mask &= ~((uint64_t)1 << bit);
            rcgc__arena_of(m, p)->spare &= ~rcgc__seg_bit(p);
            pool_unlink(m, p);
            return p;
        }
    }
    return NULL;
}

struct rcgc__pool *rcgc__pool_new(struct rcgc__mem *m, unsigned fam, unsigned cls)
{
    bool fresh;
    struct rcgc__pool *p = steal_spare(m);
    if (p) {
        /* Its live map is all zero already; its carved blocks are free. */
        fresh = false;
    } else {
        if (!(p = rcgc__seg_alloc(m, 1, &fresh)))
            return NULL;
        memset(p->live, 0, sizeof p->live);
    }
    p->seg.heap = (rcgc_heap *)m;
    p->kind = RCGC__SEG_POOL;
    p->szidx = (uint8_t)cls;
    p->family = (uint8_t)fam;
    p->fresh = fresh;
    p->size = (cls + 1) * RCGC__ALIGN;
    p->capacity = (uint16_t)pool_capacity(fam, p->size);
    p->nused = 0;
    p->freeblock = NULL;
    p->nextoffset = RCGC__POOL_HDR;
    p->prev = NULL;
    p->next = m->used[fam][cls];
    if (p->next)
        p->next->prev = p;
    m->used[fam][cls] = p;
    return p;
}

static void pool_unlink(struct rcgc__mem *m, struct rcgc__pool *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        m->used[p->family][p->szidx] = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->next = p->prev = NULL;
}

/* True iff a segment of the arena holding 'seg', other than 'except',
** starts a run or a pool with live blocks. Every pool or run whose segment
** is not marked spare is busy (an empty pool that is not a spare goes back
** at once), so only marked pools are read; a marked pool found in use again
** is a spare no more and loses its mark. */
static bool arena_busy(struct rcgc__mem *m, const void *seg, const void *except)
{
    char *arena;
    uint64_t heads = rcgc__seg_heads(m, seg, &arena) & ~(except ? rcgc__seg_bit(except) : 0);
    struct rcgc__arena *a = rcgc__arena_of(m, seg);
    if (heads & ~a->spare)
        return true;
    for (uint64_t h = heads & a->spare; h; h &= h - 1) {
        unsigned s = (unsigned)__builtin_ctzll(h);
        if (((const struct rcgc__pool *)(arena + (size_t)s * SEG))->nused != 0) {
            a->spare &= ~((uint64_t)1 << s);
            return true;
        }
    }
    return false;
}

/* Free segments; if that leaves only empty (spare) pools in the arena, free
** them too: spares never keep an arena from emptying. */
static void release_segs(struct rcgc__mem *m, void *seg, size_t nsegs)
{
    rcgc__seg_free(m, seg, nsegs);
    if (arena_busy(m, seg, NULL))
        return;
    char *arena;
    for (uint64_t heads = rcgc__seg_heads(m, seg, &arena); heads; heads &= heads - 1) {
        struct rcgc__pool *p = (struct rcgc__pool *)(arena + (size_t)__builtin_ctzll(heads) * SEG);
        pool_unlink(m, p);
        rcgc__seg_free(m, p, 1);
    }
}

/* rcgc__pool_give found p full (it moves to the front of its class list,
** so the next allocation reuses the block just freed) or about to be empty.
** An empty pool goes back to its arena unless it is the only pool of its
** class and its arena holds live blocks elsewhere: that one stays on its
** list (a "spare"), so a program that allocates and frees a few blocks of
** one size in a loop does not set up and tear down a pool each time. At
** most one spare per class (64 x 16 KiB); a class that needs a new pool
** takes another class's spare first (as CPython reuses an arena's free
** pools), an arena holding nothing but spares gives them back and empties,
** and rcgc_mem_trim gives every spare back. */
void rcgc__pool_give_slow(struct rcgc__mem *m, struct rcgc__pool *p)
{
    if (p->nused == p->capacity) {
        p->prev = NULL;
        p->next = m->used[p->family][p->szidx];
        if (p->next)
            p->next->prev = p;
        m->used[p->family][p->szidx] = p;
    }
    if (--p->nused != 0)
        return;
    if (!p->prev && !p->next && arena_busy(m, p, p)) {
        rcgc__pool_make_spare(m, p);
        return;
    }
    pool_unlink(m, p);
    release_segs(m, p, 1);
}

void rcgc__pool_drop_empty(struct rcgc__mem *m)
{
    for (unsigned f = 0; f < RCGC__NFAMS; f++)
        for (unsigned c = 0; c < RCGC__NCLASSES; c++)
            for (struct rcgc__pool *p = m->used[f][c], *next; p; p = next) {
                next = p->next;
                if (p->nused == 0) {
                    pool_unlink(m, p);
                    rcgc__seg_free(m, p, 1);
                }
            }
    m->spare_mask = 0;
}

static inline void *pool_alloc(struct rcgc__mem *m, unsigned fam, unsigned cls, bool *zero)
{
    return rcgc__pool_take(m, fam, cls, zero);
}

/* ===================================================================== */
/* Runs                                                                   */
/* ===================================================================== */

void *rcgc__run_alloc(struct rcgc__mem *m, size_t bytes, unsigned kind)
{
    if (bytes > RCGC__REGION_MAX)
        return NULL;
    size_t nsegs = (RCGC__RUN_HDR + bytes + SEG - 1) / SEG;
    bool fresh;
    struct rcgc__run *r = rcgc__seg_alloc(m, nsegs, &fresh);
    if (!r)
        return NULL;
    r->seg.heap = (rcgc_heap *)m;
    r->kind = (uint8_t)kind;
    r->nsegs = (uint32_t)nsegs;
    r->bytes = bytes;
    if (!fresh)
        memset(r + 1, 0, nsegs * SEG - RCGC__RUN_HDR);
    size_t usable = nsegs * SEG - RCGC__RUN_HDR;
    m->run_bytes += nsegs * SEG;
    if (kind == RCGC__SEG_RUN_META) {
        m->meta_bytes += nsegs * SEG;
    } else {
        m->alloc_bytes += usable;
        m->live_bytes += usable;
        m->live_blocks++;
    }
    return r;
}

void rcgc__run_free(struct rcgc__mem *m, struct rcgc__run *r)
{
    size_t nsegs = r->nsegs;
    m->run_bytes -= nsegs * SEG;
    if (r->kind == RCGC__SEG_RUN_META) {
        m->meta_bytes -= nsegs * SEG;
    } else {
        m->live_bytes -= nsegs * SEG - RCGC__RUN_HDR;
        m->live_blocks--;
    }
    r->kind = 0;
    release_segs(m, r, nsegs);
}

/* ===================================================================== */
/* Object blocks (mem.h)                                                  */
/* ===================================================================== */

static size_t dbg_total(size_t bytes) { return RCGC__DBG_HDR + bytes + RCGC__DBG_TAIL; }

void *rcgc__mem_obj_alloc(struct rcgc__mem *m, size_t bytes)
{
    if (rcgc__fault_hit(m))
        return NULL;
    if (m->debug) {
        if (bytes > RCGC__REGION_MAX)
            return NULL;
        size_t total = dbg_total(bytes);
        void *b;
        if (total <= RCGC__SMALL_MAX) {
            bool zero;
            b = pool_alloc(m, RCGC__FAM_OBJ, rcgc__size_class(total), &zero);
            if (b)
                total = ((struct rcgc__pool *)((uintptr_t)b & ~(SEG - 1)))->size;
        } else {
            struct rcgc__run *r = rcgc__run_alloc(m, total, RCGC__SEG_RUN_OBJ);
            b = r ? (void *)(r + 1) : NULL;
            if (r)
                total = r->nsegs * SEG - RCGC__RUN_HDR;
        }
        return b ? rcgc__dbg_frame(b, total, bytes, 'o', true) : NULL;
    }
    if (bytes <= RCGC__SMALL_MAX) {
        unsigned cls = rcgc__size_class(bytes);
        bool zero;
        void *b = pool_alloc(m, RCGC__FAM_OBJ, cls, &zero);
        if (b && !zero)
            rcgc__zero_block(b, cls);
        return b;
    }
    struct rcgc__run *r = rcgc__run_alloc(m, bytes, RCGC__SEG_RUN_OBJ);
    return r ? (void *)(r + 1) : NULL;
}

/* The pool or run header of an object block (p is trusted to be one). */
static inline struct rcgc__seghdr *obj_seg(const void *p)
{
    return (struct rcgc__seghdr *)((uintptr_t)p & ~(uintptr_t)(SEG - 1));
}

static inline uint8_t seg_kind(const struct rcgc__seghdr *s)
{
    return ((const struct rcgc__pool *)s)->kind;
}

void rcgc__mem_obj_free(struct rcgc__mem *m, void *p)
{
    if (RCGC__LIKELY(!m->debug)) {
        struct rcgc__pool *pool = rcgc__pool_of_live(m, p, RCGC__FAM_OBJ);
        if (RCGC__LIKELY(pool != NULL)) {
            rcgc__pool_give(m, pool, p);
            return;
        }
    }
    if (!rcgc__mem_is_obj_block(m, p))
        rcgc__mem_bad_pointer(m, p, "object free", NULL);
    struct rcgc__seghdr *s = obj_seg(p);
    void *b = m->debug ? (char *)p - RCGC__DBG_HDR : p;
    if (seg_kind(s) == RCGC__SEG_POOL) {
        struct rcgc__pool *pool = (struct rcgc__pool *)s;
        if (m->debug)
            rcgc__dbg_verify(m, p, pool->size, 'o', "object free");
        rcgc__pool_give(m, pool, b);
    } else {
        struct rcgc__run *r = (struct rcgc__run *)s;
        if (m->debug)
            rcgc__dbg_verify(m, p, r->nsegs * SEG - RCGC__RUN_HDR, 'o', "object free");
        rcgc__run_free(m, r);
    }
}

size_t rcgc__mem_obj_size(struct rcgc__mem *m, const void *p)
{
    if (m->debug)
        return *(const size_t *)((const char *)p - RCGC__DBG_HDR);
    const struct rcgc__seghdr *s = obj_seg(p);
    if (seg_kind(s) == RCGC__SEG_POOL)
        return ((const struct rcgc__pool *)s)->size;
    return ((const struct rcgc__run *)s)->nsegs * SEG - RCGC__RUN_HDR;
}

bool rcgc__mem_is_obj_block(struct rcgc__mem *m, const void *p)
{
    const void *b = m->debug ? (const char *)p - RCGC__DBG_HDR : p;
    const struct rcgc__seghdr *s = rcgc__seg_owner(m, b);
    if (!s || s != obj_seg(b))
        return false;
    if (seg_kind(s) == RCGC__SEG_POOL) {
        const struct rcgc__pool *pool = (const struct rcgc__pool *)s;
        return pool->family == RCGC__FAM_OBJ && rcgc__pool_is_live(pool, b);
    }
    return seg_kind(s) == RCGC__SEG_RUN_OBJ && b == (const void *)((const struct rcgc__run *)s + 1);
}

/* Live bytes and blocks of every pool: a walk over the used segments. */
void rcgc__pool_totals(const struct rcgc__mem *m, size_t *bytes, size_t *blocks)
{
    size_t b = 0, n = 0;
    for (uint32_t i = m->first_arena; i < m->hw; i++) {
        const struct rcgc__arena *a = &m->arenas[i];
        if (a->state != RCGC__ARENA_ACTIVE)
            continue;
        const char *abase = (const char *)m->base + (size_t)i * RCGC__ARENA_BYTES;
        for (uint64_t h = a->head; h; h &= h - 1) {
            const struct rcgc__pool *p =
                (const struct rcgc__pool *)(abase + (size_t)__builtin_ctzll(h) * SEG);
            if (p->kind == RCGC__SEG_POOL) {
                b += (size_t)p->nused * p->size;
                n += p->nused;
            }
        }
    }
    *bytes = b;
    *blocks = n;
}

size_t rcgc__mem_live_bytes(const struct rcgc__mem *m)
{
    size_t bytes, blocks;
    rcgc__pool_totals(m, &bytes, &blocks);
    return bytes + m->live_bytes;
}

/* ===================================================================== */
/* Invariants                                                             */
/* ===================================================================== */

#define BAD(...)                                                              \
    do {                                                                      \
        rcgc_heap_printf((rcgc_heap *)m, "rcgc: allocator: " __VA_ARGS__);   \
        bad++;                                                                \
    } while (0)

struct totals {
    size_t live_bytes, live_blocks, listed, runs, meta;
};

static size_t check_pool(struct rcgc__mem *m, struct rcgc__pool *p, struct totals *t)
{
    size_t bad = 0;
    if (p->seg.heap != (rcgc_heap *)m)
        BAD("pool %p: wrong heap %p\n", (void *)p, (void *)p->seg.heap);
    if (p->szidx >= RCGC__NCLASSES || p->family >= RCGC__NFAMS ||
        p->size != (p->szidx + 1u) * RCGC__ALIGN ||
        p->capacity != pool_capacity(p->family, p->size)) {
        BAD("pool %p: bad class %u / family %u / size %u / capacity %u\n", (void *)p,
            p->szidx, p->family, p->size, p->capacity);
        return bad;
    }
    if (p->nextoffset < RCGC__POOL_HDR ||
        p->nextoffset > RCGC__POOL_HDR + (size_t)p->capacity * p->size ||
        (p->nextoffset - RCGC__POOL_HDR) % p->size) {
        BAD("pool %p: bad virgin offset %u\n", (void *)p, p->nextoffset);
        return bad;
    }
    size_t carved = (p->nextoffset - RCGC__POOL_HDR) / p->size;
    size_t nlive = 0;
    for (unsigned w = 0; w < 16; w++)
        nlive += (size_t)__builtin_popcountll(p->live[w]);
    if (nlive != p->nused)
        BAD("pool %p: nused %u, live map says %zu\n", (void *)p, p->nused, nlive);
    /* Free list: exactly the carved non-live blocks. */
    size_t nfree = 0;
    for (char *b = p->freeblock; b; b = *(char **)b) {
        uintptr_t off = (uintptr_t)b - (uintptr_t)p;
        if (off < RCGC__POOL_HDR || off >= p->nextoffset || (off - RCGC__POOL_HDR) % p->size) {
            BAD("pool %p: free list holds %p, not a carved block\n", (void *)p, (void *)b);
            break;
        }
        if (rcgc__live_get(p, b)) {
            BAD("pool %p: free block %p is marked live\n", (void *)p, (void *)b);
            break;
        }
        if (++nfree > carved) {
            BAD("pool %p: free list loops\n", (void *)p);
            break;
        }
        if (m->debug)
            bad += rcgc__dbg_scan_dead(m, b, p->size);
    }
    if (nfree + p->nused != carved)
        BAD("pool %p: %zu free + %u used != %zu carved\n", (void *)p, nfree, p->nused, carved);
    for (size_t k = 0; k < carved; k++) {
        char *b = (char *)p + RCGC__POOL_HDR + k * p->size;
        if (m->debug && rcgc__live_get(p, b))
            bad += rcgc__dbg_scan_live(m, b + RCGC__DBG_HDR, p->size);
    }
    if (p->nused < p->capacity)
        t->listed++;
    return bad;
}

/* Add a run to the totals; in debug mode check its block's framing. */
static size_t count_run(struct rcgc__mem *m, struct rcgc__run *r, struct totals *t)
{
    size_t bytes = r->nsegs * SEG;
    t->runs += bytes;
    if (r->kind == RCGC__SEG_RUN_META) {
        t->meta += bytes;
        return 0;
    }
    t->live_bytes += bytes - RCGC__RUN_HDR;
    t->live_blocks++;
    if (m->debug)
        return rcgc__dbg_scan_live(m, (char *)(r + 1) + RCGC__DBG_HDR, bytes - RCGC__RUN_HDR);
    return 0;
}

size_t rcgc__pool_check(struct rcgc__mem *m)
{
    size_t bad = 0;
    struct totals t = {0, 0, 0, 0, 0};
    for (uint32_t i = m->first_arena; i < m->hw; i++) {
        struct rcgc__arena *a = &m->arenas[i];
        char *abase = (char *)m->base + (size_t)i * RCGC__ARENA_BYTES;
        if (a->state == RCGC__ARENA_SPAN) {
            struct rcgc__run *r = (struct rcgc__run *)abase;
            if (r->seg.heap != (rcgc_heap *)m || (r->kind != RCGC__SEG_RUN_OBJ && r->kind != RCGC__SEG_RUN_META) ||
                (r->nsegs + RCGC__ARENA_SEGS - 1) / RCGC__ARENA_SEGS != a->span) {
                BAD("span run %p: bad header\n", (void *)r);
                continue;
            }
            bad += count_run(m, r, &t);
            continue;
        }
        if (a->state != RCGC__ARENA_ACTIVE)
            continue;
        bool holds = false; /* a run, or a pool with live blocks */
        for (uint64_t h = a->head; h && !holds; h &= h - 1) {
            const struct rcgc__pool *p =
                (const struct rcgc__pool *)(abase + (size_t)__builtin_ctzll(h) * SEG);
            holds = p->kind != RCGC__SEG_POOL || p->nused != 0;
        }
        if (a->head && !holds)
            BAD("arena %u holds nothing but empty pools\n", (unsigned)i);
        for (uint64_t h = a->head; h; h &= h - 1) {
            unsigned s = (unsigned)__builtin_ctzll(h);
            struct rcgc__pool *p = (struct rcgc__pool *)(abase + (size_t)s * SEG);
            if (p->kind == RCGC__SEG_POOL) {
                bad += check_pool(m, p, &t);
                continue;
            }
            struct rcgc__run *r = (struct rcgc__run *)p;
            if ((r->kind != RCGC__SEG_RUN_OBJ && r->kind != RCGC__SEG_RUN_META) ||
                r->seg.heap != (rcgc_heap *)m || r->nsegs == 0 || s + r->nsegs > 64) {
                BAD("segment %p: bad header (kind %u)\n", (void *)p, r->kind);
                continue;
            }
            uint64_t mask = (r->nsegs == 64 ? ~(uint64_t)0 : (((uint64_t)1 << r->nsegs) - 1)) << s;
            if ((a->used & mask) != mask || (a->head & mask) != ((uint64_t)1 << s))
                BAD("run %p: segment maps disagree\n", (void *)r);
            bad += count_run(m, r, &t);
        }
    }
    /* Class lists: well formed, right class, partly used. */
    size_t onlists = 0;
    for (unsigned f = 0; f < RCGC__NFAMS; f++)
        for (unsigned c = 0; c < RCGC__NCLASSES; c++) {
            struct rcgc__pool *prev = NULL;
            size_t n = 0, nempty = 0;
            for (struct rcgc__pool *p = m->used[f][c]; p; prev = p, p = p->next) {
                nempty += p->nused == 0;
                if (p->family != f || p->szidx != c || p->prev != prev || nempty > 1 ||
                    p->nused >= p->capacity ||
                    (p->nused == 0 && !(rcgc__arena_of(m, p)->spare & rcgc__seg_bit(p)))) {
                    BAD("class list %u/%u: bad pool %p\n", f, c, (void *)p);
                    break;
                }
                if (++n > m->narenas * (size_t)RCGC__ARENA_SEGS) {
                    BAD("class list %u/%u loops\n", f, c);
                    break;
                }
            }
            onlists += n;
        }
    if (onlists != t.listed)
        BAD("%zu pools on class lists, %zu partly used\n", onlists, t.listed);
    t.live_bytes += m->big_bytes;
    t.live_blocks += m->bigcount;
    if (t.live_bytes != m->live_bytes || t.live_blocks != m->live_blocks)
        BAD("live: %zu bytes in %zu blocks, counters say %zu in %zu\n", t.live_bytes,
            t.live_blocks, m->live_bytes, m->live_blocks);
    if (t.runs != m->run_bytes || t.meta != m->meta_bytes)
        BAD("runs: %zu bytes (%zu tables), counters say %zu (%zu)\n", t.runs, t.meta,
            m->run_bytes, m->meta_bytes);
    return bad;
}
