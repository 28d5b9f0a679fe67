/*
** test_kit.c -- the object kit's atomic types and lists: singletons and the
** small-int cache, int arithmetic and overflow, float repr, str/bytes
** (UTF-8, hash, repr), Python's hash/equality rules across numbers, list
** operations, cycles through lists (PARITY 18) and atomic objects never
** being tracked (PARITY 31).
*/
#include <math.h>

#include "test_kit_util.h"

TEST(kit_singletons_are_immortal_and_untracked)
{
    kt_env e = kt_open();
    void *n = rcgc_kit_none(e.kit), *t = rcgc_kit_true(e.kit), *f = rcgc_kit_false(e.kit);
    CHECK(rcgc_is_immortal(n) && rcgc_is_immortal(t) && rcgc_is_immortal(f));
    CHECK(!rcgc_is_tracked(n) && !rcgc_is_tracked(t));
    CHECK_EQ_PTR(rcgc_kit_bool(e.kit, true), t);
    CHECK_EQ_PTR(rcgc_kit_bool(e.kit, false), f);
    for (int i = 0; i < 1000; i++)
        rcgc_unref(n); /* more unrefs than refs: immortal */
    CHECK(rcgc_kit_is_none(n));
    CHECK(!rcgc_kit_is_none(f));
    CHECK(rcgc_bool_value(t) && !rcgc_bool_value(f));
    CHECK_EQ_INT(rcgc_kit_kind(n), RCGC_KIND_NONE);
    CHECK_EQ_INT(rcgc_kit_kind(t), RCGC_KIND_BOOL);
    CHECK_EQ_STR(rcgc_kit_type_name(n), "NoneType");
    CHECK_EQ_STR(kt_repr(n), "None");
    CHECK_EQ_STR(kt_repr(t), "True");
    CHECK_EQ_U64(rcgc_kit_immortal_count(e.kit), 3 + 262);
    kt_close(&e);
}

TEST(kit_small_ints_are_cached_and_others_are_not)
{
    kt_env e = kt_open();
    void *a = rcgc_int_new(e.kit, 256), *b = rcgc_int_new(e.kit, 256);
    CHECK_EQ_PTR(a, b);
    CHECK(rcgc_is_immortal(a));
    CHECK_EQ_PTR(rcgc_int_new(e.kit, -5), rcgc_int_new(e.kit, -5));
    void *c = rcgc_int_new(e.kit, 257), *d = rcgc_int_new(e.kit, 257);
    CHECK(c != d);
    CHECK(!rcgc_is_immortal(c) && !rcgc_is_tracked(c));
    CHECK_EQ_INT(rcgc_int_value(c), 257);
    CHECK_EQ_INT(rcgc_kit_equal(c, d), 1);
    rcgc_unref(c);
    rcgc_unref(d);
    rcgc_unref(a);
    rcgc_unref(b);
    kt_close(&e);

    rcgc_kit_config cfg;
    rcgc_kit_config_init(&cfg);
    cfg.small_ints = false;
    rcgc_heap *heap = th_heap_new();
    rcgc_kit *kit = rcgc_kit_new(heap, &cfg);
    void *x = rcgc_int_new(kit, 1), *y = rcgc_int_new(kit, 1);
    CHECK(x != y && !rcgc_is_immortal(x));
    CHECK_EQ_U64(rcgc_kit_immortal_count(kit), 3);
    rcgc_unref(x);
    rcgc_unref(y);
    rcgc_kit_free(kit);
    rcgc_heap_free(heap);
}

