/*
** mem.h -- the allocator layer's internal interface (region, pools, raw API).
** Owned by region.c / pool.c / mem.c. Layers above (object, gc, weakref,
** trace) use only what is declared here; nothing here knows about objects.
*/
#ifndef RCGC_MEM_H
#define RCGC_MEM_H

#include "rcgc.h"

/*
** Address-space layout (see docs/design.md, "Region"):
**   - a heap reserves ONE contiguous region [base, base + size), size <= 64 GiB,
**     base aligned to RCGC__SEG_BYTES;
**   - every object lives inside the region, 16-byte aligned, so that
**     (addr - base) >> 4 fits a uint32_t "handle"; handle 0 is never an object;
**   - every block that can hold an object has a segment header at
**     (addr & ~(RCGC__SEG_BYTES - 1)) whose first field is the owning heap,
**     so rcgc__mem_heap_of() is one mask and one load.
*/
#define RCGC__SEG_BYTES ((size_t)16384) /* pool size = segment size (16 KiB) */
#define RCGC__HANDLE_SHIFT 4            /* handles count 16-byte units */
#define RCGC__REGION_MAX ((size_t)1 << 36) /* 2^32 handles x 16 B = 64 GiB */

struct rcgc__seghdr {
    rcgc_heap *heap; /* first field of every segment that holds objects */
};

/* Opaque-to-callers allocator state, embedded as the FIRST member of
** struct rcgc_heap. Defined in mem_state.h by the allocator layer. */
#include "mem_state.h"

/* Reserve the region and place the caller's heap struct ('outer_bytes', whose
** first member is struct rcgc__mem) inside it, in committed memory at offset
** >= 16, with the segment header pointing at it. Initialises the mem member
** from cfg (hooks, debug mode, fault injection off). Returns the outer
** struct, zero-filled except for the mem member, or NULL. */
struct rcgc__mem *rcgc__mem_bootstrap(const rcgc_config *cfg, size_t outer_bytes);
/* Return every page to the OS (the heap struct itself goes with it). */
void rcgc__mem_destroy(struct rcgc__mem *m);

static inline rcgc_heap *rcgc__mem_heap_of(const void *p)
{
    return ((const struct rcgc__seghdr *)((uintptr_t)p & ~(uintptr_t)(RCGC__SEG_BYTES - 1)))->heap;
}

/* Object memory: 16-byte aligned, inside the region, zero-filled. Counts
** as one allocation for fault injection. NULL on failure. */
void *rcgc__mem_obj_alloc(struct rcgc__mem *m, size_t bytes);
void rcgc__mem_obj_free(struct rcgc__mem *m, void *p);
/* Usable size of an object block. */
size_t rcgc__mem_obj_size(struct rcgc__mem *m, const void *p);
/* True iff p is the start of a live object block of this heap. */
bool rcgc__mem_is_obj_block(struct rcgc__mem *m, const void *p);

/* Internal structures (vectors, tables) use the raw API of mem.c
** (rcgc_malloc & co.) with the heap; they are counted like user blocks. */

/* Handles. */
static inline uint32_t rcgc__handle(const struct rcgc__mem *m, const void *p)
{
    return (uint32_t)(((uintptr_t)p - (uintptr_t)m->base) >> RCGC__HANDLE_SHIFT);
}
static inline void *rcgc__unhandle(const struct rcgc__mem *m, uint32_t h)
{
    return (char *)m->base + ((size_t)h << RCGC__HANDLE_SHIFT);
}

/* Verify the allocator's own invariants; writes problems through 'heap's
** output hook and returns the number found. */
size_t rcgc__mem_check(struct rcgc__mem *m);

/* Bytes currently allocated in object blocks and raw blocks. */
size_t rcgc__mem_live_bytes(const struct rcgc__mem *m);

#endif
