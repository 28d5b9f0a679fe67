/*
** test_weakmap.c -- weak containers: weak-value map (string, pointer and
** object keys), weak-key map, weak set. Entries vanish by refcount and by
** collection; removals during iteration are deferred. PARITY scenario 48.
*/
#include <stdint.h>

#include "harness.h"
#include "weak_testtypes.h"

static size_t map_len(rcgc_weakmap *m) { return rcgc_weakmap_len(m); }

/* PARITY 48: value-map entries vanish when the value dies by refcount. */
TEST(weakvaluemap_entry_vanishes_when_value_dies)
{
    rcgc_heap *heap = th_heap_new();
    rcgc_weakmap *d = rcgc_weakvaluemap_new(heap, NULL);
    wt_node *a = wt_new(heap, &wt_node_type, 1);
    wt_node *b = wt_new(heap, &wt_node_type, 2);
    char key[8] = "alpha";
    CHECK_EQ_INT(rcgc_weakvaluemap_set(d, key, a), RCGC_OK);
    strcpy(key, "zzzzz"); /* the map copied the key */
    CHECK_EQ_INT(rcgc_weakvaluemap_set(d, "beta", b), RCGC_OK);
    CHECK_EQ_U64(map_len(d), 2);
    void *g = rcgc_weakvaluemap_get(d, "alpha");
    CHECK_EQ_PTR(g, a);
    rcgc_unref(g);
    CHECK(rcgc_weakvaluemap_get(d, "gamma") == NULL);
    CHECK_EQ_U64(rcgc_weakref_count(a), 1);
    rcgc_unref(a);
    CHECK_EQ_U64(map_len(d), 1);
    CHECK(rcgc_weakvaluemap_get(d, "alpha") == NULL);
    CHECK_HEAP(heap);
    /* Replacing a value re-points the entry. */
    wt_node *c = wt_new(heap, &wt_node_type, 3);
    CHECK_EQ_INT(rcgc_weakvaluemap_set(d, "beta", c), RCGC_OK);
    CHECK_EQ_U64(map_len(d), 1);
    CHECK_EQ_U64(rcgc_weakref_count(b), 0);
    CHECK_EQ_U64(rcgc_weakref_count(c), 1);
    CHECK_EQ_INT(rcgc_weakvaluemap_del(d, "beta"), RCGC_OK);
    CHECK_EQ_INT(rcgc_weakvaluemap_del(d, "beta"), RCGC_ENOTFOUND);
    CHECK_EQ_U64(map_len(d), 0);
    CHECK_HEAP(heap);
    rcgc_unref(b);
    rcgc_unref(c);
    rcgc_unref(d);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 48: ... and when it dies in a collection. */
TEST(weakvaluemap_entry_vanishes_when_value_is_collected)
{
    rcgc_heap *heap = th_heap_new();
    rcgc_weakmap *d = rcgc_weakvaluemap_new(heap, NULL);
    char key[16];
    for (int i = 0; i < 50; i++) {
        wt_node *n = wt_new(heap, &wt_node_type, i);
        n->slot[0] = rcgc_ref(n);
        snprintf(key, sizeof key, "k%d", i);
        CHECK_EQ_INT(rcgc_weakvaluemap_set(d, key, n), RCGC_OK);
        rcgc_unref(n);
    }
    CHECK_EQ_U64(map_len(d), 50);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 50);
    CHECK_EQ_U64(map_len(d), 0);
    CHECK_HEAP(heap);
    rcgc_unref(d);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 48 (test_weak_valued_len_cycles): 20 cyclic values and a live
** iterator; after collect len is 0 or 1 (the iterator holds one), after
** ending the iteration and collecting again len is 0. */
TEST(weak_len_with_cycles_and_a_live_iterator)
{
    rcgc_heap *heap = th_heap_new();
    for (int kind = 0; kind < 3; kind++) {
        rcgc_weakmap *d = kind == 0 ? rcgc_weakvaluemap_new(heap, NULL)
                          : kind == 1 ? rcgc_weakkeymap_new(heap)
                                      : rcgc_weakset_new(heap);
        for (int i = 0; i < 20; i++) {
            wt_node *n = wt_new(heap, &wt_node_type, i);
            n->slot[0] = rcgc_ref(n);
            char key[16];
            snprintf(key, sizeof key, "k%d", i);
            rcgc_status st = kind == 0   ? rcgc_weakvaluemap_set(d, key, n)
                             : kind == 1 ? rcgc_weakkeymap_set(d, n, NULL)
                                         : rcgc_weakset_add(d, n);
            CHECK_EQ_INT(st, RCGC_OK);
            rcgc_unref(n);
        }
        rcgc_weakmap_iter it;
        rcgc_weakmap_iter_begin(d, &it);
        const void *k;
        void *v;
        CHECK(rcgc_weakmap_iter_next(&it, &k, &v));
        rcgc_gc_collect(heap, 2);
        size_t n1 = map_len(d);
        CHECK(n1 == 0 || n1 == 1);
        rcgc_weakmap_iter_end(&it);
        rcgc_gc_collect(heap, 2);
        CHECK_EQ_U64(map_len(d), 0);
        CHECK_HEAP(heap);
        rcgc_unref(d);
    }
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 48 (test_weak_keys_destroy_while_iterating): entries dying and
** explicit deletions during iteration never disturb it; removals happen
** when the iteration ends. */
TEST(removal_during_iteration_is_deferred)
{
    rcgc_heap *heap = th_heap_new();
    rcgc_weakmap *d = rcgc_weakkeymap_new(heap);
    wt_node *keys[10];
    for (int i = 0; i < 10; i++) {
        keys[i] = wt_new(heap, &wt_node_type, i);
        wt_node *val = wt_new(heap, &wt_node_type, 100 + i);
        CHECK_EQ_INT(rcgc_weakkeymap_set(d, keys[i], val), RCGC_OK);
        rcgc_unref(val);
    }
    rcgc_weakmap_iter it;
    rcgc_weakmap_iter_begin(d, &it);
    const void *k;
    void *v;
    int seen = 0;
    while (rcgc_weakmap_iter_next(&it, &k, &v)) {
        seen++;
        const wt_node *kn = k;
        CHECK_EQ_INT(((wt_node *)v)->id, kn->id + 100);
        if (seen == 3) {
            /* Kill every other key and delete one explicitly. */
            for (int i = 0; i < 10; i += 2) {
                if (keys[i] != kn) {
                    rcgc_unref(keys[i]);
                    keys[i] = NULL;
                }
            }
            if (keys[1] && keys[1] != kn)
                CHECK_EQ_INT(rcgc_weakkeymap_del(d, keys[1]), RCGC_OK);
            CHECK_HEAP(heap);
        }
    }
    rcgc_weakmap_iter_end(&it);
    CHECK(seen >= 3 && seen <= 10);
    size_t alive = 0;
    for (int i = 0; i < 10; i++)
        if (keys[i] && rcgc_weakkeymap_has(d, keys[i]))
            alive++;
    CHECK_EQ_U64(map_len(d), alive);
    CHECK_HEAP(heap);
    for (int i = 0; i < 10; i++)
        rcgc_xunref(keys[i]);
    CHECK_EQ_U64(map_len(d), 0);
    rcgc_unref(d);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* PARITY 48 (test_weak_keyed_cascading_deletes): values that hold the
** next key: killing the first key cascades through the whole map. */
TEST(weakkeymap_cascading_deletes)
{
    rcgc_heap *heap = th_heap_new();
    rcgc_weakmap *d = rcgc_weakkeymap_new(heap);
    enum { N = 100 };
    wt_node *first = wt_new(heap, &wt_node_type, 0);
    wt_node *k = first;
    for (int i = 1; i <= N; i++) {
        wt_node *next = wt_new(heap, &wt_node_type, i);
        wt_node *val = wt_new(heap, &wt_node_type, 1000 + i);
        val->slot[0] = next; /* the value owns the next key */
        CHECK_EQ_INT(rcgc_weakkeymap_set(d, k, val), RCGC_OK);
        rcgc_unref(val);
        k = next;
    }
    CHECK_EQ_U64(map_len(d), N);
    rcgc_unref(first);
    CHECK_EQ_U64(map_len(d), 0);
    CHECK_HEAP(heap);
    rcgc_unref(d);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* The same cascade while an iterator is open: the dead entry keeps its
** value (and so the next key) until the iteration ends, then the whole
** chain goes. */
TEST(cascading_deletes_during_iteration)
{
    rcgc_heap *heap = th_heap_new();
    rcgc_weakmap *d = rcgc_weakkeymap_new(heap);
    wt_node *first = wt_new(heap, &wt_node_type, 0);
    wt_node *k = first;
    for (int i = 1; i <= 20; i++) {
        wt_node *next = wt_new(heap, &wt_node_type, i);
        wt_node *val = wt_new(heap, &wt_node_type, 1000 + i);
        val->slot[0] = next;
        rcgc_weakkeymap_set(d, k, val);
        rcgc_unref(val);
        k = next;
    }
    rcgc_weakmap_iter it;
    rcgc_weakmap_iter_begin(d, &it);
    rcgc_unref(first);
    CHECK_EQ_U64(map_len(d), 19);
    int seen = 0;
    while (rcgc_weakmap_iter_next(&it, NULL, NULL))
        seen++;
    CHECK_EQ_INT(seen, 19);
    CHECK_HEAP(heap);
    rcgc_weakmap_iter_end(&it);
    CHECK_EQ_U64(map_len(d), 0);
    CHECK_HEAP(heap);
    rcgc_unref(d);
    rcgc_heap_free(heap);
}

static uint64_t int_hash(const void *key, void *ctx)
{
    (void)ctx;
    return (uint64_t)*(const int *)key;
}
static bool int_eq(const void *a, const void *b, void *ctx)
{
    (void)ctx;
    return *(const int *)a == *(const int *)b;
}
static uint64_t node_hash(const void *key, void *ctx)
{
    (void)ctx;
    return (uint64_t)((const wt_node *)key)->id;
}
static bool node_eq(const void *a, const void *b, void *ctx)
{
    (void)ctx;
    return ((const wt_node *)a)->id == ((const wt_node *)b)->id;
}

TEST(weakvaluemap_with_user_hash_and_object_keys)
{
    rcgc_heap *heap = th_heap_new();
    rcgc_weakmap_keyops ops = {int_hash, int_eq, NULL, false};
    rcgc_weakmap *d = rcgc_weakvaluemap_new(heap, &ops);
    static const int k1 = 7, k1b = 7, k2 = 8;
    wt_node *a = wt_new(heap, &wt_node_type, 1);
    CHECK_EQ_INT(rcgc_weakvaluemap_set(d, &k1, a), RCGC_OK);
    void *g = rcgc_weakvaluemap_get(d, &k1b); /* equal, not identical */
    CHECK_EQ_PTR(g, a);
    rcgc_unref(g);
    CHECK(rcgc_weakvaluemap_get(d, &k2) == NULL);
    rcgc_unref(a);
    CHECK_EQ_U64(map_len(d), 0);
    rcgc_unref(d);

    /* Object keys: held strongly, released with the entry. */
    rcgc_weakmap_keyops ops2 = {node_hash, node_eq, NULL, true};
    d = rcgc_weakvaluemap_new(heap, &ops2);
    wt_node *key = wt_new(heap, &wt_node_type, 42);
    wt_node *val = wt_new(heap, &wt_node_type, 43);
    CHECK_EQ_INT(rcgc_weakvaluemap_set(d, key, val), RCGC_OK);
    CHECK_EQ_U64(rcgc_refcount(key), 2);
    rcgc_unref(key);
    unsigned before = wt_released;
    rcgc_unref(val); /* entry vanishes, the key goes with it */
    CHECK_EQ_U64(wt_released, before + 2);
    CHECK_EQ_U64(map_len(d), 0);
    /* A map holding its own value through an object key: a cycle the
    ** collector breaks. */
    wt_node *v2 = wt_new(heap, &wt_node_type, 5);
    wt_node *k2o = wt_new(heap, &wt_node_type, 6);
    k2o->slot[0] = rcgc_ref(d); /* key -> map */
    CHECK_EQ_INT(rcgc_weakvaluemap_set(d, k2o, v2), RCGC_OK);
    rcgc_unref(k2o);
    rcgc_unref(d);
    CHECK(rcgc_gc_collect(heap, 2) >= 2);
    rcgc_unref(v2);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

TEST(weakset_add_has_discard_and_iterate)
{
    rcgc_heap *heap = th_heap_new();
    rcgc_weakmap *s = rcgc_weakset_new(heap);
    wt_node *n[5];
    for (int i = 0; i < 5; i++) {
        n[i] = wt_new(heap, &wt_node_type, i);
        CHECK_EQ_INT(rcgc_weakset_add(s, n[i]), RCGC_OK);
    }
    CHECK_EQ_INT(rcgc_weakset_add(s, n[0]), RCGC_OK); /* already there */
    CHECK_EQ_U64(map_len(s), 5);
    CHECK(rcgc_weakset_has(s, n[3]));
    CHECK_EQ_INT(rcgc_weakset_discard(s, n[3]), RCGC_OK);
    CHECK_EQ_INT(rcgc_weakset_discard(s, n[3]), RCGC_ENOTFOUND);
    CHECK(!rcgc_weakset_has(s, n[3]));
    rcgc_unref(n[4]);
    n[4] = NULL;
    CHECK_EQ_U64(map_len(s), 3);
    rcgc_weakmap_iter it;
    rcgc_weakmap_iter_begin(s, &it);
    const void *k;
    void *v;
    int sum = 0, count = 0;
    while (rcgc_weakmap_iter_next(&it, &k, &v)) {
        CHECK(v == NULL);
        sum += ((const wt_node *)k)->id;
        count++;
    }
    rcgc_weakmap_iter_end(&it);
    CHECK_EQ_INT(count, 3);
    CHECK_EQ_INT(sum, 0 + 1 + 2);
    for (int i = 0; i < 5; i++)
        rcgc_xunref(n[i]);
    CHECK_EQ_U64(map_len(s), 0);
    CHECK_HEAP(heap);
    rcgc_unref(s);
    rcgc_heap_free(heap);
}

/* A garbage map holding weak entries: the collector kills its entries and
** frees it; the values it pointed at are unaffected. */
TEST(garbage_map_is_collected_and_values_survive)
{
    rcgc_heap *heap = th_heap_new();
    wt_node *holder = wt_new(heap, &wt_node_type, 0);
    holder->slot[0] = rcgc_ref(holder);
    rcgc_weakmap *d = rcgc_weakkeymap_new(heap);
    holder->slot[1] = d;
    wt_node *key = wt_new(heap, &wt_node_type, 1);
    CHECK_EQ_INT(rcgc_weakkeymap_set(d, key, holder), RCGC_OK); /* value -> holder: cycle */
    rcgc_unref(holder);
    CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 2);
    CHECK_EQ_U64(rcgc_weakref_count(key), 0);
    CHECK_HEAP(heap);
    rcgc_unref(key);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* The key map's values and the entries: a value kept alive by the map
** while its key lives. */
TEST(weakkeymap_get_replace_and_delete)
{
    rcgc_heap *heap = th_heap_new();
    rcgc_weakmap *d = rcgc_weakkeymap_new(heap);
    wt_node *k = wt_new(heap, &wt_node_type, 1);
    wt_node *v1 = wt_new(heap, &wt_node_type, 2);
    wt_node *v2 = wt_new(heap, &wt_node_type, 3);
    CHECK_EQ_INT(rcgc_weakkeymap_set(d, k, v1), RCGC_OK);
    CHECK_EQ_INT(rcgc_weakkeymap_set(d, k, v2), RCGC_OK);
    CHECK_EQ_U64(map_len(d), 1);
    CHECK_EQ_U64(rcgc_refcount(v1), 1);
    void *g = rcgc_weakkeymap_get(d, k);
    CHECK_EQ_PTR(g, v2);
    rcgc_unref(g);
    CHECK_EQ_INT(rcgc_weakkeymap_del(d, k), RCGC_OK);
    CHECK(!rcgc_weakkeymap_has(d, k));
    CHECK_EQ_U64(rcgc_refcount(v2), 1);
    CHECK_EQ_INT(rcgc_weakkeymap_set(d, k, NULL), RCGC_OK);
    CHECK(rcgc_weakkeymap_has(d, k));
    CHECK(rcgc_weakkeymap_get(d, k) == NULL);
    rcgc_unref(v1);
    rcgc_unref(v2);
    rcgc_unref(k);
    CHECK_EQ_U64(map_len(d), 0);
    rcgc_unref(d);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

static void wrong_map_kind(void *arg)
{
    (void)arg;
    rcgc_heap *heap = th_heap_new();
    rcgc_weakmap *s = rcgc_weakset_new(heap);
    rcgc_weakvaluemap_get(s, "x");
}

TEST(map_call_on_the_wrong_kind_panics)
{
    CHECK_PANICS(wrong_map_kind, NULL, "not a weak value map");
}
