/*
** fuzz_alloc.c -- libFuzzer target for the allocator: the input bytes are a
** program of malloc / calloc / realloc / free / object alloc / object free /
** fault-injection steps over 64 slots. Every block's contents are checked
** byte for byte before it is touched, and the whole heap after every step.
** Byte 0 picks debug mode and the region size. Any failure aborts.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NSLOTS 64

struct slot {
    unsigned char *p;
    size_t n;
    unsigned char seed;
    bool object;
};

static void quiet(void *ctx, const char *text)
{
    (void)ctx;
    if (getenv("RCGC_FUZZ_VERBOSE"))
        fputs(text, stderr);
}

static void die(const char *what, int op, size_t at)
{
    fprintf(stderr, "fuzz_alloc: %s (op %d at input byte %zu)\n", what, op, at);
    abort();
}

static void fill(struct slot *s)
{
    for (size_t i = 0; i < s->n; i++)
        s->p[i] = (unsigned char)(s->seed + i * 7);
}

static bool intact(const struct slot *s, size_t upto)
{
    for (size_t i = 0; i < upto && i < s->n; i++)
        if (s->p[i] != (unsigned char)(s->seed + i * 7))
            return false;
    return true;
}

/* Sizes: mostly small, sometimes around the 512-byte edge, sometimes pages. */
static size_t decode_size(uint8_t a, uint8_t b)
{
    switch (a >> 6) {
    case 0: return b;                                 /* 0..255 */
    case 1: return 448 + (size_t)((a & 63) << 1) + (b & 1); /* around 512 */
    case 2: return (size_t)(a & 63) << 8 | b;         /* < 16 KiB */
    default: return ((size_t)(a & 63) << 12 | (size_t)b << 4) * 2; /* < 512 KiB */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = false;
    cfg.leak_report = false;
    cfg.output = quiet;
    cfg.mem_debug = (data[0] & 1) ? RCGC_MEM_DEBUG : 0;
    /* 16 MiB makes allocations hit the region end; 256 MiB keeps heap
    ** creation cheap under the fuzzer (a 64 GiB reservation costs ~1 ms). */
    cfg.region_bytes = (data[0] & 2) ? (size_t)16 << 20 : (size_t)256 << 20;
    rcgc_heap *h = rcgc_heap_new(&cfg);
    if (!h)
        die("heap_new failed", -1, 0);
    struct rcgc__mem *m = &h->mem;
    struct slot slots[NSLOTS];
    memset(slots, 0, sizeof slots);
    size_t i = 1;
    while (i + 4 <= size) {
        size_t at = i;
        uint8_t op = data[i] & 7, si = data[i + 1] % NSLOTS;
        size_t n = decode_size(data[i + 2], data[i + 3]);
        i += 4;
        struct slot *s = &slots[si];
        if (s->p && !intact(s, s->n))
            die("block contents changed", op, at);
        switch (op) {
        case 0: /* malloc */
        case 1: /* calloc */
            if (s->p)
                break;
            s->p = op ? rcgc_calloc(h, 1, n) : rcgc_malloc(h, n);
            if (!s->p)
                break;
            if (op)
                for (size_t k = 0; k < n; k++)
                    if (s->p[k])
                        die("calloc memory not zero", op, at);
            if (rcgc_usable_size(h, s->p) < n || !rcgc_owns(h, s->p))
                die("usable size or ownership wrong", op, at);
            s->n = n;
            s->seed = data[at + 3];
            s->object = false;
            fill(s);
            break;
        case 2: { /* realloc */
            if (s->object)
                break;
            unsigned char *q = rcgc_realloc(h, s->p, n);
            if (!q) {
                if (s->p && !intact(s, s->n))
                    die("failed realloc damaged the block", op, at);
                break;
            }
            size_t keep = s->n < n ? s->n : n;
            s->p = q;
            if (!intact(s, keep))
                die("realloc lost contents", op, at);
            s->n = n;
            fill(s);
            break;
        }
        case 3: /* free */
            if (!s->p)
                break;
            if (s->object)
                rcgc__mem_obj_free(m, s->p);
            else
                rcgc_free(h, s->p);
            s->p = NULL;
            s->n = 0;
            s->object = false;
            break;
        case 4: /* object block */
            if (s->p)
                break;
            s->p = rcgc__mem_obj_alloc(m, n);
            if (!s->p)
                break;
            for (size_t k = 0; k < n; k++)
                if (s->p[k])
                    die("object block not zero", op, at);
            if (!rcgc__mem_is_obj_block(m, s->p) || rcgc__mem_obj_size(m, s->p) < n ||
                rcgc__mem_heap_of(s->p) != h)
                die("object block bookkeeping wrong", op, at);
            s->n = n;
            s->seed = data[at + 2];
            s->object = true;
            fill(s);
            break;
        case 5: /* fail the next k allocations */
            rcgc_fault_set(h, 1, (uint64_t)(data[at + 2] & 3) + 1);
            break;
        case 6:
            rcgc_fault_clear(h);
            break;
        default: { /* statistics must agree with the counters */
            rcgc_mem_stats st;
            st.struct_size = sizeof st;
            rcgc_mem_stats_get(h, &st);
            if (st.live_bytes != st.small_bytes + st.object_run_bytes + st.large_bytes)
                die("statistics do not add up", op, at);
            break;
        }
        }
        if (rcgc_heap_check(h) != RCGC_OK)
            die("heap check failed", op, at);
    }
    for (int k = 0; k < NSLOTS; k += 2) /* free half; the heap frees the rest */
        if (slots[k].p) {
            if (slots[k].object)
                rcgc__mem_obj_free(m, slots[k].p);
            else
                rcgc_free(h, slots[k].p);
        }
    for (int k = 1; k < NSLOTS; k += 2)
        if (slots[k].p && slots[k].object)
            rcgc__mem_obj_free(m, slots[k].p);
    if (rcgc_heap_check(h) != RCGC_OK)
        die("heap check failed at the end", -1, size);
    rcgc_heap_free(h);
    return 0;
}
