/*
** views.h -- the views server's internal declarations (rcgc-views).
**
** The server sees only the public headers (include/rcgc.h, the object kit)
** and GNU libmicrohttpd. Layout: main.c (flags, master, pre-fork, supervision),
** worker.c (one single-threaded process: its heap, the HTTP loop, attribution),
** router.c (Django-like patterns), value.c (response values and JSON),
** stats.c (the shared-memory statistics region, smaps_rollup), debug.c (the
** /debug and /metrics endpoints), app.c (the demo and teaching views).
*/
#ifndef VIEWS_H
#define VIEWS_H

#include <rcgc.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct MHD_Connection;
struct MHD_Response;

#if defined(__GNUC__)
#define VIEWS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define VIEWS_PRINTF(a, b)
#endif

/* ===================================================================== */
/* Limits                                                                */
/* ===================================================================== */

/* Shared-memory slots are fixed-size, so workers and routes are bounded. 32
** workers is far above the cores of the machines this runs on; 48 routes
** holds the demo, the teaching views and the debug endpoints with room. */
#define VIEWS_MAX_WORKERS 32
#define VIEWS_MAX_ROUTES 48
#define VIEWS_MAX_PARAMS 8
#define VIEWS_NAME_MAX 40
/* Collector pause histogram: upper bounds in microseconds (Prometheus le). */
#define VIEWS_PAUSE_BUCKETS 12
/* Request latency histogram (latency.c), log-linear: one bucket per
** microsecond below 8, then 8 sub-buckets per power of two up to 2^21 us
** (about 2 s); the last bucket is everything slower. 153 buckets. */
#define VIEWS_LAT_SUB_BITS 3
#define VIEWS_LAT_SUB (1 << VIEWS_LAT_SUB_BITS)
#define VIEWS_LAT_MAX_POW 21
#define VIEWS_LAT_BUCKETS ((VIEWS_LAT_MAX_POW - VIEWS_LAT_SUB_BITS + 1) * VIEWS_LAT_SUB + 1)
/* The bucket of a latency in microseconds; the lowest and highest value a
** bucket counts (the last one: its lower bound for both); the p-quantile
** (0..1) of a histogram as the highest value of its bucket, at most 12.5%
** above the true one (0 when empty). */
int lat_bucket(uint64_t us);
uint64_t lat_bucket_lo(int i);
uint64_t lat_bucket_hi(int i);
uint64_t lat_percentile(const uint64_t *lat, double p);
/* Collections kept per worker (a ring in shared memory) for
** /debug/gc/events, which the load harness polls to line collections up
** against request latency; the dashboard's pause timeline shows the last
** VIEWS_GC_EVENTS of them. */
#define VIEWS_GC_TIMELINE 4096
#define VIEWS_GC_EVENTS 64
/* Leak detector: points of (sampled request, cumulative retained) kept per
** view for the least-squares fit. */
#define VIEWS_LEAK_WINDOW 16

extern const unsigned views_pause_bucket_us[VIEWS_PAUSE_BUCKETS];

/* ===================================================================== */
/* Configuration (command-line flags)                                    */
/* ===================================================================== */

enum views_freeze { FREEZE_OFF = 0, FREEZE_ON = 1, FREEZE_IMMORTAL = 2 };
enum views_trace { TRACE_OFF = 0, TRACE_EXACT = 1, TRACE_SAMPLED = 2 };

typedef struct views_config {
    const char *host;          /* listen address; default 127.0.0.1 */
    int port;                  /* 0 = pick a free port (printed on the ready line) */
    int workers;               /* default: one per online core */
    unsigned threshold[3];     /* collector thresholds */
    bool threshold_set;        /* --gc-threshold given */
    rcgc_gc_mode gc_mode;      /* --gc-mode */
    int freeze;                /* enum views_freeze */
    uint64_t max_requests;     /* recycle a worker after this many; 0 = never */
    uint64_t max_requests_jitter; /* add 0..jitter to each worker's limit */
    uint64_t max_rss_bytes;    /* recycle a worker above this RSS; 0 = never */
    int trace;                 /* enum views_trace */
    bool log_json;             /* --log-format json */
    bool access_log;           /* one line per request (default on) */
    bool gc_log;               /* a DEBUG_STATS-style line per collection */
    size_t max_body_bytes;     /* request bodies above this get 413 */
    const char *pidfile;       /* written by the master once workers are up */
    unsigned app_records;      /* records in the master's shared app state */
    unsigned leak_sample;      /* leak-check one request in N per view; 0 = off */
    unsigned drain_seconds;    /* SIGTERM: wait this long for requests to finish */
} views_config;

