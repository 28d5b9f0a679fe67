/*
** rcgc_kit.h -- the object kit: ready-made rcgc object types for interpreters
** and servers (none, bool, int, float, str, bytes, list, dict) with Python's
** semantics, their hashing, equality and repr, and a strict JSON codec.
** The kit is built only on the public API of rcgc.h. See docs/kit.md.
**
** Conventions. Every object is a 'void *' (like a PyObject *). Functions that
** return an object return a NEW reference unless the comment says
** "borrowed". Functions that store an object take their own reference (the
** caller keeps its own) unless their name ends in '_take', which steals the
** caller's reference (and drops it on failure, so nothing leaks; a NULL
** argument then means "the constructor failed" and yields RCGC_ENOMEM).
** Constructors take the kit first; operations take the object first.
*/
#ifndef RCGC_KIT_H
#define RCGC_KIT_H

#include <stdarg.h>

#include "rcgc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ===================================================================== */
/* The kit context                                                       */
/* ===================================================================== */

/* A kit owns one heap's singletons (none, true, false), its small-int cache
** and the string hash key. Use one kit per heap (two kits on one heap work
** but have distinct singletons). */
typedef struct rcgc_kit rcgc_kit;

typedef struct rcgc_kit_config {
    size_t struct_size;   /* sizeof(rcgc_kit_config); set by config_init */
    bool small_ints;      /* cache the ints -5..256 as immortal objects, as
                             CPython does; default true */
    bool untrack_dicts;   /* CPython <= 3.13's dict rule: a dict is created
                             untracked and tracked when a key or value that
                             may be tracked is stored; full collections
                             untrack dicts holding only atomic values again.
                             false: every dict is tracked at creation, like
                             a list (CPython 3.14). Default true */
    uint64_t hash_key[2]; /* SipHash-1-3 key for str and bytes hashes;
                             default: a fixed constant (set your own random
                             key against hash flooding) */
} rcgc_kit_config;

void rcgc_kit_config_init(rcgc_kit_config *cfg);

/* A kit for 'heap' (cfg NULL = defaults); NULL when out of memory. The
** singletons and small ints are immortal: they live until the heap is freed
** (rcgc_kit_free does not free them, and a heap's leak report counts them as
** untracked live objects). */
rcgc_kit *rcgc_kit_new(rcgc_heap *heap, const rcgc_kit_config *cfg);
/* Free the kit context. Objects made by the kit stay valid. */
void rcgc_kit_free(rcgc_kit *kit);
rcgc_heap *rcgc_kit_heap(const rcgc_kit *kit);
/* Objects the kit made immortal (singletons + small ints). */
size_t rcgc_kit_immortal_count(const rcgc_kit *kit);

/* ===================================================================== */
/* Kinds, and what every kit object supports                             */
/* ===================================================================== */

typedef enum rcgc_kind {
    RCGC_KIND_OTHER = 0, /* not a kit object */
    RCGC_KIND_NONE,
    RCGC_KIND_BOOL,
    RCGC_KIND_INT,
    RCGC_KIND_FLOAT,
    RCGC_KIND_STR,
    RCGC_KIND_BYTES,
    RCGC_KIND_LIST,
    RCGC_KIND_DICT
} rcgc_kind;

rcgc_kind rcgc_kit_kind(const void *obj);
/* "NoneType", "bool", "int", "float", "str", "bytes", "list", "dict", or the
** type's own name for other objects. */
const char *rcgc_kit_type_name(const void *obj);
/* Atomic kinds (none, bool, int, float, str, bytes) have no traverse and are
** never tracked. */
bool rcgc_kit_is_atomic(const void *obj);
/* Python's truth value: None, False, 0, 0.0, empty str/bytes/list/dict are
** false; other objects are true. */
bool rcgc_kit_is_true(const void *obj);

/* Python's hash(): int, float and bool hash alike when equal (hash(1) ==
** hash(1.0) == hash(True) == 1, the values CPython computes); str and bytes
** hash their bytes with the kit's SipHash key (cached at creation). Objects
** that are not kit objects hash by identity. RCGC_EINVAL for list and dict
** (unhashable). */
rcgc_status rcgc_kit_hash(const void *obj, int64_t *out);

