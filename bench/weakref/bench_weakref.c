/*
** bench_weakref.c -- rcgc's weak references on the workloads of
** weakref_cpython.py (same shapes, same operation order):
**
**   create-get-drop N   1000 live objects; N times: make a weak reference to
**                       the next one, dereference it, drop both references
**                       (a new weak reference object each time, as in CPython
**                       where the dropped reference dies);
**   cache-churn N       a weak-value map with string keys over 2000 keys, a
**                       ring of the 1000 most recent values held strongly; N
**                       times: look up a pseudo-random key (the same LCG on
**                       both sides), on a miss make a value and store it;
**                       values leaving the ring die and their entries vanish.
**
** Prints 'SAMPLE ns_per_op=...' and, for cache-churn, the hit count (which
** must equal CPython's: the same work).
*/
#include "../common.h"
#include "rcgc.h"

typedef struct obj {
    long x;
} obj;

static const rcgc_type obj_type = {"obj", sizeof(obj), 0, RCGC_TYPE_WEAKREFABLE,
                                   NULL, NULL, NULL, NULL};

#define LIVE 1000
#define KEYS 2000
#define RING 1000

static rcgc_heap *heap_new(void)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.leak_report = false;
    rcgc_heap *heap = rcgc_heap_new(&cfg);
    if (!heap)
        bench_die("rcgc_heap_new failed");
    return heap;
}

static void create_get_drop(long n)
{
    rcgc_heap *heap = heap_new();
    obj *objs[LIVE];
    for (int i = 0; i < LIVE; i++)
        objs[i] = rcgc_new(heap, &obj_type);
    long alive = 0;
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        rcgc_weakref *r = rcgc_weakref_new(heap, objs[i % LIVE], NULL, NULL);
        obj *x = rcgc_weakref_get(r);
        alive += x != NULL;
        rcgc_unref(x);
        rcgc_unref(r);
    }
    uint64_t t1 = bench_now_ns();
    if (alive != n)
        bench_die("dereference failed");
    printf("ops=%ld\n", n);
    bench_sample("ns_per_op=%.2f", (double)(t1 - t0) / (double)n);
    for (int i = 0; i < LIVE; i++)
        rcgc_unref(objs[i]);
    rcgc_heap_free(heap);
}

static void cache_churn(long n)
{
    rcgc_heap *heap = heap_new();
    static char keys[KEYS][16];
    for (int i = 0; i < KEYS; i++)
        snprintf(keys[i], sizeof keys[i], "key%d", i);
    rcgc_weakmap *d = rcgc_weakvaluemap_new(heap, NULL);
    obj *ring[RING] = {0};
    long hits = 0;
    uint32_t x = 1;
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        x = (x * 1103515245u + 12345u) & 0x7fffffffu;
        const char *k = keys[(x >> 8) % KEYS];
        obj *v = rcgc_weakvaluemap_get(d, k);
        if (v) {
            hits++;
        } else {
            v = rcgc_new(heap, &obj_type);
            if (!v || rcgc_weakvaluemap_set(d, k, v) != RCGC_OK)
                bench_die("out of memory");
        }
        obj *old = ring[i % RING];
        ring[i % RING] = v; /* the ring takes our reference */
        rcgc_xunref(old);
    }
    uint64_t t1 = bench_now_ns();
    printf("hits=%ld len=%zu\n", hits, rcgc_weakmap_len(d));
    bench_sample("ns_per_op=%.2f", (double)(t1 - t0) / (double)n);
    for (int i = 0; i < RING; i++)
        rcgc_xunref(ring[i]);
    rcgc_unref(d);
    rcgc_heap_free(heap);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        bench_die("usage: bench_weakref create-get-drop|cache-churn [N]");
    long n = bench_arg(argc, argv, 2, 1000000);
    if (strcmp(argv[1], "create-get-drop") == 0)
        create_get_drop(n);
    else if (strcmp(argv[1], "cache-churn") == 0)
        cache_churn(n);
    else
        bench_die("unknown case %s", argv[1]);
    return 0;
}
