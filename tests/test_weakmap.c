/*
** test_weakmap.c -- weak containers: weak-value map (string, pointer and
** object keys), weak-key map, weak set. Entries vanish by refcount and by
** collection; removals during iteration are deferred. PARITY scenario 48.
*/
#include <stdint.h>

#include "harness.h"
#include "weak_testtypes.h"

static size_t map_len(rcgc_weakmap *m) { return rcgc_weakmap_len(m); }

/* The three containers by number: 0 value map (key "k<id>" -> node),
** 1 key map (node -> value), 2 set. */
static rcgc_weakmap *kind_new(rcgc_heap *heap, int kind)
{
    return kind == 0   ? rcgc_weakvaluemap_new(heap, NULL)
           : kind == 1 ? rcgc_weakkeymap_new(heap)
                       : rcgc_weakset_new(heap);
}

static rcgc_status kind_add(rcgc_weakmap *d, int kind, wt_node *n, void *value)
{
    char key[16];
    snprintf(key, sizeof key, "k%d", n->id);
    return kind == 0   ? rcgc_weakvaluemap_set(d, key, n)
           : kind == 1 ? rcgc_weakkeymap_set(d, n, value)
                       : rcgc_weakset_add(d, n);
}

/* popitem (set: pop) of any kind: *obj = a strong reference to the weakly
** held object; the key copy and the value are dropped. */
static rcgc_status kind_popitem(rcgc_weakmap *d, int kind, void **obj)
{
    void *k = NULL, *v = NULL;
    rcgc_status st = kind == 0   ? rcgc_weakvaluemap_popitem(d, &k, &v)
                     : kind == 1 ? rcgc_weakkeymap_popitem(d, &k, &v)
                                 : rcgc_weakset_pop(d, &k);
    if (st != RCGC_OK)
        return st;
    if (kind == 0)
        rcgc_free(rcgc_heap_of(d), k);
    else
        rcgc_xunref(v);
    *obj = kind == 0 ? v : k;
    return st;
}

