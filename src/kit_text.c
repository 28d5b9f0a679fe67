/*
** kit_text.c -- text output for the kit: the byte buffer (growable in the
** heap's raw memory, or fixed in caller memory, with sticky errors), Python's
** float repr (shortest round-trip digits) and repr()/str() of every kit
** object. Uses only the public API and kit.h.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kit.h"

/* ===================================================================== */
/* The buffer                                                            */
/* ===================================================================== */

void rcgc_kit_buf_init(rcgc_kit_buf *buf, rcgc_heap *heap)
{
    memset(buf, 0, sizeof *buf);
    buf->heap = heap;
}

void rcgc_kit_buf_init_fixed(rcgc_kit_buf *buf, char *mem, size_t cap)
{
    memset(buf, 0, sizeof *buf);
    buf->data = mem;
    buf->cap = cap;
    if (cap)
        mem[0] = '\0';
}

void rcgc_kit_buf_fini(rcgc_kit_buf *buf)
{
    if (buf->heap)
        rcgc_free(buf->heap, buf->data);
    rcgc_heap *heap = buf->heap;
    memset(buf, 0, sizeof *buf);
    buf->heap = heap;
}

void rcgc_kit_buf_reset(rcgc_kit_buf *buf)
{
    buf->len = 0;
    buf->status = RCGC_OK;
    if (buf->cap)
        buf->data[0] = '\0';
}

/* Make room for 'more' bytes plus the NUL; false (status set) if not. */
static bool grow(rcgc_kit_buf *buf, size_t more)
{
    if (buf->len + more < buf->cap)
        return true;
    if (!buf->heap || more > SIZE_MAX / 4 - buf->len) {
        buf->status = RCGC_ENOMEM;
        return false;
    }
    size_t cap = buf->cap ? buf->cap : 64;
    while (cap <= buf->len + more)
        cap *= 2;
    char *data = rcgc_realloc(buf->heap, buf->data, cap);
    if (!data) {
        buf->status = RCGC_ENOMEM;
        return false;
    }
    buf->data = data;
    buf->cap = cap;
    return true;
}

rcgc_status rcgc_kit_buf_append(rcgc_kit_buf *buf, const void *data, size_t len)
{
    if (buf->status == RCGC_OK && grow(buf, len)) {
        if (len)
            memcpy(buf->data + buf->len, data, len);
        buf->len += len;
        buf->data[buf->len] = '\0';
        return RCGC_OK;
    }
    if (!buf->heap) {
        /* A fixed buffer: keep the prefix that fits, count everything. */
        size_t room = buf->cap && buf->len < buf->cap - 1 ? buf->cap - 1 - buf->len : 0;
        size_t n = len < room ? len : room;
        if (n) {
            memcpy(buf->data + buf->len, data, n);
            buf->data[buf->len + n] = '\0';
        }
        buf->len += len;
    }
    return buf->status;
}

rcgc_status rcgc_kit_buf_puts(rcgc_kit_buf *buf, const char *s)
{
    return rcgc_kit_buf_append(buf, s, strlen(s));
}

rcgc_status rcgc_kit_buf_printf(rcgc_kit_buf *buf, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        if (buf->status == RCGC_OK)
            buf->status = RCGC_EINVAL;
        return buf->status;
    }
    if ((size_t)n < sizeof small)
        return rcgc_kit_buf_append(buf, small, (size_t)n);
    /* Long output: format again, straight into the buffer. */
    if (buf->status == RCGC_OK && grow(buf, (size_t)n)) {
        va_start(ap, fmt);
        vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
        buf->len += (size_t)n;
        return RCGC_OK;
    }
    if (!buf->heap) {
        /* A fixed buffer: keep the prefix that fits, count everything. */
        size_t room = buf->cap && buf->len < buf->cap - 1 ? buf->cap - buf->len : 0;
        if (room > 1) {
            va_start(ap, fmt);
            vsnprintf(buf->data + buf->len, room, fmt, ap);
            va_end(ap);
        }
        buf->len += (size_t)n;
    }
    return buf->status;
}

void rcgc__kit_buf_put_int(rcgc_kit_buf *buf, int64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[--i] = (char)('0' + mag % 10);
        mag /= 10;
    } while (mag);
    if (v < 0)
        tmp[--i] = '-';
    rcgc_kit_buf_append(buf, tmp + i, sizeof tmp - i);
}

/* ===================================================================== */
/* Python's float repr                                                   */
/* ===================================================================== */

