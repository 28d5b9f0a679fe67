/*
** test_alloc_debug.c -- allocator debug mode (PARITY scenarios 56-57) and
** allocator statistics (scenario 2's stats half, _debugmallocstats, JSON,
** the RSS report).
*/
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "heap.h"

static rcgc_heap *debug_heap(void)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = false;
    cfg.mem_debug = RCGC_MEM_DEBUG;
    return th_heap_new_cfg(&cfg);
}

static const rcgc_type thing = {"thing", 40, 0, 0, NULL, NULL, NULL, NULL};

/* Scenario 56: fill patterns. */
TEST(alloc_debug_fill_patterns)
{
    rcgc_heap *h = debug_heap();
    unsigned char *p = rcgc_malloc(h, 16);
    for (int i = 0; i < 16; i++)
        CHECK_EQ_INT(p[i], 0xCD);
    CHECK_EQ_INT(p[16], 0xFD); /* trailing guard */
    CHECK_EQ_INT(p[-1], 0xFD); /* leading guard */
    CHECK_EQ_INT(p[-8], 'r');  /* API id */
    CHECK_EQ_INT(rcgc_usable_size(h, p), 16);
    unsigned char *keep = rcgc_malloc(h, 16);
    rcgc_free(h, p);
    for (int i = 0; i < 16; i++)
        CHECK_EQ_INT(p[i], 0xDD); /* still our memory: the pool is in use */
    unsigned char *z = rcgc_calloc(h, 4, 4);
    for (int i = 0; i < 16; i++)
        CHECK_EQ_INT(z[i], 0);
    unsigned char *big = rcgc_malloc(h, 3000);
    CHECK_EQ_INT(big[0], 0xCD);
    CHECK_EQ_INT(big[2999], 0xCD);
    CHECK_EQ_INT(big[3000], 0xFD);
    CHECK_EQ_INT(rcgc_usable_size(h, big), 3000);
    big[0] = 1;
    big = rcgc_realloc(h, big, 5000);
    CHECK_EQ_INT(big[0], 1);
    CHECK_EQ_INT(big[5000], 0xFD);
    CHECK(rcgc_owns(h, big));
    CHECK(!rcgc_owns(h, big - 16));
    void *o = rcgc_new(h, &thing);
    CHECK(o != NULL);
    CHECK(rcgc_owns(h, o));
    for (int i = 0; i < 40; i++)
        CHECK_EQ_INT(((unsigned char *)o)[i], 0);
    CHECK(rcgc__mem_is_obj_block(&h->mem, (char *)o - 16));
    CHECK_HEAP(h);
    rcgc_unref(o);
    rcgc_free(h, big);
    rcgc_free(h, z);
    rcgc_free(h, keep);
    CHECK_HEAP(h);
    rcgc_heap_free(h);
}

/* The misuse scenarios below run in a child (CHECK_PANICS); a non-NULL arg
** traces the heap, so the report must name where the block was allocated:
** the calls of alloc_raw/alloc_obj, whose line numbers are taken on the
** line of the call. */
static rcgc_heap *scenario_heap(void *traced)
{
    rcgc_heap *h = debug_heap();
    if (traced && rcgc_trace_start(h, 1) != RCGC_OK)
        abort();
    return h;
}

static const unsigned site_raw = __LINE__; static char *alloc_raw(rcgc_heap *h, size_t n) { return rcgc_malloc(h, n); }
static const unsigned site_obj = __LINE__; static char *alloc_obj(rcgc_heap *h) { return rcgc_new(h, &thing); }

