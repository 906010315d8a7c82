/* Shared helpers of the MFS benchmark workloads.
 *
 * Every workload program takes its sizes and then one or more directories. With one directory
 * it applies each operation once (the native and the shim variants); with two it applies each
 * operation to both, in the same order, which is the physical limit of a two-copy mirror. The
 * timed region is the function `bench_loop` only, so process start-up and the shim's
 * initialisation are excluded; it prints `elapsed_ns N` on stdout. `bench_loop` is never
 * inlined so that callgrind can count its instructions alone (--toggle-collect=bench_loop).
 *
 * `bench_loop` makes its calls through a `struct calls`. In a normal run that is `linked`, the
 * functions the program links against (the shim's hooks when it is preloaded). With
 * `--ab BLOCKS` before the sizes, the program measures inside one process instead (see
 * `bench_main`): blocks through `linked` on the first directory alternate with blocks through
 * libc's own functions (looked up in libc.so.6, never interposed) on every directory given.
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
#include <dlfcn.h>
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

/* The calls a workload makes. */
struct calls {
    int (*open)(const char *, int, ...);
    int (*close)(int);
    ssize_t (*read)(int, void *, size_t);
    ssize_t (*write)(int, const void *, size_t);
    off_t (*lseek)(int, off_t, int);
    int (*stat)(const char *, struct stat *);
    int (*unlink)(const char *);
};

/* The functions the program links against: an LD_PRELOAD library's when one defines them. */
static const struct calls linked = { open, close, read, write, lseek, stat, unlink };

/* libc's own definitions, looked up in libc.so.6 directly, so never interposed. */
static inline struct calls libc_calls(void)
{
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    if (!libc) {
        fprintf(stderr, "libc.so.6: %s\n", dlerror());
        exit(1);
    }
    struct calls c;
    const char *names[] = { "open", "close", "read", "write", "lseek", "stat", "unlink" };
    void **slots[] = { (void **)&c.open, (void **)&c.close, (void **)&c.read, (void **)&c.write,
                       (void **)&c.lseek, (void **)&c.stat, (void **)&c.unlink };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        *slots[i] = dlsym(libc, names[i]);
        if (!*slots[i]) {
            fprintf(stderr, "libc.so.6 has no %s\n", names[i]);
            exit(1);
        }
    }
    return c;
}

/* Writes all of `n` bytes; a short write is an error in a benchmark. */
static inline void write_full(const struct calls *c, int fd, const char *buf, size_t n, const char *what)
{
    ssize_t w = c->write(fd, buf, n);
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
        write_full(&linked, fd, b, n, path);
        free(b);
    }
    if (close(fd))
        die("close", path);
}

/* The timed part of a workload: its operations through `c` on the first `ndirs` of its
 * directories (the program keeps their paths in `ctx`). */
typedef void (*loop_fn)(const struct calls *c, int ndirs, void *ctx);
/* Puts the files of the first `ndirs` directories back as they were before the timed part,
 * through `c` (untimed, before every block of an --ab run; NULL when there is nothing to do). */
typedef void (*reset_fn)(const struct calls *c, int ndirs, void *ctx);

/* One block: `reset` through `own` on all `all` directories, untimed, then `loop` through `c`
 * on the first `ndirs`; returns the time of the loop. */
static inline uint64_t block(loop_fn loop, reset_fn reset, const struct calls *own, const struct calls *c, int ndirs,
                             int all, void *ctx)
{
    if (reset)
        reset(own, all, ctx);
    uint64_t t0 = now_ns();
    loop(c, ndirs, ctx);
    return now_ns() - t0;
}

static inline void print_times(const char *label, const uint64_t *t, long n)
{
    printf("%s", label);
    for (long i = 0; i < n; i++)
        printf(" %llu", (unsigned long long)t[i]);
    printf("\n");
}

/* Runs the workload. Normally: `loop` once through `linked` on all `ndirs` directories, and
 * prints `elapsed_ns N`. With `ab_blocks` > 0: after one untimed round, `ab_blocks` pairs of
 * an A block (`linked`, first directory only) and a B block (libc's own functions, every
 * directory), the order alternating pair by pair and every block preceded by `reset` through
 * libc on every directory; prints the times of the blocks in order, `ab_a N...` and
 * `ab_b N...`. Adjacent blocks see the same machine state, so drifts of the machine's speed,
 * which dominate the spread of whole runs on a shared machine, cancel out. */
static inline void bench_main(long ab_blocks, int ndirs, loop_fn loop, reset_fn reset, void *ctx)
{
    if (ab_blocks == 0) {
        uint64_t t0 = now_ns();
        loop(&linked, ndirs, ctx);
        printf("elapsed_ns %llu\n", (unsigned long long)(now_ns() - t0));
        return;
    }
    struct calls own = libc_calls();
    uint64_t *a = malloc(sizeof *a * 2 * (size_t)ab_blocks);
    if (!a)
        die("malloc", NULL);
    uint64_t *b = a + ab_blocks;
    block(loop, reset, &own, &linked, 1, ndirs, ctx);
    block(loop, reset, &own, &own, ndirs, ndirs, ctx);
    for (long i = 0; i < ab_blocks; i++) {
        if (i % 2 == 0) {
            a[i] = block(loop, reset, &own, &linked, 1, ndirs, ctx);
            b[i] = block(loop, reset, &own, &own, ndirs, ndirs, ctx);
        } else {
            b[i] = block(loop, reset, &own, &own, ndirs, ndirs, ctx);
            a[i] = block(loop, reset, &own, &linked, 1, ndirs, ctx);
        }
    }
    print_times("ab_a", a, ab_blocks);
    print_times("ab_b", b, ab_blocks);
    free(a);
}

/* Takes `--ab BLOCKS` off the front of the arguments: the number of blocks, or 0. */
static inline long ab_option(int *argc, char ***argv)
{
    if (*argc < 3 || strcmp((*argv)[1], "--ab"))
        return 0;
    long blocks = count_arg((*argv)[2]);
    (*argv)[2] = (*argv)[0];
    *argv += 2;
    *argc -= 2;
    return blocks;
}

#endif