/* Python's ==: 1 == 1.0 == True (exact comparison, no rounding: 2**53 + 1 !=
** 2.0**53), str never equals bytes, lists and dicts compare by content;
** other objects by identity. Returns 1 (equal), 0, or -RCGC_EINVAL when
** containers nest deeper than RCGC_KIT_MAX_DEPTH (e.g. a list containing
** itself compared with an equal copy). */
int rcgc_kit_equal(const void *a, const void *b);

/* Nesting depth that equality and repr follow. */
#define RCGC_KIT_MAX_DEPTH 512

/* Size accounting like sys.getsizeof: the 16-byte header, the instance
** (rcgc_object_size) and the raw buffers a list or dict owns. */
size_t rcgc_kit_sizeof(const void *obj);

/* ===================================================================== */
/* Text buffers (for repr and JSON)                                       */
/* ===================================================================== */

/* A byte buffer, either growable (memory from the heap's raw allocator) or
** fixed (caller memory, never grown). Errors are sticky: after a failure
** every append does nothing but count, 'status' keeps the first error, and
** in a fixed buffer 'len' keeps counting the bytes that did not fit (so the
** caller learns the size it needs, as with snprintf). 'data' is always
** NUL-terminated when cap > 0 (a fixed buffer holds a truncated prefix). */
typedef struct rcgc_kit_buf {
    rcgc_heap *heap;    /* NULL for a fixed buffer */
    char *data;
    size_t len;         /* bytes written (or needed, after an overflow) */
    size_t cap;         /* bytes available in data, including the NUL */
    rcgc_status status; /* RCGC_OK or the first error */
} rcgc_kit_buf;

