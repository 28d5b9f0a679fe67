/*
** test_kit_float.c -- the float repr's digits (white-box: src/kit.h): the
** exact integer search gives what the snprintf/strtod search gives, on the
** decimals views print, on the edges of its range and on random doubles.
** Its own file: kit.h turns off the site macros test_kit.c traces with.
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "kit.h"

/* The integer search gives the digits and exponent of the snprintf/strtod
** one (white-box: kit.h). */
static void check_float_digits(double v)
{
    char fast[24], slow[24];
    int fexp = 0, sexp = 0;
    int fn = rcgc__kit_float_digits(v, fast, &fexp);
    int sn = rcgc__kit_float_digits_libc(v, slow, &sexp);
    if (fn != sn || fexp != sexp || memcmp(fast, slow, (size_t)sn) != 0) {
        fprintf(stderr, "  float %.17g: %.*s e%d, want %.*s e%d\n", v, fn, fast, fexp, sn, slow,
                sexp);
        CHECK(0);
    }
}

TEST(kit_float_digits_match_the_libc_search)
{
    /* decimals with few digits, as views print them, around them, and
    ** the edges of the exact path (2^-24, 2^53), powers of two and ten */
    for (int i = -1500; i <= 1500; i++) {
        double d[] = {i / 10.0, i * 0.5, i / 1000.0, i / 7.0, i * 1e-7, i * 1e12, i * 3.0e11};
        for (size_t k = 0; k < sizeof d / sizeof d[0]; k++) {
            check_float_digits(d[k]);
            check_float_digits(nextafter(d[k], INFINITY));
            check_float_digits(nextafter(d[k], -INFINITY));
        }
    }
    for (int k = -80; k <= 80; k++) {
        double p2 = ldexp(1.0, k), p10 = pow(10.0, k);
        double d[] = {p2, nextafter(p2, 0), nextafter(p2, INFINITY), 3 * p2, p10,
                      nextafter(p10, 0), nextafter(p10, INFINITY), 9.5 * p10, 0.15 * p10};
        for (size_t j = 0; j < sizeof d / sizeof d[0]; j++) {
            check_float_digits(d[j]);
            check_float_digits(-d[j]);
        }
    }
    check_float_digits(0.0);
    check_float_digits(-0.0);
    check_float_digits(9007199254740991.0);
    check_float_digits(9007199254740993.0);
    /* random bit patterns, all over and within the exact path's range */
    uint64_t st = th_seed();
    for (int i = 0; i < 40000; i++) {
        uint64_t bits = th_rand(&st);
        double v;
        memcpy(&v, &bits, sizeof v);
        if (isfinite(v))
            check_float_digits(v);
        v = ldexp((double)(bits >> 11) / 9007199254740992.0, (int)(bits % 78) - 24);
        check_float_digits(v);
    }
}