/* Key map: 'len' entries whose values each own the next key; returns the
** first key (only the map's entries hold the others). */
static wt_node *cascade_chain(rcgc_heap *heap, rcgc_weakmap *d, int len)
{
    wt_node *first = wt_new(heap, &wt_node_type, 0);
    wt_node *k = first;
    for (int i = 1; i <= len; i++) {
        wt_node *next = wt_new(heap, &wt_node_type, i);
        wt_node *val = wt_new(heap, &wt_node_type, 1000 + i);
        val->slot[0] = next; /* the value owns the next key */
        CHECK_EQ_INT(rcgc_weakkeymap_set(d, k, val), RCGC_OK);
        rcgc_unref(val);
        k = next;
    }
    return first;
}

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
        rcgc_weakmap *d = kind_new(heap, kind);
        for (int i = 0; i < 20; i++) {
            wt_node *n = wt_new(heap, &wt_node_type, i);
            n->slot[0] = rcgc_ref(n);
            CHECK_EQ_INT(kind_add(d, kind, n, NULL), RCGC_OK);
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
    wt_node *first = cascade_chain(heap, d, N);
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
    wt_node *first = cascade_chain(heap, d, 20);
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

/* ------------------------------------------------------------------ */
/* setdefault, pop, popitem, update, clear (issue 4)                  */
/* ------------------------------------------------------------------ */

TEST(weakvaluemap_setdefault_pop_popitem)
{
    rcgc_heap *heap = th_heap_new();
    rcgc_weakmap *d = rcgc_weakvaluemap_new(heap, NULL);
    wt_node *a = wt_new(heap, &wt_node_type, 1);
    wt_node *b = wt_new(heap, &wt_node_type, 2);
    void *out = NULL;
    /* Absent: inserted, and the caller gets a new reference to dflt. */
    CHECK_EQ_INT(rcgc_weakvaluemap_setdefault(d, "k", a, &out), RCGC_OK);
    CHECK_EQ_PTR(out, a);
    CHECK_EQ_U64(rcgc_refcount(a), 2);
    rcgc_unref(out);
    /* Present: the old value wins, dflt is untouched. */
    CHECK_EQ_INT(rcgc_weakvaluemap_setdefault(d, "k", b, &out), RCGC_OK);
    CHECK_EQ_PTR(out, a);
    rcgc_unref(out);
    CHECK_EQ_U64(rcgc_weakref_count(b), 0);
    CHECK_EQ_U64(map_len(d), 1);
    /* A dead value counts as absent. */
    rcgc_unref(a);
    CHECK_EQ_INT(rcgc_weakvaluemap_setdefault(d, "k", b, NULL), RCGC_OK);
    void *g = rcgc_weakvaluemap_get(d, "k");
    CHECK_EQ_PTR(g, b);
    rcgc_unref(g);
    /* pop hands over a strong reference and removes the entry. */
    CHECK_EQ_INT(rcgc_weakvaluemap_pop(d, "k", &out), RCGC_OK);
    CHECK_EQ_PTR(out, b);
    CHECK_EQ_U64(rcgc_refcount(b), 2);
    rcgc_unref(out);
    CHECK_EQ_U64(rcgc_weakref_count(b), 0);
    out = b;
    CHECK_EQ_INT(rcgc_weakvaluemap_pop(d, "k", &out), RCGC_ENOTFOUND);
    CHECK_EQ_PTR(out, b); /* untouched */
    CHECK_EQ_INT(rcgc_weakvaluemap_pop(d, NULL, &out), RCGC_ENOTFOUND);
    /* popitem: the string key becomes the caller's. */
    CHECK_EQ_INT(rcgc_weakvaluemap_set(d, "only", b), RCGC_OK);
    void *key = NULL;
    CHECK_EQ_INT(rcgc_weakvaluemap_popitem(d, &key, &out), RCGC_OK);
    CHECK_EQ_STR((const char *)key, "only");
    CHECK_EQ_PTR(out, b);
    rcgc_free(heap, key);
    rcgc_unref(out);
    CHECK_EQ_U64(map_len(d), 0);
    CHECK_EQ_INT(rcgc_weakvaluemap_popitem(d, &key, &out), RCGC_ENOTFOUND);
    /* Neither wanted: both dropped by the map. */
    CHECK_EQ_INT(rcgc_weakvaluemap_set(d, "x", b), RCGC_OK);
    CHECK_EQ_INT(rcgc_weakvaluemap_popitem(d, NULL, NULL), RCGC_OK);
    CHECK_EQ_U64(rcgc_refcount(b), 1);
    CHECK_EQ_U64(rcgc_weakref_count(b), 0);
    CHECK_HEAP(heap);
    rcgc_unref(b);
    rcgc_unref(d);
    CHECK_EQ_U64(rcgc_heap_live_objects(heap), 0);
    rcgc_heap_free(heap);
}

TEST(weakvaluemap_popitem_hands_over_object_keys)
{
    rcgc_heap *heap = th_heap_new();
    rcgc_weakmap_keyops ops = {node_hash, node_eq, NULL, true};
    rcgc_weakmap *d = rcgc_weakvaluemap_new(heap, &ops);
    wt_node *k = wt_new(heap, &wt_node_type, 1);
    wt_node *v = wt_new(heap, &wt_node_type, 2);
    CHECK_EQ_INT(rcgc_weakvaluemap_set(d, k, v), RCGC_OK);
    CHECK_EQ_U64(rcgc_refcount(k), 2);
    void *key, *val;
    CHECK_EQ_INT(rcgc_weakvaluemap_popitem(d, &key, &val), RCGC_OK);
    CHECK_EQ_PTR(key, k);
    CHECK_EQ_PTR(val, v);
    CHECK_EQ_U64(rcgc_refcount(k), 2); /* the map's reference, now ours */
    rcgc_unref(key);
    rcgc_unref(val);
    /* pop by an equal key object drops the map's key reference. */
    CHECK_EQ_INT(rcgc_weakvaluemap_set(d, k, v), RCGC_OK);
    wt_node *k2 = wt_new(heap, &wt_node_type, 1);
    CHECK_EQ_INT(rcgc_weakvaluemap_pop(d, k2, NULL), RCGC_OK);
    CHECK_EQ_U64(rcgc_refcount(k), 1);
    CHECK_EQ_U64(map_len(d), 0);
    rcgc_unref(k);
    rcgc_unref(k2);
    rcgc_unref(v);
    rcgc_unref(d);
    CHECK_HEAP(heap);
    CHECK_EQ_U64(rcgc_heap_live_objects(heap), 0);
    rcgc_heap_free(heap);
}

TEST(weakkeymap_setdefault_pop_popitem)
{
    rcgc_heap *heap = th_heap_new();
    rcgc_weakmap *d = rcgc_weakkeymap_new(heap);
    wt_node *k = wt_new(heap, &wt_node_type, 1);
    wt_node *v1 = wt_new(heap, &wt_node_type, 2);
    wt_node *v2 = wt_new(heap, &wt_node_type, 3);
    void *out = NULL;
    CHECK_EQ_INT(rcgc_weakkeymap_setdefault(d, k, v1, &out), RCGC_OK);
    CHECK_EQ_PTR(out, v1);
    CHECK_EQ_U64(rcgc_refcount(v1), 3); /* ours, the map's, out */
    rcgc_unref(out);
    CHECK_EQ_INT(rcgc_weakkeymap_setdefault(d, k, v2, &out), RCGC_OK);
    CHECK_EQ_PTR(out, v1);
    rcgc_unref(out);
    CHECK_EQ_U64(rcgc_refcount(v2), 1);
    /* pop hands over the map's value reference. */
    CHECK_EQ_INT(rcgc_weakkeymap_pop(d, k, &out), RCGC_OK);
    CHECK_EQ_PTR(out, v1);
    CHECK_EQ_U64(rcgc_refcount(v1), 2);
    rcgc_unref(out);
    CHECK(!rcgc_weakkeymap_has(d, k));
    CHECK_EQ_INT(rcgc_weakkeymap_pop(d, k, &out), RCGC_ENOTFOUND);
    /* A NULL value is a value: setdefault keeps it. */
    CHECK_EQ_INT(rcgc_weakkeymap_setdefault(d, k, NULL, &out), RCGC_OK);
    CHECK(out == NULL);
    CHECK_EQ_INT(rcgc_weakkeymap_setdefault(d, k, v2, &out), RCGC_OK);
    CHECK(out == NULL);
    CHECK_EQ_U64(rcgc_refcount(v2), 1);
    /* popitem: a strong reference to the key, the value reference. */
    CHECK_EQ_INT(rcgc_weakkeymap_set(d, k, v2), RCGC_OK);
    void *key = NULL;
    CHECK_EQ_INT(rcgc_weakkeymap_popitem(d, &key, &out), RCGC_OK);
    CHECK_EQ_PTR(key, k);
    CHECK_EQ_PTR(out, v2);
    CHECK_EQ_U64(rcgc_refcount(k), 2);
    CHECK_EQ_U64(rcgc_refcount(v2), 2);
    CHECK_EQ_U64(rcgc_weakref_count(k), 0);
    rcgc_unref(key);
    rcgc_unref(out);
    CHECK_EQ_INT(rcgc_weakkeymap_popitem(d, &key, &out), RCGC_ENOTFOUND);
    /* A key that cannot be weakly referenced is simply not there. */
    wt_node *plain = wt_new(heap, &wt_plain_type, 9);
    CHECK_EQ_INT(rcgc_weakkeymap_pop(d, plain, &out), RCGC_ENOTFOUND);
    CHECK_HEAP(heap);
    rcgc_unref(plain);
    rcgc_unref(k);
    rcgc_unref(v1);
    rcgc_unref(v2);
    rcgc_unref(d);
    CHECK_EQ_U64(rcgc_heap_live_objects(heap), 0);
    rcgc_heap_free(heap);
}

TEST(weakset_pop_update_clear)
{
    rcgc_heap *heap = th_heap_new();
    rcgc_weakmap *s = rcgc_weakset_new(heap);
    rcgc_weakmap *t = rcgc_weakset_new(heap);
    wt_node *n[6];
    for (int i = 0; i < 6; i++) {
        n[i] = wt_new(heap, &wt_node_type, i);
        CHECK_EQ_INT(rcgc_weakset_add(i < 4 ? s : t, n[i]), RCGC_OK);
    }
    CHECK_EQ_INT(rcgc_weakset_add(t, n[0]), RCGC_OK); /* in both */
    rcgc_unref(n[5]); /* dead in t: not copied */
    n[5] = NULL;
    CHECK_EQ_INT(rcgc_weakset_update(s, t), RCGC_OK);
    CHECK_EQ_U64(map_len(s), 5);
    CHECK_EQ_U64(map_len(t), 2);
    CHECK(rcgc_weakset_has(s, n[4]));
    CHECK_EQ_U64(rcgc_weakref_count(n[0]), 2);
    CHECK_EQ_INT(rcgc_weakset_update(s, s), RCGC_OK);
    CHECK_EQ_U64(map_len(s), 5);
    /* pop every element: each exactly once, as a strong reference. */
    unsigned seen = 0;
    void *o;
    while (rcgc_weakset_pop(s, &o) == RCGC_OK) {
        int id = ((wt_node *)o)->id;
        CHECK(id >= 0 && id < 5);
        CHECK(!(seen & (1u << id)));
        seen |= 1u << id;
        CHECK_EQ_U64(rcgc_refcount(o), 2);
        rcgc_unref(o);
    }
    CHECK_EQ_U64(seen, 0x1f);
    CHECK_EQ_U64(map_len(s), 0);
    CHECK_EQ_INT(rcgc_weakset_pop(s, NULL), RCGC_ENOTFOUND);
    /* clear */
    rcgc_weakmap_clear(t);
    CHECK_EQ_U64(map_len(t), 0);
    CHECK_EQ_U64(rcgc_weakref_count(n[0]), 0);
    CHECK_EQ_U64(rcgc_weakref_count(n[4]), 0);
    rcgc_weakmap_clear(t); /* empty: nothing to do */
    CHECK_EQ_INT(rcgc_weakset_add(t, n[1]), RCGC_OK);
    CHECK_EQ_U64(map_len(t), 1);
    CHECK_HEAP(heap);
    for (int i = 0; i < 6; i++)
        rcgc_xunref(n[i]);
    rcgc_unref(s);
    rcgc_unref(t);
    CHECK_EQ_U64(rcgc_heap_live_objects(heap), 0);
    rcgc_heap_free(heap);
}

TEST(weakvaluemap_update_and_clear)
{
    rcgc_heap *heap = th_heap_new();
    rcgc_weakmap *d = rcgc_weakvaluemap_new(heap, NULL);
    rcgc_weakmap *src = rcgc_weakvaluemap_new(heap, NULL);
    wt_node *v[40];
    char key[16];
    for (int i = 0; i < 40; i++) {
        v[i] = wt_new(heap, &wt_node_type, i);
        snprintf(key, sizeof key, "k%d", i % 20);
        /* d: k0..k19 -> v0..v19; src: k0..k19 -> v20..v39 */
        CHECK_EQ_INT(rcgc_weakvaluemap_set(i < 20 ? d : src, key, v[i]), RCGC_OK);
    }
    for (int i = 20; i < 40; i++) {
        snprintf(key, sizeof key, "new%d", i);
        CHECK_EQ_INT(rcgc_weakvaluemap_set(src, key, v[i]), RCGC_OK);
    }
    rcgc_unref(v[39]); /* k19 and new39 die in src */
    v[39] = NULL;
    CHECK_EQ_INT(rcgc_weakvaluemap_update(d, src), RCGC_OK);
    CHECK_EQ_U64(map_len(d), 20 + 19);
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "k%d", i);
        void *g = rcgc_weakvaluemap_get(d, key);
        CHECK_EQ_PTR(g, i < 19 ? v[20 + i] : v[19]); /* src wins where alive */
        rcgc_xunref(g);
    }
    CHECK_EQ_U64(rcgc_weakref_count(v[0]), 0);  /* re-pointed away */
    CHECK_EQ_U64(rcgc_weakref_count(v[25]), 4); /* 2 in src, 2 in d */
    CHECK_EQ_INT(rcgc_weakvaluemap_update(d, d), RCGC_OK);
    CHECK_EQ_U64(map_len(d), 39);
    /* Keys of another kind: refused, nothing changed. */
    static const int ik = 1;
    rcgc_weakmap_keyops ops = {int_hash, int_eq, NULL, false};
    rcgc_weakmap *other = rcgc_weakvaluemap_new(heap, &ops);
    CHECK_EQ_INT(rcgc_weakvaluemap_set(other, &ik, v[0]), RCGC_OK);
    th_output_clear();
    CHECK_EQ_INT(rcgc_weakvaluemap_update(d, other), RCGC_EINVAL);
    CHECK_CONTAINS(th_output, "different kinds");
    CHECK_EQ_U64(map_len(d), 39);
    /* clear */
    rcgc_weakmap_clear(d);
    CHECK_EQ_U64(map_len(d), 0);
    CHECK_EQ_U64(rcgc_weakref_count(v[25]), 2);
    CHECK(rcgc_weakvaluemap_get(d, "k3") == NULL);
    CHECK_HEAP(heap);
    for (int i = 0; i < 40; i++)
        rcgc_xunref(v[i]);
    CHECK_EQ_U64(map_len(src), 0);
    rcgc_unref(other);
    rcgc_unref(src);
    rcgc_unref(d);
    CHECK_HEAP(heap);
    CHECK_EQ_U64(rcgc_heap_live_objects(heap), 0);
    rcgc_heap_free(heap);
}

