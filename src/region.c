/*
** region.c -- the heap's address range: reservation (with halving fallback),
** the default page hooks, the meta zone (heap struct + arena table), arenas
** committed on demand and returned when empty (one kept), and segment runs
** inside them. Knows nothing of blocks: pool.c carves segments into blocks.
*/
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "heap.h"

/* ===================================================================== */
/* Default page hooks: mmap PROT_NONE + MAP_NORESERVE, mprotect to commit */
/* ===================================================================== */

static void *os_reserve(void *ctx, size_t bytes, size_t align)
{
    (void)ctx;
    size_t total = bytes + align;
    if (total < bytes)
        return NULL;
    char *p = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    uintptr_t a = ((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1);
    size_t lead = (size_t)(a - (uintptr_t)p);
    if (lead)
        munmap(p, lead);
    size_t trail = total - lead - bytes;
    if (trail)
        munmap((char *)a + bytes, trail);
    return (void *)a;
}

static int os_commit(void *ctx, void *addr, size_t bytes)
{
    (void)ctx;
    return mprotect(addr, bytes, PROT_READ | PROT_WRITE) == 0 ? 0 : -1;
}

static void os_decommit(void *ctx, void *addr, size_t bytes)
{
    (void)ctx;
    /* One call both drops the pages and makes the range inaccessible. */
    void *r = mmap(addr, bytes, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    if (r == MAP_FAILED) {
        madvise(addr, bytes, MADV_DONTNEED);
        mprotect(addr, bytes, PROT_NONE);
    }
}

static void os_release(void *ctx, void *addr, size_t bytes)
{
    (void)ctx;
    munmap(addr, bytes);
}

void rcgc_page_hooks_default(rcgc_page_hooks *out)
{
    out->ctx = NULL;
    out->reserve = os_reserve;
    out->commit = os_commit;
    out->decommit = os_decommit;
    out->release = os_release;
}

/* ===================================================================== */
/* Bootstrap and destroy                                                  */
/* ===================================================================== */

#define SEG RCGC__SEG_BYTES
#define ARENA RCGC__ARENA_BYTES

static size_t round_up(size_t n, size_t a) { return (n + a - 1) & ~(a - 1); }

struct rcgc__mem *rcgc__mem_bootstrap(const rcgc_config *cfg, size_t outer_bytes)
{
    rcgc_page_hooks pages;
    rcgc_large_hooks large;
    if (cfg && cfg->pages.reserve)
        pages = cfg->pages;
    else
        rcgc_page_hooks_default(&pages);
    if (cfg && cfg->large.malloc)
        large = cfg->large;
    else
        rcgc_large_hooks_default(&large);
    if (!pages.reserve || !pages.commit || !pages.decommit || !pages.release ||
        !large.malloc || !large.realloc || !large.free)
        return NULL;

    size_t want = cfg && cfg->region_bytes ? cfg->region_bytes : RCGC__REGION_MAX;
    if (want > RCGC__REGION_MAX)
        want = RCGC__REGION_MAX;
    want &= ~(ARENA - 1);
    size_t hdr_bytes = round_up(sizeof(struct rcgc__seghdr) + outer_bytes, 64);
    void *base = NULL;
    size_t narenas, meta_arenas;
    for (;;) {
        narenas = want / ARENA;
        meta_arenas = round_up(16 + hdr_bytes + narenas * sizeof(struct rcgc__arena), ARENA) / ARENA;
        if (narenas < meta_arenas + 2)
            return NULL;
        base = pages.reserve(pages.ctx, want, ARENA);
        if (base)
            break;
        if (want / 2 < RCGC__REGION_MIN_FALLBACK)
            return NULL;
        want /= 2;
    }
    if (((uintptr_t)base & (ARENA - 1)) != 0 ||
        pages.commit(pages.ctx, base, meta_arenas * ARENA) != 0) {
        pages.release(pages.ctx, base, want);
        return NULL;
    }
    /* Segment 0: seghdr, then the outer struct (the heap), then the table. */
    struct rcgc__mem *m = (struct rcgc__mem *)((char *)base + 16);
    memset(m, 0, outer_bytes);
    ((struct rcgc__seghdr *)base)->heap = (rcgc_heap *)m;
    m->base = base;
    m->region_bytes = want;
    m->pages = pages;
    m->large = large;
    m->debug = cfg ? cfg->mem_debug : 0;
    m->fail_first = UINT64_MAX;
    m->fail_last = 0;
    rcgc__mem_set_fast_limit(m);
    m->arenas = (struct rcgc__arena *)((char *)base + 16 + hdr_bytes);
    m->narenas = (uint32_t)narenas;
    m->first_arena = (uint32_t)meta_arenas;
    m->hw = m->first_arena;
    for (uint32_t i = 0; i < m->first_arena; i++)
        m->arenas[i].state = RCGC__ARENA_META;
    m->committed_bytes = meta_arenas * ARENA;
    m->keep_limit = 1;
    return m;
}

void rcgc__mem_destroy(struct rcgc__mem *m)
{
    /* Large raw blocks live outside the region: give each back. */
    for (size_t i = 0; i < m->bigcap; i++)
        if (m->big[i].ptr)
            m->large.free(m->large.ctx, m->big[i].ptr);
    rcgc_page_hooks pages = m->pages;
    void *base = m->base;
    size_t bytes = m->region_bytes;
    pages.release(pages.ctx, base, bytes); /* the heap struct goes too */
}

/* ===================================================================== */
/* The usable list: ACTIVE arenas with free segments, fullest first       */
/* ===================================================================== */

static struct rcgc__arena *A(const struct rcgc__mem *m, uint32_t i) { return &m->arenas[i]; }

static void set_finger(struct rcgc__mem *m, unsigned k, uint32_t i)
{
    m->nfp2last[k] = i;
    if (k == 0)
        return;
    uint64_t bit = (uint64_t)1 << (k - 1);
    m->nfp_bits = i ? m->nfp_bits | bit : m->nfp_bits & ~bit;
}

static void usable_remove(struct rcgc__mem *m, uint32_t i)
{
    struct rcgc__arena *a = A(m, i);
    if (m->nfp2last[a->nfree] == i)
        set_finger(m, a->nfree,
                   (a->prev && A(m, a->prev)->nfree == a->nfree) ? a->prev : 0);
    if (a->prev)
        A(m, a->prev)->next = a->next;
    else
        m->usable = a->next;
    if (a->next)
        A(m, a->next)->prev = a->prev;
    a->next = a->prev = 0;
}

/* Insert after the last arena with nfree <= a->nfree: the finger of the
** highest such count, found in one bit scan. */
static void usable_insert(struct rcgc__mem *m, uint32_t i)
{
    struct rcgc__arena *a = A(m, i);
    uint32_t after = 0;
    unsigned nf = a->nfree;
    uint64_t below = m->nfp_bits & (nf >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << nf) - 1));
    if (below)
        after = m->nfp2last[64 - __builtin_clzll(below)];
    if (after) {
        a->prev = after;
        a->next = A(m, after)->next;
        A(m, after)->next = i;
    } else {
        a->prev = 0;
        a->next = m->usable;
        m->usable = i;
    }
    if (a->next)
        A(m, a->next)->prev = i;
    set_finger(m, a->nfree, i);
}

