/*
** test_stress.c -- a seeded random-graph stress test of refcounting and the
** collector. Random new / link / unlink / ref / unref / drop / collect(g) /
** freeze / unfreeze / untrack / track on objects with 0-4 reference slots,
** some with finalizers that resurrect their object (the model adopts the
** new reference), against a shadow model of the graph: whatever the model
** can reach from the test's roots must be alive with exactly the model's
** fields, nothing dies twice, and after a full collection with everything
** tracked and nothing frozen, exactly the reachable objects are alive.
** rcgc_heap_check runs after every step. The seed is printed; RCGC_TEST_SEED replays it;
** RCGC_STRESS_STEPS changes the length.
*/
#include <stdlib.h>

#include "gc_testtypes.h"
#include "harness.h"
#include "heap.h"

#define ROOTS 48

typedef struct mobj {
    tt_node *p;      /* valid while the object is alive */
    int nslots;      /* 0..4 slots the model uses; -1 = atom */
    int slot[TT_SLOTS];
    int extra;       /* extra references the test holds */
    bool untracked;  /* the test untracked it */
} mobj;

typedef struct model {
    rcgc_heap *heap;
    uint64_t rng;
    mobj *o;
    unsigned char *dead; /* tt_dead: set by the release hook */
    int nobj, cap;
    int root[ROOTS];
    int *reach;          /* reachable ids, rebuilt after every step */
    int nreach;
    unsigned char *mark;
    bool frozen;         /* freeze() ran since the last unfreeze() */
    size_t exact_checks; /* full collections checked exactly */
    size_t resurrected;  /* objects adopted from tt_stash */
    size_t max_live;
    size_t ops[12];
} model;

static uint64_t rnd(model *m, uint64_t n) { return th_rand(&m->rng) % n; }

static bool alive(model *m, int id) { return id >= 0 && !m->dead[id]; }

static void compute_reach(model *m)
{
    memset(m->mark, 0, (size_t)m->nobj);
    m->nreach = 0;
    for (int i = 0; i < ROOTS; i++)
        if (m->root[i] >= 0 && !m->mark[m->root[i]]) {
            m->mark[m->root[i]] = 1;
            m->reach[m->nreach++] = m->root[i];
        }
    for (int id = 0; id < m->nobj; id++)
        if (m->o[id].extra > 0 && !m->mark[id]) {
            m->mark[id] = 1;
            m->reach[m->nreach++] = id;
        }
    for (int k = 0; k < m->nreach; k++) {
        mobj *x = &m->o[m->reach[k]];
        for (int s = 0; s < x->nslots; s++) {
            int t = x->slot[s];
            if (t >= 0 && !m->mark[t]) {
                m->mark[t] = 1;
                m->reach[m->nreach++] = t;
            }
        }
    }
}

/* Every reachable object is alive and holds exactly the model's fields. */
static bool check_model(model *m, uint64_t step)
{
    compute_reach(m);
    for (int k = 0; k < m->nreach; k++) {
        int id = m->reach[k];
        mobj *x = &m->o[id];
        if (!alive(m, id)) {
            th_fail(__FILE__, __LINE__, "step %llu: reachable object %d was freed",
                    (unsigned long long)step, id);
            return false;
        }
        if (rcgc_refcount(x->p) == 0) {
            th_fail(__FILE__, __LINE__, "step %llu: reachable %d has refcount 0",
                    (unsigned long long)step, id);
            return false;
        }
        for (int s = 0; s < x->nslots; s++) {
            void *want = x->slot[s] >= 0 ? m->o[x->slot[s]].p : NULL;
            if (x->p->slot[s] != want) {
                th_fail(__FILE__, __LINE__, "step %llu: object %d slot %d changed",
                        (unsigned long long)step, id, s);
                return false;
            }
        }
    }
    for (int id = 0; id < m->nobj; id++)
        if (m->dead[id] > 1) {
            th_fail(__FILE__, __LINE__, "step %llu: object %d released %d times",
                    (unsigned long long)step, id, m->dead[id]);
            return false;
        }
    if (rcgc_heap_check(m->heap) != RCGC_OK) {
        th_fail(__FILE__, __LINE__, "step %llu: heap check: %s", (unsigned long long)step,
                th_output);
        return false;
    }
    return true;
}

