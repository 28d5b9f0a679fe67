/*
** test_weakref_fault.c -- fault injection on every weak-reference
** operation (the Nth allocation fails, for every N until the scenario runs
** clean: the call reports NULL or RCGC_ENOMEM, the heap checks clean, and
** after dropping everything no object is left), and a seeded random test
** mixing weak references, callbacks, containers, finalizers and
** collections, checking the heap after every step. Also: damage to the
** side table's bookkeeping is found by the check and by the unlink.
*/
#include <stdlib.h>

#include "harness.h"
#include "heap.h"
#include "weakref.h"
#include "weak_testtypes.h"

/* ------------------------------------------------------------------ */
/* Fault injection                                                    */
/* ------------------------------------------------------------------ */

static unsigned fcb_calls;
static int fcb(rcgc_weakref *wr, void *arg)
{
    (void)wr;
    (void)arg;
    fcb_calls++;
    return 0;
}
static int ffin(void *arg, void *ctx)
{
    (void)arg;
    (void)ctx;
    fcb_calls++;
    return 0;
}

/* Each scenario runs with faults armed, cleans up whatever it made, and
** returns false if some call failed (it must then have failed cleanly). */
typedef bool (*scenario_fn)(rcgc_heap *heap);

static bool sc_weakref(rcgc_heap *heap)
{
    wt_node *o = wt_new(heap, &wt_node_type, 1);
    if (!o)
        return false;
    bool ok = true;
    rcgc_weakref *a = rcgc_weakref_new(heap, o, NULL, NULL);
    rcgc_weakref *b = rcgc_weakref_new(heap, o, fcb, NULL);
    ok = a && b;
    if (a) {
        void *g = rcgc_weakref_get(a);
        ok = ok && g == o;
        rcgc_xunref(g);
        uint64_t h;
        ok = ok && rcgc_weakref_hash(a, NULL, NULL, &h) == RCGC_OK;
    }
    unsigned before = fcb_calls;
    rcgc_unref(o);
    if (b)
        ok = ok && fcb_calls == before + 1;
    rcgc_xunref(a);
    rcgc_xunref(b);
    return ok;
}

static bool sc_many_refs(rcgc_heap *heap)
{
    /* Enough referents to grow the side table a few times. */
    enum { N = 40 };
    wt_node *o[N];
    rcgc_weakref *w[N];
    bool ok = true;
    for (int i = 0; i < N; i++) {
        o[i] = wt_new(heap, &wt_node_type, i);
        w[i] = o[i] ? rcgc_weakref_new(heap, o[i], i % 2 ? fcb : NULL, NULL) : NULL;
        ok = ok && w[i];
    }
    for (int i = 0; i < N; i++) {
        rcgc_xunref(o[i]);
        rcgc_xunref(w[i]);
    }
    return ok;
}

static bool sc_gc(rcgc_heap *heap)
{
    wt_node *a = wt_new(heap, &wt_node_type, 1);
    wt_node *b = wt_new(heap, &wt_node_type, 2);
    bool ok = a && b;
    rcgc_weakref *w = NULL, *wi = NULL;
    if (ok) {
        a->slot[0] = rcgc_ref(b);
        b->slot[0] = rcgc_ref(a);
        w = rcgc_weakref_new(heap, a, fcb, NULL);
        wi = rcgc_weakref_new(heap, b, fcb, NULL);
        ok = w && wi;
        if (wi)
            a->slot[1] = wi; /* a garbage weak reference */
        else
            ok = false;
    }
    rcgc_xunref(a);
    rcgc_xunref(b);
    unsigned before = fcb_calls;
    long long r = rcgc_gc_collect(heap, 2);
    if (r < 0)
        ok = false;
    else if (w && ok)
        ok = fcb_calls == before + 1 && !rcgc_weakref_is_alive(w);
    rcgc_xunref(w);
    if (r < 0)
        rcgc_gc_collect(heap, 2);
    return ok;
}

