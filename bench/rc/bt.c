/*
** bt.c -- the Benchmarks Game binary-trees shape (our own code), single
** threaded, built four times with a different allocator each (bench/
** CMakeLists.txt):
**
**   BT_RCGC       rcgc objects, freed by reference counting (argv[2] = 0 turns
**                 automatic collection off; nodes are tracked either way)
**   BT_MALLOC     explicit malloc/free (glibc), or with BT_MIMALLOC
**                 mi_malloc/mi_free
**   BT_BOEHM      GC_MALLOC, never freed (Boehm-Demers-Weiser GC)
**
** binary_trees.py is CPython's. All print the same check lines, which the
** driver compares, then 'SAMPLE seconds=...' (wall time of the whole run).
** Every tree node is allocated parent first, then left and right subtrees.
*/
#if defined(BT_RCGC)
#include "../node.h" /* struct node and its rcgc type */
#else
#include "../common.h"
typedef struct node {
    struct node *left;
    struct node *right;
} node;
#endif

#if defined(BT_RCGC)
#define BT_NAME "rcgc"
static rcgc_heap *heap;

static void setup(int argc, char **argv)
{
    heap = bench_heap_new(bench_arg(argc, argv, 2, 1) != 0);
}
static void teardown(void) { rcgc_heap_free(heap); }
static node *alloc_node(void) { return rcgc_new(heap, bench_node_type()); }
/* Reference counting frees the whole tree (clear drops the children). */
static void free_tree(node *n) { rcgc_unref(n); }

#elif defined(BT_MALLOC)
#if defined(BT_MIMALLOC)
#include <mimalloc.h>
#define BT_NAME "mimalloc"
#define bt_malloc mi_malloc
#define bt_free mi_free
#else
#define BT_NAME "glibc"
#define bt_malloc malloc
#define bt_free free
#endif

static void setup(int argc, char **argv)
{
    (void)argc;
    (void)argv;
}
static void teardown(void) {}
static node *alloc_node(void)
{
    node *n = bt_malloc(sizeof *n);
    if (n)
        n->left = n->right = NULL;
    return n;
}
static void free_tree(node *n)
{
    if (n->left) {
        free_tree(n->left);
        free_tree(n->right);
    }
    bt_free(n);
}

#elif defined(BT_BOEHM)
#include <gc.h>
#define BT_NAME "boehm"

static void setup(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    GC_INIT();
}
static void teardown(void) {}
/* GC_MALLOC returns cleared memory. */
static node *alloc_node(void) { return GC_MALLOC(sizeof(node)); }
/* The collector finds the tree unreachable once the caller drops it. */
static void free_tree(node *n) { (void)n; }

#else
#error "define BT_RCGC, BT_MALLOC or BT_BOEHM"
#endif

static node *bottom_up_tree(int depth)
{
    node *n = alloc_node();
    if (!n)
        bench_die(BT_NAME ": out of memory");
    if (depth > 0) {
        n->left = bottom_up_tree(depth - 1);
        n->right = bottom_up_tree(depth - 1);
    }
    return n;
}

static long item_check(const node *n)
{
    return n->left ? 1 + item_check(n->left) + item_check(n->right) : 1;
}

int main(int argc, char **argv)
{
    const int min_depth = 4;
    int n = (int)bench_arg(argc, argv, 1, 16);
    int max_depth = n > min_depth + 2 ? n : min_depth + 2;
    uint64_t t0 = bench_now_ns();
    node *tree, *long_lived;

    setup(argc, argv);
    tree = bottom_up_tree(max_depth + 1);
    printf("stretch tree of depth %d\t check: %ld\n", max_depth + 1, item_check(tree));
    free_tree(tree);

    long_lived = bottom_up_tree(max_depth);
    for (int depth = min_depth; depth <= max_depth; depth += 2) {
        long iterations = 1L << (max_depth - depth + min_depth), check = 0;
        for (long i = 0; i < iterations; i++) {
            tree = bottom_up_tree(depth);
            check += item_check(tree);
            free_tree(tree);
        }
        printf("%ld\t trees of depth %d\t check: %ld\n", iterations, depth, check);
    }
    printf("long lived tree of depth %d\t check: %ld\n", max_depth, item_check(long_lived));
    free_tree(long_lived);
    teardown();
    bench_sample("seconds=%.4f", (double)(bench_now_ns() - t0) / 1e9);
    return 0;
}