static void overrun_small(void *arg)
{
    rcgc_heap *h = scenario_heap(arg);
    char *p = alloc_raw(h, 16);
    p[16] = 'x';
    rcgc_free(h, p);
}
static void underrun_small(void *arg)
{
    rcgc_heap *h = scenario_heap(arg);
    char *p = alloc_raw(h, 16);
    p[-1] = 'x';
    rcgc_free(h, p);
}
static void overrun_large(void *arg)
{
    rcgc_heap *h = scenario_heap(arg);
    char *p = alloc_raw(h, 2000);
    p[2003] = 'x';
    rcgc_free(h, p);
}
static void overrun_on_realloc(void *arg)
{
    rcgc_heap *h = scenario_heap(arg);
    char *p = alloc_raw(h, 40);
    p[40] = 'x';
    p = rcgc_realloc(h, p, 41);
}
static void object_freed_as_raw(void *arg)
{
    rcgc_heap *h = scenario_heap(arg);
    void *o = alloc_obj(h);
    rcgc_free(h, o);
}
static void double_free(void *arg)
{
    rcgc_heap *h = scenario_heap(arg);
    void *p = alloc_raw(h, 100);
    void *keep = rcgc_malloc(h, 100);
    (void)keep;
    rcgc_free(h, p);
    rcgc_free(h, p);
}
static void never_ours(void *arg)
{
    rcgc_heap *h = scenario_heap(arg);
    char buf[64];
    rcgc_free(h, buf + 16);
}
static void write_after_free(void *arg)
{
    rcgc_heap *h = scenario_heap(arg);
    char *p = alloc_raw(h, 32);
    void *keep = rcgc_malloc(h, 32);
    (void)keep;
    rcgc_free(h, p);
    p[5] = 1;
    rcgc_malloc(h, 32); /* reuses p's block */
}
static void object_overrun(void *arg)
{
    rcgc_heap *h = scenario_heap(arg);
    char *o = alloc_obj(h);
    o[40] = 'x';
    rcgc_unref(o);
}

/* Scenario 56: every misuse ends in the panic hook with CPython's wording
** and a dump naming the block. */
TEST(alloc_debug_detects_misuse)
{
    const char *msg = CHECK_PANICS(overrun_small, NULL, "bad trailing pad byte");
    CHECK_CONTAINS(msg, "at tail+0: 0x78 *** OUCH");
    CHECK_CONTAINS(msg, "16 bytes originally requested");
    CHECK_CONTAINS(msg, "Debug memory block at address p=");
    CHECK_CONTAINS(msg, "The 7 pad bytes at p-7 are FORBIDDENBYTE, as expected.");
    CHECK_CONTAINS(msg, "Data at p: cd cd");
    msg = CHECK_PANICS(underrun_small, NULL, "bad leading pad byte");
    CHECK_CONTAINS(msg, "at p-1: 0x78 *** OUCH");
    CHECK_PANICS(overrun_large, NULL, "bad trailing pad byte");
    CHECK_PANICS(overrun_on_realloc, NULL, "bad trailing pad byte");
    CHECK_PANICS(object_freed_as_raw, NULL,
                 "bad ID: Allocated using API 'o', verified using API 'r'");
    CHECK_PANICS(double_free, NULL, "double free");
    CHECK_PANICS(never_ours, NULL, "never allocated by this heap");
    msg = CHECK_PANICS(write_after_free, NULL, "write after free");
    CHECK_CONTAINS(msg, "byte at block+21 is 0x01");
    CHECK_PANICS(object_overrun, NULL, "bad trailing pad byte");
}

/* ---- Reports name the allocation site when the heap is traced ---------- */

