/*
** latency_test.c -- the views server's latency buckets (apps/views/
** latency.c): every value lands in a bucket that contains it, buckets are
** contiguous and ordered, a bucket's highest value is within 12.5% of every
** value it counts, and percentiles of known distributions come out within
** that bound (and above the old power-of-two answer's error).
*/
#include "views.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

static void check(int cond, const char *what)
{
    if (!cond) {
        printf("FAIL %s\n", what);
        failures++;
    }
}

/* |got - want| / want <= tol */
static int within(uint64_t got, uint64_t want, double tol)
{
    double d = (double)got - (double)want;
    if (d < 0)
        d = -d;
    return d <= tol * (double)want;
}

static uint64_t lat[VIEWS_LAT_BUCKETS];

int main(void)
{
    char what[160];
    check(VIEWS_LAT_BUCKETS == 153, "153 buckets");
    check(lat_bucket(0) == 0 && lat_bucket(7) == 7 && lat_bucket(8) == 8 && lat_bucket(15) == 15,
          "one bucket per microsecond below 16");
    check(lat_bucket(16) == lat_bucket(17) && lat_bucket(18) == lat_bucket(16) + 1,
          "2 us wide sub-buckets in [16, 32)");
    check(lat_bucket(1u << 21) == VIEWS_LAT_BUCKETS - 1 &&
              lat_bucket(UINT64_MAX) == VIEWS_LAT_BUCKETS - 1 &&
              lat_bucket((1u << 21) - 1) == VIEWS_LAT_BUCKETS - 2,
          "everything from 2^21 us in the last bucket");
    /* Buckets tile [0, 2^21) in order, with no gap or overlap. */
    uint64_t next = 0;
    for (int i = 0; i < VIEWS_LAT_BUCKETS - 1; i++) {
        snprintf(what, sizeof what, "bucket %d starts where %d ended (%llu)", i, i - 1,
                 (unsigned long long)next);
        check(lat_bucket_lo(i) == next && lat_bucket_hi(i) >= lat_bucket_lo(i), what);
        next = lat_bucket_hi(i) + 1;
    }
    check(next == 1u << 21, "the buckets end at 2^21 us");
    /* Every value up to 2^21 (and some above) in its bucket, within 12.5%. */
    int bad = 0;
    for (uint64_t v = 0; v < (1u << 21) + 100; v++) {
        int b = lat_bucket(v);
        if (b < VIEWS_LAT_BUCKETS - 1 &&
            (v < lat_bucket_lo(b) || v > lat_bucket_hi(b) ||
             (double)(lat_bucket_hi(b) - v) > 0.125 * (double)v))
            bad++;
    }
    check(bad == 0, "every value is within its bucket and <= 12.5% below its highest value");
    check(lat_percentile(lat, 0.5) == 0, "empty histogram: 0");

    /* One value: the percentile is the highest value of its bucket. */
    lat[lat_bucket(1000)] = 1;
    check(lat_percentile(lat, 0.5) == 1023 && lat_percentile(lat, 0.99) == 1023,
          "1000 us -> [960, 1023]: 1023 (was 1024 with powers of two, but 1025 gave 2048)");
    memset(lat, 0, sizeof lat);
    lat[lat_bucket(1025)] = 1;
    check(lat_percentile(lat, 0.5) == 1151, "1025 us -> 1151 (power-of-two buckets said 2048)");

    /* Uniform 100..10099 us: p50 ~ 5100, p99 ~ 10000. */
    memset(lat, 0, sizeof lat);
    for (uint64_t v = 100; v < 10100; v++)
        lat[lat_bucket(v)]++;
    uint64_t p50 = lat_percentile(lat, 0.5), p99 = lat_percentile(lat, 0.99);
    snprintf(what, sizeof what, "uniform: p50 %llu within 12.5%% of 5100", (unsigned long long)p50);
    check(within(p50, 5100, 0.125) && p50 >= 5100, what);
    snprintf(what, sizeof what, "uniform: p99 %llu within 12.5%% of 10000", (unsigned long long)p99);
    check(within(p99, 10000, 0.125) && p99 >= 10000, what);

    /* 98% at 300 us, 2% at 40 ms: p50 ~ 300, p99 ~ 40000. */
    memset(lat, 0, sizeof lat);
    lat[lat_bucket(300)] += 980;
    lat[lat_bucket(40000)] += 20;
    p50 = lat_percentile(lat, 0.5);
    p99 = lat_percentile(lat, 0.99);
    snprintf(what, sizeof what, "bimodal: p50 %llu, p99 %llu", (unsigned long long)p50,
             (unsigned long long)p99);
    check(within(p50, 300, 0.125) && within(p99, 40000, 0.125), what);
    /* Above the range: the open bucket's lower bound. */
    memset(lat, 0, sizeof lat);
    lat[lat_bucket(5000000)] = 3;
    check(lat_percentile(lat, 0.5) == 1u << 21, "slower than 2^21 us: 2^21");

    printf("views latency: %d failed\n", failures);
    return failures ? 1 : 0;
}
