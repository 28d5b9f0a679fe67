/*
** kit_dict.c -- the kit's dict: CPython's compact, insertion-ordered hash
** table over any hashable key, and the dict tracking rule of CPython <= 3.13
** (created untracked, tracked when a trackable key or value is stored,
** untracked again by full collections when it holds only atomic values).
** Uses only the public API and kit.h; never touches the collector's state.
*/
#include <string.h>

#include "kit.h"

/* Slot values besides entry indices. Entry indices stay below SLOT_DUMMY. */
#define SLOT_EMPTY 0xFFFFFFFFu
#define SLOT_DUMMY 0xFFFFFFFEu
/* The smallest table: 8 slots, 5 usable entries (CPython's PyDict_MINSIZE). */
#define MIN_SLOTS 8
/* Entry indices are 32-bit: at most 2^31 entries per dict. */
#define MAX_SLOTS ((size_t)1 << 31)
#define NOT_FOUND SIZE_MAX

static kit_entry *entries_of(const kit_dict *d)
{
    return (kit_entry *)(void *)(d->table + d->nslots);
}

static size_t block_bytes(size_t nslots)
{
    return nslots * sizeof(uint32_t) + nslots * 2 / 3 * sizeof(kit_entry);
}

_Static_assert(MIN_SLOTS * sizeof(uint32_t) % _Alignof(kit_entry) == 0,
               "entries follow the slot array without padding");

/* ===================================================================== */
/* The type                                                              */
/* ===================================================================== */

static int dict_traverse(void *obj, rcgc_visit_fn visit, void *arg)
{
    kit_dict *d = obj;
    kit_entry *e = d->table ? entries_of(d) : NULL;
    for (size_t i = 0; i < d->nentries; i++) {
        if (e[i].key) {
            RCGC_VISIT(e[i].key);
            RCGC_VISIT(e[i].value);
        }
    }
    return 0;
}

/* Empty the dict first, then drop the references (their deaths may run
** code that looks at this dict), then free the old table. */
static void dict_clear(void *obj)
{
    kit_dict *d = obj;
    uint32_t *table = d->table;
    size_t n = d->nentries, nslots = d->nslots;
    memset(d, 0, sizeof *d);
    if (!table)
        return;
    kit_entry *e = (kit_entry *)(void *)(table + nslots);
    for (size_t i = 0; i < n; i++) {
        if (e[i].key) {
            rcgc_unref(e[i].key);
            rcgc_unref(e[i].value);
        }
    }
    rcgc_free(rcgc_heap_of(obj), table);
}

const char rcgc__kit_dict_name[] = "dict";

const rcgc_type *rcgc__kit_dict_type_make(rcgc_heap *heap)
{
    return rcgc__kit_type(heap, rcgc__kit_dict_name, sizeof(kit_dict), 0, dict_traverse,
                          dict_clear);
}

static bool is_dict(const void *obj) { return rcgc__kit_is(obj, rcgc__kit_dict_name); }

void *rcgc_dict_new(rcgc_kit *kit)
{
    kit_dict *d = rcgc__kit_new(kit, kit->types[KIT_T_DICT], 0);
    if (d && kit->untrack_dicts)
        rcgc_untrack(d); /* nothing in it can make a cycle yet */
    return d;
}

size_t rcgc_dict_len(const void *dict)
{
    return is_dict(dict) ? ((const kit_dict *)dict)->used : 0;
}

size_t rcgc__kit_dict_table_bytes(const void *dict)
{
    const kit_dict *d = dict;
    return d->table ? rcgc_usable_size(rcgc_heap_of(dict), d->table) : 0;
}

/* ===================================================================== */
/* Probing                                                               */
/* ===================================================================== */

typedef bool (*match_fn)(const kit_entry *e, const void *key, size_t keylen);

static bool match_object(const kit_entry *e, const void *key, size_t keylen)
{
    (void)keylen;
    return e->key == key || rcgc__kit_equal(e->key, key, 0) == 1;
}

static bool match_cstr(const kit_entry *e, const void *key, size_t keylen)
{
    if (rcgc_type_of(e->key)->name != rcgc__kit_str_name)
        return false;
    const kit_str *s = e->key;
    return s->len == keylen && memcmp(s->data, key, keylen) == 0;
}

