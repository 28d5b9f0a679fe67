/*
** worker.c -- one pre-forked worker: its heap, its HTTP loop, per-view
** attribution and the leak detector.
**
** A worker is a single-threaded process. It binds its own SO_REUSEPORT
** socket, runs libmicrohttpd in external-polling mode (MHD_USE_EPOLL, no MHD
** threads) from its own epoll loop, and owns one rcgc heap (inherited from
** the master, which built the application state in it before fork). The
** collector runs only at the safe point between requests
** (RCGC_TRIGGER_SAFEPOINT), so no collection ever lands inside a view.
** Everything here writes only this worker's slot of the shared region.
*/
#include "views.h"

#include <rcgc_kit.h>

#include <errno.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

worker *views_worker;

/* Tracing: the view's host frame plus three call-site frames; sampled mode
** takes one sample per 64 KiB allocated on average (tracemalloc has no
** sampling; 64 KiB keeps per-view byte estimates usable at a few requests). */
#define TRACE_FRAMES 4
/* Escapes of a view described with type, chain and site: one in this many. */
#define ESCAPE_EVERY 16
/* Seconds between two censuses of the tracked objects (/metrics by type). */
#define CENSUS_EVERY 5
#define TRACE_SAMPLE_BYTES (64u * 1024u)

/* Exit codes the master reads: a worker recycled by --max-requests or
** --max-rss exits with EXIT_RECYCLE; anything else but 0 is a crash. */
#define EXIT_RECYCLE 3

/* ===================================================================== */
/* Logging                                                               */
/* ===================================================================== */

static void timestamp(char *out, size_t size)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, size - n, ".%03dZ", (int)(ts.tv_nsec / 1000000) % 1000);
}

/* One line on stderr. In JSON mode the formatted text goes into "msg". */
void views_log(const char *event, const char *fmt, ...)
{
    char msg[768], ts[40];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    timestamp(ts, sizeof ts);
    worker *w = views_worker;
    if (views_log_json) {
        vbuf b;
        vbuf_init(&b);
        vbuf_printf(&b, "{\"ts\":\"%s\",\"pid\":%d,", ts, (int)getpid());
        if (w)
            vbuf_printf(&b, "\"worker\":%d,", w->index);
        else
            vbuf_puts(&b, "\"role\":\"master\",");
        vbuf_puts(&b, "\"event\":");
        vbuf_json_str(&b, event, strlen(event));
        vbuf_puts(&b, ",\"msg\":");
        vbuf_json_str(&b, msg, strlen(msg));
        vbuf_puts(&b, "}\n");
        if (b.data)
            fputs(b.data, stderr);
        vbuf_fini(&b);
    } else if (w) {
        fprintf(stderr, "%s worker=%d pid=%d %s %s\n", ts, w->index, (int)getpid(), event, msg);
    } else {
        fprintf(stderr, "%s master pid=%d %s %s\n", ts, (int)getpid(), event, msg);
    }
}

/* ===================================================================== */
/* Heap figures the attribution reads                                    */
/* ===================================================================== */

/* Live tracked objects (every generation plus the frozen set). */
static uint64_t tracked_total(rcgc_heap *h)
{
    return rcgc_gc_generation_size(h, -1) + rcgc_gc_get_freeze_count(h);
}

/* Net new tracked objects since the last young collection (the collector's
** count0, O(1); generation sizes walk their lists). No collection runs
** inside a view (safe-point trigger), so its difference across a view is the
** view's net change in tracked objects. */
static int64_t young_count(rcgc_heap *h)
{
    size_t c[3];
    rcgc_gc_get_count(h, c);
    return (int64_t)c[0];
}

/* Live blocks and bytes of the heap (objects and raw blocks, atomic objects
** included): the allocator's statistics, a walk over its pools. */
typedef struct live_fig {
    int64_t blocks, bytes;
} live_fig;

static live_fig live_now(rcgc_heap *h)
{
    rcgc_mem_stats ms;
    memset(&ms, 0, sizeof ms);
    ms.struct_size = sizeof ms;
    rcgc_mem_stats_get(h, &ms);
    /* The tracer keeps its tables in the heap: they are not the views'. */
    live_fig f = {(int64_t)ms.live_blocks,
                  (int64_t)ms.live_bytes - (int64_t)rcgc_trace_get_tracer_memory(h)};
    return f;
}

#ifndef VIEWS_MALLOC
/* MHD is done with a JSON body encoded into the heap. */
static void free_body(void *body)
{
    rcgc_free(views_worker->heap, body);
}
#endif

int views_gc_cause = GC_AUTO;

/* Per-request accumulators the GC callback adds to. */
static struct {
    uint64_t gc_ns;
    unsigned gc_runs;
} cur;