static void unused_push(struct rcgc__mem *m, uint32_t i)
{
    struct rcgc__arena *a = A(m, i);
    memset(a, 0, sizeof *a);
    a->state = RCGC__ARENA_UNUSED;
    a->next = m->unused;
    if (m->unused)
        A(m, m->unused)->prev = i;
    m->unused = i;
}

static void unused_remove(struct rcgc__mem *m, uint32_t i)
{
    struct rcgc__arena *a = A(m, i);
    if (a->prev)
        A(m, a->prev)->next = a->next;
    else
        m->unused = a->next;
    if (a->next)
        A(m, a->next)->prev = a->prev;
    a->next = a->prev = 0;
}

/* Empty arenas kept committed: at most this many (16 MiB), and the limit
** is halved after this many segments were handed out without a fresh
** arena being needed right after a release. */
#define KEEP_MAX 16u
#define DECAY_SEGMENTS 4096u

static void *arena_addr(const struct rcgc__mem *m, uint32_t i)
{
    return (char *)m->base + (size_t)i * ARENA;
}

static void count_new_arenas(struct rcgc__mem *m, uint32_t n)
{
    m->arenas_active += n;
    m->arenas_allocated_total += n;
    if (m->arenas_active > m->arenas_highwater)
        m->arenas_highwater = m->arenas_active;
}

