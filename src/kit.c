/*
** kit.c -- the object kit's context (singletons, small-int cache), the
** atomic number types (none, bool, int, float) and the generic entry points
** every kit object supports: kind, truth, hash, equality, size.
** Top layer: uses only the public API (rcgc.h); str/bytes, list, dict, text
** and JSON live in kit_str.c, kit_list.c, kit_dict.c, kit_text.c, json.c;
** the site-capturing entry points in kit_site.c.
*/
#include <math.h>
#include <string.h>

#include "kit.h"

/* ===================================================================== */
/* Types                                                                 */
/* ===================================================================== */

/* Atomic types: no traverse, so never tracked; nothing to clear. */
const char rcgc__kit_none_name[] = "NoneType";
const char rcgc__kit_bool_name[] = "bool";
const char rcgc__kit_int_name[] = "int";
const char rcgc__kit_float_name[] = "float";

const rcgc_type *rcgc__kit_type(rcgc_heap *heap, const char *name, size_t size,
                                size_t itemsize, int (*traverse)(void *, rcgc_visit_fn, void *),
                                void (*clear)(void *))
{
    rcgc_type t;
    memset(&t, 0, sizeof t);
    t.name = name;
    t.size = size;
    t.itemsize = itemsize;
    t.traverse = traverse;
    t.clear = clear;
    return rcgc_type_register(heap, &t);
}

static const rcgc_type *atomic_type(rcgc_heap *heap, const char *name, size_t size)
{
    return rcgc__kit_type(heap, name, size, 0, NULL, NULL);
}

bool rcgc__kit_types_init(rcgc_kit *kit)
{
    rcgc_heap *h = kit->heap;
    kit->types[KIT_T_NONE] = atomic_type(h, rcgc__kit_none_name, sizeof(kit_bool));
    kit->types[KIT_T_BOOL] = atomic_type(h, rcgc__kit_bool_name, sizeof(kit_bool));
    kit->types[KIT_T_INT] = atomic_type(h, rcgc__kit_int_name, sizeof(kit_int));
    kit->types[KIT_T_FLOAT] = atomic_type(h, rcgc__kit_float_name, sizeof(kit_float));
    kit->types[KIT_T_STR] = rcgc__kit_str_types(h, &kit->types[KIT_T_BYTES]);
    kit->types[KIT_T_LIST] = rcgc__kit_list_type_make(h);
    kit->types[KIT_T_DICT] = rcgc__kit_dict_type_make(h);
    for (int i = 0; i < KIT_NTYPES; i++)
        if (!kit->types[i])
            return false;
    return true;
}

rcgc_kind rcgc_kit_kind(const void *obj)
{
    const rcgc_type *t = rcgc_type_of(obj);
    if (t->name == rcgc__kit_int_name)
        return RCGC_KIND_INT;
    if (t->name == rcgc__kit_str_name)
        return RCGC_KIND_STR;
    if (t->name == rcgc__kit_list_name)
        return RCGC_KIND_LIST;
    if (t->name == rcgc__kit_dict_name)
        return RCGC_KIND_DICT;
    if (t->name == rcgc__kit_float_name)
        return RCGC_KIND_FLOAT;
    if (t->name == rcgc__kit_bool_name)
        return RCGC_KIND_BOOL;
    if (t->name == rcgc__kit_none_name)
        return RCGC_KIND_NONE;
    if (t->name == rcgc__kit_bytes_name)
        return RCGC_KIND_BYTES;
    return RCGC_KIND_OTHER;
}

const char *rcgc_kit_type_name(const void *obj)
{
    const char *name = rcgc_type_of(obj)->name;
    return name ? name : "object";
}

bool rcgc_kit_is_atomic(const void *obj)
{
    rcgc_kind k = rcgc_kit_kind(obj);
    return k != RCGC_KIND_OTHER && k != RCGC_KIND_LIST && k != RCGC_KIND_DICT;
}

/* ===================================================================== */
/* The kit context                                                       */
/* ===================================================================== */

