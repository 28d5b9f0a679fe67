/*
** latency.c -- the request latency histogram's buckets (log-linear).
**
** Below 2^VIEWS_LAT_SUB_BITS microseconds every value has its own bucket;
** above, each power of two [2^k, 2^(k+1)) is split into VIEWS_LAT_SUB equal
** sub-buckets of width 2^(k - VIEWS_LAT_SUB_BITS), as HdrHistogram does. A
** bucket's width is at most 1/VIEWS_LAT_SUB of its lower bound, so the
** highest value of the bucket a percentile falls in is at most 12.5% above
** the true percentile (8 sub-buckets). The last bucket counts everything
** from 2^VIEWS_LAT_MAX_POW microseconds up.
*/
#include "views.h"

int lat_bucket(uint64_t us)
{
    if (us < VIEWS_LAT_SUB)
        return (int)us;
    if (us >= (1ull << VIEWS_LAT_MAX_POW))
        return VIEWS_LAT_BUCKETS - 1;
    int k = 63 - __builtin_clzll(us); /* VIEWS_LAT_SUB_BITS .. VIEWS_LAT_MAX_POW - 1 */
    int sub = (int)(us >> (k - VIEWS_LAT_SUB_BITS)) & (VIEWS_LAT_SUB - 1);
    return (k - VIEWS_LAT_SUB_BITS + 1) * VIEWS_LAT_SUB + sub;
}

uint64_t lat_bucket_lo(int i)
{
    if (i < VIEWS_LAT_SUB)
        return (uint64_t)i;
    if (i >= VIEWS_LAT_BUCKETS - 1)
        return 1ull << VIEWS_LAT_MAX_POW;
    int k = i / VIEWS_LAT_SUB + VIEWS_LAT_SUB_BITS - 1;
    uint64_t sub = (uint64_t)(i % VIEWS_LAT_SUB);
    return (VIEWS_LAT_SUB + sub) << (k - VIEWS_LAT_SUB_BITS);
}

uint64_t lat_bucket_hi(int i)
{
    if (i >= VIEWS_LAT_BUCKETS - 1)
        return 1ull << VIEWS_LAT_MAX_POW; /* open-ended: its lower bound */
    return lat_bucket_lo(i + 1) - 1;
}

uint64_t lat_percentile(const uint64_t *lat, double p)
{
    uint64_t total = 0, acc = 0;
    for (int i = 0; i < VIEWS_LAT_BUCKETS; i++)
        total += lat[i];
    if (!total)
        return 0;
    for (int i = 0; i < VIEWS_LAT_BUCKETS; i++) {
        acc += lat[i];
        if ((double)acc >= p * (double)total)
            return lat_bucket_hi(i);
    }
    return lat_bucket_hi(VIEWS_LAT_BUCKETS - 1);
}
