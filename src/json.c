/*
** json.c -- JSON (RFC 8259) over kit objects: the encoder (compact or
** indented, into a kit buffer) and a strict, iterative decoder whose errors
** name the line, the column and what was expected. The decoder keeps its
** open containers on an explicit stack, so hostile nesting cannot overflow
** the C stack. Uses only the public API and kit.h.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kit.h"

void rcgc_json_options_init(rcgc_json_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->max_depth = 512;
}

static const rcgc_json_options *options_or_default(const rcgc_json_options *opt,
                                                   rcgc_json_options *def)
{
    if (opt)
        return opt;
    rcgc_json_options_init(def);
    return def;
}

static void set_error(rcgc_json_error *err, size_t line, size_t column, size_t offset,
                      const char *fmt, va_list ap)
{
    if (!err)
        return;
    err->line = line;
    err->column = column;
    err->offset = offset;
    int n = 0;
    if (line)
        n = snprintf(err->message, sizeof err->message, "line %zu, column %zu: ", line, column);
    vsnprintf(err->message + n, sizeof err->message - (size_t)n, fmt, ap);
}

static void clear_error(rcgc_json_error *err)
{
    if (err)
        memset(err, 0, sizeof *err);
}

/* ===================================================================== */
/* Encoder                                                               */
/* ===================================================================== */

typedef struct enc {
    rcgc_kit_buf *out;
    const rcgc_json_options *opt;
    rcgc_json_error *err;
} enc;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static rcgc_status enc_fail(enc *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_error(e->err, 0, 0, 0, fmt, ap);
    va_end(ap);
    return RCGC_EINVAL;
}

static void put_string(enc *e, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    rcgc_kit_buf *out = e->out;
    const unsigned char *p = (const unsigned char *)s;
    size_t run = 0;
    rcgc_kit_buf_append(out, "\"", 1);
    for (size_t i = 0; i < len;) {
        unsigned c = p[i];
        char esc[16];
        size_t n = 0, width = 1;
        switch (c) {
        case '"': n = 2, esc[0] = '\\', esc[1] = '"'; break;
        case '\\': n = 2, esc[0] = '\\', esc[1] = '\\'; break;
        case '\b': n = 2, esc[0] = '\\', esc[1] = 'b'; break;
        case '\f': n = 2, esc[0] = '\\', esc[1] = 'f'; break;
        case '\n': n = 2, esc[0] = '\\', esc[1] = 'n'; break;
        case '\r': n = 2, esc[0] = '\\', esc[1] = 'r'; break;
        case '\t': n = 2, esc[0] = '\\', esc[1] = 't'; break;
        default:
            if (c < 0x20) {
                n = (size_t)snprintf(esc, sizeof esc, "\\u%04x", c);
            } else if (c >= 0x80 && e->opt->ascii) {
                uint32_t cp = 0xFFFD;
                width = rcgc__kit_utf8_seq(p + i, len - i, &cp);
                if (!width)
                    width = 1; /* cannot happen for a str */
                uint32_t units[2] = {cp, 0};
                int nu = 1;
                if (cp >= 0x10000) {
                    units[0] = 0xD800 + ((cp - 0x10000) >> 10);
                    units[1] = 0xDC00 + ((cp - 0x10000) & 0x3FF);
                    nu = 2;
                }
                for (int u = 0; u < nu; u++) {
                    esc[n++] = '\\';
                    esc[n++] = 'u';
                    for (int sh = 12; sh >= 0; sh -= 4)
                        esc[n++] = hex[(units[u] >> sh) & 0xF];
                }
            }
        }
        if (n) {
            rcgc_kit_buf_append(out, p + run, i - run);
            rcgc_kit_buf_append(out, esc, n);
            run = i + width;
        }
        i += width;
    }
    rcgc_kit_buf_append(out, p + run, len - run);
    rcgc_kit_buf_append(out, "\"", 1);
}

static void newline_indent(enc *e, size_t depth)
{
    if (!e->opt->indent)
        return;
    rcgc_kit_buf_append(e->out, "\n", 1);
    static const char spaces[] = "                                ";
    size_t n = depth * e->opt->indent;
    while (n) {
        size_t k = n < sizeof spaces - 1 ? n : sizeof spaces - 1;
        rcgc_kit_buf_append(e->out, spaces, k);
        n -= k;
    }
}

