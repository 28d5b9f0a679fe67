/*
** kit_str.c -- the kit's immutable byte-string types: str (strict UTF-8)
** and bytes (any octets). Owns UTF-8 validation, the SipHash-1-3 string hash
** (CPython's default) and the two reprs. Uses only the public API and kit.h;
** knows nothing of containers or JSON.
*/
#include <stdio.h>
#include <string.h>

#include "kit.h"

/* Atomic types: the bytes live inline after the fields (itemsize 1). */
const char rcgc__kit_str_name[] = "str";
const char rcgc__kit_bytes_name[] = "bytes";

const rcgc_type *rcgc__kit_str_types(rcgc_heap *heap, const rcgc_type **bytes)
{
    *bytes = rcgc__kit_type(heap, rcgc__kit_bytes_name, sizeof(kit_str), 1, NULL, NULL);
    return rcgc__kit_type(heap, rcgc__kit_str_name, sizeof(kit_str), 1, NULL, NULL);
}

/* ===================================================================== */
/* UTF-8                                                                 */
/* ===================================================================== */

/* The length (1-4) of the valid UTF-8 sequence at s, with its code point in
** *cp, or 0 if the bytes there are not one (RFC 3629: no overlong forms, no
** surrogates, nothing above U+10FFFF). avail > 0. */
size_t rcgc__kit_utf8_seq(const unsigned char *s, size_t avail, uint32_t *cp)
{
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t n;
    unsigned lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c < 0xC2)
        return 0;
    else if (c < 0xE0)
        n = 2;
    else if (c < 0xF0) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F; /* U+D800..U+DFFF are surrogates */
    } else if (c < 0xF5) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    uint32_t v = c & (0x7Fu >> n);
    for (size_t i = 1; i < n; i++) {
        if (i > 1 && (s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3Fu);
    }
    *cp = v;
    return n;
}

/* Validate; count the code points. */
static bool utf8_scan(const char *s, size_t len, size_t *bad, size_t *nchars)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, n = 0;
    uint32_t cp;
    while (i < len) {
        if (u[i] < 0x80) {
            i++;
        } else {
            size_t k = rcgc__kit_utf8_seq(u + i, len - i, &cp);
            if (!k) {
                if (bad)
                    *bad = i;
                return false;
            }
            i += k;
        }
        n++;
    }
    if (nchars)
        *nchars = n;
    return true;
}

bool rcgc_str_utf8_check(const char *s, size_t len, size_t *bad_offset)
{
    return utf8_scan(s, len, bad_offset, NULL);
}

/* ===================================================================== */
/* SipHash-1-3 (as CPython's Python/pyhash.c), little-endian word order  */
/* ===================================================================== */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define HALF_ROUND(a, b, c, d, s, t)                                          \
    a += b;                                                                   \
    c += d;                                                                   \
    b = ROTL(b, s) ^ a;                                                       \
    d = ROTL(d, t) ^ c;                                                       \
    a = ROTL(a, 32);
#define SIP_ROUND(v0, v1, v2, v3)                                             \
    HALF_ROUND(v0, v1, v2, v3, 13, 16);                                       \
    HALF_ROUND(v2, v1, v0, v3, 17, 21);

static uint64_t load_le64(const unsigned char *p, size_t n)
{
    uint64_t w = 0;
    for (size_t i = 0; i < n; i++)
        w |= (uint64_t)p[i] << (8 * i);
    return w;
}

int64_t rcgc__kit_hash_bytes(const uint64_t key[2], const void *data, size_t len)
{
    if (len == 0)
        return 0; /* hash('') == 0, as in CPython */
    const unsigned char *p = data;
    uint64_t b = (uint64_t)len << 56;
    uint64_t v0 = key[0] ^ 0x736f6d6570736575u, v1 = key[1] ^ 0x646f72616e646f6du;
    uint64_t v2 = key[0] ^ 0x6c7967656e657261u, v3 = key[1] ^ 0x7465646279746573u;
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t m = load_le64(p, 8);
        v3 ^= m;
        SIP_ROUND(v0, v1, v2, v3);
        v0 ^= m;
    }
    b |= load_le64(p, len);
    v3 ^= b;
    SIP_ROUND(v0, v1, v2, v3);
    v0 ^= b;
    v2 ^= 0xff;
    SIP_ROUND(v0, v1, v2, v3);
    SIP_ROUND(v0, v1, v2, v3);
    SIP_ROUND(v0, v1, v2, v3);
    uint64_t h = (v0 ^ v1) ^ (v2 ^ v3);
    return h == (uint64_t)-1 ? -2 : (int64_t)h;
}

