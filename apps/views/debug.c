/*
** debug.c -- /debug/gc, /debug/views, /debug/workers, /debug/census,
** /debug/referrers, /debug/memory (dashboard + JSON) and /metrics.
**
** Cross-worker figures come from the shared statistics region (every worker
** can read every slot); heap internals (census, referrers) are this worker's.
** Commands for other workers (collect, enable, disable, threshold) are put in
** the target's slot and the target is woken with SIGUSR1; it applies them at
** its next loop turn, between requests.
*/
#include "views.h"

#include "census_html.h"
#include "dashboard_html.h"

#include <rcgc_kit.h>

#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ===================================================================== */
/* Aggregation helpers                                                   */
/* ===================================================================== */

static shm_state *shm(void) { return views_worker->shm; }

static bool slot_live(const worker_slot *s) { return s->pid > 0 && s->state != SLOT_EMPTY; }

/* Cumulative counters of every worker that ever ran. */
static void aggregate(worker_slot *out)
{
    shm_state *m = shm();
    memcpy(out, &m->retired, sizeof *out);
    for (uint32_t i = 0; i < m->nworkers; i++)
        if (slot_live(&m->slots[i]))
            stats_fold(out, &m->slots[i]);
}

static vobj *json_result(view_request *r, vbuf *b)
{
    /* Pre-rendered JSON: handed to MHD as is. */
    size_t len;
    if (b->oom) {
        vbuf_fini(b);
        return view_fail(r, 503, "out of memory");
    }
    char *d = vbuf_take(b, &len);
    r->response = MHD_create_response_from_buffer(len, d, MHD_RESPMEM_MUST_FREE);
    if (!r->response) {
        free(d);
        return view_fail(r, 503, "out of memory");
    }
    MHD_add_response_header(r->response, "Content-Type",
                            r->content_type ? r->content_type : "application/json");
    return NULL;
}

static void views_json(vbuf *b)
{
    worker_slot *agg = malloc(sizeof *agg);
    if (!agg) {
        vbuf_puts(b, "[]");
        return;
    }
    aggregate(agg);
    vbuf_puts(b, "[");
    bool first = true;
    for (int i = 0; i < router_count(); i++) {
        const route *rt = router_get(i);
        const view_stats *vs = &agg->views[i];
        double n = vs->requests ? (double)vs->requests : 1.0;
        vbuf_printf(b, "%s{\"view\":", first ? "" : ",");
        first = false;
        vbuf_json_str(b, rt->name, strlen(rt->name));
        vbuf_puts(b, ",\"pattern\":");
        vbuf_json_str(b, rt->pattern, strlen(rt->pattern));
        vbuf_printf(b,
                    ",\"requests\":%llu,\"errors\":%llu,\"avg_us\":%.1f,\"p50_us\":%llu,"
                    "\"p99_us\":%llu,\"allocs_per_request\":%.1f,\"alloc_bytes_per_request\":%.1f,"
                    "\"alloc_bytes\":%llu,\"live_delta_per_request\":%.2f,"
                    "\"traced_bytes_per_request\":%.1f,\"peak_bytes\":%llu,"
                    "\"sampled\":%llu,\"retained_objects\":%lld,"
                    "\"retained_bytes\":%lld,"
                    "\"escapes\":%llu,\"leak\":%s,\"slope\":%.2f,\"internal\":%s",
                    (unsigned long long)vs->requests, (unsigned long long)vs->errors,
                    (double)vs->time_us / n, (unsigned long long)lat_percentile(vs->lat, 0.5),
                    (unsigned long long)lat_percentile(vs->lat, 0.99), (double)vs->allocs / n,
                    (double)vs->alloc_bytes / n, (unsigned long long)vs->alloc_bytes,
                    (double)vs->live_delta / n, (double)vs->traced_bytes_delta / n,
                    (unsigned long long)vs->peak_bytes, (unsigned long long)vs->sampled, (long long)vs->retained,
                    (long long)vs->retained_bytes, (unsigned long long)vs->escapes,
                    vs->leak ? "true" : "false", (double)vs->slope,
                    rt->internal ? "true" : "false");
        vbuf_puts(b, ",\"survivors\":[");
        for (int k = 0; k < VIEWS_SURVIVOR_TYPES && vs->survivors[k].name[0]; k++) {
            vbuf_puts(b, k ? ",{\"type\":" : "{\"type\":");
            vbuf_json_str(b, vs->survivors[k].name, strlen(vs->survivors[k].name));
            vbuf_printf(b, ",\"count\":%llu,\"bytes\":%llu}",
                        (unsigned long long)vs->survivors[k].count,
                        (unsigned long long)vs->survivors[k].bytes);
        }
        vbuf_puts(b, "]");
        if (vs->escape_type[0]) {
            vbuf_puts(b, ",\"escape\":{\"type\":");
            vbuf_json_str(b, vs->escape_type, strlen(vs->escape_type));
            vbuf_puts(b, ",\"referrer_chain\":");
            vbuf_json_str(b, vs->escape_chain, strlen(vs->escape_chain));
            if (vs->escape_site[0]) {
                vbuf_puts(b, ",\"site\":");
                vbuf_json_str(b, vs->escape_site, strlen(vs->escape_site));
            }
            vbuf_puts(b, "}");
        }
        vbuf_puts(b, "}");
    }
    vbuf_puts(b, "]");
    free(agg);
}

static const char *freeze_name(int f)
{
    return f == FREEZE_ON ? "on" : f == FREEZE_IMMORTAL ? "immortal" : "off";
}

static void workers_json(vbuf *b)
{
    shm_state *m = shm();
    vbuf_puts(b, "[");
    for (uint32_t i = 0; i < m->nworkers; i++) {
        const worker_slot *s = &m->slots[i];
        vbuf_printf(b,
                    "%s{\"index\":%u,\"pid\":%d,\"state\":%u,\"incarnation\":%u,\"requests\":%llu,"
                    "\"rss\":%llu,\"pss\":%llu,\"shared\":%llu,\"private_dirty\":%llu,"
                    "\"private_clean\":%llu,\"tracked\":%llu,\"frozen\":%llu,\"gc_enabled\":%s,"
                    "\"pause_max_ms\":%.3f,\"collections\":[%llu,%llu,%llu]}",
                    i ? "," : "", i, s->pid, s->state, s->incarnation,
                    (unsigned long long)s->requests, (unsigned long long)s->rss,
                    (unsigned long long)s->pss, (unsigned long long)s->shared,
                    (unsigned long long)s->private_dirty, (unsigned long long)s->private_clean,
                    (unsigned long long)s->tracked, (unsigned long long)s->frozen,
                    s->gc_enabled ? "true" : "false", (double)s->pause_max_ns / 1e6,
                    (unsigned long long)s->gc_collections[0],
                    (unsigned long long)s->gc_collections[1],
                    (unsigned long long)s->gc_collections[2]);
    }
    vbuf_puts(b, "]");
}

/* ===================================================================== */
/* /debug/gc                                                             */
/* ===================================================================== */

/* Event seq of worker i's timeline, or false when the worker has lapped it
** (or is writing it) while it was copied. */
static bool gc_event_read(const gc_timeline *tl, uint64_t seq, gc_event *out)
{
    const gc_event *src = &tl->ev[(seq - 1) % VIEWS_GC_TIMELINE];
    uint64_t s1 = __atomic_load_n(&src->seq, __ATOMIC_ACQUIRE);
    memcpy(out, src, sizeof *out);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    uint64_t s2 = __atomic_load_n(&src->seq, __ATOMIC_RELAXED);
    return s1 == seq && s2 == seq;
}