static rcgc_status encode_float(enc *e, double v)
{
    if (!isfinite(v))
        return enc_fail(e, "cannot encode the non-finite float %s (JSON has no NaN or "
                           "Infinity)", isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
    rcgc__kit_float_repr(v, e->out);
    return RCGC_OK;
}

/* A dict key: str as is; int, float, bool and None become strings, as in
** Python's json.dumps. */
static rcgc_status encode_key(enc *e, const void *key)
{
    switch (rcgc_kit_kind(key)) {
    case RCGC_KIND_STR: put_string(e, rcgc_str_data(key), rcgc_str_len(key)); return RCGC_OK;
    case RCGC_KIND_NONE: rcgc_kit_buf_puts(e->out, "\"null\""); return RCGC_OK;
    case RCGC_KIND_BOOL:
        rcgc_kit_buf_puts(e->out, rcgc_bool_value(key) ? "\"true\"" : "\"false\"");
        return RCGC_OK;
    case RCGC_KIND_INT:
        rcgc_kit_buf_append(e->out, "\"", 1);
        rcgc__kit_buf_put_int(e->out, rcgc_int_value(key));
        rcgc_kit_buf_append(e->out, "\"", 1);
        return RCGC_OK;
    case RCGC_KIND_FLOAT: {
        rcgc_kit_buf_append(e->out, "\"", 1);
        rcgc_status st = encode_float(e, rcgc_float_value(key));
        rcgc_kit_buf_append(e->out, "\"", 1);
        return st;
    }
    default:
        return enc_fail(e, "keys must be str, int, float, bool or None, not %s",
                        rcgc_kit_type_name(key));
    }
}

static rcgc_status encode(enc *e, const void *obj, size_t depth)
{
    switch (rcgc_kit_kind(obj)) {
    case RCGC_KIND_NONE: rcgc_kit_buf_puts(e->out, "null"); return RCGC_OK;
    case RCGC_KIND_BOOL:
        rcgc_kit_buf_puts(e->out, rcgc_bool_value(obj) ? "true" : "false");
        return RCGC_OK;
    case RCGC_KIND_INT:
        rcgc__kit_buf_put_int(e->out, rcgc_int_value(obj));
        return RCGC_OK;
    case RCGC_KIND_FLOAT: return encode_float(e, rcgc_float_value(obj));
    case RCGC_KIND_STR: put_string(e, rcgc_str_data(obj), rcgc_str_len(obj)); return RCGC_OK;
    case RCGC_KIND_LIST:
    case RCGC_KIND_DICT: break;
    default:
        return enc_fail(e, "object of type %s is not JSON serializable",
                        rcgc_kit_type_name(obj));
    }
    bool is_list = rcgc_kit_kind(obj) == RCGC_KIND_LIST;
    /* The encoder recurses: its depth is also capped by a constant, so a
    ** large max_depth cannot overflow a small thread stack. */
    size_t limit = e->opt->max_depth < RCGC_JSON_ENCODE_MAX_DEPTH ? e->opt->max_depth
                                                                  : RCGC_JSON_ENCODE_MAX_DEPTH;
    if (depth >= limit)
        return enc_fail(e, "nesting deeper than %zu levels (or a container that contains "
                           "itself)", limit);
    rcgc_kit_buf_append(e->out, is_list ? "[" : "{", 1);
    size_t pos = 0, n = 0;
    void *k = NULL, *v;
    for (;;) {
        if (is_list) {
            if (pos >= rcgc_list_len(obj))
                break;
            v = rcgc_list_get(obj, pos++);
        } else if (!rcgc_dict_next(obj, &pos, &k, &v)) {
            break;
        }
        if (n++)
            rcgc_kit_buf_append(e->out, ",", 1);
        newline_indent(e, depth + 1);
        rcgc_status st;
        if (!is_list) {
            if ((st = encode_key(e, k)) != RCGC_OK)
                return st;
            rcgc_kit_buf_puts(e->out, e->opt->indent ? ": " : ":");
        }
        if ((st = encode(e, v, depth + 1)) != RCGC_OK)
            return st;
        if (e->out->status != RCGC_OK && e->out->heap)
            return e->out->status; /* a growable buffer is out of memory: stop */
    }
    if (n)
        newline_indent(e, depth);
    rcgc_kit_buf_append(e->out, is_list ? "]" : "}", 1);
    return RCGC_OK;
}

rcgc_status rcgc_json_encode(const void *obj, rcgc_kit_buf *out,
                             const rcgc_json_options *opt, rcgc_json_error *err)
{
    rcgc_json_options def;
    enc e = {out, options_or_default(opt, &def), err};
    clear_error(err);
    rcgc_status st = encode(&e, obj, 0);
    if (st == RCGC_OK && out->status != RCGC_OK) {
        st = out->status;
        if (err)
            snprintf(err->message, sizeof err->message, "%s: the output needs %zu bytes",
                     rcgc_strerror(st), out->len + 1);
    }
    return st;
}

/* ===================================================================== */
/* Decoder                                                               */
/* ===================================================================== */

/* An open container: its object and, for a dict, the key awaiting its
** value. Both are owned by the frame until the container is closed. */
typedef struct frame {
    void *obj;
    void *key;
    bool is_list;
} frame;

typedef struct dec {
    rcgc_kit *kit;
    const unsigned char *s;
    size_t len, pos;
    size_t max_depth;
    rcgc_json_error *err;
    rcgc_status status;  /* RCGC_EFORMAT or RCGC_ENOMEM once failed */
    frame *stack;
    size_t depth, cap;
    rcgc_kit_buf scratch; /* unescaped string bytes */
    void **memo;          /* MEMO_SLOTS member names, or NULL */
} dec;

/* Member names repeat (an array of records): as CPython's decoder does,
** keep one str per distinct short name, in a small direct-mapped memo that
** lives for one decode. Without memory for it, names are simply not
** shared. */
#define MEMO_SLOTS 256
#define MEMO_MAX_LEN 64

/* Line and column (1-based; the column counts code points) of 'offset'. */
static void locate(const dec *d, size_t offset, size_t *line, size_t *column)
{
    size_t l = 1, start = 0;
    for (size_t i = 0; i < offset; i++)
        if (d->s[i] == '\n')
            l++, start = i + 1;
    size_t c = 1;
    for (size_t i = start; i < offset; i++)
        if ((d->s[i] & 0xC0) != 0x80)
            c++;
    *line = l;
    *column = c;
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void fail_at(dec *d, size_t offset, const char *fmt, ...)
{
    if (d->status != RCGC_OK)
        return;
    d->status = RCGC_EFORMAT;
    size_t line, column;
    locate(d, offset, &line, &column);
    va_list ap;
    va_start(ap, fmt);
    set_error(d->err, line, column, offset, fmt, ap);
    va_end(ap);
}

static void fail_nomem(dec *d)
{
    if (d->status != RCGC_OK)
        return;
    d->status = RCGC_ENOMEM;
    if (d->err) {
        locate(d, d->pos, &d->err->line, &d->err->column);
        d->err->offset = d->pos;
        snprintf(d->err->message, sizeof d->err->message,
                 "line %zu, column %zu: out of memory", d->err->line, d->err->column);
    }
}

/* What is at 'pos', for messages: 'x', end of input, or a byte value. */
static const char *describe(const dec *d, size_t pos, char tmp[16])
{
    if (pos >= d->len)
        return "end of input";
    unsigned c = d->s[pos];
    if (c >= 0x20 && c < 0x7f)
        snprintf(tmp, 16, "'%c'", c);
    else if (c < 0x80)
        snprintf(tmp, 16, "U+%04X", c);
    else
        snprintf(tmp, 16, "byte 0x%02X", c);
    return tmp;
}

static void skip_ws(dec *d)
{
    while (d->pos < d->len) {
        unsigned char c = d->s[d->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        d->pos++;
    }
}

static int peek(const dec *d) { return d->pos < d->len ? d->s[d->pos] : -1; }

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Four hex digits at 'at'; -1 (error reported) if not. */
static long read_hex4(dec *d, size_t at)
{
    long v = 0;
    for (size_t i = 0; i < 4; i++) {
        int h = at + i < d->len ? hex_value(d->s[at + i]) : -1;
        if (h < 0) {
            char tmp[16];
            fail_at(d, at + i, "expected 4 hex digits after \\u, found %s",
                    describe(d, at + i, tmp));
            return -1;
        }
        v = v * 16 + h;
    }
    return v;
}

static void put_utf8(rcgc_kit_buf *b, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80)
        u[0] = (char)cp, n = 1;
    else if (cp < 0x800)
        u[0] = (char)(0xC0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
    else if (cp < 0x10000)
        u[0] = (char)(0xE0 | cp >> 12), u[1] = (char)(0x80 | ((cp >> 6) & 0x3F)),
        u[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
    else
        u[0] = (char)(0xF0 | cp >> 18), u[1] = (char)(0x80 | ((cp >> 12) & 0x3F)),
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
    rcgc_kit_buf_append(b, u, n);
}

/* One escape after the backslash at d->pos - 1; appends to scratch. */
static bool parse_escape(dec *d)
{
    size_t at = d->pos - 1;
    int c = peek(d);
    const char *simple = NULL;
    switch (c) {
    case '"': simple = "\""; break;
    case '\\': simple = "\\"; break;
    case '/': simple = "/"; break;
    case 'b': simple = "\b"; break;
    case 'f': simple = "\f"; break;
    case 'n': simple = "\n"; break;
    case 'r': simple = "\r"; break;
    case 't': simple = "\t"; break;
    case 'u': break;
    default: {
        char tmp[16];
        fail_at(d, d->pos, "invalid escape: expected one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t "
                           "\\uXXXX, found %s after the backslash", describe(d, d->pos, tmp));
        return false;
    }
    }
    d->pos++;
    if (simple) {
        rcgc_kit_buf_append(&d->scratch, simple, 1);
        return true;
    }
    long cp = read_hex4(d, d->pos);
    if (cp < 0)
        return false;
    d->pos += 4;
    if (cp >= 0xDC00 && cp <= 0xDFFF) {
        fail_at(d, at, "lone low surrogate \\u%04lX (expected a high surrogate first)", cp);
        return false;
    }
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        long lo = -1;
        if (d->pos + 1 < d->len && d->s[d->pos] == '\\' && d->s[d->pos + 1] == 'u') {
            lo = read_hex4(d, d->pos + 2);
            if (lo < 0)
                return false;
        }
        if (lo < 0xDC00 || lo > 0xDFFF) {
            fail_at(d, at, "lone high surrogate \\u%04lX (expected a low surrogate escape "
                           "\\uDC00..\\uDFFF after it)", cp);
            return false;
        }
        d->pos += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    put_utf8(&d->scratch, (uint32_t)cp);
    return true;
}

static void *memo_key(dec *d, const char *text, size_t len)
{
    if (len > MEMO_MAX_LEN)
        return rcgc_str_new(d->kit, text, len);
    if (!d->memo) {
        d->memo = rcgc_calloc(rcgc_kit_heap(d->kit), MEMO_SLOTS, sizeof *d->memo);
        if (!d->memo)
            return rcgc_str_new(d->kit, text, len);
    }
    uint32_t h = 2166136261u; /* FNV-1a: cheap, and only picks a slot */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)text[i]) * 16777619u;
    void **slot = &d->memo[h & (MEMO_SLOTS - 1)];
    if (*slot && rcgc_str_len(*slot) == len && memcmp(rcgc_str_data(*slot), text, len) == 0)
        return rcgc_ref(*slot);
    void *s = rcgc_str_new(d->kit, text, len);
    if (s)
        RCGC_XSETREF(*slot, rcgc_ref(s));
    return s;
}

/* A string starting at the opening quote at d->pos; a new str or NULL.
** Member names (is_key) go through the memo. */
static void *parse_string(dec *d, bool is_key)
{
    size_t start = d->pos++;
    size_t run = d->pos; /* bytes [run, pos) not yet copied to scratch */
    bool escaped = false;
    rcgc_kit_buf_reset(&d->scratch);
    for (;;) {
        if (d->pos >= d->len) {
            fail_at(d, start, "unterminated string: expected a closing '\"' for the string "
                              "starting here");
            return NULL;
        }
        unsigned c = d->s[d->pos];
        if (c == '"')
            break;
        if (c == '\\') {
            rcgc_kit_buf_append(&d->scratch, d->s + run, d->pos - run);
            d->pos++;
            if (!parse_escape(d))
                return NULL;
            run = d->pos;
            escaped = true;
        } else if (c < 0x20) {
            fail_at(d, d->pos, "control character U+%04X in a string (escape it as \\u%04x)",
                    c, c);
            return NULL;
        } else if (c < 0x80) {
            d->pos++;
        } else {
            uint32_t cp;
            size_t n = rcgc__kit_utf8_seq(d->s + d->pos, d->len - d->pos, &cp);
            if (!n) {
                fail_at(d, d->pos, "invalid UTF-8 (byte 0x%02X) in a string", c);
                return NULL;
            }
            d->pos += n;
        }
    }
    const char *text = (const char *)d->s + run;
    size_t len = d->pos - run;
    if (escaped) {
        rcgc_kit_buf_append(&d->scratch, text, len);
        if (d->scratch.status != RCGC_OK) {
            fail_nomem(d);
            return NULL;
        }
        text = d->scratch.data;
        len = d->scratch.len;
    } else if (len == 0) {
        text = "";
    }
    d->pos++; /* the closing quote */
    /* valid UTF-8 by now: NULL means no memory */
    void *s = is_key ? memo_key(d, text, len) : rcgc_str_new(d->kit, text, len);
    if (!s)
        fail_nomem(d);
    return s;
}

static size_t digits(const dec *d, size_t at)
{
    size_t n = 0;
    while (at + n < d->len && d->s[at + n] >= '0' && d->s[at + n] <= '9')
        n++;
    return n;
}

/* The locale's decimal point, for strtod (JSON always writes '.'). */
static char decimal_point(void)
{
    char tmp[8];
    snprintf(tmp, sizeof tmp, "%.1f", 1.5);
    return tmp[1];
}

static void *parse_number(dec *d)
{
    size_t start = d->pos, at = d->pos;
    char tmp[16];
    if (d->s[at] == '-')
        at++;
    size_t n = digits(d, at);
    if (n == 0) {
        fail_at(d, at, "expected a digit after '-', found %s", describe(d, at, tmp));
        return NULL;
    }
    if (d->s[at] == '0' && n > 1) {
        fail_at(d, at, "leading zeros are not allowed in numbers");
        return NULL;
    }
    at += n;
    bool is_float = false;
    if (at < d->len && d->s[at] == '.') {
        is_float = true;
        if (!(n = digits(d, ++at))) {
            fail_at(d, at, "expected a digit after the decimal point, found %s",
                    describe(d, at, tmp));
            return NULL;
        }
        at += n;
    }
    if (at < d->len && (d->s[at] == 'e' || d->s[at] == 'E')) {
        is_float = true;
        if (++at < d->len && (d->s[at] == '+' || d->s[at] == '-'))
            at++;
        if (!(n = digits(d, at))) {
            fail_at(d, at, "expected a digit in the exponent, found %s", describe(d, at, tmp));
            return NULL;
        }
        at += n;
    }
    d->pos = at;
    size_t len = at - start;
    void *obj = NULL;
    if (!is_float) {
        rcgc_status st = rcgc_int_parse(d->kit, (const char *)d->s + start, len, &obj);
        if (st == RCGC_EINVAL)
            fail_at(d, start, "integer out of the 64-bit range");
        else if (st != RCGC_OK)
            fail_nomem(d);
        return obj;
    }
    /* strtod needs a NUL-terminated copy in the locale's notation. */
    rcgc_kit_buf_reset(&d->scratch);
    rcgc_kit_buf_append(&d->scratch, d->s + start, len);
    if (d->scratch.status != RCGC_OK) {
        fail_nomem(d);
        return NULL;
    }
    char *dot = memchr(d->scratch.data, '.', len);
    if (dot)
        *dot = decimal_point();
    double v = strtod(d->scratch.data, NULL);
    if (isinf(v)) {
        fail_at(d, start, "number out of the range of a double");
        return NULL;
    }
    obj = rcgc_float_new(d->kit, v);
    if (!obj)
        fail_nomem(d);
    return obj;
}

static void *parse_literal(dec *d)
{
    /* No table of strings: a pointer table would be writable data under
    ** -fPIC (.data.rel.ro). */
    int c = peek(d);
    const char *text = c == 't' ? "true" : c == 'f' ? "false" : c == 'n' ? "null" : NULL;
    if (!text) {
        char tmp[16];
        fail_at(d, d->pos, "expected a value (object, array, string, number, true, false or "
                           "null), found %s", describe(d, d->pos, tmp));
        return NULL;
    }
    size_t n = strlen(text);
    if (d->len - d->pos < n || memcmp(d->s + d->pos, text, n) != 0) {
        fail_at(d, d->pos, "invalid literal: expected '%s'", text);
        return NULL;
    }
    d->pos += n;
    return c == 't' ? rcgc_kit_true(d->kit)
                    : c == 'f' ? rcgc_kit_false(d->kit) : rcgc_kit_none(d->kit);
}

/* A dict key: a string, then ':'. Stored in the top frame. */
static bool parse_key(dec *d)
{
    char tmp[16];
    skip_ws(d);
    if (peek(d) != '"') {
        fail_at(d, d->pos, "expected a string (an object member name in double quotes), "
                           "found %s", describe(d, d->pos, tmp));
        return false;
    }
    void *key = parse_string(d, true);
    if (!key)
        return false;
    d->stack[d->depth - 1].key = key;
    skip_ws(d);
    if (peek(d) != ':') {
        fail_at(d, d->pos, "expected ':' after an object member name, found %s",
                describe(d, d->pos, tmp));
        return false;
    }
    d->pos++;
    return true;
}

static bool push(dec *d, void *obj, bool is_list)
{
    if (d->depth == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        frame *s = rcgc_realloc(rcgc_kit_heap(d->kit), d->stack, cap * sizeof *s);
        if (!s)
            return false;
        d->stack = s;
        d->cap = cap;
    }
    d->stack[d->depth++] = (frame){obj, NULL, is_list};
    return true;
}

/*
** The value loop. Each turn parses one value: a scalar, or the opening of a
** container (pushed; an empty one is closed at once). A complete value is
** then attached to the innermost open container, and every container that
** ends there is closed and attached in turn; a ',' leads to the next value.
*/
static void *parse(dec *d)
{
    char tmp[16];
    for (;;) {
        skip_ws(d);
        int c = peek(d);
        void *v = NULL;
        if (c == '[' || c == '{') {
            bool is_list = c == '[';
            if (d->depth >= d->max_depth) {
                fail_at(d, d->pos, "nesting deeper than %zu levels", d->max_depth);
                return NULL;
            }
            void *obj = is_list ? rcgc_list_new(d->kit, 0) : rcgc_dict_new(d->kit);
            if (!obj || !push(d, obj, is_list)) {
                rcgc_xunref(obj);
                fail_nomem(d);
                return NULL;
            }
            d->pos++;
            skip_ws(d);
            if (peek(d) == (is_list ? ']' : '}')) {
                d->pos++;
                v = d->stack[--d->depth].obj;
            } else if (is_list) {
                continue;
            } else {
                if (!parse_key(d))
                    return NULL;
                continue;
            }
        } else if (c == '"') {
            v = parse_string(d, false);
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            v = parse_number(d);
        } else {
            v = parse_literal(d);
        }
        if (!v)
            return NULL;
        /* Attach v and close what ends here. */
        for (;;) {
            if (d->depth == 0)
                return v;
            frame *f = &d->stack[d->depth - 1];
            rcgc_status st;
            if (f->is_list) {
                st = rcgc_list_append_take(f->obj, v);
            } else {
                st = rcgc_dict_set_take(f->obj, f->key, v);
                f->key = NULL;
            }
            if (st != RCGC_OK) {
                fail_nomem(d);
                return NULL;
            }
            skip_ws(d);
            c = peek(d);
            if (c == ',') {
                d->pos++;
                if (!f->is_list && !parse_key(d))
                    return NULL;
                break;
            }
            if (c == (f->is_list ? ']' : '}')) {
                d->pos++;
                v = f->obj;
                d->depth--;
                continue;
            }
            fail_at(d, d->pos, f->is_list ? "expected ',' or ']' after an array element, "
                                            "found %s"
                                          : "expected ',' or '}' after an object member, "
                                            "found %s",
                    describe(d, d->pos, tmp));
            return NULL;
        }
    }
}

rcgc_status rcgc_json_decode(rcgc_kit *kit, const char *text, size_t len,
                             const rcgc_json_options *opt, void **out, rcgc_json_error *err)
{
    rcgc_json_options def;
    opt = options_or_default(opt, &def);
    dec d = {.kit = kit, .s = (const unsigned char *)text, .len = len,
             .max_depth = opt->max_depth, .err = err};
    rcgc_kit_buf_init(&d.scratch, rcgc_kit_heap(kit));
    clear_error(err);
    *out = NULL;
    void *v = NULL;
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3))
        fail_at(&d, 0, "a UTF-8 byte order mark is not allowed (RFC 8259, section 8.1)");
    else
        v = parse(&d);
    if (v) {
        skip_ws(&d);
        if (d.pos < d.len) {
            char tmp[16];
            fail_at(&d, d.pos, "expected the end of input after the JSON value, found %s",
                    describe(&d, d.pos, tmp));
            RCGC_CLEAR(v);
        }
    }
    /* On failure the open containers (and pending keys) are still ours. */
    while (d.depth) {
        frame *f = &d.stack[--d.depth];
        rcgc_xunref(f->key);
        rcgc_unref(f->obj);
    }
    rcgc_free(rcgc_kit_heap(kit), d.stack);
    for (size_t i = 0; d.memo && i < MEMO_SLOTS; i++)
        rcgc_xunref(d.memo[i]);
    rcgc_free(rcgc_kit_heap(kit), d.memo);
    rcgc_kit_buf_fini(&d.scratch);
    *out = v;
    return d.status;
}
