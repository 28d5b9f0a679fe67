/*
** test_kit_util.h -- shared set-up for the object kit's tests (test_kit*.c,
** test_json*.c): a heap with a kit, and the end-of-test leak proof (nothing
** tracked, no live object but the kit's immortals, the heap checks clean).
** White-box: reads heap->live_objects (src/heap.h).
*/
#ifndef RCGC_TEST_KIT_UTIL_H
#define RCGC_TEST_KIT_UTIL_H

#include "harness.h"
#include "heap.h"
#include "rcgc_kit.h"

typedef struct kt_env {
    rcgc_heap *heap;
    rcgc_kit *kit;
} kt_env;

static inline kt_env kt_open(void)
{
    kt_env e;
    e.heap = th_heap_new();
    e.kit = rcgc_kit_new(e.heap, NULL);
    CHECK(e.kit != NULL);
    return e;
}

/* Objects alive beyond the kit's immortals. */
static inline size_t kt_live(const kt_env *e)
{
    return e->heap->live_objects - rcgc_kit_immortal_count(e->kit);
}

/* Collect, prove nothing leaked, free everything. */
static inline void kt_close(kt_env *e)
{
    rcgc_gc_collect(e->heap, 2);
    CHECK_EQ_U64(rcgc_gc_generation_size(e->heap, -1), 0);
    CHECK_EQ_U64(kt_live(e), 0);
    CHECK_HEAP(e->heap);
    rcgc_kit_free(e->kit);
    rcgc_heap_free(e->heap);
}

/* repr of obj in a static buffer (valid until the next call). */
static inline const char *kt_repr(const void *obj)
{
    static char mem[4096];
    rcgc_kit_buf b;
    rcgc_kit_buf_init_fixed(&b, mem, sizeof mem);
    rcgc_kit_repr(obj, &b);
    return mem;
}

#endif