TEST(kit_int_arithmetic_is_pythons_and_reports_overflow)
{
    kt_env e = kt_open();
    void *o;
    void *max = rcgc_int_new(e.kit, INT64_MAX), *min = rcgc_int_new(e.kit, INT64_MIN);
    void *one = rcgc_int_new(e.kit, 1), *m1 = rcgc_int_new(e.kit, -1);
    void *seven = rcgc_int_new(e.kit, 7), *mseven = rcgc_int_new(e.kit, -7);
    void *two = rcgc_int_new(e.kit, 2), *zero = rcgc_int_new(e.kit, 0);
    CHECK_EQ_INT(rcgc_int_add(e.kit, max, one, &o), RCGC_EINVAL);
    CHECK(o == NULL);
    CHECK_EQ_INT(rcgc_int_sub(e.kit, min, one, &o), RCGC_EINVAL);
    CHECK_EQ_INT(rcgc_int_mul(e.kit, max, two, &o), RCGC_EINVAL);
    CHECK_EQ_INT(rcgc_int_floordiv(e.kit, min, m1, &o), RCGC_EINVAL);
    CHECK_EQ_INT(rcgc_int_floordiv(e.kit, one, zero, &o), RCGC_EINVAL);
    CHECK_EQ_INT(rcgc_int_mod(e.kit, min, m1, &o), RCGC_OK);
    CHECK_EQ_INT(rcgc_int_value(o), 0);
    rcgc_unref(o);
    /* Python floors: -7 // 2 == -4, -7 % 2 == 1, 7 % -2 == -1 */
    CHECK_EQ_INT(rcgc_int_floordiv(e.kit, mseven, two, &o), RCGC_OK);
    CHECK_EQ_INT(rcgc_int_value(o), -4);
    rcgc_unref(o);
    CHECK_EQ_INT(rcgc_int_mod(e.kit, mseven, two, &o), RCGC_OK);
    CHECK_EQ_INT(rcgc_int_value(o), 1);
    rcgc_unref(o);
    void *mtwo = rcgc_int_new(e.kit, -2);
    CHECK_EQ_INT(rcgc_int_mod(e.kit, seven, mtwo, &o), RCGC_OK);
    CHECK_EQ_INT(rcgc_int_value(o), -1);
    rcgc_unref(o);
    CHECK_EQ_INT(rcgc_int_add(e.kit, max, m1, &o), RCGC_OK);
    CHECK_EQ_INT(rcgc_int_value(o), INT64_MAX - 1);
    rcgc_unref(o);
    /* bool is an int: True + True == 2 */
    CHECK_EQ_INT(rcgc_int_add(e.kit, rcgc_kit_true(e.kit), rcgc_kit_true(e.kit), &o), RCGC_OK);
    CHECK_EQ_INT(rcgc_int_value(o), 2);
    rcgc_unref(o);
    CHECK_EQ_INT(rcgc_int_add(e.kit, rcgc_kit_none(e.kit), one, &o), RCGC_EINVAL);
    /* parsing */
    CHECK_EQ_INT(rcgc_int_parse(e.kit, "-9223372036854775808", 20, &o), RCGC_OK);
    CHECK_EQ_INT(rcgc_int_value(o), INT64_MIN);
    rcgc_unref(o);
    CHECK_EQ_INT(rcgc_int_parse(e.kit, "9223372036854775808", 19, &o), RCGC_EINVAL);
    CHECK_EQ_INT(rcgc_int_parse(e.kit, "12a", 3, &o), RCGC_EINVAL);
    CHECK_EQ_INT(rcgc_int_parse(e.kit, "-", 1, &o), RCGC_EINVAL);
    CHECK_EQ_STR(kt_repr(min), "-9223372036854775808");
    void *objs[] = {max, min, one, m1, seven, mseven, two, zero, mtwo};
    for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++)
        rcgc_unref(objs[i]);
    kt_close(&e);
}

static void check_float_repr(rcgc_kit *kit, double v, const char *want)
{
    void *f = rcgc_float_new(kit, v);
    CHECK_EQ_STR(kt_repr(f), want);
    rcgc_unref(f);
}

TEST(kit_float_repr_matches_python)
{
    kt_env e = kt_open();
    check_float_repr(e.kit, 1.0, "1.0");
    check_float_repr(e.kit, 0.1, "0.1");
    check_float_repr(e.kit, -0.0, "-0.0");
    check_float_repr(e.kit, 1.5, "1.5");
    check_float_repr(e.kit, 1e16, "1e+16");
    check_float_repr(e.kit, 1e15, "1000000000000000.0");
    check_float_repr(e.kit, 0.0001, "0.0001");
    check_float_repr(e.kit, 0.00001, "1e-05");
    check_float_repr(e.kit, 1.5e-7, "1.5e-07");
    check_float_repr(e.kit, 123456.789, "123456.789");
    check_float_repr(e.kit, 0.1 + 0.2, "0.30000000000000004");
    check_float_repr(e.kit, 1.7976931348623157e308, "1.7976931348623157e+308");
    check_float_repr(e.kit, 5e-324, "5e-324");
    check_float_repr(e.kit, INFINITY, "inf");
    check_float_repr(e.kit, -INFINITY, "-inf");
    check_float_repr(e.kit, NAN, "nan");
    kt_close(&e);
}

