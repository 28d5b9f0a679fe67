/*
** bench_trace.c -- the allocation tracer's cost (bench/trace/suite.py).
**
**   bench_trace slowdown MODE N   MODE: exact1 | native16 | sampled
**       N iterations of the churn workload: a box object with 10 node
**       objects and one string object (8-40 bytes), built and dropped; run
**       untraced and traced alternately (9 pairs, after a warm-up) and print
**       SAMPLE slowdown=<median of the pairs' traced / untraced wall times>
**       slowdown_cpu=<the same in thread CPU time: what another process
**       takes from the machine during a phase is not counted>.
**   bench_trace snapshot N
**       N live node objects from 10 call sites, traced with 1 frame; time
**       rcgc_trace_take_snapshot + statistics by line:
**       SAMPLE ms=<snapshot + statistics> snapshot_ms=.. stats_ms=..
**       tracer_bytes_per_trace=..
** trace_cpython.py does the same work with tracemalloc. Release build.
*/
#include "../common.h"
#include "rcgc.h"

#include <string.h>
#include <time.h>

typedef struct node {
    void *a, *b;
} node;

typedef struct box {
    size_t n;
    void *items[];
} box;

static int box_traverse(void *o, rcgc_visit_fn visit, void *arg)
{
    box *b = o;
    for (size_t i = 0; i < b->n; i++)
        RCGC_VISIT(b->items[i]);
    return 0;
}

static void box_clear(void *o)
{
    box *b = o;
    for (size_t i = 0; i < b->n; i++)
        RCGC_CLEAR(b->items[i]);
}

static const rcgc_type node_type = {"node", sizeof(node), 0, 0, NULL, NULL, NULL, NULL};
static const rcgc_type box_type = {"box", sizeof(box), sizeof(void *), 0, box_traverse,
                                   box_clear, NULL, NULL};
static const rcgc_type str_type = {"str", sizeof(size_t), 1, 0, NULL, NULL, NULL, NULL};

static double now_s(void)
{
    return (double)bench_now_ns() * 1e-9;
}

__attribute__((noinline)) static void churn(rcgc_heap *h, long n)
{
    char text[64];
    for (long i = 0; i < n; i++) {
        box *b = rcgc_new_var(h, &box_type, 10);
        b->n = 10;
        for (int k = 0; k < 10; k++)
            b->items[k] = rcgc_new(h, &node_type);
        int len = snprintf(text, sizeof text, "item-%ld-%s", i, i & 1 ? "odd" : "even-number");
        size_t *s = rcgc_new_var(h, &str_type, (size_t)len + 1);
        s[0] = (size_t)len;
        memcpy(s + 1, text, (size_t)len + 1);
        rcgc_unref(s);
        rcgc_unref(b);
    }
}

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Wall time of n iterations; their thread CPU time in *cpu. */
static double timed(rcgc_heap *h, long n, double *cpu)
{
    double c0 = thread_cpu_s(), t0 = now_s();
    churn(h, n);
    double t1 = now_s();
    *cpu = thread_cpu_s() - c0;
    return t1 - t0;
}

