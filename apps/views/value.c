/*
** value.c -- the values views return, on the object kit (rcgc_kit.h).
**
** Views build their responses from kit objects (none, bool, int, float, str,
** list, dict) made in the worker's heap, so every allocation is the heap's and
** attributable to the view that made it; the kit's JSON codec writes and reads
** them. The v_* shorthands below keep view code short: setters steal the
** value and accept NULL, so a chain of constructors needs one check at the
** end (the worker answers 500 when a view returns NULL without a status).
*/
#include "views.h"

#include <rcgc_kit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ===================================================================== */
/* The kit (one per heap: made by the master, inherited by the workers)   */
/* ===================================================================== */

static rcgc_kit *kit;

int value_init(rcgc_heap *h)
{
    kit = rcgc_kit_new(h, NULL);
    return kit ? 0 : -1;
}

rcgc_kit *value_kit(void) { return kit; }

vobj *v_none(rcgc_heap *h) { (void)h; return rcgc_kit_none(kit); }
vobj *v_bool(rcgc_heap *h, bool b) { (void)h; return rcgc_kit_bool(kit, b); }
vobj *v_int(rcgc_heap *h, long long i) { (void)h; return rcgc_int_new(kit, i); }
vobj *v_float(rcgc_heap *h, double d) { (void)h; return rcgc_float_new(kit, d); }
vobj *v_strn(rcgc_heap *h, const char *s, size_t n)
{
    (void)h;
    vobj *o = rcgc_str_new(kit, s, n);
    if (!o && !rcgc_str_utf8_check(s, n, NULL))
        o = rcgc_str_new_cstr(kit, "(invalid UTF-8)");
    return o;
}
vobj *v_str(rcgc_heap *h, const char *s) { return v_strn(h, s, strlen(s)); }
vobj *v_list(rcgc_heap *h) { (void)h; return rcgc_list_new(kit, 0); }
vobj *v_dict(rcgc_heap *h) { (void)h; return rcgc_dict_new(kit); }

int v_list_append(vobj *list, vobj *item)
{
    if (!list) {
        rcgc_xunref(item);
        return -1;
    }
    return rcgc_list_append_take(list, item) == RCGC_OK ? 0 : -1;
}

int v_dict_set(vobj *dict, const char *key, vobj *val)
{
    if (!dict) {
        rcgc_xunref(val);
        return -1;
    }
    return rcgc_dict_set_cstr_take(kit, dict, key, val) == RCGC_OK ? 0 : -1;
}

size_t v_len(vobj *o)
{
    switch (rcgc_kit_kind(o)) {
    case RCGC_KIND_LIST: return rcgc_list_len(o);
    case RCGC_KIND_DICT: return rcgc_dict_len(o);
    case RCGC_KIND_STR: return rcgc_str_chars(o);
    case RCGC_KIND_BYTES: return rcgc_bytes_len(o);
    default: return 0;
    }
}

vobj *v_list_get(vobj *list, size_t i) { return list ? rcgc_list_get(list, i) : NULL; }
int v_list_del(vobj *list, size_t i) { return rcgc_list_pop(list, i, NULL) == RCGC_OK ? 0 : -1; }
vobj *v_dict_get(vobj *dict, const char *key) { return dict ? rcgc_dict_get_cstr(kit, dict, key) : NULL; }
bool v_is_int(vobj *o) { return o && rcgc_kit_kind(o) == RCGC_KIND_INT; }
long long v_int_value(vobj *o) { return o ? rcgc_int_value(o) : 0; }

int v_set_int(vobj *d, const char *key, long long i) { return v_dict_set(d, key, v_int(NULL, i)); }
int v_set_float(vobj *d, const char *key, double x) { return v_dict_set(d, key, v_float(NULL, x)); }
int v_set_str(vobj *d, const char *key, const char *s) { return v_dict_set(d, key, v_str(NULL, s ? s : "")); }
int v_set_bool(vobj *d, const char *key, bool b) { return v_dict_set(d, key, v_bool(NULL, b)); }

/* ===================================================================== */
/* JSON                                                                   */
/* ===================================================================== */

int v_to_json(vobj *o, vbuf *out)
{
    rcgc_kit_buf b;
    rcgc_kit_buf_init(&b, rcgc_kit_heap(kit));
    rcgc_status st = rcgc_json_encode(o, &b, NULL, NULL);
    if (st == RCGC_OK)
        vbuf_put(out, b.data, b.len);
    rcgc_kit_buf_fini(&b);
    return st == RCGC_OK && !out->oom ? 0 : -1;
}

int v_from_json(rcgc_heap *h, const char *text, size_t len, vobj **out,
                int *line, int *col, char *msg, size_t msgsize)
{
    (void)h;
    rcgc_json_error err;
    memset(&err, 0, sizeof err);
    rcgc_status st = rcgc_json_decode(kit, text, len, NULL, out, &err);
    if (st == RCGC_OK)
        return 0;
    *line = (int)err.line;
    *col = (int)err.column;
    snprintf(msg, msgsize, "%s", st == RCGC_ENOMEM ? "out of memory" : err.message);
    return -1;
}

/* ===================================================================== */
/* Immortal application state                                            */
/* ===================================================================== */

static int immortal_visit(void *obj, void *arg)
{
    *(size_t *)arg += v_make_immortal(NULL, obj);
    return 0;
}

size_t v_make_immortal(rcgc_heap *h, vobj *o)
{
    (void)h;
    if (!o || rcgc_is_immortal(o))
        return 0;
    size_t n = 1;
    /* Children first: rcgc_set_immortal untracks, and traverse still works
    ** on an untracked object, but visiting before is simplest to reason about. */
    rcgc_gc_get_referents(o, immortal_visit, &n);
    rcgc_set_immortal(o);
    return n;
}