/* Worker i's collections that started at or after since_us, at most max of
** them (the newest), oldest first, as JSON objects after *first. */
static void gc_events_json(vbuf *b, uint32_t i, uint64_t since_us, uint64_t max, bool *first)
{
    static const char *const causes[] = {"auto", "leak-sample", "command"};
    const gc_timeline *tl = &shm()->timelines[i];
    uint64_t next = __atomic_load_n(&tl->next, __ATOMIC_ACQUIRE);
    uint64_t oldest = next > VIEWS_GC_TIMELINE ? next - VIEWS_GC_TIMELINE + 1 : 1;
    if (next >= max && next - max + 1 > oldest)
        oldest = next - max + 1;
    /* Events are in time order: skip back to the first one at since_us. */
    uint64_t lo = oldest, hi = next + 1;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        gc_event e;
        if (!gc_event_read(tl, mid, &e) || e.t_us < since_us)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (uint64_t seq = lo; seq <= next; seq++) {
        gc_event e;
        if (!gc_event_read(tl, seq, &e) || e.t_us < since_us)
            continue;
        vbuf_printf(b,
                    "%s{\"worker\":%u,\"seq\":%llu,\"t_us\":%llu,\"t_ms\":%llu,\"generation\":%d,"
                    "\"dur_us\":%u,\"collected\":%u,\"cause\":\"%s\",\"increment\":%s}",
                    *first ? "" : ",", i, (unsigned long long)seq, (unsigned long long)e.t_us,
                    (unsigned long long)(e.t_us / 1000u), e.generation, e.dur_us, e.collected,
                    e.cause < 3 ? causes[e.cause] : "?", e.increment ? "true" : "false");
        *first = false;
    }
}

/* The recent collections of every worker with wall-clock start times, for
** lining them up against request latency (apps/views/bench.py). */
static vobj *view_gc_events(view_request *r)
{
    long long since = req_query_int(r, "since_us", 0, 0, LLONG_MAX);
    long long limit = req_query_int(r, "limit", VIEWS_GC_TIMELINE, 1, VIEWS_GC_TIMELINE);
    if (r->status)
        return NULL;
    shm_state *m = shm();
    vbuf b;
    vbuf_init(&b);
    vbuf_printf(&b, "{\"t_us\":%llu,\"capacity\":%u,\"workers\":[", (unsigned long long)now_us(),
                (unsigned)VIEWS_GC_TIMELINE);
    for (uint32_t i = 0; i < m->nworkers; i++) {
        const worker_slot *s = &m->slots[i];
        vbuf_printf(&b, "%s{\"worker\":%u,\"pid\":%d,\"incarnation\":%u,\"recorded\":%llu,"
                        "\"events\":[",
                    i ? "," : "", i, s->pid, s->incarnation,
                    (unsigned long long)__atomic_load_n(&m->timelines[i].next, __ATOMIC_ACQUIRE));
        bool first = true;
        gc_events_json(&b, i, (uint64_t)since, (uint64_t)limit, &first);
        vbuf_puts(&b, "]}");
    }
    vbuf_puts(&b, "]}\n");
    return json_result(r, &b);
}

static vobj *view_gc(view_request *r)
{
    worker *w = views_worker;
    rcgc_heap *h = w->heap;
    vbuf b;
    vbuf_init(&b);
    unsigned th[3];
    size_t cnt[3];
    rcgc_gc_get_threshold(h, th);
    rcgc_gc_get_count(h, cnt);
    uint64_t budget = 0;
    rcgc_gc_mode mode = rcgc_gc_get_mode(h, &budget);
    rcgc_gc_pauses p;
    rcgc_gc_get_pauses(h, &p);
    vbuf_printf(&b,
                "{\"worker\":%d,\"pid\":%d,\"enabled\":%s,\"mode\":\"%s\",\"pause_budget_ms\":%.3f,"
                "\"threshold\":[%u,%u,%u],\"count\":[%zu,%zu,%zu],\"freeze_count\":%zu,"
                "\"freeze_mode\":\"%s\",\"garbage\":%zu,\"debug\":%u,"
                "\"pauses\":{\"steps\":%llu,\"total_ms\":%.3f,\"max_ms\":%.3f},\"generations\":[",
                w->index, (int)getpid(), rcgc_gc_is_enabled(h) ? "true" : "false",
                mode == RCGC_GC_INCREMENTAL ? "incremental" : "generational",
                (double)budget / 1e6, th[0], th[1], th[2], cnt[0], cnt[1], cnt[2],
                rcgc_gc_get_freeze_count(h), freeze_name(shm()->freeze),
                rcgc_gc_garbage_count(h), rcgc_gc_get_debug(h), (unsigned long long)p.steps,
                (double)p.total_ns / 1e6, (double)p.max_ns / 1e6);
    for (int g = 0; g < 3; g++) {
        rcgc_gc_stats st;
        rcgc_gc_get_stats(h, g, &st);
        vbuf_printf(&b,
                    "%s{\"generation\":%d,\"size\":%zu,\"collections\":%llu,\"collected\":%llu,"
                    "\"uncollectable\":%llu,\"candidates\":%llu,\"total_ms\":%.3f,"
                    "\"max_pause_ms\":%.3f}",
                    g ? "," : "", g, rcgc_gc_generation_size(h, g),
                    (unsigned long long)st.collections, (unsigned long long)st.collected,
                    (unsigned long long)st.uncollectable, (unsigned long long)st.candidates,
                    (double)st.duration_ns / 1e6, (double)st.max_pause_ns / 1e6);
    }
    vbuf_puts(&b, "],\"workers\":");
    workers_json(&b);
    vbuf_puts(&b, ",\"actions\":[\"POST /debug/gc/collect?generation=2&worker=self|all|N\","
                  "\"POST /debug/gc/enable?worker=...\",\"POST /debug/gc/disable?worker=...\","
                  "\"POST /debug/gc/threshold?value=A,B,C&worker=...\"]}\n");
    return json_result(r, &b);
}

