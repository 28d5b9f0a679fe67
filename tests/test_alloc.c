/*
** test_alloc.c -- the allocator layer: PARITY scenarios 1-9 adapted to our
** constants (16 KiB pools with a 176-byte header, 1 MiB arenas), ownership,
** realloc policy, hooks and fault injection. White-box: reads heap->mem.
*/
#include <stdlib.h>

#include "harness.h"
#include "heap.h"

static uintptr_t seg_of(const void *p) { return (uintptr_t)p & ~(uintptr_t)(RCGC__SEG_BYTES - 1); }
static size_t arena_of(rcgc_heap *h, const void *p)
{
    return (size_t)((const char *)p - (const char *)h->mem.base) >> 20;
}
static size_t capacity(size_t size) { return (RCGC__SEG_BYTES - RCGC__POOL_HDR) / size; }

/* Scenario 1: every size 1..512 is 16-byte aligned with usable size
** ceil(n/16)*16; 0 gives a unique non-NULL pointer; 513 comes from the
** large hooks and still frees and reallocs. */
TEST(alloc_size_classes_and_alignment)
{
    rcgc_heap *h = th_heap_new();
    void *ptrs[513];
    for (size_t n = 1; n <= 512; n++) {
        ptrs[n] = rcgc_malloc(h, n);
        CHECK(ptrs[n] != NULL);
        CHECK_EQ_INT((uintptr_t)ptrs[n] % 16, 0);
        CHECK_EQ_INT(rcgc_usable_size(h, ptrs[n]), (n + 15) / 16 * 16);
        CHECK(rcgc_owns(h, ptrs[n]));
        memset(ptrs[n], (int)n, n);
    }
    void *z1 = rcgc_malloc(h, 0), *z2 = rcgc_malloc(h, 0);
    CHECK(z1 && z2 && z1 != z2);
    for (size_t n = 1; n <= 512; n++)
        CHECK(ptrs[n] != z1 && ptrs[n] != z2);
    void *big = rcgc_malloc(h, 513);
    CHECK(big != NULL);
    CHECK(rcgc_owns(h, big));
    CHECK_EQ_INT(rcgc_usable_size(h, big), 513);
    memset(big, 7, 513);
    big = rcgc_realloc(h, big, 4000);
    CHECK(big != NULL);
    CHECK_EQ_INT(((unsigned char *)big)[512], 7);
    CHECK_HEAP(h);
    rcgc_free(h, big);
    rcgc_free(h, z1);
    rcgc_free(h, z2);
    for (size_t n = 1; n <= 512; n++) {
        for (size_t i = 0; i < n; i++)
            if (((unsigned char *)ptrs[n])[i] != (unsigned char)n) {
                CHECK(!"contents changed");
                break;
            }
        rcgc_free(h, ptrs[n]);
    }
    CHECK_HEAP(h);
    rcgc_heap_free(h);
}

/* Scenario 2: a pool holds (16384-176)/size blocks: 1013 x 16 B, 506 x 32 B,
** 31 x 512 B (CPython: 1021/510/31 with its 48-byte header; ours carries a
** 128-byte live map for exact ownership). The next block opens a new pool. */
TEST(alloc_pool_capacity)
{
    static const size_t sizes[] = {16, 32, 48, 64, 128, 256, 512};
    rcgc_heap *h = th_heap_new();
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        size_t size = sizes[s], cap = capacity(size);
        void **v = malloc((cap + 1) * sizeof *v);
        for (size_t i = 0; i <= cap; i++)
            v[i] = rcgc_malloc(h, size);
        size_t same = 0;
        for (size_t i = 0; i < cap; i++)
            same += seg_of(v[i]) == seg_of(v[0]);
        /* The raw class of the type table (128 B) already has a pool. */
        if (size != 128) {
            CHECK_EQ_INT(same, cap);
            CHECK(seg_of(v[cap]) != seg_of(v[0]));
            struct rcgc__pool *p = (struct rcgc__pool *)seg_of(v[0]);
            CHECK_EQ_INT(p->capacity, cap);
            CHECK_EQ_INT(p->nused, cap);
        }
        CHECK_HEAP(h);
        for (size_t i = 0; i <= cap; i++)
            rcgc_free(h, v[i]);
        free(v);
    }
    CHECK_EQ_INT(capacity(16), 1013);
    CHECK_EQ_INT(capacity(32), 506);
    CHECK_EQ_INT(capacity(512), 31);
    CHECK_HEAP(h);
    rcgc_heap_free(h);
}

