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
__attribute__((unused)) static const char *P(const char *rel)
{
    static __thread char bufs[8][4096];
    static __thread int i;
    char *b = bufs[i++ & 7];
    snprintf(b, 4096, "%s/%s", mt_primary, rel);
    return b;
}

/* Path inside the mirror, for tests that look at the mirror directly. */
__attribute__((unused)) static const char *M(const char *rel)
{
    static __thread char bufs[8][4096];
    static __thread int i;
    char *b = bufs[i++ & 7];
    snprintf(b, 4096, "%s/%s", mt_mirror, rel);
    return b;
}

/* Reads a whole small file into buf (NUL-terminated); returns its length or -1. */
__attribute__((unused)) static long slurp(const char *path, char *buf, size_t cap)
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

/* For programs run with `mfs-args: state`: the state directory (argv[3]). */
__attribute__((unused)) static const char *mt_state(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s PRIMARY MIRROR STATE\n", argv[0]);
        exit(2);
    }
    return argv[3];
}

static int mt_done(void)
{
    if (mt_failures) {
        fprintf(stderr, "%d check(s) failed\n", mt_failures);
        return 1;
    }
    return 0;
}

/* ---- data helpers (open, io and descriptor programs) ---- */

#include <sys/syscall.h>

/* A system call no hook sees: the shim interposes libc's syscall() too (it decodes the
 * numbers that change files), so the helpers that look at the trees behind the shim's back,
 * and the tests of what happens when a program bypasses libc, make the call themselves. */
__attribute__((unused)) static long mt_raw_syscall(long n, long a, long b, long c, long d, long e, long f)
{
    long r;
#if defined(__x86_64__)
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
    r = x0;
#else
#error "raw system calls are written for x86-64 and AArch64"
#endif
    if (r < 0 && r > -4096) {
        errno = (int)-r;
        return -1;
    }
    return r;
}

