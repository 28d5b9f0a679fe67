/*
** memdebug.c -- the allocator's debug mode (RCGC_MEM_DEBUG) and its reports:
** block framing (size, API id, guard bytes), fill patterns, the checks done
** on free, on reuse and by rcgc_heap_check, and the panic report for a bad
** block or a pointer that is not ours. Owns no state; pool.c/mem.c call in.
*/
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "trace.h" /* allocation sites in reports (rcgc__trace_describe) */

/*
** Debug block layout (user pointer p = block + 16):
**   block[0..8)    requested size n (size_t)
**   block[8]       API id: 'r' raw (rcgc_malloc family), 'o' object
**   block[9..16)   7 x 0xFD (leading guard)
**   p[0..n)        data: 0xCD when new (0x00 for calloc and objects)
**   p[n..end)      >= 8 x 0xFD up to the end of the block (trailing guard)
** A freed pool block reads 0xDD after its 8-byte free-list link; a write
** there is caught when the block is reused or the heap is checked.
*/

void *rcgc__dbg_frame(void *block, size_t total, size_t n, char id, bool zero)
{
    unsigned char *b = block;
    memcpy(b, &n, sizeof n);
    b[8] = (unsigned char)id;
    memset(b + 9, RCGC__FORBIDDENBYTE, 7);
    memset(b + RCGC__DBG_HDR, zero ? 0 : RCGC__CLEANBYTE, n);
    memset(b + RCGC__DBG_HDR + n, RCGC__FORBIDDENBYTE, total - RCGC__DBG_HDR - n);
    return b + RCGC__DBG_HDR;
}

void rcgc__dbg_kill(void *block, size_t total)
{
    memset(block, RCGC__DEADBYTE, total);
}

/* ===================================================================== */
/* Reports                                                                */
/* ===================================================================== */

struct report {
    char text[8192];
    size_t len;
};

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void add(struct report *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (r->len < sizeof r->text) {
        int n = vsnprintf(r->text + r->len, sizeof r->text - r->len, fmt, ap);
        if (n > 0)
            r->len += (size_t)n;
        if (r->len >= sizeof r->text)
            r->len = sizeof r->text - 1;
    }
    va_end(ap);
}

static void hexdump(struct report *r, const unsigned char *from, size_t n, const unsigned char *mark)
{
    for (size_t i = 0; i < n; i += 16) {
        add(r, "    %p:", (const void *)(from + i));
        for (size_t j = i; j < i + 16 && j < n; j++)
            add(r, from + j == mark ? " [%02x]" : " %02x", from[j]);
        add(r, "\n");
    }
}

static const char *api_name(unsigned char id)
{
    return id == 'r' ? "raw (rcgc_malloc family)" : id == 'o' ? "object" : "unknown";
}

/* CPython's _PyObject_DebugDumpAddress, adapted: p is the user pointer,
** 'total' the whole block. */
static void dump_block(struct report *r, const unsigned char *p, size_t total)
{
    const unsigned char *b = p - RCGC__DBG_HDR;
    size_t n;
    memcpy(&n, b, sizeof n);
    add(r, "Debug memory block at address p=%p: API '%c' (%s)\n", (const void *)p,
        b[8] >= 32 && b[8] < 127 ? b[8] : '?', api_name(b[8]));
    bool size_ok = n <= total - RCGC__DBG_HDR - RCGC__DBG_TAIL;
    add(r, "    %zu bytes originally requested%s\n", n,
        size_ok ? "" : " (impossible: the size field is corrupt)");
    bool lead_ok = true;
    for (int i = 9; i < 16; i++)
        lead_ok &= b[i] == RCGC__FORBIDDENBYTE;
    if (lead_ok) {
        add(r, "    The 7 pad bytes at p-7 are FORBIDDENBYTE, as expected.\n");
    } else {
        add(r, "    The 7 pad bytes at p-7 are not all FORBIDDENBYTE (0x%02x):\n",
            RCGC__FORBIDDENBYTE);
        for (int i = 9; i < 16; i++)
            add(r, "        at p-%d: 0x%02x%s\n", 16 - i, b[i],
                b[i] == RCGC__FORBIDDENBYTE ? "" : " *** OUCH");
    }
    if (size_ok) {
        const unsigned char *tail = p + n;
        size_t ntail = total - RCGC__DBG_HDR - n;
        bool tail_ok = true;
        for (size_t i = 0; i < ntail; i++)
            tail_ok &= tail[i] == RCGC__FORBIDDENBYTE;
        if (tail_ok) {
            add(r, "    The %zu pad bytes at tail=%p are FORBIDDENBYTE, as expected.\n", ntail,
                (const void *)tail);
        } else {
            add(r, "    The %zu pad bytes at tail=%p are not all FORBIDDENBYTE (0x%02x):\n",
                ntail, (const void *)tail, RCGC__FORBIDDENBYTE);
            for (size_t i = 0; i < ntail && i < 16; i++)
                add(r, "        at tail+%zu: 0x%02x%s\n", i, tail[i],
                    tail[i] == RCGC__FORBIDDENBYTE ? "" : " *** OUCH");
        }
        add(r, "    Data at p:");
        size_t show = n <= 16 ? n : 8;
        for (size_t i = 0; i < show; i++)
            add(r, " %02x", p[i]);
        if (n > 16) {
            add(r, " ...");
            for (size_t i = n - 8; i < n; i++)
                add(r, " %02x", p[i]);
        }
        add(r, "\n");
    }
    add(r, "    Hex dump of the block (%zu bytes):\n", total);
    hexdump(r, b, total <= 96 ? total : 96, NULL);
}