void rcgc_kit_config_init(rcgc_kit_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->struct_size = sizeof *cfg;
    cfg->small_ints = true;
    cfg->untrack_dicts = true;
    /* The digits of pi: a fixed, documented default key. */
    cfg->hash_key[0] = 0x243f6a8885a308d3u;
    cfg->hash_key[1] = 0x13198a2e03707344u;
}

/* A new immortal object, counted by the kit; NULL when out of memory. */
static void *new_immortal(rcgc_kit *kit, const rcgc_type *type)
{
    void *obj = rcgc__kit_new(kit, type, 0);
    if (obj) {
        rcgc_set_immortal(obj);
        kit->nimmortal++;
    }
    return obj;
}

int rcgc__kit_untrack_callback(rcgc_heap *heap, rcgc_gc_phase phase,
                               const rcgc_gc_info *info, void *ctx);

rcgc_kit *rcgc_kit_new(rcgc_heap *heap, const rcgc_kit_config *cfg)
{
    rcgc_kit_config def;
    if (!cfg || cfg->struct_size != sizeof *cfg) {
        rcgc_kit_config_init(&def);
        cfg = &def;
    }
    rcgc_kit *kit = rcgc_calloc(heap, 1, sizeof *kit);
    if (!kit)
        return NULL;
    kit->heap = heap;
    kit->hash_key[0] = cfg->hash_key[0];
    kit->hash_key[1] = cfg->hash_key[1];
    kit->untrack_dicts = cfg->untrack_dicts;
    if (!rcgc__kit_types_init(kit))
        goto fail;
    /* A failure below leaves the immortals made so far: they cannot be
    ** freed, and they are harmless until the heap goes. */
    kit->none = new_immortal(kit, kit->types[KIT_T_NONE]);
    kit->true_ = new_immortal(kit, kit->types[KIT_T_BOOL]);
    kit->false_ = new_immortal(kit, kit->types[KIT_T_BOOL]);
    if (!kit->none || !kit->true_ || !kit->false_)
        goto fail;
    ((kit_bool *)kit->true_)->value = true;
    if (cfg->small_ints) {
        for (int i = 0; i < KIT_NSMALL; i++) {
            kit_int *o = new_immortal(kit, kit->types[KIT_T_INT]);
            if (!o)
                goto fail;
            o->value = KIT_SMALL_MIN + i;
            kit->small[i] = o;
        }
    }
    if (kit->untrack_dicts) {
        if (rcgc_gc_callback_add(heap, rcgc__kit_untrack_callback, kit) != RCGC_OK)
            goto fail;
        kit->callback_added = true;
    }
    return kit;
fail:
    rcgc_free(heap, kit);
    return NULL;
}

void rcgc_kit_free(rcgc_kit *kit)
{
    if (!kit)
        return;
    if (kit->callback_added)
        rcgc_gc_callback_remove(kit->heap, rcgc__kit_untrack_callback, kit);
    rcgc_free(kit->heap, kit);
}

rcgc_heap *rcgc_kit_heap(const rcgc_kit *kit) { return kit->heap; }
size_t rcgc_kit_immortal_count(const rcgc_kit *kit) { return kit->nimmortal; }

/* ===================================================================== */
/* none and bool                                                         */
/* ===================================================================== */

void *rcgc_kit_none(rcgc_kit *kit) { return kit->none; }
void *rcgc_kit_true(rcgc_kit *kit) { return kit->true_; }
void *rcgc_kit_false(rcgc_kit *kit) { return kit->false_; }
void *rcgc_kit_bool(rcgc_kit *kit, bool value) { return value ? kit->true_ : kit->false_; }
bool rcgc_kit_is_none(const void *obj) { return rcgc__kit_is(obj, rcgc__kit_none_name); }

bool rcgc_bool_value(const void *obj)
{
    return rcgc__kit_is(obj, rcgc__kit_bool_name) && ((const kit_bool *)obj)->value;
}

/* ===================================================================== */
/* int                                                                   */
/* ===================================================================== */

