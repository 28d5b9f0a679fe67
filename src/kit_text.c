/*
** kit_text.c -- text output for the kit: the byte buffer (growable in the
** heap's raw memory, or fixed in caller memory, with sticky errors), Python's
** float repr (shortest round-trip digits) and repr()/str() of every kit
** object. Uses only the public API and kit.h.
*/
#include <float.h>
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
/* The n (1-17) significant digits of finite v correctly rounded, as "%.*e"
** prints them: the digits into digits[0..n), the decimal exponent of the
** first into *exp. */
static void libc_digits(double v, int n, char *digits, int *exp)
{
    char tmp[40];
    snprintf(tmp, sizeof tmp, "%.*e", n - 1, v);
    /* tmp = [-]d[<point>ddd]e<sign>XX */
    const char *p = tmp + (*tmp == '-');
    int nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[nd++] = *p;
    *exp = *p == 'e' ? atoi(p + 1) : 0;
}

int rcgc__kit_float_digits_libc(double v, char *digits, int *exp)
{
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
    libc_digits(v, lo, digits, exp);
    return lo;
}

#if defined(__SIZEOF_INT128__) && FLT_RADIX == 2 && DBL_MANT_DIG == 53
/* The same search done exactly in integers, without formatting and parsing
** text, for 2^-24 <= |v| < 2^53 (the values views print). v = M * 2^E with
** 2^52 <= M < 2^53; every product below is bounded by the size of the
** numbers compared (within a factor of 100 of M or of N), so 128 bits hold
** it. */
__extension__ typedef unsigned __int128 kit_u128;

static const uint64_t pow5[25] = {
    1ULL, 5ULL, 25ULL, 125ULL, 625ULL, 3125ULL, 15625ULL, 78125ULL, 390625ULL,
    1953125ULL, 9765625ULL, 48828125ULL, 244140625ULL, 1220703125ULL,
    6103515625ULL, 30517578125ULL, 152587890625ULL, 762939453125ULL,
    3814697265625ULL, 19073486328125ULL, 95367431640625ULL, 476837158203125ULL,
    2384185791015625ULL, 11920928955078125ULL, 59604644775390625ULL};

/* M * 2^E >= 10^j (the callers keep j within 2 of v's decimal exponent). */
static bool ge_pow10(uint64_t m, int e, int j)
{
    if (j >= 0) /* m >= 5^j * 2^(j - e); e <= 0 */
        return (kit_u128)m >= (kit_u128)pow5[j] << (j - e);
    int k = -e + j; /* m * 5^-j >= 2^k */
    return k < 0 || (kit_u128)m * pow5[-j] >= (kit_u128)1 << k;
}

/* N * 10^p compared with R * 2^r: -1, 0 or 1. */
static int cmp_dec_bin(uint64_t n, int p, uint64_t r, int er)
{
    kit_u128 a, b;
    if (p >= 0) { /* N 5^p 2^(p - er) vs R; p - er > 0 */
        a = ((kit_u128)n * pow5[p]) << (p - er);
        b = r;
    } else { /* N vs R 5^q 2^(er + q) */
        int s = er - p;
        a = n;
        b = (kit_u128)r * pow5[-p];
        if (s >= 0)
            b <<= s;
        else
            a <<= -s;
    }
    return (a > b) - (a < b);
}

/* M * 2^E rounded half-even to a multiple of 10^p, divided by 10^p. */
static uint64_t round_at(uint64_t m, int e, int p)
{
    kit_u128 q, rem, half2, den;
    if (p <= 0) {
        kit_u128 a = (kit_u128)m * pow5[-p];
        int s = e - p;
        if (s >= 0)
            return (uint64_t)(a << s);
        q = a >> -s;
        rem = (a & (((kit_u128)1 << -s) - 1)) << 1;
        den = (kit_u128)1 << -s;
    } else {
        den = (kit_u128)pow5[p] << (p - e);
        q = m / den;
        rem = (m % den) << 1;
    }
    half2 = den;
    if (rem > half2 || (rem == half2 && (q & 1)))
        q++;
    return (uint64_t)q;
}

static int fast_digits(double v, char *digits, int *exp)
{
    int be;
    double f = frexp(fabs(v), &be); /* |v| = f 2^be, 0.5 <= f < 1 */
    if (be < -23 || be > 53)
        return 0;
    uint64_t m = (uint64_t)ldexp(f, 53);
    int e = be - 53;
    /* x = floor(log10 |v|): 2^(be-1) <= |v| < 2^be puts it at g or g + 1,
    ** g = floor((be - 1) log10 2), taken here from 315653 / 2^20. */
    int t = (be - 1) * 315653;
    int x = t >= 0 ? t / (1 << 20) : -((-t + (1 << 20) - 1) / (1 << 20));
    if (ge_pow10(m, e, x + 1))
        x++;
    else if (!ge_pow10(m, e, x))
        x--;
    /* The round-trip interval: the midpoints to the neighbours, ties go to
    ** the even significand. Below a power of two the neighbour is closer. */
    bool even = !(m & 1);
    uint64_t up = 2 * m + 1, down = 2 * m - 1;
    int eup = e - 1, edown = e - 1;
    if (m == (uint64_t)1 << 52) {
        down = 4 * m - 1;
        edown = e - 2;
    }
    int lo = 1, hi = 17;
    while (lo < hi) {
        int mid = (lo + hi) / 2, p = x - mid + 1;
        uint64_t n = round_at(m, e, p);
        int cu = cmp_dec_bin(n, p, up, eup), cd = cmp_dec_bin(n, p, down, edown);
        if ((cu < 0 || (cu == 0 && even)) && (cd > 0 || (cd == 0 && even)))
            hi = mid;
        else
            lo = mid + 1;
    }
    uint64_t n = round_at(m, e, x - lo + 1);
    uint64_t top = 1;
    for (int i = 0; i < lo; i++)
        top *= 10;
    if (n == top) { /* rounded up to the next power of ten */
        n /= 10;
        x++;
    }
    for (int i = lo - 1; i >= 0; i--) {
        digits[i] = (char)('0' + n % 10);
        n /= 10;
    }
    *exp = x;
    return lo;
}
#else
static int fast_digits(double v, char *digits, int *exp)
{
    (void)v, (void)digits, (void)exp;
    return 0;
}
#endif

int rcgc__kit_float_digits(double v, char *digits, int *exp)
{
    if (v == 0) {
        digits[0] = '0';
        *exp = 0;
        return 1;
    }
    int nd = fast_digits(v, digits, exp);
    return nd ? nd : rcgc__kit_float_digits_libc(v, digits, exp);
}

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
    char digits[24];
    int exp;
    size_t nd = (size_t)rcgc__kit_float_digits(v, digits, &exp);
    bool neg = signbit(v);
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
