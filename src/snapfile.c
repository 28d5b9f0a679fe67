/*
** snapfile.c -- the snapshot file format (docs/formats.md): one writer and
** ONE reader, used by the library and by tools/rcgc-snap alike. The reader
** treats its input as hostile: every count is checked against the bytes
** that are actually present before anything is allocated, every id against
** its table, and a CRC-32 covers the whole file.
*/
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "trace.h"

#define MAGIC "RCGCSNAP"
#define VERSION 1u
#define HEADER_BYTES 48u
#define TRAILER_BYTES 4u
/* Fixed record sizes (bytes), see docs/formats.md. */
#define STRING_MIN 4u
#define TB_HEAD 8u
#define FRAME_BYTES 20u
#define TRACE_BYTES 28u

/* ===================================================================== */
/* CRC-32 (IEEE 802.3, reflected, as zlib's crc32), nibble table         */
/* ===================================================================== */

static const uint32_t CRC_NIBBLE[16] = {
    0x00000000u, 0x1db71064u, 0x3b6e20c8u, 0x26d930acu, 0x76dc4190u, 0x6b6b51f4u,
    0x4db26158u, 0x5005713cu, 0xedb88320u, 0xf00f9344u, 0xd6d6a3e8u, 0xcb61b38cu,
    0x9b64c2b0u, 0x86d3d2d4u, 0xa00ae278u, 0xbdbdf21cu};

uint32_t rcgc__snap_crc32(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        c = (c >> 4) ^ CRC_NIBBLE[c & 15];
        c = (c >> 4) ^ CRC_NIBBLE[c & 15];
    }
    return c ^ 0xFFFFFFFFu;
}

/* ===================================================================== */
/* Writer                                                                */
/* ===================================================================== */

struct wbuf {
    unsigned char *p;
    size_t n, cap;
    bool failed;
};

static void put(struct wbuf *w, const void *src, size_t n)
{
    if (w->failed)
        return;
    if (w->cap - w->n < n) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap - w->n < n) {
            if (cap > SIZE_MAX / 2) {
                w->failed = true;
                return;
            }
            cap *= 2;
        }
        unsigned char *np = realloc(w->p, cap);
        if (!np) {
            w->failed = true;
            return;
        }
        w->p = np;
        w->cap = cap;
    }
    memcpy(w->p + w->n, src, n);
    w->n += n;
}

static void put_u16(struct wbuf *w, uint16_t v)
{
    unsigned char b[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    put(w, b, 2);
}

static void put_u32(struct wbuf *w, uint32_t v)
{
    unsigned char b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    put(w, b, 4);
}

static void put_u64(struct wbuf *w, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    put(w, b, 8);
}

static void put_f32(struct wbuf *w, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    put_u32(w, v);
}

rcgc_status rcgc_snapshot_dump_buffer(const rcgc_snapshot *s, void **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    if (!s)
        return RCGC_EINVAL;
    struct wbuf w = {0};
    uint32_t nstr = s->nstrs ? (uint32_t)s->nstrs - 1 : 0;
    put(&w, MAGIC, 8);
    put_u16(&w, VERSION);
    put_u16(&w, HEADER_BYTES);
    put_u32(&w, 0);
    put_u32(&w, s->limit);
    put_u32(&w, 0);
    put_u64(&w, s->sample_mean);
    put_u32(&w, nstr);
    put_u32(&w, (uint32_t)s->ntbs);
    put_u64(&w, s->ntraces);
    for (uint32_t id = 1; id <= nstr; id++) {
        size_t n = strlen(s->strs[id]);
        put_u32(&w, (uint32_t)n);
        put(&w, s->strs[id], n);
    }
    for (size_t i = 0; i < s->ntbs; i++) {
        const rcgc_traceback *tb = s->tbs[i];
        put_u32(&w, tb->nframe);
        put_u32(&w, tb->total_nframe);
        for (uint32_t k = 0; k < tb->nframe; k++) {
            const rcgc__frame *f = &tb->frames[k];
            put_u32(&w, rcgc__snap_str_find(s, f->file));
            put_u32(&w, rcgc__snap_str_find(s, f->func));
            put_u32(&w, f->line);
            put_u64(&w, f->pc);
        }
    }
    for (size_t i = 0; i < s->ntraces; i++) {
        const rcgc__snaptrace *t = &s->traces[i];
        put_u32(&w, t->domain);
        put_u32(&w, t->tb);
        put_u64(&w, t->size);
        put_u32(&w, t->type);
        put_u32(&w, t->tag);
        put_f32(&w, t->weight);
    }
    if (!w.failed)
        put_u32(&w, rcgc__snap_crc32(w.p, w.n));
    if (w.failed) {
        free(w.p);
        return RCGC_ENOMEM;
    }
    *buf = w.p;
    *len = w.n;
    return RCGC_OK;
}

rcgc_status rcgc_snapshot_dump(const rcgc_snapshot *s, const char *path)
{
    void *buf;
    size_t len;
    rcgc_status st = rcgc_snapshot_dump_buffer(s, &buf, &len);
    if (st != RCGC_OK)
        return st;
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(buf);
        return RCGC_EIO;
    }
    bool ok = fwrite(buf, 1, len, f) == len;
    ok &= fclose(f) == 0;
    free(buf);
    return ok ? RCGC_OK : RCGC_EIO;
}