static int gc_callback(rcgc_heap *h, rcgc_gc_phase phase, const rcgc_gc_info *info, void *ctx)
{
    (void)h;
    worker *w = ctx;
    if (phase != RCGC_GC_STOP)
        return 0;
    worker_slot *s = w->slot;
    uint64_t us = info->duration_ns / 1000u;
    int b = 0;
    while (b < VIEWS_PAUSE_BUCKETS && us > views_pause_bucket_us[b])
        b++;
    s->pause_bucket[b]++;
    s->pause_count++;
    s->pause_sum_ns += info->duration_ns;
    if (info->duration_ns > s->pause_max_ns)
        s->pause_max_ns = info->duration_ns;
    gc_timeline *tl = &w->shm->timelines[w->index];
    gc_event *e = &tl->ev[tl->next % VIEWS_GC_TIMELINE];
    /* A seqlock of one writer: a reader that sees 0 or another seq, before
    ** or after copying the event, skips it. */
    __atomic_store_n(&e->seq, 0, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    e->t_us = now_us() - info->duration_ns / 1000u;
    e->dur_us = (uint32_t)(us > UINT32_MAX ? UINT32_MAX : us);
    e->collected = (uint32_t)info->collected;
    e->generation = info->generation;
    e->cause = (uint8_t)views_gc_cause;
    e->increment = info->increment;
    __atomic_store_n(&e->seq, tl->next + 1, __ATOMIC_RELEASE);
    __atomic_store_n(&tl->next, tl->next + 1, __ATOMIC_RELEASE);
    cur.gc_ns += info->duration_ns;
    cur.gc_runs++;
    if (w->cfg->gc_log)
        views_log("gc", "generation=%d collected=%zu uncollectable=%zu candidates=%zu "
                        "elapsed_ms=%.3f",
                  info->generation, info->collected, info->uncollectable, info->candidates,
                  (double)info->duration_ns / 1e6);
    return 0;
}

/* Copy the collector's figures and /proc's into this worker's slot. */
static void publish(worker *w, bool proc)
{
    worker_slot *s = w->slot;
    rcgc_heap *h = w->heap;
    for (int g = 0; g < 3; g++) {
        rcgc_gc_stats st;
        rcgc_gc_get_stats(h, g, &st);
        s->gc_collections[g] = st.collections;
        s->gc_collected[g] = st.collected;
        s->gc_uncollectable[g] = st.uncollectable;
        s->gen_size[g] = rcgc_gc_generation_size(h, g);
    }
    size_t count[3];
    unsigned th[3];
    rcgc_gc_get_count(h, count);
    rcgc_gc_get_threshold(h, th);
    for (int g = 0; g < 3; g++) {
        s->gc_count[g] = count[g];
        s->threshold[g] = th[g];
    }
    s->frozen = rcgc_gc_get_freeze_count(h);
    s->tracked = tracked_total(h);
    s->gc_enabled = rcgc_gc_is_enabled(h);
    s->gc_mode = (uint32_t)rcgc_gc_get_mode(h, NULL);
    s->allocs = rcgc_fault_allocations(h);
    if (proc) {
        stats_read_proc(s, getpid());
        rcgc_mem_stats ms;
        memset(&ms, 0, sizeof ms);
        ms.struct_size = sizeof ms;
        rcgc_mem_stats_get(h, &ms);
        s->heap_live_bytes = ms.live_bytes;
        s->heap_committed_bytes = ms.committed_bytes;
        s->heap_pool_free_bytes = ms.pool_free_bytes;
    }
}

/* ===================================================================== */
/* Leak detector and escape detection                                    */
/* ===================================================================== */

/*
** A sampled request runs between two collections: a generation-1 collection
** before the view empties the young generations, so after the view the young
** generation holds exactly the tracked objects the request created; a
** generation-0 collection after it frees the request's garbage, cycles
** included, and moves the survivors to generation 1. What generation 1 then
** holds escaped the request (escape detection: its type and a referrer chain
** are kept). Escaping is not leaking -- a capped log or a bounded cache lets
** one entry in and one out -- so the verdict uses the net change of live
** tracked objects across the sampled request (after both collections): it
** fits the cumulative net retained objects against the sampled request count,
** and a view whose figure keeps growing (slope >= LEAK_SLOPE objects per
** request over at least LEAK_MIN_SAMPLES samples after LEAK_WARMUP) leaks.
*/
/* Ten samples of warm-up let lazily filled structures (a module-level list
** created on first use, a log or cache filling up to its cap) settle first. */
#define LEAK_WARMUP 10
#define LEAK_MIN_SAMPLES 6
#define LEAK_SLOPE 0.5

typedef struct leak_state {
    uint64_t n;                        /* samples after warm-up */
    int64_t cum;                       /* cumulative escaped objects */
    double x[VIEWS_LEAK_WINDOW], y[VIEWS_LEAK_WINDOW];
} leak_state;

static leak_state leaks[VIEWS_MAX_ROUTES];

void leak_record(int ri, int64_t retained, int64_t retained_bytes, int64_t escaped,
                 const char *type, const char *chain)
{
    worker *w = views_worker;
    view_stats *vs = &w->slot->views[ri];
    leak_state *ls = &leaks[ri];
    vs->sampled++;
    vs->retained += retained;
    vs->retained_bytes += retained_bytes;
    if (escaped > 0) {
        vs->escapes++;
        if (type)
            snprintf(vs->escape_type, sizeof vs->escape_type, "%s", type);
        if (chain && chain[0])
            snprintf(vs->escape_chain, sizeof vs->escape_chain, "%s", chain);
    }
    if (vs->sampled <= LEAK_WARMUP)
        return;
    ls->cum += retained;
    unsigned i = (unsigned)(ls->n % VIEWS_LEAK_WINDOW);
    ls->x[i] = (double)ls->n;
    ls->y[i] = (double)ls->cum;
    ls->n++;
    unsigned m = ls->n < VIEWS_LEAK_WINDOW ? (unsigned)ls->n : VIEWS_LEAK_WINDOW;
    if (m < LEAK_MIN_SAMPLES)
        return;
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (unsigned k = 0; k < m; k++) {
        sx += ls->x[k];
        sy += ls->y[k];
        sxx += ls->x[k] * ls->x[k];
        sxy += ls->x[k] * ls->y[k];
    }
    double den = m * sxx - sx * sx;
    double slope = den > 0 ? (m * sxy - sx * sy) / den : 0;
    vs->slope = (float)slope;
    vs->leak = slope >= LEAK_SLOPE;
}

typedef struct pick {
    void *obj;
} pick;

static int pick_last(void *obj, void *arg)
{
    ((pick *)arg)->obj = obj;
    return 0;
}

static int stop_at_first(void *obj, void *arg)
{
    ((pick *)arg)->obj = obj;
    return 1;
}

/* The escaped objects of a sampled request by type: right after its young
** collection they are exactly generation 1, so the walk is as long as what
** escaped. Summed into the view's survivor types. */
static void tally_survivors(rcgc_heap *h, view_stats *vs)
{
    census *c = calloc(1, sizeof *c);
    if (!c)
        return;
    rcgc_gc_visit_objects(h, 1, census_visit, c);
    for (int i = 0; i < c->n; i++)
        survivors_add(vs->survivors, VIEWS_SURVIVOR_TYPES, c->type[i]->name, c->count[i],
                      c->bytes[i]);
    free(c);
}

/* "list <- dict <- module global 'cache'": from obj up its first referrer,
** at most 6 steps. A chain that ends without a referrer ends at an object
** held from outside the heap's tracked objects (a C global or a frame). */
void referrer_chain(rcgc_heap *h, void *obj, char *out, size_t size)
{
    size_t used = 0;
    void *seen[8];
    int nseen = 0;
    out[0] = '\0';
    for (int depth = 0; obj && depth < 7; depth++) {
        const char *root = app_root_name(obj);
        int n;
        if (root) {
            n = snprintf(out + used, size - used, "%s%s (module global '%s')", depth ? " <- " : "",
                         rcgc_type_of(obj)->name, root);
            return;
        }
        n = snprintf(out + used, size - used, "%s%s", depth ? " <- " : "", rcgc_type_of(obj)->name);
        if (n < 0 || (size_t)n >= size - used)
            return;
        used += (size_t)n;
        seen[nseen++] = obj;
        pick p = {NULL};
        rcgc_gc_get_referrers(h, obj, stop_at_first, &p);
        for (int i = 0; i < nseen && p.obj; i++)
            if (seen[i] == p.obj)
                p.obj = NULL;
        if (!p.obj) {
            snprintf(out + used, size - used, " <- (no tracked referrer: held by C code or an "
                                              "untracked object)");
            return;
        }
        obj = p.obj;
    }
}

/* ===================================================================== */
/* Requests                                                              */
/* ===================================================================== */

typedef struct conn_state {
    vbuf body;
    bool too_large;
    bool responded;            /* a 413 went out before the body was read */
} conn_state;

static uint64_t inflight;

vobj *req_json(view_request *r)
{
    char msg[128];
    int line = 0, col = 0;
    vobj *o = NULL;
    if (!r->body || !r->body_len)
        return view_fail(r, 400, "a JSON body is required");
    if (v_from_json(r->heap, r->body, r->body_len, &o, &line, &col, msg, sizeof msg)) {
        r->err_line = line;
        r->err_col = col;
        return view_fail(r, 400, "invalid JSON: %s", msg);
    }
    return o;
}

static struct MHD_Response *json_response(const char *body, size_t len, bool must_free)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, (void *)body, must_free ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (resp)
        MHD_add_response_header(resp, "Content-Type", "application/json");
    return resp;
}

