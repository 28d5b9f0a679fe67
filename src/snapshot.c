/*
** snapshot.c -- snapshots of the tracer (tracemalloc.Snapshot): taking one,
** building one from explicit traces, statistics grouped by file, line,
** traceback, type or tag (cumulative or not), diffs between two snapshots
** sorted as tracemalloc sorts them, filters, and tracemalloc's text forms.
** Snapshots use plain malloc: they outlive heaps and are loaded by tools.
*/
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

#define SCHUNK_BYTES 65536

struct rcgc__schunk {
    struct rcgc__schunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

static const char UNKNOWN[] = "<unknown>";

/* ===================================================================== */
/* Memory                                                                */
/* ===================================================================== */

void *rcgc__snap_malloc(rcgc_snapshot *s, size_t bytes)
{
    if (s && s->fault && rcgc__fault_hit(&s->fault->mem))
        return NULL;
    return malloc(bytes ? bytes : 1);
}

static void *chunk_alloc(rcgc_snapshot *s, struct rcgc__schunk **list, size_t bytes)
{
    bytes = (bytes + 15) & ~(size_t)15;
    struct rcgc__schunk *c = *list;
    if (!c || c->cap - c->used < bytes) {
        size_t cap = bytes > SCHUNK_BYTES ? bytes : SCHUNK_BYTES;
        c = rcgc__snap_malloc(s, sizeof *c + cap);
        if (!c)
            return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = *list;
        *list = c;
    }
    void *p = c->data + c->used;
    c->used += bytes;
    return p;
}

static void chunks_free(struct rcgc__schunk *c)
{
    while (c) {
        struct rcgc__schunk *n = c->next;
        free(c);
        c = n;
    }
}

/* Grow a vector to hold n + 1 elements. */
static bool vec_grow(rcgc_snapshot *s, void **v, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return true;
    size_t nc = *cap ? *cap * 2 : 64;
    if (nc > SIZE_MAX / elem)
        return false;
    void *nv = rcgc__snap_malloc(s, nc * elem);
    if (!nv)
        return false;
    if (*v)
        memcpy(nv, *v, n * elem);
    free(*v);
    *v = nv;
    *cap = nc;
    return true;
}

/* ===================================================================== */
/* Interning                                                             */
/* ===================================================================== */

static uint32_t hash_bytes(const char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 16777619u;
    return h;
}

static bool rehash_ids(rcgc_snapshot *s, uint32_t **table, size_t *cap, size_t count,
                       uint32_t (*hash_of)(const rcgc_snapshot *, uint32_t), uint32_t first)
{
    size_t nc = *cap ? *cap * 2 : 128;
    while ((count + 1) * 2 > nc)
        nc *= 2;
    uint32_t *t = rcgc__snap_malloc(s, nc * sizeof *t);
    if (!t)
        return false;
    memset(t, 0, nc * sizeof *t);
    for (uint32_t id = first; id < count + first; id++) {
        size_t j = hash_of(s, id) & (nc - 1);
        while (t[j])
            j = (j + 1) & (nc - 1);
        t[j] = id + 1 - first;
    }
    free(*table);
    *table = t;
    *cap = nc;
    return true;
}

static uint32_t str_hash_of(const rcgc_snapshot *s, uint32_t id)
{
    return hash_bytes(s->strs[id], strlen(s->strs[id]));
}

uint32_t rcgc__snap_str(rcgc_snapshot *s, const char *str, size_t len)
{
    if (s->nstrs == 0) { /* id 0 = none */
        if (!vec_grow(s, (void **)&s->strs, &s->capstrs, 0, sizeof *s->strs))
            return 0;
        s->strs[0] = NULL;
        s->nstrs = 1;
    }
    /* strhash holds string ids (>= 1); 0 = empty. */
    if ((s->nstrs + 1) * 2 > s->strhcap &&
        !rehash_ids(s, &s->strhash, &s->strhcap, s->nstrs - 1, str_hash_of, 1))
        return 0;
    uint32_t h = hash_bytes(str, len);
    size_t j = h & (s->strhcap - 1);
    for (; s->strhash[j]; j = (j + 1) & (s->strhcap - 1)) {
        const char *c = s->strs[s->strhash[j]];
        if (strncmp(c, str, len) == 0 && c[len] == '\0')
            return s->strhash[j];
    }
    if (!vec_grow(s, (void **)&s->strs, &s->capstrs, s->nstrs, sizeof *s->strs))
        return 0;
    char *copy = chunk_alloc(s, &s->chunks, len + 1);
    if (!copy)
        return 0;
    memcpy(copy, str, len);
    copy[len] = '\0';
    uint32_t id = (uint32_t)s->nstrs++;
    s->strs[id] = copy;
    s->strhash[j] = id;
    return id;
}

uint32_t rcgc__snap_str_find(const rcgc_snapshot *s, const char *str)
{
    if (!s->strhcap)
        return 0;
    size_t len = strlen(str);
    size_t j = hash_bytes(str, len) & (s->strhcap - 1);
    for (; s->strhash[j]; j = (j + 1) & (s->strhcap - 1))
        if (strcmp(s->strs[s->strhash[j]], str) == 0)
            return s->strhash[j];
    return 0;
}

static uint32_t tb_hash_of(const rcgc_snapshot *s, uint32_t id)
{
    return s->tbs[id]->hash;
}

bool rcgc__snap_tb(rcgc_snapshot *s, const rcgc__frame *frames, uint32_t n, uint32_t total,
                   uint32_t *id)
{
    if ((s->ntbs + 1) * 2 > s->tbhcap &&
        !rehash_ids(s, &s->tbhash, &s->tbhcap, s->ntbs, tb_hash_of, 0))
        return false;
    uint32_t h = rcgc__tb_hash(frames, n, total);
    size_t j = h & (s->tbhcap - 1);
    for (; s->tbhash[j]; j = (j + 1) & (s->tbhcap - 1)) {
        const struct rcgc_traceback *tb = s->tbs[s->tbhash[j] - 1];
        if (tb->hash == h && rcgc__tb_same(tb, frames, n, total)) {
            *id = s->tbhash[j] - 1;
            return true;
        }
    }
    if (!vec_grow(s, (void **)&s->tbs, &s->captbs, s->ntbs, sizeof *s->tbs))
        return false;
    struct rcgc_traceback *tb =
        chunk_alloc(s, &s->chunks, sizeof *tb + (size_t)n * sizeof(rcgc__frame));
    if (!tb)
        return false;
    tb->next = NULL;
    tb->hash = h;
    tb->nframe = n;
    tb->total_nframe = total;
    tb->id = (uint32_t)s->ntbs;
    memcpy(tb->frames, frames, (size_t)n * sizeof *frames);
    s->tbs[s->ntbs] = tb;
    s->tbhash[j] = (uint32_t)s->ntbs + 1;
    *id = (uint32_t)s->ntbs++;
    return true;
}

bool rcgc__snap_push(rcgc_snapshot *s, const rcgc__snaptrace *t)
{
    if (!vec_grow(s, (void **)&s->traces, &s->captraces, s->ntraces, sizeof *s->traces))
        return false;
    s->traces[s->ntraces++] = *t;
    return true;
}

/* ===================================================================== */
/* Creation                                                              */
/* ===================================================================== */

rcgc_snapshot *rcgc_snapshot_new(unsigned traceback_limit)
{
    rcgc_snapshot *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->limit = traceback_limit;
    return s;
}

void rcgc_snapshot_free(rcgc_snapshot *s)
{
    if (!s)
        return;
    free(s->traces);
    free(s->tbs);
    free(s->tbhash);
    free(s->strs);
    free(s->strhash);
    chunks_free(s->chunks);
    free(s);
}

static const char *sstr(rcgc_snapshot *s, const char *str)
{
    uint32_t id = rcgc__snap_str(s, str, strlen(str));
    return id ? s->strs[id] : NULL;
}

rcgc_status rcgc_snapshot_add(rcgc_snapshot *s, unsigned domain, size_t size,
                              const rcgc_frame *frames, unsigned nframe, unsigned total_nframe,
                              const char *type, const char *tag)
{
    if (!s || (nframe && !frames) || nframe > RCGC_TRACE_MAX_FRAMES)
        return RCGC_EINVAL;
    rcgc__frame one, *f = &one;
    if (nframe > 1) {
        f = malloc((size_t)nframe * sizeof *f);
        if (!f)
            return RCGC_ENOMEM;
    }
    rcgc_status st = RCGC_ENOMEM;
    /* The public order is oldest first; we store most recent first. */
    for (unsigned i = 0; i < nframe; i++) {
        const rcgc_frame *in = &frames[nframe - 1 - i];
        f[i].file = sstr(s, in->filename ? in->filename : UNKNOWN);
        f[i].func = sstr(s, in->function ? in->function : UNKNOWN);
        f[i].line = in->lineno;
        f[i].pc = in->address;
        f[i].pad_ = 0;
        if (!f[i].file || !f[i].func)
            goto out;
    }
    rcgc__snaptrace t = {size, 0, domain, 0, 0, 1.0f, 0};
    if (nframe == 0) {
        one = (rcgc__frame){sstr(s, UNKNOWN), NULL, 0, 0, 0};
        one.func = one.file;
        if (!one.file)
            goto out;
        nframe = 1;
    }
    if (!rcgc__snap_tb(s, f, nframe, total_nframe ? total_nframe : nframe, &t.tb))
        goto out;
    if (type && !(t.type = rcgc__snap_str(s, type, strlen(type))))
        goto out;
    if (tag && !(t.tag = rcgc__snap_str(s, tag, strlen(tag))))
        goto out;
    if (rcgc__snap_push(s, &t))
        st = RCGC_OK;
out:
    if (f != &one)
        free(f);
    return st;
}

/* Copy the tracer's traceback 'tb' into s (symbolising native frames). */
static bool copy_tb(rcgc_heap *heap, rcgc_snapshot *s, struct rcgc_traceback *tb,
                    rcgc__frame *scratch, uint32_t *id)
{
    rcgc__trace *t = heap->trace;
    for (uint32_t i = 0; i < tb->nframe; i++) {
        rcgc__frame *f = &tb->frames[i];
        if (!f->file && t->unwind)
            rcgc__unwind_symbolise(heap, t->unwind, f->pc, f);
        scratch[i].file = sstr(s, f->file ? f->file : UNKNOWN);
        scratch[i].func = sstr(s, f->func ? f->func : UNKNOWN);
        scratch[i].line = f->line;
        scratch[i].pc = f->pc;
        scratch[i].pad_ = 0;
        if (!scratch[i].file || !scratch[i].func)
            return false;
    }
    return rcgc__snap_tb(s, scratch, tb->nframe, tb->total_nframe, id);
}

rcgc_status rcgc_trace_take_snapshot(rcgc_heap *heap, rcgc_snapshot **out)
{
    *out = NULL;
    rcgc__trace *t = heap->trace;
    if (!t) {
        rcgc_heap_printf(heap, "rcgc: the heap must be tracing memory allocations to take "
                               "a snapshot\n");
        return RCGC_ESTATE;
    }
    if (rcgc__fault_hit(&heap->mem))
        return RCGC_ENOMEM;
    rcgc_snapshot *s = calloc(1, sizeof *s);
    if (!s)
        return RCGC_ENOMEM;
    s->limit = t->max_frames;
    s->sample_mean = t->sample_mean;
    s->fault = heap;
    t->busy = true;
    rcgc_status st = RCGC_ENOMEM;
    rcgc__frame *scratch = rcgc__snap_malloc(s, ((size_t)t->max_frames + 1) * sizeof *scratch);
    uint32_t *typeids = rcgc__snap_malloc(s, (size_t)heap->ntypes * sizeof *typeids);
    uint32_t *tagids = rcgc__snap_malloc(s, (t->ntagnames + 1) * sizeof *tagids);
    if (!scratch || !typeids || !tagids)
        goto out;
    memset(typeids, 0, (size_t)heap->ntypes * sizeof *typeids);
    memset(tagids, 0, (t->ntagnames + 1) * sizeof *tagids);
    /* Number the tracer's tracebacks in s, once each (tb->id is free for
    ** us to use while busy). */
    for (size_t i = 0; i < t->tbcap; i++)
        for (struct rcgc_traceback *tb = t->tbs[i]; tb; tb = tb->next)
            tb->id = UINT32_MAX;
    if (!s->traces || s->captraces < t->count) {
        free(s->traces);
        s->traces = rcgc__snap_malloc(s, (t->count ? t->count : 1) * sizeof *s->traces);
        if (!s->traces)
            goto out;
        s->captraces = t->count ? t->count : 1;
    }
    for (size_t i = 0; i < t->cap; i++) {
        const rcgc__tentry *e = &t->traces[i];
        if (!e->tb)
            continue;
        struct rcgc_traceback *tb = (struct rcgc_traceback *)e->tb;
        if (tb->id == UINT32_MAX && !copy_tb(heap, s, tb, scratch, &tb->id))
            goto out;
        rcgc__snaptrace st_ = {e->size, tb->id, e->domain, 0, 0, e->weight, 0};
        if (e->domain == RCGC_TRACE_DOMAIN_HEAP &&
            rcgc__mem_is_obj_block(&heap->mem, (const void *)e->ptr)) {
            uint16_t id = ((const rcgc__head *)e->ptr)->type_;
            if (id && id < heap->ntypes) {
                if (!typeids[id]) {
                    const char *name = heap->types[id]->name ? heap->types[id]->name : "?";
                    if (!(typeids[id] = rcgc__snap_str(s, name, strlen(name))))
                        goto out;
                }
                st_.type = typeids[id];
            }
        }
        if (e->tag) {
            const char *name = rcgc__trace_tag_name(t, e->tag);
            uint32_t k = e->tag < t->ntagnames ? e->tag : 0;
            if (name && !tagids[k] && !(tagids[k] = rcgc__snap_str(s, name, strlen(name))))
                goto out;
            st_.tag = name ? tagids[k] : 0;
        }
        s->traces[s->ntraces++] = st_;
    }
    st = RCGC_OK;
out:
    t->busy = false;
    free(scratch);
    free(typeids);
    free(tagids);
    s->fault = NULL;
    if (st != RCGC_OK) {
        rcgc_snapshot_free(s);
        return st;
    }
    *out = s;
    return RCGC_OK;
}

/* ===================================================================== */
/* Accessors                                                             */
/* ===================================================================== */

size_t rcgc_snapshot_count(const rcgc_snapshot *s)
{
    return s ? s->ntraces : 0;
}

unsigned rcgc_snapshot_traceback_limit(const rcgc_snapshot *s)
{
    return s->limit;
}

uint64_t rcgc_snapshot_sample_mean(const rcgc_snapshot *s)
{
    return s->sample_mean;
}

bool rcgc_snapshot_get(const rcgc_snapshot *s, size_t i, rcgc_trace *out)
{
    if (!s || i >= s->ntraces)
        return false;
    const rcgc__snaptrace *t = &s->traces[i];
    out->domain = t->domain;
    out->size = (size_t)t->size;
    out->traceback = s->tbs[t->tb];
    out->type = s->strs && t->type ? s->strs[t->type] : NULL;
    out->tag = s->strs && t->tag ? s->strs[t->tag] : NULL;
    out->weight = t->weight;
    return true;
}

/* Content comparison of tracebacks, oldest frame first (tracemalloc's
** Traceback ordering: (filename, lineno) tuples, a prefix sorts first);
** the function name breaks ties. */
static int tb_cmp(const rcgc_traceback *a, const rcgc_traceback *b)
{
    uint32_t na = a->nframe, nb = b->nframe;
    for (uint32_t i = 0; i < na && i < nb; i++) {
        const rcgc__frame *fa = &a->frames[na - 1 - i], *fb = &b->frames[nb - 1 - i];
        int c = strcmp(fa->file, fb->file);
        if (c)
            return c;
        if (fa->line != fb->line)
            return fa->line < fb->line ? -1 : 1;
        c = strcmp(fa->func ? fa->func : "", fb->func ? fb->func : "");
        if (c)
            return c;
    }
    return na == nb ? 0 : na < nb ? -1 : 1;
}

static bool str_eq(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

bool rcgc_snapshot_equal(const rcgc_snapshot *a, const rcgc_snapshot *b)
{
    if (a->ntraces != b->ntraces || a->limit != b->limit || a->sample_mean != b->sample_mean)
        return false;
    for (size_t i = 0; i < a->ntraces; i++) {
        rcgc_trace x, y;
        rcgc_snapshot_get(a, i, &x);
        rcgc_snapshot_get(b, i, &y);
        if (x.domain != y.domain || x.size != y.size || x.weight != y.weight ||
            !str_eq(x.type, y.type) || !str_eq(x.tag, y.tag) ||
            x.traceback->total_nframe != y.traceback->total_nframe ||
            tb_cmp(x.traceback, y.traceback) != 0)
            return false;
    }
    return true;
}

/* ===================================================================== */
/* Statistics                                                            */
/* ===================================================================== */

struct rcgc_stats {
    rcgc_stat *items;
    size_t n, cap;
    struct rcgc__schunk *chunks; /* one-frame tracebacks of the groups */
};

/* A group while counting: its key is a traceback (frames) or a name. */
struct group {
    const rcgc_traceback *tb;
    const char *name;
    uint32_t hash;
    double size, count;
    double old_size, old_count;
    bool in_new, in_old;
};

struct groups {
    struct group *v;
    size_t n, cap;
    uint32_t *slots; /* group index + 1 */
    size_t scap;
};

static uint32_t key_hash(const rcgc_traceback *tb, const char *name)
{
    if (!tb)
        return name ? hash_bytes(name, strlen(name)) ^ 0x5bd1e995u : 0;
    uint32_t h = 0x811c9dc5u ^ tb->nframe;
    for (uint32_t i = 0; i < tb->nframe; i++) {
        const rcgc__frame *f = &tb->frames[i];
        h = (h ^ hash_bytes(f->file, strlen(f->file))) * 16777619u;
        h = (h ^ f->line) * 16777619u;
        h = (h ^ hash_bytes(f->func, strlen(f->func))) * 16777619u;
    }
    return h;
}

static bool key_eq(const struct group *g, const rcgc_traceback *tb, const char *name)
{
    if (!tb)
        return !g->tb && g->name && name && strcmp(g->name, name) == 0;
    return g->tb && g->tb->nframe == tb->nframe && tb_cmp(g->tb, tb) == 0;
}

/* The group of a key, created on first use; NULL = ENOMEM. */
static struct group *group_of(struct groups *gs, const rcgc_traceback *tb, const char *name)
{
    if ((gs->n + 1) * 2 > gs->scap) {
        size_t nc = gs->scap ? gs->scap * 2 : 256;
        uint32_t *sl = calloc(nc, sizeof *sl);
        if (!sl)
            return NULL;
        for (size_t i = 0; i < gs->n; i++) {
            size_t j = gs->v[i].hash & (nc - 1);
            while (sl[j])
                j = (j + 1) & (nc - 1);
            sl[j] = (uint32_t)i + 1;
        }
        free(gs->slots);
        gs->slots = sl;
        gs->scap = nc;
    }
    uint32_t h = key_hash(tb, name);
    size_t j = h & (gs->scap - 1);
    for (; gs->slots[j]; j = (j + 1) & (gs->scap - 1)) {
        struct group *g = &gs->v[gs->slots[j] - 1];
        if (g->hash == h && key_eq(g, tb, name))
            return g;
    }
    if (gs->n == gs->cap) {
        size_t nc = gs->cap ? gs->cap * 2 : 64;
        struct group *nv = realloc(gs->v, nc * sizeof *nv);
        if (!nv)
            return NULL;
        gs->v = nv;
        gs->cap = nc;
    }
    struct group *g = &gs->v[gs->n];
    memset(g, 0, sizeof *g);
    g->tb = tb;
    g->name = name;
    g->hash = h;
    gs->slots[j] = (uint32_t)++gs->n;
    return g;
}

/* A one-frame traceback (file, line or 0) for LINENO/FILENAME groups. */
static const rcgc_traceback *one_frame(rcgc_stats *r, const rcgc__frame *f, bool lineno)
{
    struct rcgc_traceback *tb = chunk_alloc(NULL, &r->chunks, sizeof *tb + sizeof(rcgc__frame));
    if (!tb)
        return NULL;
    memset(tb, 0, sizeof *tb + sizeof(rcgc__frame));
    tb->nframe = tb->total_nframe = 1;
    tb->frames[0].file = f->file;
    /* Group by (file, line): the function would split a line's group. */
    tb->frames[0].func = lineno ? f->func : UNKNOWN;
    tb->frames[0].line = lineno ? f->line : 0;
    return tb;
}

/* Count snapshot s into gs (as 'old' or new). */
static rcgc_status count_into(const rcgc_snapshot *s, rcgc_stat_key key, bool cumulative,
                              bool old, struct groups *gs, rcgc_stats *r)
{
    if (key > RCGC_STAT_TAG)
        return RCGC_EINVAL;
    if (cumulative && key != RCGC_STAT_FILENAME && key != RCGC_STAT_LINENO)
        return RCGC_EINVAL;
    size_t nkeys = key == RCGC_STAT_TYPE || key == RCGC_STAT_TAG ? s->nstrs + 1 : s->ntbs;
    double *sz = calloc(nkeys ? nkeys : 1, sizeof *sz), *ct = calloc(nkeys ? nkeys : 1, sizeof *ct);
    rcgc_status st = RCGC_ENOMEM;
    if (!sz || !ct)
        goto out;
    /* Pass 1: per traceback (or per name) totals, no hashing. */
    for (size_t i = 0; i < s->ntraces; i++) {
        const rcgc__snaptrace *t = &s->traces[i];
        size_t k = key == RCGC_STAT_TYPE ? t->type : key == RCGC_STAT_TAG ? t->tag : t->tb;
        sz[k] += (double)t->size * (double)t->weight;
        ct[k] += (double)t->weight;
    }
    /* Pass 2: fold into groups by content. */
    for (size_t k = 0; k < nkeys; k++) {
        if (ct[k] == 0)
            continue;
        if (key == RCGC_STAT_TYPE || key == RCGC_STAT_TAG) {
            const char *name = k && k < s->nstrs ? s->strs[k] : NULL;
            if (!name)
                name = key == RCGC_STAT_TYPE ? "<raw>" : "<untagged>";
            struct group *g = group_of(gs, NULL, name);
            if (!g)
                goto out;
            if (old) {
                g->old_size += sz[k], g->old_count += ct[k], g->in_old = true;
            } else {
                g->size += sz[k], g->count += ct[k], g->in_new = true;
            }
            continue;
        }
        const rcgc_traceback *tb = s->tbs[k];
        uint32_t nf = key == RCGC_STAT_TRACEBACK || !cumulative ? 1 : tb->nframe;
        for (uint32_t i = 0; i < nf; i++) {
            const rcgc_traceback *gk = tb;
            _Alignas(16) unsigned char tmpbuf[sizeof(rcgc_traceback) + sizeof(rcgc__frame)];
            rcgc_traceback *tmp = (rcgc_traceback *)(void *)tmpbuf;
            if (key != RCGC_STAT_TRACEBACK) {
                /* Probe with a stack key; allocate only for a new group. */
                memset(tmpbuf, 0, sizeof tmpbuf);
                tmp->nframe = tmp->total_nframe = 1;
                tmp->frames[0] = tb->frames[i];
                if (key == RCGC_STAT_FILENAME) {
                    tmp->frames[0].line = 0;
                    tmp->frames[0].func = UNKNOWN;
                }
                tmp->frames[0].pc = 0;
                gk = tmp;
            }
            struct group *g = group_of(gs, gk, NULL);
            if (!g)
                goto out;
            if (g->tb == tmp) {
                g->tb = one_frame(r, &tb->frames[i], key == RCGC_STAT_LINENO);
                if (!g->tb)
                    goto out;
            }
            if (old) {
                g->old_size += sz[k], g->old_count += ct[k], g->in_old = true;
            } else {
                g->size += sz[k], g->count += ct[k], g->in_new = true;
            }
        }
    }
    st = RCGC_OK;
out:
    free(sz);
    free(ct);
    return st;
}

static int key_cmp(const rcgc_stat *a, const rcgc_stat *b)
{
    if (a->traceback && b->traceback)
        return tb_cmp(a->traceback, b->traceback);
    return strcmp(a->name ? a->name : "", b->name ? b->name : "");
}

#define CMP_DESC(x, y)                                                        \
    do {                                                                      \
        if ((x) != (y))                                                       \
            return (x) > (y) ? -1 : 1;                                        \
    } while (0)

static int stat_order(const void *pa, const void *pb)
{
    const rcgc_stat *a = pa, *b = pb;
    CMP_DESC(a->size, b->size);
    CMP_DESC(a->count, b->count);
    return -key_cmp(a, b);
}

static uint64_t abs64(int64_t v)
{
    return v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
}

static int diff_order(const void *pa, const void *pb)
{
    const rcgc_stat *a = pa, *b = pb;
    CMP_DESC(abs64(a->size_diff), abs64(b->size_diff));
    CMP_DESC(a->size, b->size);
    CMP_DESC(abs64(a->count_diff), abs64(b->count_diff));
    CMP_DESC(a->count, b->count);
    return -key_cmp(a, b);
}

static uint64_t round_u64(double v)
{
    return v <= 0 ? 0 : (uint64_t)llround(v);
}

static rcgc_status make_stats(const rcgc_snapshot *s, const rcgc_snapshot *old,
                              rcgc_stat_key key, bool cumulative, rcgc_stats **out)
{
    *out = NULL;
    if (!s || key > RCGC_STAT_TAG)
        return RCGC_EINVAL;
    if (cumulative && key != RCGC_STAT_FILENAME && key != RCGC_STAT_LINENO)
        return RCGC_EINVAL; /* "cannot group by traceback cumulatively" */
    rcgc_stats *r = calloc(1, sizeof *r);
    struct groups gs = {0};
    rcgc_status st = r ? RCGC_OK : RCGC_ENOMEM;
    if (st == RCGC_OK)
        st = count_into(s, key, cumulative, false, &gs, r);
    if (st == RCGC_OK && old)
        st = count_into(old, key, cumulative, true, &gs, r);
    if (st == RCGC_OK) {
        r->items = calloc(gs.n ? gs.n : 1, sizeof *r->items);
        if (!r->items)
            st = RCGC_ENOMEM;
    }
    if (st == RCGC_OK) {
        for (size_t i = 0; i < gs.n; i++) {
            const struct group *g = &gs.v[i];
            rcgc_stat *o = &r->items[r->n++];
            o->traceback = g->tb;
            o->name = g->name;
            o->size = round_u64(g->size);
            o->count = round_u64(g->count);
            if (old) {
                o->size_diff = (int64_t)o->size - (int64_t)round_u64(g->old_size);
                o->count_diff = (int64_t)o->count - (int64_t)round_u64(g->old_count);
            }
        }
        qsort(r->items, r->n, sizeof *r->items, old ? diff_order : stat_order);
    }
    free(gs.v);
    free(gs.slots);
    if (st != RCGC_OK) {
        rcgc_stats_free(r);
        return st;
    }
    *out = r;
    return RCGC_OK;
}

rcgc_status rcgc_snapshot_statistics(const rcgc_snapshot *s, rcgc_stat_key key,
                                     bool cumulative, rcgc_stats **out)
{
    return make_stats(s, NULL, key, cumulative, out);
}

rcgc_status rcgc_snapshot_compare_to(const rcgc_snapshot *s, const rcgc_snapshot *old,
                                     rcgc_stat_key key, bool cumulative, rcgc_stats **out)
{
    if (!old) {
        *out = NULL;
        return RCGC_EINVAL;
    }
    return make_stats(s, old, key, cumulative, out);
}

size_t rcgc_stats_count(const rcgc_stats *st)
{
    return st ? st->n : 0;
}

const rcgc_stat *rcgc_stats_get(const rcgc_stats *st, size_t i)
{
    return st && i < st->n ? &st->items[i] : NULL;
}

void rcgc_stats_free(rcgc_stats *st)
{
    if (!st)
        return;
    free(st->items);
    chunks_free(st->chunks);
    free(st);
}

/* ===================================================================== */
/* Text forms                                                            */
/* ===================================================================== */

/* tracemalloc's _format_size. */
static int format_size(char *buf, size_t cap, double size, bool sign)
{
    static const char units[5][4] = {"B", "KiB", "MiB", "GiB", "TiB"};
    for (int u = 0; u < 5; u++) {
        if (fabs(size) < 100 && u != 0)
            return snprintf(buf, cap, sign ? "%+.1f %s" : "%.1f %s", size, units[u]);
        if (fabs(size) < 10 * 1024 || u == 4)
            return snprintf(buf, cap, sign ? "%+.0f %s" : "%.0f %s", size, units[u]);
        size /= 1024;
    }
    return 0;
}

int rcgc_stat_format(const rcgc_stat *stat, bool diff, char *buf, size_t cap)
{
    char key[512], sz[48], szd[48], avg[64];
    if (stat->traceback) {
        /* str(Traceback) is its first (oldest) frame. */
        rcgc_frame f = rcgc_traceback_frame(stat->traceback, 0);
        snprintf(key, sizeof key, "%s:%u", f.filename, f.lineno);
    } else {
        snprintf(key, sizeof key, "%s", stat->name ? stat->name : "?");
    }
    format_size(sz, sizeof sz, (double)stat->size, false);
    avg[0] = '\0';
    if (stat->count) {
        char a[48];
        format_size(a, sizeof a, (double)stat->size / (double)stat->count, false);
        snprintf(avg, sizeof avg, ", average=%s", a);
    }
    if (!diff)
        return snprintf(buf, cap, "%s: size=%s, count=%llu%s", key, sz,
                        (unsigned long long)stat->count, avg);
    format_size(szd, sizeof szd, (double)stat->size_diff, true);
    return snprintf(buf, cap, "%s: size=%s (%s), count=%llu (%+lld)%s", key, sz, szd,
                    (unsigned long long)stat->count, (long long)stat->count_diff, avg);
}

/* ===================================================================== */
/* Filters                                                               */
/* ===================================================================== */

/* ".pyc" reads as ".py" (tracemalloc's _normalize_filename). */
static const char *normalize(const char *name, char *buf, size_t cap)
{
    size_t n = strlen(name);
    if (n >= 4 && strcmp(name + n - 4, ".pyc") == 0 && n < cap) {
        memcpy(buf, name, n - 1);
        buf[n - 1] = '\0';
        return buf;
    }
    return name;
}

static bool match_frame_impl(const rcgc_trace_filter *f, const char *pattern,
                             const rcgc__frame *fr)
{
    char nb[4096];
    const char *name = normalize(fr->file, nb, sizeof nb);
    if (fnmatch(pattern, name, FNM_NOESCAPE) != 0)
        return false;
    return f->lineno < 0 || fr->line == (unsigned)f->lineno;
}

static bool match_traceback(const rcgc_trace_filter *f, const char *pattern,
                            const rcgc_traceback *tb)
{
    if (f->all_frames) {
        for (uint32_t i = 0; i < tb->nframe; i++)
            if (match_frame_impl(f, pattern, &tb->frames[i]))
                return f->inclusive;
        return !f->inclusive;
    }
    return match_frame_impl(f, pattern, &tb->frames[0]) ^ !f->inclusive;
}

/* Filter._match / DomainFilter._match; tbres caches the traceback part. */
static bool filter_match(const rcgc_trace_filter *f, const char *pattern,
                         const rcgc_snapshot *s, const rcgc__snaptrace *t, signed char *tbres)
{
    if (!f->filename_pattern)
        return (f->has_domain && t->domain == f->domain) ^ !f->inclusive;
    if (tbres[t->tb] < 0)
        tbres[t->tb] = (signed char)match_traceback(f, pattern, s->tbs[t->tb]);
    bool res = tbres[t->tb] != 0;
    if (f->has_domain)
        return f->inclusive ? res && t->domain == f->domain : res || t->domain != f->domain;
    return res;
}

/* Copy traceback 'id' of s into d (ids mapped through map, 0 = not yet). */
static bool map_tb(rcgc_snapshot *d, const rcgc_snapshot *s, uint32_t id, uint32_t *map,
                   rcgc__frame *scratch)
{
    if (map[id])
        return true;
    const rcgc_traceback *tb = s->tbs[id];
    for (uint32_t i = 0; i < tb->nframe; i++) {
        scratch[i] = tb->frames[i];
        scratch[i].file = sstr(d, tb->frames[i].file);
        scratch[i].func = sstr(d, tb->frames[i].func);
        if (!scratch[i].file || !scratch[i].func)
            return false;
    }
    uint32_t nid;
    if (!rcgc__snap_tb(d, scratch, tb->nframe, tb->total_nframe, &nid))
        return false;
    map[id] = nid + 1;
    return true;
}

rcgc_status rcgc_snapshot_filter(const rcgc_snapshot *s, const rcgc_trace_filter *filters,
                                 size_t nfilters, rcgc_snapshot **out)
{
    *out = NULL;
    if (!s || (nfilters && !filters))
        return RCGC_EINVAL;
    rcgc_snapshot *d = rcgc_snapshot_new(s->limit);
    if (!d)
        return RCGC_ENOMEM;
    d->sample_mean = s->sample_mean;
    rcgc_status st = RCGC_ENOMEM;
    size_t maxf = 1;
    for (size_t i = 0; i < s->ntbs; i++)
        if (s->tbs[i]->nframe > maxf)
            maxf = s->tbs[i]->nframe;
    uint32_t *tbmap = calloc(s->ntbs + 1, sizeof *tbmap);
    uint32_t *strmap = calloc(s->nstrs + 1, sizeof *strmap);
    rcgc__frame *scratch = malloc(maxf * sizeof *scratch);
    signed char *tbres = malloc((nfilters ? nfilters : 1) * (s->ntbs + 1));
    char **pats = calloc(nfilters ? nfilters : 1, sizeof *pats);
    if (!tbmap || !strmap || !scratch || !tbres || !pats)
        goto out;
    memset(tbres, -1, (nfilters ? nfilters : 1) * (s->ntbs + 1));
    bool any_incl = false;
    for (size_t i = 0; i < nfilters; i++) {
        if (filters[i].filename_pattern) {
            size_t n = strlen(filters[i].filename_pattern);
            pats[i] = malloc(n + 1);
            if (!pats[i])
                goto out;
            char nb[4096];
            const char *p = normalize(filters[i].filename_pattern, nb, sizeof nb);
            memcpy(pats[i], p, strlen(p) + 1);
        }
        any_incl |= filters[i].inclusive;
    }
    for (size_t i = 0; i < s->ntraces; i++) {
        const rcgc__snaptrace *t = &s->traces[i];
        bool keep = true;
        if (any_incl) {
            keep = false;
            for (size_t k = 0; k < nfilters && !keep; k++)
                if (filters[k].inclusive &&
                    filter_match(&filters[k], pats[k], s, t, tbres + k * (s->ntbs + 1)))
                    keep = true;
        }
        for (size_t k = 0; k < nfilters && keep; k++)
            if (!filters[k].inclusive &&
                !filter_match(&filters[k], pats[k], s, t, tbres + k * (s->ntbs + 1)))
                keep = false;
        if (!keep)
            continue;
        rcgc__snaptrace c = *t;
        if (!map_tb(d, s, t->tb, tbmap, scratch))
            goto out;
        c.tb = tbmap[t->tb] - 1;
        uint32_t *ids[2] = {&c.type, &c.tag};
        for (int j = 0; j < 2; j++) {
            uint32_t sid = *ids[j];
            if (!sid)
                continue;
            if (!strmap[sid] && !(strmap[sid] = rcgc__snap_str(d, s->strs[sid],
                                                               strlen(s->strs[sid]))))
                goto out;
            *ids[j] = strmap[sid];
        }
        if (!rcgc__snap_push(d, &c))
            goto out;
    }
    st = RCGC_OK;
out:
    if (pats)
        for (size_t i = 0; i < nfilters; i++)
            free(pats[i]);
    free(pats);
    free(tbmap);
    free(strmap);
    free(scratch);
    free(tbres);
    if (st != RCGC_OK) {
        rcgc_snapshot_free(d);
        return st;
    }
    *out = d;
    return RCGC_OK;
}