TEST(weakkeymap_update_replaces_values)
{
    rcgc_heap *heap = th_heap_new();
    rcgc_weakmap *d = rcgc_weakkeymap_new(heap);
    rcgc_weakmap *src = rcgc_weakkeymap_new(heap);
    wt_node *k[3], *v[4];
    for (int i = 0; i < 3; i++)
        k[i] = wt_new(heap, &wt_node_type, i);
    for (int i = 0; i < 4; i++)
        v[i] = wt_new(heap, &wt_node_type, 10 + i);
    CHECK_EQ_INT(rcgc_weakkeymap_set(d, k[0], v[0]), RCGC_OK);
    CHECK_EQ_INT(rcgc_weakkeymap_set(d, k[1], v[1]), RCGC_OK);
    CHECK_EQ_INT(rcgc_weakkeymap_set(src, k[1], v[2]), RCGC_OK);
    CHECK_EQ_INT(rcgc_weakkeymap_set(src, k[2], v[3]), RCGC_OK);
    CHECK_EQ_INT(rcgc_weakkeymap_update(d, src), RCGC_OK);
    CHECK_EQ_U64(map_len(d), 3);
    CHECK_EQ_U64(rcgc_refcount(v[1]), 1); /* replaced: dropped */
    CHECK_EQ_U64(rcgc_refcount(v[2]), 3); /* ours, src's, d's */
    CHECK_EQ_U64(rcgc_refcount(v[3]), 3);
    void *g = rcgc_weakkeymap_get(d, k[1]);
    CHECK_EQ_PTR(g, v[2]);
    rcgc_unref(g);
    CHECK_EQ_INT(rcgc_weakkeymap_update(d, d), RCGC_OK);
    CHECK_EQ_U64(rcgc_refcount(v[2]), 3);
    /* The values go with clear, the keys stay ours. */
    rcgc_weakmap_clear(d);
    CHECK_EQ_U64(rcgc_refcount(v[0]), 1);
    CHECK_EQ_U64(rcgc_refcount(v[2]), 2);
    CHECK_EQ_U64(rcgc_weakref_count(k[2]), 1);
    CHECK_HEAP(heap);
    for (int i = 0; i < 3; i++)
        rcgc_unref(k[i]);
    for (int i = 0; i < 4; i++)
        rcgc_unref(v[i]);
    rcgc_unref(src);
    rcgc_unref(d);
    CHECK_EQ_U64(rcgc_heap_live_objects(heap), 0);
    rcgc_heap_free(heap);
}