/* Scenario 3: LIFO reuse in a pool; a full pool that gets a free block goes
** to the front of its class list; an emptied pool returns to its arena and
** serves another class. */
TEST(alloc_block_and_pool_reuse_order)
{
    rcgc_heap *h = th_heap_new();
    void *a = rcgc_malloc(h, 40), *b = rcgc_malloc(h, 40);
    rcgc_free(h, a);
    CHECK_EQ_PTR(rcgc_malloc(h, 40), a);
    rcgc_free(h, b);
    rcgc_free(h, a);

    size_t cap = capacity(64);
    void **v = malloc((cap + 1) * sizeof *v);
    for (size_t i = 0; i <= cap; i++)
        v[i] = rcgc_malloc(h, 64);
    CHECK(seg_of(v[cap]) != seg_of(v[0])); /* first pool full */
    rcgc_free(h, v[17]);                   /* full pool -> front */
    CHECK_EQ_PTR(rcgc_malloc(h, 64), v[17]);
    for (size_t i = 0; i <= cap; i++)
        rcgc_free(h, v[i]);
    free(v);

    /* An emptied pool serves another class. */
    void *x = rcgc_malloc(h, 480);
    uintptr_t pool = seg_of(x);
    rcgc_free(h, x);
    void *y = rcgc_malloc(h, 300);
    CHECK_EQ_INT(seg_of(y), pool);
    rcgc_free(h, y);
    CHECK_HEAP(h);
    rcgc_heap_free(h);
}

/* Scenario 4: 64-byte blocks over >= 3 arenas, all freed: exactly one empty
** arena stays, the others are reclaimed, live blocks return to baseline. */
TEST(alloc_arena_release_keeps_one)
{
    rcgc_heap *h = th_heap_new();
    struct rcgc__mem *m = &h->mem;
    size_t base_bytes, base_blocks, now_bytes, now_blocks;
    rcgc__pool_totals(m, &base_bytes, &base_blocks);
    uint32_t base_active = m->arenas_active;
    uint64_t base_reclaimed = m->arenas_reclaimed;
    size_t n = capacity(64) * 64 * 3 + 1000;
    void **v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = rcgc_malloc(h, 64);
    CHECK(m->arenas_active >= base_active + 3);
    uint32_t peak = m->arenas_active;
    CHECK_HEAP(h);
    for (size_t i = 0; i < n; i++)
        rcgc_free(h, v[i]);
    free(v);
    rcgc__pool_totals(m, &now_bytes, &now_blocks);
    CHECK_EQ_INT(now_blocks, base_blocks);
    CHECK_EQ_INT(now_bytes, base_bytes);
    CHECK_EQ_INT(m->nempty, 1);
    CHECK_EQ_INT(m->arenas_active, base_active + 1);
    CHECK_EQ_INT(m->arenas_reclaimed - base_reclaimed, peak - base_active - 1);
    CHECK_HEAP(h);
    rcgc_heap_free(h);
}

/* Scenario 5: a new pool comes from the usable arena with the fewest free
** pools, whatever the address order. */
static void fullest_first(bool low_is_full)
{
    rcgc_heap *h = th_heap_new();
    size_t cap = capacity(512);
    size_t n = cap * 64 * 3;
    void **v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = rcgc_malloc(h, 512);
    /* Two arenas filled only by 512-byte pools: the 2nd and 3rd. */
    size_t a1 = arena_of(h, v[n - 1]) - 1, a0 = a1 - 1;
    size_t full = low_is_full ? a0 : a1, sparse = low_is_full ? a1 : a0;
    /* Free whole pools: keep 58 of 64 in 'full', 6 in 'sparse'. */
    for (size_t i = 0; i < n; i++) {
        size_t a = arena_of(h, v[i]);
        size_t pool = (seg_of(v[i]) >> 14) & 63;
        if ((a == full && pool >= 58) || (a == sparse && pool >= 6)) {
            rcgc_free(h, v[i]);
            v[i] = NULL;
        }
    }
    CHECK_HEAP(h);
    void *x = rcgc_malloc(h, 200); /* a class with no pool yet */
    CHECK_EQ_INT(arena_of(h, x), full);
    rcgc_free(h, x);
    for (size_t i = 0; i < n; i++)
        rcgc_free(h, v[i]);
    free(v);
    CHECK_HEAP(h);
    rcgc_heap_free(h);
}
TEST(alloc_new_pool_from_fullest_arena)
{
    fullest_first(true);
    fullest_first(false);
}