/*
** CPython's open addressing: slot = hash & mask, then i = 5i + perturb + 1
** with perturb = hash shifted right 5 bits per step, so every bit of the
** hash takes part and every slot is eventually visited. Returns the slot
** holding the key, or NOT_FOUND with *free_slot = the first empty or dummy
** slot on the path (where an insertion goes).
*/
static size_t probe(const kit_dict *d, int64_t hash, match_fn match, const void *key,
                    size_t keylen, size_t *free_slot)
{
    size_t mask = d->nslots - 1, free_at = NOT_FOUND;
    uint64_t perturb = (uint64_t)hash;
    size_t i = (size_t)perturb & mask;
    const kit_entry *e = entries_of(d);
    for (;;) {
        uint32_t ix = d->table[i];
        if (ix == SLOT_EMPTY) {
            if (free_slot)
                *free_slot = free_at == NOT_FOUND ? i : free_at;
            return NOT_FOUND;
        }
        if (ix == SLOT_DUMMY) {
            if (free_at == NOT_FOUND)
                free_at = i;
        } else if (e[ix].hash == hash && match(&e[ix], key, keylen)) {
            return i;
        }
        perturb >>= 5;
        i = (i * 5 + (size_t)perturb + 1) & mask;
    }
}

kit_entry *rcgc__kit_dict_find(const kit_dict *d, const void *key, int64_t hash)
{
    if (!d->table)
        return NULL;
    size_t slot = probe(d, hash, match_object, key, 0, NULL);
    return slot == NOT_FOUND ? NULL : &entries_of(d)[d->table[slot]];
}

/* Move the live entries, in order, into a fresh table with room for at
** least 'need' entries. The dict is unchanged on failure. */
static rcgc_status resize(kit_dict *d, size_t need)
{
    size_t nslots = MIN_SLOTS;
    while (nslots * 2 / 3 < need) {
        if (nslots >= MAX_SLOTS)
            return RCGC_ENOMEM;
        nslots *= 2;
    }
    uint32_t *table = rcgc_malloc(rcgc_heap_of(d), block_bytes(nslots));
    if (!table)
        return RCGC_ENOMEM;
    memset(table, 0xFF, nslots * sizeof *table); /* SLOT_EMPTY */
    kit_entry *dst = (kit_entry *)(void *)(table + nslots);
    size_t n = 0, mask = nslots - 1;
    if (d->table) {
        const kit_entry *src = entries_of(d);
        for (size_t k = 0; k < d->nentries; k++) {
            if (!src[k].key)
                continue;
            dst[n] = src[k];
            uint64_t perturb = (uint64_t)src[k].hash;
            size_t i = (size_t)perturb & mask;
            while (table[i] != SLOT_EMPTY) {
                perturb >>= 5;
                i = (i * 5 + (size_t)perturb + 1) & mask;
            }
            table[i] = (uint32_t)n++;
        }
        rcgc_free(rcgc_heap_of(d), d->table);
    }
    d->table = table;
    d->nslots = nslots;
    d->usable = nslots * 2 / 3;
    d->nentries = n;
    return RCGC_OK;
}

/* ===================================================================== */
/* Insertion, lookup, deletion                                           */
/* ===================================================================== */

/* CPython <= 3.13's MAINTAIN_TRACKING: an untracked dict becomes tracked
** once it holds something that is or may become tracked. */
static void maintain_tracking(kit_dict *d, const void *key, const void *value)
{
    if (!rcgc_is_tracked(d) && !rcgc_is_immortal(d) &&
        (rcgc__kit_may_be_tracked(key) || rcgc__kit_may_be_tracked(value)))
        rcgc_track(d);
}