/* A fresh ACTIVE arena (committed, all segments free), or 0. Counts as one
** allocation for fault injection. */
static uint32_t arena_new(struct rcgc__mem *m)
{
    uint32_t i = m->unused;
    if (!i && m->hw >= m->narenas)
        return 0;
    if (rcgc__fault_hit(m))
        return 0;
    if (!i)
        i = m->hw;
    if (m->pages.commit(m->pages.ctx, arena_addr(m, i), ARENA) != 0)
        return 0;
    if (m->released_recently) {
        /* An arena went back to the OS and now one is needed again: keep
        ** more empty arenas from now on. */
        m->released_recently = 0;
        if (m->keep_limit < KEEP_MAX)
            m->keep_limit *= 2;
    }
    if (i == m->unused)
        unused_remove(m, i);
    else
        m->hw++;
    struct rcgc__arena *a = A(m, i);
    memset(a, 0, sizeof *a);
    a->state = RCGC__ARENA_ACTIVE;
    a->committed = ~(uint64_t)0;
    a->dirty = 0;
    a->nfree = RCGC__ARENA_SEGS;
    m->committed_bytes += ARENA;
    count_new_arenas(m, 1);
    m->nempty++;
    usable_insert(m, i);
    return i;
}

static void arena_release(struct rcgc__mem *m, uint32_t i, size_t commit_bytes)
{
    m->pages.decommit(m->pages.ctx, arena_addr(m, i), ARENA);
    m->committed_bytes -= commit_bytes;
    m->returned_bytes += commit_bytes;
    m->arenas_active--;
    m->arenas_reclaimed++;
    unused_push(m, i);
}

static size_t popcount64(uint64_t x) { return (size_t)__builtin_popcountll(x); }

/* ===================================================================== */
/* Segment runs                                                           */
/* ===================================================================== */

/* Lowest start of k consecutive zero bits in 'used', or -1. Bits shifted
** in from above bit 63 read as used, so a gap never runs off the end. */
static int find_gap(uint64_t used, unsigned k)
{
    uint64_t run = ~used;
    for (unsigned s = 1; s < k && run; s++)
        run &= ~used >> s;
    return run ? __builtin_ctzll(run) : -1;
}

static void *take_in_arena(struct rcgc__mem *m, uint32_t i, unsigned b, unsigned k,
                           bool *fresh)
{
    struct rcgc__arena *a = A(m, i);
    uint64_t mask = (k == 64 ? ~(uint64_t)0 : (((uint64_t)1 << k) - 1)) << b;
    char *addr = (char *)arena_addr(m, i) + (size_t)b * SEG;
    if ((a->committed & mask) != mask) {
        if (m->pages.commit(m->pages.ctx, addr, (size_t)k * SEG) != 0)
            return NULL;
        m->committed_bytes += popcount64(mask & ~a->committed) * SEG;
        a->committed |= mask;
    }
    *fresh = (a->dirty & mask) == 0;
    a->dirty |= mask;
    if (a->nfree == RCGC__ARENA_SEGS) {
        m->nempty--;
        m->empty_reused = true; /* the kept arenas earn their keep */
    }
    usable_remove(m, i);
    a->used |= mask;
    a->head |= (uint64_t)1 << b;
    a->nfree = (uint16_t)(a->nfree - k);
    if (a->nfree)
        usable_insert(m, i);
    return addr;
}