static bool sc_finalize(rcgc_heap *heap)
{
    wt_node *o = wt_new(heap, &wt_node_type, 1);
    if (!o)
        return false;
    wt_node *arg = wt_new(heap, &wt_atom_type, 2);
    rcgc_finalize *f1 = rcgc_finalize_new(heap, o, ffin, arg, NULL);
    rcgc_finalize *f2 = rcgc_finalize_new(heap, o, ffin, NULL, NULL);
    bool ok = arg && f1 && f2;
    if (f1) {
        rcgc_finalize_info info;
        if (rcgc_finalize_peek(f1, &info)) {
            rcgc_unref(info.obj);
            rcgc_xunref(info.arg);
        } else {
            ok = false;
        }
        int r;
        ok = ok && rcgc_finalize_call(f1, &r);
    }
    unsigned before = fcb_calls;
    rcgc_unref(o);
    if (f2)
        ok = ok && fcb_calls == before + 1;
    rcgc_xunref(f1);
    rcgc_xunref(f2);
    rcgc_xunref(arg);
    return ok;
}

static bool sc_valuemap(rcgc_heap *heap)
{
    rcgc_weakmap *d = rcgc_weakvaluemap_new(heap, NULL);
    if (!d)
        return false;
    bool ok = true;
    wt_node *v[12];
    char key[16];
    for (int i = 0; i < 12; i++) {
        v[i] = wt_new(heap, &wt_node_type, i);
        snprintf(key, sizeof key, "key-%d", i);
        rcgc_status st = v[i] ? rcgc_weakvaluemap_set(d, key, v[i]) : RCGC_ENOMEM;
        ok = ok && st == RCGC_OK;
        if (st != RCGC_OK && st != RCGC_ENOMEM)
            th_fail(__FILE__, __LINE__, "unexpected status %d", st);
    }
    rcgc_weakmap_iter it;
    rcgc_weakmap_iter_begin(d, &it);
    const void *k;
    void *val;
    int n = 0;
    while (rcgc_weakmap_iter_next(&it, &k, &val)) {
        if (n++ == 2)
            rcgc_weakvaluemap_del(d, k);
    }
    rcgc_weakmap_iter_end(&it);
    for (int i = 0; i < 12; i += 2)
        rcgc_xunref(v[i]);
    for (int i = 1; i < 12; i += 2)
        rcgc_xunref(v[i]);
    ok = ok && rcgc_weakmap_len(d) == 0;
    rcgc_unref(d);
    return ok;
}

static bool sc_keymap_set(rcgc_heap *heap)
{
    rcgc_weakmap *d = rcgc_weakkeymap_new(heap);
    rcgc_weakmap *s = rcgc_weakset_new(heap);
    bool ok = d && s;
    wt_node *k[10];
    for (int i = 0; i < 10; i++) {
        k[i] = wt_new(heap, &wt_node_type, i);
        if (!k[i]) {
            ok = false;
            continue;
        }
        if (d && rcgc_weakkeymap_set(d, k[i], NULL) != RCGC_OK)
            ok = false;
        if (s && rcgc_weakset_add(s, k[i]) != RCGC_OK)
            ok = false;
    }
    for (int i = 0; i < 10; i++)
        rcgc_xunref(k[i]);
    if (d)
        ok = ok && rcgc_weakmap_len(d) == 0;
    if (s)
        ok = ok && rcgc_weakmap_len(s) == 0;
    rcgc_xunref(d);
    rcgc_xunref(s);
    return ok;
}

static uint64_t live_blocks(rcgc_heap *heap)
{
    rcgc_mem_stats st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    rcgc_mem_stats_get(heap, &st);
    return st.live_blocks;
}

/* A call on map m that found it with 'len' entries and the heap with
** 'blocks' blocks: true if it succeeded; if it failed, it must have failed
** for lack of memory leaving the map as it was and no block behind. */
static bool failed_cleanly(rcgc_heap *heap, rcgc_status st, rcgc_weakmap *m, size_t len,
                           uint64_t blocks, const char *what)
{
    if (st == RCGC_OK)
        return true;
    if (st != RCGC_ENOMEM)
        th_fail(__FILE__, __LINE__, "%s: unexpected status %d", what, st);
    else if (rcgc_weakmap_len(m) != len || live_blocks(heap) != blocks)
        th_fail(__FILE__, __LINE__, "%s failed but changed its map: %zu/%zu entries, "
                "%llu/%llu blocks", what, rcgc_weakmap_len(m), len,
                (unsigned long long)live_blocks(heap), (unsigned long long)blocks);
    return false;
}