void *rcgc_int_new(rcgc_kit *kit, int64_t value)
{
    if (value >= KIT_SMALL_MIN && value <= KIT_SMALL_MAX && kit->small[0])
        return kit->small[value - KIT_SMALL_MIN];
    kit_int *o = rcgc__kit_new(kit, kit->types[KIT_T_INT], 0);
    if (o)
        o->value = value;
    return o;
}

rcgc_status rcgc_int_get(const void *obj, int64_t *out)
{
    const rcgc_type *t = obj ? rcgc_type_of(obj) : NULL;
    if (t->name == rcgc__kit_int_name)
        *out = ((const kit_int *)obj)->value;
    else if (t->name == rcgc__kit_bool_name)
        *out = ((const kit_bool *)obj)->value;
    else
        return RCGC_EINVAL;
    return RCGC_OK;
}

int64_t rcgc_int_value(const void *obj)
{
    int64_t v = 0;
    (void)rcgc_int_get(obj, &v);
    return v;
}

rcgc_status rcgc_int_parse(rcgc_kit *kit, const char *text, size_t len, void **out)
{
    *out = NULL;
    size_t i = 0;
    bool neg = false;
    if (i < len && (text[i] == '-' || text[i] == '+'))
        neg = text[i++] == '-';
    if (i == len)
        return RCGC_EINVAL;
    /* Accumulate the magnitude as unsigned: -2^63 fits, +2^63 does not. */
    uint64_t mag = 0, limit = neg ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
    for (; i < len; i++) {
        unsigned d = (unsigned char)text[i] - '0';
        if (d > 9 || mag > (limit - d) / 10)
            return RCGC_EINVAL;
        mag = mag * 10 + d;
    }
    int64_t v = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    *out = rcgc_int_new(kit, v);
    return *out ? RCGC_OK : RCGC_ENOMEM;
}

enum int_op { OP_ADD, OP_SUB, OP_MUL, OP_FLOORDIV, OP_MOD };

static rcgc_status int_binop(rcgc_kit *kit, const void *a, const void *b, enum int_op op,
                             void **out)
{
    int64_t x, y, r = 0;
    *out = NULL;
    if (rcgc_int_get(a, &x) != RCGC_OK || rcgc_int_get(b, &y) != RCGC_OK)
        return RCGC_EINVAL;
    bool overflow = false;
    switch (op) {
    case OP_ADD: overflow = __builtin_add_overflow(x, y, &r); break;
    case OP_SUB: overflow = __builtin_sub_overflow(x, y, &r); break;
    case OP_MUL: overflow = __builtin_mul_overflow(x, y, &r); break;
    case OP_FLOORDIV:
    case OP_MOD:
        if (y == 0 || (x == INT64_MIN && y == -1 && op == OP_FLOORDIV))
            return RCGC_EINVAL;
        if (y == -1) { /* x % -1 == 0; avoids INT64_MIN % -1 */
            r = op == OP_MOD ? 0 : -x;
            break;
        }
        {
            /* C truncates toward zero; Python floors. */
            int64_t q = x / y, m = x % y;
            if (m != 0 && ((m < 0) != (y < 0))) {
                q -= 1;
                m += y;
            }
            r = op == OP_MOD ? m : q;
        }
        break;
    }
    if (overflow)
        return RCGC_EINVAL;
    *out = rcgc_int_new(kit, r);
    return *out ? RCGC_OK : RCGC_ENOMEM;
}

rcgc_status rcgc_int_add(rcgc_kit *kit, const void *a, const void *b, void **out)
{
    return int_binop(kit, a, b, OP_ADD, out);
}
rcgc_status rcgc_int_sub(rcgc_kit *kit, const void *a, const void *b, void **out)
{
    return int_binop(kit, a, b, OP_SUB, out);
}
rcgc_status rcgc_int_mul(rcgc_kit *kit, const void *a, const void *b, void **out)
{
    return int_binop(kit, a, b, OP_MUL, out);
}
rcgc_status rcgc_int_floordiv(rcgc_kit *kit, const void *a, const void *b, void **out)
{
    return int_binop(kit, a, b, OP_FLOORDIV, out);
}
rcgc_status rcgc_int_mod(rcgc_kit *kit, const void *a, const void *b, void **out)
{
    return int_binop(kit, a, b, OP_MOD, out);
}

