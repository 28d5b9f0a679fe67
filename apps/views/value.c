/*
** value.c -- the values views return (rcgc objects) and their JSON text.
**
** A stand-in for the object kit (include/rcgc_kit.h) until it lands: the same
** shapes (none, bool, int, float, str, list, dict with string keys), built
** with rcgc_new so every allocation is the heap's and attributable to the view
** that made it. Lists and dicts are tracked containers; the rest are atomic.
** Also the growable text buffer every response body is written into.
*/
#include "views.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ===================================================================== */
/* vbuf                                                                   */
/* ===================================================================== */

void vbuf_init(vbuf *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->oom = false;
}

void vbuf_fini(vbuf *b)
{
    free(b->data);
    vbuf_init(b);
}

static bool vbuf_reserve(vbuf *b, size_t extra)
{
    if (b->oom)
        return false;
    if (b->len + extra + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void vbuf_put(vbuf *b, const char *s, size_t n)
{
    if (!vbuf_reserve(b, n))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void vbuf_puts(vbuf *b, const char *s)
{
    vbuf_put(b, s, strlen(s));
}

void vbuf_printf(vbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[512];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        vbuf_put(b, tmp, (size_t)n);
        return;
    }
    if (!vbuf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void vbuf_json_str(vbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (!vbuf_reserve(b, n + 2))
        return;
    b->data[b->len++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            vbuf_put(b, e, 2);
        } else if (c < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            if (c == '\n')
                vbuf_put(b, "\\n", 2);
            else if (c == '\t')
                vbuf_put(b, "\\t", 2);
            else if (c == '\r')
                vbuf_put(b, "\\r", 2);
            else
                vbuf_put(b, e, 6);
        } else {
            vbuf_put(b, (const char *)&s[i], 1);
        }
    }
    vbuf_put(b, "\"", 1);
}

char *vbuf_take(vbuf *b, size_t *len)
{
    if (!b->data)
        vbuf_put(b, "", 0);
    char *d = b->data;
    if (len)
        *len = b->len;
    vbuf_init(b);
    return d;
}

/* ===================================================================== */
/* Types                                                                  */
/* ===================================================================== */

typedef struct v_scalar {
    union {
        long long i;
        double d;
    } u;
} v_scalar;

typedef struct v_string {
    size_t len;
    char data[];
} v_string;

typedef struct v_seq {
    rcgc_heap *heap;
    size_t len, cap;
    void **items;              /* lists: values; dicts: key, value, key, ... */
} v_seq;

static int seq_traverse(void *obj, rcgc_visit_fn visit, void *arg)
{
    v_seq *s = obj;
    for (size_t i = 0; i < s->len; i++)
        RCGC_VISIT(s->items[i]);
    return 0;
}

static void seq_clear(void *obj)
{
    v_seq *s = obj;
    void **items = s->items;
    size_t n = s->len;
    s->items = NULL;
    s->len = s->cap = 0;
    for (size_t i = 0; i < n; i++)
        rcgc_xunref(items[i]);
    if (items)
        rcgc_free(s->heap, items);
}

static const rcgc_type none_type = {.name = "NoneType", .size = sizeof(v_scalar)};
static const rcgc_type bool_type = {.name = "bool", .size = sizeof(v_scalar)};
static const rcgc_type int_type = {.name = "int", .size = sizeof(v_scalar)};
static const rcgc_type float_type = {.name = "float", .size = sizeof(v_scalar)};
static const rcgc_type str_type = {.name = "str", .size = sizeof(v_string), .itemsize = 1};
static const rcgc_type list_type = {.name = "list", .size = sizeof(v_seq),
                                    .traverse = seq_traverse, .clear = seq_clear};
static const rcgc_type dict_type = {.name = "dict", .size = sizeof(v_seq),
                                    .traverse = seq_traverse, .clear = seq_clear};

static vobj *scalar(rcgc_heap *h, const rcgc_type *t, long long i, double d)
{
    v_scalar *s = rcgc_new(h, t);
    if (!s)
        return NULL;
    if (t == &float_type)
        s->u.d = d;
    else
        s->u.i = i;
    return s;
}

vobj *v_none(rcgc_heap *h) { return scalar(h, &none_type, 0, 0); }
vobj *v_bool(rcgc_heap *h, bool b) { return scalar(h, &bool_type, b, 0); }
vobj *v_int(rcgc_heap *h, long long i) { return scalar(h, &int_type, i, 0); }
vobj *v_float(rcgc_heap *h, double d) { return scalar(h, &float_type, 0, d); }

vobj *v_strn(rcgc_heap *h, const char *s, size_t n)
{
    v_string *o = rcgc_new_var(h, &str_type, n + 1);
    if (!o)
        return NULL;
    o->len = n;
    memcpy(o->data, s, n);
    o->data[n] = '\0';
    return o;
}

vobj *v_str(rcgc_heap *h, const char *s) { return v_strn(h, s, strlen(s)); }

static vobj *seq_new(rcgc_heap *h, const rcgc_type *t)
{
    v_seq *s = rcgc_new(h, t);
    if (s)
        s->heap = h;
    return s;
}

vobj *v_list(rcgc_heap *h) { return seq_new(h, &list_type); }
vobj *v_dict(rcgc_heap *h) { return seq_new(h, &dict_type); }

static int seq_push(v_seq *s, void *item)
{
    if (s->len == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        void **p = rcgc_realloc(s->heap, s->items, cap * sizeof *p);
        if (!p)
            return -1;
        s->items = p;
        s->cap = cap;
    }
    s->items[s->len++] = item;
    return 0;
}

int v_list_append(vobj *list, vobj *item)
{
    if (!list || !item) {
        rcgc_xunref(item);
        return -1;
    }
    if (seq_push(list, item)) {
        rcgc_unref(item);
        return -1;
    }
    return 0;
}

int v_dict_set(vobj *dict, const char *key, vobj *val)
{
    v_seq *d = dict;
    if (!d || !val) {
        rcgc_xunref(val);
        return -1;
    }
    for (size_t i = 0; i < d->len; i += 2)
        if (strcmp(((v_string *)d->items[i])->data, key) == 0) {
            RCGC_SETREF(d->items[i + 1], val);
            return 0;
        }
    vobj *k = v_str(d->heap, key);
    if (!k || seq_push(d, k)) {
        rcgc_xunref(k);
        rcgc_unref(val);
        return -1;
    }
    if (seq_push(d, val)) {
        d->len--;
        rcgc_unref(k);
        rcgc_unref(val);
        return -1;
    }
    return 0;
}

size_t v_len(vobj *o)
{
    if (!o)
        return 0;
    const rcgc_type *t = rcgc_type_of(o);
    if (t == &list_type)
        return ((v_seq *)o)->len;
    if (t == &dict_type)
        return ((v_seq *)o)->len / 2;
    if (t == &str_type)
        return ((v_string *)o)->len;
    return 0;
}

vobj *v_list_get(vobj *list, size_t i)
{
    v_seq *s = list;
    return s && i < s->len ? s->items[i] : NULL;
}

int v_list_del(vobj *list, size_t i)
{
    v_seq *s = list;
    if (!s || i >= s->len)
        return -1;
    void *old = s->items[i];
    memmove(&s->items[i], &s->items[i + 1], (s->len - i - 1) * sizeof(void *));
    s->len--;
    rcgc_unref(old);
    return 0;
}

vobj *v_dict_get(vobj *dict, const char *key)
{
    v_seq *d = dict;
    if (!d)
        return NULL;
    for (size_t i = 0; i < d->len; i += 2)
        if (strcmp(((v_string *)d->items[i])->data, key) == 0)
            return d->items[i + 1];
    return NULL;
}

bool v_is_int(vobj *o) { return o && rcgc_type_of(o) == &int_type; }
long long v_int_value(vobj *o) { return v_is_int(o) ? ((v_scalar *)o)->u.i : 0; }

static rcgc_heap *heap_of_dict(vobj *d) { return d ? ((v_seq *)d)->heap : NULL; }

int v_set_int(vobj *d, const char *key, long long i)
{
    return d ? v_dict_set(d, key, v_int(heap_of_dict(d), i)) : -1;
}
int v_set_float(vobj *d, const char *key, double x)
{
    return d ? v_dict_set(d, key, v_float(heap_of_dict(d), x)) : -1;
}
int v_set_str(vobj *d, const char *key, const char *s)
{
    return d ? v_dict_set(d, key, v_str(heap_of_dict(d), s ? s : "")) : -1;
}
int v_set_bool(vobj *d, const char *key, bool b)
{
    return d ? v_dict_set(d, key, v_bool(heap_of_dict(d), b)) : -1;
}

/* ===================================================================== */
/* JSON writer                                                            */
/* ===================================================================== */

/* Nesting deeper than this is refused (the writer and parser recurse). */
#define JSON_MAX_DEPTH 64

static int write_json(vobj *o, vbuf *out, int depth)
{
    if (depth > JSON_MAX_DEPTH)
        return -1;
    const rcgc_type *t = rcgc_type_of(o);
    if (t == &none_type) {
        vbuf_puts(out, "null");
    } else if (t == &bool_type) {
        vbuf_puts(out, ((v_scalar *)o)->u.i ? "true" : "false");
    } else if (t == &int_type) {
        vbuf_printf(out, "%lld", ((v_scalar *)o)->u.i);
    } else if (t == &float_type) {
        double d = ((v_scalar *)o)->u.d;
        if (isfinite(d))
            vbuf_printf(out, "%.17g", d);
        else
            vbuf_puts(out, "null");
    } else if (t == &str_type) {
        vbuf_json_str(out, ((v_string *)o)->data, ((v_string *)o)->len);
    } else if (t == &list_type || t == &dict_type) {
        v_seq *s = o;
        bool dict = t == &dict_type;
        vbuf_put(out, dict ? "{" : "[", 1);
        for (size_t i = 0; i < s->len; i++) {
            if (i)
                vbuf_put(out, dict && (i & 1) ? ":" : ",", 1);
            if (write_json(s->items[i], out, depth + 1))
                return -1;
        }
        vbuf_put(out, dict ? "}" : "]", 1);
    } else {
        vbuf_json_str(out, t->name, strlen(t->name));
    }
    return out->oom ? -1 : 0;
}

int v_to_json(vobj *o, vbuf *out) { return write_json(o, out, 0); }

/* ===================================================================== */
/* JSON parser (RFC 8259), errors with line and column                    */
/* ===================================================================== */

typedef struct parser {
    rcgc_heap *h;
    const char *s, *end, *p;
    const char *err;
} parser;

static void skip_ws(parser *ps)
{
    while (ps->p < ps->end &&
           (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static vobj *parse_value(parser *ps, int depth);

static vobj *fail(parser *ps, const char *msg)
{
    if (!ps->err)
        ps->err = msg;
    return NULL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void put_utf8(vbuf *b, unsigned cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    vbuf_put(b, u, n);
}

static int read_hex4(parser *ps, unsigned *out)
{
    if (ps->end - ps->p < 4)
        return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hexval(ps->p[i]);
        if (d < 0)
            return -1;
        v = v * 16 + (unsigned)d;
    }
    ps->p += 4;
    *out = v;
    return 0;
}

static vobj *parse_string(parser *ps)
{
    vbuf b;
    vbuf_init(&b);
    ps->p++; /* opening quote */
    for (;;) {
        if (ps->p >= ps->end) {
            vbuf_fini(&b);
            return fail(ps, "unterminated string");
        }
        unsigned char c = (unsigned char)*ps->p;
        if (c == '"') {
            ps->p++;
            break;
        }
        if (c < 0x20) {
            vbuf_fini(&b);
            return fail(ps, "control character in string");
        }
        if (c != '\\') {
            vbuf_put(&b, ps->p++, 1);
            continue;
        }
        ps->p++;
        if (ps->p >= ps->end) {
            vbuf_fini(&b);
            return fail(ps, "unterminated string");
        }
        char e = *ps->p++;
        unsigned cp;
        switch (e) {
        case '"': vbuf_put(&b, "\"", 1); break;
        case '\\': vbuf_put(&b, "\\", 1); break;
        case '/': vbuf_put(&b, "/", 1); break;
        case 'b': vbuf_put(&b, "\b", 1); break;
        case 'f': vbuf_put(&b, "\f", 1); break;
        case 'n': vbuf_put(&b, "\n", 1); break;
        case 'r': vbuf_put(&b, "\r", 1); break;
        case 't': vbuf_put(&b, "\t", 1); break;
        case 'u':
            if (read_hex4(ps, &cp)) {
                vbuf_fini(&b);
                return fail(ps, "bad \\u escape");
            }
            if (cp >= 0xD800 && cp < 0xDC00) {
                unsigned lo;
                if (ps->end - ps->p >= 6 && ps->p[0] == '\\' && ps->p[1] == 'u') {
                    ps->p += 2;
                    if (read_hex4(ps, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
                        vbuf_fini(&b);
                        return fail(ps, "bad surrogate pair");
                    }
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else {
                    cp = 0xFFFD;
                }
            }
            put_utf8(&b, cp);
            break;
        default:
            ps->p--;
            vbuf_fini(&b);
            return fail(ps, "bad escape");
        }
    }
    vobj *o = v_strn(ps->h, b.data ? b.data : "", b.len);
    vbuf_fini(&b);
    return o ? o : fail(ps, "out of memory");
}

static vobj *parse_number(parser *ps)
{
    const char *start = ps->p;
    bool is_float = false;
    if (ps->p < ps->end && *ps->p == '-')
        ps->p++;
    if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
        return fail(ps, "expected a value");
    if (*ps->p == '0' && ps->p + 1 < ps->end && ps->p[1] >= '0' && ps->p[1] <= '9')
        return fail(ps, "leading zero in number");
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
        ps->p++;
    if (ps->p < ps->end && *ps->p == '.') {
        is_float = true;
        ps->p++;
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
            return fail(ps, "expected a digit after '.'");
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
            ps->p++;
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        is_float = true;
        ps->p++;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
            ps->p++;
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
            return fail(ps, "expected a digit in exponent");
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
            ps->p++;
    }
    char tmp[64];
    size_t n = (size_t)(ps->p - start);
    if (n >= sizeof tmp)
        is_float = true;
    if (n >= sizeof tmp)
        n = sizeof tmp - 1;
    memcpy(tmp, start, n);
    tmp[n] = '\0';
    vobj *o;
    if (!is_float) {
        errno = 0;
        long long v = strtoll(tmp, NULL, 10);
        o = errno ? v_float(ps->h, strtod(tmp, NULL)) : v_int(ps->h, v);
    } else {
        o = v_float(ps->h, strtod(tmp, NULL));
    }
    return o ? o : fail(ps, "out of memory");
}

static bool literal(parser *ps, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, word, n) == 0) {
        ps->p += n;
        return true;
    }
    return false;
}

static vobj *parse_container(parser *ps, int depth, bool dict)
{
    vobj *c = dict ? v_dict(ps->h) : v_list(ps->h);
    if (!c)
        return fail(ps, "out of memory");
    ps->p++;
    skip_ws(ps);
    char close = dict ? '}' : ']';
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return c;
    }
    for (;;) {
        skip_ws(ps);
        if (dict) {
            if (ps->p >= ps->end || *ps->p != '"')
                goto bad_key;
            v_string *k = parse_string(ps);
            if (!k)
                goto err;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                rcgc_unref(k);
                fail(ps, "expected ':'");
                goto err;
            }
            ps->p++;
            vobj *v = parse_value(ps, depth + 1);
            int rc = v ? v_dict_set(c, k->data, v) : -1;
            rcgc_unref(k);
            if (rc)
                goto err;
        } else {
            vobj *v = parse_value(ps, depth + 1);
            if (!v || v_list_append(c, v))
                goto err;
        }
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            return c;
        }
        fail(ps, dict ? "expected ',' or '}'" : "expected ',' or ']'");
        goto err;
    }
bad_key:
    fail(ps, "expected a string key");
err:
    fail(ps, "out of memory");
    rcgc_unref(c);
    return NULL;
}

static vobj *parse_value(parser *ps, int depth)
{
    if (depth > JSON_MAX_DEPTH)
        return fail(ps, "nesting too deep");
    skip_ws(ps);
    if (ps->p >= ps->end)
        return fail(ps, "unexpected end of input");
    switch (*ps->p) {
    case '{': return parse_container(ps, depth, true);
    case '[': return parse_container(ps, depth, false);
    case '"': return parse_string(ps);
    case 't':
        if (literal(ps, "true"))
            return v_bool(ps->h, true);
        break;
    case 'f':
        if (literal(ps, "false"))
            return v_bool(ps->h, false);
        break;
    case 'n':
        if (literal(ps, "null"))
            return v_none(ps->h);
        break;
    default:
        return parse_number(ps);
    }
    return fail(ps, "expected a value");
}

int v_from_json(rcgc_heap *h, const char *text, size_t len, vobj **out,
                int *line, int *col, char *msg, size_t msgsize)
{
    parser ps = {.h = h, .s = text, .end = text + len, .p = text, .err = NULL};
    vobj *o = parse_value(&ps, 0);
    if (o) {
        skip_ws(&ps);
        if (ps.p < ps.end) {
            rcgc_unref(o);
            o = NULL;
            fail(&ps, "extra data after the value");
        }
    }
    if (o) {
        *out = o;
        return 0;
    }
    int ln = 1, cl = 1;
    for (const char *q = text; q < ps.p && q < ps.end; q++) {
        if (*q == '\n') {
            ln++;
            cl = 1;
        } else {
            cl++;
        }
    }
    *line = ln;
    *col = cl;
    snprintf(msg, msgsize, "%s", ps.err ? ps.err : "invalid JSON");
    *out = NULL;
    return -1;
}

/* ===================================================================== */
/* Immortal application state                                            */
/* ===================================================================== */

size_t v_make_immortal(rcgc_heap *h, vobj *o)
{
    if (!o || rcgc_is_immortal(o))
        return 0;
    size_t n = 1;
    const rcgc_type *t = rcgc_type_of(o);
    if (t == &list_type || t == &dict_type) {
        v_seq *s = o;
        for (size_t i = 0; i < s->len; i++)
            n += v_make_immortal(h, s->items[i]);
    }
    rcgc_set_immortal(o);
    return n;
}
