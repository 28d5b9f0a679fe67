/*
** test_kit_dict.c -- the kit's dict: Python's key rules (1 == 1.0 == True),
** insertion order across deletions and resizes, C-string keys, iteration,
** the CPython <= 3.13 tracking rule (PARITY 31), untracking at full
** collections, and cycles through dicts (PARITY 18).
*/
#include <stdlib.h>

#include "test_kit_util.h"

TEST(dict_numeric_keys_are_pythons)
{
    kt_env e = kt_open();
    void *d = rcgc_dict_new(e.kit);
    void *one = rcgc_int_new(e.kit, 1), *fone = rcgc_float_new(e.kit, 1.0);
    CHECK_EQ_INT(rcgc_dict_set_take(d, rcgc_int_new(e.kit, 1), rcgc_str_new_cstr(e.kit, "int")),
                 RCGC_OK);
    CHECK_EQ_INT(rcgc_dict_set_take(d, rcgc_float_new(e.kit, 1.0),
                                    rcgc_str_new_cstr(e.kit, "float")), RCGC_OK);
    CHECK_EQ_INT(rcgc_dict_set(d, rcgc_kit_true(e.kit), rcgc_kit_true(e.kit)), RCGC_OK);
    CHECK_EQ_U64(rcgc_dict_len(d), 1);
    /* the first key object stays; the value is the last one stored */
    CHECK_EQ_STR(kt_repr(d), "{1: True}");
    CHECK_EQ_PTR(rcgc_dict_get(d, fone), rcgc_kit_true(e.kit));
    /* str and bytes keys are distinct */
    CHECK_EQ_INT(rcgc_dict_set_take(d, rcgc_str_new_cstr(e.kit, "k"), rcgc_int_new(e.kit, 1)),
                 RCGC_OK);
    CHECK_EQ_INT(rcgc_dict_set_take(d, rcgc_bytes_new(e.kit, "k", 1), rcgc_int_new(e.kit, 2)),
                 RCGC_OK);
    CHECK_EQ_U64(rcgc_dict_len(d), 3);
    CHECK_EQ_INT(rcgc_dict_set(d, rcgc_kit_none(e.kit), rcgc_kit_none(e.kit)), RCGC_OK);
    CHECK_EQ_STR(kt_repr(d), "{1: True, 'k': 1, b'k': 2, None: None}");
    /* unhashable keys */
    void *l = rcgc_list_new(e.kit, 0);
    void *out;
    CHECK_EQ_INT(rcgc_dict_set(d, l, one), RCGC_EINVAL);
    CHECK_EQ_INT(rcgc_dict_lookup(d, l, &out), RCGC_EINVAL);
    CHECK_EQ_INT(rcgc_dict_lookup(d, rcgc_int_new(e.kit, 2), &out), RCGC_ENOTFOUND);
    CHECK_EQ_INT(rcgc_dict_set_take(d, l, rcgc_int_new(e.kit, 1000)), RCGC_EINVAL); /* both dropped */
    rcgc_unref(one);
    rcgc_unref(fone);
    rcgc_unref(d);
    kt_close(&e);
}

TEST(dict_keeps_insertion_order_through_deletes_and_resizes)
{
    kt_env e = kt_open();
    void *d = rcgc_dict_new(e.kit);
    enum { N = 5000 };
    for (int i = 0; i < N; i++)
        CHECK_EQ_INT(rcgc_dict_set_take(d, rcgc_int_new(e.kit, i), rcgc_int_new(e.kit, -i)),
                     RCGC_OK);
    CHECK_EQ_U64(rcgc_dict_len(d), N);
    for (int i = 0; i < N; i += 2) {
        void *k = rcgc_int_new(e.kit, i);
        CHECK_EQ_INT(rcgc_dict_del(d, k), RCGC_OK);
        CHECK_EQ_INT(rcgc_dict_del(d, k), RCGC_ENOTFOUND);
        rcgc_unref(k);
    }
    CHECK_EQ_U64(rcgc_dict_len(d), N / 2);
    for (int i = N; i < N + 3000; i++) /* forces a compacting resize */
        rcgc_dict_set_take(d, rcgc_int_new(e.kit, i), rcgc_int_new(e.kit, -i));
    size_t pos = 0, n = 0;
    void *k, *v;
    int64_t prev = -1;
    while (rcgc_dict_next(d, &pos, &k, &v)) {
        int64_t ki = rcgc_int_value(k);
        CHECK(ki > prev);
        CHECK(ki >= N || ki % 2 == 1);
        CHECK_EQ_INT(rcgc_int_value(v), -ki);
        prev = ki;
        n++;
    }
    CHECK_EQ_U64(n, N / 2 + 3000);
    for (int i = 0; i < N + 3000; i++) {
        void *key = rcgc_int_new(e.kit, i);
        void *val = rcgc_dict_get(d, key);
        CHECK(i < N && i % 2 == 0 ? val == NULL : val != NULL);
        rcgc_unref(key);
    }
    CHECK_HEAP(e.heap);
    rcgc_unref(d);
    kt_close(&e);
}