/* ===================================================================== */
/* Growable text buffer (malloc'd; response bodies are handed to MHD)    */
/* ===================================================================== */

typedef struct vbuf {
    char *data;
    size_t len, cap;
    bool oom;                  /* an append failed; the content is truncated */
} vbuf;

void vbuf_init(vbuf *b);
void vbuf_fini(vbuf *b);
void vbuf_put(vbuf *b, const char *s, size_t n);
void vbuf_puts(vbuf *b, const char *s);
void vbuf_printf(vbuf *b, const char *fmt, ...) VIEWS_PRINTF(2, 3);
/* A JSON string literal: quotes and escapes. */
void vbuf_json_str(vbuf *b, const char *s, size_t n);
/* Hand the bytes over (malloc'd, NUL-terminated); the buffer is reset. */
char *vbuf_take(vbuf *b, size_t *len);

/* ===================================================================== */
/* Values: rcgc objects a view returns, serialised to JSON               */
/* ===================================================================== */

/* Every constructor returns a new reference or NULL when out of memory.
** Setters steal the value's reference and accept NULL (returning -1), so a
** view can chain constructors without checking each one. */
typedef void vobj;

/* References to values: the heap's, or the malloc anchor's (VIEWS_MALLOC,
** value_malloc.c, the benchmark's "same views on plain malloc/free"). */
#ifdef VIEWS_MALLOC
vobj *v_ref(vobj *o);
void v_unref(vobj *o);
void v_xunref(vobj *o);
#else
#define v_ref(o) rcgc_ref(o)
#define v_unref(o) rcgc_unref(o)
#define v_xunref(o) rcgc_xunref(o)
#endif

/* The kit the v_* functions use, made for the master's heap before fork. */
int value_init(rcgc_heap *h);
struct rcgc_kit *value_kit(void);

vobj *v_none(rcgc_heap *h);
vobj *v_bool(rcgc_heap *h, bool b);
vobj *v_int(rcgc_heap *h, long long i);
vobj *v_float(rcgc_heap *h, double d);
vobj *v_str(rcgc_heap *h, const char *s);
vobj *v_strn(rcgc_heap *h, const char *s, size_t n);
vobj *v_list(rcgc_heap *h);
vobj *v_dict(rcgc_heap *h);
int v_list_append(vobj *list, vobj *item);
int v_dict_set(vobj *dict, const char *key, vobj *val);
size_t v_len(vobj *container);
vobj *v_list_get(vobj *list, size_t i);   /* borrowed */
int v_list_del(vobj *list, size_t i);
vobj *v_dict_get(vobj *dict, const char *key); /* borrowed */
bool v_is_int(vobj *o);
long long v_int_value(vobj *o);
/* Shorthands for dict fields. */
int v_set_int(vobj *d, const char *key, long long i);
int v_set_float(vobj *d, const char *key, double x);
int v_set_str(vobj *d, const char *key, const char *s);
int v_set_bool(vobj *d, const char *key, bool b);
/* JSON text of o appended to out; 0 or -1 (out of memory, too deep). */
int v_to_json(vobj *o, vbuf *out);
/* Parse JSON. 0 and a new reference in *out, or -1 with the 1-based line
** and column of the error and a message. */
int v_from_json(rcgc_heap *h, const char *text, size_t len, vobj **out,
                int *line, int *col, char *msg, size_t msgsize);
