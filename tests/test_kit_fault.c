/*
** test_kit_fault.c -- fault injection over the object kit (STYLE.md's
** SQLite-style loops): fail the 1st, 2nd, ... allocation of the kit's
** constructors, of dict insertions and resizes, list growth, JSON decode of
** a medium document, JSON encode and repr into growable buffers. After each
** failure: NULL or RCGC_ENOMEM, the heap checks clean, and once everything
** is dropped and collected no object and no raw byte is left.
** White-box: reads heap->live_objects and the allocator's live bytes.
*/
#include "test_kit_util.h"

/* One operation under test: builds something, returns RCGC_OK or the
** failure it met; drops everything it made. */
typedef rcgc_status (*op_fn)(rcgc_kit *kit);

/* Run op with allocation N failing, N = 1, 2, ... until op no longer
** reaches the N-th allocation; check after every run. Returns the number
** of failing runs seen. */
static int fault_loop(kt_env *e, op_fn op, const char *name)
{
    size_t bytes0 = rcgc__mem_live_bytes(&e->heap->mem);
    int failures = 0;
    for (uint64_t n = 1; n < 100000; n++) {
        rcgc_fault_set(e->heap, n, n);
        rcgc_status st = op(e->kit);
        uint64_t attempted = rcgc_fault_allocations(e->heap);
        rcgc_fault_clear(e->heap);
        if (st != RCGC_OK) {
            failures++;
            if (st != RCGC_ENOMEM) {
                th_fail(__FILE__, __LINE__, "%s: fault %llu: status %d, not ENOMEM", name,
                        (unsigned long long)n, (int)st);
                return failures;
            }
        }
        rcgc_gc_collect(e->heap, 2);
        if (rcgc_heap_check(e->heap) != RCGC_OK || kt_live(e) != 0 ||
            rcgc_gc_generation_size(e->heap, -1) != 0 ||
            rcgc__mem_live_bytes(&e->heap->mem) != bytes0) {
            th_fail(__FILE__, __LINE__, "%s: fault %llu: leak or corruption (%zu objects, "
                    "%zu bytes over)", name, (unsigned long long)n, kt_live(e),
                    rcgc__mem_live_bytes(&e->heap->mem) - bytes0);
            return failures;
        }
        if (attempted < n) {
            CHECK_EQ_INT(st, RCGC_OK); /* no fault hit: the op must succeed */
            break;
        }
    }
    return failures;
}

static rcgc_status op_constructors(rcgc_kit *kit)
{
    void *objs[9] = {
        rcgc_int_new(kit, 1000000), rcgc_float_new(kit, 2.5), rcgc_str_new_cstr(kit, "abc"),
        rcgc_bytes_new(kit, "xyz", 3), rcgc_list_new(kit, 10), rcgc_dict_new(kit),
        rcgc_str_printf(kit, "%0400d", 5), NULL, NULL};
    objs[7] = objs[2] ? rcgc_str_concat(kit, objs[2], objs[2]) : NULL;
    void *two = NULL;
    rcgc_status st = rcgc_int_parse(kit, "123456", 6, &two);
    objs[8] = two;
    for (size_t i = 0; i < 9; i++) {
        if (!objs[i])
            st = RCGC_ENOMEM;
        rcgc_xunref(objs[i]);
    }
    return st;
}

static rcgc_status op_dict_build(rcgc_kit *kit)
{
    void *d = rcgc_dict_new(kit);
    if (!d)
        return RCGC_ENOMEM;
    rcgc_status st = RCGC_OK;
    int n = 0;
    for (; n < 200 && st == RCGC_OK; n++) {
        st = rcgc_dict_set_take(d, rcgc_int_new(kit, n * 7919), rcgc_str_printf(kit, "v%d", n));
        if (st == RCGC_OK && n % 3 == 0)
            st = rcgc_dict_set_cstr_take(kit, d, "list", rcgc_list_new(kit, 0));
        if (st == RCGC_OK && n % 5 == 0) {
            void *k = rcgc_int_new(kit, (n / 2) * 7919);
            st = k ? RCGC_OK : RCGC_ENOMEM;
            if (k)
                rcgc_dict_del(d, k);
            rcgc_xunref(k);
        }
    }
    /* whatever failed, the dict is consistent: every key still found */
    size_t pos = 0, seen = 0;
    void *k, *v;
    while (rcgc_dict_next(d, &pos, &k, &v)) {
        if (rcgc_dict_get(d, k) != v)
            th_fail(__FILE__, __LINE__, "dict lost a key after a failed insertion");
        seen++;
    }
    if (seen != rcgc_dict_len(d))
        th_fail(__FILE__, __LINE__, "dict length %zu, %zu entries", rcgc_dict_len(d), seen);
    if (st == RCGC_OK) /* a cycle, to give the collector work */
        st = rcgc_dict_set_cstr(kit, d, "self", d);
    rcgc_unref(d);
    return st;
}

static rcgc_status op_list_grow(rcgc_kit *kit)
{
    void *l = rcgc_list_new(kit, 0);
    if (!l)
        return RCGC_ENOMEM;
    rcgc_status st = RCGC_OK;
    for (int i = 0; i < 300 && st == RCGC_OK; i++)
        st = rcgc_list_append_take(l, i % 2 ? rcgc_float_new(kit, i) : rcgc_list_new(kit, 0));
    if (st == RCGC_OK)
        st = rcgc_list_insert(l, 0, l);
    rcgc_unref(l);
    return st;
}