/* Store key -> value with a known hash; the dict takes its own references.
** 'match'/'keyarg'/'keylen' find an existing key (for C-string lookups). */
static rcgc_status insert(kit_dict *d, void *key, int64_t hash, void *value)
{
    size_t free_slot = NOT_FOUND;
    if (d->table) {
        size_t slot = probe(d, hash, match_object, key, 0, &free_slot);
        if (slot != NOT_FOUND) {
            kit_entry *e = &entries_of(d)[d->table[slot]];
            maintain_tracking(d, e->key, value);
            RCGC_SETREF(e->value, rcgc_ref(value));
            return RCGC_OK;
        }
    }
    if (!d->table || d->nentries == d->usable) {
        /* CPython's growth rate: room for 3x the live entries. */
        rcgc_status st = resize(d, d->used * 3 > d->used + 1 ? d->used * 3 : d->used + 1);
        if (st != RCGC_OK)
            return st;
        probe(d, hash, match_object, key, 0, &free_slot);
    }
    kit_entry *e = &entries_of(d)[d->nentries];
    e->hash = hash;
    e->key = rcgc_ref(key);
    e->value = rcgc_ref(value);
    d->table[free_slot] = (uint32_t)d->nentries++;
    d->used++;
    maintain_tracking(d, key, value);
    return RCGC_OK;
}

rcgc_status rcgc_dict_set(void *dict, void *key, void *value)
{
    int64_t hash;
    if (!is_dict(dict) || !key || !value || rcgc_kit_hash(key, &hash) != RCGC_OK)
        return RCGC_EINVAL;
    return insert(dict, key, hash, value);
}

rcgc_status rcgc_dict_set_take(void *dict, void *key, void *value)
{
    rcgc_status st = key && value ? rcgc_dict_set(dict, key, value) : RCGC_ENOMEM;
    rcgc_xunref(key);
    rcgc_xunref(value);
    return st;
}

rcgc_status rcgc_dict_set_cstr(rcgc_kit *kit, void *dict, const char *key, void *value)
{
    if (!is_dict(dict) || !value)
        return RCGC_EINVAL;
    size_t len = strlen(key);
    kit_dict *d = dict;
    int64_t hash = rcgc__kit_hash_bytes(kit->hash_key, key, len);
    if (d->table) { /* an existing key: no str to make */
        size_t slot = probe(d, hash, match_cstr, key, len, NULL);
        if (slot != NOT_FOUND) {
            kit_entry *e = &entries_of(d)[d->table[slot]];
            maintain_tracking(d, e->key, value);
            RCGC_SETREF(e->value, rcgc_ref(value));
            return RCGC_OK;
        }
    }
    void *k = rcgc__kit_str_new_hashed(kit, key, len, hash);
    if (!k)
        return rcgc_str_utf8_check(key, len, NULL) ? RCGC_ENOMEM : RCGC_EINVAL;
    rcgc_status st = insert(d, k, hash, value);
    rcgc_unref(k);
    return st;
}

rcgc_status rcgc_dict_set_cstr_take(rcgc_kit *kit, void *dict, const char *key, void *value)
{
    if (!value)
        return RCGC_ENOMEM;
    rcgc_status st = rcgc_dict_set_cstr(kit, dict, key, value);
    rcgc_unref(value);
    return st;
}

rcgc_status rcgc_dict_lookup(const void *dict, const void *key, void **out)
{
    int64_t hash;
    *out = NULL;
    if (!is_dict(dict) || !key || rcgc_kit_hash(key, &hash) != RCGC_OK)
        return RCGC_EINVAL;
    kit_entry *e = rcgc__kit_dict_find(dict, key, hash);
    if (!e)
        return RCGC_ENOTFOUND;
    *out = e->value;
    return RCGC_OK;
}

void *rcgc_dict_get(const void *dict, const void *key)
{
    void *v;
    (void)rcgc_dict_lookup(dict, key, &v);
    return v;
}

void *rcgc_dict_get_cstr(rcgc_kit *kit, const void *dict, const char *key)
{
    if (!is_dict(dict) || !((const kit_dict *)dict)->table)
        return NULL;
    const kit_dict *d = dict;
    size_t len = strlen(key);
    size_t slot = probe(d, rcgc__kit_hash_bytes(kit->hash_key, key, len), match_cstr, key, len,
                        NULL);
    return slot == NOT_FOUND ? NULL : entries_of(d)[d->table[slot]].value;
}

