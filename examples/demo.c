/*
** demo.c -- rcgc at work, through the public API only (what 'make run' runs).
**
** Builds graphs of "node" objects, some with cycles, drops the roots, and
** shows what reference counting frees at once, what only the cycle collector
** can free, how survivors move to older generations, and how automatic
** collection keeps up with garbage cycles. Checks every figure it prints and
** exits non-zero if the library does not behave as described.
*/
#include <rcgc.h>

#include <stdio.h>

/* ===================================================================== */
/* The node type                                                         */
/* ===================================================================== */

/* Two strong references: enough for rings, doubly linked lists and
** self-loops. */
typedef struct node {
    struct node *next;
    struct node *prev;
    long id;
} node;

/* The demo is a program, not the library: a global counter is fine here.
** node_release() runs once for every node whose memory goes back. */
static unsigned long released_nodes;

static int node_traverse(void *obj, rcgc_visit_fn visit, void *arg)
{
    node *n = obj;
    RCGC_VISIT(n->next);
    RCGC_VISIT(n->prev);
    return 0;
}

static void node_clear(void *obj)
{
    node *n = obj;
    RCGC_CLEAR(n->next);
    RCGC_CLEAR(n->prev);
}

static void node_release(void *obj)
{
    (void)obj;
    released_nodes++;
}

static const rcgc_type node_type = {
    .name = "node",
    .size = sizeof(node),
    .traverse = node_traverse, /* has traverse: tracked by the collector */
    .clear = node_clear,
    .release = node_release,
};

/* ===================================================================== */
/* Graph builders: each returns one strong reference (NULL when out of   */
/* memory, after dropping what it built)                                 */
/* ===================================================================== */

static node *node_new(rcgc_heap *heap, long id)
{
    node *n = rcgc_new(heap, &node_type);
    if (n)
        n->id = id;
    return n;
}

/* A chain first -> ... -> last, no cycle. '*last' is borrowed. */
static node *make_chain(rcgc_heap *heap, long count, node **last)
{
    node *first = node_new(heap, 0);
    node *tail = first;
    for (long i = 1; tail && i < count; i++) {
        tail->next = node_new(heap, i); /* the chain owns the new reference */
        if (!tail->next) {
            rcgc_unref(first);
            return NULL;
        }
        tail = tail->next;
    }
    if (last)
        *last = tail;
    return first;
}

/* A ring: the chain's last node points back at the first (one big cycle). */
static node *make_ring(rcgc_heap *heap, long count)
{
    node *last = NULL;
    node *first = make_chain(heap, count, &last);
    if (first)
        last->next = rcgc_ref(first);
    return first;
}

/* A doubly linked list: every neighbouring pair is a two-node cycle. */
static node *make_dlist(rcgc_heap *heap, long count)
{
    node *first = make_chain(heap, count, NULL);
    for (node *n = first; n && n->next; n = n->next)
        n->next->prev = rcgc_ref(n);
    return first;
}

/* A node that references itself. */
static node *make_self_loop(rcgc_heap *heap)
{
    node *n = node_new(heap, 0);
    if (n)
        n->next = rcgc_ref(n);
    return n;
}

/* ===================================================================== */
/* Reporting                                                             */
/* ===================================================================== */

static int failures;

static void expect(int ok, const char *what)
{
    if (!ok) {
        printf("  UNEXPECTED: %s\n", what);
        failures++;
    }
}

/* The library's own text (statistics logs, leak reports) goes to stdout. */
static void print_output(void *ctx, const char *text)
{
    (void)ctx;
    fputs(text, stdout);
}

/* Called around every collection, explicit or automatic (gc.callbacks). */
static int on_collection(rcgc_heap *heap, rcgc_gc_phase phase, const rcgc_gc_info *info,
                         void *ctx)
{
    (void)heap;
    int *verbose = ctx;
    if (phase == RCGC_GC_STOP && *verbose)
        printf("    [gc] generation %d: %zu examined, %zu freed, %zu uncollectable, %.3f ms\n",
               info->generation, info->candidates, info->collected, info->uncollectable,
               (double)info->duration_ns / 1e6);
    return 0;
}