/*
** The shortest digit string that reads back as the same double (at most 17
** significant digits), laid out as CPython's repr does: positional notation
** with at least one digit after the point when -4 <= exponent < 16
** ("0.0001", "1.0", "1234.5"), otherwise d[.ddd]e+XX ("1e+16", "1.5e-05").
** The digits come from printf's %e, whatever the locale's decimal point.
*/
void rcgc__kit_float_repr(double v, rcgc_kit_buf *buf)
{
    if (isnan(v)) {
        rcgc_kit_buf_puts(buf, "nan");
        return;
    }
    if (isinf(v)) {
        rcgc_kit_buf_puts(buf, v > 0 ? "inf" : "-inf");
        return;
    }
    /* Binary search for the fewest digits that read back exactly (17
    ** always do). More digits of a correctly rounded result are never
    ** farther from v, so the search finds the shortest in all but rare
    ** power-of-two edge cases, where it may give one digit more; the result
    ** always round-trips. */
    char tmp[40];
    int lo = 1, hi = 17;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        snprintf(tmp, sizeof tmp, "%.*e", mid - 1, v);
        if (strtod(tmp, NULL) == v)
            hi = mid;
        else
            lo = mid + 1;
    }
    snprintf(tmp, sizeof tmp, "%.*e", lo - 1, v);
    /* tmp = [-]d[<point>ddd]e<sign>XX */
    char digits[24];
    size_t nd = 0;
    const char *p = tmp;
    bool neg = *p == '-';
    if (neg)
        p++;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[nd++] = *p;
    int exp = *p == 'e' ? atoi(p + 1) : 0;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    char out[48];
    size_t o = 0;
    if (neg)
        out[o++] = '-';
    if (exp >= -4 && exp < 16) {
        if (exp < 0) {
            out[o++] = '0';
            out[o++] = '.';
            for (int i = -1; i > exp; i--)
                out[o++] = '0';
            memcpy(out + o, digits, nd);
            o += nd;
        } else {
            size_t ip = (size_t)exp + 1; /* digits before the point */
            for (size_t i = 0; i < ip; i++)
                out[o++] = i < nd ? digits[i] : '0';
            out[o++] = '.';
            if (nd > ip) {
                memcpy(out + o, digits + ip, nd - ip);
                o += nd - ip;
            } else {
                out[o++] = '0';
            }
        }
    } else {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            memcpy(out + o, digits + 1, nd - 1);
            o += nd - 1;
        }
        o += (size_t)snprintf(out + o, sizeof out - o, "e%c%02d", exp < 0 ? '-' : '+',
                              exp < 0 ? -exp : exp);
    }
    rcgc_kit_buf_append(buf, out, o);
}

/* ===================================================================== */
/* repr and str                                                          */
/* ===================================================================== */

/* The containers being printed, innermost first: a container met again
** prints as [...] / {...} (CPython's Py_ReprEnter). */
typedef struct repr_frame {
    const void *obj;
    const struct repr_frame *up;
    int depth;
} repr_frame;

static void repr(const void *obj, rcgc_kit_buf *buf, const repr_frame *up);

static bool entered(const void *obj, const repr_frame *up)
{
    for (; up; up = up->up)
        if (up->obj == obj)
            return true;
    return false;
}

static void repr_container(const void *obj, rcgc_kit_buf *buf,
                           const repr_frame *up);

static void repr(const void *obj, rcgc_kit_buf *buf, const repr_frame *up)
{
    switch (rcgc_kit_kind(obj)) {
    case RCGC_KIND_NONE: rcgc_kit_buf_puts(buf, "None"); break;
    case RCGC_KIND_BOOL: rcgc_kit_buf_puts(buf, rcgc_bool_value(obj) ? "True" : "False"); break;
    case RCGC_KIND_INT: rcgc__kit_buf_put_int(buf, rcgc_int_value(obj)); break;
    case RCGC_KIND_FLOAT: rcgc__kit_float_repr(rcgc_float_value(obj), buf); break;
    case RCGC_KIND_STR:
    case RCGC_KIND_BYTES: rcgc__kit_str_repr(obj, buf); break;
    case RCGC_KIND_LIST:
    case RCGC_KIND_DICT: repr_container(obj, buf, up); break;
    case RCGC_KIND_OTHER:
        rcgc_kit_buf_printf(buf, "<%s object at %p>", rcgc_kit_type_name(obj), obj);
        break;
    }
}

static void repr_container(const void *obj, rcgc_kit_buf *buf,
                           const repr_frame *up)
{
    bool is_list = rcgc_kit_kind(obj) == RCGC_KIND_LIST;
    int depth = up ? up->depth + 1 : 1;
    if (entered(obj, up) || depth > RCGC_KIT_MAX_DEPTH) {
        rcgc_kit_buf_puts(buf, is_list ? "[...]" : "{...}");
        return;
    }
    repr_frame me = {obj, up, depth};
    rcgc_kit_buf_puts(buf, is_list ? "[" : "{");
    if (is_list) {
        for (size_t i = 0; i < rcgc_list_len(obj); i++) {
            if (i)
                rcgc_kit_buf_puts(buf, ", ");
            repr(rcgc_list_get(obj, i), buf, &me);
        }
    } else {
        size_t pos = 0;
        void *k, *v;
        bool first = true;
        while (rcgc_dict_next(obj, &pos, &k, &v)) {
            if (!first)
                rcgc_kit_buf_puts(buf, ", ");
            first = false;
            repr(k, buf, &me);
            rcgc_kit_buf_puts(buf, ": ");
            repr(v, buf, &me);
        }
    }
    rcgc_kit_buf_puts(buf, is_list ? "]" : "}");
}

rcgc_status rcgc_kit_repr(const void *obj, rcgc_kit_buf *buf)
{
    repr(obj, buf, NULL);
    return buf->status;
}

rcgc_status rcgc_kit_str(const void *obj, rcgc_kit_buf *buf)
{
    if (rcgc_kit_kind(obj) == RCGC_KIND_STR)
        return rcgc_kit_buf_append(buf, rcgc_str_data(obj), rcgc_str_len(obj));
    return rcgc_kit_repr(obj, buf);
}