/* setdefault and update (which allocate), then pop, popitem and clear, on
** a pair of maps of each kind: a holds keys 0..15, b keys 8..23 (b's
** values shifted by one), each also a seed entry so that its table exists
** before the calls under test. */
static bool sc_container_ops(rcgc_heap *heap)
{
    enum { N = 24 };
    rcgc_weakmap *m[6] = {rcgc_weakvaluemap_new(heap, NULL), rcgc_weakvaluemap_new(heap, NULL),
                          rcgc_weakkeymap_new(heap),         rcgc_weakkeymap_new(heap),
                          rcgc_weakset_new(heap),            rcgc_weakset_new(heap)};
    wt_node *n[N + 1];
    bool ok = true;
    for (int x = 0; x < 6; x++)
        ok = ok && m[x];
    for (int i = 0; i <= N; i++) {
        n[i] = wt_new(heap, &wt_node_type, i);
        ok = ok && n[i];
    }
    for (int x = 0; ok && x < 6; x++) {
        rcgc_status st = x < 2   ? rcgc_weakvaluemap_set(m[x], "seed", n[N])
                         : x < 4 ? rcgc_weakkeymap_set(m[x], n[N], NULL)
                                 : rcgc_weakset_add(m[x], n[N]);
        ok = st == RCGC_OK;
    }
    bool setup = ok;
    char key[16];
    for (int i = 0; setup && i < N; i++) {
        snprintf(key, sizeof key, "k%d", i);
        for (int x = 0; x < 2; x++) {
            if (x == 0 ? i >= 16 : i < 8)
                continue;
            wt_node *val = n[x ? (i + 1) % N : i];
            /* Key map first: the side table then grows inside the value
            ** map's setdefault, whose failure path also frees a key copy. */
            size_t len = rcgc_weakmap_len(m[2 + x]);
            uint64_t blocks = live_blocks(heap);
            void *out = NULL;
            rcgc_status st = rcgc_weakkeymap_setdefault(m[2 + x], n[i], val, &out);
            if (failed_cleanly(heap, st, m[2 + x], len, blocks, "key setdefault")) {
                CHECK_EQ_PTR(out, val);
                rcgc_unref(out);
            } else {
                ok = false;
            }
            len = rcgc_weakmap_len(m[x]);
            blocks = live_blocks(heap);
            out = NULL;
            st = rcgc_weakvaluemap_setdefault(m[x], key, val, &out);
            if (failed_cleanly(heap, st, m[x], len, blocks, "value setdefault")) {
                CHECK_EQ_PTR(out, val);
                rcgc_unref(out);
            } else {
                ok = false;
            }
            ok = rcgc_weakset_add(m[4 + x], n[i]) == RCGC_OK && ok;
        }
    }
    for (int x = 0; setup && x < 6; x += 2) {
        size_t len = rcgc_weakmap_len(m[x]);
        uint64_t blocks = live_blocks(heap);
        rcgc_status st = x == 0   ? rcgc_weakvaluemap_update(m[x], m[x + 1])
                         : x == 2 ? rcgc_weakkeymap_update(m[x], m[x + 1])
                                  : rcgc_weakset_update(m[x], m[x + 1]);
        bool done = failed_cleanly(heap, st, m[x], len, blocks, "update");
        ok = ok && done;
        if (!ok)
            continue; /* some entry may be missing: nothing more to compare */
        CHECK_EQ_U64(rcgc_weakmap_len(m[x]), N + 1);
        void *g = x == 0   ? rcgc_weakvaluemap_get(m[x], "k8")
                  : x == 2 ? rcgc_weakkeymap_get(m[x], n[8])
                           : NULL;
        if (x < 4)
            CHECK_EQ_PTR(g, n[9]); /* b's value */
        else
            CHECK(rcgc_weakset_has(m[x], n[20]));
        rcgc_xunref(g);
    }
    /* No allocation from here on: these cannot fail. */
    if (setup) {
        void *out = NULL;
        if (rcgc_weakvaluemap_pop(m[0], "seed", &out) != RCGC_OK || out != n[N])
            th_fail(__FILE__, __LINE__, "pop failed");
        rcgc_xunref(out);
        void *k, *v;
        while (rcgc_weakvaluemap_popitem(m[0], &k, &v) == RCGC_OK) {
            rcgc_free(heap, k);
            rcgc_unref(v);
        }
        while (rcgc_weakkeymap_popitem(m[2], &k, &v) == RCGC_OK) {
            rcgc_unref(k);
            rcgc_xunref(v);
        }
        while (rcgc_weakset_pop(m[4], &k) == RCGC_OK)
            rcgc_unref(k);
        for (int x = 0; x < 6; x++) {
            rcgc_weakmap_clear(m[x]);
            if (rcgc_weakmap_len(m[x]) != 0)
                th_fail(__FILE__, __LINE__, "map %d not empty", x);
        }
    }
    for (int i = 0; i <= N; i++)
        rcgc_xunref(n[i]);
    for (int x = 0; x < 6; x++)
        rcgc_xunref(m[x]);
    return ok;
}