/* A run longer than one arena: 'n' consecutive unused arenas. */
static void *span_alloc(struct rcgc__mem *m, size_t nsegs, bool *fresh)
{
    size_t n = (nsegs + RCGC__ARENA_SEGS - 1) / RCGC__ARENA_SEGS;
    uint32_t start = 0;
    size_t have = 0;
    for (uint32_t i = m->first_arena; i < m->hw && have < n; i++) {
        if (A(m, i)->state == RCGC__ARENA_UNUSED) {
            if (!have)
                start = i;
            have++;
        } else {
            have = 0;
        }
    }
    if (have < n) {
        if (!have)
            start = m->hw;
        if ((size_t)start + n > m->narenas)
            return NULL;
    }
    if (rcgc__fault_hit(m))
        return NULL;
    char *addr = arena_addr(m, start);
    if (m->pages.commit(m->pages.ctx, addr, nsegs * SEG) != 0)
        return NULL;
    for (uint32_t j = start; j < start + n; j++) {
        if (j < m->hw)
            unused_remove(m, j);
        struct rcgc__arena *a = A(m, j);
        memset(a, 0, sizeof *a);
        a->state = j == start ? RCGC__ARENA_SPAN : RCGC__ARENA_SPAN_TAIL;
        a->span = j == start ? (uint32_t)n : start;
    }
    if (start + n > m->hw)
        m->hw = start + (uint32_t)n;
    m->committed_bytes += nsegs * SEG;
    count_new_arenas(m, (uint32_t)n);
    *fresh = true;
    return addr;
}

static void decay(struct rcgc__mem *m);

/* Runs of <= 64 segments: look at a few of the fullest arenas first. */
#define RUN_SCAN_LIMIT 8

void *rcgc__seg_alloc(struct rcgc__mem *m, size_t nsegs, bool *fresh)
{
    if (nsegs > RCGC__ARENA_SEGS)
        return span_alloc(m, nsegs, fresh);
    unsigned k = (unsigned)nsegs;
    decay(m);
    if (k == 1) {
        uint32_t i = m->usable;
        if (!i && !(i = arena_new(m)))
            return NULL;
        unsigned b = (unsigned)__builtin_ctzll(~A(m, i)->used);
        return take_in_arena(m, i, b, 1, fresh);
    }
    unsigned tries = 0;
    for (uint32_t i = m->usable; i && tries < RUN_SCAN_LIMIT; i = A(m, i)->next) {
        if (A(m, i)->nfree < k)
            continue;
        tries++;
        int b = find_gap(A(m, i)->used, k);
        if (b >= 0)
            return take_in_arena(m, i, (unsigned)b, k, fresh);
    }
    /* The kept empty arena, if any, is last on the list. */
    uint32_t i = arena_new(m);
    if (!i)
        return NULL;
    return take_in_arena(m, i, 0, k, fresh);
}

static void decommit_segments(struct rcgc__mem *m, struct rcgc__arena *a, void *addr,
                              uint64_t mask)
{
    m->pages.decommit(m->pages.ctx, addr, popcount64(mask) * SEG);
    m->committed_bytes -= popcount64(a->committed & mask) * SEG;
    m->returned_bytes += popcount64(a->committed & mask) * SEG;
    a->committed &= ~mask;
    a->dirty &= ~mask;
}

/* Runs of at least this many segments give their pages back when freed
** inside an arena that stays in use (64 KiB: below that the syscall costs
** more than the memory is worth). */
#define DECOMMIT_MIN_SEGS 4u

uint64_t rcgc__seg_heads(const struct rcgc__mem *m, const void *addr, char **arena)
{
    size_t off = (size_t)((const char *)addr - (const char *)m->base);
    uint32_t i = (uint32_t)(off / ARENA);
    const struct rcgc__arena *a = A(m, i);
    *arena = arena_addr(m, i);
    return a->state == RCGC__ARENA_ACTIVE ? a->head : 0;
}

unsigned rcgc__seg_next_nfree(const struct rcgc__mem *m)
{
    return m->usable ? A(m, m->usable)->nfree : RCGC__ARENA_SEGS;
}

void rcgc__seg_free(struct rcgc__mem *m, void *seg, size_t nsegs)
{
    size_t off = (size_t)((char *)seg - (char *)m->base);
    uint32_t i = (uint32_t)(off / ARENA);
    struct rcgc__arena *a = A(m, i);
    if (a->state == RCGC__ARENA_SPAN) {
        uint32_t n = a->span;
        for (uint32_t j = i; j < i + n; j++) {
            size_t c = j == i ? nsegs * SEG : 0;
            arena_release(m, j, c);
        }
        return;
    }
    unsigned b = (unsigned)((off % ARENA) / SEG);
    unsigned k = (unsigned)nsegs;
    uint64_t mask = (k == 64 ? ~(uint64_t)0 : (((uint64_t)1 << k) - 1)) << b;
    if (a->nfree) /* a full arena is on no list */
        usable_remove(m, i);
    a->used &= ~mask;
    a->head &= ~((uint64_t)1 << b);
    a->spare &= ~((uint64_t)1 << b);
    a->nfree = (uint16_t)(a->nfree + k);
    if (a->nfree == RCGC__ARENA_SEGS) {
        if (m->nempty >= m->keep_limit) {
            /* Enough empty arenas are kept already: return this one. */
            arena_release(m, i, popcount64(a->committed) * SEG);
            m->released_recently++;
            return;
        }
        m->nempty++;
    } else if (k >= DECOMMIT_MIN_SEGS) {
        decommit_segments(m, a, seg, mask);
    }
    usable_insert(m, i);
}