/* After collect(2) with every live object tracked and nothing frozen: the
** live objects are exactly the reachable ones. */
static bool check_exact(model *m, uint64_t step)
{
    if (m->frozen)
        return true;
    for (int id = 0; id < m->nobj; id++)
        if (alive(m, id) && m->o[id].untracked)
            return true;
    size_t live = 0;
    for (int id = 0; id < m->nobj; id++)
        live += alive(m, id);
    m->exact_checks++;
    if (live != (size_t)m->nreach) {
        th_fail(__FILE__, __LINE__, "step %llu: %zu objects alive after a full collection, "
                "%d reachable", (unsigned long long)step, live, m->nreach);
        return false;
    }
    if (live != m->heap->live_objects) {
        th_fail(__FILE__, __LINE__, "step %llu: model %zu live, heap %zu",
                (unsigned long long)step, live, m->heap->live_objects);
        return false;
    }
    return true;
}

/* A finalizer that resurrected its object stored a new reference in
** tt_stash: the model takes it over as an extra reference, so the object
** (and all it reaches, which PEP 442 keeps intact) must now be alive. */
static void adopt_resurrected(model *m)
{
    for (size_t k = 0; k < tt_nstash; k++) {
        tt_node *p = tt_stash[k];
        m->o[p->id].extra++;
        m->resurrected++;
    }
    tt_nstash = 0;
}

static int pick_reachable(model *m)
{
    return m->nreach ? m->reach[rnd(m, (uint64_t)m->nreach)] : -1;
}

static void op_new(model *m)
{
    if (m->nobj == m->cap)
        return;
    int id = m->nobj;
    uint64_t kind = rnd(m, 10);
    const rcgc_type *t = kind < 6 ? &tt_node_type : kind < 8 ? &tt_fin_type : &tt_atom_fin_type;
    tt_node *p = rcgc_new(m->heap, t);
    if (!p) {
        th_fail(__FILE__, __LINE__, "rcgc_new failed");
        return;
    }
    p->id = id;
    /* A quarter of the finalizing containers resurrect themselves. */
    p->mode = t == &tt_fin_type && rnd(m, 4) == 0 ? TT_FIN_RESURRECT : TT_FIN_COUNT;
    m->nobj++;
    mobj *x = &m->o[id];
    x->p = p;
    x->nslots = t == &tt_atom_fin_type ? 0 : (int)rnd(m, TT_SLOTS + 1);
    for (int s = 0; s < TT_SLOTS; s++)
        x->slot[s] = -1;
    int r = (int)rnd(m, ROOTS);
    int old = m->root[r];
    m->root[r] = id;
    if (old >= 0)
        rcgc_unref(m->o[old].p);
}

static void op_link(model *m)
{
    int a = pick_reachable(m), b = pick_reachable(m);
    if (a < 0 || m->o[a].nslots == 0)
        return;
    int s = (int)rnd(m, (uint64_t)m->o[a].nslots);
    m->o[a].slot[s] = b;
    RCGC_XSETREF(m->o[a].p->slot[s], rcgc_ref(m->o[b].p));
}

static void op_unlink(model *m)
{
    int a = pick_reachable(m);
    if (a < 0 || m->o[a].nslots == 0)
        return;
    int s = (int)rnd(m, (uint64_t)m->o[a].nslots);
    m->o[a].slot[s] = -1;
    RCGC_CLEAR(m->o[a].p->slot[s]);
}

static void op_ref(model *m)
{
    int a = pick_reachable(m);
    if (a < 0)
        return;
    rcgc_ref(m->o[a].p);
    m->o[a].extra++;
}