/* Make o and everything it reaches immortal (freeze=immortal). */
size_t v_make_immortal(rcgc_heap *h, vobj *o);

/* ===================================================================== */
/* Requests, views and the router                                        */
/* ===================================================================== */

enum {
    M_GET = 1u << 0,
    M_POST = 1u << 1,
    M_PUT = 1u << 2,
    M_DELETE = 1u << 3,
    M_PATCH = 1u << 4,
    M_ANY_DATA = M_POST | M_PUT | M_PATCH
};

typedef struct view_param {
    const char *name;
    bool is_int;
    long long i;
    char s[128];
} view_param;

typedef struct view_request {
    rcgc_heap *heap;
    struct MHD_Connection *conn;
    const char *method;
    const char *path;
    const char *body;          /* NUL-terminated copy; NULL when empty */
    size_t body_len;
    int nparams;
    view_param params[VIEWS_MAX_PARAMS];
    int route;                 /* index in the router table */
    /* Out: an error status and message (view_fail), or a response the view
    ** built itself (streaming, HTML); otherwise the returned value is JSON. */
    int status;
    char error[256];
    int err_line, err_col;     /* bad JSON: where (0 = not a JSON error) */
    struct MHD_Response *response;
    const char *content_type;
} view_request;

typedef vobj *(*view_fn)(view_request *r);

typedef struct route {
    char pattern[96];
    char name[VIEWS_NAME_MAX];
    unsigned methods;
    view_fn fn;
    bool internal;             /* /debug and /metrics: not leak-checked */
} route;

int router_add(const char *pattern, unsigned methods, const char *name, view_fn fn);
int router_count(void);
const route *router_get(int i);
unsigned method_bit(const char *method);
/* Match path and method: 0 and r->route/params set, or an HTTP status
** (400 bad parameter, 404, 405) with r->error set; *allowed gets the methods
** of a route whose pattern matched (for the Allow header). */
int router_match(const char *path, const char *method, view_request *r, unsigned *allowed);
void methods_str(unsigned methods, char *out, size_t size);

long long req_int(view_request *r, const char *name);
const char *req_str(view_request *r, const char *name);
const char *req_query(view_request *r, const char *name);
long long req_query_int(view_request *r, const char *name, long long dflt, long long lo, long long hi);
vobj *view_fail(view_request *r, int status, const char *fmt, ...) VIEWS_PRINTF(3, 4);
/* The request body parsed as JSON (new reference), or NULL after a 400 with
** the decoder's line and column. */
vobj *req_json(view_request *r);

/* ===================================================================== */
/* Shared statistics (one region, mapped before fork)                    */
/* ===================================================================== */

/* Objects of one type: a census row, or a view's survivors. */
typedef struct type_count {
    char name[24];
    uint64_t count, bytes;
} type_count;

/* Types kept per view for what its sampled requests left alive. */
#define VIEWS_SURVIVOR_TYPES 4
/* Add count objects and bytes of type name to a list of n rows kept most
** common first; a type that does not fit replaces the last row only when it
** has more objects. */
void survivors_add(type_count *rows, int n, const char *name, uint64_t count, uint64_t bytes);

typedef struct view_stats {
    uint64_t requests;
    uint64_t errors;           /* responses with status >= 400 */
    uint64_t allocs;           /* allocations made while the view ran */
    uint64_t alloc_bytes;      /* bytes those allocations handed out */
    uint64_t time_us;
    uint64_t lat[VIEWS_LAT_BUCKETS];
    int64_t live_delta;        /* tracked objects after - before the view, summed */
    int64_t traced_bytes_delta;/* --trace: traced bytes after - before, summed */
    uint64_t peak_bytes;       /* --trace: highest peak of traced bytes in a view */
    uint64_t sampled;          /* requests the leak detector checked */
    int64_t retained;          /* net live blocks added by sampled requests */
    int64_t retained_bytes;    /* net live bytes added by sampled requests */
    uint64_t escapes;          /* sampled requests that left new objects alive */
    uint32_t leak;             /* verdict: retained memory keeps growing */
    float slope;               /* fitted retained objects per request */
    char escape_type[VIEWS_NAME_MAX];  /* type of the last escaped object */
    char escape_chain[160];            /* its referrer chain to a root */
    char escape_site[160];             /* --trace: its allocation traceback */
    /* Tracked objects the sampled requests left alive (escaped), by type,
    ** summed over the samples: the leak's survivor types. */
    type_count survivors[VIEWS_SURVIVOR_TYPES];
} view_stats;

