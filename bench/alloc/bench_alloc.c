/*
** bench_alloc.c -- small-object allocator workloads (../../shared/BENCH.md,
** the alloc suite), one program per allocator: built as rcgc (BA_RCGC: rcgc_malloc/
** rcgc_free on one heap), plain malloc/free (BA_MALLOC: glibc, or jemalloc /
** tcmalloc when linked in), mimalloc (BA_MIMALLOC: mi_malloc/mi_free) and
** CPython's pymalloc (BA_PYMALLOC: PyObject_Malloc/PyObject_Free from
** libpython3.11). Every side runs the same operation sequence: sizes and
** slot orders are precomputed from a fixed seed before the clock starts.
**
**   bench_alloc_<x> <case> [scale]
**   cases: uniform small lifo-100 lifo-10k random-10k random-1M sliding-100k
**
** Prints one SAMPLE line: ns_per_pair (median of the repetitions), the RSS
** growth that remains after everything is freed (rss_after_free_mib), and
** the same after the allocator's own trim call (rss_after_trim_mib:
** rcgc_mem_trim, mi_collect(true), malloc_trim(0), jemalloc's
** arena.<all>.purge, tcmalloc's MallocExtension_ReleaseFreeMemory; pymalloc
** has none and returns empty arenas by itself).
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common.h"

#if defined(BA_RCGC)
#include "rcgc.h"
static rcgc_heap *heap;
#define BA_NAME "rcgc"
static void ba_init(void)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = false;
    cfg.leak_report = false;
    heap = rcgc_heap_new(&cfg);
    if (!heap)
        bench_die("rcgc_heap_new failed");
}
static inline void *ba_malloc(size_t n) { return rcgc_malloc(heap, n); }
static inline void ba_free(void *p) { rcgc_free(heap, p); }
static void ba_trim(void) { rcgc_mem_trim(heap); }
#elif defined(BA_MIMALLOC)
#include <mimalloc.h>
#define BA_NAME "mimalloc"
static void ba_init(void) {}
static inline void *ba_malloc(size_t n) { return mi_malloc(n); }
static inline void ba_free(void *p) { mi_free(p); }
static void ba_trim(void) { mi_collect(true); }
#elif defined(BA_PYMALLOC)
/* From Python.h (CPython 3.11's stable ABI); declared here so the program
** needs only libpython3.11, not its headers. */
void *PyObject_Malloc(size_t size);
void PyObject_Free(void *ptr);
void Py_InitializeEx(int initsigs);
#define BA_NAME "pymalloc"
static void ba_init(void) { Py_InitializeEx(0); }
static inline void *ba_malloc(size_t n) { return PyObject_Malloc(n); }
static inline void ba_free(void *p) { PyObject_Free(p); }
static void ba_trim(void) {} /* pymalloc frees empty arenas by itself */
#else
#define BA_NAME "malloc"
static void ba_init(void) {}
static inline void *ba_malloc(size_t n) { return malloc(n); }
static inline void ba_free(void *p) { free(p); }
#if defined(BA_JEMALLOC)
/* jemalloc's control interface (Debian builds it without a prefix):
** purge every arena (MALLCTL_ARENAS_ALL = 4096). */
int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);
static void ba_trim(void) { mallctl("arena.4096.purge", NULL, NULL, NULL, 0); }
#elif defined(BA_TCMALLOC)
void MallocExtension_ReleaseFreeMemory(void); /* gperftools' C interface */
static void ba_trim(void) { MallocExtension_ReleaseFreeMemory(); }
#else
#include <malloc.h>
static void ba_trim(void) { malloc_trim(0); }
#endif
#endif

#define MASK ((1u << 16) - 1) /* precomputed tables: 64 Ki entries */
static uint32_t sizes[MASK + 1];
static uint32_t picks[MASK + 1];

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next_rand(void)
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void *must(void *p)
{
    if (!p)
        bench_die("%s: out of memory", BA_NAME);
    *(volatile char *)p = 1; /* touch it, as a user would */
    return p;
}

/* Window of 'live' blocks; each step frees a random one and allocates. */
static double window(void **slot, size_t live, size_t steps, unsigned pickmask)
{
    for (size_t i = 0; i < live; i++)
        slot[i] = must(ba_malloc(sizes[i & MASK]));
    uint64_t t0 = bench_now_ns();
    for (size_t s = 0; s < steps; s++) {
        uint32_t i = picks[s & MASK] & pickmask;
        ba_free(slot[i]);
        slot[i] = must(ba_malloc(sizes[(s * 7) & MASK]));
    }
    uint64_t t1 = bench_now_ns();
    for (size_t i = 0; i < live; i++)
        ba_free(slot[i]);
    return (double)(t1 - t0) / (double)steps;
}