/* ===================================================================== */
/* Reader                                                                */
/* ===================================================================== */

struct rbuf {
    const unsigned char *p;
    size_t n, at;
    char *err;
    size_t errcap;
};

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static rcgc_status fail(struct rbuf *r, const char *fmt, ...)
{
    if (r->err && r->errcap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err, r->errcap, fmt, ap);
        va_end(ap);
    }
    return RCGC_EFORMAT;
}

static size_t left(const struct rbuf *r)
{
    return r->n - r->at;
}

static uint32_t get_u32(struct rbuf *r)
{
    const unsigned char *b = r->p + r->at;
    r->at += 4;
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint16_t get_u16(struct rbuf *r)
{
    const unsigned char *b = r->p + r->at;
    r->at += 2;
    return (uint16_t)(b[0] | b[1] << 8);
}

static uint64_t get_u64(struct rbuf *r)
{
    uint64_t lo = get_u32(r);
    return lo | (uint64_t)get_u32(r) << 32;
}

static float get_f32(struct rbuf *r)
{
    uint32_t v = get_u32(r);
    float f;
    memcpy(&f, &v, 4);
    return f;
}

/* Room for 'count' records of at least 'each' bytes? */
static bool fits(const struct rbuf *r, uint64_t count, uint64_t each)
{
    return each == 0 || count <= left(r) / each;
}

static rcgc_status parse(struct rbuf *r, rcgc_snapshot *s)
{
    if (r->n < HEADER_BYTES + TRAILER_BYTES)
        return fail(r, "truncated: %zu bytes, a snapshot has at least %u", r->n,
                    HEADER_BYTES + TRAILER_BYTES);
    if (memcmp(r->p, MAGIC, 8) != 0)
        return fail(r, "not an rcgc snapshot (bad magic)");
    r->at = 8;
    unsigned version = get_u16(r), hbytes = get_u16(r);
    if (version != VERSION)
        return fail(r, "unsupported snapshot version %u (this build reads version %u)",
                    version, VERSION);
    if (hbytes != HEADER_BYTES)
        return fail(r, "bad header size %u (version 1 has %u)", hbytes, HEADER_BYTES);
    uint32_t stored = (uint32_t)r->p[r->n - 4] | (uint32_t)r->p[r->n - 3] << 8 |
                      (uint32_t)r->p[r->n - 2] << 16 | (uint32_t)r->p[r->n - 1] << 24;
    if (rcgc__snap_crc32(r->p, r->n - 4) != stored)
        return fail(r, "checksum mismatch: the file is corrupted or truncated");
    r->n -= TRAILER_BYTES; /* the body ends before the CRC */
    uint32_t flags = get_u32(r);
    if (flags != 0)
        return fail(r, "unknown flags 0x%x", flags);
    s->limit = get_u32(r);
    if (s->limit < 1 || s->limit > RCGC_TRACE_MAX_FRAMES)
        return fail(r, "traceback limit %u outside [1; %u]", s->limit, RCGC_TRACE_MAX_FRAMES);
    (void)get_u32(r);
    s->sample_mean = get_u64(r);
    uint32_t nstr = get_u32(r), ntb = get_u32(r);
    uint64_t ntr = get_u64(r);
    /* Every count must fit the bytes present before we allocate for it. */
    if (!fits(r, nstr, STRING_MIN))
        return fail(r, "%u strings cannot fit in %zu bytes", nstr, left(r));
    rcgc_status st = RCGC_ENOMEM;
    uint32_t *smap = calloc((size_t)nstr + 1, sizeof *smap);
    uint32_t *tmap = NULL;
    rcgc__frame *fr = NULL;
    if (!smap)
        goto out;
    for (uint32_t i = 1; i <= nstr; i++) {
        if (left(r) < 4) {
            st = fail(r, "truncated in string %u", i);
            goto out;
        }
        uint32_t len = get_u32(r);
        if (len > left(r)) {
            st = fail(r, "string %u: length %u past the end", i, len);
            goto out;
        }
        const char *p = (const char *)r->p + r->at;
        if (memchr(p, '\0', len)) {
            st = fail(r, "string %u contains a NUL byte", i);
            goto out;
        }
        r->at += len;
        if (!(smap[i] = rcgc__snap_str(s, p, len)))
            goto out;
    }
    if (!fits(r, ntb, TB_HEAD + FRAME_BYTES)) {
        st = fail(r, "%u tracebacks cannot fit in %zu bytes", ntb, left(r));
        goto out;
    }
    tmap = calloc((size_t)ntb + 1, sizeof *tmap);
    size_t frcap = 0; /* grows to the longest traceback actually present */
    if (!tmap)
        goto out;
    for (uint32_t i = 0; i < ntb; i++) {
        if (left(r) < TB_HEAD) {
            st = fail(r, "truncated in traceback %u", i);
            goto out;
        }
        uint32_t nf = get_u32(r), total = get_u32(r);
        if (nf < 1 || nf > RCGC_TRACE_MAX_FRAMES || total < nf) {
            st = fail(r, "traceback %u: %u frames of %u (need 1 <= frames <= total, "
                         "frames <= %u)", i, nf, total, RCGC_TRACE_MAX_FRAMES);
            goto out;
        }
        if (!fits(r, nf, FRAME_BYTES)) {
            st = fail(r, "traceback %u: %u frames past the end", i, nf);
            goto out;
        }
        if (nf > frcap) {
            rcgc__frame *nfr = realloc(fr, (size_t)nf * sizeof *fr);
            if (!nfr)
                goto out;
            fr = nfr;
            frcap = nf;
        }
        for (uint32_t k = 0; k < nf; k++) {
            uint32_t file = get_u32(r), func = get_u32(r);
            if (file < 1 || file > nstr || func < 1 || func > nstr) {
                st = fail(r, "traceback %u frame %u: string id out of range [1; %u]", i, k,
                          nstr);
                goto out;
            }
            fr[k].file = s->strs[smap[file]];
            fr[k].func = s->strs[smap[func]];
            fr[k].line = get_u32(r);
            fr[k].pc = (uintptr_t)get_u64(r);
            fr[k].pad_ = 0;
        }
        if (!rcgc__snap_tb(s, fr, nf, total, &tmap[i]))
            goto out;
    }
    if (!fits(r, ntr, TRACE_BYTES) || left(r) != ntr * TRACE_BYTES) {
        st = fail(r, "%llu traces need %llu bytes, %zu are left",
                  (unsigned long long)ntr,
                  (unsigned long long)(ntr <= UINT64_MAX / TRACE_BYTES ? ntr * TRACE_BYTES
                                                                       : UINT64_MAX),
                  left(r));
        goto out;
    }
    if (ntr) {
        s->traces = malloc((size_t)ntr * sizeof *s->traces);
        if (!s->traces)
            goto out;
        s->captraces = (size_t)ntr;
    }
    for (uint64_t i = 0; i < ntr; i++) {
        rcgc__snaptrace t = {0};
        t.domain = get_u32(r);
        uint32_t tb = get_u32(r);
        t.size = get_u64(r);
        uint32_t type = get_u32(r), tag = get_u32(r);
        t.weight = get_f32(r);
        if (tb >= ntb || type > nstr || tag > nstr) {
            st = fail(r, "trace %llu: traceback or string id out of range",
                      (unsigned long long)i);
            goto out;
        }
        if (!(t.weight >= 1.0f) || isinf(t.weight)) {
            st = fail(r, "trace %llu: weight must be a finite number >= 1",
                      (unsigned long long)i);
            goto out;
        }
        t.tb = tmap[tb];
        t.type = smap[type];
        t.tag = smap[tag];
        s->traces[s->ntraces++] = t;
    }
    st = RCGC_OK;
out:
    if (st == RCGC_ENOMEM)
        fail(r, "out of memory");
    free(smap);
    free(tmap);
    free(fr);
    return st;
}

rcgc_status rcgc_snapshot_load_buffer(const void *buf, size_t len, rcgc_snapshot **out,
                                      char *err, size_t errcap)
{
    *out = NULL;
    if (err && errcap)
        err[0] = '\0';
    struct rbuf r = {buf, len, 0, err, errcap};
    if (!buf && len)
        return RCGC_EINVAL;
    rcgc_snapshot *s = rcgc_snapshot_new(1);
    if (!s)
        return RCGC_ENOMEM;
    rcgc_status st = parse(&r, s);
    if (st != RCGC_OK) {
        rcgc_snapshot_free(s);
        return st;
    }
    *out = s;
    return RCGC_OK;
}

rcgc_status rcgc_snapshot_load(const char *path, rcgc_snapshot **out, char *err, size_t errcap)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (err && errcap)
            snprintf(err, errcap, "%s: %s", path, strerror(errno));
        return RCGC_EIO;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        if (err && errcap)
            snprintf(err, errcap, "%s: not a regular file", path);
        fclose(f);
        return RCGC_EIO;
    }
    /* The buffer is the file's own size: never more than the input. */
    size_t n = (size_t)sb.st_size;
    unsigned char *buf = malloc(n ? n : 1);
    if (!buf) {
        fclose(f);
        if (err && errcap)
            snprintf(err, errcap, "%s: out of memory for %zu bytes", path, n);
        return RCGC_ENOMEM;
    }
    size_t got = fread(buf, 1, n, f);
    bool ioerr = ferror(f) != 0;
    fclose(f);
    if (ioerr || got != n) {
        free(buf);
        if (err && errcap)
            snprintf(err, errcap, "%s: read error", path);
        return RCGC_EIO;
    }
    rcgc_status st = rcgc_snapshot_load_buffer(buf, n, out, err, errcap);
    free(buf);
    if (st == RCGC_EFORMAT && err && errcap) {
        char tmp[256];
        snprintf(tmp, sizeof tmp, "%s", err);
        snprintf(err, errcap, "%s: %s", path, tmp);
    }
    return st;
}