TEST(kit_numbers_hash_and_compare_like_python)
{
    kt_env e = kt_open();
    void *i1 = rcgc_int_new(e.kit, 1), *f1 = rcgc_float_new(e.kit, 1.0);
    void *t = rcgc_kit_true(e.kit);
    int64_t h1, h2, h3;
    CHECK_EQ_INT(rcgc_kit_hash(i1, &h1), RCGC_OK);
    CHECK_EQ_INT(rcgc_kit_hash(f1, &h2), RCGC_OK);
    CHECK_EQ_INT(rcgc_kit_hash(t, &h3), RCGC_OK);
    CHECK_EQ_INT(h1, 1);
    CHECK_EQ_INT(h2, 1);
    CHECK_EQ_INT(h3, 1);
    CHECK_EQ_INT(rcgc_kit_equal(i1, f1), 1);
    CHECK_EQ_INT(rcgc_kit_equal(t, f1), 1);
    /* CPython's values: hash(-1) == -2, hash(2**61 - 1) == 0,
    ** hash(1.5) == 1152921504606846977, hash(-2.5) == -1152921504606846978 */
    void *m1 = rcgc_int_new(e.kit, -1), *p = rcgc_int_new(e.kit, ((int64_t)1 << 61) - 1);
    void *f15 = rcgc_float_new(e.kit, 1.5), *fm25 = rcgc_float_new(e.kit, -2.5);
    rcgc_kit_hash(m1, &h1);
    CHECK_EQ_INT(h1, -2);
    rcgc_kit_hash(p, &h1);
    CHECK_EQ_INT(h1, 0);
    rcgc_kit_hash(f15, &h1);
    CHECK_EQ_INT(h1, 1152921504606846977LL);
    rcgc_kit_hash(fm25, &h1);
    CHECK_EQ_INT(h1, -1152921504606846978LL);
    /* exact comparison: 2**53 + 1 != 2.0**53 */
    void *big = rcgc_int_new(e.kit, ((int64_t)1 << 53) + 1);
    void *fbig = rcgc_float_new(e.kit, 9007199254740992.0);
    CHECK_EQ_INT(rcgc_kit_equal(big, fbig), 0);
    void *nan = rcgc_float_new(e.kit, NAN), *nan2 = rcgc_float_new(e.kit, NAN);
    CHECK_EQ_INT(rcgc_kit_equal(nan, nan2), 0);
    CHECK_EQ_INT(rcgc_kit_equal(nan, nan), 1); /* identity, as in containers */
    CHECK_EQ_INT(rcgc_kit_equal(rcgc_kit_none(e.kit), rcgc_kit_false(e.kit)), 0);
    CHECK(!rcgc_kit_is_true(rcgc_kit_none(e.kit)));
    CHECK(rcgc_kit_is_true(f15));
    void *objs[] = {i1, f1, m1, p, f15, fm25, big, fbig, nan, nan2};
    for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++)
        rcgc_unref(objs[i]);
    kt_close(&e);
}