void rcgc_kit_buf_init(rcgc_kit_buf *buf, rcgc_heap *heap);
void rcgc_kit_buf_init_fixed(rcgc_kit_buf *buf, char *mem, size_t cap);
/* Release a growable buffer's memory (fixed: nothing); buf is reset empty. */
void rcgc_kit_buf_fini(rcgc_kit_buf *buf);
/* Empty the buffer, keep its memory, clear the error. */
void rcgc_kit_buf_reset(rcgc_kit_buf *buf);
rcgc_status rcgc_kit_buf_append(rcgc_kit_buf *buf, const void *data, size_t len);
rcgc_status rcgc_kit_buf_puts(rcgc_kit_buf *buf, const char *s);
rcgc_status rcgc_kit_buf_printf(rcgc_kit_buf *buf, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Python's repr() / str() appended to buf: None, True, 42, 1.5, 1e+16,
** 'it\'s', b'\x00', [1, 'a'], {'k': None}; a container met again inside
** itself prints as [...] / {...}. Objects that are not kit objects print as
** <typename object at 0x...>. Returns buf->status. */
rcgc_status rcgc_kit_repr(const void *obj, rcgc_kit_buf *buf);
rcgc_status rcgc_kit_str(const void *obj, rcgc_kit_buf *buf);

/* ===================================================================== */
/* none and bool                                                         */
/* ===================================================================== */

/* The singletons. They are immortal, so the returned reference may be
** dropped or not: both are correct. */
void *rcgc_kit_none(rcgc_kit *kit);
void *rcgc_kit_true(rcgc_kit *kit);
void *rcgc_kit_false(rcgc_kit *kit);
void *rcgc_kit_bool(rcgc_kit *kit, bool value);
bool rcgc_kit_is_none(const void *obj);
/* The value of a bool; false for any other object. */
bool rcgc_bool_value(const void *obj);

/* ===================================================================== */
/* int (64-bit)                                                          */
/* ===================================================================== */

/* ints are signed 64-bit; there is no arbitrary precision. Arithmetic and
** parsing that would leave the range return RCGC_EINVAL ("overflow") and
** make no object. bool counts as an int (Python's bool subclasses int).
** -5..256 are cached immortal objects when the kit's small_ints is on. */
void *rcgc_int_new(rcgc_kit *kit, int64_t value);
/* RCGC_OK and *out for int and bool, RCGC_EINVAL otherwise. */
rcgc_status rcgc_int_get(const void *obj, int64_t *out);
/* The value; 0 for objects that are neither int nor bool. */
int64_t rcgc_int_value(const void *obj);
/* Decimal text with optional sign ("-12"): RCGC_EINVAL when malformed or
** out of range. */
rcgc_status rcgc_int_parse(rcgc_kit *kit, const char *text, size_t len, void **out);
/* a + b, a - b, a * b, Python's a // b and a % b (floor division; the
** remainder has the sign of b). RCGC_EINVAL on overflow, a zero divisor or
** a non-int operand; RCGC_ENOMEM when out of memory. */
rcgc_status rcgc_int_add(rcgc_kit *kit, const void *a, const void *b, void **out);
rcgc_status rcgc_int_sub(rcgc_kit *kit, const void *a, const void *b, void **out);
rcgc_status rcgc_int_mul(rcgc_kit *kit, const void *a, const void *b, void **out);
rcgc_status rcgc_int_floordiv(rcgc_kit *kit, const void *a, const void *b, void **out);
rcgc_status rcgc_int_mod(rcgc_kit *kit, const void *a, const void *b, void **out);

/* ===================================================================== */
/* float                                                                 */
/* ===================================================================== */

void *rcgc_float_new(rcgc_kit *kit, double value);
/* RCGC_OK and *out for float, int and bool (converted), RCGC_EINVAL
** otherwise. */
rcgc_status rcgc_float_get(const void *obj, double *out);
/* The value; 0.0 for objects that are not numbers. */
double rcgc_float_value(const void *obj);

/* ===================================================================== */
/* str (immutable UTF-8) and bytes                                        */
/* ===================================================================== */

/* A str copies 'len' bytes of strictly valid UTF-8 (no overlong forms, no
** surrogates, nothing above U+10FFFF; NUL bytes are allowed). NULL when out
** of memory or when the text is not valid UTF-8 (rcgc_str_utf8_check tells
** which). Length, character count and hash are computed once. */
void *rcgc_str_new(rcgc_kit *kit, const char *utf8, size_t len);
void *rcgc_str_new_cstr(rcgc_kit *kit, const char *utf8);
void *rcgc_str_printf(rcgc_kit *kit, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void *rcgc_str_vprintf(rcgc_kit *kit, const char *fmt, va_list ap);
/* a + b as a new str; NULL when out of memory or an operand is not a str. */
void *rcgc_str_concat(rcgc_kit *kit, const void *a, const void *b);
/* True if [s, s+len) is valid UTF-8; otherwise *bad_offset (if not NULL) is
** the offset of the first byte of the first invalid sequence. */
bool rcgc_str_utf8_check(const char *s, size_t len, size_t *bad_offset);
/* The bytes (NUL-terminated; borrowed, valid while the str lives), their
** count, and the number of code points (Python's len()). NULL/0 for
** objects that are not str. */
const char *rcgc_str_data(const void *obj);
size_t rcgc_str_len(const void *obj);
size_t rcgc_str_chars(const void *obj);
/* True if obj is a str whose bytes are exactly the C string s. */
bool rcgc_str_equals_cstr(const void *obj, const char *s);

/* bytes: any octets, immutable. */
void *rcgc_bytes_new(rcgc_kit *kit, const void *data, size_t len);
const unsigned char *rcgc_bytes_data(const void *obj); /* borrowed */
size_t rcgc_bytes_len(const void *obj);

/* ===================================================================== */
/* list                                                                  */
/* ===================================================================== */

/* A growable array of strong references, always tracked (as CPython's
** lists are, even empty). NULL when out of memory. */
void *rcgc_list_new(rcgc_kit *kit, size_t capacity_hint);
size_t rcgc_list_len(const void *list);
/* The item at 'index' (borrowed), NULL when out of range or not a list. */
void *rcgc_list_get(const void *list, size_t index);
/* RCGC_EINVAL when 'list' is not a list or 'index' is out of range
** (insert: index > len); RCGC_ENOMEM when the array cannot grow. */
rcgc_status rcgc_list_append(void *list, void *item);
rcgc_status rcgc_list_append_take(void *list, void *item);
rcgc_status rcgc_list_insert(void *list, size_t index, void *item);
rcgc_status rcgc_list_set(void *list, size_t index, void *item);
rcgc_status rcgc_list_set_take(void *list, size_t index, void *item);
/* Remove the item at 'index'; *out gets the caller's reference to it (if
** out is NULL the reference is dropped). */
rcgc_status rcgc_list_pop(void *list, size_t index, void **out);
/* Remove every item. */
void rcgc_list_clear(void *list);

/* ===================================================================== */
/* dict                                                                  */
/* ===================================================================== */

/* An insertion-ordered hash table (CPython's compact dict). Keys are any
** hashable object (rcgc_kit_hash) and compare with rcgc_kit_equal, so 1,
** 1.0 and True are the same key; storing to an existing key keeps the
** first key object and its position and replaces the value. See the
** kit config's untrack_dicts for when a dict is tracked. */
void *rcgc_dict_new(rcgc_kit *kit);
size_t rcgc_dict_len(const void *dict);
/* RCGC_EINVAL for an unhashable key or when 'dict' is not a dict. */
rcgc_status rcgc_dict_set(void *dict, void *key, void *value);
rcgc_status rcgc_dict_set_take(void *dict, void *key, void *value);
/* A str key made from a C string. */
rcgc_status rcgc_dict_set_cstr(rcgc_kit *kit, void *dict, const char *key, void *value);
rcgc_status rcgc_dict_set_cstr_take(rcgc_kit *kit, void *dict, const char *key,
                                    void *value);
/* *out = the value (borrowed): RCGC_OK, RCGC_ENOTFOUND, or RCGC_EINVAL for
** an unhashable key. */
rcgc_status rcgc_dict_lookup(const void *dict, const void *key, void **out);
/* The value (borrowed) or NULL. */
void *rcgc_dict_get(const void *dict, const void *key);
void *rcgc_dict_get_cstr(rcgc_kit *kit, const void *dict, const char *key);
/* Remove a key: RCGC_OK, RCGC_ENOTFOUND or RCGC_EINVAL. pop hands the
** value's reference to *out (dropped if out is NULL). */
rcgc_status rcgc_dict_del(void *dict, const void *key);
rcgc_status rcgc_dict_pop(void *dict, const void *key, void **out);
void rcgc_dict_clear(void *dict);
/* Iterate in insertion order: size_t pos = 0; while (rcgc_dict_next(d,
** &pos, &k, &v)) ...  k and v are borrowed. Deleting during iteration is
** allowed; inserting may skip or repeat entries (never crashes). */
bool rcgc_dict_next(const void *dict, size_t *pos, void **key, void **value);

/* ===================================================================== */
/* JSON (RFC 8259)                                                       */
/* ===================================================================== */

typedef struct rcgc_json_options {
    unsigned indent;      /* 0: compact ({"a":[1,2]}); N: one item per line,
                             N spaces per level, ": " after keys; default 0 */
    bool ascii;           /* escape all non-ASCII as \uXXXX (Python's
                             ensure_ascii); default false (UTF-8 out) */
    size_t max_depth;     /* nesting limit of arrays + objects, both ways;
                             default 512. The decoder keeps its stack on
                             the heap and takes any limit; the encoder
                             recurses and never goes deeper than
                             RCGC_JSON_ENCODE_MAX_DEPTH */
} rcgc_json_options;

/* The encoder's own depth cap (about 100 bytes of C stack per level). */
#define RCGC_JSON_ENCODE_MAX_DEPTH 1000

void rcgc_json_options_init(rcgc_json_options *opt);

/* Where and why a JSON call failed. 'message' reads, e.g.,
** "line 3, column 7: expected ',' or '}' after an object member, found ']'".
** line and column are 1-based; column counts characters (code points). */
typedef struct rcgc_json_error {
    size_t line;
    size_t column;
    size_t offset;        /* bytes from the start of the text */
    char message[200];
} rcgc_json_error;

/* Encode obj (none, bool, int, float, str, list, dict; dict keys may be str
** or, as Python does, int/float/bool/none which are written as strings)
** and append the text to 'out'. RCGC_EINVAL for a non-finite float, bytes,
** an unsupported object or key, or nesting deeper than max_depth (which
** also catches self-containing containers); RCGC_ENOMEM when the buffer
** cannot grow or a fixed buffer is too small (out->len then holds the size
** needed). opt and err may be NULL. */
rcgc_status rcgc_json_encode(const void *obj, rcgc_kit_buf *out,
                             const rcgc_json_options *opt, rcgc_json_error *err);

/* Decode exactly one JSON value from [text, text+len) (whitespace around it
** allowed) into kit objects: object -> dict (str keys; a repeated key keeps
** the last value), array -> list, integer -> int, number with fraction or
** exponent -> float, string -> str, true/false/null -> singletons. Strict:
** UTF-8 input only, no BOM, no comments, no trailing commas, no NaN, no
** lone surrogates; an integer outside 64 bits or a number that overflows a
** double is an error. RCGC_EFORMAT with line/column for bad text,
** RCGC_ENOMEM when out of memory; *out is NULL on any error. */
rcgc_status rcgc_json_decode(rcgc_kit *kit, const char *text, size_t len,
                             const rcgc_json_options *opt, void **out,
                             rcgc_json_error *err);

/* ===================================================================== */
/* Allocation sites                                                      */
/* ===================================================================== */

/* With allocation tracing on (rcgc_trace_start), the objects a constructor
** or rcgc_json_decode makes are attributed to the caller's line, as
** rcgc_new is: the macros below pass the site (define RCGC_NO_SITE_MACROS to
** call the plain functions, whose objects are then traced to the kit).
** Growth of a list's or dict's array is traced to the kit's own lines. */
void *rcgc_int_new_at(rcgc_kit *kit, int64_t value, const char *file, int line,
                      const char *func);
void *rcgc_float_new_at(rcgc_kit *kit, double value, const char *file, int line,
                        const char *func);
void *rcgc_str_new_at(rcgc_kit *kit, const char *utf8, size_t len, const char *file, int line,
                      const char *func);
void *rcgc_str_new_cstr_at(rcgc_kit *kit, const char *utf8, const char *file, int line,
                           const char *func);
void *rcgc_str_printf_at(rcgc_kit *kit, const char *file, int line, const char *func,
                         const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
void *rcgc_str_concat_at(rcgc_kit *kit, const void *a, const void *b, const char *file,
                         int line, const char *func);
void *rcgc_bytes_new_at(rcgc_kit *kit, const void *data, size_t len, const char *file,
                        int line, const char *func);
void *rcgc_list_new_at(rcgc_kit *kit, size_t capacity_hint, const char *file, int line,
                       const char *func);
void *rcgc_dict_new_at(rcgc_kit *kit, const char *file, int line, const char *func);
rcgc_status rcgc_json_decode_at(rcgc_kit *kit, const char *text, size_t len,
                                const rcgc_json_options *opt, void **out,
                                rcgc_json_error *err, const char *file, int line,
                                const char *func);

#if !defined(RCGC_NO_SITE_MACROS) && !defined(RCGC_KIT_NO_SITE_MACROS)
#define rcgc_int_new(kit, v) rcgc_int_new_at((kit), (v), RCGC_HERE)
#define rcgc_float_new(kit, v) rcgc_float_new_at((kit), (v), RCGC_HERE)
#define rcgc_str_new(kit, s, n) rcgc_str_new_at((kit), (s), (n), RCGC_HERE)
#define rcgc_str_new_cstr(kit, s) rcgc_str_new_cstr_at((kit), (s), RCGC_HERE)
#define rcgc_str_printf(kit, ...) rcgc_str_printf_at((kit), RCGC_HERE, __VA_ARGS__)
#define rcgc_str_concat(kit, a, b) rcgc_str_concat_at((kit), (a), (b), RCGC_HERE)
#define rcgc_bytes_new(kit, p, n) rcgc_bytes_new_at((kit), (p), (n), RCGC_HERE)
#define rcgc_list_new(kit, n) rcgc_list_new_at((kit), (n), RCGC_HERE)
#define rcgc_dict_new(kit) rcgc_dict_new_at((kit), RCGC_HERE)
#define rcgc_json_decode(kit, t, n, o, out, e)                                \
    rcgc_json_decode_at((kit), (t), (n), (o), (out), (e), RCGC_HERE)
#endif

#ifdef __cplusplus
}
#endif

#endif /* RCGC_KIT_H */