/* The last empty arena on the usable list (they sit at its tail), or 0. */
static uint32_t last_empty(const struct rcgc__mem *m)
{
    return m->nfp2last[RCGC__ARENA_SEGS];
}

static void release_empty(struct rcgc__mem *m, uint32_t i)
{
    usable_remove(m, i);
    m->nempty--;
    arena_release(m, i, popcount64(A(m, i)->committed) * SEG);
}

/* Called for every segment handed out: after DECAY_SEGMENTS of them in
** which no kept empty arena was taken again, keep fewer empty arenas. */
static void decay(struct rcgc__mem *m)
{
    if (++m->pool_events < DECAY_SEGMENTS)
        return;
    m->pool_events = 0;
    m->released_recently = 0;
    if (m->empty_reused) {
        m->empty_reused = false;
        return;
    }
    if (m->keep_limit > 1)
        m->keep_limit /= 2;
    while (m->nempty > m->keep_limit)
        release_empty(m, last_empty(m));
}

void rcgc_mem_trim(rcgc_heap *heap)
{
    struct rcgc__mem *m = &heap->mem;
    rcgc__pool_drop_empty(m);
    m->keep_limit = 1;
    m->released_recently = 0;
    uint32_t i;
    while ((i = last_empty(m)) != 0)
        release_empty(m, i);
    /* Free segments of arenas in use: give back their pages too. */
    for (i = m->first_arena; i < m->hw; i++) {
        struct rcgc__arena *a = A(m, i);
        if (a->state != RCGC__ARENA_ACTIVE)
            continue;
        uint64_t freec = ~a->used & a->committed;
        while (freec) {
            unsigned b = (unsigned)__builtin_ctzll(freec);
            uint64_t run = freec >> b;
            unsigned k = run == ~(uint64_t)0 >> b ? 64 - b : (unsigned)__builtin_ctzll(~run);
            uint64_t mask = (k == 64 ? ~(uint64_t)0 : (((uint64_t)1 << k) - 1)) << b;
            decommit_segments(m, a, (char *)arena_addr(m, i) + (size_t)b * SEG, mask);
            freec &= ~mask;
        }
    }
}

void *rcgc__seg_owner(const struct rcgc__mem *m, const void *p)
{
    uintptr_t off = (uintptr_t)p - (uintptr_t)m->base;
    if ((uintptr_t)p < (uintptr_t)m->base || off >= m->region_bytes)
        return NULL;
    uint32_t i = (uint32_t)(off / ARENA);
    if (i >= m->hw)
        return NULL;
    const struct rcgc__arena *a = A(m, i);
    switch (a->state) {
    case RCGC__ARENA_ACTIVE: {
        unsigned s = (unsigned)((off % ARENA) / SEG);
        if (!(a->used >> s & 1))
            return NULL;
        uint64_t heads = a->head & ((s == 63 ? ~(uint64_t)0 : (((uint64_t)2 << s) - 1)));
        unsigned h = 63u - (unsigned)__builtin_clzll(heads);
        return (char *)arena_addr(m, i) + (size_t)h * SEG;
    }
    case RCGC__ARENA_SPAN:
        return arena_addr(m, i);
    case RCGC__ARENA_SPAN_TAIL:
        return arena_addr(m, a->span);
    default:
        return NULL;
    }
}

/* ===================================================================== */
/* Invariants                                                             */
/* ===================================================================== */