TEST(dict_cstr_keys_pop_clear_and_equality)
{
    kt_env e = kt_open();
    void *d = rcgc_dict_new(e.kit), *d2 = rcgc_dict_new(e.kit);
    CHECK_EQ_INT(rcgc_dict_set_cstr_take(e.kit, d, "name", rcgc_str_new_cstr(e.kit, "rcgc")),
                 RCGC_OK);
    CHECK_EQ_INT(rcgc_dict_set_cstr_take(e.kit, d, "n", rcgc_int_new(e.kit, 3)), RCGC_OK);
    CHECK_EQ_INT(rcgc_dict_set_cstr_take(e.kit, d, "n", rcgc_int_new(e.kit, 4)), RCGC_OK);
    CHECK_EQ_INT(rcgc_dict_set_cstr_take(e.kit, d, "\xff", rcgc_int_new(e.kit, 4)), RCGC_EINVAL);
    CHECK_EQ_INT(rcgc_dict_set_cstr_take(e.kit, d, "x", NULL), RCGC_ENOMEM);
    CHECK_EQ_U64(rcgc_dict_len(d), 2);
    CHECK_EQ_INT(rcgc_int_value(rcgc_dict_get_cstr(e.kit, d, "n")), 4);
    CHECK(rcgc_dict_get_cstr(e.kit, d, "missing") == NULL);
    void *key = rcgc_str_new_cstr(e.kit, "name");
    CHECK(rcgc_str_equals_cstr(rcgc_dict_get(d, key), "rcgc"));
    /* equality ignores order */
    rcgc_dict_set_cstr_take(e.kit, d2, "n", rcgc_float_new(e.kit, 4.0));
    rcgc_dict_set_cstr_take(e.kit, d2, "name", rcgc_str_new_cstr(e.kit, "rcgc"));
    CHECK_EQ_INT(rcgc_kit_equal(d, d2), 1);
    void *popped;
    CHECK_EQ_INT(rcgc_dict_pop(d, key, &popped), RCGC_OK);
    CHECK(rcgc_str_equals_cstr(popped, "rcgc"));
    rcgc_unref(popped);
    CHECK_EQ_INT(rcgc_kit_equal(d, d2), 0);
    CHECK_EQ_STR(kt_repr(d), "{'n': 4}");
    CHECK(rcgc_kit_sizeof(d) > rcgc_object_size(d));
    rcgc_dict_clear(d);
    CHECK_EQ_U64(rcgc_dict_len(d), 0);
    CHECK_EQ_STR(kt_repr(d), "{}");
    CHECK(!rcgc_kit_is_true(d));
    rcgc_unref(key);
    rcgc_unref(d);
    rcgc_unref(d2);
    kt_close(&e);
}

