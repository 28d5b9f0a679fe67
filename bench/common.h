/*
** common.h -- timing, medians, RSS and output lines for the C benchmark
** programs (bench/README.md). Header-only, no rcgc internals: benchmarks see
** exactly what an embedder gets from include/rcgc.h.
**
** A program prints one 'SAMPLE key=value ...' line per measurement; the
** driver (bench/driver.py) alternates the programs of a comparison and prints
** the RESULT lines of ../shared/BENCH.md. A program that compares in-process
** may print RESULT lines itself with bench_result().
*/
#ifndef RCGC_BENCH_COMMON_H
#define RCGC_BENCH_COMMON_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Monotonic clock in nanoseconds. */
static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline int bench__cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of n > 0 values; sorts 'xs' in place. */
static inline double bench_median(double *xs, size_t n)
{
    qsort(xs, n, sizeof *xs, bench__cmp_double);
    return n % 2 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2.0;
}

/* Resident set size in bytes, from /proc/self/statm (0 if unreadable). */
static inline size_t bench_rss_bytes(void)
{
    unsigned long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

/* Print a message to stderr and exit with status 2. */
static inline void bench_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* argv[i] as a positive integer (accepts 100k, 1M, 4M), or 'def' if absent. */
static inline long bench_arg(int argc, char **argv, int i, long def)
{
    char *end;
    long v;
    if (i >= argc)
        return def;
    v = strtol(argv[i], &end, 10);
    if (*end == 'k' || *end == 'K')
        v *= 1000, end++;
    else if (*end == 'M')
        v *= 1000000, end++;
    if (*end || v < 0)
        bench_die("bad number '%s'", argv[i]);
    return v;
}

/* One measurement: "SAMPLE key=value ...", flushed (fmt holds the pairs). */
static inline void bench_sample(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("SAMPLE ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    fflush(stdout);
}

/* A figure with about three significant digits ("-" for a negative value,
** which stands for "no figure"). 'buf' needs 32 bytes. */
static inline const char *bench_fmt(char *buf, double v)
{
    if (v < 0)
        return strcpy(buf, "-");
    if (v >= 100 || v == 0)
        snprintf(buf, 32, "%.0f", v);
    else if (v >= 10)
        snprintf(buf, 32, "%.1f", v);
    else if (v >= 1)
        snprintf(buf, 32, "%.2f", v);
    else
        snprintf(buf, 32, "%.3g", v);
    return buf;
}

/* The RESULT line of ../shared/BENCH.md. theirs < 0 means no anchor
** ("theirs=- anchor=- ratio=-"). */
static inline void bench_result(const char *bench, const char *unit, double ours,
                                double theirs, const char *anchor, double ratio)
{
    char a[32], b[32], c[32];
    if (theirs < 0) {
        anchor = "-";
        ratio = -1;
    }
    printf("RESULT bench=%s unit=%s ours=%s theirs=%s anchor=%s ratio=%s\n", bench, unit,
           bench_fmt(a, ours), bench_fmt(b, theirs), anchor, bench_fmt(c, ratio));
    fflush(stdout);
}

#endif /* RCGC_BENCH_COMMON_H */