static struct MHD_Response *error_response(int status, const view_request *r)
{
    vbuf b;
    vbuf_init(&b);
    vbuf_printf(&b, "{\"status\":%d,\"error\":", status);
    vbuf_json_str(&b, r->error, strlen(r->error));
    if (r->err_line)
        vbuf_printf(&b, ",\"line\":%d,\"column\":%d", r->err_line, r->err_col);
    vbuf_puts(&b, "}\n");
    if (b.oom) {
        vbuf_fini(&b);
        return json_response("{\"status\":500,\"error\":\"out of memory\"}\n", 39, false);
    }
    size_t len;
    char *d = vbuf_take(&b, &len);
    return json_response(d, len, true);
}

static void log_request(worker *w, const char *method, const char *url, const char *view,
                        int status, uint64_t us, uint64_t allocs, int64_t tracked,
                        const live_fig *retained, size_t out)
{
    if (!w->cfg->access_log)
        return;
    char ts[40];
    timestamp(ts, sizeof ts);
    if (w->cfg->log_json) {
        vbuf b;
        vbuf_init(&b);
        vbuf_printf(&b, "{\"ts\":\"%s\",\"event\":\"request\",\"worker\":%d,\"pid\":%d,\"method\":",
                    ts, w->index, (int)getpid());
        vbuf_json_str(&b, method, strlen(method));
        vbuf_puts(&b, ",\"path\":");
        vbuf_json_str(&b, url, strlen(url));
        vbuf_puts(&b, ",\"view\":");
        vbuf_json_str(&b, view, strlen(view));
        vbuf_printf(&b, ",\"status\":%d,\"us\":%llu,\"allocs\":%llu,\"tracked_delta\":%lld,"
                        "\"bytes_out\":%zu",
                    status, (unsigned long long)us, (unsigned long long)allocs,
                    (long long)tracked, out);
        if (retained)
            vbuf_printf(&b, ",\"retained_blocks\":%lld,\"retained_bytes\":%lld",
                        (long long)retained->blocks, (long long)retained->bytes);
        vbuf_puts(&b, "}\n");
        if (b.data)
            fputs(b.data, stderr);
        vbuf_fini(&b);
    } else {
        char ret[64] = "";
        if (retained)
            snprintf(ret, sizeof ret, " retained_blocks=%+lld retained_bytes=%+lld",
                     (long long)retained->blocks, (long long)retained->bytes);
        fprintf(stderr, "%s worker=%d pid=%d request %s %s view=%s status=%d us=%llu allocs=%llu "
                        "tracked_delta=%+lld bytes_out=%zu%s\n",
                ts, w->index, (int)getpid(), method, url, view, status, (unsigned long long)us,
                (unsigned long long)allocs, (long long)tracked, out, ret);
    }
}