/* ===================================================================== */
/* Construction                                                          */
/* ===================================================================== */

/* An object of 'type' with room for len bytes + NUL; contents unset. */
static kit_str *alloc_str(rcgc_kit *kit, const rcgc_type *type, size_t len)
{
    if (len >= SIZE_MAX / 2)
        return NULL;
    kit_str *s = rcgc__kit_new(kit, type, len + 1);
    if (s)
        s->len = len;
    return s;
}

/* Fill in nchars and the hash (of the bytes, already known) once the
** bytes are in; NULL (object dropped) when a str's bytes are not valid
** UTF-8. */
static void *seal_hashed(kit_str *s, bool is_str, int64_t hash)
{
    s->data[s->len] = '\0';
    s->nchars = s->len;
    if (is_str && !utf8_scan(s->data, s->len, NULL, &s->nchars)) {
        rcgc_unref(s);
        return NULL;
    }
    s->hash = hash;
    return s;
}

static void *seal(rcgc_kit *kit, kit_str *s, bool is_str)
{
    return seal_hashed(s, is_str, rcgc__kit_hash_bytes(kit->hash_key, s->data, s->len));
}

/* A str of the bytes; its hash *hash when given, else computed. */
static void *str_new(rcgc_kit *kit, const char *utf8, size_t len, const int64_t *hash)
{
    kit_str *s = alloc_str(kit, kit->types[KIT_T_STR], len);
    if (!s)
        return NULL;
    if (len)
        memcpy(s->data, utf8, len);
    return hash ? seal_hashed(s, true, *hash) : seal(kit, s, true);
}

void *rcgc_str_new(rcgc_kit *kit, const char *utf8, size_t len)
{
    return str_new(kit, utf8, len, NULL);
}

void *rcgc__kit_str_new_hashed(rcgc_kit *kit, const char *utf8, size_t len, int64_t hash)
{
    return str_new(kit, utf8, len, &hash);
}

void *rcgc_str_new_cstr(rcgc_kit *kit, const char *utf8)
{
    return rcgc_str_new(kit, utf8, strlen(utf8));
}

void *rcgc_str_vprintf(rcgc_kit *kit, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return NULL;
    kit_str *s = alloc_str(kit, kit->types[KIT_T_STR], (size_t)n);
    if (!s)
        return NULL;
    vsnprintf(s->data, (size_t)n + 1, fmt, ap);
    return seal(kit, s, true);
}

void *rcgc_str_printf(rcgc_kit *kit, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    void *s = rcgc_str_vprintf(kit, fmt, ap);
    va_end(ap);
    return s;
}

void *rcgc_str_concat(rcgc_kit *kit, const void *a, const void *b)
{
    if (!rcgc__kit_is(a, rcgc__kit_str_name) || !rcgc__kit_is(b, rcgc__kit_str_name))
        return NULL;
    const kit_str *x = a, *y = b;
    if (x->len > SIZE_MAX / 4 || y->len > SIZE_MAX / 4)
        return NULL;
    kit_str *s = alloc_str(kit, kit->types[KIT_T_STR], x->len + y->len);
    if (!s)
        return NULL;
    memcpy(s->data, x->data, x->len);
    memcpy(s->data + x->len, y->data, y->len);
    s->data[s->len] = '\0';
    s->nchars = x->nchars + y->nchars; /* valid UTF-8 + valid UTF-8 */
    s->hash = rcgc__kit_hash_bytes(kit->hash_key, s->data, s->len);
    return s;
}