/* ===================================================================== */
/* float                                                                 */
/* ===================================================================== */

void *rcgc_float_new(rcgc_kit *kit, double value)
{
    kit_float *o = rcgc__kit_new(kit, kit->types[KIT_T_FLOAT], 0);
    if (o)
        o->value = value;
    return o;
}

rcgc_status rcgc_float_get(const void *obj, double *out)
{
    int64_t i;
    if (rcgc__kit_is(obj, rcgc__kit_float_name))
        *out = ((const kit_float *)obj)->value;
    else if (rcgc_int_get(obj, &i) == RCGC_OK)
        *out = (double)i;
    else
        return RCGC_EINVAL;
    return RCGC_OK;
}

double rcgc_float_value(const void *obj)
{
    double v = 0.0;
    (void)rcgc_float_get(obj, &v);
    return v;
}

/* ===================================================================== */
/* Truth, hash, equality, size                                           */
/* ===================================================================== */

bool rcgc_kit_is_true(const void *obj)
{
    switch (rcgc_kit_kind(obj)) {
    case RCGC_KIND_NONE: return false;
    case RCGC_KIND_BOOL: return ((const kit_bool *)obj)->value;
    case RCGC_KIND_INT: return ((const kit_int *)obj)->value != 0;
    case RCGC_KIND_FLOAT: return ((const kit_float *)obj)->value != 0.0;
    case RCGC_KIND_STR:
    case RCGC_KIND_BYTES: return ((const kit_str *)obj)->len != 0;
    case RCGC_KIND_LIST: return ((const kit_list *)obj)->len != 0;
    case RCGC_KIND_DICT: return ((const kit_dict *)obj)->used != 0;
    case RCGC_KIND_OTHER: break;
    }
    return true;
}

/* CPython's numeric hash (Python/pyhash.c): reduction modulo the Mersenne
** prime 2^61 - 1, so that equal numbers of any type hash alike. */
#define HASH_BITS 61
#define HASH_MODULUS (((uint64_t)1 << HASH_BITS) - 1)
#define HASH_INF 314159
#define HASH_NONE 0xFCA86420 /* CPython 3.12's constant hash(None) */

static int64_t fix_minus_one(uint64_t x)
{
    return x == (uint64_t)-1 ? -2 : (int64_t)x;
}

static int64_t hash_int(int64_t v)
{
    uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    uint64_t x = mag % HASH_MODULUS;
    return fix_minus_one(v < 0 ? 0 - x : x);
}

int64_t rcgc__kit_hash_double(double v)
{
    if (isinf(v))
        return v > 0 ? HASH_INF : -HASH_INF;
    if (isnan(v))
        return 0; /* NaN keys are found by identity only (never ==) */
    int e;
    double m = frexp(v, &e);
    int sign = 1;
    if (m < 0) {
        sign = -1;
        m = -m;
    }
    /* Process 28 bits at a time; each step is exact in double arithmetic. */
    uint64_t x = 0;
    while (m) {
        x = ((x << 28) & HASH_MODULUS) | x >> (HASH_BITS - 28);
        m *= 268435456.0; /* 2**28 */
        e -= 28;
        uint64_t y = (uint64_t)m;
        m -= (double)y;
        x += y;
        if (x >= HASH_MODULUS)
            x -= HASH_MODULUS;
    }
    e = e >= 0 ? e % HASH_BITS : HASH_BITS - 1 - ((-1 - e) % HASH_BITS);
    x = ((x << e) & HASH_MODULUS) | x >> (HASH_BITS - e);
    return fix_minus_one(sign < 0 ? 0 - x : x);
}

/* CPython's _Py_HashPointer: identity, rotated so aligned addresses spread. */
static int64_t hash_pointer(const void *p)
{
    uint64_t y = (uint64_t)(uintptr_t)p;
    return fix_minus_one((y >> 4) | (y << 60));
}