static enum MHD_Result respond(struct MHD_Connection *c, int status, struct MHD_Response *resp)
{
    if (!resp)
        return MHD_NO;
    if (views_worker->draining)
        MHD_add_response_header(resp, "Connection", "close");
    char wk[16];
    snprintf(wk, sizeof wk, "%d", views_worker->index);
    MHD_add_response_header(resp, "X-Rcgc-Worker", wk);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Encode a view's value as the JSON response (the value's reference is
** dropped). Returns the status; *resp NULL only when out of memory. The
** body lives in the heap until MHD has sent it; *body gets its block. */
static int encode_body(worker *w, vobj *res, view_request *r, struct MHD_Response **resp,
                       size_t *out_len, live_fig *body)
{
    rcgc_heap *h = w->heap;
    int status;
#ifdef VIEWS_MALLOC
    (void)h;
    (void)body;
    vbuf b;
    vbuf_init(&b);
    int rc = v_to_json(res, &b);
    vbuf_put(&b, "\n", 1);
    v_unref(res);
    if (rc || b.oom) {
        vbuf_fini(&b);
        snprintf(r->error, sizeof r->error, "could not serialise the response");
        *resp = error_response(500, r);
        return 500;
    }
    status = r->status ? r->status : 200;
    char *d = vbuf_take(&b, out_len);
    *resp = json_response(d, *out_len, true);
#else
    rcgc_kit_buf kb;
    rcgc_kit_buf_init(&kb, h);
    rcgc_status st = rcgc_json_encode(res, &kb, NULL, NULL);
    rcgc_kit_buf_append(&kb, "\n", 1);
    rcgc_unref(res);
    if (st != RCGC_OK || kb.status != RCGC_OK) {
        rcgc_kit_buf_fini(&kb);
        snprintf(r->error, sizeof r->error, "could not serialise the response: %s",
                 rcgc_strerror(st != RCGC_OK ? st : kb.status));
        *resp = error_response(500, r);
        return 500;
    }
    status = r->status ? r->status : 200;
    *out_len = kb.len;
    body->blocks = 1;
    body->bytes = (int64_t)rcgc_usable_size(h, kb.data);
    *resp = MHD_create_response_from_buffer_with_free_callback_cls(kb.len, kb.data, free_body,
                                                                  kb.data);
    if (*resp)
        MHD_add_response_header(*resp, "Content-Type", "application/json");
    else
        rcgc_kit_buf_fini(&kb);
#endif
    return status;
}

