/*
** bench_gc.c -- rcgc's side of the gc suite (gc_cpython.py is CPython's).
** Both build the same graphs of 2-reference objects in the same order and
** print one SAMPLE line for bench/driver.py. Modes (sizes accept 100k/1M):
**
**   traversal N REPS [ORDER]  a forest of N live objects, nothing garbage;
**                             one untimed full collection, then REPS timed
**                             ones; ns_per_obj = median / N. ORDER 0 builds
**                             every object before what it references
**                             (top-down), 1 after (bottom-up)
**   cycles N REPS             N/2 two-object cycles, dropped, one full
**                             collection; ns per collected object
**   rings N K REPS            N/K rings of K objects, dropped, likewise
**   maxpause N CHURN [INCR]   automatic collection on, default thresholds;
**                             grow the forest to N live objects, CHURN
**                             dropped two-object cycles per 1024-object chunk;
**                             longest automatic pause and their total from
**                             rcgc_gc_get_pauses (INCR 1: incremental mode
**                             with a 1 ms budget); the longest collection per
**                             rcgc_gc_get_stats, and in thread CPU time
**   bytes N                   RSS delta of a chain of N objects, per object
**   count N K                 the traversal forest, K + 1 untimed full
**                             collections (instruction counts, callgrind)
*/
#include "../node.h"

/* A forest chunk: one complete binary tree of TREE_DEPTH levels plus the
** spine node holding it, CHUNK objects in all (as in gc_cpython.py). */
#define TREE_DEPTH 10
#define CHUNK (1L << TREE_DEPTH)

/* Parent first, then the left and right subtrees. */
static node *make_tree(rcgc_heap *heap, int depth)
{
    node *n = bench_node_new(heap);
    if (depth > 1) {
        n->left = make_tree(heap, depth - 1);
        n->right = make_tree(heap, depth - 1);
    }
    return n;
}

/* Both subtrees first, then the parent. */
static node *make_tree_bottom_up(rcgc_heap *heap, int depth)
{
    node *left = NULL, *right = NULL, *n;
    if (depth > 1) {
        left = make_tree_bottom_up(heap, depth - 1);
        right = make_tree_bottom_up(heap, depth - 1);
    }
    n = bench_node_new(heap);
    n->left = left;
    n->right = right;
    return n;
}

/* Two objects referencing each other, dropped at once. */
static void make_pair_garbage(rcgc_heap *heap)
{
    node *a = bench_node_new(heap), *b = bench_node_new(heap);
    a->left = rcgc_ref(b);
    b->left = rcgc_ref(a);
    rcgc_unref(a);
    rcgc_unref(b);
}

/*
** Top-down: a chain of spine nodes, each one's left = a tree of CHUNK - 1
** nodes, right = the next spine node, each object created before the ones it
** references. Bottom-up: each spine node references the previous one and is
** created after its tree. Returns the one reference to the chain (the first
** spine node top-down, the last bottom-up); *built = objects in it.
*/
static node *build_forest(rcgc_heap *heap, long n_objects, long churn, bool bottom_up,
                          long *built)
{
    node *head = NULL, *tail = NULL;
    long chunks = n_objects / CHUNK > 0 ? n_objects / CHUNK : 1;
    for (long c = 0; c < chunks; c++) {
        if (bottom_up) {
            node *tree = make_tree_bottom_up(heap, TREE_DEPTH);
            node *spine = bench_node_new(heap);
            spine->left = tree;
            spine->right = head;
            head = spine;
        } else {
            node *spine = bench_node_new(heap);
            if (tail)
                tail->right = spine;
            else
                head = spine;
            tail = spine;
            spine->left = make_tree(heap, TREE_DEPTH);
        }
        for (long i = 0; i < churn; i++)
            make_pair_garbage(heap);
    }
    *built = chunks * CHUNK;
    return head;
}