/* Entries whose object died by refcount or in a collection are never
** popped: popitem returns exactly the survivors, then RCGC_ENOTFOUND. */
TEST(pop_and_popitem_skip_entries_dead_by_refcount_and_collection)
{
    rcgc_heap *heap = th_heap_new();
    for (int kind = 0; kind < 3; kind++) {
        rcgc_weakmap *d = kind_new(heap, kind);
        wt_node *keep[30] = {0};
        for (int i = 0; i < 30; i++) {
            wt_node *n = wt_new(heap, &wt_node_type, i);
            CHECK_EQ_INT(kind_add(d, kind, n, NULL), RCGC_OK);
            if (i % 3 == 0)
                keep[i] = n;          /* survives */
            else if (i % 3 == 1)
                n->slot[0] = n;       /* our reference becomes a cycle */
            else
                keep[i] = n;          /* dies by refcount below */
        }
        for (int i = 2; i < 30; i += 3)
            RCGC_CLEAR(keep[i]);
        CHECK_EQ_U64(map_len(d), 20);
        CHECK_EQ_INT(rcgc_gc_collect(heap, 2), 10);
        CHECK_EQ_U64(map_len(d), 10);
        /* pop of a dead one: not found. */
        if (kind == 0)
            CHECK_EQ_INT(rcgc_weakvaluemap_pop(d, "k1", NULL), RCGC_ENOTFOUND);
        unsigned got = 0;
        void *obj;
        rcgc_status st;
        while ((st = kind_popitem(d, kind, &obj)) == RCGC_OK) {
            CHECK_EQ_INT(((wt_node *)obj)->id % 3, 0);
            got++;
            rcgc_unref(obj);
        }
        CHECK_EQ_INT(st, RCGC_ENOTFOUND);
        CHECK_EQ_U64(got, 10);
        CHECK_EQ_U64(map_len(d), 0);
        CHECK_HEAP(heap);
        for (int i = 0; i < 30; i++)
            rcgc_xunref(keep[i]);
        rcgc_unref(d);
    }
    CHECK_EQ_U64(rcgc_heap_live_objects(heap), 0);
    rcgc_heap_free(heap);
}

