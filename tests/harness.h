/*
** harness.h -- the test harness: TEST(name) registers a test, CHECK_* macros
** print both sides on failure. Each test runs in its own process under ctest
** ("test_x name"); with no argument a test binary runs all of its tests and
** ends with "N passed, N failed".
*/
#ifndef RCGC_TEST_HARNESS_H
#define RCGC_TEST_HARNESS_H

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "rcgc.h"

typedef void (*th_fn)(void);
void th_register(const char *name, th_fn fn);
void th_fail(const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
extern int th_failures; /* failures in the running test */

#define TEST(name)                                                            \
    static void test_##name(void);                                            \
    __attribute__((constructor)) static void th_reg_##name(void)             \
    {                                                                         \
        th_register(#name, test_##name);                                      \
    }                                                                         \
    static void test_##name(void)

#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond))                                                          \
            th_fail(__FILE__, __LINE__, "CHECK(%s) failed", #cond);           \
    } while (0)
#define CHECK_EQ_INT(a, b)                                                    \
    do {                                                                      \
        long long th_a = (long long)(a), th_b = (long long)(b);               \
        if (th_a != th_b)                                                     \
            th_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b,     \
                    th_a, th_b);                                              \
    } while (0)
#define CHECK_EQ_U64(a, b)                                                    \
    do {                                                                      \
        unsigned long long th_a = (unsigned long long)(a),                    \
                           th_b = (unsigned long long)(b);                    \
        if (th_a != th_b)                                                     \
            th_fail(__FILE__, __LINE__, "%s == %s: %llu != %llu", #a, #b,     \
                    th_a, th_b);                                              \
    } while (0)
#define CHECK_EQ_PTR(a, b)                                                    \
    do {                                                                      \
        const void *th_a = (const void *)(a), *th_b = (const void *)(b);      \
        if (th_a != th_b)                                                     \
            th_fail(__FILE__, __LINE__, "%s == %s: %p != %p", #a, #b, th_a,   \
                    th_b);                                                    \
    } while (0)
#define CHECK_EQ_STR(a, b)                                                    \
    do {                                                                      \
        const char *th_a = (a), *th_b = (b);                                  \
        if (!th_a || !th_b || strcmp(th_a, th_b) != 0)                        \
            th_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b, \
                    th_a ? th_a : "(null)", th_b ? th_b : "(null)");          \
    } while (0)
#define CHECK_CONTAINS(hay, needle)                                           \
    do {                                                                      \
        const char *th_h = (hay), *th_n = (needle);                           \
        if (!th_h || !strstr(th_h, th_n))                                     \
            th_fail(__FILE__, __LINE__, "%s does not contain \"%s\": \"%s\"", \
                    #hay, th_n, th_h ? th_h : "(null)");                      \
    } while (0)
#define CHECK_HEAP(heap) CHECK_EQ_INT(rcgc_heap_check(heap), RCGC_OK)

/* A heap whose output goes to th_output (cleared by th_heap_new) and whose
** automatic collection is disabled (PARITY's convention). */
rcgc_heap *th_heap_new(void);
rcgc_heap *th_heap_new_cfg(rcgc_config *cfg); /* installs the output hook */
extern char th_output[1 << 16];
void th_output_clear(void);

/* Run fn(arg) in a child process; pass iff it ends in the panic hook with a
** message containing 'substr'. The child's heap must come from
** th_heap_new*(). Returns the panic message (static) for further checks. */
const char *th_expect_panic(void (*fn)(void *), void *arg, const char *substr,
                            const char *file, int line);
#define CHECK_PANICS(fn, arg, substr)                                         \
    th_expect_panic((fn), (arg), (substr), __FILE__, __LINE__)

/* Seeded randomness: the seed comes from RCGC_TEST_SEED or the clock and
** is printed. */
uint64_t th_seed(void);
uint64_t th_rand(uint64_t *state);

#endif