static void double_free_after_realloc(void *arg)
{
    rcgc_heap *h = scenario_heap(arg);
    char *p = alloc_raw(h, 40);
    void *keep = rcgc_malloc(h, 40); /* p's pool stays */
    (void)keep;
    char *q = rcgc_realloc(h, p, 300); /* moves: p is freed */
    (void)q;
    rcgc_free(h, p);
}
/* A block allocated before tracing started has no trace: said so. */
static void untraced_block_overrun(void *arg)
{
    (void)arg;
    rcgc_heap *h = debug_heap();
    char *p = alloc_raw(h, 16);
    if (rcgc_trace_start(h, 1) != RCGC_OK)
        abort();
    p[16] = 'x';
    rcgc_free(h, p);
}
/* Reuse of the address drops the freed block's trace, even when the new
** block is not traced (not sampled). */
static void double_free_after_reuse(void *arg)
{
    rcgc_heap *h = scenario_heap(arg);
    char *p = alloc_raw(h, 16);
    void *keep = rcgc_malloc(h, 16);
    (void)keep;
    rcgc_free(h, p);
    if (rcgc_trace_set_sampling(h, (uint64_t)1 << 60) != RCGC_OK)
        abort();
    char *q = rcgc_malloc(h, 16); /* the same block, not sampled */
    if (q != p || rcgc_trace_get_traceback(h, 0, (uintptr_t)q) != NULL)
        abort();
    rcgc_free(h, q);
    rcgc_free(h, p);
}

TEST(alloc_debug_reports_allocation_site_when_traced)
{
    static int traced = 1;
    char site[64], objsite[64];
    snprintf(site, sizeof site, "test_alloc_debug.c:%u in alloc_raw\n", site_raw);
    snprintf(objsite, sizeof objsite, "test_alloc_debug.c:%u in alloc_obj\n", site_obj);
    const char *msg = CHECK_PANICS(overrun_small, &traced, "bad trailing pad byte");
    CHECK_CONTAINS(msg, "Memory block allocated at (most recent call first):\n");
    CHECK_CONTAINS(msg, site);
    CHECK(strstr(msg, "Enable tracing") == NULL);
    msg = CHECK_PANICS(underrun_small, &traced, "bad leading pad byte");
    CHECK_CONTAINS(msg, site);
    msg = CHECK_PANICS(overrun_large, &traced, "bad trailing pad byte");
    CHECK_CONTAINS(msg, site);
    msg = CHECK_PANICS(overrun_on_realloc, &traced, "bad trailing pad byte");
    CHECK_CONTAINS(msg, site);
    msg = CHECK_PANICS(double_free, &traced, "double free");
    CHECK_CONTAINS(msg, "Memory block allocated at (most recent call first; trace kept after "
                        "the free):\n");
    CHECK_CONTAINS(msg, site);
    msg = CHECK_PANICS(double_free_after_realloc, &traced, "double free");
    CHECK_CONTAINS(msg, site);
    msg = CHECK_PANICS(write_after_free, &traced, "write after free");
    CHECK_CONTAINS(msg, "trace kept after the free");
    CHECK_CONTAINS(msg, site);
    msg = CHECK_PANICS(object_overrun, &traced, "bad trailing pad byte");
    CHECK_CONTAINS(msg, objsite);
    msg = CHECK_PANICS(object_freed_as_raw, &traced, "bad ID");
    CHECK_CONTAINS(msg, objsite);
    CHECK_PANICS(never_ours, &traced, "never allocated by this heap");
    msg = CHECK_PANICS(untraced_block_overrun, NULL, "bad trailing pad byte");
    CHECK_CONTAINS(msg, "No allocation traceback: the block was allocated before tracing");
    msg = CHECK_PANICS(double_free_after_reuse, &traced, "double free");
    CHECK_CONTAINS(msg, "the block is freed and its trace is no longer kept");
    /* Untraced heaps say how to get the traceback. */
    msg = CHECK_PANICS(overrun_small, NULL, "bad trailing pad byte");
    CHECK_CONTAINS(msg, "Enable tracing to get the memory block allocation traceback");
    msg = CHECK_PANICS(double_free, NULL, "double free");
    CHECK_CONTAINS(msg, "Enable tracing to get the memory block allocation traceback");
    /* rcgc_heap_check's findings name the site too. */
    rcgc_heap *h = scenario_heap(&traced);
    char *p = alloc_raw(h, 24);
    p[24] = 'x';
    CHECK_EQ_INT(rcgc_heap_check(h), RCGC_ECORRUPT);
    CHECK_CONTAINS(th_output, "bad trailing pad byte");
    CHECK_CONTAINS(th_output, site);
    p[24] = (char)0xFD;
    CHECK_HEAP(h);
    rcgc_free(h, p);
    rcgc_heap_free(h);
}