static enum MHD_Result handle(worker *w, struct MHD_Connection *c, const char *url,
                              const char *method, conn_state *cs)
{
    rcgc_heap *h = w->heap;
    view_request r;
    memset(&r, 0, sizeof r);
    r.heap = h;
    r.conn = c;
    r.method = method;
    r.path = url;
    r.body = cs->body.data;
    r.body_len = cs->body.len;
    uint64_t t0 = now_ns();
    unsigned allowed = 0;
    int status = router_match(url, method, &r, &allowed);
    if (!status && cs->too_large) {
        status = 413;
        snprintf(r.error, sizeof r.error, "request body larger than %zu bytes",
                 w->cfg->max_body_bytes);
    }
    if (status) {
        struct MHD_Response *resp = error_response(status, &r);
        if (resp && status == 405) {
            char allow[64];
            methods_str(allowed, allow, sizeof allow);
            MHD_add_response_header(resp, "Allow", allow);
        }
        w->slot->requests++;
        log_request(w, method, url, "-", status, (now_ns() - t0) / 1000u, 0, 0, NULL, 0);
        return respond(c, status, resp);
    }

    const route *rt = router_get(r.route);
    view_stats *vs = &w->slot->views[r.route];
    bool sampled = w->cfg->leak_sample && !rt->internal &&
                   vs->requests % w->cfg->leak_sample == 0;
    live_fig sample0 = {0, 0};
    if (sampled) {
        views_gc_cause = GC_LEAK_SAMPLE;
        rcgc_gc_collect(h, 1);
        views_gc_cause = GC_AUTO;
        sample0 = live_now(h);
    }
    cur.gc_ns = 0;
    cur.gc_runs = 0;
    /* Tracing: every allocation of the view carries its name as the tag and
    ** a host frame "<pattern>:0 in <view>" above the allocating call site. */
    bool traced = rcgc_trace_is_tracing(h);
    size_t traced0 = 0, peak = 0;
    if (traced) {
        rcgc_trace_tag_push(h, rt->name);
        rcgc_trace_frame_push(h, rt->pattern, 0, rt->name);
        rcgc_trace_reset_peak(h);
        rcgc_trace_get_traced_memory(h, &traced0, &peak);
    }
    uint64_t allocs0 = rcgc_fault_allocations(h), bytes0 = rcgc_allocated_bytes(h);
    int64_t tracked0 = young_count(h);
    uint64_t tv0 = now_ns();

    vobj *res = rt->fn(&r);

    uint64_t tv1 = now_ns();
    struct MHD_Response *resp = r.response;
    size_t out_len = 0;
    /* The response body lives in the heap until MHD has sent it: one block
    ** that is not the view's, taken out of the live figures below. */
    live_fig body = {0, 0};
    if (!res && !resp) {
        status = r.status ? r.status : 500;
        if (!r.error[0])
            snprintf(r.error, sizeof r.error, "view %s failed (out of memory?)", rt->name);
        resp = error_response(status, &r);
    } else if (res) {
        status = encode_body(w, res, &r, &resp, &out_len, &body);
    } else {
        status = r.status ? r.status : 200;
    }
    uint64_t tv2 = now_ns();
    size_t traced1 = 0;
    if (traced) {
        rcgc_trace_get_traced_memory(h, &traced1, &peak);
        rcgc_trace_frame_pop(h);
        rcgc_trace_tag_pop(h);
        if (traced1 >= traced0 + (size_t)body.bytes)
            traced1 -= (size_t)body.bytes; /* the response body is not the view's */
    }
    uint64_t allocs = rcgc_fault_allocations(h) - allocs0;
    uint64_t alloc_bytes = rcgc_allocated_bytes(h) - bytes0;
    /* Every request: O(1) figures (allocations, tracked objects). Sampled
    ** requests: live blocks and bytes from the allocator's statistics, which
    ** walk its pools (too slow for every request on a large heap). */
    int64_t tracked = young_count(h) - tracked0;
    live_fig net = {0, 0};
    uint64_t gc_ns = cur.gc_ns;
    unsigned gc_runs = cur.gc_runs;

    if (sampled) {
        views_gc_cause = GC_LEAK_SAMPLE;
        rcgc_gc_collect(h, 0);
        views_gc_cause = GC_AUTO;
        int64_t escaped = (int64_t)rcgc_gc_generation_size(h, 1);
        char chain[160] = "";
        const char *type = NULL;
        if (escaped > 0)
            tally_survivors(h, vs);
        /* Each step of a referrer chain scans every tracked object: describe
        ** a view's escapes on its first one and then one in ESCAPE_EVERY. */
        if (escaped > 0 && vs->escapes % ESCAPE_EVERY == 0) {
            pick p = {NULL};
            rcgc_gc_visit_objects(h, 1, pick_last, &p);
            if (p.obj) {
                type = rcgc_type_of(p.obj)->name;
                referrer_chain(h, p.obj, chain, sizeof chain);
                /* With --trace: where it was allocated, innermost frame first
                ** (the outermost is the view's host frame). */
                const rcgc_traceback *tb =
                    traced ? rcgc_trace_get_object_traceback(h, p.obj) : NULL;
                size_t used = 0;
                vs->escape_site[0] = '\0';
                for (unsigned k = tb ? rcgc_traceback_nframe(tb) : 0; k-- > 0;) {
                    rcgc_frame f = rcgc_traceback_frame(tb, k);
                    /* Source files by base name; host frames (URL patterns) whole. */
                    size_t fl = strlen(f.filename);
                    const char *base = fl > 2 && f.filename[fl - 2] == '.'
                                           ? strrchr(f.filename, '/') : NULL;
                    int n = snprintf(vs->escape_site + used, sizeof vs->escape_site - used,
                                     "%s%s:%u in %s", used ? " <- " : "",
                                     base ? base + 1 : f.filename, f.lineno, f.function);
                    if (n < 0 || (size_t)n >= sizeof vs->escape_site - used)
                        break;
                    used += (size_t)n;
                }
            }
        }
        live_fig l2 = live_now(h);
        net.blocks = l2.blocks - sample0.blocks - body.blocks;
        net.bytes = l2.bytes - sample0.bytes - body.bytes;
        leak_record(r.route, net.blocks, net.bytes, escaped, type, chain);
    }

    if (resp) {
        char st[400];
        int n = snprintf(st, sizeof st,
                         "view;dur=%.3f;desc=\"%s\", json;dur=%.3f, alloc;desc=\"%llu "
                         "allocations, %llu bytes\", live;desc=\"%+lld tracked objects\", gc;dur=%.3f;desc=\"%u "
                         "collections\"",
                         (double)(tv1 - tv0) / 1e6, rt->name, (double)(tv2 - tv1) / 1e6,
                         (unsigned long long)allocs, (unsigned long long)alloc_bytes,
                         (long long)tracked, (double)gc_ns / 1e6,
                         gc_runs);
        if (traced && n > 0 && (size_t)n < sizeof st)
            n += snprintf(st + n, sizeof st - (size_t)n,
                          ", mem;desc=\"peak %+lld bytes, live %+lld bytes (traced)\"",
                          (long long)peak - (long long)traced0,
                          (long long)traced1 - (long long)traced0);
        if (sampled && n > 0 && (size_t)n < sizeof st)
            snprintf(st + n, sizeof st - (size_t)n,
                     ", retained;desc=\"%+lld blocks %+lld bytes after a young collection\"",
                     (long long)net.blocks, (long long)net.bytes);
        MHD_add_response_header(resp, "Server-Timing", st);
    }

    uint64_t us = (now_ns() - t0) / 1000u;
    vs->requests++;
    if (status >= 400)
        vs->errors++;
    vs->allocs += allocs;
    vs->alloc_bytes += alloc_bytes;
    vs->time_us += us;
    vs->live_delta += tracked;
    if (traced) {
        uint64_t pk = peak > traced0 ? peak - traced0 : 0;
        if (pk > vs->peak_bytes)
            vs->peak_bytes = pk;
        vs->traced_bytes_delta += (int64_t)traced1 - (int64_t)traced0;
    }
    vs->lat[lat_bucket(us)]++;
    w->slot->requests++;
    w->slot->bytes_out += out_len;
    log_request(w, method, url, rt->name, status, us, allocs, tracked, sampled ? &net : NULL,
                out_len);
    return respond(c, status, resp);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)version;
    worker *w = cls;
    conn_state *cs = *con_cls;
    if (cs && cs->responded) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (!cs) {
        cs = calloc(1, sizeof *cs);
        if (!cs)
            return MHD_NO;
        vbuf_init(&cs->body);
        *con_cls = cs;
        inflight++;
        /* A declared length above the limit is refused before reading it. */
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > w->cfg->max_body_bytes)
            cs->too_large = true;
        if (cs->too_large) {
            view_request r;
            memset(&r, 0, sizeof r);
            snprintf(r.error, sizeof r.error, "request body larger than %zu bytes",
                     w->cfg->max_body_bytes);
            w->slot->requests++;
            log_request(w, method, url, "-", 413, 0, 0, 0, NULL, 0);
            cs->responded = true;
            return respond(c, 413, error_response(413, &r));
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (cs->too_large) {
            *upload_size = 0;
            return MHD_YES;
        }
        if (cs->body.len + *upload_size > w->cfg->max_body_bytes) {
            cs->too_large = true;
            vbuf_fini(&cs->body);
        } else {
            vbuf_put(&cs->body, upload_data, *upload_size);
        }
        *upload_size = 0;
        return MHD_YES;
    }
    return handle(w, c, url, method, cs);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    conn_state *cs = *con_cls;
    if (cs) {
        vbuf_fini(&cs->body);
        free(cs);
        *con_cls = NULL;
        inflight--;
    }
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    views_log("mhd", "%s", msg);
}

