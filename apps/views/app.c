/*
** app.c -- the demo application and the teaching views (VIEWS.md #11).
**
** Views receive a request and return a value (dict or list) that the worker
** serialises to JSON. The module-level objects here (the logs and the cache)
** are what a Python module's globals would be: they live as long as the
** worker, and whatever a view stores in them outlives the request. The
** teaching views come in before/after pairs whose difference shows in the
** Server-Timing header, on /debug/views and in the leak verdict.
*/
#include "views.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The master's application state, shared copy-on-write by the workers. */
static vobj *app_state;
static vobj *app_records;
/* Module-level globals of the teaching views (one set per worker process). */
static vobj *unbounded_log, *capped_log, *strong_cache;
static rcgc_weakmap *weak_cache;
static long long cache_counter;

#define CAPPED_LOG_MAX 10

const char *app_root_name(const void *obj)
{
    if (!obj)
        return NULL;
    if (obj == unbounded_log)
        return "unbounded_log";
    if (obj == capped_log)
        return "capped_log";
    if (obj == strong_cache)
        return "strong_cache";
    if (obj == weak_cache)
        return "weak_cache";
    if (obj == app_state)
        return "app_state";
    if (obj == app_records)
        return "app_state['records']";
    return NULL;
}

vobj *app_state_build(rcgc_heap *h, unsigned records)
{
    vobj *st = v_dict(h);
    vobj *list = v_list(h);
    if (!st || !list) {
        v_xunref(st);
        v_xunref(list);
        return NULL;
    }
    for (unsigned i = 0; i < records; i++) {
        vobj *rec = v_dict(h);
        char name[48];
        snprintf(name, sizeof name, "record-%u", i);
        v_set_int(rec, "id", i);
        v_set_str(rec, "name", name);
        v_set_float(rec, "score", (double)(i % 1000) / 10.0);
        vobj *tags = v_list(h);
        v_list_append(tags, v_str(h, i % 2 ? "odd" : "even"));
        v_list_append(tags, v_str(h, "demo"));
        v_dict_set(rec, "tags", tags);
        if (v_list_append(list, rec)) {
            v_unref(list);
            v_unref(st);
            return NULL;
        }
    }
    v_set_str(st, "name", "rcgc-views demo state");
    v_set_int(st, "records_count", records);
    app_records = list;
    if (v_dict_set(st, "records", list)) {
        v_unref(st);
        return NULL;
    }
    app_state = st;
    return st;
}

/* ===================================================================== */
/* Demo views                                                            */
/* ===================================================================== */

static vobj *view_index(view_request *r)
{
    rcgc_heap *h = r->heap;
    vobj *d = v_dict(h);
    vobj *list = v_list(h);
    for (int i = 0; i < router_count(); i++) {
        const route *rt = router_get(i);
        vobj *e = v_dict(h);
        char m[64];
        methods_str(rt->methods, m, sizeof m);
        v_set_str(e, "pattern", rt->pattern);
        v_set_str(e, "view", rt->name);
        v_set_str(e, "methods", m);
        v_list_append(list, e);
    }
    v_set_str(d, "server", "rcgc-views");
    v_set_int(d, "worker", views_worker->index);
    v_dict_set(d, "routes", list);
    return d;
}

static vobj *view_hello(view_request *r)
{
    vobj *d = v_dict(r->heap);
    v_set_str(d, "hello", req_str(r, "name"));
    v_set_int(d, "worker", views_worker->index);
    return d;
}

static vobj *view_item(view_request *r)
{
    long long id = req_int(r, "id");
    vobj *rec = v_list_get(app_records, (size_t)id);
    if (!rec || id < 0)
        return view_fail(r, 404, "no item %lld (there are %zu)", id, v_len(app_records));
    vobj *d = v_dict(r->heap);
    /* A new reference to shared state: a refcount write on a page the
    ** master made, unless the state is immortal (--freeze immortal). */
    v_dict_set(d, "item", v_ref(rec));
    v_set_int(d, "worker", views_worker->index);
    return d;
}

static vobj *view_items_post(view_request *r)
{
    vobj *body = req_json(r);
    if (!body)
        return NULL;
    vobj *d = v_dict(r->heap);
    v_dict_set(d, "received", body);
    v_set_int(d, "size", (long long)v_len(body));
    r->status = 201;
    return d;
}

static vobj *view_sum(view_request *r)
{
    vobj *d = v_dict(r->heap);
    long long a = req_int(r, "a"), b = req_int(r, "b");
    v_set_int(d, "a", a);
    v_set_int(d, "b", b);
    if ((b > 0 && a > __LONG_LONG_MAX__ - b))
        return v_unref(d), view_fail(r, 400, "sum overflows");
    v_set_int(d, "sum", a + b);
    return d;
}