/* Scenario 6: CPython's realloc rule on a 64-byte block. */
TEST(alloc_realloc_policy)
{
    rcgc_heap *h = th_heap_new();
    unsigned char *p = rcgc_malloc(h, 64);
    for (int i = 0; i < 64; i++)
        p[i] = (unsigned char)i;
    for (size_t n = 49; n <= 64; n++)
        CHECK_EQ_PTR(rcgc_realloc(h, p, n), p);
    unsigned char *q = rcgc_realloc(h, p, 48);
    CHECK(q != p);
    for (int i = 0; i < 48; i++)
        CHECK_EQ_INT(q[i], i);
    CHECK_EQ_INT(rcgc_usable_size(h, q), 48);
    unsigned char *r = rcgc_malloc(h, 64);
    memcpy(r, q, 48);
    memset(r + 48, 0xAB, 16);
    unsigned char *s = rcgc_realloc(h, r, 65);
    CHECK(s != r);
    for (int i = 0; i < 48; i++)
        CHECK_EQ_INT(s[i], i);
    CHECK_EQ_INT(s[63], 0xAB);
    void *t = rcgc_realloc(h, NULL, 10);
    CHECK(t && rcgc_usable_size(h, t) == 16);
    void *u = rcgc_realloc(h, t, 0);
    CHECK(u != NULL);
    CHECK(rcgc_owns(h, u));
    /* Large blocks stay with the large allocator, even when shrunk. */
    void *big = rcgc_malloc(h, 5000);
    big = rcgc_realloc(h, big, 100);
    CHECK_EQ_INT(rcgc_usable_size(h, big), 100);
    CHECK(!((uintptr_t)big - (uintptr_t)h->mem.base < h->mem.region_bytes));
    CHECK_HEAP(h);
    rcgc_free(h, big);
    rcgc_free(h, q);
    rcgc_free(h, s);
    rcgc_free(h, u);
    CHECK_HEAP(h);
    rcgc_heap_free(h);
}

TEST(alloc_calloc_zeroes_and_checks_overflow)
{
    rcgc_heap *h = th_heap_new();
    unsigned char *p = rcgc_malloc(h, 100);
    memset(p, 0xEE, 100);
    rcgc_free(h, p);
    unsigned char *q = rcgc_calloc(h, 10, 10);
    CHECK_EQ_PTR(q, p);
    for (int i = 0; i < 100; i++)
        CHECK_EQ_INT(q[i], 0);
    CHECK(rcgc_calloc(h, SIZE_MAX / 2, 3) == NULL);
    CHECK(rcgc_calloc(h, (size_t)1 << 33, (size_t)1 << 33) == NULL);
    void *z = rcgc_calloc(h, 0, 5);
    CHECK(z != NULL);
    unsigned char *big = rcgc_calloc(h, 1000, 10);
    for (int i = 0; i < 10000; i++)
        if (big[i]) {
            CHECK(!"calloc not zeroed");
            break;
        }
    rcgc_free(h, big);
    rcgc_free(h, z);
    rcgc_free(h, q);
    CHECK_HEAP(h);
    rcgc_heap_free(h);
}

/* Scenario 7 (adapted): ownership is exact. Pointers from the system
** allocator, the stack, static data, or the middle of our blocks are never
** taken for ours; freeing one panics instead of corrupting the heap. */
static int static_thing[4];
TEST(alloc_foreign_pointers_are_not_ours)
{
    rcgc_heap *h = th_heap_new();
    int local = 0;
    for (size_t n = 1; n < 5000; n = n * 3 + 1) {
        char *sys = malloc(n);
        CHECK(!rcgc_owns(h, sys));
        CHECK(!rcgc_owns(h, sys + 1));
        free(sys);
    }
    CHECK(!rcgc_owns(h, &local));
    CHECK(!rcgc_owns(h, static_thing));
    CHECK(!rcgc_owns(h, NULL));
    char *p = rcgc_malloc(h, 64);
    CHECK(rcgc_owns(h, p));
    CHECK(!rcgc_owns(h, p + 16));
    CHECK(!rcgc_owns(h, p + 1));
    CHECK(!rcgc_owns(h, h));
    char *big = rcgc_malloc(h, 100000);
    CHECK(rcgc_owns(h, big));
    CHECK(!rcgc_owns(h, big + 16));
    rcgc_free(h, p);
    CHECK(!rcgc_owns(h, p));
    rcgc_free(h, big);
    CHECK(!rcgc_owns(h, big));
    /* A second heap's blocks are not ours either. */
    rcgc_heap *h2 = th_heap_new();
    void *q = rcgc_malloc(h2, 32);
    CHECK(!rcgc_owns(h, q));
    CHECK(rcgc_owns(h2, q));
    rcgc_heap_free(h2);
    CHECK_HEAP(h);
    rcgc_heap_free(h);
}