/* ===================================================================== */
/* The loop                                                              */
/* ===================================================================== */

static void apply_command(worker *w)
{
    worker_slot *s = w->slot;
    uint32_t seq = s->cmd_seq;
    if (seq == s->cmd_done)
        return;
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    switch (s->cmd_op) {
    case CMD_COLLECT: {
        views_gc_cause = GC_COMMAND;
        long long n = rcgc_gc_collect(w->heap, s->cmd_arg[0]);
        views_gc_cause = GC_AUTO;
        views_log("gc-command", "collect generation=%d found=%lld", s->cmd_arg[0], n);
        break;
    }
    case CMD_ENABLE:
        rcgc_gc_enable(w->heap);
        views_log("gc-command", "enable");
        break;
    case CMD_DISABLE:
        rcgc_gc_disable(w->heap);
        views_log("gc-command", "disable");
        break;
    case CMD_THRESHOLD:
        rcgc_gc_set_threshold(w->heap, (unsigned)s->cmd_arg[0], (unsigned)s->cmd_arg[1],
                              (unsigned)s->cmd_arg[2]);
        views_log("gc-command", "threshold %d,%d,%d", s->cmd_arg[0], s->cmd_arg[1],
                  s->cmd_arg[2]);
        break;
    case CMD_REFERRERS:
        s->cmd_type[sizeof s->cmd_type - 1] = '\0';
        s->cmd_status = referrers_reply(w->heap, s->cmd_obj, s->cmd_type, s->cmd_reply,
                                        sizeof s->cmd_reply);
        break;
    default:
        break;
    }
    publish(w, false);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    s->cmd_done = seq;
}