/* popitem dropping a value (NULL out-pointer) that owns the next key: the
** cascade kills and purges other entries inside popitem. */
TEST(popitem_whose_dropped_value_kills_other_entries)
{
    rcgc_heap *heap = th_heap_new();
    rcgc_weakmap *d = rcgc_weakkeymap_new(heap);
    wt_node *first = cascade_chain(heap, d, 30);
    CHECK_EQ_INT(rcgc_weakkeymap_pop(d, first, NULL), RCGC_OK);
    CHECK_EQ_U64(map_len(d), 0); /* the whole chain went */
    CHECK_HEAP(heap);
    rcgc_unref(first);
    CHECK_EQ_U64(rcgc_heap_live_objects(heap), 1);
    rcgc_unref(d);
    rcgc_heap_free(heap);
}

/* clear drops keys, one of which holds the last reference to the map
** itself: the map outlives the call and every key goes (on a debug heap,
** whose freed memory is filled). */
TEST(clear_survives_dropping_the_last_reference_to_the_map)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = false;
    cfg.mem_debug = RCGC_MEM_DEBUG;
    rcgc_heap *heap = th_heap_new_cfg(&cfg);
    rcgc_weakmap_keyops ops = {node_hash, node_eq, NULL, true};
    rcgc_weakmap *d = rcgc_weakvaluemap_new(heap, &ops);
    wt_node *val = wt_new(heap, &wt_node_type, 100);
    /* Key 7 owns the map. */
    for (int i = 0; i < 8; i++) {
        wt_node *k = wt_new(heap, &wt_node_type, i);
        if (i == 7)
            k->slot[0] = d; /* our reference to the map */
        CHECK_EQ_INT(rcgc_weakvaluemap_set(d, k, val), RCGC_OK);
        rcgc_unref(k);
    }
    CHECK_EQ_U64(rcgc_heap_live_objects(heap), 10);
    unsigned before = wt_released;
    rcgc_weakmap_clear(d); /* borrowed: the map lives only through key 7 */
    CHECK_EQ_U64(wt_released, before + 8);
    CHECK_EQ_U64(rcgc_weakref_count(val), 0);
    CHECK_EQ_U64(rcgc_heap_live_objects(heap), 1); /* val; the keys and map went */
    CHECK_HEAP(heap);
    rcgc_unref(val);
    rcgc_heap_free(heap);
}

