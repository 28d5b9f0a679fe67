/*
** weakmap.c -- weak containers (WeakValueDictionary, WeakKeyDictionary,
** WeakSet) as one object type: a chained hash table whose entries each hold
** one weak node (weakref.h) on the weakly held object. Deaths are reported
** by weakref.c (entry_died, then entry_purge in the callback phase).
** Must not touch the side table or other objects' weak lists directly.
*/
#include <string.h>

#include "weakref.h"

enum { WM_VALUE = 1, WM_KEY = 2, WM_SET = 3 };
enum { KM_STRING = 1, KM_POINTER = 2, KM_OBJECT = 3 };

/*
** An entry. node.obj is the weakly held object (value map: the value; key
** map and set: the key) while the entry is live; NULL once it is dead.
** A dead entry is invisible to lookups and iteration and counted in
** map->ndead until purged: at once when it died outside an iteration, at
** the end of the last iteration otherwise. A PENDING entry is purged by
** its callback (weakref.c's chain), never by anyone else.
*/
typedef struct wentry {
    rcgc__wnode node; /* must be first */
    struct wentry *chain;
    struct rcgc_weakmap *map;
    uint64_t hash;
    void *key;   /* value map: the key (string copy, object or pointer) */
    void *value; /* key map: strong reference or NULL */
} wentry;

/*
** Invariants (rcgc__weakmap_check): nbuckets is 0 or a power of two; count
** == entries in all chains; ndead == dead entries; every live entry's node
** is linked; the bucket array is never replaced while iterating > 0 (so
** open iterators keep their place). pop_from is where popitem starts
** looking (masked: any value will do).
*/
struct rcgc_weakmap {
    uint8_t kind;
    uint8_t keymode;
    rcgc_weakmap_keyops ops;
    wentry **buckets;
    size_t nbuckets;
    size_t count;
    size_t ndead;
    size_t pop_from;
    unsigned iterating;
};

static void map_clear(void *obj);
static void map_release(void *obj);
static int map_traverse(void *obj, rcgc_visit_fn visit, void *arg);

void rcgc__weakmap_type_init(rcgc_type *t)
{
    t->name = "weakmap";
    t->size = sizeof(struct rcgc_weakmap);
    t->traverse = map_traverse;
    t->clear = map_clear;
    t->release = map_release;
}

static rcgc_heap *heap_of(const rcgc_weakmap *map) { return rcgc__mem_heap_of(map); }

static void check_map(const rcgc_weakmap *map, int kind, const char *what)
{
    if (!rcgc__weak_is_type(map, RCGC__WT_MAP) || (kind && map->kind != kind))
        rcgc__panic_obj(heap_of(map), map, "%s: not a weak %s", what,
                        kind == WM_VALUE ? "value map"
                        : kind == WM_KEY ? "key map"
                        : kind == WM_SET ? "set"
                                         : "container");
}

/* ------------------------------------------------------------------ */
/* Hashing and lookup                                                 */
/* ------------------------------------------------------------------ */

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

static uint64_t string_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t key_hash(const rcgc_weakmap *map, const void *key)
{
    if (map->kind != WM_VALUE)
        return mix((uint64_t)(uintptr_t)key);
    if (map->keymode == KM_STRING)
        return mix(string_hash(key));
    return mix(map->ops.hash(key, map->ops.ctx));
}

static bool key_eq(const rcgc_weakmap *map, const wentry *e, const void *key)
{
    if (map->kind != WM_VALUE)
        return e->node.obj == key;
    if (map->keymode == KM_STRING)
        return strcmp(e->key, key) == 0;
    return e->key == key || map->ops.eq(e->key, key, map->ops.ctx);
}

static bool entry_live(const wentry *e) { return rcgc__weak_alive(e->node.obj); }

/* The live entry for key, or NULL. */
static wentry *find(rcgc_weakmap *map, const void *key, uint64_t hash)
{
    if (!map->nbuckets)
        return NULL;
    for (wentry *e = map->buckets[hash & (map->nbuckets - 1)]; e; e = e->chain)
        if (e->hash == hash && e->node.obj && key_eq(map, e, key))
            return e;
    return NULL;
}