TEST(kit_str_is_validated_utf8_with_cached_length_and_hash)
{
    kt_env e = kt_open();
    void *s = rcgc_str_new_cstr(e.kit, "h\xc3\xa9llo \xf0\x9f\x98\x80");
    CHECK(s != NULL);
    CHECK_EQ_U64(rcgc_str_len(s), 11);
    CHECK_EQ_U64(rcgc_str_chars(s), 7);
    CHECK(!rcgc_is_tracked(s));
    CHECK(rcgc_str_equals_cstr(s, "h\xc3\xa9llo \xf0\x9f\x98\x80"));
    void *s2 = rcgc_str_printf(e.kit, "h\xc3\xa9%s \xf0\x9f\x98\x80", "llo");
    CHECK_EQ_INT(rcgc_kit_equal(s, s2), 1);
    int64_t h1, h2;
    rcgc_kit_hash(s, &h1);
    rcgc_kit_hash(s2, &h2);
    CHECK_EQ_INT(h1, h2);
    void *empty = rcgc_str_new(e.kit, "", 0);
    rcgc_kit_hash(empty, &h1);
    CHECK_EQ_INT(h1, 0);
    CHECK(!rcgc_kit_is_true(empty));
    /* invalid UTF-8: overlong, surrogate, truncated, > U+10FFFF */
    static const char *bad[] = {"\xc0\xaf", "\xed\xa0\x80", "\xe2\x82", "\xf4\x90\x80\x80",
                                "\xff", "a\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t off = 99;
        CHECK(rcgc_str_new_cstr(e.kit, bad[i]) == NULL);
        CHECK(!rcgc_str_utf8_check(bad[i], strlen(bad[i]), &off));
        CHECK_EQ_U64(off, i == 5 ? 1 : 0);
    }
    /* NUL bytes are allowed inside */
    void *z = rcgc_str_new(e.kit, "a\0b", 3);
    CHECK_EQ_U64(rcgc_str_len(z), 3);
    CHECK_EQ_STR(kt_repr(z), "'a\\x00b'");
    void *cat = rcgc_str_concat(e.kit, s, z);
    CHECK_EQ_U64(rcgc_str_len(cat), 14);
    CHECK_EQ_U64(rcgc_str_chars(cat), 10);
    CHECK(rcgc_str_concat(e.kit, s, rcgc_kit_none(e.kit)) == NULL);
    void *q = rcgc_str_new_cstr(e.kit, "it's\n\t\\");
    CHECK_EQ_STR(kt_repr(q), "\"it's\\n\\t\\\\\"");
    void *objs[] = {s, s2, empty, z, cat, q};
    for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++)
        rcgc_unref(objs[i]);
    kt_close(&e);
}

TEST(kit_bytes_differ_from_str_and_repr_as_python)
{
    kt_env e = kt_open();
    void *b = rcgc_bytes_new(e.kit, "ab\x00\xff'", 5);
    void *s = rcgc_str_new_cstr(e.kit, "ab");
    void *b2 = rcgc_bytes_new(e.kit, "ab", 2);
    CHECK_EQ_U64(rcgc_bytes_len(b), 5);
    CHECK_EQ_INT(rcgc_bytes_data(b)[3], 0xff);
    CHECK_EQ_STR(kt_repr(b), "b\"ab\\x00\\xff'\"");
    CHECK_EQ_INT(rcgc_kit_equal(s, b2), 0);
    CHECK(rcgc_str_data(b2) == NULL);
    CHECK(!rcgc_is_tracked(b));
    CHECK_EQ_INT(rcgc_kit_kind(b), RCGC_KIND_BYTES);
    rcgc_unref(b);
    rcgc_unref(s);
    rcgc_unref(b2);
    kt_close(&e);
}

/* PARITY 31: atomic objects are never tracked; an empty list is tracked */
TEST(kit_atomic_objects_never_tracked_lists_always)
{
    kt_env e = kt_open();
    void *objs[] = {rcgc_int_new(e.kit, 1000), rcgc_float_new(e.kit, 2.5),
                    rcgc_str_new_cstr(e.kit, "x"), rcgc_bytes_new(e.kit, "x", 1),
                    rcgc_list_new(e.kit, 0)};
    for (size_t i = 0; i < 4; i++) {
        CHECK(!rcgc_is_tracked(objs[i]));
        CHECK(rcgc_kit_is_atomic(objs[i]));
    }
    CHECK(rcgc_is_tracked(objs[4]));
    CHECK(!rcgc_kit_is_atomic(objs[4]));
    rcgc_gc_collect(e.heap, 2);
    CHECK(rcgc_is_tracked(objs[4])); /* lists stay tracked, as in CPython */
    for (size_t i = 0; i < 5; i++)
        rcgc_unref(objs[i]);
    kt_close(&e);
}