static unsigned bits(unsigned x)
{
    unsigned n = 0;
    for (; x; x &= x - 1)
        n++;
    return n;
}

/* pop, popitem and clear while an iterator is open: deferred like every
** removal; the iteration never sees a removed entry, nor one twice. */
TEST(pop_popitem_clear_during_iteration)
{
    rcgc_heap *heap = th_heap_new();
    for (int kind = 0; kind < 3; kind++) {
        rcgc_weakmap *d = kind_new(heap, kind);
        wt_node *n[16];
        for (int i = 0; i < 16; i++) {
            n[i] = wt_new(heap, &wt_node_type, i);
            CHECK_EQ_INT(kind_add(d, kind, n[i], n[i]), RCGC_OK);
        }
        unsigned seen = 0, gone = 0;
        int steps = 0;
        rcgc_weakmap_iter it;
        rcgc_weakmap_iter_begin(d, &it);
        const void *k;
        void *v;
        while (rcgc_weakmap_iter_next(&it, &k, &v)) {
            const wt_node *obj = kind == 0 ? v : k;
            CHECK(!(seen & (1u << obj->id)));
            CHECK(!(gone & (1u << obj->id)));
            seen |= 1u << obj->id;
            steps++;
            if (steps == 2) {
                /* pop some other entry and pop one by key */
                void *p = NULL;
                rcgc_status st = kind_popitem(d, kind, &p);
                CHECK_EQ_INT(st, RCGC_OK);
                gone |= 1u << ((wt_node *)p)->id;
                rcgc_unref(p);
                int j = 15;
                while (j >= 0 && ((seen | gone) & (1u << j)))
                    j--;
                if (j >= 0) {
                    char key[16];
                    snprintf(key, sizeof key, "k%d", j);
                    void *out = NULL;
                    st = kind == 0 ? rcgc_weakvaluemap_pop(d, key, &out)
                         : kind == 1 ? rcgc_weakkeymap_pop(d, n[j], &out)
                                     : rcgc_weakset_discard(d, n[j]);
                    CHECK_EQ_INT(st, RCGC_OK);
                    if (kind != 2)
                        CHECK_EQ_PTR(out, n[j]);
                    rcgc_xunref(out);
                    gone |= 1u << j;
                }
                CHECK_EQ_U64(map_len(d), 16 - bits(gone));
                CHECK_HEAP(heap);
            }
            if (steps == 3 && !(gone & (1u << obj->id))) {
                /* the current entry itself: the iteration goes on */
                rcgc_status st = kind == 0   ? rcgc_weakvaluemap_pop(d, k, NULL)
                                 : kind == 1 ? rcgc_weakkeymap_pop(d, k, NULL)
                                             : rcgc_weakset_discard(d, k);
                CHECK_EQ_INT(st, RCGC_OK);
                gone |= 1u << obj->id;
                CHECK_EQ_U64(map_len(d), 16 - bits(gone));
            }
            if (steps == 5) {
                rcgc_weakmap_clear(d);
                CHECK_EQ_U64(map_len(d), 0);
                CHECK_HEAP(heap);
            }
        }
        CHECK_EQ_INT(steps, 5); /* nothing after the clear */
        CHECK_EQ_U64(map_len(d), 0);
        rcgc_weakmap_iter_end(&it);
        CHECK_EQ_U64(map_len(d), 0);
        for (int i = 0; i < 16; i++)
            CHECK_EQ_U64(rcgc_weakref_count(n[i]), 0);
        CHECK_HEAP(heap);
        for (int i = 0; i < 16; i++)
            rcgc_unref(n[i]);
        rcgc_unref(d);
    }
    CHECK_EQ_U64(rcgc_heap_live_objects(heap), 0);
    rcgc_heap_free(heap);
}