rcgc_status rcgc_kit_hash(const void *obj, int64_t *out)
{
    switch (rcgc_kit_kind(obj)) {
    case RCGC_KIND_NONE: *out = HASH_NONE; break;
    case RCGC_KIND_BOOL: *out = ((const kit_bool *)obj)->value; break;
    case RCGC_KIND_INT: *out = hash_int(((const kit_int *)obj)->value); break;
    case RCGC_KIND_FLOAT: *out = rcgc__kit_hash_double(((const kit_float *)obj)->value); break;
    case RCGC_KIND_STR:
    case RCGC_KIND_BYTES: *out = ((const kit_str *)obj)->hash; break;
    case RCGC_KIND_LIST:
    case RCGC_KIND_DICT: return RCGC_EINVAL;
    case RCGC_KIND_OTHER: *out = hash_pointer(obj); break;
    }
    return RCGC_OK;
}

/* Exact int == double, as CPython compares int with float (no rounding). */
static bool int_equals_double(int64_t i, double d)
{
    if (!isfinite(d) || d != floor(d))
        return false;
    if (d < -9223372036854775808.0 || d >= 9223372036854775808.0)
        return false;
    return (int64_t)d == i;
}

static int numbers_equal(const void *a, rcgc_kind ka, const void *b, rcgc_kind kb)
{
    if (ka == RCGC_KIND_FLOAT && kb == RCGC_KIND_FLOAT)
        return ((const kit_float *)a)->value == ((const kit_float *)b)->value;
    if (ka == RCGC_KIND_FLOAT)
        return int_equals_double(rcgc_int_value(b), ((const kit_float *)a)->value);
    if (kb == RCGC_KIND_FLOAT)
        return int_equals_double(rcgc_int_value(a), ((const kit_float *)b)->value);
    return rcgc_int_value(a) == rcgc_int_value(b);
}

static bool is_number(rcgc_kind k)
{
    return k == RCGC_KIND_BOOL || k == RCGC_KIND_INT || k == RCGC_KIND_FLOAT;
}

int rcgc__kit_equal(const void *a, const void *b, int depth)
{
    if (a == b)
        return 1;
    rcgc_kind ka = rcgc_kit_kind(a), kb = rcgc_kit_kind(b);
    if (is_number(ka) && is_number(kb))
        return numbers_equal(a, ka, b, kb);
    if (ka != kb)
        return 0;
    switch (ka) {
    case RCGC_KIND_NONE: return 1;
    case RCGC_KIND_STR:
    case RCGC_KIND_BYTES: {
        const kit_str *x = a, *y = b;
        return x->len == y->len && x->hash == y->hash && memcmp(x->data, y->data, x->len) == 0;
    }
    case RCGC_KIND_LIST: {
        const kit_list *x = a, *y = b;
        if (x->len != y->len)
            return 0;
        if (depth >= RCGC_KIT_MAX_DEPTH)
            return -RCGC_EINVAL;
        /* Comparing runs no user code, so neither list changes meanwhile. */
        for (size_t i = 0; i < x->len; i++) {
            int r = rcgc__kit_equal(x->items[i], y->items[i], depth + 1);
            if (r != 1)
                return r;
        }
        return 1;
    }
    case RCGC_KIND_DICT:
        if (depth >= RCGC_KIT_MAX_DEPTH)
            return -RCGC_EINVAL;
        return rcgc__kit_dict_equal(a, b, depth + 1);
    default:
        return 0; /* other objects: identity only */
    }
}

int rcgc_kit_equal(const void *a, const void *b)
{
    return rcgc__kit_equal(a, b, 0);
}

size_t rcgc_kit_sizeof(const void *obj)
{
    size_t n = sizeof(rcgc__head) + rcgc_object_size(obj);
    switch (rcgc_kit_kind(obj)) {
    case RCGC_KIND_LIST: {
        const kit_list *l = obj;
        if (l->items)
            n += rcgc_usable_size(rcgc_heap_of(obj), l->items);
        break;
    }
    case RCGC_KIND_DICT: n += rcgc__kit_dict_table_bytes(obj); break;
    default: break;
    }
    return n;
}