TEST(kit_list_operations)
{
    kt_env e = kt_open();
    void *l = rcgc_list_new(e.kit, 0);
    for (int i = 0; i < 100; i++)
        CHECK_EQ_INT(rcgc_list_append_take(l, rcgc_int_new(e.kit, i * 1000)), RCGC_OK);
    CHECK_EQ_U64(rcgc_list_len(l), 100);
    CHECK_EQ_INT(rcgc_int_value(rcgc_list_get(l, 42)), 42000);
    CHECK(rcgc_list_get(l, 100) == NULL);
    void *x = rcgc_str_new_cstr(e.kit, "x");
    CHECK_EQ_INT(rcgc_list_insert(l, 0, x), RCGC_OK);
    CHECK_EQ_U64(rcgc_refcount(x), 2);
    CHECK_EQ_INT(rcgc_list_insert(l, 102, x), RCGC_EINVAL);
    CHECK_EQ_PTR(rcgc_list_get(l, 0), x);
    void *popped;
    CHECK_EQ_INT(rcgc_list_pop(l, 0, &popped), RCGC_OK);
    CHECK_EQ_PTR(popped, x);
    rcgc_unref(popped);
    CHECK_EQ_INT(rcgc_list_set(l, 1, x), RCGC_OK);
    CHECK_EQ_INT(rcgc_list_set(l, 100, x), RCGC_EINVAL);
    CHECK_EQ_INT(rcgc_list_pop(l, 99, NULL), RCGC_OK);
    CHECK_EQ_U64(rcgc_list_len(l), 99);
    CHECK_EQ_INT(rcgc_list_append(rcgc_kit_none(e.kit), x), RCGC_EINVAL);
    CHECK_EQ_INT(rcgc_list_append_take(l, NULL), RCGC_ENOMEM);
    CHECK(rcgc_kit_sizeof(l) >= 16 + sizeof(size_t) * 3 + 99 * sizeof(void *));
    CHECK_HEAP(e.heap);
    rcgc_list_clear(l);
    CHECK_EQ_U64(rcgc_list_len(l), 0);
    CHECK_EQ_U64(rcgc_refcount(x), 1);
    rcgc_unref(x);
    rcgc_unref(l);
    kt_close(&e);
}

TEST(kit_list_equality_and_repr)
{
    kt_env e = kt_open();
    void *a = rcgc_list_new(e.kit, 0), *b = rcgc_list_new(e.kit, 0);
    rcgc_list_append_take(a, rcgc_int_new(e.kit, 1));
    rcgc_list_append_take(a, rcgc_str_new_cstr(e.kit, "a"));
    rcgc_list_append(a, rcgc_kit_none(e.kit));
    rcgc_list_append_take(b, rcgc_float_new(e.kit, 1.0));
    rcgc_list_append_take(b, rcgc_str_new_cstr(e.kit, "a"));
    rcgc_list_append(b, rcgc_kit_none(e.kit));
    CHECK_EQ_INT(rcgc_kit_equal(a, b), 1);
    CHECK_EQ_STR(kt_repr(a), "[1, 'a', None]");
    CHECK_EQ_STR(kt_repr(b), "[1.0, 'a', None]");
    int64_t h;
    CHECK_EQ_INT(rcgc_kit_hash(a, &h), RCGC_EINVAL);
    rcgc_list_append(a, a); /* a contains itself */
    CHECK_EQ_STR(kt_repr(a), "[1, 'a', None, [...]]");
    rcgc_list_append(b, b);
    CHECK_EQ_INT(rcgc_kit_equal(a, b), -RCGC_EINVAL); /* recursion too deep */
    rcgc_unref(a);
    rcgc_unref(b);
    CHECK_EQ_INT(rcgc_gc_collect(e.heap, 2), 2);
    kt_close(&e);
}