static void free_system_pointer(void *arg)
{
    (void)arg;
    rcgc_heap *h = th_heap_new();
    void *sys = malloc(48);
    rcgc_free(h, sys);
}
static void free_interior_pointer(void *arg)
{
    (void)arg;
    rcgc_heap *h = th_heap_new();
    char *p = rcgc_malloc(h, 64);
    rcgc_free(h, p + 16);
}
static void free_twice(void *arg)
{
    (void)arg;
    rcgc_heap *h = th_heap_new();
    void *p = rcgc_malloc(h, 64);
    void *keep = rcgc_malloc(h, 64);
    (void)keep;
    rcgc_free(h, p);
    rcgc_free(h, p);
}
static void free_big_twice(void *arg)
{
    (void)arg;
    rcgc_heap *h = th_heap_new();
    void *p = rcgc_malloc(h, 10000);
    rcgc_free(h, p);
    rcgc_free(h, p);
}
static void free_unallocated_region_pointer(void *arg)
{
    (void)arg;
    rcgc_heap *h = th_heap_new();
    rcgc_free(h, (char *)h->mem.base + (size_t)h->mem.narenas / 2 * RCGC__ARENA_BYTES);
}
static void free_object_as_raw(void *arg)
{
    (void)arg;
    static const rcgc_type t = {"thing", 32, 0, 0, NULL, NULL, NULL, NULL};
    rcgc_heap *h = th_heap_new();
    void *o = rcgc_new(h, &t);
    rcgc_free(h, (char *)o - 16);
}
TEST(alloc_bad_free_panics)
{
    CHECK_PANICS(free_system_pointer, NULL, "never allocated by this heap");
    CHECK_PANICS(free_interior_pointer, NULL, "not the start of a block");
    CHECK_PANICS(free_twice, NULL, "double free");
    CHECK_PANICS(free_big_twice, NULL, "never allocated by this heap");
    CHECK_PANICS(free_unallocated_region_pointer, NULL, "in no allocated block");
    CHECK_PANICS(free_object_as_raw, NULL, "wrong API family");
}