#define BAD(...)                                                              \
    do {                                                                      \
        rcgc_heap_printf((rcgc_heap *)m, "rcgc: allocator: " __VA_ARGS__);   \
        bad++;                                                                \
    } while (0)

size_t rcgc__region_check(struct rcgc__mem *m)
{
    size_t bad = 0;
    uint32_t nusable = 0, nunused = 0, nempty = 0, active = 0;
    uint64_t committed = (uint64_t)m->first_arena * ARENA;
    for (uint32_t i = m->first_arena; i < m->hw; i++) {
        struct rcgc__arena *a = A(m, i);
        switch (a->state) {
        case RCGC__ARENA_UNUSED:
            nunused++;
            break;
        case RCGC__ARENA_ACTIVE:
            active++;
            if (a->nfree != RCGC__ARENA_SEGS - popcount64(a->used))
                BAD("arena %u: nfree %u but %zu segments used\n", i, a->nfree,
                    popcount64(a->used));
            if ((a->head & ~a->used) || (a->used & ~a->committed) || (a->used & ~a->dirty) ||
                (a->spare & ~a->head))
                BAD("arena %u: head/used/committed maps disagree\n", i);
            if (a->nfree)
                nusable++;
            if (a->nfree == RCGC__ARENA_SEGS)
                nempty++;
            committed += popcount64(a->committed) * SEG;
            break;
        case RCGC__ARENA_SPAN: {
            active += a->span;
            struct rcgc__run *r = arena_addr(m, i);
            committed += (uint64_t)r->nsegs * SEG;
            for (uint32_t j = i + 1; j < i + a->span; j++)
                if (A(m, j)->state != RCGC__ARENA_SPAN_TAIL || A(m, j)->span != i)
                    BAD("arena %u: bad tail of span %u\n", j, i);
            break;
        }
        case RCGC__ARENA_SPAN_TAIL:
            break;
        default:
            BAD("arena %u: bad state %u\n", i, a->state);
        }
    }
    if (nempty > m->keep_limit || nempty != m->nempty || m->keep_limit > KEEP_MAX)
        BAD("%u empty arenas kept (counter says %u, limit %u)\n", nempty, m->nempty,
            m->keep_limit);
    if (active != m->arenas_active)
        BAD("%u arenas in use, counter says %u\n", active, m->arenas_active);
    if (committed != m->committed_bytes)
        BAD("%llu bytes committed, counter says %llu\n", (unsigned long long)committed,
            (unsigned long long)m->committed_bytes);
    /* Usable list: sorted ascending, fingers exact. */
    uint32_t n = 0, prev = 0;
    uint32_t last[RCGC__ARENA_SEGS + 1] = {0};
    for (uint32_t i = m->usable; i && n <= m->narenas; i = A(m, i)->next, n++) {
        struct rcgc__arena *a = A(m, i);
        if (a->state != RCGC__ARENA_ACTIVE || a->nfree == 0)
            BAD("usable list holds arena %u (state %u, nfree %u)\n", i, a->state, a->nfree);
        if (a->prev != prev)
            BAD("usable list: arena %u prev %u, expected %u\n", i, a->prev, prev);
        if (prev && A(m, prev)->nfree > a->nfree)
            BAD("usable list not sorted at arena %u\n", i);
        if (a->nfree <= RCGC__ARENA_SEGS)
            last[a->nfree] = i;
        prev = i;
    }
    if (n != nusable)
        BAD("usable list has %u arenas, expected %u\n", n, nusable);
    for (unsigned k = 0; k <= RCGC__ARENA_SEGS; k++) {
        if (last[k] != m->nfp2last[k])
            BAD("nfp2last[%u] = %u, expected %u\n", k, m->nfp2last[k], last[k]);
        if (k && ((m->nfp_bits >> (k - 1)) & 1) != (last[k] != 0))
            BAD("finger bit %u wrong\n", k);
    }
    n = 0;
    prev = 0;
    for (uint32_t i = m->unused; i && n <= m->narenas; i = A(m, i)->next, n++) {
        if (A(m, i)->state != RCGC__ARENA_UNUSED || A(m, i)->prev != prev)
            BAD("unused list: bad arena %u\n", i);
        prev = i;
    }
    if (n != nunused)
        BAD("unused list has %u arenas, expected %u\n", n, nunused);
    return bad;
}