/* Before a recycle or a stop: what each view retained, so the restart that
** hides a leak reports it first (gunicorn's --max-requests does not). */
static void leak_report(worker *w, const char *reason)
{
    int n = router_count();
    int leaking = 0;
    for (int i = 0; i < n; i++) {
        const view_stats *vs = &w->slot->views[i];
        if (!vs->requests)
            continue;
        if (vs->leak)
            leaking++;
        char surv[160] = "";
        size_t used = 0;
        for (int k = 0; k < VIEWS_SURVIVOR_TYPES && vs->survivors[k].name[0]; k++) {
            int m = snprintf(surv + used, sizeof surv - used, "%s%s:%llu", k ? "," : "",
                             vs->survivors[k].name, (unsigned long long)vs->survivors[k].count);
            if (m < 0 || (size_t)m >= sizeof surv - used)
                break;
            used += (size_t)m;
        }
        if (vs->leak || vs->escapes)
            views_log("leak-report",
                      "reason=%s view=%s requests=%llu sampled=%llu retained_objects=%lld "
                      "slope=%.2f leak=%s survivors=%s type=%s chain=\"%s\"",
                      reason, router_get(i)->name, (unsigned long long)vs->requests,
                      (unsigned long long)vs->sampled, (long long)vs->retained, (double)vs->slope,
                      vs->leak ? "yes" : "no", surv[0] ? surv : "-",
                      vs->escape_type[0] ? vs->escape_type : "-", vs->escape_chain);
    }
    views_log("leak-report", "reason=%s requests=%llu tracked_objects=%llu leaking_views=%d",
              reason, (unsigned long long)w->slot->requests, (unsigned long long)w->slot->tracked,
              leaking);
}