static void print_generations(rcgc_heap *heap, const char *when)
{
    printf("  tracked objects %s: gen0=%zu gen1=%zu gen2=%zu\n", when,
           rcgc_gc_generation_size(heap, 0), rcgc_gc_generation_size(heap, 1),
           rcgc_gc_generation_size(heap, 2));
}

static void print_stats(rcgc_heap *heap)
{
    printf("  %-10s %11s %9s %13s %10s %10s %13s\n", "generation", "collections", "freed",
           "uncollectable", "examined", "total ms", "max pause ms");
    for (int g = 0; g < RCGC_GC_GENERATIONS; g++) {
        rcgc_gc_stats st;
        rcgc_gc_get_stats(heap, g, &st);
        printf("  %-10d %11llu %9llu %13llu %10llu %10.3f %13.3f\n", g,
               (unsigned long long)st.collections, (unsigned long long)st.collected,
               (unsigned long long)st.uncollectable, (unsigned long long)st.candidates,
               (double)st.duration_ns / 1e6, (double)st.max_pause_ns / 1e6);
    }
}

/* ===================================================================== */
/* The tour                                                              */
/* ===================================================================== */

enum {
    RING_NODES = 1000,
    DLIST_NODES = 1000,
    CHAIN_NODES = 1000,
    KEPT_RING_NODES = 100,
    CHURN_PAIRS = 10000 /* two-node cycles made and dropped in part 2 */
};