/* Top types of a worker's tracked objects, published every few seconds. */
#define VIEWS_SLOT_TYPES 8

/* Why a collection ran: the collector's own trigger at the safe point
** between requests, the leak detector around a sampled request, or a
** /debug/gc/collect command. */
enum gc_cause { GC_AUTO = 0, GC_LEAK_SAMPLE = 1, GC_COMMAND = 2 };
extern int views_gc_cause;     /* set around explicit rcgc_gc_collect calls */

typedef struct gc_event {
    uint64_t seq;              /* 1 for the worker's first collection; written last */
    uint64_t t_us;             /* wall clock (CLOCK_REALTIME) at its start, microseconds */
    uint32_t dur_us;
    uint32_t collected;
    int32_t generation;
    uint8_t cause;             /* enum gc_cause */
    uint8_t increment;         /* an incremental step, not a full collection */
    uint16_t pad;
} gc_event;

/* One worker's collections, newest at (next - 1) % VIEWS_GC_TIMELINE. Reset
** when a new process takes the slot. A reader copies an event and keeps it
** only if its seq is the one expected (the writer may have lapped it). */
typedef struct gc_timeline {
    uint64_t next;             /* collections recorded by this process */
    gc_event ev[VIEWS_GC_TIMELINE];
} gc_timeline;

enum slot_state { SLOT_EMPTY = 0, SLOT_STARTING, SLOT_READY, SLOT_DRAINING };
enum slot_cmd { CMD_NONE = 0, CMD_COLLECT, CMD_ENABLE, CMD_DISABLE, CMD_THRESHOLD, CMD_REFERRERS };

/* Room for a referrer chain answered by another worker (CMD_REFERRERS). */
#define VIEWS_REPLY_MAX 2048

typedef struct worker_slot {
    int32_t pid;
    uint32_t state;
    uint32_t incarnation;      /* 1 for the first process in this slot */
    uint32_t gc_enabled;
    uint64_t start_ms;
    uint64_t requests;
    uint64_t bytes_out;
    uint64_t gc_collections[3], gc_collected[3], gc_uncollectable[3];
    uint64_t pause_bucket[VIEWS_PAUSE_BUCKETS + 1];
    uint64_t pause_count, pause_sum_ns, pause_max_ns;
    uint64_t tracked, frozen, gen_size[3], gc_count[3];
    uint32_t threshold[3];
    uint32_t gc_mode;
    uint64_t allocs;
    uint64_t heap_live_bytes, heap_committed_bytes, heap_pool_free_bytes; /* allocator */
    uint64_t rss, pss, shared, private_dirty, private_clean, swap; /* bytes */
    uint64_t cpu_ms, vsize, open_fds;
    view_stats views[VIEWS_MAX_ROUTES];
    type_count types[VIEWS_SLOT_TYPES];
    /* Commands from another worker: written, then cmd_seq is bumped and the
    ** target is woken with SIGUSR1; it applies them and copies cmd_seq to
    ** cmd_done. */
    uint32_t cmd_op;
    int32_t cmd_arg[3];
    uint64_t cmd_obj;          /* CMD_REFERRERS: the address asked about */
    char cmd_type[VIEWS_NAME_MAX]; /* CMD_REFERRERS: its expected type ("" = any) */
    int32_t cmd_status;        /* CMD_REFERRERS: HTTP status of the answer */
    char cmd_reply[VIEWS_REPLY_MAX]; /* its JSON fields, or the error message */
    volatile uint32_t cmd_seq, cmd_done;
    /* Held (CLOCK_MONOTONIC expiry in ns; 0 = free) by the one worker writing
    ** a command into this slot and waiting for it, so two senders never mix
    ** their arguments; a holder that died lets it expire. */
    uint64_t cmd_lock;
} worker_slot;