/* RAWSYS(SYS_name, args...): like syscall(2), without any hook. */
#define RAWSYS(...) RAWSYS_(__VA_ARGS__, 0, 0, 0, 0, 0, 0, 0)
#define RAWSYS_(n, a, b, c, d, e, f, ...)                                                 \
    mt_raw_syscall((long)(n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

/* Two integer values must be equal; both are printed when they are not. */
#define EQ(actual, expected)                                                             \
    do {                                                                                 \
        long mt_a = (long)(actual), mt_x = (long)(expected);                             \
        if (mt_a != mt_x) {                                                              \
            fprintf(stderr, "%s:%d: %s == %ld expected, got %ld (errno %d: %s)\n",      \
                    __FILE__, __LINE__, #actual, mt_x, mt_a, errno, strerror(errno));    \
            mt_failures++;                                                               \
        }                                                                                \
    } while (0)

/* A call that must succeed and leave errno as it was (set to 1234 before the call). */
#define KEEPS(call)                                                                      \
    do {                                                                                 \
        errno = 1234;                                                                    \
        long mt_r = (long)(call);                                                        \
        int mt_e = errno;                                                                \
        if (mt_r < 0 || mt_e != 1234) {                                                  \
            fprintf(stderr, "%s:%d: %s: want success with errno kept at 1234, got %ld/errno %d (%s)\n", \
                    __FILE__, __LINE__, #call, mt_r, mt_e, strerror(mt_e));              \
            mt_failures++;                                                               \
        }                                                                                \
    } while (0)

/* True when a journal (a .journal file in STATE) holds `needle`, e.g. " name\n" for a record of that
 * path or "F " for a full-resync record. */
#include <dirent.h>
__attribute__((unused)) static int mt_journal_has(const char *state, const char *needle)
{
    DIR *d = opendir(state);
    if (!d)
        return 0;
    int found = 0;
    struct dirent *e;
    static char buf[1 << 20];
    while (!found && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 8 || strcmp(e->d_name + n - 8, ".journal") != 0)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", state, e->d_name);
        long len = slurp(path, buf, sizeof buf);
        found = len > 0 && ((strncmp(needle, "F ", 2) == 0 && strncmp(buf, needle, 2) == 0) || strstr(buf, needle) != NULL);
    }
    closedir(d);
    return found;
}

/* A flag shared with forked children (a page of shared anonymous memory), initially 0. */
#include <sys/mman.h>
__attribute__((unused)) static volatile int *mt_shared_flag(void)
{
    volatile int *flag = mmap(NULL, sizeof *flag, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (flag == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
    return flag;
}

/* Waits for n child processes, each of which must exit 0. */
#include <sys/wait.h>
__attribute__((unused)) static void mt_reap(const pid_t *kids, int n)
{
    for (int k = 0; k < n; k++) {
        int status = 0;
        CHECK(waitpid(kids[k], &status, 0) == kids[k]);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
}

/* Fills buf with a reproducible pattern that differs for each seed. */
__attribute__((unused)) static void mt_fill(void *buf, size_t n, unsigned seed)
{
    unsigned char *b = buf;
    unsigned x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        b[i] = (unsigned char)(x >> 16);
    }
}

/* Compares two files through raw system calls (no hook sees them); returns 1 when their
 * sizes and bytes are equal, else prints the first difference and returns 0. */
__attribute__((unused)) static int mt_raw_same(const char *a, const char *b, const char *file, int line)
{
    int fa = (int)RAWSYS(SYS_openat, AT_FDCWD, a, O_RDONLY | O_CLOEXEC);
    int fb = (int)RAWSYS(SYS_openat, AT_FDCWD, b, O_RDONLY | O_CLOEXEC);
    int same = 0;
    if (fa < 0 || fb < 0) {
        fprintf(stderr, "%s:%d: cannot open %s (%s) or %s (%s)\n", file, line, a,
                fa < 0 ? "failed" : "ok", b, fb < 0 ? "failed" : "ok");
        goto out;
    }
    static char ba[65536], bb[65536];
    long off = 0;
    for (;;) {
        long na = RAWSYS(SYS_pread64, fa, ba, sizeof ba, off);
        long nb = RAWSYS(SYS_pread64, fb, bb, sizeof bb, off);
        if (na < 0 || nb < 0) {
            fprintf(stderr, "%s:%d: read error comparing %s and %s\n", file, line, a, b);
            goto out;
        }
        long n = na < nb ? na : nb;
        for (long i = 0; i < n; i++)
            if (ba[i] != bb[i]) {
                fprintf(stderr, "%s:%d: %s and %s differ at byte %ld\n", file, line, a, b, off + i);
                goto out;
            }
        if (na != nb) {
            fprintf(stderr, "%s:%d: %s and %s differ in size (%ld vs %ld)\n", file, line, a, b,
                    off + na, off + nb);
            goto out;
        }
        if (na == 0)
            break;
        off += na;
    }
    same = 1;
out:
    if (fa >= 0)
        RAWSYS(SYS_close, fa);
    if (fb >= 0)
        RAWSYS(SYS_close, fb);
    return same;
}

/* The primary's and the mirror's copy of rel are byte-identical right now. */
#define SAME(rel)                                                                        \
    do {                                                                                 \
        if (!mt_raw_same(P(rel), M(rel), __FILE__, __LINE__))                            \
            mt_failures++;                                                               \
    } while (0)

/* A file holds exactly these bytes (read through raw system calls). */
__attribute__((unused)) static int mt_raw_content(const char *path, const void *want, size_t n, const char *file, int line)
{
    static char buf[1 << 20];
    int fd = (int)RAWSYS(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "%s:%d: cannot open %s: %s\n", file, line, path, strerror(errno));
        return 0;
    }
    long got = 0, k;
    while (got < (long)sizeof buf && (k = RAWSYS(SYS_read, fd, buf + got, sizeof buf - got)) > 0)
        got += k;
    RAWSYS(SYS_close, fd);
    if (got != (long)n || memcmp(buf, want, n) != 0) {
        fprintf(stderr, "%s:%d: %s holds %ld unexpected byte(s) (want %zu)\n", file, line, path, got, n);
        return 0;
    }
    return 1;
}

#define CONTENT_IS(path, data, n)                                                        \
    do {                                                                                 \
        if (!mt_raw_content((path), (data), (n), __FILE__, __LINE__))                    \
            mt_failures++;                                                               \
    } while (0)

#endif
