/*
** fuzz_json.c -- libFuzzer target for the kit's JSON decoder (and, on what
** it accepts, the encoder). The first byte picks options (indent, ascii,
** a small depth limit, an allocation failure at a position taken from the
** second byte); the rest is the text. Accepted documents must survive
** encode -> decode -> equal in compact and indented form; rejected ones must
** carry a "line L, column C: ..." message inside the text. After each input
** the heap checks clean and holds no object beyond the kit's immortals.
** The corpus in fuzz/corpus/json/ is replayed as an ordinary test.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "rcgc_kit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)                                                         \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "fuzz_json: %s:%d: %s\n", __FILE__, __LINE__,     \
                    #cond);                                                   \
            abort();                                                          \
        }                                                                     \
    } while (0)

static void quiet(void *ctx, const char *text)
{
    (void)ctx;
    (void)text;
}

/* One heap and kit for the whole run (a fresh heap per input is slow). */
static rcgc_heap *heap;
static rcgc_kit *kit;

static void setup(void)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.output = quiet;
    cfg.leak_report = false;
    heap = rcgc_heap_new(&cfg);
    REQUIRE(heap);
    kit = rcgc_kit_new(heap, NULL);
    REQUIRE(kit);
}

/* Encode v with opt, decode the text again, and require equality. */
static void roundtrip(void *v, const rcgc_json_options *opt)
{
    rcgc_kit_buf b;
    rcgc_kit_buf_init(&b, heap);
    rcgc_json_error err;
    rcgc_status st = rcgc_json_encode(v, &b, opt, &err);
    REQUIRE(st == RCGC_OK);
    void *w;
    rcgc_json_options big = *opt;
    big.max_depth = opt->max_depth + 1;
    st = rcgc_json_decode(kit, b.data, b.len, &big, &w, &err);
    if (st != RCGC_OK)
        fprintf(stderr, "fuzz_json: re-decode failed: %s\n%.*s\n", err.message, (int)b.len,
                b.data);
    REQUIRE(st == RCGC_OK);
    REQUIRE(rcgc_kit_equal(v, w) == 1);
    rcgc_unref(w);
    rcgc_kit_buf_fini(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!heap)
        setup();
    if (size < 2)
        return 0;
    uint8_t flags = data[0], fault_at = data[1];
    const char *text = (const char *)data + 2;
    size_t len = size - 2;
    rcgc_json_options opt;
    rcgc_json_options_init(&opt);
    opt.indent = flags & 3;
    opt.ascii = (flags & 4) != 0;
    if (flags & 8)
        opt.max_depth = 8;
    bool faults = (flags & 16) != 0;
    size_t live0 = heap->live_objects;

    if (faults)
        rcgc_fault_set(heap, (uint64_t)fault_at + 1, (uint64_t)fault_at + 1);
    void *v;
    rcgc_json_error err;
    rcgc_status st = rcgc_json_decode(kit, text, len, &opt, &v, &err);
    rcgc_fault_clear(heap);
    REQUIRE(rcgc_heap_check(heap) == RCGC_OK);
    if (st == RCGC_OK) {
        REQUIRE(v != NULL);
        roundtrip(v, &opt);
        rcgc_json_options compact;
        rcgc_json_options_init(&compact);
        compact.max_depth = opt.max_depth;
        roundtrip(v, &compact);
        rcgc_kit_buf r;
        rcgc_kit_buf_init(&r, heap);
        REQUIRE(rcgc_kit_repr(v, &r) == RCGC_OK);
        rcgc_kit_buf_fini(&r);
        rcgc_unref(v);
    } else {
        REQUIRE(v == NULL);
        REQUIRE(st == RCGC_EFORMAT || (faults && st == RCGC_ENOMEM));
        REQUIRE(err.line >= 1 && err.column >= 1 && err.offset <= len);
        char prefix[64];
        snprintf(prefix, sizeof prefix, "line %zu, column %zu: ", err.line, err.column);
        REQUIRE(strncmp(err.message, prefix, strlen(prefix)) == 0);
    }
    rcgc_gc_collect(heap, 2);
    REQUIRE(rcgc_heap_check(heap) == RCGC_OK);
    REQUIRE(rcgc_gc_generation_size(heap, -1) == 0);
    REQUIRE(heap->live_objects == live0);
    return 0;
}
