/*
** vbuf.c -- the growable malloc'd text buffer that logs, error bodies and the
** debug endpoints write into (bodies handed to MHD with MHD_RESPMEM_MUST_FREE).
*/
#include "views.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