static uint64_t timed_collect(rcgc_heap *heap, long long *found)
{
    uint64_t t0 = bench_now_ns();
    *found = rcgc_gc_collect(heap, RCGC_GC_GENERATIONS - 1);
    return bench_now_ns() - t0;
}

static void mode_traversal(long n, long reps, long order)
{
    rcgc_heap *heap = bench_heap_new(false);
    long built;
    long long found;
    double *times = calloc((size_t)reps, sizeof *times);
    node *head = build_forest(heap, n, 0, order == 1, &built);
    if (!times)
        bench_die("out of memory");
    timed_collect(heap, &found); /* untimed: everything reaches the oldest generation */
    for (long r = 0; r < reps; r++) {
        times[r] = (double)timed_collect(heap, &found);
        if (found != 0)
            bench_die("traversal: collect found %lld unreachable objects", found);
    }
    double t = bench_median(times, (size_t)reps);
    bench_sample("ns_per_obj=%.3f ms_per_collection=%.3f objects=%ld", t / (double)built,
                 t / 1e6, built);
    (void)head;
    free(times);
    rcgc_heap_free(heap);
}

/* For instruction counts under callgrind: the forest, one full collection
** and k more, untimed (bench/gc/suite.py subtracts a k = 0 run). */
static void mode_count(long n, long k)
{
    rcgc_heap *heap = bench_heap_new(false);
    long built;
    node *head = build_forest(heap, n, 0, false, &built);
    for (long i = 0; i <= k; i++)
        if (rcgc_gc_collect(heap, RCGC_GC_GENERATIONS - 1) != 0)
            bench_die("count: a collection found unreachable objects");
    bench_sample("objects=%ld collections=%ld", built, k);
    (void)head;
    rcgc_heap_free(heap);
}

/* Garbage made by 'make' (which returns how many objects it dropped), then
** one timed full collection, REPS times. */
static void collect_garbage(long (*make)(rcgc_heap *, long, long), long n, long k, long reps)
{
    rcgc_heap *heap = bench_heap_new(false);
    double *times = calloc((size_t)reps, sizeof *times);
    double *per_obj = calloc((size_t)reps, sizeof *per_obj);
    long expected = 0;
    if (!times || !per_obj)
        bench_die("out of memory");
    for (long r = 0; r < reps; r++) {
        long long found;
        expected = make(heap, n, k);
        times[r] = (double)timed_collect(heap, &found);
        if (found != expected)
            bench_die("collect found %lld unreachable objects, expected %ld", found, expected);
        per_obj[r] = times[r] / (double)found;
    }
    bench_sample("ns_per_obj=%.3f ms_per_collection=%.3f objects=%ld",
                 bench_median(per_obj, (size_t)reps), bench_median(times, (size_t)reps) / 1e6,
                 expected);
    free(times);
    free(per_obj);
    rcgc_heap_free(heap);
}

static long make_pairs(rcgc_heap *heap, long n, long k)
{
    (void)k;
    for (long i = 0; i < n / 2; i++)
        make_pair_garbage(heap);
    return n / 2 * 2;
}

