/*
** unwind.c -- native stacks for the tracer: capture return addresses at
** allocation time (libunwind's unw_backtrace when libunwind.so.8 can be
** loaded, else glibc's backtrace()), symbolise them lazily at snapshot time
** (libdw's line tables when libdw.so.1 can be loaded, else dladdr), with a
** per-tracer cache. Both libraries are optional and loaded with dlopen, so
** the library links against neither; their handles live on the tracer.
*/
#include <dlfcn.h>
#include <execinfo.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "trace.h"

#if defined(__has_include)
#if __has_include(<elfutils/libdwfl.h>)
#include <elfutils/libdwfl.h>
#define HAVE_DWFL 1
#endif
#endif
#ifndef HAVE_DWFL
#define HAVE_DWFL 0
#endif

/* Frames captured at most (also the cap of total_nframe for native stacks). */
#define UNWIND_MAX 256
#define SYMCACHE_INITIAL 256

typedef int (*backtrace_fn)(void **buf, int size);

struct symslot {
    uintptr_t pc; /* 0 = empty */
    rcgc__frame frame;
};

#if HAVE_DWFL
struct dw {
    void *lib;
    Dwfl *dwfl;
    Dwfl_Callbacks cb;
    char *debuginfo_path;
    Dwfl *(*begin)(const Dwfl_Callbacks *);
    int (*report)(Dwfl *, pid_t);
    int (*report_end)(Dwfl *, int (*)(Dwfl_Module *, void *, const char *, Dwarf_Addr, void *),
                      void *);
    Dwfl_Module *(*addrmodule)(Dwfl *, Dwarf_Addr);
    Dwfl_Line *(*getsrc)(Dwfl_Module *, Dwarf_Addr);
    const char *(*lineinfo)(Dwfl_Line *, Dwarf_Addr *, int *, int *, Dwarf_Word *, Dwarf_Word *);
    const char *(*addrname)(Dwfl_Module *, GElf_Addr);
    void (*end)(Dwfl *);
    /* The CU walk for modules without .debug_aranges (see cu_line); NULL
    ** when the installed libdw lacks one of them. */
    Dwarf_Die *(*nextcu)(Dwfl_Module *, Dwarf_Die *, Dwarf_Addr *);
    int (*haspc)(Dwarf_Die *, Dwarf_Addr);
    Dwarf_Line *(*getsrc_die)(Dwarf_Die *, Dwarf_Addr);
    const char *(*linesrc)(Dwarf_Line *, Dwarf_Word *, Dwarf_Word *);
    int (*lineno)(Dwarf_Line *, int *);
};
#endif

struct rcgc__unwind {
    void *unw_lib;
    backtrace_fn bt; /* unw_backtrace or glibc backtrace */
    struct symslot *syms;
    size_t symcap, symcount;
#if HAVE_DWFL
    struct dw dw;
    bool dw_tried;
#endif
};

struct rcgc__unwind *rcgc__unwind_new(rcgc_heap *heap)
{
    struct rcgc__unwind *u = rcgc__trace_alloc(heap, sizeof *u);
    if (!u)
        return NULL;
    memset(u, 0, sizeof *u);
    u->unw_lib = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    if (u->unw_lib) {
        void *sym = dlsym(u->unw_lib, "unw_backtrace");
        memcpy(&u->bt, &sym, sizeof sym);
    }
    if (!u->bt)
        u->bt = backtrace;
    return u;
}

void rcgc__unwind_free(rcgc_heap *heap, struct rcgc__unwind *u)
{
#if HAVE_DWFL
    if (u->dw.dwfl)
        u->dw.end(u->dw.dwfl);
    if (u->dw.lib)
        dlclose(u->dw.lib);
#endif
    if (u->unw_lib)
        dlclose(u->unw_lib);
    rcgc__trace_free(heap, u->syms, u->symcap * sizeof *u->syms);
    rcgc__trace_free(heap, u, sizeof *u);
}