/* Scenario 8: counting hooks that wrap the defaults see every call once.
** A reservation may be refused (valgrind caps the address space far below
** the 64 GiB region asked first; the heap then halves its request), so
** attempts and successes are counted apart: one region is held, and the
** region released is the one reserved. */
struct counting {
    rcgc_page_hooks pages;
    rcgc_large_hooks large;
    long reserve, reserved, commit, decommit, release, malloc, realloc, free;
    long long committed, live_large;
    size_t reserved_bytes, released_bytes;
};
static void *c_reserve(void *ctx, size_t n, size_t a)
{
    struct counting *c = ctx;
    c->reserve++;
    void *p = c->pages.reserve(c->pages.ctx, n, a);
    if (p) {
        c->reserved++;
        c->reserved_bytes += n;
    }
    return p;
}
static int c_commit(void *ctx, void *p, size_t n)
{
    struct counting *c = ctx;
    c->commit++;
    c->committed += (long long)n;
    return c->pages.commit(c->pages.ctx, p, n);
}
static void c_decommit(void *ctx, void *p, size_t n)
{
    struct counting *c = ctx;
    c->decommit++;
    c->pages.decommit(c->pages.ctx, p, n);
}
static void c_release(void *ctx, void *p, size_t n)
{
    struct counting *c = ctx;
    c->release++;
    c->released_bytes += n;
    c->pages.release(c->pages.ctx, p, n);
}
static void *c_malloc(void *ctx, size_t n)
{
    struct counting *c = ctx;
    c->malloc++;
    c->live_large++;
    return c->large.malloc(c->large.ctx, n);
}
static void *c_realloc(void *ctx, void *p, size_t n)
{
    struct counting *c = ctx;
    c->realloc++;
    return c->large.realloc(c->large.ctx, p, n);
}
static void c_free(void *ctx, void *p)
{
    struct counting *c = ctx;
    c->free++;
    c->live_large--;
    c->large.free(c->large.ctx, p);
}
static rcgc_heap *counting_heap(struct counting *c)
{
    memset(c, 0, sizeof *c);
    rcgc_page_hooks_default(&c->pages);
    rcgc_large_hooks_default(&c->large);
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = false;
    cfg.pages = (rcgc_page_hooks){c, c_reserve, c_commit, c_decommit, c_release};
    cfg.large = (rcgc_large_hooks){c, c_malloc, c_realloc, c_free};
    return th_heap_new_cfg(&cfg);
}
TEST(alloc_hooks_chain_to_defaults)
{
    struct counting c;
    rcgc_heap *h = counting_heap(&c);
    CHECK(h != NULL);
    CHECK(c.reserve >= 1);
    CHECK_EQ_INT(c.reserved, 1);
    CHECK(c.commit >= 1);
    long m0 = c.malloc;
    void *a = rcgc_malloc(h, 1000);
    CHECK_EQ_INT(c.malloc, m0 + 1);
    unsigned char *z = rcgc_calloc(h, 300, 10);
    CHECK_EQ_INT(c.malloc, m0 + 2);
    for (int i = 0; i < 3000; i++)
        CHECK(z[i] == 0 || !"calloc memory not zeroed");
    a = rcgc_realloc(h, a, 20000);
    CHECK_EQ_INT(c.realloc, 1);
    rcgc_free(h, z);
    CHECK_EQ_INT(c.free, 1);
    void *small = rcgc_malloc(h, 100); /* pools: no large call */
    CHECK_EQ_INT(c.malloc, m0 + 2);
    /* Arenas: committed on demand, decommitted when empty (one kept). */
    long commits = c.commit;
    size_t n = capacity(512) * 64 * 2;
    void **v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = rcgc_malloc(h, 512);
    CHECK(c.commit >= commits + 2);
    for (size_t i = 0; i < n; i++)
        rcgc_free(h, v[i]);
    free(v);
    CHECK(c.decommit >= 1);
    rcgc_free(h, small);
    void *forgotten = rcgc_malloc(h, 7777); /* freed by rcgc_heap_free */
    (void)forgotten;
    (void)a;
    CHECK_HEAP(h);
    rcgc_heap_free(h);
    CHECK_EQ_INT(c.release, 1);
    CHECK_EQ_U64(c.released_bytes, c.reserved_bytes);
    CHECK_EQ_INT(c.live_large, 0);
    CHECK_EQ_INT(c.malloc, c.free);
}

/* Scenario 9: allocations first..last fail; others succeed; the heap stays
** sound and nothing leaks. */
TEST(alloc_fault_injection_window)
{
    struct counting c;
    rcgc_heap *h = counting_heap(&c);
    rcgc_fault_set(h, 10, 0);
    void *v[20];
    for (int i = 0; i < 20; i++)
        v[i] = rcgc_malloc(h, 24);
    for (int i = 0; i < 20; i++)
        CHECK((v[i] != NULL) == (i < 9));
    CHECK_EQ_INT(rcgc_fault_allocations(h), 20);
    rcgc_fault_clear(h);
    void *ok = rcgc_malloc(h, 24);
    CHECK(ok != NULL);
    /* The large-block table exists already, so each call below is exactly
    ** one allocation. */
    rcgc_free(h, rcgc_malloc(h, 2000));
    rcgc_fault_set(h, 3, 3);
    void *w[6];
    for (int i = 0; i < 6; i++)
        w[i] = rcgc_malloc(h, 2000);
    for (int i = 0; i < 6; i++)
        CHECK((w[i] != NULL) == (i != 2));
    rcgc_fault_clear(h);
    CHECK(rcgc_realloc(h, w[0], 10) != NULL || !"realloc failed");
    CHECK_HEAP(h);
    for (int i = 0; i < 20; i++)
        rcgc_free(h, v[i]);
    for (int i = 1; i < 6; i++)
        rcgc_free(h, w[i]);
    rcgc_free(h, ok);
    CHECK_HEAP(h);
    rcgc_heap_free(h);
    CHECK_EQ_INT(c.live_large, 0);
}

