/*
** value_malloc.c -- the anchor of the views benchmark: the same values on
** plain malloc/free with a reference count and no collector (BENCH.md
** "views/time-per-request", anchor "malloc-views").
**
** Built only into rcgc-views-malloc (VIEWS_MALLOC), in place of value.c: the
** same v_* API, so the demo views run unchanged; the views that need the
** cycle collector or weak references are not registered there. Dicts are
** small insertion-ordered arrays searched linearly (the views' dicts hold a
** handful of keys).
*/
#include "views.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind { K_NONE, K_BOOL, K_INT, K_FLOAT, K_STR, K_LIST, K_DICT };

typedef struct mobj {
    uint32_t refcnt;
    uint32_t kind;
    union {
        long long i;
        double d;
        struct {
            size_t len;
            char *s;
        } str;
        struct {
            size_t len, cap;
            struct mobj **items; /* list: values; dict: key (str), value, ... */
        } seq;
    } u;
} mobj;

int value_init(rcgc_heap *h)
{
    (void)h;
    return 0;
}

struct rcgc_kit *value_kit(void) { return NULL; }

vobj *v_ref(vobj *o)
{
    ((mobj *)o)->refcnt++;
    return o;
}

void v_unref(vobj *o)
{
    mobj *m = o;
    if (--m->refcnt)
        return;
    if (m->kind == K_LIST || m->kind == K_DICT) {
        for (size_t i = 0; i < m->u.seq.len; i++)
            v_unref(m->u.seq.items[i]);
        free(m->u.seq.items);
    } else if (m->kind == K_STR) {
        free(m->u.str.s);
    }
    free(m);
}

void v_xunref(vobj *o)
{
    if (o)
        v_unref(o);
}

static mobj *mk(enum kind k)
{
    mobj *m = calloc(1, sizeof *m);
    if (m) {
        m->refcnt = 1;
        m->kind = k;
    }
    return m;
}

static mobj *scalar(enum kind k, long long i, double d)
{
    mobj *m = mk(k);
    if (m && k == K_FLOAT)
        m->u.d = d;
    else if (m)
        m->u.i = i;
    return m;
}

vobj *v_none(rcgc_heap *h) { (void)h; return mk(K_NONE); }
vobj *v_bool(rcgc_heap *h, bool b) { (void)h; return scalar(K_BOOL, b, 0); }
vobj *v_int(rcgc_heap *h, long long i) { (void)h; return scalar(K_INT, i, 0); }
vobj *v_float(rcgc_heap *h, double d) { (void)h; return scalar(K_FLOAT, 0, d); }
vobj *v_strn(rcgc_heap *h, const char *s, size_t n)
{
    (void)h;
    mobj *m = mk(K_STR);
    if (!m)
        return NULL;
    m->u.str.s = malloc(n + 1);
    if (!m->u.str.s) {
        free(m);
        return NULL;
    }
    memcpy(m->u.str.s, s, n);
    m->u.str.s[n] = '\0';
    m->u.str.len = n;
    return m;
}
vobj *v_str(rcgc_heap *h, const char *s) { return v_strn(h, s, strlen(s)); }
vobj *v_list(rcgc_heap *h) { (void)h; return mk(K_LIST); }
vobj *v_dict(rcgc_heap *h) { (void)h; return mk(K_DICT); }

static int push(mobj *m, mobj *item)
{
    if (m->u.seq.len == m->u.seq.cap) {
        size_t cap = m->u.seq.cap ? m->u.seq.cap * 2 : 8;
        mobj **p = realloc(m->u.seq.items, cap * sizeof *p);
        if (!p)
            return -1;
        m->u.seq.items = p;
        m->u.seq.cap = cap;
    }
    m->u.seq.items[m->u.seq.len++] = item;
    return 0;
}

int v_list_append(vobj *list, vobj *item)
{
    if (!list || !item || push(list, item)) {
        v_xunref(item);
        return -1;
    }
    return 0;
}

