/*
** kit.h -- internal to the object kit (kit*.c, json.c): the object layouts,
** the kit context and the helpers the kit's files share. The kit is the top
** layer: it sees only include/rcgc.h and include/rcgc_kit.h, never the
** core's internal headers.
*/
#ifndef RCGC_KIT_INTERNAL_H
#define RCGC_KIT_INTERNAL_H

/* The kit's own files call the plain functions: the site macros of
** rcgc_kit.h would attribute their allocations to the kit's lines. */
#define RCGC_KIT_NO_SITE_MACROS
#include "rcgc_kit.h"

/* The small-int cache covers CPython's range. */
#define KIT_SMALL_MIN (-5)
#define KIT_SMALL_MAX 256
#define KIT_NSMALL (KIT_SMALL_MAX - KIT_SMALL_MIN + 1)

/*
** The kit context, raw memory of its heap. none/true/false and the small
** ints are immortal and owned by nobody: they outlive the kit until the heap
** is freed. 'untrack_dicts' selects the dict tracking rule (rcgc_kit.h).
*/
/* Indexes of struct rcgc_kit.types. */
enum { KIT_T_NONE, KIT_T_BOOL, KIT_T_INT, KIT_T_FLOAT, KIT_T_STR, KIT_T_BYTES, KIT_T_LIST,
       KIT_T_DICT, KIT_NTYPES };

struct rcgc_kit {
    rcgc_heap *heap;
    const rcgc_type *types[KIT_NTYPES];
    void *none;
    void *true_;
    void *false_;
    void *small[KIT_NSMALL]; /* all NULL when small ints are off */
    size_t nimmortal;
    uint64_t hash_key[2];
    bool untrack_dicts;
    bool callback_added;     /* the full-collection untracking callback */
    /* The caller's source line while a public *_at entry point runs (file
    ** NULL otherwise): objects made meanwhile are traced to it. */
    const char *site_file;
    int site_line;
    const char *site_func;
};

/* Every kit object is made here, traced to the public caller's site. */
static inline void *rcgc__kit_new(rcgc_kit *kit, const rcgc_type *type, size_t nitems)
{
    if (kit->site_file)
        return rcgc_new_at(kit->heap, type, nitems, kit->site_file, kit->site_line,
                           kit->site_func);
    return rcgc_new_var(kit->heap, type, nitems);
}

/* Run 'call' (assigned to 'result') with the caller's site set. */
#define KIT_AT(kit, result, call)                                             \
    do {                                                                      \
        const char *sf_ = (kit)->site_file, *sfn_ = (kit)->site_func;         \
        int sl_ = (kit)->site_line;                                           \
        if (!sf_) {                                                           \
            (kit)->site_file = file;                                          \
            (kit)->site_line = line;                                          \
            (kit)->site_func = func;                                          \
        }                                                                     \
        result = call;                                                        \
        (kit)->site_file = sf_;                                               \
        (kit)->site_line = sl_;                                               \
        (kit)->site_func = sfn_;                                              \
    } while (0)

typedef struct kit_bool { bool value; } kit_bool;
typedef struct kit_int { int64_t value; } kit_int;
typedef struct kit_float { double value; } kit_float;

/* str and bytes share this layout: 'data' holds len bytes and a NUL. */
typedef struct kit_str {
    size_t len;
    size_t nchars;   /* code points (str), == len (bytes) */
    int64_t hash;    /* computed at creation */
    char data[];
} kit_str;

/* A list owns 'items[0..len)', raw memory of its heap with room for 'cap';
** items is NULL when cap is 0. Every item is a strong reference. */
typedef struct kit_list {
    size_t len;
    size_t cap;
    void **items;
} kit_list;

/*
** A dict is CPython's compact dict. 'table' is one raw block: 'nslots'
** uint32 slots (an index into the entries, or SLOT_EMPTY / SLOT_DUMMY), then
** 'usable' entries in insertion order. Entries [0, nentries) are filled or
** deleted (key == NULL); 'used' of them are live. nslots is a power of two
** >= 8 and usable == nslots * 2 / 3, so a probe always ends at an empty slot.
** table is NULL (and every count 0) for a dict that never held an item.
*/
typedef struct kit_entry {
    int64_t hash;
    void *key;
    void *value;
} kit_entry;

typedef struct kit_dict {
    size_t used;
    size_t nentries;
    size_t usable;
    size_t nslots;
    uint32_t *table;
} kit_dict;