unsigned rcgc__unwind_capture(struct rcgc__unwind *u, uintptr_t entry_ra, uintptr_t *pcs,
                              unsigned max, unsigned *total)
{
    void *buf[UNWIND_MAX];
    int n = u->bt(buf, UNWIND_MAX);
    if (n < 0)
        n = 0;
    /* Skip the tracer's and the allocator's frames: everything up to the
    ** return address into the caller of the public entry point. Without
    ** one (a call through a function pointer), skip this function,
    ** capture() and the hook. */
    int start = n < 3 ? n : 3;
    if (entry_ra) {
        for (int i = 0; i < n; i++) {
            if ((uintptr_t)buf[i] == entry_ra) {
                start = i;
                break;
            }
        }
    }
    unsigned depth = (unsigned)(n - start), got = depth < max ? depth : max;
    for (unsigned i = 0; i < got; i++)
        pcs[i] = (uintptr_t)buf[start + (int)i];
    *total = depth;
    return got;
}

/* ---- Symbolisation ------------------------------------------------------ */

#if HAVE_DWFL
static bool dw_open(struct rcgc__unwind *u)
{
    struct dw *d = &u->dw;
    u->dw_tried = true;
    d->lib = dlopen("libdw.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!d->lib)
        return false;
#define SYM(field, name)                                                      \
    do {                                                                      \
        void *s_ = dlsym(d->lib, name);                                       \
        memcpy(&d->field, &s_, sizeof s_);                                    \
    } while (0)
#define LOAD(field, name)                                                     \
    do {                                                                      \
        SYM(field, name);                                                     \
        if (!d->field)                                                        \
            goto fail;                                                        \
    } while (0)
    LOAD(begin, "dwfl_begin");
    LOAD(report, "dwfl_linux_proc_report");
    LOAD(report_end, "dwfl_report_end");
    LOAD(addrmodule, "dwfl_addrmodule");
    LOAD(getsrc, "dwfl_module_getsrc");
    LOAD(lineinfo, "dwfl_lineinfo");
    LOAD(addrname, "dwfl_module_addrname");
    LOAD(end, "dwfl_end");
    LOAD(cb.find_elf, "dwfl_linux_proc_find_elf");
    LOAD(cb.find_debuginfo, "dwfl_standard_find_debuginfo");
    /* optional: the CU walk of cu_line */
    SYM(nextcu, "dwfl_module_nextcu");
    SYM(haspc, "dwarf_haspc");
    SYM(getsrc_die, "dwarf_getsrc_die");
    SYM(linesrc, "dwarf_linesrc");
    SYM(lineno, "dwarf_lineno");
#undef LOAD
#undef SYM
    d->cb.debuginfo_path = &d->debuginfo_path;
    d->dwfl = d->begin(&d->cb);
    if (!d->dwfl)
        goto fail;
    if (d->report(d->dwfl, getpid()) != 0 || d->report_end(d->dwfl, NULL, NULL) != 0) {
        d->end(d->dwfl);
        d->dwfl = NULL;
        goto fail;
    }
    return true;
fail:
    dlclose(d->lib);
    d->lib = NULL;
    return false;
}
#endif

#if HAVE_DWFL
/*
** The source line of 'at' by walking the module's compilation units.
** dwfl_module_getsrc finds the CU through .debug_aranges, which clang does
** not emit unless asked (-gdwarf-aranges) and gcc does: with Debian 12's
** libdw (0.188) it then fails with "address out of range" although the
** CU's own address ranges and its line table are there (docs/tracing.md).
** Each CU is asked whether it covers the address (DW_AT_low_pc/high_pc or
** DW_AT_ranges), and the covering CU's line table is searched. Linear in
** the module's CUs, once per address (the symbol cache keeps the result).
*/
static const char *cu_line(const struct dw *d, Dwfl_Module *mod, Dwarf_Addr at, int *lineno)
{
    if (!d->nextcu || !d->haspc || !d->getsrc_die || !d->linesrc || !d->lineno)
        return NULL;
    Dwarf_Addr bias = 0;
    for (Dwarf_Die *cu = NULL; (cu = d->nextcu(mod, cu, &bias)) != NULL;) {
        if (d->haspc(cu, at - bias) <= 0)
            continue;
        Dwarf_Line *l = d->getsrc_die(cu, at - bias);
        const char *file = l ? d->linesrc(l, NULL, NULL) : NULL;
        if (file && d->lineno(l, lineno) != 0)
            *lineno = 0;
        return file;
    }
    return NULL;
}
#endif

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* File, function and line of return address pc; the strings belong to
** libdw, the dynamic linker or 'buf'. */
static void lookup(struct rcgc__unwind *u, uintptr_t pc, const char **filep, const char **funcp,
                   unsigned *linep, char *buf, size_t bufsize)
{
    /* A return address points after the call: look up the call itself. */
    uintptr_t at = pc ? pc - 1 : pc;
    const char *file = NULL, *func = NULL;
    unsigned line = 0;
#if HAVE_DWFL
    if (!u->dw_tried)
        (void)dw_open(u);
    if (u->dw.dwfl) {
        Dwfl_Module *mod = u->dw.addrmodule(u->dw.dwfl, at);
        if (mod) {
            func = u->dw.addrname(mod, at);
            Dwfl_Line *l = u->dw.getsrc(mod, at);
            int lineno = 0;
            if (l)
                file = u->dw.lineinfo(l, NULL, &lineno, NULL, NULL, NULL);
            else
                file = cu_line(&u->dw, mod, at, &lineno);
            line = lineno > 0 ? (unsigned)lineno : 0;
        }
    }
#endif
    Dl_info info;
    if ((!file || !func) && dladdr((void *)at, &info)) {
        if (!func && info.dli_sname)
            func = info.dli_sname;
        if (!file && info.dli_fname) {
            file = base_name(info.dli_fname);
            if (!func && info.dli_fbase) {
                snprintf(buf, bufsize, "+0x%zx", (size_t)(at - (uintptr_t)info.dli_fbase));
                func = buf;
            }
        }
    }
    if (!func) {
        snprintf(buf, bufsize, "0x%zx", (size_t)pc);
        func = buf;
    }
    *filep = file ? file : "<unknown>";
    *funcp = func;
    *linep = line;
}

static void resolve(rcgc_heap *heap, struct rcgc__unwind *u, uintptr_t pc, rcgc__frame *out)
{
    const char *file, *func;
    unsigned line;
    char buf[64];
    lookup(u, pc, &file, &func, &line, buf, sizeof buf);
    out->file = rcgc__trace_intern(heap, file);
    out->func = rcgc__trace_intern(heap, func);
    out->line = line;
    out->pc = pc;
    if (!out->file || !out->func) { /* out of memory: leave it unresolved */
        out->file = NULL;
        out->func = NULL;
    }
}

static size_t sym_home(uintptr_t pc, size_t cap)
{
    return (size_t)(((uint64_t)pc * 0x9E3779B97F4A7C15ull) >> 32) & (cap - 1);
}

static const rcgc__frame *sym_find(const struct rcgc__unwind *u, uintptr_t pc)
{
    if (u->symcap) {
        for (size_t i = sym_home(pc, u->symcap); u->syms[i].pc; i = (i + 1) & (u->symcap - 1))
            if (u->syms[i].pc == pc)
                return &u->syms[i].frame;
    }
    return NULL;
}

void rcgc__unwind_lookup(struct rcgc__unwind *u, uintptr_t pc, const char **file,
                         const char **func, unsigned *line, char *buf, size_t bufsize)
{
    const rcgc__frame *f = sym_find(u, pc);
    if (f) {
        *file = f->file;
        *func = f->func;
        *line = f->line;
        return;
    }
    lookup(u, pc, file, func, line, buf, bufsize);
}

void rcgc__unwind_symbolise(rcgc_heap *heap, struct rcgc__unwind *u, uintptr_t pc,
                            rcgc__frame *out)
{
    const rcgc__frame *cached = sym_find(u, pc);
    if (cached) {
        *out = *cached;
        return;
    }
    rcgc__frame f;
    resolve(heap, u, pc, &f);
    *out = f;
    if (!f.file)
        return;
    if ((u->symcount + 1) * 2 > u->symcap) {
        size_t cap = u->symcap ? u->symcap * 2 : SYMCACHE_INITIAL;
        struct symslot *s = rcgc__trace_calloc(heap, cap, sizeof *s);
        if (!s)
            return; /* no cache: still correct */
        for (size_t i = 0; i < u->symcap; i++) {
            if (!u->syms[i].pc)
                continue;
            size_t j = sym_home(u->syms[i].pc, cap);
            while (s[j].pc)
                j = (j + 1) & (cap - 1);
            s[j] = u->syms[i];
        }
        rcgc__trace_free(heap, u->syms, u->symcap * sizeof *u->syms);
        u->syms = s;
        u->symcap = cap;
    }
    size_t j = sym_home(pc, u->symcap);
    while (u->syms[j].pc)
        j = (j + 1) & (u->symcap - 1);
    u->syms[j].pc = pc;
    u->syms[j].frame = f;
    u->symcount++;
}