/* The str a cstr key becomes hashes and compares as any str of its bytes
** (it is made with the hash the lookup computed). */
TEST(dict_cstr_keys_are_strs_with_their_hash)
{
    kt_env e = kt_open();
    void *d = rcgc_dict_new(e.kit);
    const char *names[] = {"", "a", "name", "caf\xc3\xa9", "a rather longer key than eight"};
    size_t n = sizeof names / sizeof names[0];
    for (size_t i = 0; i < n; i++)
        CHECK_EQ_INT(rcgc_dict_set_cstr_take(e.kit, d, names[i], rcgc_int_new(e.kit, (int64_t)i)),
                     RCGC_OK);
    size_t pos = 0, i = 0;
    void *k, *v;
    while (rcgc_dict_next(d, &pos, &k, &v)) {
        void *s = rcgc_str_new_cstr(e.kit, names[i]);
        int64_t hk = 0, hs = 1;
        CHECK_EQ_INT(rcgc_kit_hash(k, &hk), RCGC_OK);
        CHECK_EQ_INT(rcgc_kit_hash(s, &hs), RCGC_OK);
        CHECK(hk == hs);
        CHECK_EQ_INT(rcgc_kit_equal(k, s), 1);
        CHECK_EQ_U64(rcgc_str_chars(k), rcgc_str_chars(s));
        CHECK(rcgc_dict_get(d, s) == v);
        rcgc_unref(s);
        i++;
    }
    CHECK_EQ_U64(i, n);
    rcgc_unref(d);
    kt_close(&e);
}

/* PARITY 31 (CPython <= 3.13 mode): a dict of atomics is untracked and
** becomes tracked when a list is inserted; full collections untrack dicts
** that hold only atomic values again. */
TEST(dict_tracking_rule_of_cpython_313)
{
    kt_env e = kt_open();
    void *d = rcgc_dict_new(e.kit);
    CHECK(!rcgc_is_tracked(d));
    rcgc_dict_set_cstr_take(e.kit, d, "a", rcgc_int_new(e.kit, 1));
    rcgc_dict_set_take(d, rcgc_str_new_cstr(e.kit, "b"), rcgc_str_new_cstr(e.kit, "x"));
    rcgc_dict_set(d, rcgc_kit_none(e.kit), rcgc_float_new(e.kit, 1.5));
    rcgc_unref(rcgc_dict_get(d, rcgc_kit_none(e.kit))); /* the float's extra ref */
    CHECK(!rcgc_is_tracked(d));
    void *l = rcgc_list_new(e.kit, 0);
    rcgc_dict_set_cstr(e.kit, d, "l", l);
    CHECK(rcgc_is_tracked(d));
    /* an untracked dict inside: tracked too (it may become tracked later) */
    void *outer = rcgc_dict_new(e.kit), *inner = rcgc_dict_new(e.kit);
    rcgc_dict_set_cstr(e.kit, outer, "inner", inner);
    CHECK(rcgc_is_tracked(outer));
    CHECK(!rcgc_is_tracked(inner));
    /* removing the list does not untrack at once; a full collection does */
    void *lk = rcgc_str_new_cstr(e.kit, "l");
    CHECK_EQ_INT(rcgc_dict_del(d, lk), RCGC_OK);
    CHECK(rcgc_is_tracked(d));
    rcgc_gc_collect(e.heap, 0);
    CHECK(rcgc_is_tracked(d)); /* young collections leave it */
    rcgc_gc_collect(e.heap, 2);
    CHECK(!rcgc_is_tracked(d));
    CHECK(rcgc_is_tracked(outer)); /* holds a dict: stays tracked */
    CHECK(!rcgc_is_tracked(inner));
    /* tracked again by inserting a list */
    rcgc_dict_set(d, lk, l);
    CHECK(rcgc_is_tracked(d));
    /* immortal values never make a dict tracked */
    void *d3 = rcgc_dict_new(e.kit);
    rcgc_dict_set(d3, rcgc_kit_true(e.kit), rcgc_kit_none(e.kit));
    CHECK(!rcgc_is_tracked(d3));
    void *objs[] = {lk, l, d, outer, inner, d3};
    for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++)
        rcgc_unref(objs[i]);
    kt_close(&e);
}