int worker_main(const views_config *cfg, shm_state *shm, int index, rcgc_heap *heap,
                vobj *app_state)
{
    static worker self;
    memset(&self, 0, sizeof self);
    worker *w = &self;
    w->index = index;
    w->heap = heap;
    w->cfg = cfg;
    w->shm = shm;
    w->slot = &shm->slots[index];
    w->app_state = app_state;
    views_worker = w;
    prctl(PR_SET_PDEATHSIG, SIGTERM);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGPIPE);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);

    /* The Instagram recipe: the master built and froze the state with the
    ** collector off; the worker turns it back on. */
    rcgc_gc_enable(heap);
    rcgc_gc_callback_add(heap, gc_callback, w);
    if (cfg->gc_log)
        rcgc_gc_set_debug(heap, RCGC_GC_DEBUG_STATS); /* CPython's lines, via the log */
    if (cfg->trace != TRACE_OFF) {
        /* Traced from the fork on: the app state is the master's and not
        ** traced; what a view allocates is, tagged with the view's name. */
        rcgc_trace_options opt;
        rcgc_trace_options_init(&opt);
        opt.max_frames = TRACE_FRAMES;
        if (cfg->trace == TRACE_SAMPLED)
            opt.sample_mean_bytes = TRACE_SAMPLE_BYTES;
        rcgc_status st = rcgc_trace_start_ex(heap, &opt);
        if (st != RCGC_OK)
            views_log("error", "tracing: %s", rcgc_strerror(st));
    }
    if (cfg->max_requests) {
        uint64_t jitter = 0;
        if (cfg->max_requests_jitter) {
            srand((unsigned)getpid() ^ (unsigned)now_ns());
            jitter = (uint64_t)rand() % (cfg->max_requests_jitter + 1);
        }
        w->request_limit = cfg->max_requests + jitter;
    }

    views_config bound = *cfg; /* the master resolved the port already */
    int lfd = views_socket(&bound, true);
    if (lfd < 0 || sfd < 0)
        return 2;
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_USE_TURBO, 0, NULL, NULL, on_request, w,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, w, MHD_OPTION_LISTEN_SOCKET, lfd, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        w, MHD_OPTION_END);
    if (!d) {
        views_log("error", "MHD_start_daemon failed");
        return 2;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD);
    int mfd = info ? info->epoll_fd : -1;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN};
    ev.data.fd = mfd;
    if (mfd < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, mfd, &ev))
        return 2;
    ev.data.fd = sfd;
    epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);

    publish(w, true);
    w->slot->state = SLOT_READY;
    views_log("start", "listening on %s:%d heap_tracked=%llu frozen=%llu limit=%llu",
              cfg->host, cfg->port, (unsigned long long)w->slot->tracked,
              (unsigned long long)w->slot->frozen, (unsigned long long)w->request_limit);

    uint64_t last_publish = now_ns();
    unsigned publishes = 0;
    uint64_t drain_deadline = 0;
    int code = 0;
    for (;;) {
        int timeout = 1000;
        MHD_UNSIGNED_LONG_LONG to;
        if (MHD_get_timeout(d, &to) == MHD_YES && to < 1000)
            timeout = (int)to;
        if (w->draining)
            timeout = timeout > 50 ? 50 : timeout;
        struct epoll_event evs[4];
        int n = epoll_wait(ep, evs, 4, timeout);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.fd != sfd)
                continue;
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
                if ((si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) && !w->draining) {
                    w->draining = true;
                    w->exit_reason = "sigterm";
                }
            }
        }
        MHD_run(d);
        rcgc_gc_safepoint(heap);
        apply_command(w);

        uint64_t t = now_ns();
        if (t - last_publish >= 1000000000u) {
            publish(w, true);
            last_publish = t;
            /* Types by bytes every CENSUS_EVERY seconds: a walk of the
            ** collector's lists (never a collection), between requests. */
            if (++publishes % CENSUS_EVERY == 1)
                census_publish();
            /* Only a worker that served requests: one that starts above the
            ** limit would be replaced by another just like it, forever. */
            if (cfg->max_rss_bytes && w->slot->rss > cfg->max_rss_bytes && !w->draining &&
                w->slot->requests > 0) {
                views_log("recycle", "rss=%llu above --max-rss=%llu",
                          (unsigned long long)w->slot->rss, (unsigned long long)cfg->max_rss_bytes);
                w->draining = true;
                w->exit_reason = "max-rss";
                code = EXIT_RECYCLE;
            }
        }
        if (w->request_limit && w->slot->requests >= w->request_limit && !w->draining) {
            views_log("recycle", "served %llu requests (--max-requests)",
                      (unsigned long long)w->slot->requests);
            w->draining = true;
            w->exit_reason = "max-requests";
            code = EXIT_RECYCLE;
        }
        if (w->draining && !drain_deadline) {
            drain_deadline = t + (uint64_t)cfg->drain_seconds * 1000000000u;
            w->slot->state = SLOT_DRAINING;
            MHD_socket old = MHD_quiesce_daemon(d);
            if (old != MHD_INVALID_SOCKET)
                close(old);
            views_log("drain", "reason=%s inflight=%llu", w->exit_reason,
                      (unsigned long long)inflight);
        }
        if (w->draining && (inflight == 0 || t >= drain_deadline))
            break;
    }
    publish(w, true);
    leak_report(w, w->exit_reason);
    MHD_stop_daemon(d);
    close(ep);
    close(sfd);
    views_log("exit", "reason=%s requests=%llu", w->exit_reason,
              (unsigned long long)w->slot->requests);
    w->slot->state = SLOT_EMPTY;
    return code;
}
