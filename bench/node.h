/*
** node.h -- the 2-reference object the core's benchmarks build (gc/, rc/):
** the rcgc type, with traverse and clear as a user would write them. The
** CPython scripts use the same shape: a class with __slots__ = (left, right).
*/
#ifndef RCGC_BENCH_NODE_H
#define RCGC_BENCH_NODE_H

#include "common.h"
#include "rcgc.h"

typedef struct node {
    struct node *left;
    struct node *right;
} node;

static inline int bench_node_traverse(void *obj, rcgc_visit_fn visit, void *arg)
{
    node *n = obj;
    RCGC_VISIT(n->left);
    RCGC_VISIT(n->right);
    return 0;
}

static inline void bench_node_clear(void *obj)
{
    node *n = obj;
    RCGC_CLEAR(n->left);
    RCGC_CLEAR(n->right);
}

static inline const rcgc_type *bench_node_type(void)
{
    static const rcgc_type type = {
        .name = "node",
        .size = sizeof(node),
        .traverse = bench_node_traverse,
        .clear = bench_node_clear,
    };
    return &type;
}

/* A new node (refcount 1, zero-filled, tracked); exits on out of memory. */
static inline node *bench_node_new(rcgc_heap *heap)
{
    node *n = rcgc_new(heap, bench_node_type());
    if (!n)
        bench_die("rcgc_new: out of memory");
    return n;
}

/* A heap with the default configuration but no leak report, automatic
** collection on or off; exits on failure. */
static inline rcgc_heap *bench_heap_new(bool gc_enabled)
{
    rcgc_config cfg;
    rcgc_heap *heap;
    rcgc_config_init(&cfg);
    cfg.leak_report = false;
    cfg.gc_enabled = gc_enabled;
    heap = rcgc_heap_new(&cfg);
    if (!heap)
        bench_die("rcgc_heap_new failed");
    return heap;
}

#endif /* RCGC_BENCH_NODE_H */