static vobj *view_echo(view_request *r)
{
    vobj *body = req_json(r);
    if (!body)
        return NULL;
    return body;
}

static vobj *view_files(view_request *r)
{
    vobj *d = v_dict(r->heap);
    v_set_str(d, "path", req_str(r, "rest"));
    return d;
}

/* ===================================================================== */
/* Teaching views: each a measured before/after pair                     */
/* ===================================================================== */

/* --- materialise vs stream ------------------------------------------- */

static vobj *make_row(rcgc_heap *h, long long i)
{
    vobj *row = v_dict(h);
    char name[32];
    snprintf(name, sizeof name, "row-%lld", i);
    v_set_int(row, "i", i);
    v_set_str(row, "name", name);
    v_set_float(row, "value", (double)i * 0.5);
    vobj *tags = v_list(h);
    v_list_append(tags, v_str(h, "t"));
    v_dict_set(row, "tags", tags);
    return row;
}

static vobj *view_materialise(view_request *r)
{
    long long n = req_query_int(r, "n", 10000, 0, 1000000);
    if (r->status)
        return NULL;
    vobj *list = v_list(r->heap);
    for (long long i = 0; i < n; i++)
        if (v_list_append(list, make_row(r->heap, i))) {
            v_xunref(list);
            return view_fail(r, 503, "out of memory after %lld rows", i);
        }
    /* The whole result is alive at once before serialisation: the peak is
    ** n rows (about 3 tracked objects each). */
    return list;
}

typedef struct stream_state {
    rcgc_heap *heap;
    long long n, i;
    int route;
    vbuf pending;
    size_t off;
} stream_state;

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    stream_state *s = cls;
    const route *rt = router_get(s->route);
    view_stats *vs = &views_worker->slot->views[s->route];
    /* The rows are made here, after the view returned: attribute them to it
    ** (allocations, and with --trace the tag, the host frame and the peak). */
    bool traced = rcgc_trace_is_tracing(s->heap);
    size_t cur0 = 0, peak = 0, cur1 = 0;
    if (traced) {
        rcgc_trace_tag_push(s->heap, rt->name);
        rcgc_trace_frame_push(s->heap, rt->pattern, 0, rt->name);
        rcgc_trace_reset_peak(s->heap);
        rcgc_trace_get_traced_memory(s->heap, &cur0, &peak);
    }
    uint64_t a0 = rcgc_fault_allocations(s->heap), b0 = rcgc_allocated_bytes(s->heap);
    ssize_t ret = 0;
    while (s->pending.len - s->off < max && s->i <= s->n) {
        if (s->i == s->n) {
            vbuf_puts(&s->pending, "]\n");
            s->i++;
            break;
        }
        /* One row alive at a time: build it, write it, drop it. */
        vobj *row = make_row(s->heap, s->i);
        if (s->i)
            vbuf_put(&s->pending, ",", 1);
        if (!row || v_to_json(row, &s->pending)) {
            v_xunref(row);
            ret = MHD_CONTENT_READER_END_WITH_ERROR;
            break;
        }
        v_unref(row);
        s->i++;
    }
    vs->allocs += rcgc_fault_allocations(s->heap) - a0;
    vs->alloc_bytes += rcgc_allocated_bytes(s->heap) - b0;
    if (traced) {
        rcgc_trace_get_traced_memory(s->heap, &cur1, &peak);
        rcgc_trace_frame_pop(s->heap);
        rcgc_trace_tag_pop(s->heap);
        if (peak > cur0 && peak - cur0 > vs->peak_bytes)
            vs->peak_bytes = peak - cur0;
    }
    if (ret)
        return ret;
    size_t avail = s->pending.len - s->off;
    if (!avail)
        return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = avail < max ? avail : max;
    memcpy(buf, s->pending.data + s->off, n);
    s->off += n;
    if (s->off == s->pending.len) {
        s->pending.len = 0;
        s->off = 0;
    }
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    stream_state *s = cls;
    vbuf_fini(&s->pending);
    free(s);
}

static vobj *view_stream(view_request *r)
{
    long long n = req_query_int(r, "n", 10000, 0, 1000000);
    if (r->status)
        return NULL;
    stream_state *s = calloc(1, sizeof *s);
    if (!s)
        return view_fail(r, 503, "out of memory");
    s->heap = r->heap;
    s->n = n;
    s->route = r->route;
    vbuf_init(&s->pending);
    vbuf_put(&s->pending, "[", 1);
    r->response = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, s,
                                                    stream_free);
    if (!r->response) {
        stream_free(s);
        return view_fail(r, 503, "out of memory");
    }
    MHD_add_response_header(r->response, "Content-Type", "application/json");
    return NULL;
}

/* --- unbounded vs capped debug log ---------------------------------- */