bool cmd_lock(worker_slot *s)
{
    uint64_t give_up = now_ns() + 3000000000u;
    for (;;) {
        uint64_t now = now_ns(), cur = __atomic_load_n(&s->cmd_lock, __ATOMIC_ACQUIRE);
        /* Free, or its holder's 3 s ran out (it died holding it). */
        if ((cur == 0 || cur < now) &&
            __atomic_compare_exchange_n(&s->cmd_lock, &cur, now + 3000000000u, false,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return true;
        if (now >= give_up)
            return false;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

void cmd_unlock(worker_slot *s) { __atomic_store_n(&s->cmd_lock, 0, __ATOMIC_RELEASE); }

/* Apply a command here, or hand it to other workers and wait for them. */
static void send_commands(view_request *r, uint32_t op, const int args[3], vbuf *b)
{
    worker *w = views_worker;
    shm_state *m = shm();
    const char *target = req_query(r, "worker");
    int only = -1; /* -1: all workers */
    if (!target || !*target || !strcmp(target, "self"))
        only = w->index;
    else if (strcmp(target, "all") != 0) {
        char *end;
        long v = strtol(target, &end, 10);
        if (*end || v < 0 || v >= (long)m->nworkers) {
            view_fail(r, 400, "worker must be self, all or 0..%u", m->nworkers - 1);
            return;
        }
        only = (int)v;
    }
    uint32_t seqs[VIEWS_MAX_WORKERS] = {0};
    bool sent[VIEWS_MAX_WORKERS] = {false};
    long long here = -1;
    for (uint32_t i = 0; i < m->nworkers; i++) {
        if (only >= 0 && (int)i != only)
            continue;
        if ((int)i == w->index) {
            if (op == CMD_COLLECT) {
                views_gc_cause = GC_COMMAND;
                here = rcgc_gc_collect(w->heap, args[0]);
                views_gc_cause = GC_AUTO;
            }
            else if (op == CMD_ENABLE)
                rcgc_gc_enable(w->heap);
            else if (op == CMD_DISABLE)
                rcgc_gc_disable(w->heap);
            else if (op == CMD_THRESHOLD)
                rcgc_gc_set_threshold(w->heap, (unsigned)args[0], (unsigned)args[1],
                                      (unsigned)args[2]);
            continue;
        }
        worker_slot *s = &m->slots[i];
        if (s->state != SLOT_READY || s->pid <= 0 || !cmd_lock(s))
            continue;
        s->cmd_op = op;
        for (int k = 0; k < 3; k++)
            s->cmd_arg[k] = args[k];
        __atomic_thread_fence(__ATOMIC_RELEASE);
        seqs[i] = s->cmd_seq + 1;
        s->cmd_seq = seqs[i];
        sent[i] = true;
        kill(s->pid, SIGUSR1);
    }
    /* Wait up to 2 s for the others (they apply commands between requests). */
    uint64_t deadline = now_ns() + 2000000000u;
    vbuf_puts(b, "\"workers\":[");
    bool first = true;
    for (uint32_t i = 0; i < m->nworkers; i++) {
        if ((int)i == w->index && (only < 0 || only == w->index)) {
            vbuf_printf(b, "%s{\"worker\":%u,\"done\":true", first ? "" : ",", i);
            if (op == CMD_COLLECT)
                vbuf_printf(b, ",\"found\":%lld", here);
            vbuf_puts(b, "}");
            first = false;
            continue;
        }
        if (!sent[i])
            continue;
        while (m->slots[i].cmd_done != seqs[i] && now_ns() < deadline) {
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
        }
        vbuf_printf(b, "%s{\"worker\":%u,\"done\":%s}", first ? "" : ",", i,
                    m->slots[i].cmd_done == seqs[i] ? "true" : "false");
        cmd_unlock(&m->slots[i]);
        first = false;
    }
    vbuf_puts(b, "]");
}

static vobj *gc_command(view_request *r, uint32_t op)
{
    int args[3] = {2, 0, 0};
    vbuf b;
    vbuf_init(&b);
    if (op == CMD_COLLECT) {
        args[0] = (int)req_query_int(r, "generation", 2, 0, 2);
        if (r->status)
            return NULL;
    } else if (op == CMD_THRESHOLD) {
        const char *v = req_query(r, "value");
        unsigned a, bb, c;
        if (!v || sscanf(v, "%u,%u,%u", &a, &bb, &c) != 3)
            return view_fail(r, 400, "value must be A,B,C (three thresholds)");
        args[0] = (int)a;
        args[1] = (int)bb;
        args[2] = (int)c;
    }
    static const char *const names[] = {"", "collect", "enable", "disable", "threshold"};
    vbuf_printf(&b, "{\"action\":\"%s\",", names[op]);
    if (op == CMD_COLLECT)
        vbuf_printf(&b, "\"generation\":%d,", args[0]);
    send_commands(r, op, args, &b);
    if (r->status) {
        vbuf_fini(&b);
        return NULL;
    }
    vbuf_puts(&b, "}\n");
    return json_result(r, &b);
}

static vobj *view_gc_collect(view_request *r) { return gc_command(r, CMD_COLLECT); }
static vobj *view_gc_enable(view_request *r) { return gc_command(r, CMD_ENABLE); }
static vobj *view_gc_disable(view_request *r) { return gc_command(r, CMD_DISABLE); }
static vobj *view_gc_threshold(view_request *r) { return gc_command(r, CMD_THRESHOLD); }

/* ===================================================================== */
/* /debug/views, /debug/workers                                          */
/* ===================================================================== */

static vobj *view_views(view_request *r)
{
    vbuf b;
    vbuf_init(&b);
    const views_config *cfg = views_worker->cfg;
    vbuf_printf(&b,
                "{\"workers\":%u,\"leak_sample\":%u,\"trace\":\"%s\",\"attribution\":"
                "\"allocs: the heap's allocation counter around the view; live_delta: tracked "
                "objects after - before the view; retained_objects/bytes: net live blocks and bytes "
                "(allocator statistics, atomic objects included) a sampled request added once its "
                "garbage was collected, response body excluded; escapes: sampled requests that left "
                "new tracked objects alive\",\"latency\":\"p50_us/p99_us: the highest value of the "
                "histogram bucket the percentile falls in; 8 log-linear buckets per power of two "
                "(1 us wide below 16 us), so at most 12.5%% above the true percentile; 2097152 "
                "means 2^21 us or slower\",\"latency_buckets\":%d,\"views\":",
                shm()->nworkers, cfg->leak_sample,
                cfg->trace == TRACE_OFF ? "off" : cfg->trace == TRACE_EXACT ? "exact" : "sampled",
                VIEWS_LAT_BUCKETS);
    views_json(&b);
    vbuf_puts(&b, "}\n");
    return json_result(r, &b);
}

static vobj *view_workers(view_request *r)
{
    vbuf b;
    vbuf_init(&b);
    shm_state *m = shm();
    uint64_t pd = 0, rss = 0, pss = 0, n = 0;
    for (uint32_t i = 0; i < m->nworkers; i++)
        if (slot_live(&m->slots[i])) {
            pd += m->slots[i].private_dirty;
            rss += m->slots[i].rss;
            pss += m->slots[i].pss;
            n++;
        }
    vbuf_printf(&b,
                "{\"master_pid\":%d,\"freeze\":\"%s\",\"app_objects\":%u,\"restarts\":%llu,"
                "\"crashes\":%llu,\"recycles\":%llu,\"source\":\"/proc/<pid>/smaps_rollup\","
                "\"avg_private_dirty\":%llu,\"total_rss\":%llu,\"total_pss\":%llu,\"workers\":",
                m->master_pid, freeze_name(m->freeze), m->app_objects,
                (unsigned long long)m->restarts, (unsigned long long)m->crashes,
                (unsigned long long)m->recycles, (unsigned long long)(n ? pd / n : 0),
                (unsigned long long)rss, (unsigned long long)pss);
    workers_json(&b);
    vbuf_puts(&b, "}\n");
    return json_result(r, &b);
}

/* ===================================================================== */
/* Census and referrers (this worker's heap, no collection forced)       */
/* ===================================================================== */

int census_visit(void *obj, void *arg)
{
    census *c = arg;
    const rcgc_type *t = rcgc_type_of(obj);
    int i = 0;
    while (i < c->n && c->type[i] != t)
        i++;
    if (i == c->n) {
        if (c->n == CENSUS_TYPES)
            return 0;
        c->type[c->n++] = t;
    }
    c->count[i]++;
    c->bytes[i] += rcgc_kit_sizeof(obj);
    return 0;
}

/* The frozen set does not change after fork (nothing here unfreezes), so
** it is counted once. */
static census frozen_census;
static bool frozen_counted;

static void take_census(census *c)
{
    if (!frozen_counted) {
        memset(&frozen_census, 0, sizeof frozen_census);
        rcgc_gc_visit_objects(views_worker->heap, RCGC_GC_FROZEN, census_visit, &frozen_census);
        frozen_counted = true;
    }
    memcpy(c, &frozen_census, sizeof *c);
    rcgc_gc_visit_objects(views_worker->heap, -1, census_visit, c);
}

void census_publish(void)
{
    census *c = malloc(sizeof *c);
    if (!c)
        return;
    take_census(c);
    type_count *out = views_worker->slot->types;
    memset(out, 0, sizeof(type_count) * VIEWS_SLOT_TYPES);
    for (int k = 0; k < VIEWS_SLOT_TYPES && k < c->n; k++) {
        int best = -1;
        for (int i = 0; i < c->n; i++)
            if (c->type[i] && (best < 0 || c->bytes[i] > c->bytes[best]))
                best = i;
        if (best < 0)
            break;
        snprintf(out[k].name, sizeof out[k].name, "%s", c->type[best]->name);
        out[k].count = c->count[best];
        out[k].bytes = c->bytes[best];
        c->type[best] = NULL;
    }
    free(c);
}

static census census_mark;
static bool census_marked;

static uint64_t census_get(const census *c, const rcgc_type *t)
{
    for (int i = 0; i < c->n; i++)
        if (c->type[i] == t)
            return c->count[i];
    return 0;
}

static void census_json(vbuf *b, int limit)
{
    census *c = malloc(sizeof *c);
    if (!c)
        return;
    take_census(c);
    /* Most common first (selection: n is small). */
    vbuf_puts(b, "[");
    for (int k = 0; k < c->n && k < limit; k++) {
        int best = k;
        for (int i = k + 1; i < c->n; i++)
            if (c->count[i] > c->count[best])
                best = i;
        const rcgc_type *tt = c->type[k];
        uint64_t tc = c->count[k], tb = c->bytes[k];
        c->type[k] = c->type[best];
        c->count[k] = c->count[best];
        c->bytes[k] = c->bytes[best];
        c->type[best] = tt;
        c->count[best] = tc;
        c->bytes[best] = tb;
        vbuf_printf(b, "%s{\"type\":", k ? "," : "");
        vbuf_json_str(b, c->type[k]->name, strlen(c->type[k]->name));
        vbuf_printf(b, ",\"count\":%llu,\"bytes\":%llu", (unsigned long long)c->count[k],
                    (unsigned long long)c->bytes[k]);
        if (census_marked)
            vbuf_printf(b, ",\"growth\":%lld",
                        (long long)c->count[k] - (long long)census_get(&census_mark, c->type[k]));
        vbuf_puts(b, "}");
    }
    vbuf_puts(b, "]");
    free(c);
}

static vobj *view_census(view_request *r)
{
    vbuf b;
    vbuf_init(&b);
    vbuf_printf(&b,
                "{\"worker\":%d,\"counted\":\"tracked objects (containers), frozen included; bytes as "
                "sys.getsizeof (header, instance, own buffers)\","
                "\"marked\":%s,\"types\":",
                views_worker->index, census_marked ? "true" : "false");
    census_json(&b, 50);
    vbuf_puts(&b, "}\n");
    return json_result(r, &b);
}

static vobj *view_census_mark(view_request *r)
{
    take_census(&census_mark);
    census_marked = true;
    vobj *d = v_dict(r->heap);
    v_set_bool(d, "marked", true);
    v_set_int(d, "worker", views_worker->index);
    v_set_int(d, "types", census_mark.n);
    return d;
}

typedef struct find_type {
    const char *name;
    void *found;
    uint64_t seen;
} find_type;

static int find_visit(void *obj, void *arg)
{
    find_type *f = arg;
    if (!strcmp(rcgc_type_of(obj)->name, f->name)) {
        f->found = obj; /* the last one visited: the youngest generation first */
        f->seen++;
    }
    return 0;
}

/* Objects of one type in the order /debug/census/objects lists them. */
typedef struct list_type {
    const char *name;
    vbuf *b;
    int generation;
    uint64_t seen, limit;
} list_type;

static int list_visit(void *obj, void *arg)
{
    list_type *l = arg;
    if (strcmp(rcgc_type_of(obj)->name, l->name) != 0)
        return 0;
    if (l->seen++ < l->limit)
        vbuf_printf(l->b, "%s{\"obj\":\"%#llx\",\"generation\":%d,\"refcount\":%lu,\"bytes\":%zu}",
                    l->seen > 1 ? "," : "", (unsigned long long)(uintptr_t)obj, l->generation,
                    (unsigned long)rcgc_refcount(obj), rcgc_kit_sizeof(obj));
    return 0;
}

/* Live tracked objects of a type, youngest generation first, each with a
** handle (worker, incarnation, address) for /debug/referrers. */
static vobj *view_census_objects(view_request *r)
{
    const char *type = req_query(r, "type");
    long long limit = req_query_int(r, "limit", 20, 1, 500);
    if (r->status)
        return NULL;
    if (!type || !*type)
        return view_fail(r, 400, "give ?type=NAME (see /debug/census)");
    vbuf b;
    vbuf_init(&b);
    vbuf_printf(&b, "{\"worker\":%d,\"pid\":%d,\"incarnation\":%u,\"type\":", views_worker->index,
                (int)getpid(), views_worker->slot->incarnation);
    vbuf_json_str(&b, type, strlen(type));
    vbuf_puts(&b, ",\"objects\":[");
    list_type l = {type, &b, 0, 0, (uint64_t)limit};
    static const int gens[] = {0, 1, 2, RCGC_GC_FROZEN};
    for (int k = 0; k < 4; k++) {
        l.generation = gens[k];
        rcgc_gc_visit_objects(views_worker->heap, gens[k], list_visit, &l);
    }
    vbuf_printf(&b, "],\"count\":%llu,\"listed\":%llu,\"generation_frozen\":%d,"
                    "\"referrers\":\"/debug/referrers?worker=%d&incarnation=%u&type=TYPE&obj=ADDRESS\"}\n",
                (unsigned long long)l.seen,
                (unsigned long long)(l.seen < l.limit ? l.seen : l.limit), RCGC_GC_FROZEN,
                views_worker->index, views_worker->slot->incarnation);
    return json_result(r, &b);
}

static int same_obj(void *obj, void *arg) { return obj == *(void **)arg; }

/* addr is a live tracked object of h: a live block of the heap (rcgc_owns)
** that is on one of the collector's lists, compared as addresses only. */
static bool tracked_object(rcgc_heap *h, uint64_t addr)
{
    void *p = (void *)(uintptr_t)addr;
    if (!addr || (uint64_t)(uintptr_t)p != addr || !rcgc_owns(h, p))
        return false;
    static const int gens[] = {0, 1, 2, RCGC_GC_FROZEN};
    for (int k = 0; k < 4; k++)
        if (rcgc_gc_visit_objects(h, gens[k], same_obj, &p))
            return true;
    return false;
}

typedef struct first_new {
    void *const *seen;
    int nseen;
    void *found;
} first_new;

static int first_unseen(void *obj, void *arg)
{
    first_new *f = arg;
    for (int i = 0; i < f->nseen; i++)
        if (f->seen[i] == obj)
            return 0;
    f->found = obj;
    return 1;
}

#define CHAIN_MAX 8

int referrers_reply(rcgc_heap *h, uint64_t addr, const char *type, char *out, size_t size)
{
    if (!tracked_object(h, addr)) {
        snprintf(out, size, "object gone: %#llx is not a live tracked object of worker %d",
                 (unsigned long long)addr, views_worker->index);
        return 404;
    }
    const char *now = rcgc_type_of((void *)(uintptr_t)addr)->name;
    if (type && *type && strcmp(now, type) != 0) {
        snprintf(out, size, "object gone: %#llx now holds a %s, not a %s", (unsigned long long)addr,
                 now, type);
        return 404;
    }
    vbuf b;
    vbuf_init(&b);
    void *seen[CHAIN_MAX];
    int n = 0;
    const char *end = "depth limit";
    void *obj = (void *)(uintptr_t)addr;
    char text[512];
    size_t used = 0;
    text[0] = '\0';
    vbuf_printf(&b, "\"worker\":%d,\"incarnation\":%u,\"obj\":\"%#llx\",\"type\":",
                views_worker->index, views_worker->slot->incarnation, (unsigned long long)addr);
    vbuf_json_str(&b, rcgc_type_of(obj)->name, strlen(rcgc_type_of(obj)->name));
    vbuf_printf(&b, ",\"refcount\":%lu,\"chain\":[", (unsigned long)rcgc_refcount(obj));
    while (obj && n < CHAIN_MAX) {
        /* obj is the validated object or a referrer the collector handed us. */
        const char *tn = rcgc_type_of(obj)->name;
        const char *root = app_root_name(obj);
        seen[n++] = obj;
        vbuf_printf(&b, "%s{\"obj\":\"%#llx\",\"type\":", n > 1 ? "," : "",
                    (unsigned long long)(uintptr_t)obj);
        vbuf_json_str(&b, tn, strlen(tn));
        vbuf_printf(&b, ",\"refcount\":%lu", (unsigned long)rcgc_refcount(obj));
        int k = snprintf(text + used, sizeof text - used, "%s%s", n > 1 ? " <- " : "", tn);
        if (k > 0 && (size_t)k < sizeof text - used)
            used += (size_t)k;
        if (root) {
            vbuf_puts(&b, ",\"root\":");
            vbuf_json_str(&b, root, strlen(root));
            k = snprintf(text + used, sizeof text - used, " (module global '%s')", root);
            if (k > 0 && (size_t)k < sizeof text - used)
                used += (size_t)k;
            vbuf_puts(&b, "}");
            end = "module global";
            break;
        }
        vbuf_puts(&b, "}");
        first_new f = {seen, n, NULL};
        rcgc_gc_get_referrers(h, obj, first_unseen, &f);
        obj = f.found;
        if (!obj) {
            end = "no tracked referrer (held by C code, a frame or an untracked object)";
            snprintf(text + used, sizeof text - used, " <- (no tracked referrer)");
        }
    }
    vbuf_puts(&b, "],\"ends\":");
    vbuf_json_str(&b, end, strlen(end));
    vbuf_puts(&b, ",\"referrer_chain\":");
    vbuf_json_str(&b, text, strlen(text));
    if (b.oom || b.len >= size) {
        vbuf_fini(&b);
        snprintf(out, size, "the chain does not fit the reply");
        return 503;
    }
    memcpy(out, b.data, b.len);
    out[b.len] = '\0';
    vbuf_fini(&b);
    return 200;
}

/* The chain of one chosen object, asked of the worker that listed it: here,
** or through its slot (CMD_REFERRERS) and answered between its requests. */
static vobj *referrers_of(view_request *r, const char *objarg)
{
    shm_state *m = shm();
    long long target = req_query_int(r, "worker", views_worker->index, 0, (long long)m->nworkers - 1);
    long long inc = req_query_int(r, "incarnation", 0, 0, UINT32_MAX);
    const char *type = req_query(r, "type");
    if (r->status)
        return NULL;
    if (type && strlen(type) >= sizeof m->slots[0].cmd_type)
        return view_fail(r, 404, "object gone: no type is called that");
    char *endp;
    errno = 0;
    unsigned long long addr = strtoull(objarg, &endp, 16);
    if (errno || endp == objarg || *endp)
        return view_fail(r, 400, "obj must be an address in hex (from /debug/census/objects)");
    worker_slot *s = &m->slots[target];
    if (!slot_live(s) || (inc && (uint32_t)inc != s->incarnation))
        return view_fail(r, 404, "object gone: worker %lld was restarted or is not running", target);
    char *reply = malloc(VIEWS_REPLY_MAX);
    if (!reply)
        return view_fail(r, 503, "out of memory");
    int status;
    if (target == views_worker->index)
        status = referrers_reply(views_worker->heap, addr, type, reply, VIEWS_REPLY_MAX);
    else {
        if (s->state != SLOT_READY) {
            free(reply);
            return view_fail(r, 404, "object gone: worker %lld is not serving", target);
        }
        if (!cmd_lock(s)) {
            free(reply);
            return view_fail(r, 503, "worker %lld is busy with another command", target);
        }
        s->cmd_op = CMD_REFERRERS;
        s->cmd_obj = addr;
        snprintf(s->cmd_type, sizeof s->cmd_type, "%s", type ? type : "");
        __atomic_thread_fence(__ATOMIC_RELEASE);
        uint32_t seq = s->cmd_seq + 1;
        s->cmd_seq = seq;
        kill(s->pid, SIGUSR1);
        uint64_t deadline = now_ns() + 2000000000u;
        while (s->cmd_done != seq && now_ns() < deadline) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
        if (s->cmd_done != seq) {
            cmd_unlock(s);
            free(reply);
            return view_fail(r, 504, "worker %lld did not answer within 2 s", target);
        }
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        status = s->cmd_status;
        memcpy(reply, s->cmd_reply, VIEWS_REPLY_MAX);
        reply[VIEWS_REPLY_MAX - 1] = '\0';
        cmd_unlock(s);
    }
    if (status != 200) {
        view_fail(r, status, "%s", reply);
        free(reply);
        return NULL;
    }
    vbuf b;
    vbuf_init(&b);
    vbuf_printf(&b, "{%s,\"served_by\":%d}\n", reply, views_worker->index);
    free(reply);
    return json_result(r, &b);
}

static vobj *view_referrers(view_request *r)
{
    const char *objarg = req_query(r, "obj");
    if (objarg)
        return referrers_of(r, objarg);
    const char *type = req_query(r, "type");
    if (!type || !*type)
        return view_fail(r, 400, "give ?type=NAME (see /debug/census) or ?worker=W&obj=ADDRESS "
                                 "(see /debug/census/objects)");
    find_type f = {type, NULL, 0};
    for (int g = 0; g < 3 && !f.found; g++)
        rcgc_gc_visit_objects(views_worker->heap, g, find_visit, &f);
    if (!f.found)
        return view_fail(r, 404, "no tracked object of type '%s' outside the frozen set", type);
    char chain[512];
    referrer_chain(views_worker->heap, f.found, chain, sizeof chain);
    vobj *d = v_dict(r->heap);
    v_set_str(d, "type", type);
    v_set_int(d, "worker", views_worker->index);
    v_set_str(d, "referrer_chain", chain);
    v_set_int(d, "refcount", rcgc_refcount(f.found));
    return d;
}

/* ===================================================================== */
/* /debug/memory                                                         */
/* ===================================================================== */

static vobj *html_page(view_request *r, const unsigned char *page, size_t size)
{
    r->response = MHD_create_response_from_buffer(size, (void *)page, MHD_RESPMEM_PERSISTENT);
    if (!r->response)
        return view_fail(r, 503, "out of memory");
    MHD_add_response_header(r->response, "Content-Type", "text/html; charset=utf-8");
    return NULL;
}

static vobj *view_memory_page(view_request *r)
{
    return html_page(r, dashboard_html, sizeof dashboard_html);
}

static vobj *view_census_page(view_request *r)
{
    return html_page(r, census_html, sizeof census_html);
}

/* Every live worker's published top types (census_publish, every few
** seconds) summed by name into tc (room for VIEWS_SLOT_TYPES per worker);
** returns the rows. No walk of this worker's heap. */
static int types_all(type_count *tc)
{
    shm_state *m = shm();
    int ntc = 0;
    for (uint32_t i = 0; i < m->nworkers; i++) {
        if (!slot_live(&m->slots[i]))
            continue;
        for (int k = 0; k < VIEWS_SLOT_TYPES && m->slots[i].types[k].name[0]; k++) {
            const type_count *t = &m->slots[i].types[k];
            int j = 0;
            while (j < ntc && strcmp(tc[j].name, t->name) != 0)
                j++;
            if (j == ntc)
                memcpy(tc[ntc++].name, t->name, sizeof t->name);
            tc[j].count += t->count;
            tc[j].bytes += t->bytes;
        }
    }
    return ntc;
}

static vobj *view_memory_json(view_request *r)
{
    shm_state *m = shm();
    vbuf b;
    vbuf_init(&b);
    vbuf_printf(&b, "{\"t_ms\":%llu,\"served_by\":%d,\"freeze\":\"%s\",\"workers\":",
                (unsigned long long)now_ms(), views_worker->index, freeze_name(m->freeze));
    workers_json(&b);
    vbuf_puts(&b, ",\"views\":");
    views_json(&b);
    vbuf_puts(&b, ",\"gc_events\":[");
    bool first = true;
    for (uint32_t i = 0; i < m->nworkers; i++)
        gc_events_json(&b, i, 0, VIEWS_GC_EVENTS, &first);
    /* Types summed over the workers from what they published, not this
    ** worker's heap walked on every poll: the same in whichever worker
    ** answers, and no walk in a worker serving traffic. */
    vbuf_puts(&b, "],\"types\":[");
    type_count *tc = calloc(VIEWS_SLOT_TYPES * VIEWS_MAX_WORKERS, sizeof *tc);
    int ntc = tc ? types_all(tc) : 0;
    for (int j = 0; j < ntc; j++) {
        vbuf_puts(&b, j ? ",{\"type\":" : "{\"type\":");
        vbuf_json_str(&b, tc[j].name, strlen(tc[j].name));
        vbuf_printf(&b, ",\"count\":%llu,\"bytes\":%llu}", (unsigned long long)tc[j].count,
                    (unsigned long long)tc[j].bytes);
    }
    free(tc);
    vbuf_puts(&b, "]}\n");
    return json_result(r, &b);
}

/* ===================================================================== */
/* /metrics (Prometheus text format 0.0.4)                               */
/* ===================================================================== */

static void metric_head(vbuf *b, const char *name, const char *type, const char *help)
{
    vbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void label_value(vbuf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            vbuf_printf(b, "\\%c", *s);
        else if (*s == '\n')
            vbuf_puts(b, "\\n");
        else
            vbuf_put(b, s, 1);
    }
}

/* A uint64_t field of every live worker's slot, one sample per kind. */
typedef struct gauge_kind {
    const char *kind;
    size_t off;
} gauge_kind;

static void per_worker_gauges(vbuf *b, const shm_state *m, const char *name,
                              const gauge_kind *kinds, int nkinds)
{
    for (uint32_t i = 0; i < m->nworkers; i++) {
        const worker_slot *s = &m->slots[i];
        if (!slot_live(s))
            continue;
        for (int k = 0; k < nkinds; k++) {
            uint64_t v;
            memcpy(&v, (const char *)s + kinds[k].off, sizeof v);
            vbuf_printf(b, "%s{worker=\"%u\",kind=\"%s\"} %llu\n", name, i, kinds[k].kind,
                        (unsigned long long)v);
        }
    }
}

static vobj *view_metrics(view_request *r)
{
    shm_state *m = shm();
    worker_slot *agg = malloc(sizeof *agg);
    if (!agg)
        return view_fail(r, 503, "out of memory");
    aggregate(agg);
    vbuf b;
    vbuf_init(&b);

    metric_head(&b, "python_gc_objects_collected_total", "counter",
                "Objects collected during gc");
    for (int g = 0; g < 3; g++)
        vbuf_printf(&b, "python_gc_objects_collected_total{generation=\"%d\"} %llu\n", g,
                    (unsigned long long)agg->gc_collected[g]);
    metric_head(&b, "python_gc_objects_uncollectable_total", "counter",
                "Uncollectable objects found during GC");
    for (int g = 0; g < 3; g++)
        vbuf_printf(&b, "python_gc_objects_uncollectable_total{generation=\"%d\"} %llu\n", g,
                    (unsigned long long)agg->gc_uncollectable[g]);
    metric_head(&b, "python_gc_collections_total", "counter",
                "Number of times this generation was collected");
    for (int g = 0; g < 3; g++)
        vbuf_printf(&b, "python_gc_collections_total{generation=\"%d\"} %llu\n", g,
                    (unsigned long long)agg->gc_collections[g]);

    uint64_t rss = 0, vsize = 0, fds = 0, pss = 0, tracked = 0, frozen = 0, cpu_ms = agg->cpu_ms;
    uint32_t live = 0;
    for (uint32_t i = 0; i < m->nworkers; i++) {
        const worker_slot *s = &m->slots[i];
        if (!slot_live(s))
            continue;
        live++;
        rss += s->rss;
        pss += s->pss;
        vsize += s->vsize;
        fds += s->open_fds;
        tracked += s->tracked;
        frozen += s->frozen;
    }
    metric_head(&b, "process_resident_memory_bytes", "gauge",
                "Resident memory size in bytes (sum over workers)");
    vbuf_printf(&b, "process_resident_memory_bytes %llu\n", (unsigned long long)rss);
    metric_head(&b, "rcgc_proportional_memory_bytes", "gauge",
                "Proportional set size (shared pages split between sharers), sum over workers");
    vbuf_printf(&b, "rcgc_proportional_memory_bytes %llu\n", (unsigned long long)pss);
    metric_head(&b, "process_virtual_memory_bytes", "gauge",
                "Virtual memory size in bytes (sum over workers)");
    vbuf_printf(&b, "process_virtual_memory_bytes %llu\n", (unsigned long long)vsize);
    metric_head(&b, "process_cpu_seconds_total", "counter",
                "Total user and system CPU time spent in seconds (workers, exited ones included)");
    vbuf_printf(&b, "process_cpu_seconds_total %.2f\n", (double)cpu_ms / 1000.0);
    metric_head(&b, "process_open_fds", "gauge", "Number of open file descriptors (sum over workers)");
    vbuf_printf(&b, "process_open_fds %llu\n", (unsigned long long)fds);
    metric_head(&b, "process_start_time_seconds", "gauge",
                "Start time of the process since unix epoch in seconds (the master)");
    vbuf_printf(&b, "process_start_time_seconds %.3f\n", (double)m->start_ms / 1000.0);

    metric_head(&b, "rcgc_gc_pause_seconds", "histogram",
                "Collector pauses (every collection, all workers)");
    uint64_t acc = 0;
    for (int i = 0; i < VIEWS_PAUSE_BUCKETS; i++) {
        acc += agg->pause_bucket[i];
        vbuf_printf(&b, "rcgc_gc_pause_seconds_bucket{le=\"%g\"} %llu\n",
                    views_pause_bucket_us[i] / 1e6, (unsigned long long)acc);
    }
    acc += agg->pause_bucket[VIEWS_PAUSE_BUCKETS];
    vbuf_printf(&b, "rcgc_gc_pause_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)acc);
    vbuf_printf(&b, "rcgc_gc_pause_seconds_sum %.9f\n", (double)agg->pause_sum_ns / 1e9);
    vbuf_printf(&b, "rcgc_gc_pause_seconds_count %llu\n", (unsigned long long)agg->pause_count);

    static const char *const vm[][3] = {
        {"rcgc_view_requests_total", "counter", "Requests served per view"},
        {"rcgc_view_errors_total", "counter", "Responses with status >= 400 per view"},
        {"rcgc_view_allocations_total", "counter", "Heap allocations made while the view ran"},
        {"rcgc_view_allocated_bytes_total", "counter",
         "Bytes handed out by the heap's allocations while the view ran"},
        {"rcgc_view_retained_objects", "gauge",
         "Net live tracked objects added by sampled requests (after a young collection)"},
        {"rcgc_view_leak", "gauge", "1 when the view's retained memory keeps growing"},
        {"rcgc_view_retained_bytes", "gauge",
         "Net live bytes added by sampled requests (after a young collection)"}};
    for (int k = 0; k < 7; k++) {
        metric_head(&b, vm[k][0], vm[k][1], vm[k][2]);
        for (int i = 0; i < router_count(); i++) {
            const view_stats *vs = &agg->views[i];
            long long v = k == 0   ? (long long)vs->requests
                          : k == 1 ? (long long)vs->errors
                          : k == 2 ? (long long)vs->allocs
                          : k == 3 ? (long long)vs->alloc_bytes
                          : k == 4 ? (long long)vs->retained
                          : k == 5 ? (long long)vs->leak
                                   : (long long)vs->retained_bytes;
            vbuf_printf(&b, "%s{view=\"", vm[k][0]);
            label_value(&b, router_get(i)->name);
            vbuf_printf(&b, "\"} %lld\n", v);
        }
    }

    metric_head(&b, "rcgc_worker_memory_bytes", "gauge",
                "Per-worker memory from /proc/<pid>/smaps_rollup");
    static const gauge_kind mem_kinds[] = {
        {"rss", offsetof(worker_slot, rss)},
        {"pss", offsetof(worker_slot, pss)},
        {"shared", offsetof(worker_slot, shared)},
        {"private_dirty", offsetof(worker_slot, private_dirty)}};
    per_worker_gauges(&b, m, "rcgc_worker_memory_bytes", mem_kinds, 4);
    metric_head(&b, "rcgc_worker_requests_total", "counter", "Requests served per worker slot");
    for (uint32_t i = 0; i < m->nworkers; i++)
        vbuf_printf(&b, "rcgc_worker_requests_total{worker=\"%u\"} %llu\n", i,
                    (unsigned long long)m->slots[i].requests);
    metric_head(&b, "rcgc_heap_tracked_objects", "gauge", "Tracked objects (sum over workers)");
    vbuf_printf(&b, "rcgc_heap_tracked_objects %llu\n", (unsigned long long)tracked);
    metric_head(&b, "rcgc_gc_frozen_objects", "gauge", "Frozen objects (sum over workers)");
    vbuf_printf(&b, "rcgc_gc_frozen_objects %llu\n", (unsigned long long)frozen);
    metric_head(&b, "rcgc_allocator_bytes", "gauge",
                "The rcgc allocator per worker: live block bytes, committed region bytes, free "
                "bytes inside pools in use");
    static const gauge_kind heap_kinds[] = {
        {"live", offsetof(worker_slot, heap_live_bytes)},
        {"committed", offsetof(worker_slot, heap_committed_bytes)},
        {"pool_free", offsetof(worker_slot, heap_pool_free_bytes)}};
    per_worker_gauges(&b, m, "rcgc_allocator_bytes", heap_kinds, 3);
    metric_head(&b, "rcgc_live_bytes", "gauge",
                "Bytes of live tracked objects by type (each worker's top types, summed)");
    type_count *tc = calloc(VIEWS_SLOT_TYPES * VIEWS_MAX_WORKERS, sizeof *tc);
    int ntc = tc ? types_all(tc) : 0;
    for (int j = 0; j < ntc; j++) {
        vbuf_puts(&b, "rcgc_live_bytes{type=\"");
        label_value(&b, tc[j].name);
        vbuf_printf(&b, "\"} %llu\n", (unsigned long long)tc[j].bytes);
    }
    metric_head(&b, "rcgc_live_objects", "gauge",
                "Live tracked objects by type (each worker's top types, summed)");
    for (int j = 0; j < ntc; j++) {
        vbuf_puts(&b, "rcgc_live_objects{type=\"");
        label_value(&b, tc[j].name);
        vbuf_printf(&b, "\"} %llu\n", (unsigned long long)tc[j].count);
    }
    free(tc);
    metric_head(&b, "rcgc_allocations_total", "counter", "Heap allocations (all workers)");
    vbuf_printf(&b, "rcgc_allocations_total %llu\n", (unsigned long long)agg->allocs);
    metric_head(&b, "rcgc_workers", "gauge", "Workers running");
    vbuf_printf(&b, "rcgc_workers %u\n", live);
    metric_head(&b, "rcgc_worker_restarts_total", "counter", "Workers replaced by the master");
    vbuf_printf(&b, "rcgc_worker_restarts_total{reason=\"crash\"} %llu\n",
                (unsigned long long)m->crashes);
    vbuf_printf(&b, "rcgc_worker_restarts_total{reason=\"recycle\"} %llu\n",
                (unsigned long long)m->recycles);
    free(agg);
    r->content_type = "text/plain; version=0.0.4; charset=utf-8";
    return json_result(r, &b);
}

/* ===================================================================== */
/* /debug/sites: top allocation sites per view (--trace)                 */
/* ===================================================================== */

/* The traces of one view (its tag), or all of them (view NULL), copied
** into a new snapshot so the snapshot statistics can group them. */
static rcgc_snapshot *view_traces(const rcgc_snapshot *all, const char *view)
{
    rcgc_snapshot *s = rcgc_snapshot_new(rcgc_snapshot_traceback_limit(all));
    rcgc_trace t;
    rcgc_frame frames[16];
    for (size_t i = 0; s && rcgc_snapshot_get(all, i, &t); i++) {
        if (view && (!t.tag || strcmp(t.tag, view) != 0))
            continue;
        unsigned n = t.traceback ? rcgc_traceback_nframe(t.traceback) : 0;
        if (n > 16)
            n = 16;
        for (unsigned k = 0; k < n; k++)
            frames[k] = rcgc_traceback_frame(t.traceback, k);
        if (rcgc_snapshot_add(s, t.domain, t.size, frames, n,
                              t.traceback ? rcgc_traceback_total_nframe(t.traceback) : 0, t.type,
                              t.tag) != RCGC_OK) {
            rcgc_snapshot_free(s);
            return NULL;
        }
    }
    return s;
}

static rcgc_snapshot *sites_mark;

static vobj *view_sites(view_request *r)
{
    rcgc_heap *h = views_worker->heap;
    if (!rcgc_trace_is_tracing(h))
        return view_fail(r, 409, "allocation tracing is off: start the server with --trace "
                                 "exact or --trace sampled");
    const char *view = req_query(r, "view");
    const char *keyname = req_query(r, "key");
    long long limit = req_query_int(r, "limit", 10, 1, 1000);
    if (r->status)
        return NULL;
    static const char *const keys[] = {"filename", "lineno", "traceback", "type", "tag"};
    rcgc_stat_key key = RCGC_STAT_LINENO;
    if (keyname) {
        int k = 0;
        while (k < 5 && strcmp(keys[k], keyname) != 0)
            k++;
        if (k == 5)
            return view_fail(r, 400, "key must be filename, lineno, traceback, type or tag");
        key = (rcgc_stat_key)k;
    }
    bool compare = req_query(r, "compare") != NULL;
    if (compare && !sites_mark)
        return view_fail(r, 409, "no mark to compare with: POST /debug/sites/mark first");
    rcgc_snapshot *all = NULL, *mine = NULL, *old = NULL;
    rcgc_stats *st = NULL;
    /* The snapshot is taken with the tag popped: its own allocations are not
    ** traced (the tracer's memory is its own). */
    rcgc_status rc = rcgc_trace_take_snapshot(h, &all);
    if (rc == RCGC_OK && !(mine = view_traces(all, view)))
        rc = RCGC_ENOMEM;
    if (rc == RCGC_OK && compare && !(old = view_traces(sites_mark, view)))
        rc = RCGC_ENOMEM;
    if (rc == RCGC_OK)
        rc = compare ? rcgc_snapshot_compare_to(mine, old, key, false, &st)
                     : rcgc_snapshot_statistics(mine, key, false, &st);
    vobj *d = NULL;
    if (rc == RCGC_OK) {
        d = v_dict(r->heap);
        v_set_int(d, "worker", views_worker->index);
        v_set_str(d, "view", view ? view : "(all)");
        v_set_str(d, "key", keys[key]);
        v_set_bool(d, "compare", compare);
        v_set_int(d, "traces", (long long)rcgc_snapshot_count(mine));
        v_set_int(d, "sample_mean_bytes", (long long)rcgc_snapshot_sample_mean(mine));
        vobj *list = v_list(r->heap);
        size_t n = rcgc_stats_count(st);
        for (size_t i = 0; i < n && i < (size_t)limit; i++) {
            const rcgc_stat *x = rcgc_stats_get(st, i);
            char line[512];
            rcgc_stat_format(x, compare, line, sizeof line);
            vobj *e = v_dict(r->heap);
            v_set_str(e, "stat", line);
            v_set_int(e, "size", (long long)x->size);
            v_set_int(e, "count", (long long)x->count);
            if (compare) {
                v_set_int(e, "size_diff", x->size_diff);
                v_set_int(e, "count_diff", x->count_diff);
            }
            if (x->traceback) {
                vobj *tb = v_list(r->heap);
                for (unsigned k = rcgc_traceback_nframe(x->traceback); k-- > 0;) {
                    rcgc_frame f = rcgc_traceback_frame(x->traceback, k);
                    char fr[300];
                    snprintf(fr, sizeof fr, "%s:%u in %s", f.filename, f.lineno, f.function);
                    v_list_append(tb, v_str(r->heap, fr));
                }
                v_dict_set(e, "traceback", tb);
            }
            v_list_append(list, e);
        }
        v_dict_set(d, "top", list);
    }
    rcgc_stats_free(st);
    rcgc_snapshot_free(old);
    rcgc_snapshot_free(mine);
    rcgc_snapshot_free(all);
    return d ? d : view_fail(r, 503, "snapshot failed: %s", rcgc_strerror(rc));
}

static vobj *view_sites_mark(view_request *r)
{
    rcgc_heap *h = views_worker->heap;
    if (!rcgc_trace_is_tracing(h))
        return view_fail(r, 409, "allocation tracing is off (--trace)");
    rcgc_snapshot *s = NULL;
    rcgc_status rc = rcgc_trace_take_snapshot(h, &s);
    if (rc != RCGC_OK)
        return view_fail(r, 503, "snapshot failed: %s", rcgc_strerror(rc));
    rcgc_snapshot_free(sites_mark);
    sites_mark = s;
    vobj *d = v_dict(r->heap);
    v_set_int(d, "worker", views_worker->index);
    v_set_int(d, "traces", (long long)rcgc_snapshot_count(s));
    return d;
}

/* This worker's live figures right now, without a collection: what a test
** compares before and after a run of requests on one connection. */
static vobj *view_heap(view_request *r)
{
    rcgc_heap *h = views_worker->heap;
    rcgc_mem_stats ms;
    memset(&ms, 0, sizeof ms);
    ms.struct_size = sizeof ms;
    rcgc_mem_stats_get(h, &ms);
    vbuf b;
    vbuf_init(&b);
    vbuf_printf(&b,
                "{\"worker\":%d,\"pid\":%d,\"tracked\":%zu,\"frozen\":%zu,\"allocations\":%llu,"
                "\"live_blocks\":%llu,\"live_bytes\":%llu,\"tracer_bytes\":%zu,"
                "\"generations\":[%zu,%zu,%zu],\"garbage\":%zu}\n",
                views_worker->index, (int)getpid(), rcgc_gc_generation_size(h, -1),
                rcgc_gc_get_freeze_count(h), (unsigned long long)rcgc_fault_allocations(h),
                (unsigned long long)ms.live_blocks, (unsigned long long)ms.live_bytes,
                rcgc_trace_get_tracer_memory(h), rcgc_gc_generation_size(h, 0),
                rcgc_gc_generation_size(h, 1), rcgc_gc_generation_size(h, 2),
                rcgc_gc_garbage_count(h));
    return json_result(r, &b);
}

void debug_register(void)
{
    router_add("/debug/heap", M_GET, "debug_heap", view_heap);
    router_add("/debug/sites", M_GET, "debug_sites", view_sites);
    router_add("/debug/sites/mark", M_POST, "debug_sites_mark", view_sites_mark);
    router_add("/debug/gc", M_GET, "debug_gc", view_gc);
    router_add("/debug/gc/events", M_GET, "debug_gc_events", view_gc_events);
    router_add("/debug/gc/collect", M_POST, "debug_gc_collect", view_gc_collect);
    router_add("/debug/gc/enable", M_POST, "debug_gc_enable", view_gc_enable);
    router_add("/debug/gc/disable", M_POST, "debug_gc_disable", view_gc_disable);
    router_add("/debug/gc/threshold", M_POST, "debug_gc_threshold", view_gc_threshold);
    router_add("/debug/views", M_GET, "debug_views", view_views);
    router_add("/debug/workers", M_GET, "debug_workers", view_workers);
    router_add("/debug/census", M_GET, "debug_census", view_census);
    router_add("/debug/census.html", M_GET, "debug_census_html", view_census_page);
    router_add("/debug/census/mark", M_POST, "debug_census_mark", view_census_mark);
    router_add("/debug/census/objects", M_GET, "debug_census_objects", view_census_objects);
    router_add("/debug/referrers", M_GET, "debug_referrers", view_referrers);
    router_add("/debug/memory", M_GET, "debug_memory", view_memory_page);
    router_add("/debug/memory.json", M_GET, "debug_memory_json", view_memory_json);
    router_add("/metrics", M_GET, "metrics", view_metrics);
}
