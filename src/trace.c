/*
** trace.c -- the allocation tracer (tracemalloc for rcgc heaps): its state
** on heap->trace, the traces table keyed by (domain, address), interned
** tracebacks and strings, host frames, tags, sampling and the counters.
** Snapshots are snapshot.c's, the file format snapfile.c's, native stacks
** unwind.c's. Lower layers reach us only through the hooks of trace.h.
*/
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

/* Initial sizes (slots). Both tables double when 3/4 full. */
#define TRACES_INITIAL 1024
#define TBS_INITIAL 256
#define STRINGS_INITIAL 64
/* Arena chunk payload: 16 KiB holds ~500 one-frame tracebacks. */
#define CHUNK_BYTES 16384
/* Tags are 16-bit ids; the last id stands for "too many tags". */
#define TAG_MAX 65535u
#define DOMAIN_MAX 65535u

static const char UNKNOWN[] = "<unknown>";

/* ===================================================================== */
/* Tracer memory: raw blocks of the heap, never traced, always counted   */
/* ===================================================================== */

void *rcgc__trace_alloc(rcgc_heap *heap, size_t bytes)
{
    rcgc__trace *t = heap->trace;
    bool was = t ? t->busy : false;
    if (t)
        t->busy = true;
    void *p = (rcgc_malloc)(heap, bytes);
    if (t) {
        t->busy = was;
        if (p)
            t->self_bytes += bytes;
    }
    return p;
}

void *rcgc__trace_calloc(rcgc_heap *heap, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = rcgc__trace_alloc(heap, n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void rcgc__trace_free(rcgc_heap *heap, void *p, size_t bytes)
{
    if (!p)
        return;
    rcgc__trace *t = heap->trace;
    bool was = t ? t->busy : false;
    if (t)
        t->busy = true;
    rcgc_free(heap, p);
    if (t) {
        t->busy = was;
        t->self_bytes -= bytes;
    }
}

/* Bump allocation from arena chunks (tracebacks, strings); freed all at
** once by clear/stop. */
static void *arena_alloc(rcgc_heap *heap, size_t bytes)
{
    rcgc__trace *t = heap->trace;
    bytes = (bytes + 15) & ~(size_t)15;
    rcgc__chunk *c = t->chunks;
    if (!c || c->cap - c->used < bytes) {
        size_t cap = bytes > CHUNK_BYTES ? bytes : CHUNK_BYTES;
        c = rcgc__trace_alloc(heap, sizeof(rcgc__chunk) + cap);
        if (!c)
            return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = t->chunks;
        t->chunks = c;
    }
    void *p = c->data + c->used;
    c->used += bytes;
    return p;
}

static void arena_free_all(rcgc_heap *heap)
{
    rcgc__trace *t = heap->trace;
    while (t->chunks) {
        rcgc__chunk *c = t->chunks;
        t->chunks = c->next;
        rcgc__trace_free(heap, c, sizeof(rcgc__chunk) + c->cap);
    }
}

/* ===================================================================== */
/* Hashing                                                               */
/* ===================================================================== */

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static uint32_t str_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* Tracebacks hash on the frames' string *pointers*: a string has one
** address for the tracer's lifetime (literals or interned copies). */
uint32_t rcgc__tb_hash(const rcgc__frame *f, uint32_t n, uint32_t total)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n ^ ((uint64_t)total << 32);
    for (uint32_t i = 0; i < n; i++) {
        /* A native frame is its address (its strings come later, lazily). */
        if (f[i].pc) {
            h = mix64(h ^ (uint64_t)f[i].pc);
            continue;
        }
        h = mix64(h ^ (uint64_t)(uintptr_t)f[i].file);
        h = mix64(h ^ (uint64_t)(uintptr_t)f[i].func ^ ((uint64_t)f[i].line << 40));
    }
    return (uint32_t)h;
}

bool rcgc__tb_same(const struct rcgc_traceback *tb, const rcgc__frame *f, uint32_t n,
                   uint32_t total)
{
    if (tb->nframe != n || tb->total_nframe != total)
        return false;
    for (uint32_t i = 0; i < n; i++) {
        const rcgc__frame *a = &tb->frames[i];
        if (a->pc != f[i].pc)
            return false;
        if (!a->pc && (a->file != f[i].file || a->func != f[i].func || a->line != f[i].line))
            return false;
    }
    return true;
}

/* ===================================================================== */
/* Interned strings                                                      */
/* ===================================================================== */

const char *rcgc__trace_intern(rcgc_heap *heap, const char *s)
{
    rcgc__trace *t = heap->trace;
    rcgc__strpool *sp = &t->strings;
    if ((sp->count + 1) * 4 > sp->cap * 3) {
        size_t cap = sp->cap ? sp->cap * 2 : STRINGS_INITIAL;
        const char **slots = rcgc__trace_calloc(heap, cap, sizeof *slots);
        if (!slots)
            return NULL;
        for (size_t i = 0; i < sp->cap; i++) {
            if (!sp->slots[i])
                continue;
            size_t j = str_hash(sp->slots[i]) & (cap - 1);
            while (slots[j])
                j = (j + 1) & (cap - 1);
            slots[j] = sp->slots[i];
        }
        rcgc__trace_free(heap, sp->slots, sp->cap * sizeof *slots);
        sp->slots = slots;
        sp->cap = cap;
    }
    size_t j = str_hash(s) & (sp->cap - 1);
    for (; sp->slots[j]; j = (j + 1) & (sp->cap - 1))
        if (strcmp(sp->slots[j], s) == 0)
            return sp->slots[j];
    size_t len = strlen(s);
    char *copy = arena_alloc(heap, len + 1);
    if (!copy)
        return NULL;
    memcpy(copy, s, len + 1);
    sp->slots[j] = copy;
    sp->count++;
    return copy;
}

/* ===================================================================== */
/* Interned tracebacks                                                   */
/* ===================================================================== */

static bool tbs_grow(rcgc_heap *heap)
{
    rcgc__trace *t = heap->trace;
    size_t cap = t->tbcap ? t->tbcap * 2 : TBS_INITIAL;
    struct rcgc_traceback **tbs = rcgc__trace_calloc(heap, cap, sizeof *tbs);
    if (!tbs)
        return false;
    for (size_t i = 0; i < t->tbcap; i++) {
        struct rcgc_traceback *tb = t->tbs[i];
        while (tb) {
            struct rcgc_traceback *next = tb->next;
            size_t j = tb->hash & (cap - 1);
            tb->next = tbs[j];
            tbs[j] = tb;
            tb = next;
        }
    }
    rcgc__trace_free(heap, t->tbs, t->tbcap * sizeof *tbs);
    t->tbs = tbs;
    t->tbcap = cap;
    return true;
}

static const struct rcgc_traceback *tb_intern(rcgc_heap *heap, const rcgc__frame *f,
                                              uint32_t n, uint32_t total)
{
    rcgc__trace *t = heap->trace;
    uint32_t h = rcgc__tb_hash(f, n, total);
    if (t->tbcap) {
        for (struct rcgc_traceback *tb = t->tbs[h & (t->tbcap - 1)]; tb; tb = tb->next)
            if (tb->hash == h && rcgc__tb_same(tb, f, n, total))
                return tb;
    }
    if ((t->tbcount + 1) * 4 > t->tbcap * 3 && !tbs_grow(heap))
        return NULL;
    struct rcgc_traceback *tb =
        arena_alloc(heap, sizeof *tb + (size_t)n * sizeof(rcgc__frame));
    if (!tb)
        return NULL;
    tb->hash = h;
    tb->nframe = n;
    tb->total_nframe = total;
    tb->id = 0;
    memcpy(tb->frames, f, (size_t)n * sizeof *f);
    size_t j = h & (t->tbcap - 1);
    tb->next = t->tbs[j];
    t->tbs[j] = tb;
    t->tbcount++;
    return tb;
}

/* ===================================================================== */
/* The traces table                                                      */
/* ===================================================================== */

/* Multiplicative hashing of addresses; the slot is bits 32 and up of the
** product. An odd constant below 2^31 (2^32 / golden ratio, rounded to
** odd) is an immediate operand on x86-64: no 64-bit constant to load. */
#define SLOT_HASH 0x61C88647ull

static inline size_t slot_home(const rcgc__trace *t, uint32_t domain, uintptr_t ptr)
{
    uint64_t h = ((uint64_t)ptr ^ ((uint64_t)domain << 48)) * SLOT_HASH;
    return (size_t)(h >> 32) & t->mask;
}

/* The fast paths address a heap-domain trace's home slot (slot_home's) by
** byte offset: with 32-byte entries (64-bit targets) the hash yields the
** offset with one shift fewer. */
static inline size_t home_offset(const rcgc__trace *t, uintptr_t ptr)
{
    uint64_t h = (uint64_t)ptr * SLOT_HASH;
    if (sizeof(rcgc__tentry) == 32)
        return (size_t)(h >> 27) & t->mask_bytes;
    return ((size_t)(h >> 32) & t->mask) * sizeof(rcgc__tentry);
}

static inline size_t next_offset(const rcgc__trace *t, size_t off)
{
    if (sizeof(rcgc__tentry) == 32)
        return (off + 32) & t->mask_bytes;
    return ((off / sizeof(rcgc__tentry) + 1) & t->mask) * sizeof(rcgc__tentry);
}

static inline rcgc__tentry *slot_at(const rcgc__trace *t, size_t off)
{
    return (rcgc__tentry *)(void *)((char *)t->traces + off);
}

static inline rcgc__tentry *trace_find(const rcgc__trace *t, uint32_t domain, uintptr_t ptr)
{
    for (size_t i = slot_home(t, domain, ptr);; i = (i + 1) & t->mask) {
        rcgc__tentry *e = &t->traces[i];
        if (!e->tb)
            return NULL;
        if (e->ptr == ptr && e->domain == domain)
            return e;
    }
}

static inline void trace_delete(rcgc__trace *t, rcgc__tentry *e)
{
    size_t mask = t->mask;
    size_t i = (size_t)(e - t->traces), j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!t->traces[j].tb)
            break;
        size_t k = slot_home(t, t->traces[j].domain, t->traces[j].ptr);
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            t->traces[i] = t->traces[j];
            i = j;
        }
    }
    t->traces[i] = (rcgc__tentry){0}; /* weight 0: no fast-path free matches it */
    t->count--;
}

