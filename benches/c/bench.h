/* Shared helpers of the MFS benchmark workloads.
 *
 * Every workload program takes its sizes and then one or more directories. With one directory
 * it applies each operation once (the native and the shim variants); with two it applies each
 * operation to both, in the same order, which is the physical limit of a two-copy mirror. The
 * timed region is the function `bench_loop` only, so process start-up and the shim's
 * initialisation are excluded; it prints `elapsed_ns N` on stdout. `bench_loop` is never
 * inlined so that callgrind can count its instructions alone (--toggle-collect=bench_loop).
 */
#ifndef MFS_BENCH_H
#define MFS_BENCH_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_DIRS 2
#define NOINLINE __attribute__((noinline))

static inline void die(const char *what, const char *arg)
{
    fprintf(stderr, "%s %s: %s\n", what, arg ? arg : "", strerror(errno));
    exit(1);
}

static inline void usage(const char *text)
{
    fprintf(stderr, "usage: %s\n", text);
    exit(2);
}

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline long count_arg(const char *s)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v <= 0) {
        fprintf(stderr, "not a positive count: %s\n", s);
        exit(2);
    }
    return v;
}

/* "dir/name", allocated once before the timed loop. */
static inline char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (!p)
        die("malloc", NULL);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* A buffer of `n` bytes of non-zero, non-constant data. */
static inline char *pattern(size_t n)
{
    char *b = malloc(n);
    if (!b)
        die("malloc", NULL);
    for (size_t i = 0; i < n; i++)
        b[i] = (char)('a' + (i * 7 + i / 4096) % 26);
    return b;
}

/* Writes all of `n` bytes; a short write is an error in a benchmark. */
static inline void write_full(int fd, const char *buf, size_t n, const char *what)
{
    ssize_t w = write(fd, buf, n);
    if (w != (ssize_t)n) {
        if (w >= 0)
            errno = EIO;
        die("write", what);
    }
}

/* Creates `path` with `n` bytes of pattern data if it does not exist (outside the timed loop). */
static inline void ensure_file(const char *path, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        die("create", path);
    if (n) {
        char *b = pattern(n);
        write_full(fd, b, n, path);
        free(b);
    }
    if (close(fd))
        die("close", path);
}

static inline void report(uint64_t ns)
{
    printf("elapsed_ns %llu\n", (unsigned long long)ns);
}

#endif