static void fault_loop(scenario_fn fn, const char *name)
{
    bool clean = false;
    for (uint64_t n = 1; n < 5000 && !clean; n++) {
        rcgc_heap *heap = th_heap_new();
        rcgc_fault_set(heap, n, n);
        bool ok = fn(heap);
        uint64_t used = rcgc_fault_allocations(heap);
        rcgc_fault_clear(heap);
        if (used < n) {
            clean = true; /* the fault was never reached */
            if (!ok)
                th_fail(__FILE__, __LINE__, "%s: failed without a fault", name);
        }
        if (rcgc_heap_check(heap) != RCGC_OK)
            th_fail(__FILE__, __LINE__, "%s: heap check after fault %llu", name,
                    (unsigned long long)n);
        rcgc_gc_collect(heap, 2);
        if (heap->live_objects != 0)
            th_fail(__FILE__, __LINE__, "%s: %zu objects leaked after fault %llu", name,
                    heap->live_objects, (unsigned long long)n);
        rcgc_heap_free(heap);
    }
    if (!clean)
        th_fail(__FILE__, __LINE__, "%s: never ran clean", name);
}

TEST(fault_injection_weakref_new_get_hash)
{
    fault_loop(sc_weakref, "weakref");
    fault_loop(sc_many_refs, "many refs");
}

TEST(fault_injection_collection_with_weakrefs)
{
    fault_loop(sc_gc, "gc");
}

TEST(fault_injection_finalize)
{
    fault_loop(sc_finalize, "finalize");
}

TEST(fault_injection_weak_containers)
{
    fault_loop(sc_valuemap, "value map");
    fault_loop(sc_keymap_set, "key map and set");
}

TEST(fault_injection_container_setdefault_update_pop_clear)
{
    fault_loop(sc_container_ops, "container operations");
}

/* ------------------------------------------------------------------ */
/* Damage                                                             */
/* ------------------------------------------------------------------ */

/* A weak reference object starts with its node (weakref.c). */
static rcgc__wnode *node_of(rcgc_weakref *wr)
{
    return (rcgc__wnode *)(void *)wr;
}

/* The head of a list names its side-table slot: rcgc_heap_check verifies it
** after the table grew, shrank and shifted members back. */
TEST(heap_check_finds_a_head_naming_the_wrong_slot)
{
    rcgc_heap *heap = th_heap_new();
    enum { N = 3000 };
    static wt_node *objs[N];
    static rcgc_weakref *refs[N];
    for (int i = 0; i < N; i++) {
        objs[i] = wt_new(heap, &wt_node_type, i);
        refs[i] = rcgc_weakref_new(heap, objs[i], NULL, NULL);
    }
    /* Every other one dies: removals shift later members back, then the
    ** table shrinks (rehash). */
    for (int i = 0; i < N; i += 2)
        rcgc_unref(refs[i]);
    for (int i = 0; i < N - 100; i += 2)
        rcgc_unref(refs[i + 1]);
    CHECK_HEAP(heap);
    rcgc__wnode *n = node_of(refs[N - 1]);
    n->slot ^= 1;
    CHECK_EQ_INT(rcgc_heap_check(heap), RCGC_ECORRUPT);
    CHECK_CONTAINS(th_output, "names slot");
    n->slot ^= 1;
    CHECK_HEAP(heap);
    for (int i = N - 100; i < N; i += 2)
        rcgc_unref(refs[i + 1]);
    for (int i = 0; i < N; i++)
        rcgc_unref(objs[i]);
    CHECK_HEAP(heap);
    rcgc_heap_free(heap);
}

/* Dropping a head whose slot does not name it panics instead of emptying
** another object's entry. */
static void drop_misnamed_head(void *arg)
{
    (void)arg;
    rcgc_heap *heap = th_heap_new();
    wt_node *a = wt_new(heap, &wt_node_type, 1);
    wt_node *b = wt_new(heap, &wt_node_type, 2);
    rcgc_weakref *ra = rcgc_weakref_new(heap, a, NULL, NULL);
    rcgc_weakref *rb = rcgc_weakref_new(heap, b, NULL, NULL);
    node_of(ra)->slot = node_of(rb)->slot;
    rcgc_unref(ra);
}