static rcgc_status start_mode(rcgc_heap *h, const char *mode)
{
    rcgc_trace_options o;
    rcgc_trace_options_init(&o);
    if (strcmp(mode, "exact1") == 0) {
        o.max_frames = 1;
    } else if (strcmp(mode, "native16") == 0) {
        o.max_frames = 16;
        o.native = true;
    } else if (strcmp(mode, "sampled") == 0) {
        o.max_frames = 16;
        o.native = true;
        o.sample_mean_bytes = 512 * 1024;
    } else {
        bench_die("unknown mode '%s' (exact1, native16, sampled)", mode);
    }
    return rcgc_trace_start_ex(h, &o);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

enum { PAIRS = 9 };

static int slowdown(const char *mode, long n)
{
    rcgc_heap *h = rcgc_heap_new(NULL);
    double off[PAIRS], on[PAIRS], ratio[PAIRS], cpu_ratio[PAIRS], off_cpu, on_cpu;
    timed(h, n / 4, &off_cpu); /* warm-up: pools, type table */
    for (int r = 0; r < PAIRS; r++) {
        off[r] = timed(h, n, &off_cpu);
        if (start_mode(h, mode) != RCGC_OK)
            bench_die("rcgc_trace_start failed");
        on[r] = timed(h, n, &on_cpu);
        rcgc_trace_stop(h);
        ratio[r] = on[r] / off[r];
        cpu_ratio[r] = on_cpu / off_cpu;
    }
    qsort(off, PAIRS, sizeof off[0], cmp_double);
    qsort(on, PAIRS, sizeof on[0], cmp_double);
    qsort(ratio, PAIRS, sizeof ratio[0], cmp_double);
    qsort(cpu_ratio, PAIRS, sizeof cpu_ratio[0], cmp_double);
    printf("iterations=%ld allocations_per_iteration=12\n", n);
    bench_sample("slowdown=%.4f slowdown_cpu=%.4f off_ns_per_iter=%.1f on_ns_per_iter=%.1f",
                 ratio[PAIRS / 2], cpu_ratio[PAIRS / 2], off[PAIRS / 2] * 1e9 / (double)n,
                 on[PAIRS / 2] * 1e9 / (double)n);
    rcgc_heap_free(h);
    return 0;
}

/* Ten allocation sites, so statistics have ten groups. */
static void *alloc_site(rcgc_heap *h, int k)
{
    switch (k) {
    case 0: return rcgc_new(h, &node_type);
    case 1: return rcgc_new(h, &node_type);
    case 2: return rcgc_new(h, &node_type);
    case 3: return rcgc_new(h, &node_type);
    case 4: return rcgc_new(h, &node_type);
    case 5: return rcgc_new(h, &node_type);
    case 6: return rcgc_new(h, &node_type);
    case 7: return rcgc_new(h, &node_type);
    case 8: return rcgc_new(h, &node_type);
    default: return rcgc_new(h, &node_type);
    }
}

static int snapshot(long n)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.leak_report = false;
    rcgc_heap *h = rcgc_heap_new(&cfg);
    if (rcgc_trace_start(h, 1) != RCGC_OK)
        bench_die("rcgc_trace_start failed");
    void **objs = malloc((size_t)n * sizeof *objs);
    for (long i = 0; i < n; i++)
        objs[i] = alloc_site(h, (int)(i % 10));
    size_t tracer = rcgc_trace_get_tracer_memory(h);
    double t0 = now_s();
    rcgc_snapshot *s;
    if (rcgc_trace_take_snapshot(h, &s) != RCGC_OK)
        bench_die("snapshot failed");
    double t1 = now_s();
    rcgc_stats *st;
    if (rcgc_snapshot_statistics(s, RCGC_STAT_LINENO, false, &st) != RCGC_OK)
        bench_die("statistics failed");
    double t2 = now_s();
    printf("traces=%zu groups=%zu\n", rcgc_snapshot_count(s) >= (size_t)n ? (size_t)n : 0,
           rcgc_stats_count(st));
    bench_sample("ms=%.2f snapshot_ms=%.2f stats_ms=%.2f tracer_bytes_per_trace=%.1f",
                 (t2 - t0) * 1e3, (t1 - t0) * 1e3, (t2 - t1) * 1e3,
                 (double)tracer / (double)n);
    rcgc_stats_free(st);
    rcgc_snapshot_free(s);
    for (long i = 0; i < n; i++)
        rcgc_unref(objs[i]);
    free(objs);
    rcgc_heap_free(h);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "slowdown") == 0)
        return slowdown(argv[2], bench_arg(argc, argv, 3, 200000));
    if (argc >= 2 && strcmp(argv[1], "snapshot") == 0)
        return snapshot(bench_arg(argc, argv, 2, 1000000));
    bench_die("usage: bench_trace slowdown MODE N | snapshot N");
    return 2;
}