/* Native stacks: the frames are symbolised in the report itself. */
static const unsigned native_alloc_call = __LINE__ + 3; /* the rcgc_malloc line below */
__attribute__((noinline)) static char *native_alloc(rcgc_heap *h)
{
    char *p = rcgc_malloc(h, 24);
    __asm__ volatile("" ::: "memory");
    return p;
}
static void traced_native_double_free(void *arg)
{
    (void)arg;
    rcgc_heap *h = debug_heap();
    rcgc_trace_options o;
    rcgc_trace_options_init(&o);
    o.native = true;
    o.max_frames = 8;
    if (rcgc_trace_start_ex(h, &o) != RCGC_OK)
        abort();
    char *p = native_alloc(h);
    void *keep = rcgc_malloc(h, 24);
    (void)keep;
    rcgc_free(h, p);
    rcgc_free(h, p);
}

TEST(alloc_debug_report_symbolises_native_frames)
{
    const char *msg = CHECK_PANICS(traced_native_double_free, NULL, "double free");
    CHECK_CONTAINS(msg, "Memory block allocated at (most recent call first; trace kept after "
                        "the free):\n");
    char site[64];
    snprintf(site, sizeof site, "test_alloc_debug.c:%u in native_alloc\n", native_alloc_call);
    CHECK_CONTAINS(msg, site);
    CHECK_CONTAINS(msg, " in traced_native_double_free\n");
}

/* The heap check finds damage to live and freed blocks without a free. */
TEST(alloc_debug_heap_check_finds_damage)
{
    rcgc_heap *h = debug_heap();
    char *p = rcgc_malloc(h, 24);
    char *q = rcgc_malloc(h, 24);
    char *big = rcgc_malloc(h, 1000);
    CHECK_HEAP(h);
    p[24] = 'x';
    CHECK_EQ_INT(rcgc_heap_check(h), RCGC_ECORRUPT);
    CHECK_CONTAINS(th_output, "bad trailing pad byte");
    p[24] = (char)0xFD;
    CHECK_HEAP(h);
    rcgc_free(h, q);
    q[10] = 7;
    th_output_clear();
    CHECK_EQ_INT(rcgc_heap_check(h), RCGC_ECORRUPT);
    CHECK_CONTAINS(th_output, "was written after it was freed");
    q[10] = (char)0xDD;
    CHECK_HEAP(h);
    big[-3] = 0;
    th_output_clear();
    CHECK_EQ_INT(rcgc_heap_check(h), RCGC_ECORRUPT);
    CHECK_CONTAINS(th_output, "bad leading pad byte");
    big[-3] = (char)0xFD;
    CHECK_HEAP(h);
    rcgc_free(h, big);
    rcgc_free(h, p);
    rcgc_heap_free(h);
}

/* Scenario 57: the freed-pointer heuristic. */
TEST(alloc_ptr_is_freed_heuristic)
{
    void *v;
    CHECK(rcgc_ptr_is_freed(NULL));
    memset(&v, 0xCD, sizeof v);
    CHECK(rcgc_ptr_is_freed(v));
    memset(&v, 0xDD, sizeof v);
    CHECK(rcgc_ptr_is_freed(v));
    memset(&v, 0xFD, sizeof v);
    CHECK(rcgc_ptr_is_freed(v));
    int x;
    CHECK(!rcgc_ptr_is_freed(&x));
    memset(&v, 0xDD, sizeof v);
    ((unsigned char *)&v)[0] = 0xDC;
    CHECK(!rcgc_ptr_is_freed(v));
    /* A pointer read out of a freed debug block reads as freed. */
    rcgc_heap *h = debug_heap();
    void **p = rcgc_malloc(h, 32);
    void *keep = rcgc_malloc(h, 32);
    p[1] = &x;
    rcgc_free(h, p);
    CHECK(rcgc_ptr_is_freed(p[1]));
    rcgc_free(h, keep);
    rcgc_heap_free(h);
}