TEST(unlink_panics_on_a_head_naming_the_wrong_slot)
{
    CHECK_PANICS(drop_misnamed_head, NULL, "weak reference list without a side-table entry");
}

/* ------------------------------------------------------------------ */
/* Seeded random test                                                 */
/* ------------------------------------------------------------------ */

#define RN 24 /* nodes the test holds */
#define RW 32 /* weak references it holds */
#define RF 8  /* finalize handles */

static unsigned cb_runs[RW * 64];
static unsigned rnd_errors;

/* The callback's argument node carries a serial number: each may run once. */
static int rnd_cb(rcgc_weakref *wr, void *arg)
{
    wt_node *tagn = arg;
    if (rcgc_weakref_get(wr) != NULL)
        rnd_errors++;
    if (tagn && tagn->id >= 0 && (size_t)tagn->id < sizeof cb_runs / sizeof cb_runs[0])
        if (++cb_runs[tagn->id] > 1)
            rnd_errors++;
    return 0;
}

static int rnd_fin(void *arg, void *ctx)
{
    (void)arg;
    (void)ctx;
    return 0;
}

static const rcgc_type rnd_tag_type = {"tag", sizeof(wt_node), 0, 0, NULL, NULL, NULL, NULL};

TEST(random_weakrefs_callbacks_and_collections)
{
    uint64_t seed = th_seed(), rs = seed;
    rcgc_heap *heap = th_heap_new();
    memset(cb_runs, 0, sizeof cb_runs);
    rnd_errors = 0;
    wt_node *node[RN] = {0};
    rcgc_weakref *wr[RW] = {0};
    rcgc_finalize *fin[RF] = {0};
    rcgc_weakmap *vmap = rcgc_weakvaluemap_new(heap, NULL);
    rcgc_weakmap *kmap = rcgc_weakkeymap_new(heap);
    rcgc_weakmap *set = rcgc_weakset_new(heap);
    int serial = 0;
    int steps = 4000;
    for (int step = 0; step < steps; step++) {
        unsigned op = (unsigned)(th_rand(&rs) % 16);
        unsigned i = (unsigned)(th_rand(&rs) % RN), j = (unsigned)(th_rand(&rs) % RN);
        unsigned w = (unsigned)(th_rand(&rs) % RW), f = (unsigned)(th_rand(&rs) % RF);
        char key[16];
        snprintf(key, sizeof key, "k%u", j);
        switch (op) {
        case 0:
        case 1: /* new node */
            RCGC_XSETREF(node[i], wt_new(heap, th_rand(&rs) % 4 ? &wt_node_type
                                                                : &wt_atom_type, (int)i));
            break;
        case 2: /* drop a node */
            RCGC_CLEAR(node[i]);
            break;
        case 3: /* link: node[i].slot[k] = node[j] (cycles) */
            if (node[i] && node[j] && rcgc_type_of(node[i]) == &wt_node_type) {
                size_t k = (size_t)(th_rand(&rs) % 3); /* RCGC_XSETREF names var twice */
                RCGC_XSETREF(node[i]->slot[k], rcgc_ref(node[j]));
            }
            break;
        case 4: /* weak ref, maybe with callback */
            if (node[i]) {
                wt_node *t = NULL;
                if (th_rand(&rs) % 2 && serial < (int)(sizeof cb_runs / sizeof cb_runs[0])) {
                    t = wt_new(heap, &rnd_tag_type, serial++);
                }
                rcgc_weakref *r = rcgc_weakref_new(heap, node[i], t ? rnd_cb : NULL, t);
                rcgc_xunref(t);
                RCGC_XSETREF(wr[w], r);
            }
            break;
        case 5: /* store a weak ref inside a node (it may become garbage) */
            if (wr[w] && node[i] && rcgc_type_of(node[i]) == &wt_node_type)
                RCGC_XSETREF(node[i]->slot[3], rcgc_ref(wr[w]));
            break;
        case 6: /* drop a weak ref */
            RCGC_CLEAR(wr[w]);
            break;
        case 7: /* deref */
            if (wr[w]) {
                void *o = rcgc_weakref_get(wr[w]);
                if (o && rcgc_refcount(o) < 2)
                    rnd_errors++;
                rcgc_xunref(o);
            }
            break;
        case 8: /* collect, sometimes switching mode or automatic collection */
            switch (th_rand(&rs) % 8) {
            case 0:
                rcgc_gc_set_mode(heap, RCGC_GC_INCREMENTAL, 1000);
                break;
            case 1:
                rcgc_gc_set_mode(heap, RCGC_GC_GENERATIONAL, 0);
                break;
            case 2: /* collections inside rcgc_new, so inside weak calls too */
                rcgc_gc_set_threshold(heap, 5, 2, 2);
                rcgc_gc_enable(heap);
                break;
            case 3:
                rcgc_gc_disable(heap);
                break;
            default:
                rcgc_gc_collect(heap, (int)(th_rand(&rs) % 3));
                break;
            }
            break;
        case 9: /* value map */
            if (node[i])
                rcgc_weakvaluemap_set(vmap, key, node[i]);
            else
                rcgc_weakvaluemap_del(vmap, key);
            break;
        case 10: /* key map: value = another node (may make cycles) */
            if (node[i])
                rcgc_weakkeymap_set(kmap, node[i], node[j]);
            break;
        case 11: /* set */
            if (node[i]) {
                if (th_rand(&rs) % 3)
                    rcgc_weakset_add(set, node[i]);
                else
                    rcgc_weakset_discard(set, node[i]);
            }
            break;
        case 12: { /* iterate a container, dropping nodes meanwhile */
            rcgc_weakmap *m = th_rand(&rs) % 3 == 0 ? vmap : th_rand(&rs) % 2 ? kmap : set;
            rcgc_weakmap_iter it;
            rcgc_weakmap_iter_begin(m, &it);
            const void *k;
            void *v;
            int n = 0;
            while (rcgc_weakmap_iter_next(&it, &k, &v) && n++ < 6) {
                RCGC_CLEAR(node[(i + (unsigned)n) % RN]);
                if (n == 3)
                    rcgc_gc_collect(heap, 0);
            }
            rcgc_weakmap_iter_end(&it);
            break;
        }
        case 13: /* finalize */
            if (node[i]) {
                rcgc_finalize *g = rcgc_finalize_new(heap, node[i], rnd_fin, node[j], NULL);
                RCGC_XSETREF(fin[f], g);
            }
            break;
        case 14: /* call or detach early */
            if (fin[f]) {
                if (th_rand(&rs) % 2) {
                    rcgc_finalize_call(fin[f], NULL);
                } else {
                    rcgc_finalize_info info;
                    if (rcgc_finalize_detach(fin[f], &info)) {
                        rcgc_unref(info.obj);
                        rcgc_xunref(info.arg);
                    }
                }
            }
            break;
        case 15: /* count and hash */
            if (node[i]) {
                size_t c = rcgc_weakref_count(node[i]);
                (void)c;
            }
            if (wr[w]) {
                uint64_t h;
                rcgc_weakref_hash(wr[w], NULL, NULL, &h);
            }
            break;
        }
        for (int q = 0; q < RN; q++) {
            if (node[q] && rcgc__head_of(node[q])->type_ == RCGC__TYPE_FREED) {
                th_fail(__FILE__, __LINE__, "held node %d freed at step %d (op %u, seed %llu)",
                        q, step, op, (unsigned long long)seed);
                node[q] = NULL;
                step = steps;
            }
        }
        for (int q = 0; q < RW; q++) {
            if (wr[q] && rcgc__head_of(wr[q])->type_ == RCGC__TYPE_FREED) {
                th_fail(__FILE__, __LINE__, "held weakref %d freed at step %d (op %u)", q,
                        step, op);
                wr[q] = NULL;
                step = steps;
            }
        }
        if (rcgc_heap_check(heap) != RCGC_OK) {
            th_fail(__FILE__, __LINE__, "heap check failed at step %d (op %u, seed %llu)",
                    step, op, (unsigned long long)seed);
            break;
        }
    }
    CHECK_EQ_U64(rnd_errors, 0);
    for (int i = 0; i < RN; i++)
        RCGC_CLEAR(node[i]);
    for (int i = 0; i < RW; i++)
        RCGC_CLEAR(wr[i]);
    for (int i = 0; i < RF; i++)
        RCGC_CLEAR(fin[i]);
    rcgc_unref(vmap);
    rcgc_unref(kmap);
    rcgc_unref(set);
    rcgc_gc_collect(heap, 2);
    CHECK_HEAP(heap);
    /* Registered finalizers keep only themselves and their argument alive,
    ** never the referent: whatever is left is theirs and goes at heap free. */
    rcgc_heap_free(heap);
}
