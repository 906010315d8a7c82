/*
 * Helpers shared by the C test programs.
 *
 * Every program is run as `prog PRIMARY MIRROR` under libmfs.so with MFS_MIRROR=PRIMARY:MIRROR
 * (or a generated MFS_CONFIG, see tests/README.md), from a scratch working directory outside
 * both trees. It works inside PRIMARY, checks the result and errno of every call it makes,
 * and exits 0 when all checks pass. The harness then compares the two trees.
 */
#ifndef MFSTEST_H
#define MFSTEST_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *mt_primary, *mt_mirror;
static int mt_failures;

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: CHECK failed: %s (errno %d: %s)\n", __FILE__, __LINE__, \
                    #cond, errno, strerror(errno));                                      \
            mt_failures++;                                                               \
        }                                                                                \
    } while (0)

/* A call that must succeed (result >= 0). */
#define OK(call)                                                                         \
    do {                                                                                 \
        errno = 0;                                                                       \
        long mt_r = (long)(call);                                                        \
        if (mt_r < 0) {                                                                  \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call,          \
                    strerror(errno));                                                    \
            mt_failures++;                                                               \
        }                                                                                \
    } while (0)

/* A call that must fail with errno `e`. */
#define FAILS(call, e)                                                                   \
    do {                                                                                 \
        errno = 0;                                                                       \
        long mt_r = (long)(call);                                                        \
        if (mt_r != -1 || errno != (e)) {                                                \
            fprintf(stderr, "%s:%d: %s: want -1/%s, got %ld/%s\n", __FILE__, __LINE__,    \
                    #call, strerror(e), mt_r, strerror(errno));                          \
            mt_failures++;                                                               \
        }                                                                                \
    } while (0)

/* Path inside the primary (static buffer rotation: up to 8 live results). */
static const char *P(const char *rel)
{
    static char bufs[8][4096];
    static int i;
    char *b = bufs[i++ & 7];
    snprintf(b, 4096, "%s/%s", mt_primary, rel);
    return b;
}

/* Path inside the mirror, for tests that look at the mirror directly. */
static const char *M(const char *rel)
{
    static char bufs[8][4096];
    static int i;
    char *b = bufs[i++ & 7];
    snprintf(b, 4096, "%s/%s", mt_mirror, rel);
    return b;
}

/* Reads a whole small file into buf (NUL-terminated); returns its length or -1. */
static long slurp(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    long n = read(fd, buf, cap - 1);
    close(fd);
    if (n >= 0)
        buf[n] = 0;
    return n;
}

static void mt_init(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s PRIMARY MIRROR\n", argv[0]);
        exit(2);
    }
    mt_primary = argv[1];
    mt_mirror = argv[2];
}

static int mt_done(void)
{
    if (mt_failures) {
        fprintf(stderr, "%d check(s) failed\n", mt_failures);
        return 1;
    }
    return 0;
}

#endif