static vobj *log_entry(view_request *r)
{
    vobj *e = v_dict(r->heap);
    v_set_str(e, "path", r->path);
    v_set_int(e, "t_ms", (long long)now_ms());
    vobj *ctx = v_list(r->heap);
    v_list_append(ctx, v_str(r->heap, "request context kept for debugging"));
    v_dict_set(e, "context", ctx);
    return e;
}

static vobj *view_log_unbounded(view_request *r)
{
    if (!unbounded_log)
        unbounded_log = v_list(r->heap);
    v_list_append(unbounded_log, log_entry(r));
    vobj *d = v_dict(r->heap);
    v_set_int(d, "log_entries", (long long)v_len(unbounded_log));
    v_set_str(d, "lesson", "every request appends to a module-level list: memory grows forever");
    return d;
}

static vobj *view_log_capped(view_request *r)
{
    if (!capped_log)
        capped_log = v_list(r->heap);
    v_list_append(capped_log, log_entry(r));
    while (v_len(capped_log) > CAPPED_LOG_MAX)
        v_list_del(capped_log, 0);
    vobj *d = v_dict(r->heap);
    v_set_int(d, "log_entries", (long long)v_len(capped_log));
    v_set_int(d, "cap", CAPPED_LOG_MAX);
    v_set_str(d, "lesson", "the same log, capped: the oldest entry goes when a new one comes");
    return d;
}

/* --- strong vs bounded cache ---------------------------------------- */

static vobj *expensive(view_request *r, long long key)
{
    vobj *v = v_dict(r->heap);
    v_set_int(v, "key", key);
    vobj *l = v_list(r->heap);
    for (int i = 0; i < 4; i++)
        v_list_append(l, v_int(r->heap, key * i));
    v_dict_set(v, "multiples", l);
    return v;
}

static vobj *view_cache_strong(view_request *r)
{
    /* The key space is unbounded (here: a counter, in real code a user id or
    ** a query string), and a strong module-level cache keeps every value. */
    long long key = req_query_int(r, "key", ++cache_counter, 0, __LONG_LONG_MAX__);
    if (r->status)
        return NULL;
    if (!strong_cache)
        strong_cache = v_dict(r->heap);
    char k[32];
    snprintf(k, sizeof k, "%lld", key);
    vobj *v = v_dict_get(strong_cache, k);
    bool hit = v != NULL;
    if (!v) {
        v = expensive(r, key);
        v_dict_set(strong_cache, k, v);
    }
    vobj *d = v_dict(r->heap);
    v_set_bool(d, "hit", hit);
    v_set_int(d, "cache_size", (long long)v_len(strong_cache));
    v_dict_set(d, "value", v_ref(v));
    return d;
}

#ifndef VIEWS_MALLOC /* these views need the collector or weak references */
/* A user-defined result object: like instances of a Python class (and unlike
** dict and list) it can be weakly referenced. It holds the computed value. */
typedef struct result_obj {
    vobj *value;
} result_obj;

static int result_traverse(void *o, rcgc_visit_fn visit, void *arg)
{
    result_obj *r = o;
    RCGC_VISIT(r->value);
    return 0;
}

static void result_clear(void *o)
{
    result_obj *r = o;
    RCGC_CLEAR(r->value);
}

static const rcgc_type result_type = {.name = "Result",
                                      .size = sizeof(result_obj),
                                      .flags = RCGC_TYPE_WEAKREFABLE,
                                      .traverse = result_traverse,
                                      .clear = result_clear};

static vobj *view_cache_weak(view_request *r)
{
    /* The same unbounded key space, but the module-level cache maps keys to
    ** results weakly (WeakValueDictionary): an entry lives exactly as long as
    ** someone else holds its result, so the cache never outgrows the live
    ** working set. */
    long long key = req_query_int(r, "key", ++cache_counter, 0, __LONG_LONG_MAX__);
    if (r->status)
        return NULL;
    if (!weak_cache && !(weak_cache = rcgc_weakvaluemap_new(r->heap, NULL)))
        return view_fail(r, 503, "out of memory");
    char k[32];
    snprintf(k, sizeof k, "%lld", key);
    result_obj *res = rcgc_weakvaluemap_get(weak_cache, k);
    bool hit = res != NULL;
    if (!res) {
        res = rcgc_new(r->heap, &result_type);
        if (!res)
            return view_fail(r, 503, "out of memory");
        res->value = expensive(r, key);
        rcgc_weakvaluemap_set(weak_cache, k, res);
    }
    vobj *d = v_dict(r->heap);
    v_set_bool(d, "hit", hit);
    v_set_int(d, "cache_size", (long long)rcgc_weakmap_len(weak_cache));
    v_dict_set(d, "value", res->value ? v_ref(res->value) : NULL);
    rcgc_unref(res); /* the last strong reference: the entry goes with it */
    v_set_str(d, "lesson", "a weak-value cache: entries vanish with the last strong reference");
    return d;
}