int main(void)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.output = print_output;
    cfg.gc_enabled = false; /* part 1 collects only when asked: exact figures */
    rcgc_heap *heap = rcgc_heap_new(&cfg);
    if (!heap) {
        fprintf(stderr, "demo: rcgc_heap_new failed\n");
        return 1;
    }
    int verbose = 1;
    if (rcgc_gc_callback_add(heap, on_collection, &verbose) != RCGC_OK) {
        fprintf(stderr, "demo: rcgc_gc_callback_add failed\n");
        rcgc_heap_free(heap);
        return 1;
    }

    printf("rcgc demo: reference counting plus a generational cycle collector\n\n");
    printf("1. Build graphs of 'node' objects (automatic collection off)\n");
    node *ring = make_ring(heap, RING_NODES);
    node *dlist = make_dlist(heap, DLIST_NODES);
    node *chain = make_chain(heap, CHAIN_NODES, NULL);
    node *self = make_self_loop(heap);
    node *kept = make_ring(heap, KEPT_RING_NODES);
    if (!ring || !dlist || !chain || !self || !kept) {
        fprintf(stderr, "demo: out of memory\n");
        rcgc_heap_free(heap);
        return 1;
    }
    printf("  a ring of %d nodes (one cycle), a doubly linked list of %d nodes (%d two-node\n"
           "  cycles), a chain of %d nodes (no cycle), a node that points at itself, and a\n"
           "  ring of %d nodes that stays referenced by a local variable ('kept')\n",
           RING_NODES, DLIST_NODES, DLIST_NODES - 1, CHAIN_NODES, KEPT_RING_NODES);
    size_t all = RING_NODES + DLIST_NODES + CHAIN_NODES + 1 + KEPT_RING_NODES;
    print_generations(heap, "now");
    expect(rcgc_gc_generation_size(heap, 0) == all, "every node is tracked in generation 0");

    printf("\n2. Drop the chain's root: reference counting frees it at once\n");
    rcgc_unref(chain);
    printf("  released %lu nodes without any collection\n", released_nodes);
    expect(released_nodes == CHAIN_NODES, "the whole chain is freed by refcounting");

    printf("\n3. Drop the roots of the ring, the list and the self-loop\n");
    rcgc_unref(ring);
    rcgc_unref(dlist);
    rcgc_unref(self);
    printf("  released so far: %lu -- each dropped node is still referenced from inside its\n"
           "  cycle, so its count never reaches zero; only the cycle collector frees them\n",
           released_nodes);
    expect(released_nodes == CHAIN_NODES, "cycles are not freed by refcounting");

    printf("\n4. rcgc_gc_collect(heap, 0): collect the youngest generation\n");
    long long found = rcgc_gc_collect(heap, 0);
    printf("  unreachable objects found: %lld; nodes released: %lu\n", found,
           released_nodes - CHAIN_NODES);
    expect(found == RING_NODES + DLIST_NODES + 1, "every dropped cycle is found");
    expect(released_nodes == all - KEPT_RING_NODES, "every dropped cycle is freed");
    print_generations(heap, "after");
    printf("  the %d nodes of 'kept' survived and moved to generation 1, which a\n"
           "  generation-0 collection no longer examines\n", KEPT_RING_NODES);
    expect(rcgc_gc_generation_size(heap, 1) == KEPT_RING_NODES, "survivors are promoted");

    printf("\n5. Drop 'kept' too, then collect generation 0 and then all generations\n");
    rcgc_unref(kept);
    kept = NULL;
    found = rcgc_gc_collect(heap, 0);
    printf("  generation 0 found %lld (the ring now lives in generation 1)\n", found);
    expect(found == 0, "an older generation is not examined by a young collection");
    found = rcgc_gc_collect(heap, 2);
    printf("  a full collection found %lld\n", found);
    expect(found == KEPT_RING_NODES, "a full collection frees the old ring");
    expect(released_nodes == all, "every node of part 1 is freed");

    printf("\n6. Automatic collection with CPython 3.13's thresholds: %d two-node\n"
           "   cycles made and dropped at once\n", CHURN_PAIRS);
    unsigned threshold[3];
    rcgc_gc_get_threshold(heap, threshold);
    printf("  thresholds: %u new objects start a generation-0 collection; every %u of those\n"
           "  a generation-1 one; every %u of those a full one, unless fewer objects than\n"
           "  25%% of the last full collection's survivors have been promoted since\n",
           threshold[0], threshold[1], threshold[2]);
    rcgc_gc_enable(heap);
    verbose = 0; /* dozens of collections: print the totals below instead */
    unsigned long before = released_nodes;
    for (int i = 0; i < CHURN_PAIRS; i++) {
        node *a = make_dlist(heap, 2);
        if (!a) {
            fprintf(stderr, "demo: out of memory\n");
            rcgc_heap_free(heap);
            return 1;
        }
        rcgc_unref(a);
    }
    size_t count[3];
    rcgc_gc_get_count(heap, count);
    printf("  freed while allocating, by automatic collections: %lu of %d nodes\n",
           released_nodes - before, 2 * CHURN_PAIRS);
    printf("  rcgc_gc_get_count: %zu net new tracked objects since the last generation-0\n"
           "  collection (waiting for the next one), %zu generation-0 collections since the last\n"
           "  generation-1 one, %zu generation-1 collections since the last full one\n",
           count[0], count[1], count[2]);
    expect(released_nodes - before > 0, "automatic collections ran");
    verbose = 1;
    found = rcgc_gc_collect(heap, 2);
    expect(released_nodes - before == 2 * CHURN_PAIRS, "a last collection frees the rest");

    printf("\n7. The collector's statistics (rcgc_gc_get_stats)\n");
    print_stats(heap);
    rcgc_status check = rcgc_heap_check(heap);
    printf("\n  rcgc_heap_check: %s; tracked objects left: %zu; nodes released: %lu\n",
           rcgc_strerror(check), rcgc_gc_generation_size(heap, -1), released_nodes);
    expect(check == RCGC_OK, "the heap's invariants hold");
    expect(rcgc_gc_generation_size(heap, -1) == 0, "nothing is left");

    rcgc_heap_free(heap);
    if (failures) {
        printf("\ndemo: %d unexpected result(s)\n", failures);
        return 1;
    }
    printf("\ndemo: everything behaved as described\n");
    return 0;
}
