/*
** kit_site.c -- the site-capturing entry points of the kit's constructors
** (rcgc_kit.h's macros call them with the caller's file, line and function),
** so that with allocation tracing on, a kit object is attributed to the line
** that asked for it, not to the kit's own code. Nothing else lives here.
*/
#include "kit.h"

void *rcgc_int_new_at(rcgc_kit *kit, int64_t value, const char *file, int line,
                      const char *func)
{
    void *r;
    KIT_AT(kit, r, rcgc_int_new(kit, value));
    return r;
}

void *rcgc_float_new_at(rcgc_kit *kit, double value, const char *file, int line,
                        const char *func)
{
    void *r;
    KIT_AT(kit, r, rcgc_float_new(kit, value));
    return r;
}

void *rcgc_str_new_at(rcgc_kit *kit, const char *utf8, size_t len, const char *file, int line,
                      const char *func)
{
    void *r;
    KIT_AT(kit, r, rcgc_str_new(kit, utf8, len));
    return r;
}

void *rcgc_str_new_cstr_at(rcgc_kit *kit, const char *utf8, const char *file, int line,
                           const char *func)
{
    void *r;
    KIT_AT(kit, r, rcgc_str_new_cstr(kit, utf8));
    return r;
}

void *rcgc_str_printf_at(rcgc_kit *kit, const char *file, int line, const char *func,
                         const char *fmt, ...)
{
    void *r;
    va_list ap;
    va_start(ap, fmt);
    KIT_AT(kit, r, rcgc_str_vprintf(kit, fmt, ap));
    va_end(ap);
    return r;
}

void *rcgc_str_concat_at(rcgc_kit *kit, const void *a, const void *b, const char *file,
                         int line, const char *func)
{
    void *r;
    KIT_AT(kit, r, rcgc_str_concat(kit, a, b));
    return r;
}

void *rcgc_bytes_new_at(rcgc_kit *kit, const void *data, size_t len, const char *file,
                        int line, const char *func)
{
    void *r;
    KIT_AT(kit, r, rcgc_bytes_new(kit, data, len));
    return r;
}

void *rcgc_list_new_at(rcgc_kit *kit, size_t capacity_hint, const char *file, int line,
                       const char *func)
{
    void *r;
    KIT_AT(kit, r, rcgc_list_new(kit, capacity_hint));
    return r;
}

void *rcgc_dict_new_at(rcgc_kit *kit, const char *file, int line, const char *func)
{
    void *r;
    KIT_AT(kit, r, rcgc_dict_new(kit));
    return r;
}

rcgc_status rcgc_json_decode_at(rcgc_kit *kit, const char *text, size_t len,
                                const rcgc_json_options *opt, void **out,
                                rcgc_json_error *err, const char *file, int line,
                                const char *func)
{
    rcgc_status r;
    KIT_AT(kit, r, rcgc_json_decode(kit, text, len, opt, out, err));
    return r;
}