/* While an iterator is open, entries dead by refcount or collection stay
** in the table: popitem and pop skip them. */
TEST(popitem_skips_dead_entries_kept_for_an_iteration)
{
    rcgc_heap *heap = th_heap_new();
    for (int kind = 0; kind < 3; kind++) {
        rcgc_weakmap *d = kind_new(heap, kind);
        wt_node *n[12];
        for (int i = 0; i < 12; i++) {
            n[i] = wt_new(heap, &wt_node_type, i);
            CHECK_EQ_INT(kind_add(d, kind, n[i], NULL), RCGC_OK);
        }
        rcgc_weakmap_iter it;
        rcgc_weakmap_iter_begin(d, &it);
        const void *k;
        void *v;
        CHECK(rcgc_weakmap_iter_next(&it, &k, &v));
        const wt_node *cur = kind == 0 ? v : k;
        /* Every other entry dies: odd ones by refcount, even ones in a
        ** collection. The iterator holds the current one. */
        for (int i = 0; i < 12; i++) {
            if (n[i] == cur)
                continue;
            if (i % 2 == 0)
                n[i]->slot[0] = n[i]; /* our reference becomes a cycle */
            else
                rcgc_unref(n[i]);
            n[i] = NULL;
        }
        CHECK_EQ_INT(rcgc_gc_collect(heap, 2), cur->id % 2 ? 6 : 5);
        CHECK_EQ_U64(map_len(d), 1);
        if (kind == 0)
            CHECK_EQ_INT(rcgc_weakvaluemap_pop(d, cur->id == 3 ? "k4" : "k3", NULL),
                         RCGC_ENOTFOUND);
        void *p = NULL;
        CHECK_EQ_INT(kind_popitem(d, kind, &p), RCGC_OK);
        CHECK_EQ_PTR(p, cur);
        rcgc_unref(p);
        CHECK_EQ_INT(kind_popitem(d, kind, &p), RCGC_ENOTFOUND);
        CHECK_EQ_U64(map_len(d), 0);
        CHECK(!rcgc_weakmap_iter_next(&it, &k, &v));
        CHECK_HEAP(heap);
        rcgc_weakmap_iter_end(&it);
        CHECK_HEAP(heap);
        for (int i = 0; i < 12; i++)
            rcgc_xunref(n[i]);
        rcgc_unref(d);
    }
    CHECK_EQ_U64(rcgc_heap_live_objects(heap), 0);
    rcgc_heap_free(heap);
}