/* Where the block was allocated, from the tracer when the heap is traced
** (trace.h's hook, behind 'if (heap->trace)' as for the allocation hooks).
** 'key' is the block's trace key: the pointer the allocation hook was
** given, i.e. the user pointer of the debug framing (a raw block's user
** pointer, an object's header). 'freed': the block is not allocated. */
static void alloc_site(struct rcgc__mem *m, struct report *r, const void *key, bool freed)
{
    rcgc_heap *heap = (rcgc_heap *)m;
    if (!heap->trace) {
        add(r, "    Enable tracing to get the memory block allocation traceback\n");
        return;
    }
    if (r->len + 1 < sizeof r->text)
        r->len += rcgc__trace_describe(heap, key, freed, r->text + r->len,
                                       sizeof r->text - r->len);
}

#if defined(__GNUC__)
__attribute__((noreturn))
#endif
static void fatal(struct rcgc__mem *m, struct report *r, const char *what)
{
    add(r, "Fatal rcgc error: %s\n", what);
    rcgc_heap *heap = (rcgc_heap *)m;
    if (heap->panic)
        heap->panic(heap->hook_ctx, r->text);
    abort();
}

/* ===================================================================== */
/* Checks                                                                 */
/* ===================================================================== */

/* What is wrong with the framing of user pointer p (NULL when nothing). */
static const char *frame_fault(const unsigned char *p, size_t total, char want_id,
                               char *buf, size_t bufsize)
{
    const unsigned char *b = p - RCGC__DBG_HDR;
    size_t n;
    memcpy(&n, b, sizeof n);
    if (want_id && b[8] != (unsigned char)want_id) {
        snprintf(buf, bufsize, "bad ID: Allocated using API '%c', verified using API '%c'",
                 b[8] >= 32 && b[8] < 127 ? b[8] : '?', want_id);
        return buf;
    }
    if (!want_id && b[8] != 'r' && b[8] != 'o')
        return "bad API id byte";
    for (int i = 9; i < 16; i++)
        if (b[i] != RCGC__FORBIDDENBYTE)
            return "bad leading pad byte";
    if (n > total - RCGC__DBG_HDR - RCGC__DBG_TAIL)
        return "bad size field (block header overwritten)";
    for (size_t i = RCGC__DBG_HDR + n; i < total; i++)
        if (b[i] != RCGC__FORBIDDENBYTE)
            return "bad trailing pad byte";
    return NULL;
}

size_t rcgc__dbg_verify(struct rcgc__mem *m, const void *p, size_t total, char id,
                        const char *op)
{
    char buf[160];
    const char *fault = frame_fault(p, total, id, buf, sizeof buf);
    if (fault) {
        struct report r = {{0}, 0};
        add(&r, "rcgc: %s(%p): %s\n", op, p, fault);
        dump_block(&r, p, total);
        alloc_site(m, &r, p, false);
        fatal(m, &r, fault);
    }
    size_t n;
    memcpy(&n, (const char *)p - RCGC__DBG_HDR, sizeof n);
    return n;
}

static size_t first_undead(const unsigned char *b, size_t total)
{
    for (size_t i = sizeof(void *); i < total; i++)
        if (b[i] != RCGC__DEADBYTE)
            return i;
    return total;
}

static void write_after_free(struct report *r, const unsigned char *b, size_t total, size_t at)
{
    add(r, "Freed debug memory block at address %p (%zu-byte block) was written after "
           "it was freed: byte at block+%zu is 0x%02x, expected DEADBYTE (0x%02x)\n",
        (const void *)b, total, at, b[at], RCGC__DEADBYTE);
    add(r, "    Hex dump of the block:\n");
    hexdump(r, b, total <= 96 ? total : 96, b + at);
}

void rcgc__dbg_check_dead(struct rcgc__mem *m, const void *block, size_t total)
{
    size_t at = first_undead(block, total);
    if (at == total)
        return;
    struct report r = {{0}, 0};
    add(&r, "rcgc: reusing a freed block: ");
    write_after_free(&r, block, total, at);
    alloc_site(m, &r, (const unsigned char *)block + RCGC__DBG_HDR, true);
    fatal(m, &r, "write after free");
}