/* Room for 'extra' (> 0) more entries: grow past load 1 (never while
** iterating, except from no table at all). */
static rcgc_status reserve_buckets(rcgc_weakmap *map, size_t extra)
{
    size_t want = map->count + extra;
    if (map->nbuckets && (want <= map->nbuckets || map->iterating))
        return RCGC_OK;
    size_t n = map->nbuckets ? map->nbuckets * 2 : 8;
    while (n < want)
        n *= 2;
    wentry **b = rcgc_calloc(heap_of(map), n, sizeof *b);
    if (!b)
        return RCGC_ENOMEM;
    for (size_t i = 0; i < map->nbuckets; i++) {
        for (wentry *e = map->buckets[i], *next; e; e = next) {
            next = e->chain;
            e->chain = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    }
    rcgc_free(heap_of(map), map->buckets);
    map->buckets = b;
    map->nbuckets = n;
    return RCGC_OK;
}

/* Remove e from its chain. */
static void unchain(rcgc_weakmap *map, wentry *e)
{
    wentry **p = &map->buckets[e->hash & (map->nbuckets - 1)];
    while (*p != e)
        p = &(*p)->chain;
    *p = e->chain;
    e->chain = NULL;
    map->count--;
}

/* Free an unchained, unlinked entry: user code may run (key and value
** references drop last). */
static void entry_free(rcgc_heap *heap, rcgc_weakmap *map, wentry *e)
{
    void *key = e->key, *value = e->value;
    uint8_t keymode = map->keymode, kind = map->kind;
    rcgc_free(heap, e);
    if (kind == WM_VALUE && keymode == KM_STRING)
        rcgc_free(heap, key);
    else if (kind == WM_VALUE && keymode == KM_OBJECT)
        rcgc_xunref(key); /* NULL once popitem took it */
    rcgc_xunref(value);
}

/* Free a list of unchained, unlinked entries (threaded through 'chain'). */
static void free_list(rcgc_heap *heap, rcgc_weakmap *map, wentry *list)
{
    while (list) {
        wentry *e = list;
        list = e->chain;
        entry_free(heap, map, e);
    }
}

/* Kill a live entry explicitly: purge now, or mark dead while iterating. */
static void entry_remove(rcgc_heap *heap, rcgc_weakmap *map, wentry *e)
{
    rcgc__wnode_unlink(heap, &e->node);
    if (map->iterating) {
        map->ndead++;
        return;
    }
    unchain(map, e);
    entry_free(heap, map, e);
}

/* Free every dead entry not waiting for its callback. */
static void purge_dead(rcgc_heap *heap, rcgc_weakmap *map)
{
    wentry *dead = NULL;
    for (size_t i = 0; i < map->nbuckets && map->ndead; i++) {
        for (wentry **p = &map->buckets[i]; *p;) {
            wentry *e = *p;
            if (!e->node.obj && !(e->node.flags & RCGC__WN_PENDING)) {
                *p = e->chain;
                map->count--;
                map->ndead--;
                e->chain = dead;
                dead = e;
            } else {
                p = &e->chain;
            }
        }
    }
    free_list(heap, map, dead);
}

/* ------------------------------------------------------------------ */
/* Hooks for weakref.c                                                */
/* ------------------------------------------------------------------ */

void *rcgc__weakmap_entry_owner(rcgc__wnode *node) { return ((wentry *)node)->map; }

void rcgc__weakmap_entry_died(rcgc__wnode *node) { ((wentry *)node)->map->ndead++; }

void rcgc__weakmap_entry_purge(rcgc_heap *heap, rcgc__wnode *node)
{
    wentry *e = (wentry *)node;
    rcgc_weakmap *map = e->map;
    if (e->node.obj || map->iterating)
        return; /* dead entries of an iterated map go at iteration end */
    unchain(map, e);
    map->ndead--;
    entry_free(heap, map, e);
}

void rcgc__weakmap_kill(rcgc_heap *heap, void *obj)
{
    rcgc_weakmap *map = obj;
    for (size_t i = 0; i < map->nbuckets; i++)
        for (wentry *e = map->buckets[i]; e; e = e->chain)
            if (e->node.obj) {
                rcgc__wnode_unlink(heap, &e->node);
                map->ndead++;
            }
}

size_t rcgc__weakmap_check(rcgc_heap *heap, void *obj)
{
    rcgc_weakmap *map = obj;
    size_t count = 0, dead = 0, bad = 0;
    if (map->nbuckets & (map->nbuckets - 1))
        bad++;
    for (size_t i = 0; i < map->nbuckets; i++) {
        for (wentry *e = map->buckets[i]; e; e = e->chain) {
            count++;
            if (!e->node.obj)
                dead++;
            if ((e->hash & (map->nbuckets - 1)) != i || e->map != map ||
                e->node.kind != RCGC__WK_ENTRY ||
                (e->node.obj && !rcgc__mem_is_obj_block(&heap->mem,
                                                        rcgc__head_of(e->node.obj)))) {
                bad++;
            }
            if (count > map->count + 1)
                break;
        }
    }
    if (count != map->count || dead != map->ndead)
        bad++;
    if (bad)
        rcgc_heap_printf(heap, "rcgc_heap_check: weak map %p: %zu/%zu entries, %zu/%zu dead, "
                               "%zu bad\n", obj, count, map->count, dead, map->ndead, bad);
    return bad ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* The object type                                                    */
/* ------------------------------------------------------------------ */

static int map_traverse(void *obj, rcgc_visit_fn visit, void *arg)
{
    rcgc_weakmap *map = obj;
    bool keys = map->kind == WM_VALUE && map->keymode == KM_OBJECT;
    bool values = map->kind == WM_KEY;
    if (!keys && !values)
        return 0;
    for (size_t i = 0; i < map->nbuckets; i++) {
        for (wentry *e = map->buckets[i]; e; e = e->chain) {
            if (keys)
                RCGC_VISIT(e->key);
            if (values)
                RCGC_VISIT(e->value);
        }
    }
    return 0;
}

/* Drop every entry (death, or breaking a garbage cycle). */
static void map_clear(void *obj)
{
    rcgc_weakmap *map = obj;
    rcgc_heap *heap = heap_of(map);
    wentry *all = NULL;
    for (size_t i = 0; i < map->nbuckets; i++) {
        while (map->buckets[i]) {
            wentry *e = map->buckets[i];
            map->buckets[i] = e->chain;
            rcgc__wnode_unlink(heap, &e->node);
            e->chain = all;
            all = e;
        }
    }
    map->count = 0;
    map->ndead = 0;
    free_list(heap, map, all);
}

static void map_release(void *obj)
{
    rcgc_weakmap *map = obj;
    rcgc_free(heap_of(map), map->buckets);
    map->buckets = NULL;
    map->nbuckets = 0;
}

static rcgc_weakmap *map_new(rcgc_heap *heap, int kind, const rcgc_weakmap_keyops *ops)
{
    if (ops && (!ops->hash || !ops->eq)) {
        rcgc_heap_printf(heap, "rcgc_weakvaluemap_new: key operations need hash and eq\n");
        return NULL;
    }
    const rcgc_type *t = rcgc__weak_type(heap, RCGC__WT_MAP);
    rcgc_weakmap *map = t ? rcgc_new(heap, t) : NULL;
    if (!map)
        return NULL;
    map->kind = (uint8_t)kind;
    if (kind == WM_VALUE) {
        if (ops) {
            map->ops = *ops;
            map->keymode = ops->object_keys ? KM_OBJECT : KM_POINTER;
        } else {
            map->keymode = KM_STRING;
        }
    } else {
        map->keymode = KM_POINTER;
    }
    return map;
}

rcgc_weakmap *rcgc_weakvaluemap_new(rcgc_heap *heap, const rcgc_weakmap_keyops *keyops)
{
    return map_new(heap, WM_VALUE, keyops);
}

rcgc_weakmap *rcgc_weakkeymap_new(rcgc_heap *heap) { return map_new(heap, WM_KEY, NULL); }

rcgc_weakmap *rcgc_weakset_new(rcgc_heap *heap) { return map_new(heap, WM_SET, NULL); }

size_t rcgc_weakmap_len(rcgc_weakmap *map)
{
    check_map(map, 0, "rcgc_weakmap_len");
    return map->count - map->ndead;
}

/* ------------------------------------------------------------------ */
/* Insertion and removal                                              */
/* ------------------------------------------------------------------ */

/* A new entry, not yet in the map, or NULL: memory only (a string key is
** copied now, any other key is taken by entry_link). */
static wentry *entry_new(rcgc_weakmap *map, const void *key)
{
    rcgc_heap *heap = heap_of(map);
    wentry *e = rcgc_malloc(heap, sizeof *e);
    if (!e)
        return NULL;
    memset(e, 0, sizeof *e);
    if (map->kind == WM_VALUE && map->keymode == KM_STRING) {
        size_t n = strlen(key) + 1;
        e->key = rcgc_malloc(heap, n);
        if (!e->key) {
            rcgc_free(heap, e);
            return NULL;
        }
        memcpy(e->key, key, n);
    }
    return e;
}

/* Free entries from entry_new that were never linked (a list). */
static void discard_new(rcgc_heap *heap, rcgc_weakmap *map, wentry *list)
{
    while (list) {
        wentry *e = list;
        list = e->chain;
        if (map->keymode == KM_STRING)
            rcgc_free(heap, e->key);
        rcgc_free(heap, e);
    }
}

/* Put e (from entry_new) in the map, weakly holding 'weak'. Cannot fail:
** the caller made room in the buckets and the side table. */
static void entry_link(rcgc_weakmap *map, wentry *e, uint64_t hash, const void *key, void *weak,
                       void *value)
{
    e->node.kind = RCGC__WK_ENTRY;
    e->map = map;
    e->hash = hash;
    if (map->kind == WM_VALUE && map->keymode != KM_STRING)
        e->key = map->keymode == KM_OBJECT ? rcgc_ref((void *)key) : (void *)key;
    e->value = rcgc_xref(value);
    size_t b = hash & (map->nbuckets - 1);
    e->chain = map->buckets[b];
    map->buckets[b] = e;
    map->count++;
    rcgc__wnode_link(heap_of(map), &e->node, weak);
}

/* Insert a new entry weakly holding 'weak'. Takes nothing on failure. */
static rcgc_status insert(rcgc_weakmap *map, uint64_t hash, const void *key, void *weak,
                          void *value)
{
    rcgc_heap *heap = heap_of(map);
    if (reserve_buckets(map, 1) != RCGC_OK)
        return RCGC_ENOMEM;
    wentry *e = entry_new(map, key);
    if (!e)
        return RCGC_ENOMEM;
    if (rcgc__weak_reserve(heap, 1) != RCGC_OK) {
        discard_new(heap, map, e);
        return RCGC_ENOMEM;
    }
    entry_link(map, e, hash, key, weak, value);
    return RCGC_OK;
}

/* Value map: point key's entry e (from find; NULL: none) at value, or
** insert one. */
static rcgc_status value_put(rcgc_weakmap *map, const void *key, uint64_t hash, wentry *e,
                             void *value)
{
    rcgc_heap *heap = heap_of(map);
    if (e && e->node.obj == value)
        return RCGC_OK;
    if (e) {
        /* Re-point the entry: reserve first so that linking cannot fail. */
        if (rcgc__weak_reserve(heap, 1) != RCGC_OK)
            return RCGC_ENOMEM;
        rcgc__wnode_unlink(heap, &e->node);
        rcgc__wnode_link(heap, &e->node, value);
        return RCGC_OK;
    }
    return insert(map, hash, key, value, NULL);
}

/* The checks of a value-map insertion: RCGC_OK or RCGC_EINVAL. */
static rcgc_status value_args(rcgc_weakmap *map, const void *key, void *value, const char *what)
{
    check_map(map, WM_VALUE, what);
    rcgc_heap *heap = heap_of(map);
    if (!key) {
        rcgc_heap_printf(heap, "%s: NULL key\n", what);
        return RCGC_EINVAL;
    }
    return rcgc__weak_check_referent(heap, value, what);
}

rcgc_status rcgc_weakvaluemap_set(rcgc_weakmap *map, const void *key, void *value)
{
    rcgc_status st = value_args(map, key, value, "rcgc_weakvaluemap_set");
    if (st != RCGC_OK)
        return st;
    uint64_t hash = key_hash(map, key);
    return value_put(map, key, hash, find(map, key, hash), value);
}

/* The live entry for key (NULL key: none). */
static wentry *lookup(rcgc_weakmap *map, const void *key)
{
    wentry *e = key ? find(map, key, key_hash(map, key)) : NULL;
    return e && entry_live(e) ? e : NULL;
}

static rcgc_status del_key(rcgc_weakmap *map, const void *key)
{
    wentry *e = key ? find(map, key, key_hash(map, key)) : NULL;
    if (!e)
        return RCGC_ENOTFOUND;
    entry_remove(heap_of(map), map, e);
    return RCGC_OK;
}

/* Hand a new reference to the caller, or drop it if they want none. */
static void give(void **out, void *ref)
{
    if (out)
        *out = ref;
    else
        rcgc_xunref(ref);
}

/* Remove live entry e, handing its parts over (NULL: not wanted). Value
** map: 'key' gets the key itself (the caller now owns the string copy or
** the object reference), 'value' a new reference to the object. Key map
** and set: 'key' a new reference to the object, 'value' the entry's value
** reference. User code may run (dropped references) once e is out. */
static void take(rcgc_weakmap *map, wentry *e, void **key, void **value)
{
    void *obj = rcgc_ref(e->node.obj);
    if (map->kind == WM_VALUE) {
        if (key) {
            *key = e->key;
            e->key = NULL;
        }
        entry_remove(heap_of(map), map, e);
        give(value, obj);
        return;
    }
    void *v = e->value;
    e->value = NULL;
    entry_remove(heap_of(map), map, e);
    give(key, obj);
    give(value, v);
}

/* Remove the live entry for key, handing its parts over as take does. */
static rcgc_status pop_key(rcgc_weakmap *map, const void *key, void **key_out, void **value)
{
    wentry *e = lookup(map, key);
    if (!e)
        return RCGC_ENOTFOUND;
    take(map, e, key_out, value);
    return RCGC_OK;
}

/* Remove some live entry (dead ones are skipped: they are purged by their
** death or at the end of the iteration), starting where the last one was
** found, so emptying a map takes linear time. */
static rcgc_status pop_any(rcgc_weakmap *map, void **key, void **value)
{
    for (size_t i = 0; i < map->nbuckets; i++) {
        size_t b = (map->pop_from + i) & (map->nbuckets - 1);
        for (wentry *e = map->buckets[b]; e; e = e->chain) {
            if (entry_live(e)) {
                map->pop_from = b;
                take(map, e, key, value);
                return RCGC_OK;
            }
        }
    }
    return RCGC_ENOTFOUND;
}

/* The first live entry from e on (e NULL: from bucket *bucket on), in
** bucket order; *bucket is the next bucket to look at. */
static wentry *live_from(const rcgc_weakmap *map, wentry *e, size_t *bucket)
{
    for (;;) {
        while (!e) {
            if (*bucket >= map->nbuckets)
                return NULL;
            e = map->buckets[(*bucket)++];
        }
        if (entry_live(e))
            return e;
        e = e->chain;
    }
}

/* What an entry is found by: the key of a value map, the weakly held
** object of a key map or set. */
static const void *entry_key(const rcgc_weakmap *map, const wentry *e)
{
    return map->kind == WM_VALUE ? e->key : e->node.obj;
}

/*
** Copy src's live entries into map (same kind), src's value winning for a
** key both hold. All or nothing: everything is allocated first; from the
** first change on no user code runs (keyops excepted, which must not touch
** maps) until the map is done, so src cannot change under the walks. Every
** object linked here already has a side-table entry (src's entry on it),
** so linking needs no reservation.
*/
static rcgc_status update(rcgc_weakmap *map, rcgc_weakmap *src, const char *what)
{
    rcgc_heap *heap = heap_of(map);
    if (heap_of(src) != heap)
        rcgc__panic_obj(heap, src, "%s: container of another heap", what);
    check_map(src, map->kind, what);
    if (map->keymode != src->keymode) {
        rcgc_heap_printf(heap, "%s: the maps' keys are of different kinds\n", what);
        return RCGC_EINVAL;
    }
    /* New keys (each gets an entry) and replaced values (dropped last). */
    size_t nnew = 0, nold = 0, b = 0;
    for (wentry *e = live_from(src, NULL, &b); e; e = live_from(src, e->chain, &b)) {
        const void *k = entry_key(src, e);
        if (!find(map, k, key_hash(map, k)))
            nnew++;
        else if (map->kind == WM_KEY)
            nold++;
    }
    void **old = NULL;
    wentry *fresh = NULL, **tail = &fresh;
    if (nnew && reserve_buckets(map, nnew) != RCGC_OK)
        return RCGC_ENOMEM;
    if (nold && map->kind == WM_KEY && !(old = rcgc_malloc(heap, nold * sizeof *old)))
        return RCGC_ENOMEM;
    b = 0;
    for (wentry *e = live_from(src, NULL, &b); e; e = live_from(src, e->chain, &b)) {
        const void *k = entry_key(src, e);
        if (find(map, k, key_hash(map, k)))
            continue;
        wentry *n = entry_new(map, k);
        if (!n) {
            discard_new(heap, map, fresh);
            rcgc_free(heap, old);
            return RCGC_ENOMEM;
        }
        *tail = n;
        tail = &n->chain;
    }
    /* Commit: fresh holds one entry for each new key, in walk order (a
    ** string copy belongs to its key; other entries are interchangeable). */
    size_t nput = 0;
    b = 0;
    for (wentry *e = live_from(src, NULL, &b); e; e = live_from(src, e->chain, &b)) {
        const void *k = entry_key(src, e);
        uint64_t hash = key_hash(map, k);
        wentry *d = find(map, k, hash);
        if (!d && fresh) {
            wentry *n = fresh;
            fresh = n->chain;
            entry_link(map, n, hash, k, e->node.obj, e->value);
        } else if (d && map->kind == WM_VALUE && d->node.obj != e->node.obj) {
            rcgc__wnode_unlink(heap, &d->node);
            rcgc__wnode_link(heap, &d->node, e->node.obj);
        } else if (d && map->kind == WM_KEY && nput < nold) {
            old[nput++] = d->value;
            d->value = rcgc_xref(e->value);
        }
    }
    /* Left over only if map's keyops found two of src's keys equal. */
    discard_new(heap, map, fresh);
    for (size_t i = 0; i < nput; i++)
        rcgc_xunref(old[i]);
    rcgc_free(heap, old);
    return RCGC_OK;
}

void *rcgc_weakvaluemap_get(rcgc_weakmap *map, const void *key)
{
    check_map(map, WM_VALUE, "rcgc_weakvaluemap_get");
    wentry *e = lookup(map, key);
    return e ? rcgc_ref(e->node.obj) : NULL;
}

rcgc_status rcgc_weakvaluemap_del(rcgc_weakmap *map, const void *key)
{
    check_map(map, WM_VALUE, "rcgc_weakvaluemap_del");
    return del_key(map, key);
}

rcgc_status rcgc_weakvaluemap_setdefault(rcgc_weakmap *map, const void *key, void *dflt,
                                         void **out)
{
    rcgc_status st = value_args(map, key, dflt, "rcgc_weakvaluemap_setdefault");
    if (st != RCGC_OK)
        return st;
    uint64_t hash = key_hash(map, key);
    wentry *e = find(map, key, hash);
    void *value = e && entry_live(e) ? e->node.obj : dflt;
    if (value == dflt && (st = value_put(map, key, hash, e, dflt)) != RCGC_OK)
        return st;
    give(out, rcgc_ref(value));
    return RCGC_OK;
}

rcgc_status rcgc_weakvaluemap_pop(rcgc_weakmap *map, const void *key, void **value)
{
    check_map(map, WM_VALUE, "rcgc_weakvaluemap_pop");
    return pop_key(map, key, NULL, value);
}

rcgc_status rcgc_weakvaluemap_popitem(rcgc_weakmap *map, void **key, void **value)
{
    check_map(map, WM_VALUE, "rcgc_weakvaluemap_popitem");
    return pop_any(map, key, value);
}

rcgc_status rcgc_weakvaluemap_update(rcgc_weakmap *map, rcgc_weakmap *src)
{
    check_map(map, WM_VALUE, "rcgc_weakvaluemap_update");
    return update(map, src, "rcgc_weakvaluemap_update");
}

rcgc_status rcgc_weakkeymap_set(rcgc_weakmap *map, void *key, void *value)
{
    check_map(map, WM_KEY, "rcgc_weakkeymap_set");
    rcgc_heap *heap = heap_of(map);
    rcgc_status st = rcgc__weak_check_referent(heap, key, "rcgc_weakkeymap_set");
    if (st != RCGC_OK)
        return st;
    uint64_t hash = key_hash(map, key);
    wentry *e = find(map, key, hash);
    if (e) {
        void *old = e->value;
        e->value = rcgc_xref(value);
        rcgc_xunref(old);
        return RCGC_OK;
    }
    return insert(map, hash, NULL, key, value);
}

void *rcgc_weakkeymap_get(rcgc_weakmap *map, const void *key)
{
    check_map(map, WM_KEY, "rcgc_weakkeymap_get");
    wentry *e = lookup(map, key);
    return e ? rcgc_xref(e->value) : NULL;
}

bool rcgc_weakkeymap_has(rcgc_weakmap *map, const void *key)
{
    check_map(map, WM_KEY, "rcgc_weakkeymap_has");
    return lookup(map, key) != NULL;
}

rcgc_status rcgc_weakkeymap_del(rcgc_weakmap *map, const void *key)
{
    check_map(map, WM_KEY, "rcgc_weakkeymap_del");
    return del_key(map, key);
}

/* Key map and set: add key (with value) unless present; out (if asked)
** gets a new reference to the value now in the map (NULL for a set). */
static rcgc_status add_absent(rcgc_weakmap *map, void *key, void *value, void **out,
                              const char *what)
{
    rcgc_status st = rcgc__weak_check_referent(heap_of(map), key, what);
    if (st != RCGC_OK)
        return st;
    uint64_t hash = key_hash(map, key);
    wentry *e = find(map, key, hash);
    if (e)
        value = e->value;
    else if ((st = insert(map, hash, NULL, key, value)) != RCGC_OK)
        return st;
    give(out, rcgc_xref(value));
    return RCGC_OK;
}

rcgc_status rcgc_weakkeymap_setdefault(rcgc_weakmap *map, void *key, void *dflt, void **out)
{
    check_map(map, WM_KEY, "rcgc_weakkeymap_setdefault");
    return add_absent(map, key, dflt, out, "rcgc_weakkeymap_setdefault");
}

rcgc_status rcgc_weakkeymap_pop(rcgc_weakmap *map, const void *key, void **value)
{
    check_map(map, WM_KEY, "rcgc_weakkeymap_pop");
    return pop_key(map, key, NULL, value);
}

rcgc_status rcgc_weakkeymap_popitem(rcgc_weakmap *map, void **key, void **value)
{
    check_map(map, WM_KEY, "rcgc_weakkeymap_popitem");
    return pop_any(map, key, value);
}

rcgc_status rcgc_weakkeymap_update(rcgc_weakmap *map, rcgc_weakmap *src)
{
    check_map(map, WM_KEY, "rcgc_weakkeymap_update");
    return update(map, src, "rcgc_weakkeymap_update");
}

rcgc_status rcgc_weakset_add(rcgc_weakmap *set, void *obj)
{
    check_map(set, WM_SET, "rcgc_weakset_add");
    return add_absent(set, obj, NULL, NULL, "rcgc_weakset_add");
}

bool rcgc_weakset_has(rcgc_weakmap *set, const void *obj)
{
    check_map(set, WM_SET, "rcgc_weakset_has");
    return lookup(set, obj) != NULL;
}

rcgc_status rcgc_weakset_discard(rcgc_weakmap *set, const void *obj)
{
    check_map(set, WM_SET, "rcgc_weakset_discard");
    return del_key(set, obj);
}

rcgc_status rcgc_weakset_pop(rcgc_weakmap *set, void **obj)
{
    check_map(set, WM_SET, "rcgc_weakset_pop");
    return pop_any(set, obj, NULL);
}

rcgc_status rcgc_weakset_update(rcgc_weakmap *set, rcgc_weakmap *src)
{
    check_map(set, WM_SET, "rcgc_weakset_update");
    return update(set, src, "rcgc_weakset_update");
}

void rcgc_weakmap_clear(rcgc_weakmap *map)
{
    check_map(map, 0, "rcgc_weakmap_clear");
    rcgc_heap *heap = heap_of(map);
    wentry *gone = NULL;
    for (size_t i = 0; i < map->nbuckets; i++) {
        for (wentry **p = &map->buckets[i]; *p;) {
            wentry *e = *p;
            if (!e->node.obj) { /* dead: purged by its death or iteration end */
                p = &e->chain;
                continue;
            }
            rcgc__wnode_unlink(heap, &e->node);
            if (map->iterating) {
                map->ndead++;
                p = &e->chain;
                continue;
            }
            *p = e->chain;
            map->count--;
            e->chain = gone;
            gone = e;
        }
    }
    /* Dropping keys and values may run user code that drops the map. */
    rcgc_ref(map);
    free_list(heap, map, gone);
    rcgc_unref(map);
}

/* ------------------------------------------------------------------ */
/* Iteration (Lib/weakref.py's _IterationGuard)                       */
/* ------------------------------------------------------------------ */

void rcgc_weakmap_iter_begin(rcgc_weakmap *map, rcgc_weakmap_iter *it)
{
    check_map(map, 0, "rcgc_weakmap_iter_begin");
    it->map = rcgc_ref(map);
    it->bucket_ = 0;
    it->entry_ = NULL;
    it->hold_ = NULL;
    map->iterating++;
}

bool rcgc_weakmap_iter_next(rcgc_weakmap_iter *it, const void **key, void **value)
{
    rcgc_weakmap *map = it->map;
    if (!map)
        return false;
    /* Dropping the previous object may run user code that changes the
    ** map; entries are not freed while we iterate, so our place stays. */
    void *held = it->hold_;
    it->hold_ = NULL;
    rcgc_xunref(held);
    wentry *e = it->entry_ ? ((wentry *)it->entry_)->chain : NULL;
    e = live_from(map, e, &it->bucket_);
    it->entry_ = e;
    if (!e)
        return false;
    it->hold_ = rcgc_ref(e->node.obj);
    if (key)
        *key = entry_key(map, e);
    if (value)
        *value = map->kind == WM_VALUE ? e->node.obj : e->value;
    return true;
}

void rcgc_weakmap_iter_end(rcgc_weakmap_iter *it)
{
    rcgc_weakmap *map = it->map;
    if (!map)
        return;
    it->map = NULL;
    it->entry_ = NULL;
    void *held = it->hold_;
    it->hold_ = NULL;
    if (--map->iterating == 0 && map->ndead)
        purge_dead(heap_of(map), map);
    rcgc_xunref(held);
    rcgc_unref(map);
}