void *rcgc_bytes_new(rcgc_kit *kit, const void *data, size_t len)
{
    kit_str *s = alloc_str(kit, kit->types[KIT_T_BYTES], len);
    if (!s)
        return NULL;
    if (len)
        memcpy(s->data, data, len);
    return seal(kit, s, false);
}

/* ===================================================================== */
/* Accessors                                                             */
/* ===================================================================== */

const char *rcgc_str_data(const void *obj)
{
    return rcgc__kit_is(obj, rcgc__kit_str_name) ? ((const kit_str *)obj)->data : NULL;
}

size_t rcgc_str_len(const void *obj)
{
    return rcgc__kit_is(obj, rcgc__kit_str_name) ? ((const kit_str *)obj)->len : 0;
}

size_t rcgc_str_chars(const void *obj)
{
    return rcgc__kit_is(obj, rcgc__kit_str_name) ? ((const kit_str *)obj)->nchars : 0;
}

bool rcgc_str_equals_cstr(const void *obj, const char *s)
{
    if (!rcgc__kit_is(obj, rcgc__kit_str_name))
        return false;
    const kit_str *x = obj;
    size_t n = strlen(s);
    return x->len == n && memcmp(x->data, s, n) == 0;
}

const unsigned char *rcgc_bytes_data(const void *obj)
{
    return rcgc__kit_is(obj, rcgc__kit_bytes_name)
               ? (const unsigned char *)((const kit_str *)obj)->data
               : NULL;
}

size_t rcgc_bytes_len(const void *obj)
{
    return rcgc__kit_is(obj, rcgc__kit_bytes_name) ? ((const kit_str *)obj)->len : 0;
}

/* ===================================================================== */
/* repr                                                                  */
/* ===================================================================== */

/* Python's repr: single quotes unless the text has ' and no ", backslash
** escapes for the quote, backslash, \t \n \r and other control characters
** (C0, DEL, and for str the C1 range U+0080..U+009F). */
void rcgc__kit_str_repr(const void *obj, rcgc_kit_buf *buf)
{
    const kit_str *s = obj;
    bool is_bytes = rcgc_type_of(obj)->name == rcgc__kit_bytes_name;
    const unsigned char *p = (const unsigned char *)s->data;
    char quote = '\'';
    if (memchr(p, '\'', s->len) && !memchr(p, '"', s->len))
        quote = '"';
    if (is_bytes)
        rcgc_kit_buf_append(buf, "b", 1);
    rcgc_kit_buf_append(buf, &quote, 1);
    size_t run = 0; /* start of the pending run of bytes copied as is */
    for (size_t i = 0; i < s->len; i++) {
        unsigned c = p[i];
        char esc[8];
        int n = 0;
        if (c == (unsigned char)quote || c == '\\')
            n = snprintf(esc, sizeof esc, "\\%c", c);
        else if (c == '\t')
            n = snprintf(esc, sizeof esc, "\\t");
        else if (c == '\n')
            n = snprintf(esc, sizeof esc, "\\n");
        else if (c == '\r')
            n = snprintf(esc, sizeof esc, "\\r");
        else if (c < 0x20 || c == 0x7f || (is_bytes && c >= 0x80))
            n = snprintf(esc, sizeof esc, "\\x%02x", c);
        else if (!is_bytes && c == 0xC2 && i + 1 < s->len && p[i + 1] < 0xA0) {
            n = snprintf(esc, sizeof esc, "\\x%02x", p[i + 1]);
            rcgc_kit_buf_append(buf, p + run, i - run);
            rcgc_kit_buf_append(buf, esc, (size_t)n);
            run = i + 2;
            i++;
            continue;
        }
        if (n) {
            rcgc_kit_buf_append(buf, p + run, i - run);
            rcgc_kit_buf_append(buf, esc, (size_t)n);
            run = i + 1;
        }
    }
    rcgc_kit_buf_append(buf, p + run, s->len - run);
    rcgc_kit_buf_append(buf, &quote, 1);
}