/* Debug mode under random load: checked heap, exact contents. */
TEST(alloc_debug_random_stress)
{
    uint64_t rng = th_seed();
    rcgc_heap *h = debug_heap();
    enum { NS = 300 };
    unsigned char *s[NS] = {0};
    size_t n[NS] = {0};
    for (int step = 0; step < 20000; step++) {
        int i = (int)(th_rand(&rng) % NS);
        size_t want = th_rand(&rng) % ((step & 7) ? 600 : 9000);
        if (s[i]) {
            for (size_t k = 0; k < n[i]; k++)
                if (s[i][k] != (unsigned char)(i + k)) {
                    CHECK(!"contents changed");
                    break;
                }
        }
        if (s[i] && (step & 1)) {
            rcgc_free(h, s[i]);
            s[i] = NULL;
            continue;
        }
        s[i] = s[i] ? rcgc_realloc(h, s[i], want) : rcgc_malloc(h, want);
        for (size_t k = n[i] < want && s[i] ? n[i] : want; k < want; k++)
            s[i][k] = (unsigned char)(i + k);
        for (size_t k = 0; k < want; k++)
            s[i][k] = (unsigned char)(i + k);
        n[i] = want;
        if (step % 500 == 0)
            CHECK_HEAP(h);
    }
    for (int i = 0; i < NS; i++)
        rcgc_free(h, s[i]);
    CHECK_HEAP(h);
    rcgc_heap_free(h);
}

/* ===================================================================== */
/* Statistics                                                             */
/* ===================================================================== */

static rcgc_mem_stats stats(rcgc_heap *h)
{
    rcgc_mem_stats s;
    s.struct_size = sizeof s;
    rcgc_mem_stats_get(h, &s);
    return s;
}

/* Scenario 2's stats half: blocks in use + available = capacity. */
TEST(alloc_stats_pool_counts)
{
    rcgc_heap *h = th_heap_new();
    rcgc_mem_stats s0 = stats(h);
    CHECK_EQ_INT(s0.version, RCGC_MEM_STATS_VERSION);
    void *v[1014];
    for (int i = 0; i < 1014; i++)
        v[i] = rcgc_malloc(h, 16);
    rcgc_mem_stats s = stats(h);
    CHECK_EQ_INT(s.pools - s0.pools, 2);
    CHECK_EQ_INT(s.small_blocks - s0.small_blocks, 1014);
    CHECK_EQ_INT(s.live_bytes, s.small_bytes + s.object_run_bytes + s.large_bytes);
    CHECK_EQ_INT(s.live_blocks, s.small_blocks + s.object_run_blocks + s.large_blocks);
    rcgc_mem_debug_dump(h);
    CHECK_CONTAINS(th_output, "Small block threshold = 512, in 32 size classes.");
    CHECK_CONTAINS(th_output, "    0     16           2            1014          1012");
    CHECK_CONTAINS(th_output, "# arenas allocated current");
    CHECK_CONTAINS(th_output, "# bytes lost to pool headers");
    for (int i = 0; i < 1014; i++)
        rcgc_free(h, v[i]);
    /* The last pool of a class to empty stays as its spare (its arena has
    ** other segments in use); rcgc_mem_trim gives it back. */
    s = stats(h);
    CHECK_EQ_INT(s.pools, s0.pools + 1);
    CHECK_EQ_INT(s.small_blocks, s0.small_blocks);
    rcgc_mem_trim(h);
    s = stats(h);
    CHECK(s.pools <= s0.pools);
    CHECK_HEAP(h);
    rcgc_heap_free(h);
}

