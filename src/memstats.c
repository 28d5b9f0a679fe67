/*
** memstats.c -- allocator statistics: the versioned stats struct (filled by
** one walk over the arenas), its text and JSON forms (both expanded from
** RCGC_MEM_STATS_FIELDS), the _debugmallocstats-style per-class dump, and
** the RSS report. Reads allocator state; never changes it.
*/
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "heap.h"

#define SEG RCGC__SEG_BYTES

struct classinfo {
    uint64_t pools, inuse, avail;
};

/* One pass over every pool and run. */
static void walk(struct rcgc__mem *m, rcgc_mem_stats *s, struct classinfo *cls)
{
    for (uint32_t i = m->first_arena; i < m->hw; i++) {
        struct rcgc__arena *a = &m->arenas[i];
        char *abase = (char *)m->base + (size_t)i * RCGC__ARENA_BYTES;
        if (a->state == RCGC__ARENA_SPAN) {
            struct rcgc__run *r = (struct rcgc__run *)abase;
            if (r->kind == RCGC__SEG_RUN_OBJ) {
                s->object_run_blocks++;
                s->object_run_bytes += r->nsegs * SEG - RCGC__RUN_HDR;
            }
            s->run_header_bytes += RCGC__RUN_HDR;
            continue;
        }
        if (a->state != RCGC__ARENA_ACTIVE)
            continue;
        s->unused_pool_bytes += (uint64_t)__builtin_popcountll(~a->used & a->committed) * SEG;
        for (uint64_t h = a->head; h; h &= h - 1) {
            unsigned seg = (unsigned)__builtin_ctzll(h);
            struct rcgc__pool *p = (struct rcgc__pool *)(abase + (size_t)seg * SEG);
            if (p->kind == RCGC__SEG_POOL) {
                s->pools++;
                s->small_blocks += p->nused;
                s->small_bytes += (uint64_t)p->nused * p->size;
                s->pool_free_bytes += (uint64_t)(p->capacity - p->nused) * p->size;
                s->pool_header_bytes += RCGC__POOL_HDR;
                s->pool_quantization_bytes += SEG - RCGC__POOL_HDR - (uint64_t)p->capacity * p->size;
                if (cls) {
                    cls[p->szidx].pools++;
                    cls[p->szidx].inuse += p->nused;
                    cls[p->szidx].avail += (uint64_t)(p->capacity - p->nused);
                }
                continue;
            }
            struct rcgc__run *r = (struct rcgc__run *)p;
            if (r->kind == RCGC__SEG_RUN_OBJ) {
                s->object_run_blocks++;
                s->object_run_bytes += r->nsegs * SEG - RCGC__RUN_HDR;
            }
            s->run_header_bytes += RCGC__RUN_HDR;
        }
    }
}

static void fill(struct rcgc__mem *m, rcgc_mem_stats *s, struct classinfo *cls)
{
    memset(s, 0, sizeof *s);
    s->struct_size = sizeof *s;
    s->version = RCGC_MEM_STATS_VERSION;
    walk(m, s, cls);
    s->live_bytes = m->live_bytes + s->small_bytes;
    s->live_blocks = m->live_blocks + s->small_blocks;
    s->large_bytes = m->big_bytes;
    s->large_blocks = m->bigcount;
    s->table_bytes = m->meta_bytes;
    s->meta_bytes = (uint64_t)m->first_arena * RCGC__ARENA_BYTES;
    s->committed_bytes = m->committed_bytes;
    s->returned_bytes = m->returned_bytes;
    s->region_bytes = m->region_bytes;
    s->arenas_allocated_total = m->arenas_allocated_total;
    s->arenas_reclaimed = m->arenas_reclaimed;
    s->arenas_highwater = m->arenas_highwater;
    s->arenas_current = m->arenas_active;
    s->alloc_calls = m->nallocs_before + m->nallocs;
    s->fault_allocations = m->nallocs;
    s->allocated_bytes_total = m->alloc_bytes;
}