/* The traces table's memory (the empty table 'nil' is the tracer's). */
static void traces_free(rcgc_heap *heap, rcgc__tentry *v, size_t cap)
{
    const rcgc__trace *t = heap->trace;
    if (v != &t->nil)
        rcgc__trace_free(heap, v, cap * sizeof *v);
}

/* The empty table: one slot, no room (the first trace grows it). */
static void traces_reset(rcgc__trace *t)
{
    t->traces = &t->nil;
    t->cap = 1;
    t->mask = t->mask_bytes = t->count = t->grow_at = 0;
}

static bool traces_grow(rcgc_heap *heap)
{
    rcgc__trace *t = heap->trace;
    size_t cap = t->grow_at ? t->cap * 2 : TRACES_INITIAL;
    rcgc__tentry *nt = rcgc__trace_calloc(heap, cap, sizeof *nt);
    if (!nt)
        return false;
    rcgc__tentry *old = t->traces;
    size_t oldcap = t->cap;
    t->traces = nt;
    t->cap = cap;
    t->mask = cap - 1;
    t->mask_bytes = t->mask * sizeof *nt;
    t->grow_at = cap / 4 * 3;
    for (size_t i = 0; i < oldcap; i++) {
        if (!old[i].tb)
            continue;
        size_t j = slot_home(t, old[i].domain, old[i].ptr);
        while (nt[j].tb)
            j = (j + 1) & (cap - 1);
        nt[j] = old[i];
    }
    traces_free(heap, old, oldcap);
    return true;
}

/* Room for one more trace (the table stays at most 3/4 full). */
static inline bool traces_reserve(rcgc_heap *heap)
{
    const rcgc__trace *t = heap->trace;
    return t->count < t->grow_at || traces_grow(heap);
}

/* The meta word of an exact heap trace under tag 'tag'. */
static uint64_t exact_meta(uint32_t tag)
{
    rcgc__tentry e = {0, NULL, 0, {{RCGC_TRACE_DOMAIN_HEAP, (uint16_t)tag, 1.0f}}};
    return e.meta;
}

static void set_tag(rcgc__trace *t, uint32_t tag)
{
    t->tag = (uint16_t)tag;
    t->meta = exact_meta(tag);
}

/* Weight 1 (compared as bits: cheaper than a float compare). */
static inline bool exact(const rcgc__tentry *e)
{
    float one = 1.0f;
    uint32_t a, b;
    memcpy(&a, &e->weight, sizeof a);
    memcpy(&b, &one, sizeof b);
    return a == b;
}

static inline double weighted(const rcgc__tentry *e)
{
    return (double)e->size * (double)e->weight;
}

static inline void account_add(rcgc__trace *t, const rcgc__tentry *e)
{
    if (exact(e))
        t->current += e->size;
    else
        t->current += (size_t)llround(weighted(e));
    if (t->current > t->peak)
        t->peak = t->current;
}

static inline void account_remove(rcgc__trace *t, const rcgc__tentry *e)
{
    size_t w = exact(e) ? e->size : (size_t)llround(weighted(e));
    t->current = w <= t->current ? t->current - w : 0;
}