int v_dict_set(vobj *dict, const char *key, vobj *val)
{
    mobj *d = dict;
    if (!d || !val) {
        v_xunref(val);
        return -1;
    }
    for (size_t i = 0; i < d->u.seq.len; i += 2)
        if (strcmp(d->u.seq.items[i]->u.str.s, key) == 0) {
            v_unref(d->u.seq.items[i + 1]);
            d->u.seq.items[i + 1] = val;
            return 0;
        }
    mobj *k = v_str(NULL, key);
    if (!k || push(d, k)) {
        v_xunref(k);
        v_unref(val);
        return -1;
    }
    if (push(d, val)) {
        d->u.seq.len--;
        v_unref(k);
        v_unref(val);
        return -1;
    }
    return 0;
}

size_t v_len(vobj *o)
{
    mobj *m = o;
    if (!m)
        return 0;
    if (m->kind == K_LIST)
        return m->u.seq.len;
    if (m->kind == K_DICT)
        return m->u.seq.len / 2;
    return m->kind == K_STR ? m->u.str.len : 0;
}

vobj *v_list_get(vobj *list, size_t i)
{
    mobj *m = list;
    return m && i < m->u.seq.len ? m->u.seq.items[i] : NULL;
}

int v_list_del(vobj *list, size_t i)
{
    mobj *m = list;
    if (!m || i >= m->u.seq.len)
        return -1;
    mobj *old = m->u.seq.items[i];
    memmove(&m->u.seq.items[i], &m->u.seq.items[i + 1],
            (m->u.seq.len - i - 1) * sizeof(mobj *));
    m->u.seq.len--;
    v_unref(old);
    return 0;
}

vobj *v_dict_get(vobj *dict, const char *key)
{
    mobj *d = dict;
    for (size_t i = 0; d && i < d->u.seq.len; i += 2)
        if (strcmp(d->u.seq.items[i]->u.str.s, key) == 0)
            return d->u.seq.items[i + 1];
    return NULL;
}

bool v_is_int(vobj *o) { return o && ((mobj *)o)->kind == K_INT; }
long long v_int_value(vobj *o) { return v_is_int(o) ? ((mobj *)o)->u.i : 0; }
int v_set_int(vobj *d, const char *key, long long i) { return v_dict_set(d, key, v_int(NULL, i)); }
int v_set_float(vobj *d, const char *key, double x) { return v_dict_set(d, key, v_float(NULL, x)); }
int v_set_str(vobj *d, const char *key, const char *s) { return v_dict_set(d, key, v_str(NULL, s ? s : "")); }
int v_set_bool(vobj *d, const char *key, bool b) { return v_dict_set(d, key, v_bool(NULL, b)); }

static int write_json(const mobj *m, vbuf *out, int depth)
{
    if (depth > 512)
        return -1;
    switch (m->kind) {
    case K_NONE: vbuf_puts(out, "null"); break;
    case K_BOOL: vbuf_puts(out, m->u.i ? "true" : "false"); break;
    case K_INT: vbuf_printf(out, "%lld", m->u.i); break;
    case K_FLOAT:
        if (!isfinite(m->u.d))
            return -1;
        vbuf_printf(out, "%.17g", m->u.d);
        break;
    case K_STR: vbuf_json_str(out, m->u.str.s, m->u.str.len); break;
    default: {
        bool dict = m->kind == K_DICT;
        vbuf_put(out, dict ? "{" : "[", 1);
        for (size_t i = 0; i < m->u.seq.len; i++) {
            if (i)
                vbuf_put(out, dict && (i & 1) ? ":" : ",", 1);
            if (write_json(m->u.seq.items[i], out, depth + 1))
                return -1;
        }
        vbuf_put(out, dict ? "}" : "]", 1);
    }
    }
    return out->oom ? -1 : 0;
}

int v_to_json(vobj *o, vbuf *out) { return write_json(o, out, 0); }

int v_from_json(rcgc_heap *h, const char *text, size_t len, vobj **out,
                int *line, int *col, char *msg, size_t msgsize)
{
    /* The benchmark's views take no JSON bodies. */
    (void)h;
    (void)text;
    (void)len;
    *out = NULL;
    *line = 1;
    *col = 1;
    snprintf(msg, msgsize, "JSON bodies are not supported by the malloc anchor");
    return -1;
}

size_t v_make_immortal(rcgc_heap *h, vobj *o)
{
    (void)h;
    (void)o;
    return 0;
}
