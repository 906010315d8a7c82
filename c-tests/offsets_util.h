/*
 * Helpers of the offset programs (io_offsets, proc_offsets): a file written sequentially
 * through one descriptor while something else moves that descriptor's offset.
 */
#ifndef OFFSETS_UTIL_H
#define OFFSETS_UTIL_H

#include "mfstest.h"

static char mt_block[4096];

/* Writes n (at most 4096) pattern bytes of `seed` at fd's offset. */
__attribute__((unused)) static void put(int fd, unsigned seed, size_t n)
{
    mt_fill(mt_block, n, seed);
    EQ(write(fd, mt_block, n), (long)n);
}

/* Creates rel write-only and writes 2000 bytes through the new descriptor (above 2). */
__attribute__((unused)) static int fresh(const char *rel)
{
    int fd = open(P(rel), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd > 2);
    put(fd, 1, 1000);
    put(fd, 2, 1000);
    return fd;
}

#endif