/* The kit's types are built at run time and registered with the heap
** (rcgc_type_register: they live as long as the heap, like the kit's
** immortal objects), because a static struct of pointers is relocated data.
** An object's kind is told by its type's name pointer: one of these
** read-only arrays. */
extern const char rcgc__kit_none_name[];
extern const char rcgc__kit_bool_name[];
extern const char rcgc__kit_int_name[];
extern const char rcgc__kit_float_name[];
extern const char rcgc__kit_str_name[];
extern const char rcgc__kit_bytes_name[];
extern const char rcgc__kit_list_name[];
extern const char rcgc__kit_dict_name[];
/* Fill kit->types; false when out of memory. */
bool rcgc__kit_types_init(rcgc_kit *kit);
const rcgc_type *rcgc__kit_str_types(rcgc_heap *heap, const rcgc_type **bytes);
/* A kit type registered with the heap (a heap-owned copy). */
const rcgc_type *rcgc__kit_type(rcgc_heap *heap, const char *name, size_t size,
                                size_t itemsize, int (*traverse)(void *, rcgc_visit_fn, void *),
                                void (*clear)(void *));
const rcgc_type *rcgc__kit_list_type_make(rcgc_heap *heap);
const rcgc_type *rcgc__kit_dict_type_make(rcgc_heap *heap);

/* kit_str.c: SipHash-1-3 of bytes under the kit's key, as a Python hash
** (never -1). */
int64_t rcgc__kit_hash_bytes(const uint64_t key[2], const void *data, size_t len);
/* kit_str.c: the length (1-4) of the valid UTF-8 sequence at s, with its
** code point in *cp, or 0 if the bytes there are not one. avail > 0. */
size_t rcgc__kit_utf8_seq(const unsigned char *s, size_t avail, uint32_t *cp);
/* kit_str.c: rcgc_str_new for a caller that has hashed the bytes already
** (hash == rcgc__kit_hash_bytes(kit->hash_key, utf8, len)). */
void *rcgc__kit_str_new_hashed(rcgc_kit *kit, const char *utf8, size_t len, int64_t hash);
/* kit_str.c: repr of a str or bytes. */
void rcgc__kit_str_repr(const void *obj, rcgc_kit_buf *buf);
/* kit_text.c: append the decimal digits of v. */
void rcgc__kit_buf_put_int(rcgc_kit_buf *buf, int64_t v);
/* kit.c: CPython's hash of a double (equal to the int hash when integral). */
int64_t rcgc__kit_hash_double(double v);
/* kit_text.c: Python's float repr ("1.0", "1e+16", "inf", "nan"). */
void rcgc__kit_float_repr(double v, rcgc_kit_buf *buf);
/* kit_text.c: the digits of finite v's repr before trailing zeros are
** dropped: the fewest significant digits (1-17) that read back as v,
** correctly rounded, into digits[0..n) (no sign, no NUL); the decimal exponent
** of the first into *exp; returns n. Exact integer arithmetic where it can
** (2^-24 <= |v| < 2^53), otherwise rcgc__kit_float_digits_libc's search,
** whose result it matches. */
int rcgc__kit_float_digits(double v, char *digits, int *exp);
/* kit_text.c: the same by binary search over snprintf("%.*e") and strtod. */
int rcgc__kit_float_digits_libc(double v, char *digits, int *exp);
/* kit.c: depth-limited equality (rcgc_kit_equal). */
int rcgc__kit_equal(const void *a, const void *b, int depth);
/* kit_dict.c: equality of two dicts (depth for their values). */
int rcgc__kit_dict_equal(const kit_dict *a, const kit_dict *b, int depth);
/* kit_dict.c: the bytes of the dict's raw table. */
size_t rcgc__kit_dict_table_bytes(const void *dict);
/* kit_dict.c: true when no key or value may become tracked. */
bool rcgc__kit_dict_is_atomic(const void *dict);
/* kit_dict.c: lookup with a hash already computed; returns the entry. */
kit_entry *rcgc__kit_dict_find(const kit_dict *d, const void *key, int64_t hash);

/* True if storing obj in an untracked container must track the container:
** obj's type has traverse (it is or may become tracked) and it is mortal. */
static inline bool rcgc__kit_may_be_tracked(const void *obj)
{
    return rcgc_type_of(obj)->traverse != NULL && !rcgc_is_immortal(obj);
}

/* 'name' is one of rcgc__kit_*_name. */
static inline bool rcgc__kit_is(const void *obj, const char *name)
{
    return obj && rcgc_type_of(obj)->name == name;
}

#endif