/* Every allocating operation fails cleanly at its Nth allocation: the call
** returns NULL (the old block intact for realloc), the heap checks clean,
** and freeing the heap returns everything. */
static void fault_script(rcgc_heap *h, void **slot, size_t nslots)
{
    size_t sizes[] = {0, 1, 16, 100, 512, 513, 4096, 70000, 3 << 20};
    for (size_t i = 0; i < nslots; i++) {
        size_t n = sizes[i % (sizeof sizes / sizeof *sizes)];
        void *p = (i % 3 == 0) ? rcgc_calloc(h, 1, n) : rcgc_malloc(h, n);
        if (p)
            memset(p, 0x5A, n);
        slot[i] = p;
    }
    for (size_t i = 0; i < nslots; i += 2) {
        if (!slot[i])
            continue;
        size_t n = sizes[(i + 3) % (sizeof sizes / sizeof *sizes)];
        size_t old = rcgc_usable_size(h, slot[i]);
        void *q = rcgc_realloc(h, slot[i], n);
        if (q) {
            slot[i] = q;
        } else {
            CHECK(rcgc_owns(h, slot[i]));
            CHECK_EQ_INT(rcgc_usable_size(h, slot[i]), old);
        }
    }
}
TEST(alloc_fault_injection_every_allocation)
{
    uint64_t total;
    {
        rcgc_heap *h = th_heap_new();
        void *slot[60];
        rcgc_fault_set(h, UINT64_MAX, UINT64_MAX);
        fault_script(h, slot, 60);
        total = rcgc_fault_allocations(h);
        rcgc_heap_free(h);
    }
    CHECK(total >= 60);
    for (uint64_t n = 1; n <= total + 1; n++) {
        struct counting c;
        rcgc_heap *h = counting_heap(&c);
        void *slot[60];
        rcgc_fault_set(h, n, n);
        fault_script(h, slot, 60);
        if (rcgc_heap_check(h) != RCGC_OK) {
            CHECK(!"heap corrupt after a failed allocation");
            fprintf(stderr, "failing allocation %llu\n", (unsigned long long)n);
        }
        for (size_t i = 0; i < 60; i += 5)
            rcgc_free(h, slot[i]);
        CHECK_HEAP(h);
        rcgc_heap_free(h);
        CHECK_EQ_INT(c.live_large, 0);
        CHECK_EQ_INT(c.reserved, 1);
        CHECK_EQ_INT(c.release, c.reserved);
        CHECK_EQ_U64(c.released_bytes, c.reserved_bytes);
    }
}

/* Randomised alloc/free/realloc, contents verified byte for byte and the
** heap checked after every step. */
struct slotrec {
    unsigned char *p;
    size_t n;
    unsigned char fill;
};
static bool intact(const struct slotrec *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->p[i] != (unsigned char)(s->fill + i))
            return false;
    return true;
}
static void stress(unsigned debug, int steps, int check_every)
{
    uint64_t rng = th_seed();
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = false;
    cfg.mem_debug = debug;
    rcgc_heap *h = th_heap_new_cfg(&cfg);
    enum { NS = 600 };
    struct slotrec s[NS];
    memset(s, 0, sizeof s);
    for (int step = 0; step < steps; step++) {
        struct slotrec *x = &s[th_rand(&rng) % NS];
        uint64_t r = th_rand(&rng);
        size_t n;
        switch (r % 8) {
        case 0: n = r >> 8 & 15; break;
        case 1: n = 512 + (r >> 8 & 63) - 32; break;
        case 2: n = (r >> 8) % 20000; break;
        case 3: n = (r >> 8) % 300000; break;
        default: n = (r >> 8) % 600; break;
        }
        if (x->p && !intact(x)) {
            CHECK(!"block contents changed");
            break;
        }
        if (!x->p) {
            x->p = (r & 0x100) ? rcgc_calloc(h, 1, n) : rcgc_malloc(h, n);
            CHECK(x->p != NULL);
            if (r & 0x100)
                for (size_t i = 0; i < n; i++)
                    CHECK(x->p[i] == 0 || !"calloc not zero");
        } else if (r & 0x200) {
            unsigned char *q = rcgc_realloc(h, x->p, n);
            CHECK(q != NULL);
            size_t keep = x->n < n ? x->n : n;
            for (size_t i = 0; i < keep; i++)
                if (q[i] != (unsigned char)(x->fill + i)) {
                    CHECK(!"realloc lost contents");
                    break;
                }
            x->p = q;
        } else {
            rcgc_free(h, x->p);
            x->p = NULL;
            continue;
        }
        x->n = n;
        x->fill = (unsigned char)(r >> 40);
        CHECK(rcgc_usable_size(h, x->p) >= n);
        for (size_t i = 0; i < n; i++)
            x->p[i] = (unsigned char)(x->fill + i);
        if (step % check_every == 0 && rcgc_heap_check(h) != RCGC_OK) {
            CHECK(!"heap check failed");
            fputs(th_output, stderr);
            break;
        }
    }
    for (int i = 0; i < NS; i++) {
        if (s[i].p) {
            CHECK(intact(&s[i]));
            rcgc_free(h, s[i].p);
        }
    }
    CHECK_HEAP(h);
    CHECK_EQ_INT(h->mem.bigcount, 0);
    rcgc_heap_free(h);
}
TEST(alloc_random_stress_checked_every_step) { stress(0, 20000, 1); }
TEST(alloc_random_stress_long) { stress(0, 400000, 1000); }