size_t rcgc__dbg_scan_dead(struct rcgc__mem *m, const void *block, size_t total)
{
    size_t at = first_undead(block, total);
    if (at == total)
        return 0;
    struct report r = {{0}, 0};
    add(&r, "rcgc: allocator: ");
    write_after_free(&r, block, total, at);
    alloc_site(m, &r, (const unsigned char *)block + RCGC__DBG_HDR, true);
    rcgc_heap_printf((rcgc_heap *)m, "%s", r.text);
    return 1;
}

size_t rcgc__dbg_scan_live(struct rcgc__mem *m, const void *user, size_t total)
{
    char buf[160];
    const char *fault = frame_fault(user, total, 0, buf, sizeof buf);
    if (!fault)
        return 0;
    struct report r = {{0}, 0};
    add(&r, "rcgc: allocator: live block %p: %s\n", user, fault);
    dump_block(&r, user, total);
    alloc_site(m, &r, user, false);
    rcgc_heap_printf((rcgc_heap *)m, "%s", r.text);
    return 1;
}

/* ===================================================================== */
/* Pointers that are not live blocks of ours                              */
/* ===================================================================== */

void rcgc__mem_bad_pointer(struct rcgc__mem *m, const void *p, const char *op,
                           const char *why)
{
    struct report r = {{0}, 0};
    const char *b = m->debug ? (const char *)p - RCGC__DBG_HDR : (const char *)p;
    const char *what = why;
    const void *obj = NULL; /* an object's header, when p is the object */
    if (!what && ((uintptr_t)p & (RCGC__ALIGN - 1)) == 0 &&
        (uintptr_t)p - (uintptr_t)m->base < m->region_bytes &&
        rcgc__mem_is_obj_block(m, (const char *)p - sizeof(rcgc__head))) {
        what = "bad ID: Allocated using API 'o', verified using API 'r' (an rcgc object "
               "passed to the raw API; drop objects with rcgc_unref)";
        obj = (const char *)p - sizeof(rcgc__head);
    }
    if (!what) {
        if ((uintptr_t)p - (uintptr_t)m->base >= m->region_bytes) {
            what = "pointer was never allocated by this heap";
        } else {
            struct rcgc__pool *pool = rcgc__seg_owner(m, b);
            if (!pool) {
                what = "pointer lies in this heap's region but in no allocated block";
            } else if (pool->kind != RCGC__SEG_POOL) {
                what = pool->kind == RCGC__SEG_RUN_OBJ
                           ? "pointer lies in an object block (wrong API family, or not the block start)"
                           : "pointer lies in the allocator's own tables";
            } else {
                uintptr_t off = (uintptr_t)b - (uintptr_t)pool;
                bool start = ((uintptr_t)b & 15) == 0 && off >= RCGC__POOL_HDR &&
                             (off - RCGC__POOL_HDR) % pool->size == 0;
                if (!start)
                    what = "pointer is not the start of a block";
                else if (off >= pool->nextoffset || !rcgc__pool_is_live(pool, b))
                    what = "block is not allocated (double free, or freed earlier)";
                else if (pool->family == RCGC__FAM_OBJ)
                    what = "block belongs to the object API (wrong API family: "
                           "allocated as 'o', used as 'r')";
                else
                    what = "raw block used through the object API (wrong API family: "
                           "allocated as 'r', used as 'o')";
                add(&r, "rcgc: %s(%p): %s\n", op, p, what);
                add(&r, "    pool %p, size class %u bytes, %u of %u blocks in use\n",
                    (void *)pool, pool->size, pool->nused, pool->capacity);
                if (start) {
                    add(&r, "    Hex dump of the %u-byte block:\n", pool->size);
                    hexdump(&r, (const unsigned char *)b, pool->size <= 96 ? pool->size : 96,
                            NULL);
                    /* p is the block's trace key (its debug user pointer). */
                    alloc_site(m, &r, p, off >= pool->nextoffset || !rcgc__pool_is_live(pool, b));
                }
                fatal(m, &r, what);
            }
        }
    }
    add(&r, "rcgc: %s(%p): %s\n", op, p, what);
    if (obj)
        alloc_site(m, &r, obj, false);
    fatal(m, &r, what);
}

bool rcgc_ptr_is_freed(const void *p)
{
    uintptr_t v = (uintptr_t)p;
    if (v == 0)
        return true;
    static const unsigned char pats[3] = {RCGC__CLEANBYTE, RCGC__DEADBYTE, RCGC__FORBIDDENBYTE};
    for (int i = 0; i < 3; i++) {
        uintptr_t w;
        memset(&w, pats[i], sizeof w);
        if (v == w)
            return true;
    }
    return false;
}
