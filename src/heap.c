/*
** heap.c -- heap lifecycle, configuration, the type table, status strings,
** panic and output. Owns the members of struct rcgc_heap that belong to no
** layer; calls each layer's init/fini/check. Must not touch object memory
** directly (object.c) or collector lists (gc.c).
*/
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gc.h"
#include "heap.h"
#include "trace.h"
#include "weakref.h"

/* Generation-list sentinels live in the heap struct and need handles. */
_Static_assert(_Alignof(rcgc_heap) >= 16, "heap struct must be 16-byte aligned");
_Static_assert(sizeof(rcgc__head) == 16, "object header is 16 bytes");

const char *rcgc_strerror(rcgc_status status)
{
    switch (status) {
#define RCGC__CASE(name, value, msg)                                          \
    case name:                                                                \
        return msg;
        RCGC_STATUS_LIST(RCGC__CASE)
#undef RCGC__CASE
    }
    return "unknown status";
}

static void default_panic(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "rcgc: fatal: %s\n", msg);
    fflush(stderr);
    abort();
}

static void default_output(void *ctx, const char *text)
{
    (void)ctx;
    fputs(text, stderr);
}

void rcgc_config_init(rcgc_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->struct_size = sizeof *cfg;
    cfg->panic = default_panic;
    cfg->output = default_output;
    cfg->region_bytes = RCGC__REGION_MAX;
    cfg->gc_threshold[0] = 2000;
    cfg->gc_threshold[1] = 10;
    cfg->gc_threshold[2] = 10;
    cfg->gc_enabled = true;
    cfg->gc_trigger = RCGC_TRIGGER_ALLOC;
    cfg->gc_bytes_threshold = (size_t)8 << 20;
    cfg->gc_mode = RCGC_GC_GENERATIONAL;
    cfg->gc_pause_budget_ns = 1000000;
#ifdef NDEBUG
    cfg->leak_report = false;
#else
    cfg->leak_report = true;
#endif
}

rcgc_heap *rcgc_heap_new(const rcgc_config *user_cfg)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    if (user_cfg) {
        size_t n = user_cfg->struct_size;
        if (n == 0 || n > sizeof cfg)
            n = sizeof cfg;
        memcpy(&cfg, user_cfg, n);
        cfg.struct_size = sizeof cfg;
    }
    if (!cfg.panic)
        cfg.panic = default_panic;
    if (!cfg.output)
        cfg.output = default_output;

    struct rcgc__mem *m = rcgc__mem_bootstrap(&cfg, sizeof(rcgc_heap));
    if (!m)
        return NULL;
    rcgc_heap *heap = (rcgc_heap *)m;
    heap->panic = cfg.panic;
    heap->output = cfg.output;
    heap->hook_ctx = cfg.hook_ctx;
    heap->leak_report = cfg.leak_report;
    /* types[0] is reserved so that a zeroed header never names a type. */
    heap->captypes = 16;
    heap->types = rcgc_malloc(heap, heap->captypes * sizeof *heap->types);
    if (!heap->types) {
        rcgc__mem_destroy(m);
        return NULL;
    }
    heap->types[0] = NULL;
    heap->ntypes = 1;
    rcgc__gc_init(heap, &cfg);
    return heap;
}

void rcgc_heap_free(rcgc_heap *heap)
{
    if (!heap)
        return;
    heap->freeing = true;
    rcgc__weakref_heap_fini(heap);
    rcgc__gc_fini(heap);
    rcgc__trace_heap_fini(heap); /* allocation tracing: leak report, tracer */
    /* Immortal objects (singletons, constants) live until the heap dies by
    ** design; they are not leaks. */
    size_t mortal = heap->live_objects - heap->immortal_objects;
    if (heap->leak_report && mortal) {
        rcgc_heap_printf(heap, "rcgc: %zu object(s) still alive at heap free:\n", mortal);
        rcgc__gc_report_live(heap);
    }
    rcgc__object_teardown(heap);
    rcgc__mem_destroy(&heap->mem);
}

rcgc_heap *rcgc_heap_of(const void *obj)
{
    return rcgc__mem_heap_of(obj);
}

size_t rcgc_heap_live_objects(rcgc_heap *heap) { return heap->live_objects; }
size_t rcgc_heap_immortal_objects(rcgc_heap *heap) { return heap->immortal_objects; }

void rcgc_heap_panic(rcgc_heap *heap, const void *obj, const char *fmt, ...)
{
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (obj)
        rcgc__panic_obj(heap, obj, "%s", what);
    rcgc__panic(heap, "%s", what);
}