static void op_unref(model *m)
{
    int a = pick_reachable(m);
    if (a < 0 || m->o[a].extra == 0)
        return;
    m->o[a].extra--;
    rcgc_unref(m->o[a].p);
}

static void op_drop_root(model *m)
{
    int r = (int)rnd(m, ROOTS);
    int id = m->root[r];
    if (id < 0)
        return;
    m->root[r] = -1;
    rcgc_unref(m->o[id].p);
}

static void op_copy_root(model *m)
{
    int a = pick_reachable(m);
    if (a < 0)
        return;
    int r = (int)rnd(m, ROOTS);
    int old = m->root[r];
    m->root[r] = a;
    rcgc_ref(m->o[a].p);
    if (old >= 0)
        rcgc_unref(m->o[old].p);
}

static void op_untrack(model *m)
{
    int a = pick_reachable(m);
    if (a < 0 || !rcgc_is_tracked(m->o[a].p))
        return;
    rcgc_untrack(m->o[a].p);
    m->o[a].untracked = true;
}

static void op_track(model *m)
{
    /* Any live untracked container, reachable or garbage. */
    int start = (int)rnd(m, (uint64_t)(m->nobj ? m->nobj : 1));
    for (int k = 0; k < m->nobj; k++) {
        int id = (start + k) % m->nobj;
        if (alive(m, id) && m->o[id].untracked) {
            rcgc_track(m->o[id].p);
            m->o[id].untracked = false;
            return;
        }
    }
}