/* Insert or replace the trace of (domain, ptr). false: out of memory. */
static RCGC__ALWAYS_INLINE bool trace_put(rcgc_heap *heap, uint32_t domain, uintptr_t ptr,
                                          size_t size, const struct rcgc_traceback *tb,
                                          float weight)
{
    rcgc__trace *t = heap->trace;
    /* One probe finds the key or the free slot that ends its cluster; the
    ** table is grown first so the slot stays valid. */
    if (!traces_reserve(heap))
        return false;
    rcgc__tentry *e;
    for (size_t i = slot_home(t, domain, ptr);; i = (i + 1) & t->mask) {
        e = &t->traces[i];
        if (!e->tb) {
            e->ptr = ptr;
            e->domain = (uint16_t)domain;
            t->count++;
            break;
        }
        if (e->ptr == ptr && e->domain == domain) {
            account_remove(t, e);
            break;
        }
    }
    e->tb = tb;
    e->size = size;
    e->weight = weight;
    e->tag = t->tag;
    account_add(t, e);
    return true;
}

/* ===================================================================== */
/* Capturing a traceback                                                 */
/* ===================================================================== */

/* The call site's one frame (the site must have a file). */
static inline rcgc__frame site_frame(const rcgc__site *site)
{
    return (rcgc__frame){site->file, site->func ? site->func : UNKNOWN, 0,
                         (uint32_t)(site->line > 0 ? site->line : 0), 0};
}

/* The site cache's slot for a call site: (file / 16 + line) modulo the
** cache size, so a file's lines take consecutive slots. Computed as a byte
** offset (file * E/16 + line * E, E the entry size, 32 on 64-bit targets:
** the low bits of file * 2 never carry into the slot's bits). */
static inline struct rcgc__sitecache *site_slot(rcgc__trace *t, const rcgc__site *site)
{
    enum { E = sizeof t->sitecache[0] };
    size_t off;
    if (E == 32)
        off = ((uintptr_t)site->file * 2 + (size_t)(uint32_t)site->line * E) &
              ((RCGC__SITECACHE - 1) * E);
    else
        off = ((((uintptr_t)site->file >> 4) + (uint32_t)site->line) & (RCGC__SITECACHE - 1)) * E;
    return (struct rcgc__sitecache *)(void *)((char *)t->sitecache + off);
}

/* A cache entry's key: line and total depth in one word (total 1, the
** common case, is the line alone). */
static inline uint64_t site_key(const rcgc__site *site, uint32_t total)
{
    return (uint32_t)site->line | (uint64_t)(total - 1) << 32;
}

static inline bool site_hit(const struct rcgc__sitecache *c, const rcgc__site *site,
                            uint32_t total)
{
    return c->file == site->file && c->key == site_key(site, total) && c->func == site->func;
}

/* An empty entry's key matches no site (a total of 2^32 frames), so a
** site without a file (all zero) never hits an empty entry either. */
#define SITE_EMPTY UINT64_MAX

static void sitecache_reset(rcgc__trace *t)
{
    for (size_t k = 0; k < RCGC__SITECACHE; k++)
        t->sitecache[k] = (struct rcgc__sitecache){NULL, NULL, SITE_EMPTY, NULL};
}

/* The call site's one frame, interned, into its site-cache slot c. */
static const struct rcgc_traceback *capture_site(rcgc_heap *heap, struct rcgc__sitecache *c,
                                                 uint32_t total)
{
    rcgc__trace *t = heap->trace;
    rcgc__frame f = site_frame(t->site);
    const struct rcgc_traceback *tb = tb_intern(heap, &f, 1, total);
    if (tb)
        *c = (struct rcgc__sitecache){t->site->file, t->site->func, site_key(t->site, total), tb};
    return tb;
}

static const struct rcgc_traceback *capture_frames(rcgc_heap *heap);

/* Frames, most recent first: the call site, then native frames (native
** mode), then host frames innermost first. Truncated to max_frames;
** total_nframe counts them all. NULL: out of memory. */
static inline const struct rcgc_traceback *capture(rcgc_heap *heap)
{
    rcgc__trace *t = heap->trace;
    /* One frame from a call site (the 1-frame mode): the site cache. */
    if (t->site->file && (t->max_frames == 1 || (!t->native && !t->nhframes))) {
        uint32_t total = 1 + (uint32_t)t->nhframes;
        struct rcgc__sitecache *c = site_slot(t, t->site);
        if (site_hit(c, t->site, total))
            return c->tb;
        return capture_site(heap, c, total);
    }
    return capture_frames(heap);
}

/* Every other mode: call site, native frames, host frames. */
static const struct rcgc_traceback *capture_frames(rcgc_heap *heap)
{
    rcgc__trace *t = heap->trace;
    rcgc__frame *f = t->scratch;
    unsigned n = 0, total = 0, max = t->max_frames;
    if (t->site->file && !t->native) {
        f[n++] = site_frame(t->site);
        total++;
    }
    if (t->native && t->unwind) {
        uintptr_t pcs[256];
        unsigned want = max - n < 256 ? max - n : 256, ntot = 0;
        unsigned got = rcgc__unwind_capture(t->unwind, t->site->ra, pcs, want, &ntot);
        for (unsigned i = 0; i < got; i++)
            f[n++] = (rcgc__frame){NULL, NULL, pcs[i], 0, 0};
        total += ntot;
    }
    for (size_t i = t->nhframes; i-- > 0;) {
        if (n < max) {
            const rcgc__hframe *h = &t->hframes[i];
            f[n++] = (rcgc__frame){h->file, h->func, 0, h->line, 0};
        }
        total++;
    }
    if (n == 0)
        return t->unknown_tb;
    return tb_intern(heap, f, n, total);
}

