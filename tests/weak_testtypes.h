/*
** weak_testtypes.h -- object types for the weak-reference tests: a
** weakrefable node with four slots whose finalizer can log, check its weak
** references, resurrect or create weak references; a non-weakrefable type;
** a container with no traverse (invisible to the collector); an event log.
** Everything is static: each test file gets its own copy.
*/
#ifndef RCGC_WEAK_TESTTYPES_H
#define RCGC_WEAK_TESTTYPES_H

#include <stdio.h>
#include <string.h>

#include "rcgc.h"

#if defined(__GNUC__)
#define WT_UNUSED __attribute__((unused))
#else
#define WT_UNUSED
#endif

#define WT_SLOTS 4

/* What a node's finalizer does (node.fin). */
enum {
    WT_FIN_NONE = 0,
    WT_FIN_LOG,        /* log "fin<id>" */
    WT_FIN_RESURRECT,  /* log, store a reference to itself in wt_stash */
    WT_FIN_PEEK,       /* log, record whether weakref 'peek' is alive */
    WT_FIN_MAKE_WEAK   /* log, create a weakref with callback to slot[0] */
};

typedef struct wt_node {
    void *slot[WT_SLOTS];
    int id;
    int fin;
    rcgc_weakref *peek;   /* WT_FIN_PEEK: the reference to test */
    int peek_alive;       /* -1 unset, 0 dead, 1 alive */
} wt_node;

static char wt_log[4096];
static void *wt_stash;
static unsigned wt_finalized, wt_released;
static rcgc_weakref *wt_made; /* WT_FIN_MAKE_WEAK's reference */

static WT_UNUSED void wt_reset(void)
{
    wt_log[0] = 0;
    wt_stash = NULL;
    wt_finalized = wt_released = 0;
    wt_made = NULL;
}

static WT_UNUSED void wt_logf(const char *s)
{
    size_t n = strlen(wt_log);
    snprintf(wt_log + n, sizeof wt_log - n, "%s%s", n ? " " : "", s);
}

static int wt_traverse(void *obj, rcgc_visit_fn visit, void *arg)
{
    wt_node *n = obj;
    for (int i = 0; i < WT_SLOTS; i++)
        RCGC_VISIT(n->slot[i]);
    return 0;
}

static void wt_clear(void *obj)
{
    wt_node *n = obj;
    for (int i = 0; i < WT_SLOTS; i++)
        RCGC_CLEAR(n->slot[i]);
}

static int wt_cb_made(rcgc_weakref *wr, void *arg);

static int wt_finalize(void *obj)
{
    wt_node *n = obj;
    wt_finalized++;
    char buf[32];
    switch (n->fin) {
    case WT_FIN_NONE:
        return 0;
    case WT_FIN_LOG:
        break;
    case WT_FIN_RESURRECT:
        wt_stash = rcgc_ref(obj);
        break;
    case WT_FIN_PEEK: {
        void *o = rcgc_weakref_get(n->peek);
        n->peek_alive = o != NULL;
        if (o)
            rcgc_unref(o);
        break;
    }
    case WT_FIN_MAKE_WEAK:
        if (n->slot[0])
            wt_made = rcgc_weakref_new(rcgc_heap_of(obj), n->slot[0], wt_cb_made, NULL);
        break;
    }
    snprintf(buf, sizeof buf, "fin%d", n->id);
    wt_logf(buf);
    return 0;
}

static void wt_release(void *obj)
{
    (void)obj;
    wt_released++;
}

static WT_UNUSED int wt_cb_made(rcgc_weakref *wr, void *arg)
{
    (void)wr;
    (void)arg;
    wt_logf("made-cb");
    return 0;
}

/* Tracked, weakrefable, with a finalizer. */
static const rcgc_type wt_node_type = {"wt_node", sizeof(wt_node), 0, RCGC_TYPE_WEAKREFABLE,
                                       wt_traverse, wt_clear, wt_finalize, wt_release};
/* Weakrefable, no traverse: untracked, finalizer runs at every death. */
static const rcgc_type wt_atom_type = {"wt_atom", sizeof(wt_node), 0, RCGC_TYPE_WEAKREFABLE,
                                       NULL, wt_clear, wt_finalize, wt_release};
/* Not weakrefable. */
static const rcgc_type wt_plain_type = {"wt_plain", sizeof(wt_node), 0, 0, wt_traverse,
                                        wt_clear, NULL, wt_release};

static WT_UNUSED wt_node *wt_new(rcgc_heap *heap, const rcgc_type *t, int id)
{
    wt_node *n = rcgc_new(heap, t);
    if (n) {
        n->id = id;
        n->peek_alive = -1;
    }
    return n;
}

/* A callback that logs "cb<id>" where id is the int in its arg node, and
** records whether the weak reference it gets is dead. */
static unsigned wt_cb_calls, wt_cb_saw_alive;
static int wt_cb_log(rcgc_weakref *wr, void *arg)
{
    char buf[32];
    wt_node *n = arg;
    wt_cb_calls++;
    void *o = rcgc_weakref_get(wr);
    if (o) {
        wt_cb_saw_alive++;
        rcgc_unref(o);
    }
    snprintf(buf, sizeof buf, "cb%d", n ? n->id : -1);
    wt_logf(buf);
    return 0;
}

static WT_UNUSED int wt_cb_fail(rcgc_weakref *wr, void *arg)
{
    wt_cb_log(wr, arg);
    return -1;
}

#endif