/* Objects: zero-filled, 16-byte aligned, exact is_obj_block. */
TEST(alloc_object_blocks)
{
    rcgc_heap *h = th_heap_new();
    struct rcgc__mem *m = &h->mem;
    size_t sizes[] = {16, 17, 32, 100, 512, 513, 16384, 16385, 2 << 20};
    void *b[9];
    for (int i = 0; i < 9; i++) {
        b[i] = rcgc__mem_obj_alloc(m, sizes[i]);
        CHECK(b[i] != NULL);
        CHECK_EQ_INT((uintptr_t)b[i] % 16, 0);
        CHECK(rcgc__mem_is_obj_block(m, b[i]));
        CHECK(rcgc__mem_obj_size(m, b[i]) >= sizes[i]);
        CHECK(rcgc__mem_heap_of(b[i]) == h);
        CHECK(rcgc__mem_heap_of((char *)b[i] + 16) == h);
        CHECK(rcgc__handle(m, b[i]) != 0);
        CHECK_EQ_PTR(rcgc__unhandle(m, rcgc__handle(m, b[i])), b[i]);
        for (size_t k = 0; k < sizes[i]; k++)
            if (((unsigned char *)b[i])[k]) {
                CHECK(!"object block not zeroed");
                break;
            }
        memset(b[i], 0xFF, sizes[i]);
    }
    CHECK(!rcgc__mem_is_obj_block(m, (char *)b[0] + 16 * 100));
    CHECK_HEAP(h);
    for (int i = 0; i < 9; i++) {
        rcgc__mem_obj_free(m, b[i]);
        CHECK(!rcgc__mem_is_obj_block(m, b[i]));
    }
    /* Reused blocks come back zeroed; bytes 8..15 of a freed block stay. */
    void *x = rcgc__mem_obj_alloc(m, 48);
    memset(x, 0x11, 48);
    ((uint32_t *)x)[2] = 0;
    ((uint16_t *)x)[6] = 0xFFFF;
    rcgc__mem_obj_free(m, x);
    CHECK_EQ_INT(((uint32_t *)x)[2], 0);
    CHECK_EQ_INT(((uint16_t *)x)[6], 0xFFFF);
    void *y = rcgc__mem_obj_alloc(m, 48);
    CHECK_EQ_PTR(y, x);
    for (int k = 0; k < 48; k++)
        CHECK(((unsigned char *)y)[k] == 0);
    rcgc__mem_obj_free(m, y);
    CHECK_HEAP(h);
    rcgc_heap_free(h);
}

/* The last 16-byte object of a pool still maps to its own segment. */
TEST(alloc_object_pool_tail_stays_in_segment)
{
    rcgc_heap *h = th_heap_new();
    struct rcgc__mem *m = &h->mem;
    size_t cap = capacity(16) - 1;
    void **v = malloc((cap + 1) * sizeof *v);
    for (size_t i = 0; i <= cap; i++) {
        v[i] = rcgc__mem_obj_alloc(m, 16);
        CHECK(rcgc__mem_heap_of((char *)v[i] + 16) == h);
    }
    CHECK(seg_of(v[cap]) != seg_of(v[0]));
    for (size_t i = 0; i <= cap; i++)
        rcgc__mem_obj_free(m, v[i]);
    free(v);
    CHECK_HEAP(h);
    rcgc_heap_free(h);
}