/* ===================================================================== */
/* Sampling                                                              */
/* ===================================================================== */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* An exponentially distributed interval with mean 'mean' bytes. */
static int64_t next_interval(rcgc__trace *t)
{
    double u = ((double)(rng_next(&t->rng) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    double x = -log(u) * (double)t->sample_mean;
    if (x > 9e18)
        x = 9e18;
    return (int64_t)x + 1;
}

/* Decide whether an allocation of 'size' bytes is sampled; returns its
** weight (1/p), or 0 when it is not sampled. With exponential intervals the
** probability that a block of s bytes contains a sample point is
** p = 1 - exp(-s/mean), so s/p and 1/p are unbiased estimates. */
static inline float sample_weight(rcgc__trace *t, size_t size)
{
    if (!t->sample_mean)
        return 1.0f;
    t->sample_left = rcgc__trace_sample_left(t, size);
    if (t->sample_left > 0)
        return 0.0f;
    t->sample_left = next_interval(t);
    double p = -expm1(-(double)(size ? size : 1) / (double)t->sample_mean);
    return (float)(1.0 / p);
}

/* ===================================================================== */
/* Traces kept after free (debug mode)                                   */
/* ===================================================================== */

static inline rcgc__freed *freed_slot(const rcgc__trace *t, uintptr_t ptr)
{
    uint64_t h = (uint64_t)ptr * 0x9E3779B97F4A7C15ull;
    return &t->freed[(size_t)(h >> 40) & (RCGC__FREED_TRACES - 1)];
}

/* ===================================================================== */
/* Hooks                                                                 */
/* ===================================================================== */

#if defined(__GNUC__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

/* Every case of an allocation (the fast path below handles the common one). */
static NOINLINE int on_alloc_slow(rcgc_heap *heap, const void *ptr, size_t size)
{
    rcgc__trace *t = heap->trace;
    if (t->busy)
        return 0;
    if (t->freed) { /* the address is reused: its freed block's trace goes */
        rcgc__freed *k = freed_slot(t, (uintptr_t)ptr);
        if (k->ptr == (uintptr_t)ptr)
            *k = (rcgc__freed){0, NULL};
    }
    float w = sample_weight(t, size);
    if (w == 0.0f)
        return 0;
    /* No busy flag here: the tracer's own allocations (interning, table
    ** growth) go through rcgc__trace_alloc, which sets it. */
    const struct rcgc_traceback *tb = capture(heap);
    bool ok = tb && trace_put(heap, RCGC_TRACE_DOMAIN_HEAP, (uintptr_t)ptr, size, tb, w);
    return ok ? 1 : -1;
}

/*
** The exact 1-frame mode's fast path (tracemalloc.start(1)): not busy, not
** sampled, no debug mode, one frame from a call site that is in the site
** cache, the table has room and the block's home slot is free. Everything
** else (and the first allocation at a site) goes to on_alloc_slow, which
** does the same work in general; no register spills on the way.
*/
int rcgc__trace_on_alloc(rcgc_heap *heap, const void *ptr, size_t size)
{
    rcgc__trace *t = heap->trace;
    size_t count = t->count;
    if (RCGC__LIKELY(!t->slow_alloc && count < t->grow_at)) {
        /* No test of site.file: a site without one hits no cache entry. */
        const struct rcgc__sitecache *c = site_slot(t, t->site);
        if (RCGC__LIKELY(site_hit(c, t->site, 1))) {
            rcgc__tentry *e = slot_at(t, home_offset(t, (uintptr_t)ptr));
            if (RCGC__LIKELY(!e->tb)) {
                e->ptr = (uintptr_t)ptr;
                e->tb = c->tb;
                e->size = size;
                e->meta = t->meta;
                t->count = count + 1;
                size_t cur = t->current + size;
                t->current = cur;
                if (cur > t->peak)
                    t->peak = cur;
                return 1;
            }
        }
    }
    return on_alloc_slow(heap, ptr, size);
}

static NOINLINE void on_free_slow(rcgc_heap *heap, const void *ptr)
{
    rcgc__trace *t = heap->trace;
    if (t->busy)
        return;
    rcgc__tentry *e = trace_find(t, RCGC_TRACE_DOMAIN_HEAP, (uintptr_t)ptr);
    if (e) {
        if (t->freed)
            *freed_slot(t, e->ptr) = (rcgc__freed){e->ptr, e->tb};
        account_remove(t, e);
        trace_delete(t, e);
    }
}

/* The fast paths (not busy, no debug mode): an exact trace in its home
** slot with nothing after it to shift back is removed in place; an empty
** home slot means no trace (a raw block that was not sampled). */
void rcgc__trace_on_free(rcgc_heap *heap, const void *ptr)
{
    rcgc__trace *t = heap->trace;
    if (RCGC__LIKELY(!t->slow_free)) {
        size_t off = home_offset(t, (uintptr_t)ptr);
        rcgc__tentry *e = slot_at(t, off);
        if (RCGC__LIKELY(e->ptr == (uintptr_t)ptr)) {
            if (RCGC__LIKELY(e->domain == RCGC_TRACE_DOMAIN_HEAP && exact(e) &&
                             !slot_at(t, next_offset(t, off))->tb)) {
                t->current -= e->size;
                *e = (rcgc__tentry){0};
                t->count--;
                return;
            }
        } else if (!e->tb) {
            return;
        }
    }
    on_free_slow(heap, ptr);
}

void rcgc__trace_on_realloc(rcgc_heap *heap, const void *oldp, const void *newp, size_t size)
{
    rcgc__trace *t = heap->trace;
    if (t->busy)
        return;
    rcgc__trace_on_free(heap, oldp);
    if (rcgc__trace_on_alloc(heap, newp, size) < 0)
        t->lost++;
}

/* ===================================================================== */
/* Lifecycle                                                             */
/* ===================================================================== */

void rcgc_trace_options_init(rcgc_trace_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->struct_size = sizeof *opt;
    opt->max_frames = 1;
    opt->native = false;
    opt->sample_mean_bytes = 0;
    opt->sample_seed = 0x5EED;
}

/* More frames than the call site's: host frames, or a deep native stack. */
static bool more_frames(const rcgc__trace *t)
{
    return t->nhframes || (t->max_frames > 1 && t->native);
}

/* The summary bytes the fast paths test (all but 'busy'). */
static void update_mode(rcgc__trace *t)
{
    t->keep_freed = t->freed != NULL;
    t->sampled = t->sample_mean != 0;
    t->frames = more_frames(t);
}

static bool set_frames(rcgc_heap *heap, unsigned max_frames)
{
    rcgc__trace *t = heap->trace;
    rcgc__frame *s = rcgc__trace_alloc(heap, ((size_t)max_frames + 1) * sizeof *s);
    if (!s)
        return false;
    if (t->scratch)
        rcgc__trace_free(heap, t->scratch, ((size_t)t->max_frames + 1) * sizeof *s);
    t->scratch = s;
    t->max_frames = max_frames;
    sitecache_reset(t);
    update_mode(t);
    return true;
}

/* Drop traces, tracebacks and strings; keep tables' capacity minimal. */
static void drop_all(rcgc_heap *heap)
{
    rcgc__trace *t = heap->trace;
    traces_free(heap, t->traces, t->cap);
    traces_reset(t);
    t->current = t->peak = 0;
    rcgc__trace_free(heap, t->tbs, t->tbcap * sizeof *t->tbs);
    t->tbs = NULL;
    t->tbcap = t->tbcount = 0;
    sitecache_reset(t);
    t->unknown_tb = NULL;
    if (t->freed)
        memset(t->freed, 0, RCGC__FREED_TRACES * sizeof *t->freed);
}

static void tracer_free(rcgc_heap *heap)
{
    rcgc__trace *t = heap->trace;
    if (!t)
        return;
    t->busy = true;
    if (t->unwind)
        rcgc__unwind_free(heap, t->unwind);
    drop_all(heap);
    rcgc__trace_free(heap, t->strings.slots, t->strings.cap * sizeof(char *));
    rcgc__trace_free(heap, t->hframes, t->caphframes * sizeof *t->hframes);
    rcgc__trace_free(heap, t->tagnames, t->captagnames * sizeof *t->tagnames);
    rcgc__trace_free(heap, t->tagstack, t->captags * sizeof *t->tagstack);
    if (t->scratch)
        rcgc__trace_free(heap, t->scratch, ((size_t)t->max_frames + 1) * sizeof(rcgc__frame));
    rcgc__trace_free(heap, t->freed, RCGC__FREED_TRACES * sizeof *t->freed);
    arena_free_all(heap);
    heap->trace = NULL;
    rcgc_free(heap, t);
}

/* The "<unknown>" traceback, used when no frame is known. */
static bool make_unknown(rcgc_heap *heap)
{
    rcgc__trace *t = heap->trace;
    rcgc__frame f = {UNKNOWN, UNKNOWN, 0, 0, 0};
    t->unknown_tb = tb_intern(heap, &f, 1, 1);
    return t->unknown_tb != NULL;
}

rcgc_status rcgc_trace_start_ex(rcgc_heap *heap, const rcgc_trace_options *opt)
{
    rcgc_trace_options o;
    rcgc_trace_options_init(&o);
    if (opt) {
        size_t n = opt->struct_size && opt->struct_size < sizeof o ? opt->struct_size : sizeof o;
        memcpy(&o, opt, n);
        o.struct_size = sizeof o;
    }
    if (o.max_frames < 1 || o.max_frames > RCGC_TRACE_MAX_FRAMES) {
        rcgc_heap_printf(heap, "rcgc_trace_start: the number of frames must be in range "
                               "[1; %u]\n", RCGC_TRACE_MAX_FRAMES);
        return RCGC_EINVAL;
    }
    rcgc__trace *t = heap->trace;
    bool fresh = false;
    if (!t) {
        t = (rcgc_malloc)(heap, sizeof *t);
        if (!t)
            return RCGC_ENOMEM;
        memset(t, 0, sizeof *t);
        t->site = &t->nosite;
        traces_reset(t);
        sitecache_reset(t);
        set_tag(t, 0);
        heap->trace = t;
        t->self_bytes = sizeof *t;
        t->busy = true;
        fresh = true;
        if (!make_unknown(heap)) {
            tracer_free(heap);
            return RCGC_ENOMEM;
        }
        if (heap->mem.debug) { /* reports on freed blocks name their site */
            t->freed = rcgc__trace_calloc(heap, RCGC__FREED_TRACES, sizeof *t->freed);
            if (!t->freed) {
                tracer_free(heap);
                return RCGC_ENOMEM;
            }
        }
    }
    t->busy = true;
    if (o.max_frames != t->max_frames && !set_frames(heap, o.max_frames)) {
        if (fresh)
            tracer_free(heap);
        else
            t->busy = false;
        return RCGC_ENOMEM;
    }
    if (o.native && !t->unwind) {
        t->unwind = rcgc__unwind_new(heap);
        if (!t->unwind) {
            if (fresh)
                tracer_free(heap);
            else
                t->busy = false;
            return RCGC_ENOMEM;
        }
    }
    t->native = o.native;
    sitecache_reset(t);
    if (fresh || o.sample_mean_bytes != t->sample_mean) {
        t->sample_mean = o.sample_mean_bytes;
        t->rng = o.sample_seed;
        t->sample_left = t->sample_mean ? next_interval(t) : 0;
    }
    update_mode(t);
    t->busy = false;
    return RCGC_OK;
}

rcgc_status rcgc_trace_start(rcgc_heap *heap, unsigned max_frames)
{
    rcgc_trace_options o;
    rcgc_trace_options_init(&o);
    o.max_frames = max_frames;
    rcgc__trace *t = heap->trace;
    if (t) { /* keep the current mode, change the limit */
        o.native = t->native;
        o.sample_mean_bytes = t->sample_mean;
    }
    return rcgc_trace_start_ex(heap, &o);
}

void rcgc_trace_stop(rcgc_heap *heap)
{
    tracer_free(heap);
}

bool rcgc_trace_is_tracing(const rcgc_heap *heap)
{
    return heap->trace != NULL;
}

unsigned rcgc_trace_get_traceback_limit(const rcgc_heap *heap)
{
    const rcgc__trace *t = heap->trace;
    return t ? t->max_frames : 1;
}

rcgc_status rcgc_trace_set_sampling(rcgc_heap *heap, uint64_t mean_bytes)
{
    rcgc__trace *t = heap->trace;
    if (!t)
        return RCGC_ESTATE;
    t->sample_mean = mean_bytes;
    t->sample_left = mean_bytes ? next_interval(t) : 0;
    update_mode(t);
    return RCGC_OK;
}

void rcgc_trace_get_traced_memory(const rcgc_heap *heap, size_t *current, size_t *peak)
{
    const rcgc__trace *t = heap->trace;
    if (current)
        *current = t ? t->current : 0;
    if (peak)
        *peak = t ? t->peak : 0;
}

void rcgc_trace_reset_peak(rcgc_heap *heap)
{
    rcgc__trace *t = heap->trace;
    if (t)
        t->peak = t->current;
}

void rcgc_trace_clear_traces(rcgc_heap *heap)
{
    rcgc__trace *t = heap->trace;
    if (!t)
        return;
    t->busy = true;
    drop_all(heap);
    /* Strings of host frames and tags still on their stacks stay valid:
    ** the arena keeps them; only tracebacks would be garbage, and they are
    ** small. Rebuild the unknown traceback. */
    (void)make_unknown(heap);
    t->busy = false;
}

size_t rcgc_trace_get_tracer_memory(const rcgc_heap *heap)
{
    const rcgc__trace *t = heap->trace;
    return t ? t->self_bytes : 0;
}

uint64_t rcgc_trace_lost_count(const rcgc_heap *heap)
{
    const rcgc__trace *t = heap->trace;
    return t ? t->lost : 0;
}

/* ===================================================================== */
/* Foreign blocks and lookups                                            */
/* ===================================================================== */

rcgc_status rcgc_trace_track(rcgc_heap *heap, unsigned domain, uintptr_t ptr, size_t size)
{
    rcgc__trace *t = heap->trace;
    if (!t)
        return RCGC_ESTATE;
    if (domain > DOMAIN_MAX)
        return RCGC_EINVAL;
    t->busy = true;
    const struct rcgc_traceback *tb = capture(heap);
    bool ok = tb && trace_put(heap, domain, ptr, size, tb, 1.0f);
    t->busy = false;
    return ok ? RCGC_OK : RCGC_ENOMEM;
}

rcgc_status rcgc_trace_untrack(rcgc_heap *heap, unsigned domain, uintptr_t ptr)
{
    rcgc__trace *t = heap->trace;
    if (!t)
        return RCGC_ESTATE;
    if (domain > DOMAIN_MAX)
        return RCGC_EINVAL;
    rcgc__tentry *e = trace_find(t, domain, ptr);
    if (e) {
        account_remove(t, e);
        trace_delete(t, e);
    }
    return RCGC_OK;
}

/* Symbolise the native frames of an interned traceback in place. */
static void resolve_tb(rcgc_heap *heap, struct rcgc_traceback *tb)
{
    rcgc__trace *t = heap->trace;
    for (uint32_t i = 0; i < tb->nframe; i++)
        if (!tb->frames[i].file && t->unwind)
            rcgc__unwind_symbolise(heap, t->unwind, tb->frames[i].pc, &tb->frames[i]);
}

const rcgc_traceback *rcgc_trace_get_traceback(rcgc_heap *heap, unsigned domain, uintptr_t ptr)
{
    rcgc__trace *t = heap->trace;
    if (!t || domain > DOMAIN_MAX)
        return NULL;
    rcgc__tentry *e = trace_find(t, domain, ptr);
    if (!e)
        return NULL;
    t->busy = true;
    resolve_tb(heap, (struct rcgc_traceback *)e->tb);
    t->busy = false;
    return e->tb;
}

const rcgc_traceback *rcgc_trace_get_object_traceback(rcgc_heap *heap, const void *obj)
{
    if (!obj)
        return NULL;
    return rcgc_trace_get_traceback(heap, RCGC_TRACE_DOMAIN_HEAP,
                                    (uintptr_t)rcgc__head_of(obj));
}

/* ===================================================================== */
/* Traceback accessors                                                   */
/* ===================================================================== */

unsigned rcgc_traceback_nframe(const rcgc_traceback *tb)
{
    return tb ? tb->nframe : 0;
}

unsigned rcgc_traceback_total_nframe(const rcgc_traceback *tb)
{
    return tb ? tb->total_nframe : 0;
}

rcgc_frame rcgc_traceback_frame(const rcgc_traceback *tb, unsigned index)
{
    rcgc_frame out = {UNKNOWN, UNKNOWN, 0, 0};
    if (!tb || index >= tb->nframe)
        return out;
    const rcgc__frame *f = &tb->frames[tb->nframe - 1 - index];
    out.filename = f->file ? f->file : UNKNOWN;
    out.function = f->func ? f->func : UNKNOWN;
    out.lineno = f->line;
    out.address = f->pc;
    return out;
}

/* ===================================================================== */
/* Host frames and tags                                                  */
/* ===================================================================== */

static bool grow(rcgc_heap *heap, void **v, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return true;
    size_t nc = *cap ? *cap * 2 : 16;
    void *nv = rcgc__trace_alloc(heap, nc * elem);
    if (!nv)
        return false;
    if (*v) {
        memcpy(nv, *v, n * elem);
        rcgc__trace_free(heap, *v, *cap * elem);
    }
    *v = nv;
    *cap = nc;
    return true;
}

rcgc_status rcgc_trace_frame_push(rcgc_heap *heap, const char *filename, unsigned lineno,
                                  const char *function)
{
    rcgc__trace *t = heap->trace;
    if (!t)
        return RCGC_OK;
    t->busy = true;
    rcgc_status st = RCGC_ENOMEM;
    const char *f = rcgc__trace_intern(heap, filename ? filename : UNKNOWN);
    const char *fn = f ? rcgc__trace_intern(heap, function ? function : UNKNOWN) : NULL;
    if (fn && grow(heap, (void **)&t->hframes, &t->caphframes, t->nhframes, sizeof *t->hframes)) {
        t->hframes[t->nhframes++] = (rcgc__hframe){f, fn, lineno};
        update_mode(t);
        st = RCGC_OK;
    }
    t->busy = false;
    return st;
}

void rcgc_trace_frame_set_lineno(rcgc_heap *heap, unsigned lineno)
{
    rcgc__trace *t = heap->trace;
    if (t && t->nhframes)
        t->hframes[t->nhframes - 1].line = lineno;
}

void rcgc_trace_frame_pop(rcgc_heap *heap)
{
    rcgc__trace *t = heap->trace;
    if (t && t->nhframes) {
        t->nhframes--;
        update_mode(t);
    }
}

rcgc_status rcgc_trace_tag_push(rcgc_heap *heap, const char *tag)
{
    rcgc__trace *t = heap->trace;
    if (!t)
        return RCGC_OK;
    t->busy = true;
    rcgc_status st = RCGC_ENOMEM;
    const char *name = rcgc__trace_intern(heap, tag ? tag : "<untagged>");
    uint32_t id = 0;
    if (name && !t->ntagnames) { /* id 0 = untagged */
        if (grow(heap, (void **)&t->tagnames, &t->captagnames, 0, sizeof *t->tagnames)) {
            t->tagnames[0] = NULL;
            t->ntagnames = 1;
        } else {
            name = NULL;
        }
    }
    if (name) {
        /* Tag ids: a linear search over the names is fine for the few
        ** dozen tags a program has; past TAG_MAX - 1 names the last id is
        ** shared ("too many tags"). */
        for (id = 1; id < t->ntagnames && t->tagnames[id] != name; id++)
            ;
        if (id == t->ntagnames) {
            if (id >= TAG_MAX)
                id = TAG_MAX;
            else if (grow(heap, (void **)&t->tagnames, &t->captagnames, t->ntagnames,
                          sizeof *t->tagnames))
                t->tagnames[t->ntagnames++] = name;
            else
                name = NULL;
        }
    }
    if (name && grow(heap, (void **)&t->tagstack, &t->captags, t->ntags, sizeof *t->tagstack)) {
        t->tagstack[t->ntags++] = id;
        set_tag(t, id);
        st = RCGC_OK;
    }
    t->busy = false;
    return st;
}

void rcgc_trace_tag_pop(rcgc_heap *heap)
{
    rcgc__trace *t = heap->trace;
    if (t && t->ntags) {
        t->ntags--;
        set_tag(t, t->ntags ? t->tagstack[t->ntags - 1] : 0);
    }
}

/* ===================================================================== */
/* Call-site entry points                                                */
/* ===================================================================== */

/* The call site (a struct on the entry point's stack) is pointed to for
** the duration of a call and the previous pointer restored after. */
static const rcgc__site *site_enter(rcgc__trace *t, const rcgc__site *site)
{
    const rcgc__site *saved = t->site;
    t->site = site;
    return saved;
}

static void site_leave(rcgc_heap *heap, const rcgc__trace *was, const rcgc__site *saved)
{
    rcgc__trace *t = heap->trace; /* the call may have stopped tracing */
    if (t && t == was)
        t->site = saved;
}

/* Return 'call' made at the site file:line in func, entered from user
** code at return address 'ra', with tracer t (a variable, not NULL). */
#define AT_SITE(t, ra, call)                                                  \
    rcgc__site site = {file, func, line, (ra)};                               \
    const rcgc__site *saved = site_enter((t), &site);                         \
    void *r = call;                                                           \
    site_leave(heap, (t), saved);                                             \
    return r

/* rcgc_calloc_at / rcgc_realloc_at: untraced, one branch. */
#define WITH_SITE(call)                                                       \
    rcgc__trace *t = heap->trace;                                             \
    if (!t)                                                                   \
        return call;                                                          \
    AT_SITE(t, (uintptr_t)__builtin_return_address(0), call)

/* rcgc_malloc_at (mem.c) keeps its untraced path inline and comes here
** only when tracing is on. */
void *rcgc__trace_malloc_at(rcgc_heap *heap, size_t bytes, const char *file, int line,
                            const char *func, uintptr_t ra)
{
    rcgc__trace *t = heap->trace;
    AT_SITE(t, ra, (rcgc_malloc)(heap, bytes));
}

void *rcgc_calloc_at(rcgc_heap *heap, size_t count, size_t size, const char *file, int line,
                     const char *func)
{
    WITH_SITE((rcgc_calloc)(heap, count, size));
}

void *rcgc_realloc_at(rcgc_heap *heap, void *ptr, size_t bytes, const char *file, int line,
                      const char *func)
{
    WITH_SITE((rcgc_realloc)(heap, ptr, bytes));
}

/* ===================================================================== */
/* Checks and teardown                                                   */
/* ===================================================================== */

double rcgc__trace_mean_probe(const rcgc_heap *heap)
{
    const rcgc__trace *t = heap->trace;
    if (!t || !t->count)
        return 0;
    size_t sum = 0;
    for (size_t i = 0; i < t->cap; i++)
        if (t->traces[i].tb)
            sum += (i - slot_home(t, t->traces[i].domain, t->traces[i].ptr)) & t->mask;
    return (double)sum / (double)t->count;
}

size_t rcgc__trace_check(rcgc_heap *heap)
{
    rcgc__trace *t = heap->trace;
    if (!t)
        return 0;
    size_t bad = 0, n = 0;
    double sum = 0;
    /* The table's shape first: probing a misshapen table may not end. */
    bool empty = t->traces == &t->nil;
    bool shape = t->cap && !(t->cap & (t->cap - 1)) && t->mask == t->cap - 1 &&
                 t->mask_bytes == t->mask * sizeof(rcgc__tentry) &&
                 (empty ? t->cap == 1 && !t->grow_at : t->grow_at == t->cap / 4 * 3);
    if (!shape || t->nil.tb || t->nil.ptr || t->nil.meta) {
        rcgc_heap_printf(heap, "rcgc: traces table of %zu slots (mask %zu) grows at %zu%s\n",
                         t->cap, t->mask, t->grow_at,
                         t->nil.tb || t->nil.ptr || t->nil.meta ? "; the empty slot is used" : "");
        bad++;
    }
    for (size_t i = 0; shape && i < t->cap; i++) {
        const rcgc__tentry *e = &t->traces[i];
        if (!e->tb)
            continue;
        n++;
        sum += exact(e) ? (double)e->size : (double)llround(weighted(e));
        if (trace_find(t, e->domain, e->ptr) != e) {
            rcgc_heap_printf(heap, "rcgc: trace of %p (domain %u) unreachable in its table\n",
                             (void *)e->ptr, (unsigned)e->domain);
            bad++;
        }
    }
    if (shape && (n != t->count || t->count > t->grow_at)) {
        rcgc_heap_printf(heap, "rcgc: traces table holds %zu traces, count says %zu (cap %zu)\n",
                         n, t->count, t->cap);
        bad++;
    }
    if (shape && (fabs(sum - (double)t->current) > 0.5 || t->peak < t->current)) {
        rcgc_heap_printf(heap, "rcgc: traced memory %zu (peak %zu), traces sum to %.0f\n",
                         t->current, t->peak, sum);
        bad++;
    }
    if (t->busy) {
        rcgc_heap_printf(heap, "rcgc: tracer left busy\n");
        bad++;
    }
    uint32_t top = t->ntags ? t->tagstack[t->ntags - 1] : 0;
    if (t->tag != top || t->meta != exact_meta(top) || t->keep_freed != (t->freed != NULL) ||
        t->sampled != (t->sample_mean != 0) ||
        t->frames != more_frames(t)) {
        rcgc_heap_printf(heap, "rcgc: tracer mode out of date (tag %u, top %u)\n",
                         (unsigned)t->tag, (unsigned)top);
        bad++;
    }
    for (size_t k = 0; k < RCGC__SITECACHE; k++) {
        const struct rcgc__sitecache *c = &t->sitecache[k];
        if (!c->file) {
            if (c->key != SITE_EMPTY || c->func || c->tb) {
                rcgc_heap_printf(heap, "rcgc: empty site cache entry %zu is not empty\n", k);
                bad++;
            }
            continue;
        }
        rcgc__site site = {c->file, c->func, (int)(uint32_t)c->key, 0};
        uint32_t total = (uint32_t)(c->key >> 32) + 1;
        rcgc__frame f = site_frame(&site);
        if (site_slot(t, &site) != c || !c->tb || !rcgc__tb_same(c->tb, &f, 1, total)) {
            rcgc_heap_printf(heap, "rcgc: site cache entry %zu (%s:%d) holds another "
                                   "traceback\n", k, c->file, site.line);
            bad++;
        }
    }
    return bad;
}

/* ===================================================================== */
/* Allocation sites in the allocator's reports                           */
/* ===================================================================== */

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static void put(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
    if (*len + 1 >= size)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, size - *len, fmt, ap);
    va_end(ap);
    if (n > 0)
        *len = *len + (size_t)n < size ? *len + (size_t)n : size - 1;
}

size_t rcgc__trace_describe(rcgc_heap *heap, const void *ptr, bool freed, char *buf,
                            size_t size)
{
    const rcgc__trace *t = heap->trace;
    size_t len = 0;
    if (!size)
        return 0;
    buf[0] = 0;
    const struct rcgc_traceback *tb = NULL;
    if (!freed) {
        const rcgc__tentry *e = trace_find(t, RCGC_TRACE_DOMAIN_HEAP, (uintptr_t)ptr);
        tb = e ? e->tb : NULL;
    } else if (t->freed) {
        const rcgc__freed *k = freed_slot(t, (uintptr_t)ptr);
        tb = k->ptr == (uintptr_t)ptr ? k->tb : NULL;
    }
    if (!tb) {
        if (!freed)
            put(buf, size, &len, "    No allocation traceback: the block was allocated before "
                                 "tracing started or was not sampled\n");
        else if (t->freed)
            put(buf, size, &len, "    No allocation traceback: the block is freed and its "
                                 "trace is no longer kept (traced before the last "
                                 "rcgc_trace_clear_traces, not sampled, or evicted by a "
                                 "later free)\n");
        else
            put(buf, size, &len, "    No allocation traceback: the block is freed and its "
                                 "trace went with it (traces of freed blocks are kept in "
                                 "debug mode only)\n");
        return len;
    }
    put(buf, size, &len, "    Memory block allocated at (most recent call first%s):\n",
        freed ? "; trace kept after the free" : "");
    for (uint32_t i = 0; i < tb->nframe; i++) {
        const rcgc__frame *f = &tb->frames[i];
        const char *file = f->file, *func = f->func;
        unsigned line = f->line;
        char sym[64];
        if (!file && f->pc && t->unwind)
            rcgc__unwind_lookup(t->unwind, f->pc, &file, &func, &line, sym, sizeof sym);
        put(buf, size, &len, "      %s:%u in %s\n", file ? file : UNKNOWN, line,
            func ? func : UNKNOWN);
    }
    if (tb->total_nframe > tb->nframe)
        put(buf, size, &len, "      (%u more frame(s) not recorded)\n",
            tb->total_nframe - tb->nframe);
    return len;
}

/* ===================================================================== */
/* Leak report                                                           */
/* ===================================================================== */

/*
** Everything still traced, grouped by (allocation site, type), with how
** many objects are held from outside rcgc's graph. QuickJS's trick: an
** object's references from other objects are counted by traversing every
** tracked object; refcount minus those internal references is what the
** program (C locals, globals, foreign structures) still holds. An object
** held only from inside the graph is kept alive by other leaked objects
** (or is part of an uncollected cycle).
*/
struct leak_obj {
    uintptr_t head; /* object header address, 0 = empty */
    uint32_t internal;
};

struct leak_map {
    struct leak_obj *v;
    size_t cap;
};

static struct leak_obj *leak_find(struct leak_map *m, const void *head)
{
    size_t i = (size_t)(((uint64_t)(uintptr_t)head * 0x9E3779B97F4A7C15ull) >> 32) & (m->cap - 1);
    for (; m->v[i].head; i = (i + 1) & (m->cap - 1))
        if (m->v[i].head == (uintptr_t)head)
            return &m->v[i];
    return &m->v[i];
}

static int leak_count_ref(void *obj, void *arg)
{
    struct leak_obj *o = leak_find(arg, rcgc__head_of(obj));
    if (o->head)
        o->internal++;
    return 0;
}

static int leak_visit(void *obj, void *arg)
{
    return rcgc_gc_get_referents(obj, leak_count_ref, arg);
}

struct leak_group {
    const struct rcgc_traceback *tb;
    const char *type;
    size_t count, bytes, outside;
};

static int leak_group_order(const void *pa, const void *pb)
{
    const struct leak_group *a = pa, *b = pb;
    if (a->bytes != b->bytes)
        return a->bytes > b->bytes ? -1 : 1;
    return a->count > b->count ? -1 : a->count < b->count;
}

size_t rcgc_trace_leak_report(rcgc_heap *heap)
{
    rcgc__trace *t = heap->trace;
    if (!t || !t->count)
        return 0;
    t->busy = true;
    size_t nobj = 0, ngroups = 0, gcap = 64;
    for (size_t i = 0; i < t->cap; i++)
        if (t->traces[i].tb && t->traces[i].domain == RCGC_TRACE_DOMAIN_HEAP &&
            rcgc__mem_is_obj_block(&heap->mem, (const void *)t->traces[i].ptr))
            nobj++;
    struct leak_map map = {NULL, 16};
    while (map.cap < nobj * 2)
        map.cap *= 2;
    map.v = rcgc__trace_calloc(heap, map.cap, sizeof *map.v);
    struct leak_group *g = rcgc__trace_alloc(heap, gcap * sizeof *g);
    if (!map.v || !g) {
        rcgc_heap_printf(heap, "rcgc: leak report: out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < t->cap; i++) {
        const rcgc__tentry *e = &t->traces[i];
        if (e->tb && e->domain == RCGC_TRACE_DOMAIN_HEAP &&
            rcgc__mem_is_obj_block(&heap->mem, (const void *)e->ptr))
            leak_find(&map, (const void *)e->ptr)->head = e->ptr;
    }
    /* References among objects: from every tracked object, traced or not. */
    rcgc_gc_visit_objects(heap, -1, leak_visit, &map);
    rcgc_gc_visit_objects(heap, RCGC_GC_FROZEN, leak_visit, &map);
    size_t total_bytes = 0, total = 0;
    for (size_t i = 0; i < t->cap; i++) {
        const rcgc__tentry *e = &t->traces[i];
        if (!e->tb)
            continue;
        const char *type = NULL;
        size_t outside = 0;
        if (e->domain == RCGC_TRACE_DOMAIN_HEAP &&
            rcgc__mem_is_obj_block(&heap->mem, (const void *)e->ptr)) {
            const rcgc__head *h = (const rcgc__head *)e->ptr;
            type = h->type_ && h->type_ < heap->ntypes && heap->types[h->type_]->name
                       ? heap->types[h->type_]->name
                       : "?";
            uint32_t internal = leak_find(&map, h)->internal;
            outside = h->refcnt_ >= RCGC_IMMORTAL_MIN || h->refcnt_ > internal;
        } else if (e->domain != RCGC_TRACE_DOMAIN_HEAP) {
            type = "<foreign>";
        }
        size_t k = 0;
        while (k < ngroups && !(g[k].tb == e->tb && g[k].type == type))
            k++;
        if (k == ngroups) {
            if (ngroups == gcap) {
                struct leak_group *ng = rcgc__trace_alloc(heap, 2 * gcap * sizeof *g);
                if (!ng) {
                    rcgc_heap_printf(heap, "rcgc: leak report: out of memory\n");
                    goto out;
                }
                memcpy(ng, g, gcap * sizeof *g);
                rcgc__trace_free(heap, g, gcap * sizeof *g);
                g = ng;
                gcap *= 2;
            }
            g[ngroups++] = (struct leak_group){e->tb, type, 0, 0, 0};
        }
        g[k].count++;
        g[k].bytes += e->size;
        g[k].outside += outside;
        total++;
        total_bytes += e->size;
    }
    qsort(g, ngroups, sizeof *g, leak_group_order);
    rcgc_heap_printf(heap, "rcgc: leak report: %zu traced block(s), %zu B, in %zu group(s) "
                           "by allocation site and type:\n", total, total_bytes, ngroups);
    for (size_t k = 0; k < ngroups; k++) {
        resolve_tb(heap, (struct rcgc_traceback *)g[k].tb);
        rcgc_frame f = rcgc_traceback_frame(g[k].tb, g[k].tb->nframe - 1);
        rcgc_heap_printf(heap, "  %zu x %s, %zu B, allocated at %s:%u in %s", g[k].count,
                         g[k].type ? g[k].type : "<raw>", g[k].bytes, f.filename, f.lineno,
                         f.function);
        if (g[k].type && strcmp(g[k].type, "<foreign>") != 0) {
            if (g[k].outside)
                rcgc_heap_printf(heap, "; %zu held from outside rcgc's graph\n", g[k].outside);
            else
                rcgc_heap_printf(heap, "; all held only by other objects\n");
        } else {
            rcgc_heap_printf(heap, "\n");
        }
    }
out:
    if (g)
        rcgc__trace_free(heap, g, gcap * sizeof *g);
    if (map.v)
        rcgc__trace_free(heap, map.v, map.cap * sizeof *map.v);
    t->busy = false;
    return ngroups;
}

void rcgc__trace_heap_fini(rcgc_heap *heap)
{
    if (!heap->trace)
        return;
    if (heap->leak_report)
        (void)rcgc_trace_leak_report(heap);
    tracer_free(heap);
}