static void stress(rcgc_heap *heap, uint64_t seed, uint64_t steps)
{
    model m;
    memset(&m, 0, sizeof m);
    m.heap = heap;
    m.rng = seed;
    m.cap = (int)steps + 1;
    m.o = calloc((size_t)m.cap, sizeof *m.o);
    m.dead = calloc((size_t)m.cap, 1);
    m.reach = calloc((size_t)m.cap, sizeof *m.reach);
    m.mark = calloc((size_t)m.cap, 1);
    for (int i = 0; i < ROOTS; i++)
        m.root[i] = -1;
    tt_reset();
    tt_dead = m.dead;
    tt_dead_cap = (size_t)m.cap;
    compute_reach(&m);
    uint64_t step;
    for (step = 0; step < steps; step++) {
        uint64_t op = rnd(&m, 100);
        int kind;
        bool full = false;
        if (op < 22) {
            kind = 0;
            op_new(&m);
        } else if (op < 44) {
            kind = 1;
            op_link(&m);
        } else if (op < 54) {
            kind = 2;
            op_unlink(&m);
        } else if (op < 60) {
            kind = 3;
            op_ref(&m);
        } else if (op < 66) {
            kind = 4;
            op_unref(&m);
        } else if (op < 76) {
            kind = 5;
            op_drop_root(&m);
        } else if (op < 82) {
            kind = 6;
            op_copy_root(&m);
        } else if (op < 90) {
            kind = 7;
            int g = (int)rnd(&m, 3);
            long long r = rcgc_gc_collect(heap, g);
            if (r < 0)
                th_fail(__FILE__, __LINE__, "collect(%d) returned %lld", g, r);
            full = g == 2;
        } else if (op < 92) {
            kind = 8;
            if (m.frozen) {
                rcgc_gc_unfreeze(heap);
                m.frozen = false;
            } else {
                rcgc_gc_freeze(heap);
                m.frozen = true;
            }
        } else if (op < 96) {
            kind = 9;
            op_untrack(&m);
        } else {
            kind = 10;
            op_track(&m);
        }
        m.ops[kind]++;
        adopt_resurrected(&m);
        if (heap->live_objects > m.max_live)
            m.max_live = heap->live_objects;
        if (!check_model(&m, step))
            break;
        if (full && !check_exact(&m, step))
            break;
    }
    /* A full collection with everything tracked and nothing frozen leaves
    ** exactly the reachable objects. */
    if (!th_failures) {
        if (m.frozen)
            rcgc_gc_unfreeze(heap);
        m.frozen = false;
        for (int id = 0; id < m.nobj; id++)
            if (alive(&m, id) && m.o[id].untracked) {
                rcgc_track(m.o[id].p);
                m.o[id].untracked = false;
            }
        CHECK(rcgc_gc_collect(heap, 2) >= 0);
        adopt_resurrected(&m);
        if (check_model(&m, step))
            check_exact(&m, step);
    }
    /* Drop everything: nothing may be left. Objects not finalized yet
    ** would resurrect at their first death: tell them not to. */
    for (int id = 0; id < m.nobj; id++)
        if (alive(&m, id))
            m.o[id].p->mode = TT_FIN_COUNT;
    for (int i = 0; i < ROOTS; i++)
        if (m.root[i] >= 0) {
            rcgc_unref(m.o[m.root[i]].p);
            m.root[i] = -1;
        }
    for (int id = 0; id < m.nobj; id++)
        while (m.o[id].extra > 0 && alive(&m, id)) {
            m.o[id].extra--;
            rcgc_unref(m.o[id].p);
        }
    CHECK(rcgc_gc_collect(heap, 2) >= 0);
    CHECK_EQ_U64(tt_nstash, 0);
    CHECK_EQ_U64(rcgc_gc_generation_size(heap, -1), 0);
    CHECK_EQ_U64(rcgc_gc_get_freeze_count(heap), 0);
    CHECK_EQ_U64(tt_released, (size_t)m.nobj);
    CHECK_EQ_U64(heap->live_objects, 0);
    for (int id = 0; id < m.nobj; id++)
        if (m.dead[id] != 1) {
            th_fail(__FILE__, __LINE__, "object %d released %d times", id, m.dead[id]);
            break;
        }
    CHECK_HEAP(heap);
    fprintf(stderr, "%zu exact checks, at most %zu live objects, %zu resurrections\n",
            m.exact_checks, m.max_live, m.resurrected);
    fprintf(stderr, "%llu steps, %d objects; new %zu link %zu unlink %zu ref %zu unref %zu "
            "drop %zu copy %zu collect %zu freeze %zu untrack %zu track %zu\n",
            (unsigned long long)step, m.nobj, m.ops[0], m.ops[1], m.ops[2], m.ops[3],
            m.ops[4], m.ops[5], m.ops[6], m.ops[7], m.ops[8], m.ops[9], m.ops[10]);
    tt_dead = NULL;
    free(m.o);
    free(m.dead);
    free(m.reach);
    free(m.mark);
}

static uint64_t steps_wanted(void)
{
    const char *s = getenv("RCGC_STRESS_STEPS");
    if (s)
        return strtoull(s, NULL, 0);
    return TT_SANITIZED ? 10000 : 40000;
}

TEST(random_graph_matches_the_model_with_explicit_collections)
{
    rcgc_heap *heap = th_heap_new();
    stress(heap, th_seed(), steps_wanted());
    rcgc_heap_free(heap);
}

TEST(random_graph_matches_the_model_with_automatic_collections)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = true;
    cfg.gc_threshold[0] = 20;
    cfg.gc_threshold[1] = 3;
    cfg.gc_threshold[2] = 3;
    cfg.leak_report = false;
    rcgc_heap *heap = th_heap_new_cfg(&cfg);
    stress(heap, th_seed() + 1, steps_wanted());
    rcgc_heap_free(heap);
}

TEST(random_graph_matches_the_model_in_incremental_mode)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = true;
    cfg.gc_threshold[0] = 20;
    cfg.gc_mode = RCGC_GC_INCREMENTAL;
    cfg.leak_report = false;
    rcgc_heap *heap = th_heap_new_cfg(&cfg);
    stress(heap, th_seed() + 2, steps_wanted());
    rcgc_heap_free(heap);
}