TEST(dict_tracked_at_creation_when_untracking_is_off)
{
    rcgc_kit_config cfg;
    rcgc_kit_config_init(&cfg);
    cfg.untrack_dicts = false;
    rcgc_heap *heap = th_heap_new();
    rcgc_kit *kit = rcgc_kit_new(heap, &cfg);
    void *d = rcgc_dict_new(kit);
    CHECK(rcgc_is_tracked(d));
    rcgc_dict_set_cstr_take(kit, d, "a", rcgc_int_new(kit, 1));
    rcgc_gc_collect(heap, 2);
    CHECK(rcgc_is_tracked(d)); /* CPython 3.14: no dict untracking */
    rcgc_unref(d);
    rcgc_kit_free(kit);
    rcgc_heap_free(heap);
}

/* PARITY 18 with kit dicts: d[1] = d is one garbage object */
TEST(dict_cycles_are_collected)
{
    kt_env e = kt_open();
    void *d = rcgc_dict_new(e.kit);
    void *one = rcgc_int_new(e.kit, 1);
    rcgc_dict_set(d, one, d);
    rcgc_unref(one);
    CHECK(rcgc_is_tracked(d));
    CHECK_EQ_STR(kt_repr(d), "{1: {...}}");
    rcgc_unref(d);
    CHECK_EQ_U64(kt_live(&e), 1);
    CHECK_EQ_INT(rcgc_gc_collect(e.heap, 2), 1);
    CHECK_EQ_U64(kt_live(&e), 0);
    /* dict -> list -> dict, with atomic payload: 2 containers counted */
    void *a = rcgc_dict_new(e.kit), *l = rcgc_list_new(e.kit, 0);
    rcgc_dict_set_cstr(e.kit, a, "list", l);
    rcgc_list_append(l, a);
    rcgc_list_append_take(l, rcgc_str_new_cstr(e.kit, "payload"));
    rcgc_unref(a);
    rcgc_unref(l);
    CHECK_EQ_INT(rcgc_gc_collect(e.heap, 2), 2);
    /* a key that is a foreign tracked object forms the cycle */
    void *d2 = rcgc_dict_new(e.kit), *l2 = rcgc_list_new(e.kit, 0);
    rcgc_list_append(l2, d2);
    CHECK_EQ_INT(rcgc_dict_set(d2, l2, l2), RCGC_EINVAL); /* lists are unhashable */
    rcgc_dict_set_cstr(e.kit, d2, "back", l2);
    rcgc_unref(d2);
    rcgc_unref(l2);
    CHECK_EQ_INT(rcgc_gc_collect(e.heap, 2), 2);
    kt_close(&e);
}

/* A random workload against a shadow array: keys 0..K-1 as int, float or
** str objects; after every step the dict agrees with the model. */
TEST(dict_random_operations_match_a_model)
{
    kt_env e = kt_open();
    uint64_t rs = th_seed();
    enum { K = 300, STEPS = 20000 };
    int64_t model[2 * K]; /* numeric keys at k, str keys at K + k */
    bool present[2 * K] = {false};
    void *d = rcgc_dict_new(e.kit);
    for (int step = 0; step < STEPS; step++) {
        int k = (int)(th_rand(&rs) % K);
        unsigned form = (unsigned)(th_rand(&rs) % 3);
        void *key = form == 0   ? rcgc_int_new(e.kit, k)
                    : form == 1 ? rcgc_float_new(e.kit, (double)k)
                                : rcgc_str_printf(e.kit, "key%d", k);
        int slot = form == 2 ? K + k : k;
        if (th_rand(&rs) % 3 == 0) {
            rcgc_status st = rcgc_dict_del(d, key);
            CHECK_EQ_INT(st, present[slot] ? RCGC_OK : RCGC_ENOTFOUND);
            present[slot] = false;
        } else {
            int64_t val = (int64_t)(th_rand(&rs) % 1000000);
            CHECK_EQ_INT(rcgc_dict_set_take(d, rcgc_ref(key), rcgc_int_new(e.kit, val)), RCGC_OK);
            model[slot] = val;
            present[slot] = true;
        }
        void *got = rcgc_dict_get(d, key);
        CHECK(present[slot] ? got && rcgc_int_value(got) == model[slot] : got == NULL);
        rcgc_unref(key);
        if (th_failures)
            break;
    }
    CHECK_HEAP(e.heap);
    rcgc_unref(d);
    kt_close(&e);
}