void rcgc_heap_printf(rcgc_heap *heap, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof buf) {
        heap->output(heap->hook_ctx, buf);
        return;
    }
    /* Long text: format again into a temporary from the system allocator
    ** (output must work even when the heap's allocator is failing). */
    char *big = malloc((size_t)n + 1);
    if (!big) {
        heap->output(heap->hook_ctx, buf);
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    heap->output(heap->hook_ctx, big);
    free(big);
}

static void panic_text(rcgc_heap *heap, const char *msg)
{
    heap->panic(heap->hook_ctx, msg);
    /* The hook returned: that is not allowed. */
    default_panic(NULL, msg);
    abort();
}

void rcgc__panic(rcgc_heap *heap, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    panic_text(heap, buf);
    abort();
}

void rcgc__panic_obj(rcgc_heap *heap, const void *obj, const char *fmt, ...)
{
    char what[768], buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    const rcgc__head *h = rcgc__head_of(obj);
    const char *tname = "<freed>";
    if (h->type_ != RCGC__TYPE_FREED) {
        if (h->type_ > 0 && h->type_ < heap->ntypes && heap->types[h->type_])
            tname = heap->types[h->type_]->name ? heap->types[h->type_]->name : "?";
        else
            tname = "<bad type>";
    }
    snprintf(buf, sizeof buf, "%s: object %p of type '%s', refcount %lu", what,
             obj, tname, (unsigned long)h->refcnt_);
    panic_text(heap, buf);
    abort();
}

uint16_t rcgc__type_id_slow(rcgc_heap *heap, const rcgc_type *type)
{    /* Linear scan: programs have few types, and the one-entry cache above
    ** catches runs of the same type. */
    for (uint32_t i = 1; i < heap->ntypes; i++) {
        if (heap->types[i] == type) {
            heap->type_cache[rcgc__type_slot(type)] =
                (struct rcgc__type_cache){type, (uint16_t)i};
            return (uint16_t)i;
        }
    }
    if (heap->ntypes >= RCGC__TYPE_FREED)
        rcgc__panic(heap, "too many types registered in one heap (max %u) at type '%s'",
                    RCGC__TYPE_FREED - 1u, type->name ? type->name : "?");
    if (heap->ntypes == heap->captypes) {
        uint32_t cap = heap->captypes * 2;
        const rcgc_type **t = rcgc_realloc(heap, (void *)heap->types, cap * sizeof *t);
        if (!t)
            return 0;
        heap->types = t;
        heap->captypes = cap;
    }
    uint16_t id = (uint16_t)heap->ntypes++;
    heap->types[id] = type;
    heap->any_finalize |= type->finalize != NULL;
    heap->any_uncollectable |= (type->flags & RCGC_TYPE_UNCOLLECTABLE_IN_CYCLE) != 0;
    heap->type_cache[rcgc__type_slot(type)] = (struct rcgc__type_cache){type, id};
    return id;
}

static bool same_type(const rcgc_type *a, const rcgc_type *b)
{
    return a->name == b->name && a->size == b->size && a->itemsize == b->itemsize &&
           a->flags == b->flags && a->traverse == b->traverse && a->clear == b->clear &&
           a->finalize == b->finalize && a->release == b->release;
}

const rcgc_type *rcgc_type_register(rcgc_heap *heap, const rcgc_type *tmpl)
{
    for (size_t i = 0; i < heap->nowned; i++)
        if (same_type(heap->owned_types[i], tmpl))
            return heap->owned_types[i];
    if (heap->nowned == heap->capowned) {
        size_t cap = heap->capowned ? heap->capowned * 2 : 8;
        rcgc_type **v = rcgc_realloc(heap, heap->owned_types, cap * sizeof *v);
        if (!v)
            return NULL;
        heap->owned_types = v;
        heap->capowned = cap;
    }
    rcgc_type *t = rcgc_malloc(heap, sizeof *t);
    if (!t)
        return NULL;
    *t = *tmpl;
    heap->owned_types[heap->nowned++] = t;
    return t;
}

rcgc_status rcgc_heap_check(rcgc_heap *heap)
{
    size_t bad = 0;
    bad += rcgc__mem_check(&heap->mem);
    bad += rcgc__gc_check(heap);
    bad += rcgc__weakref_check(heap);
    bad += rcgc__trace_check(heap); /* allocation tracing */
    if (heap->ntypes == 0 || heap->ntypes > heap->captypes) {
        rcgc_heap_printf(heap, "rcgc_heap_check: type table %u/%u\n", heap->ntypes,
                         heap->captypes);
        bad++;
    }
    return bad ? RCGC_ECORRUPT : RCGC_OK;
}