/* --- a cycle the collector reclaims vs one a plain refcounter leaks ---- */

/* A node of a "plain refcounted library": it holds strong references but has
** no traverse, so the cycle collector cannot see them (as a C extension type
** without tp_traverse, or any refcount-only library). */
typedef struct plain_node {
    void *peer;
    void *payload;
} plain_node;

static void plain_clear(void *o)
{
    plain_node *n = o;
    RCGC_CLEAR(n->peer);
    RCGC_CLEAR(n->payload);
}

static const rcgc_type plain_node_type = {
    .name = "plain_node", .size = sizeof(plain_node), .clear = plain_clear};

/* The answer of the cycle teaching views: how many, and the lesson. */
static vobj *cycles_answer(view_request *r, long long n, const char *lesson)
{
    vobj *d = v_dict(r->heap);
    v_set_int(d, "cycles_made", n);
    v_set_str(d, "lesson", lesson);
    return d;
}

static vobj *view_cycle_collected(view_request *r)
{
    long long n = req_query_int(r, "n", 100, 0, 100000);
    if (r->status)
        return NULL;
    for (long long i = 0; i < n; i++) {
        /* parent["children"] = [child]; child["parent"] = parent */
        vobj *parent = v_dict(r->heap);
        vobj *child = v_dict(r->heap);
        vobj *children = v_list(r->heap);
        v_set_int(child, "i", i);
        v_list_append(children, child ? v_ref(child) : NULL);
        v_dict_set(parent, "children", children);
        v_dict_set(child, "parent", parent ? v_ref(parent) : NULL);
        v_xunref(parent);
        v_xunref(child);
    }
    return cycles_answer(r, n, "parent <-> child cycles: refcounting cannot free them, the "
                               "cycle collector does at the next collection");
}

static vobj *view_cycle_leak(view_request *r)
{
    long long n = req_query_int(r, "n", 100, 0, 100000);
    if (r->status)
        return NULL;
    for (long long i = 0; i < n; i++) {
        plain_node *a = rcgc_new(r->heap, &plain_node_type);
        plain_node *b = rcgc_new(r->heap, &plain_node_type);
        if (!a || !b) {
            rcgc_xunref(a);
            rcgc_xunref(b);
            return view_fail(r, 503, "out of memory");
        }
        a->peer = rcgc_ref(b);
        b->peer = rcgc_ref(a);
        a->payload = v_dict(r->heap);
        v_set_int(a->payload, "i", i);
        rcgc_unref(a);
        rcgc_unref(b);
    }
    return cycles_answer(r, n, "the same cycle through a type without traverse: invisible "
                               "to the collector, it leaks as in any plain refcounted library");
}

/* --- cycles with the collector disabled ------------------------------ */

static vobj *view_cycles_gc_off(view_request *r)
{
    rcgc_gc_disable(r->heap);
    vobj *d = view_cycle_collected(r);
    if (!d)
        return NULL;
    v_set_bool(d, "gc_enabled", false);
    v_set_int(d, "tracked_objects", (long long)rcgc_gc_generation_size(r->heap, -1));
    v_set_str(d, "lesson", "automatic collection is now off in this worker: every request's "
                           "cycles stay, memory grows linearly (POST /debug/gc/enable)");
    return d;
}

#endif /* VIEWS_MALLOC */

void app_register(void)
{
    router_add("/", M_GET, "index", view_index);
    router_add("/hello/<str:name>", M_GET, "hello", view_hello);
    router_add("/items/<int:id>", M_GET, "item", view_item);
    router_add("/items", M_POST, "item_create", view_items_post);
    router_add("/sum/<int:a>/<int:b>", M_GET, "sum", view_sum);
    router_add("/echo", M_POST | M_PUT, "echo", view_echo);
    router_add("/files/<path:rest>", M_GET, "files", view_files);
    router_add("/teach/materialise", M_GET, "teach_materialise", view_materialise);
    router_add("/teach/stream", M_GET, "teach_stream", view_stream);
    router_add("/teach/log-unbounded", M_GET | M_POST, "teach_log_unbounded", view_log_unbounded);
    router_add("/teach/log-capped", M_GET | M_POST, "teach_log_capped", view_log_capped);
    router_add("/teach/cache-strong", M_GET, "teach_cache_strong", view_cache_strong);
#ifndef VIEWS_MALLOC
    router_add("/teach/cache-weak", M_GET, "teach_cache_weak", view_cache_weak);
    router_add("/teach/cycle-collected", M_GET, "teach_cycle_collected", view_cycle_collected);
    router_add("/teach/cycle-leak", M_GET, "teach_cycle_leak", view_cycle_leak);
    router_add("/teach/cycles-gc-off", M_GET, "teach_cycles_gc_off", view_cycles_gc_off);
#endif
}