static const char medium_json[] =
    "{\"service\": \"views\", \"version\": 3, \"ratio\": 0.75, \"tags\": [\"a\", \"b\\n\", "
    "\"\\u00e9\\ud83d\\ude00\"],\n \"workers\": [{\"pid\": 101, \"rss\": 1.5e7, \"alive\": true},"
    " {\"pid\": 102, \"rss\": 2.25e7, \"alive\": false, \"last\": null}],\n \"routes\": {\"/\": "
    "{\"hits\": 12345678901, \"p99\": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]}, "
    "\"/debug/gc\": {\"hits\": 7, \"p99\": []}, \"/metrics\": {\"hits\": 0, \"p99\": [1e-5]}},"
    "\n \"matrix\": [[1,2,3],[4,5,6],[7,8,9],[10,11,12],[13,14,15],[16,17,18]],"
    "\n \"long\": \"0123456789012345678901234567890123456789012345678901234567890123456789"
    "01234567890123456789012345678901234567890123456789\", \"empty\": {}, \"nil\": []}";

static rcgc_status op_json_decode(rcgc_kit *kit)
{
    void *v;
    rcgc_json_error err;
    rcgc_status st = rcgc_json_decode(kit, medium_json, sizeof medium_json - 1, NULL, &v, &err);
    if (st != RCGC_OK) {
        if (v != NULL)
            th_fail(__FILE__, __LINE__, "decode failed but returned an object");
        if (!strstr(err.message, "out of memory"))
            th_fail(__FILE__, __LINE__, "unexpected message: %s", err.message);
        return st;
    }
    rcgc_unref(v);
    return RCGC_OK;
}

TEST(kit_fault_constructors)
{
    kt_env e = kt_open();
    CHECK(fault_loop(&e, op_constructors, "constructors") >= 9);
    kt_close(&e);
}

TEST(kit_fault_dict_insertions_and_resizes)
{
    kt_env e = kt_open();
    CHECK(fault_loop(&e, op_dict_build, "dict") > 100);
    kt_close(&e);
}

TEST(kit_fault_list_growth)
{
    kt_env e = kt_open();
    CHECK(fault_loop(&e, op_list_grow, "list") > 100);
    kt_close(&e);
}

TEST(kit_fault_json_decode_of_a_medium_document)
{
    kt_env e = kt_open();
    CHECK(fault_loop(&e, op_json_decode, "json decode") > 50);
    kt_close(&e);
}

/* Encode and repr: the document is built first, then the faults hit only
** the growable output buffer. */
TEST(kit_fault_json_encode_and_repr_into_growable_buffers)
{
    kt_env e = kt_open();
    void *v;
    CHECK_EQ_INT(rcgc_json_decode(e.kit, medium_json, sizeof medium_json - 1, NULL, &v, NULL),
                 RCGC_OK);
    size_t bytes0 = rcgc__mem_live_bytes(&e.heap->mem);
    int failures = 0;
    for (uint64_t n = 1; n < 1000; n++) {
        rcgc_kit_buf b, r;
        rcgc_kit_buf_init(&b, e.heap);
        rcgc_kit_buf_init(&r, e.heap);
        rcgc_json_options opt;
        rcgc_json_options_init(&opt);
        opt.indent = 4;
        rcgc_fault_set(e.heap, n, n);
        rcgc_status st = rcgc_json_encode(v, &b, &opt, NULL);
        rcgc_status st2 = rcgc_kit_repr(v, &r);
        uint64_t attempted = rcgc_fault_allocations(e.heap);
        rcgc_fault_clear(e.heap);
        CHECK(st == RCGC_OK || st == RCGC_ENOMEM);
        CHECK(st2 == RCGC_OK || st2 == RCGC_ENOMEM);
        failures += (st != RCGC_OK) + (st2 != RCGC_OK);
        rcgc_kit_buf_fini(&b);
        rcgc_kit_buf_fini(&r);
        CHECK_EQ_U64(rcgc__mem_live_bytes(&e.heap->mem), bytes0);
        CHECK_HEAP(e.heap);
        if (attempted < n || th_failures)
            break;
    }
    CHECK(failures >= 2);
    rcgc_unref(v);
    kt_close(&e);
}

/* The kit itself: a failed rcgc_kit_new returns NULL and leaves the heap
** sound (immortals made before the failure stay until the heap goes). */
TEST(kit_fault_kit_new)
{
    rcgc_heap *heap = th_heap_new();
    int failures = 0;
    for (uint64_t n = 1; n < 1000; n++) {
        rcgc_fault_set(heap, n, n);
        rcgc_kit *kit = rcgc_kit_new(heap, NULL);
        uint64_t attempted = rcgc_fault_allocations(heap);
        rcgc_fault_clear(heap);
        CHECK_HEAP(heap);
        CHECK_EQ_U64(rcgc_gc_generation_size(heap, -1), 0);
        if (!kit) {
            failures++;
            continue;
        }
        rcgc_kit_free(kit);
        if (attempted < n)
            break;
    }
    CHECK(failures >= 266); /* the kit, 3 singletons, 262 small ints, the callback */
    rcgc_heap_free(heap);
}