/* Scenario 4 through the public stats: arenas reclaimed, one kept. */
TEST(alloc_stats_arenas)
{
    rcgc_heap *h = th_heap_new();
    rcgc_mem_stats s0 = stats(h);
    size_t n = 253 * 64 * 3 + 500;
    void **v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = rcgc_malloc(h, 64);
    rcgc_mem_stats s1 = stats(h);
    CHECK(s1.arenas_current >= s0.arenas_current + 3);
    CHECK_EQ_INT(s1.arenas_highwater, s1.arenas_current);
    for (size_t i = 0; i < n; i++)
        rcgc_free(h, v[i]);
    free(v);
    rcgc_mem_stats s2 = stats(h);
    CHECK_EQ_INT(s2.arenas_current, s0.arenas_current + 1);
    CHECK_EQ_INT(s2.arenas_reclaimed, s1.arenas_current - s2.arenas_current);
    CHECK_EQ_INT(s2.unused_pool_bytes - s0.unused_pool_bytes, 64 * 16384); /* the kept arena */
    CHECK_EQ_INT(s2.live_blocks, s0.live_blocks);
    CHECK(s2.returned_bytes >= s2.arenas_reclaimed * (1u << 20));
    rcgc_heap_free(h);
}

/* Spare pools never keep an arena alive between them: three classes whose
** last pools share the newest arena, freed in allocation order. The first
** two to empty stay as spares (their arena still holds live blocks); when
** the third empties the arena holds only spares, so all three go back and
** the arena empties. Before this rule the three pinned one another. */
TEST(alloc_spares_do_not_pin_an_arena)
{
    rcgc_heap *h = th_heap_new();
    rcgc_mem_stats s0 = stats(h);
    size_t cap = 3 * 64 * 1013, n = 0;
    void **v = malloc(cap * sizeof *v);
    while (n + 3 <= cap && stats(h).arenas_current < s0.arenas_current + 3)
        for (unsigned k = 1; k <= 3; k++)
            CHECK((v[n++] = rcgc_malloc(h, 16 * k)) != NULL);
    CHECK(stats(h).arenas_current >= s0.arenas_current + 3);
    for (size_t i = 0; i < n; i++)
        rcgc_free(h, v[i]);
    free(v);
    rcgc_mem_stats s = stats(h);
    CHECK_EQ_INT(s.pools, s0.pools);
    CHECK_EQ_INT(s.small_blocks, s0.small_blocks);
    CHECK(s.arenas_current <= s0.arenas_current + 1); /* one empty arena kept */
    CHECK_HEAP(h);
    rcgc_heap_free(h);
}

TEST(alloc_stats_text_and_json)
{
    rcgc_heap *h = th_heap_new();
    void *p = rcgc_malloc(h, 100000);
    void *o = rcgc_new(h, &thing);
    rcgc_mem_stats_print(h);
    CHECK_CONTAINS(th_output, "rcgc allocator statistics (version 2)");
    CHECK_CONTAINS(th_output, "large_blocks             =                    1");
    CHECK_CONTAINS(th_output, "# bytes in live blocks");
    char small[16];
    size_t need = rcgc_mem_stats_json(h, small, sizeof small);
    CHECK(need > sizeof small);
    CHECK_EQ_INT(strlen(small), sizeof small - 1);
    char *buf = malloc(need + 1);
    CHECK_EQ_INT(rcgc_mem_stats_json(h, buf, need + 1), need);
    CHECK_EQ_INT(strlen(buf), need);
    CHECK(buf[0] == '{' && buf[need - 1] == '}');
    CHECK_CONTAINS(buf, "\"version\": 2, \"live_bytes\": ");
    CHECK_CONTAINS(buf, "\"large_bytes\": 100000,");
    CHECK_CONTAINS(buf, "\"fault_allocations\": ");
    free(buf);
    /* An older, shorter struct gets only its prefix. */
    rcgc_mem_stats s;
    memset(&s, 0xAB, sizeof s);
    s.struct_size = offsetof(rcgc_mem_stats, small_bytes);
    rcgc_mem_stats_get(h, &s);
    CHECK_EQ_INT(s.version, RCGC_MEM_STATS_VERSION);
    CHECK(s.live_bytes > 100000);
    CHECK_EQ_U64(s.small_bytes, 0xABABABABABABABABull);
    rcgc_unref(o);
    rcgc_free(h, p);
    rcgc_heap_free(h);
}