static long make_rings(rcgc_heap *heap, long n, long k)
{
    for (long r = 0; r < n / k; r++) {
        node *first = bench_node_new(heap), *prev = first;
        for (long i = 1; i < k; i++) {
            node *next = bench_node_new(heap);
            prev->left = next; /* steals the new reference */
            prev = next;
        }
        prev->left = first; /* the ring now owns our reference to 'first' */
    }
    return n / k * k;
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time of each collection, from the start/stop callbacks: unlike the
** wall-clock pauses it does not count time the scheduler gave to other
** processes, so it holds on a loaded machine. */
typedef struct cpu_pauses {
    uint64_t start_ns;
    uint64_t max_ns;
} cpu_pauses;

static int on_collection(rcgc_heap *heap, rcgc_gc_phase phase, const rcgc_gc_info *info,
                         void *ctx)
{
    cpu_pauses *p = ctx;
    uint64_t now = thread_cpu_ns();
    (void)heap;
    (void)info;
    if (phase == RCGC_GC_START)
        p->start_ns = now;
    else if (now - p->start_ns > p->max_ns)
        p->max_ns = now - p->start_ns;
    return 0;
}

static void mode_maxpause(long n, long churn, long incremental)
{
    cpu_pauses cpu = {0, 0};
    rcgc_heap *heap = bench_heap_new(true);
    long built;
    uint64_t stats_max = 0;
    rcgc_gc_pauses p;
    if (incremental)
        rcgc_gc_set_mode(heap, RCGC_GC_INCREMENTAL, 1000000); /* the default 1 ms budget */
    if (rcgc_gc_callback_add(heap, on_collection, &cpu) != RCGC_OK)
        bench_die("rcgc_gc_callback_add failed");
    uint64_t t0 = bench_now_ns();
    node *head = build_forest(heap, n, churn, false, &built);
    uint64_t wall = bench_now_ns() - t0;
    rcgc_gc_get_pauses(heap, &p);
    for (int g = 0; g < RCGC_GC_GENERATIONS; g++) {
        rcgc_gc_stats st;
        rcgc_gc_get_stats(heap, g, &st);
        if (st.max_pause_ns > stats_max)
            stats_max = st.max_pause_ns;
    }
    bench_sample("max_pause_us=%.1f gc_total_ms=%.2f wall_ms=%.2f gc_share_pct=%.1f "
                 "collections=%llu stats_max_pause_us=%.1f max_collection_cpu_us=%.1f "
                 "objects=%ld",
                 (double)p.max_ns / 1e3, (double)p.total_ns / 1e6, (double)wall / 1e6,
                 100.0 * (double)p.total_ns / (double)wall, (unsigned long long)p.steps,
                 (double)stats_max / 1e3, (double)cpu.max_ns / 1e3, built);
    (void)head;
    rcgc_heap_free(heap);
}

static void mode_bytes(long n)
{
    rcgc_heap *heap = bench_heap_new(false);
    node *head = NULL;
    size_t before, after;
    for (int i = 0; i < 1000; i++) /* the heap's first pages and pools */
        rcgc_unref(bench_node_new(heap));
    before = bench_rss_bytes();
    for (long i = 0; i < n; i++) {
        node *next = bench_node_new(heap);
        next->left = head;
        head = next;
    }
    after = bench_rss_bytes();
    double per_obj = (double)(after - before) / (double)n;
    bench_sample("bytes_per_obj=%.2f overhead_per_obj=%.2f object_size=%zu objects=%ld",
                 per_obj, per_obj - (double)sizeof(node), rcgc_object_size(head), n);
    rcgc_unref(head); /* frees a chain n deep: the bounded-stack dealloc */
    rcgc_heap_free(heap);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    long n = bench_arg(argc, argv, 2, 1000000);
    if (strcmp(mode, "traversal") == 0)
        mode_traversal(n, bench_arg(argc, argv, 3, 3), bench_arg(argc, argv, 4, 0));
    else if (strcmp(mode, "cycles") == 0)
        collect_garbage(make_pairs, n, 2, bench_arg(argc, argv, 3, 3));
    else if (strcmp(mode, "rings") == 0)
        collect_garbage(make_rings, n, bench_arg(argc, argv, 3, 100), bench_arg(argc, argv, 4, 3));
    else if (strcmp(mode, "maxpause") == 0)
        mode_maxpause(n, bench_arg(argc, argv, 3, 0), bench_arg(argc, argv, 4, 0));
    else if (strcmp(mode, "count") == 0)
        mode_count(n, bench_arg(argc, argv, 3, 0));
    else if (strcmp(mode, "bytes") == 0)
        mode_bytes(n);
    else
        bench_die("usage: %s traversal|cycles|rings|maxpause|bytes|count N ...", argv[0]);
    return 0;
}