void rcgc_mem_stats_get(rcgc_heap *heap, rcgc_mem_stats *out)
{
    rcgc_mem_stats s;
    fill(&heap->mem, &s, NULL);
    size_t want = out->struct_size ? out->struct_size : sizeof s;
    if (want > sizeof s)
        want = sizeof s;
    s.struct_size = want;
    memcpy(out, &s, want);
}

void rcgc_mem_stats_print(rcgc_heap *heap)
{
    rcgc_mem_stats s;
    fill(&heap->mem, &s, NULL);
    rcgc_heap_printf(heap, "rcgc allocator statistics (version %u)\n", s.version);
#define PRINT_FIELD(name, doc)                                                \
    rcgc_heap_printf(heap, "%-24s = %20" PRIu64 "  # %s\n", #name, s.name, doc);
    RCGC_MEM_STATS_FIELDS(PRINT_FIELD)
#undef PRINT_FIELD
}

/* snprintf into a buffer that may be too small; tracks the full length. */
struct sink {
    char *buf;
    size_t cap, len;
};

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void put(struct sink *k, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = k->len < k->cap ? k->cap - k->len : 0;
    int n = vsnprintf(room ? k->buf + k->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        k->len += (size_t)n;
}

size_t rcgc_mem_stats_json(rcgc_heap *heap, char *buf, size_t cap)
{
    rcgc_mem_stats s;
    fill(&heap->mem, &s, NULL);
    struct sink k = {buf, cap, 0};
    if (cap)
        buf[0] = 0;
    put(&k, "{\"version\": %u", s.version);
#define JSON_FIELD(name, doc) put(&k, ", \"%s\": %" PRIu64, #name, s.name);
    RCGC_MEM_STATS_FIELDS(JSON_FIELD)
#undef JSON_FIELD
    put(&k, "}");
    return k.len;
}

void rcgc_mem_debug_dump(rcgc_heap *heap)
{
    struct rcgc__mem *m = &heap->mem;
    struct classinfo cls[RCGC__NCLASSES];
    memset(cls, 0, sizeof cls);
    rcgc_mem_stats s;
    fill(m, &s, cls);
    rcgc_heap_printf(heap, "Small block threshold = %u, in %u size classes.\n\n",
                     RCGC__SMALL_MAX, RCGC__NCLASSES);
    rcgc_heap_printf(heap, "class   size   num pools   blocks in use  avail blocks\n"
                           "-----   ----   ---------   -------------  ------------\n");
    for (unsigned c = 0; c < RCGC__NCLASSES; c++) {
        if (!cls[c].pools)
            continue;
        rcgc_heap_printf(heap, "%5u %6u %11" PRIu64 " %15" PRIu64 " %13" PRIu64 "\n", c,
                         (c + 1) * RCGC__ALIGN, cls[c].pools, cls[c].inuse, cls[c].avail);
    }
    rcgc_heap_printf(heap, "\n");
#define LINE(label, value) rcgc_heap_printf(heap, "%-40s = %15" PRIu64 "\n", label, (uint64_t)(value))
    LINE("# arenas allocated total", s.arenas_allocated_total);
    LINE("# arenas reclaimed", s.arenas_reclaimed);
    LINE("# arenas highwater mark", s.arenas_highwater);
    LINE("# arenas allocated current", s.arenas_current);
    char label[64];
    snprintf(label, sizeof label, "%" PRIu64 " arenas * %zu bytes/arena", s.arenas_current,
             RCGC__ARENA_BYTES);
    LINE(label, s.arenas_current * RCGC__ARENA_BYTES);
    rcgc_heap_printf(heap, "\n");
    LINE("# bytes in allocated blocks", s.small_bytes);
    LINE("# bytes in available blocks", s.pool_free_bytes);
    snprintf(label, sizeof label, "%" PRIu64 " unused pools * %zu bytes",
             s.unused_pool_bytes / SEG, SEG);
    LINE(label, s.unused_pool_bytes);
    LINE("# bytes lost to pool headers", s.pool_header_bytes);
    LINE("# bytes lost to quantization", s.pool_quantization_bytes);
    LINE("# bytes lost to arena alignment", 0);
    uint64_t total = s.small_bytes + s.pool_free_bytes + s.unused_pool_bytes +
                     s.pool_header_bytes + s.pool_quantization_bytes;
    LINE("Total", total);
    rcgc_heap_printf(heap, "\n");
    LINE("# object blocks > 512 B (page runs)", s.object_run_blocks);
    LINE("# bytes in them", s.object_run_bytes);
    LINE("# raw blocks > 512 B (large hooks)", s.large_blocks);
    LINE("# bytes in them", s.large_bytes);
    LINE("# bytes in allocator tables", s.table_bytes);
    LINE("# bytes committed in the region", s.committed_bytes);
    LINE("# bytes returned to the OS", s.returned_bytes);
#undef LINE
}

/* ===================================================================== */
/* RSS                                                                    */
/* ===================================================================== */

static uint64_t region_resident(struct rcgc__mem *m)
{
    long pg = sysconf(_SC_PAGESIZE);
    if (pg <= 0)
        return 0;
    size_t page = (size_t)pg;
    unsigned char vec[4096];
    size_t span = (size_t)m->hw * RCGC__ARENA_BYTES;
    uint64_t resident = 0;
    for (size_t off = 0; off < span; off += sizeof vec * page) {
        size_t len = span - off < sizeof vec * page ? span - off : sizeof vec * page;
        if (mincore((char *)m->base + off, len, vec) != 0)
            return 0;
        for (size_t i = 0; i < (len + page - 1) / page; i++)
            resident += vec[i] & 1;
    }
    return resident * page;
}

rcgc_status rcgc_mem_rss_get(rcgc_heap *heap, rcgc_mem_rss *out)
{
    struct rcgc__mem *m = &heap->mem;
    memset(out, 0, sizeof *out);
    unsigned long long size = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    int got = f ? fscanf(f, "%llu %llu", &size, &rss) : 0;
    if (f)
        fclose(f);
    long pg = sysconf(_SC_PAGESIZE);
    out->process_rss_bytes = got == 2 && pg > 0 ? rss * (uint64_t)pg : 0;
    out->region_resident_bytes = region_resident(m);
    out->live_bytes = rcgc__mem_live_bytes(m) - m->big_bytes;
    out->free_held_bytes = out->region_resident_bytes > out->live_bytes
                               ? out->region_resident_bytes - out->live_bytes
                               : 0;
    out->large_bytes = m->big_bytes;
    out->returned_bytes = m->returned_bytes;
    uint64_t ours = out->region_resident_bytes + out->large_bytes;
    out->outside_bytes = out->process_rss_bytes > ours ? out->process_rss_bytes - ours : 0;
    return got == 2 ? RCGC_OK : RCGC_EIO;
}

rcgc_status rcgc_mem_report(rcgc_heap *heap)
{
    rcgc_mem_rss r;
    rcgc_status st = rcgc_mem_rss_get(heap, &r);
    rcgc_heap_printf(heap, "rcgc memory report (heap %p)%s\n", (void *)heap,
                     st == RCGC_OK ? "" : " -- /proc/self/statm unreadable");
#define RSS_LINE(name, doc)                                                   \
    rcgc_heap_printf(heap, "  %-22s %12" PRIu64 " KiB  # %s\n", #name, r.name / 1024, doc);
    RCGC_MEM_RSS_FIELDS(RSS_LINE)
#undef RSS_LINE
    rcgc_heap_printf(heap, "  (process = region resident + large blocks + outside; a block's "
                           "live bytes may include pages not yet touched)\n");
    return st;
}