/* Insertions during an iteration are allowed: entries live throughout are
** seen exactly once, new ones at most once; after the iteration every
** insertion is there. Entries dying meanwhile in a collection are skipped. */
TEST(insert_and_collect_during_iteration)
{
    rcgc_heap *heap = th_heap_new();
    rcgc_weakmap *d = rcgc_weakvaluemap_new(heap, NULL);
    rcgc_weakmap *src = rcgc_weakvaluemap_new(heap, NULL);
    enum { OLD = 8, NEW = 60 };
    wt_node *n[OLD + NEW];
    unsigned char seen[OLD + NEW] = {0};
    char key[16];
    for (int i = 0; i < OLD + NEW; i++) {
        n[i] = wt_new(heap, &wt_node_type, i);
        snprintf(key, sizeof key, "k%d", i);
        if (i < OLD)
            CHECK_EQ_INT(rcgc_weakvaluemap_set(d, key, n[i]), RCGC_OK);
        else if (i >= OLD + NEW / 2)
            CHECK_EQ_INT(rcgc_weakvaluemap_set(src, key, n[i]), RCGC_OK);
    }
    /* A cyclic value that dies in a collection during the iteration. */
    wt_node *cyc = wt_new(heap, &wt_node_type, 999);
    cyc->slot[0] = rcgc_ref(cyc);
    CHECK_EQ_INT(rcgc_weakvaluemap_set(d, "cyc", cyc), RCGC_OK);
    rcgc_unref(cyc);
    rcgc_weakmap_iter it;
    rcgc_weakmap_iter_begin(d, &it);
    const void *k;
    void *v;
    int steps = 0;
    while (rcgc_weakmap_iter_next(&it, &k, &v)) {
        const wt_node *obj = v;
        if (obj->id == 999)
            continue; /* may come first: the iterator holds it meanwhile */
        CHECK(obj->id >= 0 && obj->id < OLD + NEW);
        CHECK_EQ_INT(seen[obj->id], 0);
        seen[obj->id]++;
        if (++steps == 1) {
            for (int i = OLD; i < OLD + NEW / 2; i++) {
                snprintf(key, sizeof key, "k%d", i);
                void *out;
                CHECK_EQ_INT(rcgc_weakvaluemap_setdefault(d, key, n[i], &out), RCGC_OK);
                rcgc_unref(out);
            }
            CHECK_EQ_INT(rcgc_weakvaluemap_update(d, src), RCGC_OK);
            rcgc_gc_collect(heap, 2);
            CHECK(rcgc_weakvaluemap_get(d, "cyc") == NULL);
            CHECK_EQ_U64(map_len(d), OLD + NEW);
            CHECK_HEAP(heap);
        }
    }
    rcgc_weakmap_iter_end(&it);
    for (int i = 0; i < OLD; i++)
        CHECK_EQ_INT(seen[i], 1);
    CHECK_EQ_U64(map_len(d), OLD + NEW);
    for (int i = 0; i < OLD + NEW; i++) {
        snprintf(key, sizeof key, "k%d", i);
        void *g = rcgc_weakvaluemap_get(d, key);
        CHECK_EQ_PTR(g, n[i]);
        rcgc_xunref(g);
    }
    CHECK_HEAP(heap);
    for (int i = 0; i < OLD + NEW; i++)
        rcgc_unref(n[i]);
    CHECK_EQ_U64(map_len(d), 0);
    rcgc_unref(src);
    rcgc_unref(d);
    CHECK_EQ_U64(rcgc_heap_live_objects(heap), 0);
    rcgc_heap_free(heap);
}

/* Misuse behaves as in set/add: a default that cannot be weakly referenced
** is refused with a message; containers of another heap or kind panic. */
TEST(new_operations_refuse_what_set_refuses)
{
    rcgc_heap *heap = th_heap_new();
    rcgc_weakmap *d = rcgc_weakvaluemap_new(heap, NULL);
    rcgc_weakmap *km = rcgc_weakkeymap_new(heap);
    wt_node *plain = wt_new(heap, &wt_plain_type, 1);
    void *out = (void *)1;
    th_output_clear();
    CHECK_EQ_INT(rcgc_weakvaluemap_setdefault(d, "k", plain, &out), RCGC_EINVAL);
    CHECK_CONTAINS(th_output, "rcgc_weakvaluemap_setdefault: cannot create weak reference");
    CHECK(out == (void *)1);
    CHECK_EQ_INT(rcgc_weakvaluemap_setdefault(d, NULL, plain, &out), RCGC_EINVAL);
    th_output_clear();
    CHECK_EQ_INT(rcgc_weakkeymap_setdefault(km, plain, NULL, &out), RCGC_EINVAL);
    CHECK_CONTAINS(th_output, "rcgc_weakkeymap_setdefault: cannot create weak reference");
    CHECK(out == (void *)1);
    CHECK_EQ_U64(map_len(d), 0);
    CHECK_EQ_U64(map_len(km), 0);
    rcgc_unref(plain);
    rcgc_unref(d);
    rcgc_unref(km);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

static void update_from_another_heap(void *arg)
{
    (void)arg;
    rcgc_heap *h1 = th_heap_new();
    rcgc_heap *h2 = th_heap_new();
    rcgc_weakmap *a = rcgc_weakset_new(h1);
    rcgc_weakmap *b = rcgc_weakset_new(h2);
    rcgc_weakset_update(a, b);
}

static void update_from_another_kind(void *arg)
{
    (void)arg;
    rcgc_heap *heap = th_heap_new();
    rcgc_weakmap *a = rcgc_weakkeymap_new(heap);
    rcgc_weakmap *b = rcgc_weakset_new(heap);
    rcgc_weakkeymap_update(a, b);
}

static void pop_on_a_value_map(void *arg)
{
    (void)arg;
    rcgc_heap *heap = th_heap_new();
    rcgc_weakmap *d = rcgc_weakvaluemap_new(heap, NULL);
    rcgc_weakset_pop(d, NULL);
}

TEST(update_and_pop_on_the_wrong_container_panic)
{
    CHECK_PANICS(update_from_another_heap, NULL, "container of another heap");
    CHECK_PANICS(update_from_another_kind, NULL, "not a weak key map");
    CHECK_PANICS(pop_on_a_value_map, NULL, "rcgc_weakset_pop: not a weak set");
}