rcgc_status rcgc_dict_pop(void *dict, const void *key, void **out)
{
    int64_t hash;
    if (out)
        *out = NULL;
    if (!is_dict(dict) || !key || rcgc_kit_hash(key, &hash) != RCGC_OK)
        return RCGC_EINVAL;
    kit_dict *d = dict;
    if (!d->table)
        return RCGC_ENOTFOUND;
    size_t slot = probe(d, hash, match_object, key, 0, NULL);
    if (slot == NOT_FOUND)
        return RCGC_ENOTFOUND;
    kit_entry *e = &entries_of(d)[d->table[slot]];
    void *k = e->key, *v = e->value;
    d->table[slot] = SLOT_DUMMY;
    e->key = e->value = NULL; /* a deleted entry; compacted at the next resize */
    d->used--;
    rcgc_unref(k);
    if (out)
        *out = v;
    else
        rcgc_unref(v);
    return RCGC_OK;
}

rcgc_status rcgc_dict_del(void *dict, const void *key)
{
    return rcgc_dict_pop(dict, key, NULL);
}

void rcgc_dict_clear(void *dict)
{
    if (is_dict(dict))
        dict_clear(dict);
}

bool rcgc_dict_next(const void *dict, size_t *pos, void **key, void **value)
{
    if (!is_dict(dict))
        return false;
    const kit_dict *d = dict;
    const kit_entry *e = d->table ? entries_of(d) : NULL;
    while (*pos < d->nentries) {
        const kit_entry *x = &e[(*pos)++];
        if (x->key) {
            if (key)
                *key = x->key;
            if (value)
                *value = x->value;
            return true;
        }
    }
    return false;
}

int rcgc__kit_dict_equal(const kit_dict *a, const kit_dict *b, int depth)
{
    if (a->used != b->used)
        return 0;
    const kit_entry *e = a->table ? entries_of(a) : NULL;
    for (size_t i = 0; i < a->nentries; i++) {
        if (!e[i].key)
            continue;
        const kit_entry *f = rcgc__kit_dict_find(b, e[i].key, e[i].hash);
        if (!f)
            return 0;
        int r = rcgc__kit_equal(e[i].value, f->value, depth);
        if (r != 1)
            return r;
    }
    return 1;
}

/* ===================================================================== */
/* Untracking at full collections                                        */
/* ===================================================================== */

bool rcgc__kit_dict_is_atomic(const void *dict)
{
    const kit_dict *d = dict;
    const kit_entry *e = d->table ? entries_of(d) : NULL;
    for (size_t i = 0; i < d->nentries; i++)
        if (e[i].key && (rcgc__kit_may_be_tracked(e[i].key) ||
                         rcgc__kit_may_be_tracked(e[i].value)))
            return false;
    return true;
}

typedef struct untrack_list {
    rcgc_heap *heap;
    void **items;
    size_t len, cap;
} untrack_list;

static int gather_atomic_dict(void *obj, void *arg)
{
    untrack_list *u = arg;
    if (!is_dict(obj) || !rcgc__kit_dict_is_atomic(obj))
        return 0;
    if (u->len == u->cap) {
        size_t cap = u->cap ? u->cap * 2 : 64;
        void **items = rcgc_realloc(u->heap, u->items, cap * sizeof *items);
        if (!items)
            return 1; /* out of memory: untrack what we have */
        u->items = items;
        u->cap = cap;
    }
    u->items[u->len++] = obj;
    return 0;
}

int rcgc__kit_untrack_callback(rcgc_heap *heap, rcgc_gc_phase phase,
                               const rcgc_gc_info *info, void *ctx);

/*
** The collector's STOP callback: after a full collection, untrack every dict
** that holds only atomic keys and values (CPython's untrack_dicts, run on
** full collections only to avoid quadratic work while a dict is built).
** The tracked objects are gathered first and untracked afterwards, because
** untracking unlinks an object from the list being walked. Incremental-mode
** steps (info->increment) are skipped: a whole-heap pass per increment would
** defeat their bounded pauses; explicit full collections still untrack.
*/
int rcgc__kit_untrack_callback(rcgc_heap *heap, rcgc_gc_phase phase,
                               const rcgc_gc_info *info, void *ctx)
{
    (void)ctx;
    if (phase != RCGC_GC_STOP || info->generation != RCGC_GC_GENERATIONS - 1 ||
        info->increment)
        return 0;
    untrack_list u = {heap, NULL, 0, 0};
    rcgc_gc_visit_objects(heap, -1, gather_atomic_dict, &u);
    for (size_t i = 0; i < u.len; i++)
        rcgc_untrack(u.items[i]);
    rcgc_free(heap, u.items);
    return 0;
}