/* PARITY 18 with kit lists: a list containing itself is one garbage object */
TEST(kit_self_containing_list_is_collected)
{
    kt_env e = kt_open();
    void *l = rcgc_list_new(e.kit, 0);
    rcgc_list_append_take(l, rcgc_str_new_cstr(e.kit, "payload")); /* untracked: not counted */
    rcgc_list_append(l, l);
    rcgc_unref(l);
    CHECK_EQ_U64(kt_live(&e), 2);
    CHECK_EQ_INT(rcgc_gc_collect(e.heap, 2), 1);
    CHECK_EQ_U64(kt_live(&e), 0);
    /* a longer cycle: a -> b -> c -> a */
    void *a = rcgc_list_new(e.kit, 0), *b = rcgc_list_new(e.kit, 0), *c = rcgc_list_new(e.kit, 0);
    rcgc_list_append(a, b);
    rcgc_list_append(b, c);
    rcgc_list_append(c, a);
    rcgc_unref(a);
    rcgc_unref(b);
    CHECK_EQ_INT(rcgc_gc_collect(e.heap, 2), 0); /* c is still ours */
    rcgc_unref(c);
    CHECK_EQ_INT(rcgc_gc_collect(e.heap, 2), 3);
    kt_close(&e);
}

TEST(kit_repr_of_foreign_objects_and_fixed_buffer_overflow)
{
    kt_env e = kt_open();
    static const rcgc_type other = {.name = "thing", .size = 8};
    void *o = rcgc_new(e.heap, &other);
    CHECK_EQ_INT(rcgc_kit_kind(o), RCGC_KIND_OTHER);
    CHECK_CONTAINS(kt_repr(o), "<thing object at 0x");
    int64_t h;
    CHECK_EQ_INT(rcgc_kit_hash(o, &h), RCGC_OK); /* identity hash */
    char small[8];
    rcgc_kit_buf b;
    rcgc_kit_buf_init_fixed(&b, small, sizeof small);
    void *s = rcgc_str_new_cstr(e.kit, "0123456789");
    CHECK_EQ_INT(rcgc_kit_str(s, &b), RCGC_ENOMEM);
    CHECK_EQ_U64(b.len, 10);         /* the size needed */
    CHECK_EQ_STR(small, "0123456"); /* a truncated prefix */
    rcgc_kit_buf_init_fixed(&b, small, sizeof small);
    CHECK_EQ_INT(rcgc_kit_buf_printf(&b, "%0300d", 7), RCGC_ENOMEM); /* long text, fixed */
    CHECK_EQ_U64(b.len, 300);
    CHECK_EQ_STR(small, "0000000");
    rcgc_kit_buf_init(&b, e.heap);
    CHECK_EQ_INT(rcgc_kit_buf_printf(&b, "%0300d", 7), RCGC_OK);
    CHECK_EQ_U64(b.len, 300);
    CHECK_EQ_INT(b.data[299], '7');
    rcgc_kit_buf_fini(&b);
    rcgc_unref(s);
    rcgc_unref(o);
    kt_close(&e);
}

/* With tracing on, kit objects are attributed to the caller's line, also
** the ones rcgc_json_decode makes (the site macros of rcgc_kit.h). */
static void check_site(rcgc_heap *heap, const void *obj, int line)
{
    const rcgc_traceback *tb = rcgc_trace_get_object_traceback(heap, obj);
    CHECK(tb != NULL);
    if (!tb)
        return;
    rcgc_frame f = rcgc_traceback_frame(tb, rcgc_traceback_nframe(tb) - 1);
    CHECK_CONTAINS(f.filename, "test_kit.c");
    CHECK_EQ_INT(f.lineno, line);
}

TEST(kit_objects_are_traced_to_the_callers_line)
{
    kt_env e = kt_open();
    CHECK_EQ_INT(rcgc_trace_start(e.heap, 1), RCGC_OK);
    void *i = rcgc_int_new(e.kit, 100000);
    int line_i = __LINE__ - 1;
    void *s = rcgc_str_printf(e.kit, "%d", 5);
    int line_s = __LINE__ - 1;
    void *v;
    CHECK_EQ_INT(rcgc_json_decode(e.kit, "[[1.5, \"x\"]]", 12, NULL, &v, NULL), RCGC_OK);
    int line_v = __LINE__ - 1;
    check_site(e.heap, i, line_i);
    check_site(e.heap, s, line_s);
    check_site(e.heap, v, line_v);
    check_site(e.heap, rcgc_list_get(v, 0), line_v);
    check_site(e.heap, rcgc_list_get(rcgc_list_get(v, 0), 1), line_v);
    rcgc_unref(i);
    rcgc_unref(s);
    rcgc_unref(v);
    rcgc_trace_stop(e.heap);
    kt_close(&e);
}