/* A smaller region (config) and the halving fallback still work. */
static void *refuse_big(void *ctx, size_t n, size_t a)
{
    rcgc_page_hooks *d = ctx;
    return n > ((size_t)1 << 30) ? NULL : d->reserve(d->ctx, n, a);
}
static void fwd_release(void *ctx, void *p, size_t n)
{
    rcgc_page_hooks *d = ctx;
    d->release(d->ctx, p, n);
}
static int fwd_commit(void *ctx, void *p, size_t n)
{
    rcgc_page_hooks *d = ctx;
    return d->commit(d->ctx, p, n);
}
static void fwd_decommit(void *ctx, void *p, size_t n)
{
    rcgc_page_hooks *d = ctx;
    d->decommit(d->ctx, p, n);
}
TEST(alloc_region_halves_when_reservation_fails)
{
    rcgc_page_hooks d;
    rcgc_page_hooks_default(&d);
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.pages = (rcgc_page_hooks){&d, refuse_big, fwd_commit, fwd_decommit, fwd_release};
    rcgc_heap *h = th_heap_new_cfg(&cfg);
    CHECK(h != NULL);
    CHECK_EQ_U64(h->mem.region_bytes, (size_t)1 << 30);
    void *p = rcgc_malloc(h, 100);
    CHECK(p != NULL);
    rcgc_free(h, p);
    CHECK_HEAP(h);
    rcgc_heap_free(h);

    rcgc_config_init(&cfg);
    cfg.region_bytes = (size_t)8 << 20;
    h = th_heap_new_cfg(&cfg);
    CHECK(h != NULL);
    CHECK_EQ_U64(h->mem.region_bytes, (size_t)8 << 20);
    /* Fill the small region: allocation fails cleanly. */
    size_t got = 0;
    void *last = NULL;
    while ((p = rcgc__mem_obj_alloc(&h->mem, 512)) != NULL) {
        *(void **)p = last;
        last = p;
        got++;
    }
    CHECK(got > 31 * 64 * 4);
    CHECK(rcgc__mem_obj_alloc(&h->mem, 1 << 20) == NULL);
    CHECK_HEAP(h);
    while (last) {
        void *next = *(void **)last;
        rcgc__mem_obj_free(&h->mem, last);
        last = next;
    }
    CHECK_HEAP(h);
    rcgc_heap_free(h);
}

/* Empty arenas: a heap that repeatedly grows to a few arenas and frees them
** stops returning and re-committing them (the kept count adapts, at most
** 16), and rcgc_mem_trim gives every free page back. */
TEST(alloc_arena_retention_adapts_and_trim_returns)
{
    rcgc_heap *h = th_heap_new();
    struct rcgc__mem *m = &h->mem;
    /* 3.5 arenas of pools: at least 3 arenas are wholly emptied each round,
    ** wherever the heap's own segments and kept pools sit. */
    size_t n = capacity(256) * (64 * 3 + 32);
    void **v = malloc(n * sizeof *v);
    uint64_t total_after_round[8];
    for (int round = 0; round < 8; round++) {
        for (size_t i = 0; i < n; i++)
            v[i] = rcgc_malloc(h, 256);
        for (size_t i = n; i-- > 0;)
            rcgc_free(h, v[i]);
        total_after_round[round] = m->arenas_allocated_total;
        fprintf(stderr, "DBG r%d nempty %u keep %u active %u tot %u\n", round, (unsigned)m->nempty, (unsigned)m->keep_limit, (unsigned)m->arenas_active, (unsigned)m->arenas_allocated_total);
        CHECK(m->nempty <= m->keep_limit);
        CHECK(m->keep_limit <= 16);
    }
    CHECK_EQ_U64(total_after_round[7], total_after_round[4]); /* no more thrash */
    CHECK(m->nempty >= 3);
    CHECK_HEAP(h);
    uint64_t committed = m->committed_bytes;
    rcgc_mem_trim(h);
    CHECK_EQ_INT(m->nempty, 0);
    CHECK(m->committed_bytes + 3 * RCGC__ARENA_BYTES <= committed);
    CHECK_HEAP(h);
    void *p = rcgc_malloc(h, 256); /* commits again */
    CHECK(p != NULL);
    rcgc_free(h, p);
    CHECK_HEAP(h);
    free(v);
    rcgc_heap_free(h);
}
