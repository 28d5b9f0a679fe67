/*
** fuzz_snapshot.c -- the snapshot file reader (src/snapfile.c) on arbitrary
** bytes. Each input is loaded twice: as it is (the checksum guards the
** parser) and with its CRC trailer recomputed, so mutations reach every
** field. A loaded snapshot must survive statistics of every kind, a
** filter, and a dump/load round trip that gives an equal snapshot.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rcgc.h"
#include "trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise(rcgc_snapshot *s)
{
    for (int key = RCGC_STAT_FILENAME; key <= RCGC_STAT_TAG; key++) {
        for (int cum = 0; cum < 2; cum++) {
            rcgc_stats *st = NULL;
            if (rcgc_snapshot_statistics(s, (rcgc_stat_key)key, cum, &st) == RCGC_OK) {
                char line[256];
                for (size_t i = 0; i < rcgc_stats_count(st) && i < 8; i++)
                    rcgc_stat_format(rcgc_stats_get(st, i), false, line, sizeof line);
            }
            rcgc_stats_free(st);
        }
    }
    rcgc_stats *d = NULL;
    if (rcgc_snapshot_compare_to(s, s, RCGC_STAT_LINENO, false, &d) == RCGC_OK)
        for (size_t i = 0; i < rcgc_stats_count(d); i++)
            if (rcgc_stats_get(d, i)->size_diff != 0)
                abort();
    rcgc_stats_free(d);
    rcgc_trace_filter f[2] = {{true, "*.c", -1, true, false, 0}, {false, NULL, -1, false, true, 1}};
    rcgc_snapshot *g = NULL;
    if (rcgc_snapshot_filter(s, f, 2, &g) == RCGC_OK && rcgc_snapshot_count(g) > rcgc_snapshot_count(s))
        abort();
    rcgc_snapshot_free(g);
    void *buf;
    size_t len;
    if (rcgc_snapshot_dump_buffer(s, &buf, &len) == RCGC_OK) {
        rcgc_snapshot *again = NULL;
        char err[256];
        if (rcgc_snapshot_load_buffer(buf, len, &again, err, sizeof err) != RCGC_OK ||
            !rcgc_snapshot_equal(s, again))
            abort(); /* what we write we must read back */
        rcgc_snapshot_free(again);
        free(buf);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    rcgc_snapshot *s = NULL;
    if (rcgc_snapshot_load_buffer(data, size, &s, err, sizeof err) == RCGC_OK)
        exercise(s);
    rcgc_snapshot_free(s);
    if (size >= 4) {
        uint8_t *copy = malloc(size);
        if (!copy)
            return 0;
        memcpy(copy, data, size);
        uint32_t c = rcgc__snap_crc32(copy, size - 4);
        for (int i = 0; i < 4; i++)
            copy[size - 4 + i] = (uint8_t)(c >> (8 * i));
        s = NULL;
        if (rcgc_snapshot_load_buffer(copy, size, &s, err, sizeof err) == RCGC_OK)
            exercise(s);
        rcgc_snapshot_free(s);
        free(copy);
    }
    return 0;
}