/* Batches: allocate 'batch' blocks, free them newest first. */
static double lifo(void **slot, size_t batch, size_t pairs)
{
    size_t rounds = pairs / batch;
    uint64_t t0 = bench_now_ns();
    for (size_t r = 0; r < rounds; r++) {
        for (size_t i = 0; i < batch; i++)
            slot[i] = must(ba_malloc(sizes[(r + i) & MASK]));
        for (size_t i = batch; i-- > 0;)
            ba_free(slot[i]);
    }
    return (double)(bench_now_ns() - t0) / (double)(rounds * batch);
}

/* Allocate 'live' blocks, free them in a random order (a fixed shuffle). */
static double random_order(void **slot, uint32_t *perm, size_t live, size_t pairs)
{
    size_t rounds = pairs / live ? pairs / live : 1;
    uint64_t t0 = bench_now_ns();
    for (size_t r = 0; r < rounds; r++) {
        for (size_t i = 0; i < live; i++)
            slot[i] = must(ba_malloc(sizes[(r + i) & MASK]));
        for (size_t i = 0; i < live; i++)
            ba_free(slot[perm[i]]);
    }
    return (double)(bench_now_ns() - t0) / (double)(rounds * live);
}

/* A sliding working set: free the oldest block, allocate a new one. */
static double sliding(void **slot, size_t live, size_t steps)
{
    for (size_t i = 0; i < live; i++)
        slot[i] = must(ba_malloc(sizes[i & MASK]));
    uint64_t t0 = bench_now_ns();
    size_t j = 0;
    for (size_t s = 0; s < steps; s++) {
        ba_free(slot[j]);
        slot[j] = must(ba_malloc(sizes[(s * 7) & MASK]));
        if (++j == live)
            j = 0;
    }
    uint64_t t1 = bench_now_ns();
    for (size_t i = 0; i < live; i++)
        ba_free(slot[i]);
    return (double)(t1 - t0) / (double)steps;
}

int main(int argc, char **argv)
{
    const char *c = argc > 1 ? argv[1] : "uniform";
    double scale = argc > 2 ? atof(argv[2]) : 1.0;
    size_t steps = (size_t)(4e6 * scale);
    unsigned lo = 16, hi = 512;
    if (strcmp(c, "small") == 0)
        hi = 64;
    for (unsigned i = 0; i <= MASK; i++) {
        sizes[i] = lo + (unsigned)(next_rand() % (hi - lo + 1));
        picks[i] = (uint32_t)next_rand();
    }
    size_t maxlive = 1000000;
    void **slot = calloc(maxlive, sizeof *slot);
    uint32_t *perm = malloc(maxlive * sizeof *perm);
    if (!slot || !perm)
        bench_die("setup: out of memory");
    /* Both arrays resident before rss0, with nonzero values: a compiler may
    ** turn malloc + memset(0) into calloc, whose fresh pages stay untouched
    ** (random-1M then counted the 4 MB of 'perm' against the allocator). */
    for (size_t i = 0; i < maxlive; i++) {
        slot[i] = &slot[i];
        perm[i] = (uint32_t)i;
    }
    ba_init();
    ba_free(must(ba_malloc(16))); /* initialise the allocator */
    size_t rss0 = bench_rss_bytes();

    enum { REPS = 3 };
    double t[REPS];
    for (int rep = 0; rep < REPS; rep++) {
        if (strcmp(c, "uniform") == 0 || strcmp(c, "small") == 0) {
            t[rep] = window(slot, 1024, steps, 1023);
        } else if (strcmp(c, "lifo-100") == 0) {
            t[rep] = lifo(slot, 100, steps);
        } else if (strcmp(c, "lifo-10k") == 0) {
            t[rep] = lifo(slot, 10000, steps);
        } else if (strcmp(c, "random-10k") == 0 || strcmp(c, "random-1M") == 0) {
            size_t live = c[7] == '1' && c[8] == 'M' ? 1000000 : 10000;
            for (size_t i = 0; i < live; i++)
                perm[i] = (uint32_t)i;
            for (size_t i = live; i-- > 1;) {
                size_t k = (size_t)(next_rand() % (i + 1));
                uint32_t x = perm[i];
                perm[i] = perm[k];
                perm[k] = x;
            }
            t[rep] = random_order(slot, perm, live, live == 1000000 ? (size_t)(1e6 * scale) : steps / 2);
        } else if (strcmp(c, "sliding-100k") == 0) {
            t[rep] = sliding(slot, 100000, steps);
        } else {
            bench_die("unknown case '%s'", c);
        }
    }
    size_t rss1 = bench_rss_bytes();
    double after = ((double)rss1 - (double)rss0) / 1048576.0;
    ba_trim();
    double trimmed = ((double)bench_rss_bytes() - (double)rss0) / 1048576.0;
    bench_sample("ns_per_pair=%.2f rss_after_free_mib=%.2f rss_after_trim_mib=%.2f",
                 bench_median(t, REPS), after < 0 ? 0.0 : after, trimmed < 0 ? 0.0 : trimmed);
    free(slot);
    free(perm);
    return 0;
}