/* rcgc_allocated_bytes: block sizes handed out, cumulative, whatever the
** path (pool, object, page run, large block, realloc); frees do not lower
** it; the stats struct (version 2) carries the same figure. */
TEST(alloc_allocated_bytes_counts_every_path)
{
    static const rcgc_type big_type = {"big", 2000, 0, 0, NULL, NULL, NULL, NULL};
    static const rcgc_type small_type = {"small", 24, 0, 0, NULL, NULL, NULL, NULL};
    rcgc_heap *h = th_heap_new();
    uint64_t b0 = rcgc_allocated_bytes(h);
    void *p = rcgc_malloc(h, 100); /* a 112-byte pool block */
    CHECK_EQ_U64(rcgc_allocated_bytes(h) - b0, 112);
    rcgc_free(h, p);
    CHECK_EQ_U64(rcgc_allocated_bytes(h) - b0, 112);
    void *o = rcgc_new(h, &small_type); /* 16 + 24 -> 48-byte block */
    CHECK_EQ_U64(rcgc_allocated_bytes(h) - b0, 112 + 48);
    void *r = rcgc_new(h, &big_type); /* a page run: usable bytes */
    uint64_t with_run = rcgc_allocated_bytes(h) - b0;
    CHECK(with_run >= 112 + 48 + 2016 && with_run <= 112 + 48 + 16384);
    void *l = rcgc_malloc(h, 100000); /* the large hooks */
    CHECK_EQ_U64(rcgc_allocated_bytes(h) - b0, with_run + 100000);
    l = rcgc_realloc(h, l, 200000);
    CHECK(l != NULL);
    CHECK_EQ_U64(rcgc_allocated_bytes(h) - b0, with_run + 300000);
    rcgc_mem_stats s;
    s.struct_size = sizeof s;
    rcgc_mem_stats_get(h, &s);
    CHECK_EQ_U64(s.allocated_bytes_total, rcgc_allocated_bytes(h));
    rcgc_free(h, l);
    rcgc_unref(r);
    rcgc_unref(o);
    CHECK_HEAP(h);
    rcgc_heap_free(h);
}

TEST(alloc_rss_report_reconciles)
{
    rcgc_heap *h = th_heap_new();
    enum { N = 20000 };
    void **v = malloc(N * sizeof *v);
    for (int i = 0; i < N; i++) {
        v[i] = rcgc_malloc(h, 256);
        memset(v[i], 1, 256);
    }
    rcgc_mem_rss r;
    CHECK_EQ_INT(rcgc_mem_rss_get(h, &r), RCGC_OK);
    CHECK(r.process_rss_bytes > 0);
    CHECK(r.region_resident_bytes >= (uint64_t)N * 256);
    CHECK(r.live_bytes >= (uint64_t)N * 256);
    CHECK_EQ_U64(r.region_resident_bytes, r.live_bytes + r.free_held_bytes);
    CHECK_EQ_U64(r.process_rss_bytes,
                 r.region_resident_bytes + r.large_bytes + r.outside_bytes);
    uint64_t before = r.region_resident_bytes;
    for (int i = 0; i < N; i++)
        rcgc_free(h, v[i]);
    free(v);
    CHECK_EQ_INT(rcgc_mem_rss_get(h, &r), RCGC_OK);
    /* Freed arenas are returned: at most the kept arena and the first
    ** arena's pools stay resident. */
    CHECK(r.region_resident_bytes + (uint64_t)N * 256 / 2 < before);
    CHECK(r.returned_bytes > 0);
    CHECK_EQ_INT(rcgc_mem_report(h), RCGC_OK);
    CHECK_CONTAINS(th_output, "rcgc memory report");
    CHECK_CONTAINS(th_output, "outside_bytes");
    rcgc_heap_free(h);
}