typedef struct shm_state {
    uint32_t nworkers;
    int32_t master_pid;
    uint64_t start_ms;
    uint64_t restarts, crashes, recycles;
    int32_t freeze;
    uint32_t app_objects;      /* objects in the master's app state */
    worker_slot retired;       /* counters of exited workers, folded in */
    worker_slot slots[VIEWS_MAX_WORKERS];
    /* Outside the slots, which are copied whole when aggregated. Only the
    ** pages a worker writes are ever backed (4096 events = 128 KiB). */
    gc_timeline timelines[VIEWS_MAX_WORKERS];
} shm_state;

shm_state *stats_map(void);
/* Add the cumulative counters of 'from' into 'into'. */
void stats_fold(worker_slot *into, const worker_slot *from);
void stats_read_proc(worker_slot *s, pid_t pid);
uint64_t now_ms(void);
uint64_t now_ns(void);       /* monotonic */
uint64_t now_us(void);       /* wall clock, microseconds */
int views_socket(views_config *cfg, bool do_listen);

/* ===================================================================== */
/* The worker process                                                    */
/* ===================================================================== */

typedef struct worker {
    int index;
    rcgc_heap *heap;
    worker_slot *slot;
    shm_state *shm;
    const views_config *cfg;
    vobj *app_state;           /* built by the master before fork */
    uint64_t request_limit;    /* max_requests + jitter; 0 = none */
    bool draining;
    const char *exit_reason;
} worker;

extern worker *views_worker;   /* this process's worker (NULL in the master) */

int worker_main(const views_config *cfg, shm_state *shm, int index, rcgc_heap *heap,
                vobj *app_state);
extern bool views_log_json;    /* --log-format json */
void views_log(const char *event, const char *fmt, ...) VIEWS_PRINTF(2, 3);

/* Per-view leak state (worker-private; the verdict goes to the slot). */
void leak_record(int ri, int64_t retained, int64_t retained_bytes, int64_t escaped,
                 const char *type, const char *chain);

/* ===================================================================== */
/* The application and the debug endpoints                               */
/* ===================================================================== */

/* Register routes (before fork: route indices are the same in every worker). */
void app_register(void);
void debug_register(void);
/* Publish this worker's top types by bytes into its slot (a walk of the
** generations; the frozen set is counted once and cached). */
void census_publish(void);
/* Build the shared application state in the master's heap. */
vobj *app_state_build(rcgc_heap *h, unsigned records);
/* Tracked objects counted by type: rcgc_gc_visit_objects(h, g,
** census_visit, &c) adds every object of generation g to c. */
#define CENSUS_TYPES 128
typedef struct census {
    const rcgc_type *type[CENSUS_TYPES];
    uint64_t count[CENSUS_TYPES];
    uint64_t bytes[CENSUS_TYPES];  /* sys.getsizeof-style: header, instance, own buffers */
    int n;
} census;
int census_visit(void *obj, void *arg);
/* Census helpers shared by debug.c and the leak detector. */
void referrer_chain(rcgc_heap *h, void *obj, char *out, size_t size);
/* Names the application gives its module-level objects (app.c), or NULL. */
const char *app_root_name(const void *obj);
/* The referrer chain of the object at addr in this worker's heap: 200 and
** JSON object fields (no braces) in out, or 404 and an error message when
** addr is not a live tracked object of the heap (or not of type 'type',
** when given: its object died and another took the address). addr is validated through
** rcgc_owns and the collector's object lists before it is used. */
int referrers_reply(rcgc_heap *h, uint64_t addr, const char *type, char *out, size_t size);
/* Take and release a worker slot's command lock (cmd_lock): false when
** another sender kept it for 3 s. */
bool cmd_lock(worker_slot *s);
void cmd_unlock(worker_slot *s);

#endif /* VIEWS_H */
